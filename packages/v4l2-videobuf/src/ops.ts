/**
 * The seams of videobuf2 (include/media/videobuf2-core.h): `Vb2Ops`, what a driver fills to
 * run a queue, and `Vb2MemOps`, what a memory back end (dma-contig, dma-sg, vmalloc, or one of
 * your own) fills to provide buffer memory.
 *
 * The core validates every ioctl before it reaches an op, keeps the buffer state machine and
 * calls the ops in the kernel's order; an op may assume valid input. An op that fails throws a
 * `KernelError` with the errno its kernel counterpart returns; the core undoes what it did for
 * the call and passes the error on.
 *
 * @module
 */
import type { DmaBuf } from "@umm/dma-buf";
import type { Device } from "@umm/kernel-core";
import type { MmapContext } from "@umm/kernel-process";
import type { Vb2Buffer, Vb2Queue } from "./core.js";

/**
 * What `queueSetup` is asked and answers (`*num_buffers`, `*num_planes`, `sizes[]`,
 * `alloc_devs[]` of `queue_setup`). The op changes the fields in place.
 */
export interface Vb2QueueSetup {
  /** in: buffers requested; out: buffers the driver accepts */
  numBuffers: number;
  /**
   * in: 0 for REQBUFS (the driver picks planes and sizes from its current format); the number
   * of planes CREATE_BUFS asks for (the driver checks `sizes` against its format and throws
   * EINVAL when a size is too small). out: planes per buffer (1..8).
   */
  numPlanes: number;
  /** bytes per plane (in for CREATE_BUFS, out always); VB2_MAX_PLANES entries */
  readonly sizes: number[];
  /** the device each plane is allocated for (null: the queue's `dev`); VB2_MAX_PLANES entries */
  readonly allocDevs: (Device | null)[];
}

/**
 * `struct vb2_ops`: the driver's side of a queue. `queueSetup` and `bufQueue` are required;
 * every other member is optional. Buffer ops receive the `Vb2Buffer` (its `drvPriv` is free for
 * the driver's per-buffer data).
 */
export interface Vb2Ops {
  /**
   * `queue_setup`: called by REQBUFS and CREATE_BUFS before memory is allocated (and again
   * when fewer buffers could be allocated than asked: accept the smaller number or throw).
   * Fill `numPlanes`, `sizes` (and optionally `allocDevs`), adjust `numBuffers`. Throwing fails
   * the ioctl with that errno.
   */
  readonly queueSetup: (q: Vb2Queue, setup: Vb2QueueSetup) => void;
  /**
   * `wait_prepare`: the queue is about to sleep in a blocking DQBUF (release the driver's lock).
   * Both or neither of `waitPrepare` / `waitFinish`. Deprecated in the kernel; optional here.
   */
  readonly waitPrepare?: (q: Vb2Queue) => void;
  /** `wait_finish`: the blocking DQBUF woke up (retake the driver's lock). */
  readonly waitFinish?: (q: Vb2Queue) => void;
  /** `buf_out_validate`: output queues only, before preparing; throw EINVAL to reject the buffer. */
  readonly bufOutValidate?: (vb: Vb2Buffer) => void;
  /**
   * `buf_init`: once after an MMAP buffer's memory was allocated, or after USERPTR/DMABUF memory
   * was (re)acquired. Throwing fails the allocation (MMAP) or the QBUF/PREPARE_BUF.
   */
  readonly bufInit?: (vb: Vb2Buffer) => void;
  /**
   * `buf_prepare`: each time a buffer is prepared for the hardware (QBUF or PREPARE_BUF), after
   * its memory is in place and before the cache is synced for the device: check plane sizes,
   * set payloads. Throwing fails the call.
   */
  readonly bufPrepare?: (vb: Vb2Buffer) => void;
  /** `buf_finish`: before a buffer is returned to user space (DQBUF, or cancel of a prepared one). */
  readonly bufFinish?: (vb: Vb2Buffer) => void;
  /** `buf_cleanup`: before the buffer's memory is freed or replaced (pairs with `bufInit`). */
  readonly bufCleanup?: (vb: Vb2Buffer) => void;
  /** `prepare_streaming`: STREAMON, before buffers reach the driver. Throwing fails STREAMON. */
  readonly prepareStreaming?: (q: Vb2Queue) => void;
  /**
   * `start_streaming`: once at least `minQueuedBuffers` are queued after STREAMON; `count` is
   * how many buffers the driver already owns. On failure, give every buffer back with
   * `vb2BufferDone(vb, QUEUED)` and throw.
   */
  readonly startStreaming?: (q: Vb2Queue, count: number) => void;
  /**
   * `stop_streaming`: STREAMOFF, REQBUFS or release: stop the DMA and give every buffer the
   * driver holds back with `vb2BufferDone(vb, ERROR)` before returning.
   */
  readonly stopStreaming?: (q: Vb2Queue) => void;
  /** `unprepare_streaming`: pairs with `prepareStreaming`. */
  readonly unprepareStreaming?: (q: Vb2Queue) => void;
  /**
   * `buf_queue`: the driver now owns the buffer (state ACTIVE): program the DMA, and call
   * `vb2BufferDone` when it completes. Required.
   */
  readonly bufQueue: (vb: Vb2Buffer) => void;
}

/**
 * A memory back end's private data for one plane (`mem_priv`): opaque to the core, handed back
 * to the back end's ops.
 */
export type Vb2MemPriv = object;

/**
 * `struct vb2_mem_ops`: a memory back end. MMAP needs `alloc`, `put` and `mmap`; USERPTR needs
 * `getUserptr` and `putUserptr`; DMABUF needs `attachDmabuf`, `detachDmabuf`, `mapDmabuf` and
 * `unmapDmabuf` — a queue whose back end lacks them rejects that memory type with EINVAL.
 */
export interface Vb2MemOps {
  /** shown in reports: "dma-contig", "dma-sg", "vmalloc" */
  readonly name: string;
  /**
   * `alloc`: `size` bytes (page-aligned) of buffer memory for `dev` (null for back ends that
   * need no device). Throws ENOMEM when out of memory, EINVAL without a device when one is
   * needed. The result counts as one user (`numUsers` 1).
   */
  readonly alloc?: (vb: Vb2Buffer, dev: Device | null, size: number) => Vb2MemPriv;
  /** `put`: drops the allocation's user; memory is freed when no mapping or export holds it. */
  readonly put?: (priv: Vb2MemPriv) => void;
  /**
   * `get_dmabuf`: exports the plane as a new dma-buf whose file mode comes from `flags`
   * (O_ACCMODE); the dma-buf holds a user of the memory until its release. Throws on failure.
   */
  readonly getDmabuf?: (vb: Vb2Buffer, priv: Vb2MemPriv, flags: number) => DmaBuf;
  /**
   * `get_userptr`: acquires `[uaddr, uaddr + size)` of the current process for DMA by `dev`:
   * pins the pages and maps them. Throws EFAULT (unmapped, not writable, no pages), EINVAL
   * (alignment, size 0, not usable by the device), EIO/ENOMEM (mapping failed).
   */
  readonly getUserptr?: (vb: Vb2Buffer, dev: Device | null, uaddr: number, size: number) => Vb2MemPriv;
  /** `put_userptr`: unmaps and unpins what `getUserptr` acquired (pages marked dirty if written). */
  readonly putUserptr?: (priv: Vb2MemPriv) => void;
  /**
   * `attach_dmabuf`: attaches `dbuf` for `dev` (no mapping yet); `size` is the plane length.
   * Throws EFAULT when the dma-buf is smaller than `size`, or the exporter's attach error.
   */
  readonly attachDmabuf?: (vb: Vb2Buffer, dev: Device | null, dbuf: DmaBuf, size: number) => Vb2MemPriv;
  /** `detach_dmabuf`: undoes `attachDmabuf` (unmapping first if still mapped). */
  readonly detachDmabuf?: (priv: Vb2MemPriv) => void;
  /**
   * `map_dmabuf`: maps the attachment for DMA in the queue's direction. Throws EINVAL when the
   * exporter's map fails, EFAULT when the memory is not usable as one buffer (dma-contig: not
   * contiguous in the device's address space).
   */
  readonly mapDmabuf?: (priv: Vb2MemPriv) => void;
  /** `unmap_dmabuf`: undoes `mapDmabuf`. */
  readonly unmapDmabuf?: (priv: Vb2MemPriv) => void;
  /**
   * `prepare`: the buffer goes to the device: cache maintenance for the queue's direction
   * (unless the buffer's `skipCacheSyncOnPrepare` hint or the memory is coherent).
   */
  readonly prepare?: (priv: Vb2MemPriv) => void;
  /** `finish`: the buffer comes back to the CPU: cache maintenance (unless `skipCacheSyncOnFinish`). */
  readonly finish?: (priv: Vb2MemPriv) => void;
  /** `vaddr`: a kernel virtual address of the plane, or null when it has none. */
  readonly vaddr?: (vb: Vb2Buffer, priv: Vb2MemPriv) => number | null;
  /**
   * `cookie`: the back end's handle of the plane for the driver: `{ dmaAddr }` for dma-contig
   * (see `vb2DmaContigPlaneDmaAddr`), the mapped `SgTable` for dma-sg (`vb2DmaSgPlaneDesc`).
   */
  readonly cookie?: (vb: Vb2Buffer, priv: Vb2MemPriv) => unknown;
  /** `num_users`: the allocation, each user mapping and each exported dma-buf count one. */
  readonly numUsers?: (priv: Vb2MemPriv) => number;
  /**
   * `mmap`: fills a user mapping of the whole plane (`ctx.pgoff` is 0, `ctx.length` fits) and
   * takes a user that the mapping's close drops. Throws EINVAL or the DMA layer's error.
   */
  readonly mmap?: (priv: Vb2MemPriv, ctx: MmapContext) => void;
}
