/**
 * The merged-CMA allocator (mm/cma.c `cma_range_alloc`): a bitmap with one bit per
 * 2^order_per_bit pages, searched first-fit as `bitmap_find_next_zero_area_off` does. The
 * alignment mask and the offset are computed so that results are aligned in ABSOLUTE pfn space
 * even when the area's base is not aligned to the requested order:
 *
 * ```
 * mask   = align <= opb ? 0 : 2^(align - opb) - 1
 * offset = (base_pfn & (2^align - 1)) >> opb
 * nr     = ALIGN(count, 2^opb) >> opb
 * ```
 *
 * After a candidate could not be emptied the search restarts at `bitmap_no + mask + 1`, as the
 * kernel does.
 *
 * The bitmap is the state; beside it the allocator keeps the maximal runs of clear bits in
 * address order, so a search visits one entry per free run instead of scanning words. The
 * answer is the same: `bitmap_find_next_zero_area_off` returns the lowest index ≥ start that is
 * aligned (with the offset) and starts `nr` clear bits, and so does the first run that holds such
 * an index (tests compare the two on random bitmaps).
 *
 * @module
 */
import { hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { bitmapClear, bitmapSet, bitmapWords } from "../bitmap.js";
import type { CmaAllocator, CmaAllocCtx, CmaChunk, CmaExtent } from "../ops.js";
import type { CmaRegion } from "../region.js";
import { CMA_BITMAP } from "../types.js";

/** Per-region state of the bitmap allocator (`region.priv`). */
export class CmaBitmap {
  /** one bit per 2^orderPerBit pages */
  readonly bits: Uint32Array;
  /** `cma_bitmap_maxno`: bits in use */
  readonly maxno: number;
  readonly orderPerBit: number;
  readonly basePfn: number;
  /** starts of the maximal clear runs, ascending */
  readonly runStart: number[];
  /** ends (exclusive) of the same runs */
  readonly runEnd: number[];

  constructor(basePfn: number, pages: number, orderPerBit: number) {
    this.basePfn = basePfn;
    this.orderPerBit = orderPerBit;
    this.maxno = Math.floor(pages / 2 ** orderPerBit);
    this.bits = new Uint32Array(bitmapWords(this.maxno));
    this.runStart = this.maxno > 0 ? [0] : [];
    this.runEnd = this.maxno > 0 ? [this.maxno] : [];
  }

  /** Index of the first run whose end is above `bit`. */
  #firstRunAfter(bit: number): number {
    const e = this.runEnd;
    let lo = 0;
    let hi = e.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (e[mid]! <= bit) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * `bitmap_find_next_zero_area_off(bits, maxno, start, nr, mask, offset)`: the lowest index ≥
   * `start` whose `index + offset` is a multiple of `mask + 1` and that starts `nr` clear bits, or
   * -1.
   */
  find(start: number, nr: number, mask: number, offset: number): number {
    const rs = this.runStart;
    const re = this.runEnd;
    const step = mask + 1;
    for (let r = start > 0 ? this.#firstRunAfter(start) : 0; r < rs.length; r++) {
      const from = Math.max(rs[r]!, start);
      const idx = mask === 0 ? from : Math.ceil((from + offset) / step) * step - offset;
      if (idx + nr <= re[r]!) return idx;
    }
    return -1;
  }

  /** `bitmap_set(bits, no, nr)` on clear bits, keeping the runs. */
  set(no: number, nr: number): void {
    bitmapSet(this.bits, no, nr);
    const r = this.#firstRunAfter(no);
    const s = this.runStart[r]!;
    const e = this.runEnd[r]!;
    const end = no + nr;
    if (s === no && e === end) {
      this.runStart.splice(r, 1);
      this.runEnd.splice(r, 1);
    } else if (s === no) this.runStart[r] = end;
    else if (e === end) this.runEnd[r] = no;
    else {
      this.runEnd[r] = no;
      this.runStart.splice(r + 1, 0, end);
      this.runEnd.splice(r + 1, 0, e);
    }
  }

  /** `bitmap_clear(bits, no, nr)` of set bits, keeping the runs (merged with neighbours). */
  clear(no: number, nr: number): void {
    bitmapClear(this.bits, no, nr);
    const end = no + nr;
    const r = this.#firstRunAfter(no); // first run lying after the cleared range
    const rs = this.runStart;
    const re = this.runEnd;
    const joinPrev = r > 0 && re[r - 1] === no;
    const joinNext = r < rs.length && rs[r] === end;
    if (joinPrev && joinNext) {
      re[r - 1] = re[r]!;
      rs.splice(r, 1);
      re.splice(r, 1);
    } else if (joinPrev) re[r - 1] = end;
    else if (joinNext) rs[r] = no;
    else {
      rs.splice(r, 0, no);
      re.splice(r, 0, end);
    }
  }

  /** Bits in the longest clear run. */
  get longestRun(): number {
    let best = 0;
    for (let r = 0; r < this.runStart.length; r++) best = Math.max(best, this.runEnd[r]! - this.runStart[r]!);
    return best;
  }
}

function state(region: CmaRegion): CmaBitmap {
  const s = region.priv;
  if (!(s instanceof CmaBitmap)) throw new KernelError("EINVAL", `${region.label}: no bitmap attached`);
  return s;
}

/** `cma_alloc`'s placement as an allocator (see the module text for mask, offset and nr). */
export const bitmapAllocator: CmaAllocator = {
  name: CMA_BITMAP,

  init(region: CmaRegion): void {
    const pages = region.size / PAGE_SIZE;
    const g = 2 ** region.orderPerBit;
    if (pages % g !== 0) {
      throw new KernelError(
        "EINVAL",
        `${region.label}: ${pages} pages is not a multiple of 2^order_per_bit (${g}) pages`,
      );
    }
    region.priv = new CmaBitmap(region.basePfn, pages, region.orderPerBit);
  },

  cleanup(region: CmaRegion): void {
    region.priv = null;
  },

  alloc(region: CmaRegion, size: number, alignment: number, ctx: CmaAllocCtx): CmaExtent | null {
    const bm = state(region);
    const opb = bm.orderPerBit;
    const count = size / PAGE_SIZE;
    const ap = alignment / PAGE_SIZE;
    const align = ap < 2 ** 31 ? 31 - Math.clz32(ap) : Math.round(Math.log2(ap));
    const mask = align <= opb ? 0 : 2 ** (align - opb) - 1;
    const offset = opb === 0 ? bm.basePfn % 2 ** align : Math.floor((bm.basePfn % 2 ** align) / 2 ** opb);
    const nr = opb === 0 ? count : Math.ceil(count / 2 ** opb);
    if (nr > bm.maxno) return null;
    // after a busy candidate: start = bitmap_no + mask + 1
    const busy = ctx.busy;
    const last = busy.length > 0 ? busy[busy.length - 1] : undefined;
    let start = last ? (last.start / PAGE_SIZE - bm.basePfn) / 2 ** opb + mask + 1 : 0;
    for (;;) {
      const no = bm.find(start, nr, mask, offset);
      if (no < 0) return null;
      const pfn = bm.basePfn + no * 2 ** opb;
      if (last && ctx.overlapsBusy(pfn * PAGE_SIZE, size)) {
        // a page already known to be pinned: the kernel would try it and fail again
        start = no + mask + 1;
        continue;
      }
      bm.set(no, nr);
      return { start: pfn * PAGE_SIZE, size };
    }
  },

  free(chunk: CmaChunk): void {
    const bm = state(chunk.region);
    const opb = bm.orderPerBit;
    const first = chunk.start / PAGE_SIZE - bm.basePfn;
    if (first < 0 || first % 2 ** opb !== 0) {
      throw new KernelError("EINVAL", `bitmap free: ${hex(chunk.start)} is not on a bit of ${chunk.region}`);
    }
    bm.clear(first / 2 ** opb, Math.ceil(chunk.size / PAGE_SIZE / 2 ** opb));
  },
};
