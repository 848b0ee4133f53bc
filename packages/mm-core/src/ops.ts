/**
 * The seams mm-core offers to higher layers. mm-core calls these; an arch or platform package
 * implements them and plugs them into an `Mm` (`mm.hooks`).
 *
 * - `CpuCacheOps` (arch-arm): keeps the CPU cache honest when mm moves or zeroes memory.
 * - `MappingObserver` (arch-arm's coherency checker): told whenever a page gains or loses a
 *   mapping of some memory type, to catch cacheable + non-cacheable aliases.
 * - `DmaObserver` (arch-arm's coherency checker): told of every device read and write.
 * - `Translator` (IOMMU hardware models): resolves device addresses for a `DmaPort`.
 *
 * @module
 */
import type { RunList } from "./runs.js";
import type { DmaAgent } from "./types.js";

/**
 * Cache maintenance mm-core needs from the architecture. Without an implementation (no CPU
 * model attached) mm-core assumes memory and caches agree.
 */
export interface CpuCacheOps {
  /**
   * The kernel is about to write `[paddr, paddr + len)` directly (page zeroing): lines the cache
   * still holds for it must not survive (write them back or drop them).
   */
  readonly prepareKernelWrite: (paddr: number, len: number) => void;
  /**
   * A page's bytes are about to move from `srcPaddr` to `dstPaddr` (migration): dirty lines of
   * the source must reach memory first, and no line of either may stay cached.
   */
  readonly prepareMove: (srcPaddr: number, dstPaddr: number, len: number) => void;
}

/** Where a mapping lives, for reports. */
export interface MappingSite {
  /** "linear", "vmalloc", or the user space's owner, e.g. "pid 42" */
  readonly space: string;
  /** the VMA's name or the mapping's purpose */
  readonly name: string;
}

/**
 * Told of every change in how physical pages are mapped. `delta` is +1 when `count` pages from
 * `pfn` gain a mapping of `memtype` (a MT_* number), -1 when they lose one. The kernel linear map
 * starts out mapping all lowmem RAM cacheable; changes to it are reported like VMA changes.
 */
export interface MappingObserver {
  readonly onMapChange: (
    pfn: number,
    count: number,
    memtype: number,
    delta: 1 | -1,
    site: MappingSite,
  ) => void;
}

/** Told of every device access, one call per physical run, before a read and after a write. */
export interface DmaObserver {
  readonly onDmaRead: (agent: DmaAgent, paddr: number, len: number) => void;
  readonly onDmaWrite: (agent: DmaAgent, paddr: number, len: number) => void;
}

/**
 * Resolves device addresses (D.V) to physical runs: an IOMMU's hardware walk, with its TLB.
 * `translate` appends the runs covering `[daddr, daddr + len)` to `out` (the caller cleared it),
 * or — when any part faults — latches the fault in the hardware model and throws a
 * `KernelError` (EIO for a bus error, EFAULT for a translation fault, EACCES for a permission
 * fault); the caller then moves no byte.
 */
export interface Translator {
  readonly translate: (daddr: number, len: number, write: boolean, out: RunList) => void;
}
