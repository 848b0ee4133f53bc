/**
 * dma-buf's trace events: the fence events of include/trace/events/dma_fence.h, the dma-buf
 * lifecycle events of include/trace/events/dma_buf.h (export, fd, get, put, attach, detach, map,
 * mmap, release) with umm's additions (unmap, CPU access, vmap, warnings), and the heap
 * allocation.
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    dma_fence_init: { driver: string; timeline: string; context: number; seqno: number };
    dma_fence_signaled: { driver: string; timeline: string; context: number; seqno: number };
    dma_fence_wait_start: { context: number; seqno: number };
    dma_fence_wait_end: { context: number; seqno: number };
    /** a buffer was exported (`dma_buf_export`) */
    dma_buf_export: { exp_name: string; size: number; ino: number };
    /** a buffer got fd `fd` in process `pid` (`dma_buf_fd`) */
    dma_buf_fd: { ino: number; fd: number; pid: number };
    /** kernel code took a reference from fd `fd` of process `pid` (`dma_buf_get`) */
    dma_buf_get: { ino: number; fd: number; pid: number };
    /** kernel code dropped a reference (`dma_buf_put`) */
    dma_buf_put: { ino: number; exp_name: string };
    /** device `device` attached (`dma_buf_attach` / `dma_buf_dynamic_attach`) */
    dma_buf_attach: { ino: number; device: string; dynamic: boolean };
    /** device `device` detached */
    dma_buf_detach: { ino: number; device: string };
    /** the attachment of `device` was mapped into `nents` DMA segments */
    dma_buf_map_attachment: { ino: number; device: string; nents: number; dir: string };
    /** the attachment of `device` was unmapped */
    dma_buf_unmap_attachment: { ino: number; device: string; dir: string };
    /** the CPU begins an access (`dma_buf_begin_cpu_access`, DMA_BUF_IOCTL_SYNC START) */
    dma_buf_begin_cpu_access: { ino: number; dir: string };
    /** the CPU ends an access (`dma_buf_end_cpu_access`, DMA_BUF_IOCTL_SYNC END) */
    dma_buf_end_cpu_access: { ino: number; dir: string };
    /** the buffer was mapped into process `pid` (0: a kernel mapping request outside any) */
    dma_buf_mmap: { ino: number; pid: number; pgoff: number; length: number };
    /** the buffer was mapped into the kernel at `kaddr` (first vmap) */
    dma_buf_vmap: { ino: number; kaddr: number };
    /** the kernel mapping went (last vunmap) */
    dma_buf_vunmap: { ino: number; kaddr: number };
    /** the last reference went and the exporter released the buffer */
    dma_buf_release: { ino: number; exp_name: string };
    /** something the kernel only WARNs about (attachments left at release, leaks at shutdown) */
    dma_buf_warn: { message: string };
    /** a heap allocated `len` bytes (DMA_HEAP_IOCTL_ALLOC) */
    dma_heap_alloc: { heap: string; len: number };
  }
}

export {};
