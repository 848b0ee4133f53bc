/**
 * Plain types and constants of the CPU cache model and the coherency checker: options, hazard
 * kinds, reports, line states.
 *
 * @module
 */
import type { Seed } from "@umm/kernel-core";

/**
 * How the cache is sized. `"ideal"`: unbounded — a line stays cached until maintenance drops it,
 * so every missing clean or invalidate shows. `"sized"`: `(l1Size + l2Size) / lineSize` lines;
 * filling a line when full evicts a victim chosen by a seeded PRNG (written back if dirty).
 */
export type CacheMode = "ideal" | "sized";

/** Options of `cpuInit`. */
export interface CpuOpts {
  /** default "ideal" */
  readonly mode?: CacheMode;
  /** bytes per cache line, a power of two from 4 to 4096 (default 32, Cortex-A9's) */
  readonly lineSize?: number;
  /** L1 data cache bytes (default 32 KiB, Exynos4210's L1D); counts in sized mode only */
  readonly l1Size?: number;
  /** L2 bytes (default 1 MiB, Exynos4210's PL310); counts in sized mode only */
  readonly l2Size?: number;
  /** seed of the eviction choices (default: the kernel's `rng.fork("cache")`) */
  readonly seed?: Seed;
  /** when true, a coherency hazard also throws `KernelError("EIO")` from the access (default false) */
  readonly strict?: boolean;
  /** reports the checker keeps in `reports` (older ones are dropped; counts go on); default 10000 */
  readonly maxReports?: number;
}

/** The kinds of coherency hazard the checker reports. */
export type HazardKind = "dirty-read" | "stale-read" | "dirty-overwrite" | "alias";

/** Every hazard kind, in a fixed order (for tables). */
export const HAZARD_KINDS: readonly HazardKind[] = ["dirty-read", "stale-read", "dirty-overwrite", "alias"];

/** What each hazard kind says is missing: the maintenance (or mapping rule) that would have prevented it. */
export const HAZARD_MISSING: Readonly<Record<HazardKind, string>> = Object.freeze({
  "dirty-read": "clean (dma_sync_*_for_device)",
  "stale-read": "invalidate (dma_sync_*_for_cpu)",
  "dirty-overwrite":
    "invalidate before the device writes (dma_map/dma_sync_*_for_device with DMA_FROM_DEVICE)",
  alias: "one mapping type per page (remap the linear map or use no-map memory)",
});

/** One coherency hazard: the payload of the `coherency_hazard` trace event, kept by the checker. */
export interface CoherencyReport {
  readonly kind: HazardKind;
  /**
   * the device involved: the reader (dirty-read), the writer (stale-read, dirty-overwrite; for a
   * stale-read caused by a CPU store through a non-cacheable alias, "cpu (non-cacheable)"), or ""
   * for an alias
   */
  readonly device: string;
  /** first byte of the first line (alias: page) involved */
  readonly paddr: number;
  /** bytes from `paddr` to the end of the last line (alias: page) involved */
  readonly size: number;
  /** owner tag of the first page involved (`mm.frames.ownerOf`), "" when untagged */
  readonly owner: string;
  /** the missing operation, one of `HAZARD_MISSING` */
  readonly missing: string;
  /** one sentence for a human: what happened where */
  readonly detail: string;
}

/** State of one cache line, as `Cpu.lineState` reports it. */
export interface LineState {
  /** the line is in the cache */
  readonly valid: boolean;
  /** the cache holds data memory does not have yet (a clean or eviction writes it back) */
  readonly dirty: boolean;
  /** memory was written (by a device or a non-cacheable store) after the line was cached */
  readonly stale: boolean;
}

/** Who wrote a line last (`CoherencyChecker.lastWriter`). */
export interface LineWriter {
  /**
   * "cpu-cache": a CPU store through the cache (dirty in the cache, or written back);
   * "cpu-direct": a CPU store that bypassed the cache (non-cacheable mapping, page zeroing,
   * migration); "device": a DMA write; "none": nobody since boot
   */
  readonly by: "none" | "cpu-cache" | "cpu-direct" | "device";
  /** the device's name when `by` is "device", else "" */
  readonly device: string;
}

/** Counters of the cache (`Cpu.stats`). */
export interface CacheStats {
  /** lines in the cache now */
  readonly validLines: number;
  /** dirty lines now */
  readonly dirtyLines: number;
  /** stale lines now */
  readonly staleLines: number;
  /** lines the cache holds at most (Infinity in ideal mode) */
  readonly capacity: number;
  /** lines evicted to make room (sized mode) */
  readonly evictions: number;
  /** bytes written back to memory by cleans and evictions */
  readonly writebackBytes: number;
}
