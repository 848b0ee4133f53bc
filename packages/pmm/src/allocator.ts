/**
 * The RFC's allocator (`drivers/s3cmm/pmm.c`) behind mm-cma's `CmaAllocator` seam. The RFC's
 * best fit is the ancestor of CMA's "bf" (same author, same two trees), so the hole bookkeeping
 * is mm-cma's `BfState` — holes by start and by size, equal sizes most-recently-inserted first —
 * and taking an area out of a hole (`BfState.takeAt`) and the free path (turn the chunk into a
 * hole, merge with both neighbours) are the same. What differs is where an area goes inside the
 * hole it was given:
 *
 * - best fit: the smallest hole with `size >= request`, then holes in ascending size until one
 *   satisfies `ALIGN(hole.start, a) + size <= hole.end`;
 * - an exact-size hole is taken whole;
 * - otherwise the area starts at `ALIGN(hole.start, a)`, and when that leaves a gap in front OR
 *   the hole is the last hole of the pool (`PMM_ITEM_LAST`), and the tail gap is a non-zero
 *   multiple of `a`, the area moves to the END of the hole ("first allocation will be usually
 *   from the end"); CMA's bf slides only when there are gaps on both sides;
 * - an area still in the middle splits the hole in two.
 *
 * @module
 */
import { alignUp, hex, KernelBug } from "@umm/kernel-core";
import { type BfHole, BfState, bestFitAllocator, type CmaRegion } from "@umm/mm-cma";
import type { CmaAllocator, CmaAllocCtx, CmaChunk, CmaExtent } from "@umm/mm-cma/ops";

/** Name the PMM allocator goes by (sysfs `alloc` of a PMM region shows it). */
export const PMM_ALLOCATOR_NAME = "pmm";

function state(region: CmaRegion): BfState {
  const s = region.priv;
  if (!(s instanceof BfState)) throw new KernelBug(`pmm: ${region.label} has no hole state`);
  return s;
}

/**
 * Where the RFC puts an area of `size` bytes aligned to `alignment` in hole `h` of a pool ending
 * at `poolEnd` (the hole holds it aligned).
 */
export function pmmPosition(h: BfHole, size: number, alignment: number, poolEnd: number): number {
  const end = h.start + h.size;
  if (size === h.size) return h.start;
  const pos = alignUp(h.start, alignment);
  const tail = end - (pos + size);
  const last = end === poolEnd;
  if ((pos !== h.start || last) && tail > 0 && tail % alignment === 0) return end - size;
  return pos;
}

/**
 * The RFC's best-fit allocator as a `CmaAllocator` ("pmm"). PMM attaches it to each pool's
 * private region; any other CMA region may use it too (it passes mm-cma's conformance suite).
 * Non-reusable regions only: it does not steer around busy pages.
 */
export const pmmAllocator: CmaAllocator = {
  name: PMM_ALLOCATOR_NAME,

  init(region: CmaRegion): void {
    region.priv = BfState.whole(region.base, region.size);
  },

  cleanup(region: CmaRegion): void {
    const st = state(region);
    if (st.byStart.length !== 1 || st.byStart[0]!.size !== region.size) {
      region.kernel.trace.emit("pmm_warn", {
        message: `pmm: cleanup of ${region.label} with ${st.byStart.length} holes (expected one)`,
      });
    }
    region.priv = null;
  },

  alloc(region: CmaRegion, size: number, alignment: number, _ctx: CmaAllocCtx): CmaExtent | null {
    const st = state(region);
    const holes = st.bySize;
    const poolEnd = region.end;
    for (let i = st.lowerBoundSize(size); i < holes.length; i++) {
      const h = holes[i]!;
      const end = h.start + h.size;
      if (alignUp(h.start, alignment) + size > end) continue;
      return st.takeAt(h, pmmPosition(h, size, alignment, poolEnd), size);
    }
    return null;
  },

  free(chunk: CmaChunk): void {
    // the same merge as CMA's bf (its state is ours); it checks the chunk overlaps no hole
    bestFitAllocator.free(chunk);
  },
};

/** The holes of a region the PMM allocator manages, by start (a copy). */
export function pmmHoles(region: CmaRegion): { start: number; size: number }[] {
  const s = region.priv;
  if (!(s instanceof BfState)) {
    throw new KernelBug(`pmm: ${region.label} is not managed by a best-fit state (${hex(region.base)})`);
  }
  return s.byStart.map((h) => ({ start: h.start, size: h.size }));
}
