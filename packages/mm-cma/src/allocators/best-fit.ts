/**
 * The 2010 best-fit allocator "bf" (mm/cma-best-fit.c). Free space is a set of holes kept in two
 * orders: by start address (to merge neighbours on free) and by size, ascending, where a hole
 * (re)inserted among holes of equal size goes first — the rb-tree's "equal sizes go left".
 *
 * `alloc(size, a)`: the smallest hole with `size >= request`, then holes in ascending size order
 * until one satisfies `ALIGN(hole.start, a) + size <= hole.end`. The chunk takes the whole hole
 * when sizes are equal; otherwise it goes to `ALIGN(hole.start, a)`, and when that would leave
 * space on both sides and the tail gap is a multiple of `a`, it SLIDES to the hole's end (the
 * hole shrinks from the end); otherwise the hole splits into head hole + chunk + tail hole.
 * `free`: the chunk becomes a hole merged with its address neighbours.
 *
 * On a reusable region, after a candidate could not be emptied, the allocator avoids the pages
 * the framework reports busy: inside each hole (in the same size order) it takes the first
 * aligned position whose pages are all clear of them.
 *
 * @module
 */
import { alignUp, hex, KernelBug, PAGE_SIZE } from "@umm/kernel-core";
import type { CmaAllocator, CmaAllocCtx, CmaChunk, CmaExtent } from "../ops.js";
import type { CmaRegion } from "../region.js";
import { CMA_BEST_FIT } from "../types.js";

/** A free range of a best-fit region. */
export interface BfHole {
  start: number;
  size: number;
  /** order of (re)insertion into the size order: among equal sizes the highest comes first */
  seq: number;
}

/** Per-region state of the best-fit allocator (`region.priv`). */
export class BfState {
  /** holes ordered by start */
  readonly byStart: BfHole[] = [];
  /** holes ordered by size, ascending; among equal sizes the most recently (re)inserted first */
  readonly bySize: BfHole[] = [];
  #seq = 0;

  /** A state with one hole: the whole of `[base, base + size)` (a region just set up). */
  static whole(base: number, size: number): BfState {
    const st = new BfState();
    const h: BfHole = { start: base, size, seq: 0 };
    st.byStart.push(h);
    st.bySize.push(h);
    return st;
  }

  /** First index of `bySize` whose size is ≥ `size`. */
  lowerBoundSize(size: number): number {
    const a = this.bySize;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]!.size < size) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index of `byStart` whose start is ≥ `start`. */
  lowerBoundStart(start: number): number {
    const a = this.byStart;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]!.start < start) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Inserts `h` into the size order, first among holes of its size. */
  insertBySize(h: BfHole): void {
    h.seq = ++this.#seq;
    this.bySize.splice(this.lowerBoundSize(h.size), 0, h);
  }

  /** Index of `h` in the size order: (size ascending, seq descending) is a total order. */
  #indexOf(h: BfHole): number {
    const a = this.bySize;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = a[mid]!;
      if (m.size < h.size || (m.size === h.size && m.seq > h.seq)) lo = mid + 1;
      else hi = mid;
    }
    if (a[lo] !== h) throw new KernelBug(`bf: hole at ${hex(h.start)} is not in the size order`);
    return lo;
  }

  /** Removes `h` from the size order (a `KernelBug` when it is not there). */
  eraseBySize(h: BfHole): void {
    this.bySize.splice(this.#indexOf(h), 1);
  }

  /** Inserts `h` into the start order (a `KernelBug` when a hole already starts there). */
  insertByStart(h: BfHole): void {
    const i = this.lowerBoundStart(h.start);
    const a = this.byStart;
    if (a[i]?.start === h.start) throw new KernelBug(`bf: two holes start at ${hex(h.start)}`);
    a.splice(i, 0, h);
  }

  /** Removes `h` from the start order (a `KernelBug` when it is not there). */
  eraseByStart(h: BfHole): void {
    const i = this.lowerBoundStart(h.start);
    if (this.byStart[i] !== h) throw new KernelBug(`bf: hole at ${hex(h.start)} is not in the start order`);
    this.byStart.splice(i, 1);
  }

  /** Re-sorts `h` after its size changed (it goes first among holes of its new size). */
  resize(h: BfHole, size: number): void {
    const a = this.bySize;
    let i = this.#indexOf(h);
    h.size = size;
    h.seq = ++this.#seq;
    while (i > 0 && a[i - 1]!.size >= size) {
      a[i] = a[i - 1]!;
      i--;
    }
    while (i < a.length - 1 && a[i + 1]!.size < size) {
      a[i] = a[i + 1]!;
      i++;
    }
    a[i] = h;
  }

  /**
   * Takes `[pos, pos + size)` out of hole `h` (which holds it), updating both orders in the
   * kernel's order (the same in PMM's allocator, its ancestor). Returns the extent taken.
   */
  takeAt(h: BfHole, pos: number, size: number): CmaExtent {
    const head = pos - h.start;
    const tail = h.start + h.size - (pos + size);
    if (head === 0 && tail === 0) {
      // case 1: the whole hole
      this.eraseBySize(h);
      this.eraseByStart(h);
    } else if (head > 0 && tail > 0) {
      // case 3: a new tail hole first, then the head shrinks and is re-sorted
      const t: BfHole = { start: pos + size, size: tail, seq: 0 };
      this.insertByStart(t);
      this.insertBySize(t);
      this.resize(h, head);
    } else if (head === 0) {
      // case 2, at the beginning: the hole's start moves up
      h.start += size;
      this.resize(h, tail);
    } else {
      // case 2, at the end
      this.resize(h, head);
    }
    return { start: pos, size };
  }

  /** The largest hole's size (0 when full). */
  get largest(): number {
    return this.bySize[this.bySize.length - 1]?.size ?? 0;
  }
}

function state(region: CmaRegion): BfState {
  const s = region.priv;
  if (!(s instanceof BfState)) throw new KernelBug(`bf: ${region.label} has no best-fit state`);
  return s;
}

/** The position the 2010 algorithm gives a chunk inside hole `h` (which fits it aligned). */
function kernelPosition(h: BfHole, size: number, alignment: number): number {
  const end = h.start + h.size;
  let pos = alignUp(h.start, alignment);
  if (size !== h.size && pos !== h.start && pos + size !== end) {
    const left = end - (pos + size);
    if (left % alignment === 0) pos += left; // slide to the end of the hole
  }
  return pos;
}

/** The lowest aligned position in `h` clear of every busy page, or -1. */
function clearPosition(h: BfHole, size: number, alignment: number, ctx: CmaAllocCtx): number {
  const end = h.start + h.size;
  let pos = alignUp(h.start, alignment);
  while (pos + size <= end) {
    let next = -1;
    for (const b of ctx.busy) {
      if (b.blocker >= pos && b.blocker < pos + size) next = Math.max(next, b.blocker + PAGE_SIZE);
    }
    if (next < 0) return pos;
    pos = alignUp(next, alignment);
  }
  return -1;
}

/** The 2010 best-fit allocator, registered as "bf". */
export const bestFitAllocator: CmaAllocator = {
  name: CMA_BEST_FIT,

  init(region: CmaRegion): void {
    region.priv = BfState.whole(region.base, region.size);
  },

  cleanup(region: CmaRegion): void {
    const st = state(region);
    if (st.byStart.length !== 1 || st.byStart[0]!.size !== region.size) {
      region.kernel.trace.emit("cma_warn", {
        message: `bf: cleanup of ${region.label} with ${st.byStart.length} holes (expected one)`,
      });
    }
    region.priv = null;
  },

  alloc(region: CmaRegion, size: number, alignment: number, ctx: CmaAllocCtx): CmaExtent | null {
    const st = state(region);
    const holes = st.bySize;
    const busy = ctx.busy.length > 0;
    for (let i = st.lowerBoundSize(size); i < holes.length; i++) {
      const h = holes[i]!;
      const start = alignUp(h.start, alignment);
      const end = h.start + h.size;
      if (!(start < end && end - start >= size)) continue;
      let pos = kernelPosition(h, size, alignment);
      if (busy && ctx.overlapsBusy(pos, size)) {
        pos = clearPosition(h, size, alignment, ctx);
        if (pos < 0) continue;
      }
      return st.takeAt(h, pos, size);
    }
    return null;
  },

  free(chunk: CmaChunk): void {
    const st = state(chunk.region);
    const start = chunk.start;
    const end = start + chunk.size;
    const i = st.lowerBoundStart(start);
    const prev = st.byStart[i - 1];
    const next = st.byStart[i];
    if ((prev && prev.start + prev.size > start) || (next && next.start < end)) {
      throw new KernelBug(
        `bf: free of [${hex(start)}, +${hex(chunk.size)}) overlaps a hole of ${chunk.region.label}`,
      );
    }
    // the chunk becomes a hole merged with its neighbours; the merged hole goes first among
    // holes of its size, as the kernel's erase + re-insert leaves it
    const joinPrev = prev !== undefined && prev.start + prev.size === start;
    const joinNext = next !== undefined && next.start === end;
    if (joinPrev && joinNext) {
      st.eraseBySize(next);
      st.byStart.splice(i, 1);
      st.resize(prev, prev.size + chunk.size + next.size);
    } else if (joinPrev) {
      st.resize(prev, prev.size + chunk.size);
    } else if (joinNext) {
      next.start = start;
      st.resize(next, next.size + chunk.size);
    } else {
      const item: BfHole = { start, size: chunk.size, seq: 0 };
      st.byStart.splice(i, 0, item);
      st.insertBySize(item);
    }
  },
};
