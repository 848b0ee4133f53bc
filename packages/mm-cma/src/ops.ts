/**
 * The seam of mm-cma: `CmaAllocator`, the placement algorithm that manages free space inside a
 * region (`struct cma_allocator` of the 2010 series). The framework owns regions, chunks, the
 * map, accounting, owner tags, migration and trace events; an allocator only decides where a
 * chunk goes and remembers what it handed out.
 *
 * The framework serialises every call (one kernel is single-threaded), and guarantees that
 * `size` is a positive multiple of PAGE_SIZE, `alignment` a power of two ≥ PAGE_SIZE, and that a
 * region never asks for more than its free bytes.
 *
 * Reusable regions (merged CMA): a chunk the allocator proposes may hold pages that cannot be
 * migrated away (pinned, unmovable). The framework then gives the chunk back with `free` and calls
 * `alloc` again with `ctx.busy` extended by the failed candidate, so the allocator can propose its
 * NEXT candidate: a first-fit allocator restarts past the failed candidate, any allocator can skip
 * candidates that `ctx.overlapsBusy` reports. An allocator that proposes a range holding a known
 * busy page again ends the allocation (EBUSY), so a confused allocator cannot loop forever.
 *
 * @module
 */
import type { CmaRegion } from "./region.js";

/** A physical range `[start, start + size)` in bytes. */
export interface CmaExtent {
  /** physical address of the first byte */
  readonly start: number;
  /** bytes, a multiple of PAGE_SIZE */
  readonly size: number;
}

/** A chunk as the framework hands it to `CmaAllocator.free`: an extent of one region. */
export interface CmaChunk extends CmaExtent {
  readonly region: CmaRegion;
}

/** A candidate that could not be emptied on a reusable region. */
export interface CmaBusyCandidate extends CmaExtent {
  /** physical address of the first page that could not move (pinned, unmovable, reserved) */
  readonly blocker: number;
}

/** What the framework tells `alloc` about the allocation in progress. */
export interface CmaAllocCtx {
  /**
   * Candidates of this same allocation that could not be emptied (EBUSY from migration), oldest
   * first. Empty on the first call and always on non-reusable regions.
   */
  readonly busy: readonly CmaBusyCandidate[];
  /** True when `[start, start + size)` holds a page already known to be busy in this allocation. */
  overlapsBusy(start: number, size: number): boolean;
}

/**
 * A placement algorithm (`struct cma_allocator`). `alloc` and `free` are required
 * (`cmaAllocatorRegister` refuses an allocator without them with EINVAL); `init` and `cleanup`
 * are optional. Per-region state lives in `region.priv`, which the allocator owns between `init`
 * and `cleanup`.
 */
export interface CmaAllocator {
  /** name regions ask for (`cma=reg=64M:bf`, sysfs `alloc`); unnamed allocators show as "-" */
  readonly name?: string;
  /**
   * Attaches to `region` (which holds no chunks): sets up `region.priv` for the whole of
   * `[region.base, region.base + region.size)` free. Throws a `KernelError` to refuse the region
   * (EINVAL for a size it cannot manage); the region then stays without an allocator.
   */
  init?(region: CmaRegion): void;
  /**
   * Detaches from `region`: releases `region.priv`. Called only while the region holds no chunks
   * (the framework refuses to detach a used region with EBUSY).
   */
  cleanup?(region: CmaRegion): void;
  /**
   * Finds `size` bytes aligned to `alignment` (absolute physical alignment) inside the region,
   * marks them used and returns where they are, or returns null when nothing fits. The returned
   * extent must lie inside the region, start on a multiple of `alignment` and be exactly `size`
   * bytes long (a `KernelBug` otherwise). On a reusable region, `ctx` lists the candidates of this
   * allocation that could not be emptied; a candidate holding one of their blocker pages must not
   * be proposed again.
   */
  alloc(region: CmaRegion, size: number, alignment: number, ctx: CmaAllocCtx): CmaExtent | null;
  /**
   * Marks `chunk` free again. `chunk` is an extent `alloc` returned, or — for merged
   * `cma_release` of part of an allocation — a page-aligned part of one.
   */
  free(chunk: CmaChunk): void;
}
