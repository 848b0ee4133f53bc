/**
 * A bus-address allocator in the manner of lib/genalloc.c with Samsung's
 * `gen_pool_alloc_aligned`: one chunk `[start, start + size)`, a granule (the bitmap's unit),
 * first fit from the lowest address with the start aligned (absolutely) to a power of two.
 * gen_pool returns 0 for failure, so address 0 can never be handed out; this pool skips it
 * instead of failing (see the README).
 *
 * @module
 */
import { alignUp, hex, KernelBug } from "@umm/kernel-core";

/** @internal */
export class AddrPool {
  readonly start: number;
  readonly end: number;
  readonly granule: number;
  // allocated ranges, sorted by start: starts[i] .. ends[i]
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  #used = 0;

  constructor(start: number, size: number, granule: number) {
    this.start = start;
    this.end = start + size;
    this.granule = granule;
  }

  /** Bytes allocated. */
  get used(): number {
    return this.#used;
  }

  /** Allocated ranges, ascending. */
  ranges(): { start: number; end: number }[] {
    return this.#starts.map((s, i) => ({ start: s, end: this.#ends[i] as number }));
  }

  /**
   * `gen_pool_alloc_aligned`: `size` bytes (rounded up to the granule) at the lowest address
   * aligned to `align` (rounded up to the granule); 0 when nothing fits or `size` is 0.
   */
  alloc(size: number, align: number): number {
    if (size <= 0) return 0;
    const n = alignUp(size, this.granule);
    const a = Math.max(align, this.granule);
    let gapStart = this.start;
    for (let i = 0; i <= this.#starts.length; i++) {
      const gapEnd = i < this.#starts.length ? (this.#starts[i] as number) : this.end;
      let at = alignUp(gapStart, a);
      if (at === 0) at = a; // never hand out address 0 (gen_pool's failure value)
      if (at + n <= gapEnd) {
        this.#starts.splice(i, 0, at);
        this.#ends.splice(i, 0, at + n);
        this.#used += n;
        return at;
      }
      if (i < this.#ends.length) gapStart = this.#ends[i] as number;
    }
    return 0;
  }

  /** `gen_pool_free`: releases exactly a range `alloc` returned (anything else is a bug). */
  free(addr: number, size: number): void {
    const n = alignUp(size, this.granule);
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.#starts[mid] as number;
      if (s === addr) {
        if ((this.#ends[mid] as number) - s !== n) break;
        this.#starts.splice(mid, 1);
        this.#ends.splice(mid, 1);
        this.#used -= n;
        return;
      }
      if (s < addr) lo = mid + 1;
      else hi = mid - 1;
    }
    throw new KernelBug(`gen_pool_free: [${hex(addr)}, +${hex(n)}) was not allocated from the pool`);
  }
}
