/**
 * The seams of dma-buf (include/linux/dma-buf.h, dma-heap.h): what an exporter fills
 * (`DmaBufOps`), what a dynamic importer fills (`DmaBufImporterOps`), and what a heap fills
 * (`DmaHeapOps`).
 *
 * The core validates every call before it reaches these ops (directions, attachment state,
 * mmap geometry, vmap counting) and traces it; an op may assume valid input. Errors are thrown
 * as `KernelError` with the errno the kernel's op returns, and a thrown op changes nothing in
 * the core.
 *
 * @module
 */
import type { DmaDataDirection, SgTable } from "@umm/dma-mapping-arm";
import type { MmapContext } from "@umm/kernel-process";
import type { DmaBuf, DmaBufAttachment } from "./dma-buf.js";
import type { DmaHeap } from "./heap.js";

/**
 * `struct dma_buf_ops`: the exporter's side of a buffer. `mapDmaBuf`, `unmapDmaBuf` and
 * `release` are required; `pin` and `unpin` come together or not at all (`dmaBufExport` checks
 * both with EINVAL). Every other member may be left out: the core then does what the kernel's
 * core does without it.
 */
export interface DmaBufOps {
  /**
   * A device is attaching (`dma_buf_attach`): check that it can reach the storage and set up
   * per-attachment state in `att.priv`. Throw to refuse (EBUSY when the storage is not
   * accessible to it now); the attachment is then not made. Optional.
   */
  readonly attach?: (buf: DmaBuf, att: DmaBufAttachment) => void;
  /** The attachment is going away (`dma_buf_detach`), after its mapping was undone. Optional. */
  readonly detach?: (buf: DmaBuf, att: DmaBufAttachment) => void;
  /**
   * Keep the storage where it is until `unpin` (dynamic exporters; the core pins for a static
   * importer around each mapping). Comes with `unpin`.
   */
  readonly pin?: (att: DmaBufAttachment) => void;
  /** Undo one `pin`. Comes with `pin`. */
  readonly unpin?: (att: DmaBufAttachment) => void;
  /**
   * `map_dma_buf`: map the buffer for `att.dev` in direction `dir` and return the scatterlist
   * of that device's addresses (its `nents` DMA segments), ready for the device: cache
   * maintenance for the device done. Return null or throw ENOMEM when out of address space;
   * other errnos propagate. Required.
   */
  readonly mapDmaBuf: (att: DmaBufAttachment, dir: DmaDataDirection) => SgTable | null;
  /** `unmap_dma_buf`: undo `mapDmaBuf` of `sgt` (same direction). Required. */
  readonly unmapDmaBuf: (att: DmaBufAttachment, sgt: SgTable, dir: DmaDataDirection) => void;
  /** The last reference went: free the storage. Called exactly once. Required. */
  readonly release: (buf: DmaBuf) => void;
  /**
   * The CPU is about to access the buffer in direction `dir` (`DMA_FROM_DEVICE`: read,
   * `DMA_TO_DEVICE`: write, `DMA_BIDIRECTIONAL`: both): make device writes visible to it (the
   * `dma_sync_*_for_cpu` of every current device mapping). The core waits for the implicit
   * fences afterwards. Optional.
   */
  readonly beginCpuAccess?: (buf: DmaBuf, dir: DmaDataDirection) => void;
  /**
   * The CPU access in direction `dir` is over: make CPU writes visible to devices (the
   * `dma_sync_*_for_device` of every current device mapping). Optional.
   */
  readonly endCpuAccess?: (buf: DmaBuf, dir: DmaDataDirection) => void;
  /**
   * Map the buffer into a process: choose the backing with `vma.setPages` (or `setPfnRange`)
   * starting at page `vma.pgoff` of the buffer, for `vma.length` bytes. The core has checked
   * that the range lies inside the buffer. Throw EINVAL to refuse (a private mapping, say).
   * Without it, mmap is EINVAL.
   */
  readonly mmap?: (buf: DmaBuf, vma: MmapContext) => void;
  /** Map the whole buffer contiguously in the kernel and return the address. Optional (EINVAL). */
  readonly vmap?: (buf: DmaBuf) => number;
  /** Undo `vmap` of `kaddr`. */
  readonly vunmap?: (buf: DmaBuf, kaddr: number) => void;
}

/**
 * `struct dma_buf_attach_ops`: what a dynamic importer (`dmaBufDynamicAttach`) provides. Its
 * mappings are not pinned by the core; the exporter tells it through `moveNotify` when the
 * storage is about to move.
 */
export interface DmaBufImporterOps {
  /** The importer can reach memory of other devices directly (P2P). Default false. */
  readonly allowPeer2peer?: boolean;
  /**
   * The storage is about to move (`dma_buf_move_notify`): drop the mappings of `att` before the
   * next use. Required.
   */
  readonly moveNotify: (att: DmaBufAttachment) => void;
}

/** `struct dma_heap_ops`: a heap's allocator. */
export interface DmaHeapOps {
  /**
   * A buffer of `len` bytes (already a whole, non-zero number of pages), zeroed, exported as a
   * dma-buf whose file carries `fdFlags` (its access mode); `heapFlags` is 0 today. Throw
   * ENOMEM when memory runs out; nothing may stay allocated then.
   */
  readonly allocate: (heap: DmaHeap, len: number, fdFlags: number, heapFlags: number) => DmaBuf;
}
