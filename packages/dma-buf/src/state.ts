/**
 * The per-kernel state of dma-buf: the list of live buffers (the kernel's `db_list`, for
 * debugfs and leak reports — never a way to reach a buffer), inode numbers, registered heaps,
 * the udmabuf misc device, and the tracepoints. Created on first use; its shutdown step reports
 * every buffer still referenced with a `dma_buf_warn` event.
 *
 * @module
 */
import { defineSlot, type Kernel, type Tracepoint } from "@umm/kernel-core";
import type { DmaBuf } from "./dma-buf.js";
import type { DmaHeap } from "./heap.js";
import "./trace.js";

/** @internal */
export interface DmaBufState {
  readonly kernel: Kernel;
  readonly bufs: Set<DmaBuf>;
  nextIno: number;
  readonly heaps: Map<string, DmaHeap>;
  readonly tp: {
    readonly export: Tracepoint<"dma_buf_export">;
    readonly fd: Tracepoint<"dma_buf_fd">;
    readonly get: Tracepoint<"dma_buf_get">;
    readonly put: Tracepoint<"dma_buf_put">;
    readonly attach: Tracepoint<"dma_buf_attach">;
    readonly detach: Tracepoint<"dma_buf_detach">;
    readonly map: Tracepoint<"dma_buf_map_attachment">;
    readonly unmap: Tracepoint<"dma_buf_unmap_attachment">;
    readonly begin: Tracepoint<"dma_buf_begin_cpu_access">;
    readonly end: Tracepoint<"dma_buf_end_cpu_access">;
    readonly mmap: Tracepoint<"dma_buf_mmap">;
    readonly vmap: Tracepoint<"dma_buf_vmap">;
    readonly vunmap: Tracepoint<"dma_buf_vunmap">;
    readonly release: Tracepoint<"dma_buf_release">;
    readonly warn: Tracepoint<"dma_buf_warn">;
    readonly heapAlloc: Tracepoint<"dma_heap_alloc">;
  };
}

const DMA_BUF = defineSlot<DmaBufState>("dma-buf");

/** @internal the dma-buf state of `kernel`, created (with its shutdown report) on first use */
export function dmaBufState(kernel: Kernel): DmaBufState {
  const have = kernel.trySlot(DMA_BUF);
  if (have) return have;
  const t = kernel.trace;
  const st: DmaBufState = {
    kernel,
    bufs: new Set(),
    nextIno: 1,
    heaps: new Map(),
    tp: {
      export: t.tracepoint("dma_buf_export"),
      fd: t.tracepoint("dma_buf_fd"),
      get: t.tracepoint("dma_buf_get"),
      put: t.tracepoint("dma_buf_put"),
      attach: t.tracepoint("dma_buf_attach"),
      detach: t.tracepoint("dma_buf_detach"),
      map: t.tracepoint("dma_buf_map_attachment"),
      unmap: t.tracepoint("dma_buf_unmap_attachment"),
      begin: t.tracepoint("dma_buf_begin_cpu_access"),
      end: t.tracepoint("dma_buf_end_cpu_access"),
      mmap: t.tracepoint("dma_buf_mmap"),
      vmap: t.tracepoint("dma_buf_vmap"),
      vunmap: t.tracepoint("dma_buf_vunmap"),
      release: t.tracepoint("dma_buf_release"),
      warn: t.tracepoint("dma_buf_warn"),
      heapAlloc: t.tracepoint("dma_heap_alloc"),
    },
  };
  kernel.setSlot(DMA_BUF, st);
  kernel.onShutdown("dma-buf", () => {
    for (const b of st.bufs) {
      dmaBufWarn(
        st,
        `leak: dma-buf ino ${b.ino} (${b.expName}, ${b.size} bytes) still has ${b.file.refcount} reference(s)`,
      );
    }
  });
  return st;
}

/** @internal emits a `dma_buf_warn` event */
export function dmaBufWarn(st: DmaBufState, message: string): void {
  if (st.tp.warn.enabled) st.tp.warn.emit({ message });
}
