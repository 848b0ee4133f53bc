/**
 * Bitmap helpers (lib/bitmap.c, include/linux/find.h) over `Uint32Array` words: bit `i` is bit
 * `i & 31` of word `i >>> 5`. Searches skip whole words, so a scan of a 256 MiB area's bitmap
 * (65536 bits) touches at most 2048 words.
 *
 * @module
 */

/** Index of the lowest set bit of a non-zero 32-bit word. */
function lowBit(w: number): number {
  return 31 - Math.clz32(w & -w);
}

/** Words needed for `bits` bits (`BITS_TO_LONGS` with 32-bit words). */
export function bitmapWords(bits: number): number {
  return Math.ceil(bits / 32);
}

/** `find_next_zero_bit`: the first clear bit at or after `start`, or `size` when there is none. */
export function findNextZeroBit(map: Uint32Array, size: number, start: number): number {
  if (start >= size) return size;
  let w = start >>> 5;
  let word = ~map[w]! & (0xffffffff << (start & 31));
  const last = (size - 1) >>> 5;
  for (;;) {
    if (word !== 0) {
      const i = (w << 5) + lowBit(word);
      return Math.min(i, size);
    }
    if (++w > last) return size;
    word = ~map[w]!;
  }
}

/** `find_next_bit`: the first set bit at or after `start`, or `size` when there is none. */
export function findNextBit(map: Uint32Array, size: number, start: number): number {
  if (start >= size) return size;
  let w = start >>> 5;
  let word = map[w]! & (0xffffffff << (start & 31));
  const last = (size - 1) >>> 5;
  for (;;) {
    if (word !== 0) {
      const i = (w << 5) + lowBit(word);
      return Math.min(i, size);
    }
    if (++w > last) return size;
    word = map[w]!;
  }
}

/** `bitmap_set`: sets `nr` bits from `start`. */
export function bitmapSet(map: Uint32Array, start: number, nr: number): void {
  let i = start;
  const end = start + nr;
  while (i < end && i & 31) map[i >>> 5] = map[i >>> 5]! | (1 << (i++ & 31));
  const whole = (end - i) >>> 5;
  if (whole > 0) {
    map.fill(0xffffffff, i >>> 5, (i >>> 5) + whole);
    i += whole << 5;
  }
  while (i < end) map[i >>> 5] = map[i >>> 5]! | (1 << (i++ & 31));
}

/** `bitmap_clear`: clears `nr` bits from `start`. */
export function bitmapClear(map: Uint32Array, start: number, nr: number): void {
  let i = start;
  const end = start + nr;
  while (i < end && i & 31) map[i >>> 5] = map[i >>> 5]! & ~(1 << (i++ & 31));
  const whole = (end - i) >>> 5;
  if (whole > 0) {
    map.fill(0, i >>> 5, (i >>> 5) + whole);
    i += whole << 5;
  }
  while (i < end) map[i >>> 5] = map[i >>> 5]! & ~(1 << (i++ & 31));
}

/** `bitmap_weight`: set bits among the first `size`. */
export function bitmapWeight(map: Uint32Array, size: number): number {
  let n = 0;
  for (let i = findNextBit(map, size, 0); i < size; i = findNextBit(map, size, i + 1)) n++;
  return n;
}

/** `__ALIGN_MASK(x, mask)`: rounds `x` up to a multiple of `mask + 1` (a power of two). */
function alignMask(x: number, mask: number): number {
  return mask === 0 ? x : Math.ceil(x / (mask + 1)) * (mask + 1);
}

/**
 * `bitmap_find_next_zero_area_off`: the lowest index ≥ `start` of `nr` clear bits among the first
 * `size`, such that `index + alignOffset` is a multiple of `alignMask + 1`. Returns a value whose
 * run would end beyond `size` when there is none (callers test `index + nr > size`, or, as
 * cma_alloc does, `index >= size`).
 */
export function bitmapFindNextZeroAreaOff(
  map: Uint32Array,
  size: number,
  start: number,
  nr: number,
  mask: number,
  alignOffset: number,
): number {
  for (;;) {
    let index = findNextZeroBit(map, size, start);
    index = alignMask(index + alignOffset, mask) - alignOffset;
    const end = index + nr;
    if (end > size) return end;
    const i = findNextBit(map, end, index);
    if (i < end) {
      start = i + 1;
      continue;
    }
    return index;
  }
}

/** `bitmap_find_next_zero_area`: `bitmapFindNextZeroAreaOff` with no offset. */
export function bitmapFindNextZeroArea(
  map: Uint32Array,
  size: number,
  start: number,
  nr: number,
  mask: number,
): number {
  return bitmapFindNextZeroAreaOff(map, size, start, nr, mask, 0);
}

/** Length of the longest run of clear bits among the first `size` (debugfs `maxchunk`). */
export function bitmapLongestZeroRun(map: Uint32Array, size: number): number {
  let best = 0;
  for (let z = findNextZeroBit(map, size, 0); z < size; ) {
    const s = findNextBit(map, size, z);
    if (s - z > best) best = s - z;
    z = findNextZeroBit(map, size, s);
  }
  return best;
}
