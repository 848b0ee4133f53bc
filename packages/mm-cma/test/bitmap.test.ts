import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  bitmapClear,
  bitmapFindNextZeroArea,
  bitmapFindNextZeroAreaOff,
  bitmapLongestZeroRun,
  bitmapSet,
  bitmapWeight,
  CmaBitmap,
  findNextBit,
  findNextZeroBit,
} from "../src/index.js";

const fromBits = (s: string) => {
  const m = new Uint32Array(Math.ceil(s.length / 32) || 1);
  for (let i = 0; i < s.length; i++) if (s[i] === "1") m[i >>> 5]! |= 1 << (i & 31);
  return m;
};

describe("bitmap helpers (lib/bitmap.c)", () => {
  it("find_next_bit / find_next_zero_bit across word boundaries", () => {
    const m = new Uint32Array(4);
    bitmapSet(m, 30, 40); // bits 30..69
    expect(findNextBit(m, 128, 0)).toBe(30);
    expect(findNextZeroBit(m, 128, 30)).toBe(70);
    expect(findNextBit(m, 128, 70)).toBe(128);
    expect(findNextZeroBit(m, 50, 31)).toBe(50);
    expect(bitmapWeight(m, 128)).toBe(40);
    bitmapClear(m, 32, 32);
    expect(bitmapWeight(m, 128)).toBe(8);
    expect(findNextZeroBit(m, 128, 30)).toBe(32);
    bitmapSet(m, 0, 128);
    expect(findNextZeroBit(m, 128, 0)).toBe(128);
    expect(m[3]).toBe(0xffffffff);
  });

  it("bitmap_find_next_zero_area_off: first fit, aligned with an offset", () => {
    const m = fromBits("1100000011110000");
    expect(bitmapFindNextZeroArea(m, 16, 0, 4, 0)).toBe(2);
    expect(bitmapFindNextZeroArea(m, 16, 0, 4, 3)).toBe(4); // 4-aligned
    expect(bitmapFindNextZeroArea(m, 16, 0, 7, 0)).toBe(19); // none: an index whose run ends past size
    // offset 1: index + 1 must be a multiple of 4 → 3, 7, 11 ...
    expect(bitmapFindNextZeroAreaOff(m, 16, 0, 2, 3, 1)).toBe(3);
    expect(bitmapFindNextZeroAreaOff(m, 16, 0, 5, 3, 1)).toBe(3);
    expect(bitmapFindNextZeroAreaOff(m, 16, 0, 6, 3, 1)).toBeGreaterThanOrEqual(16);
    // offset 3: index + 3 must be a multiple of 4 → 1, 5, 9, 13
    expect(bitmapFindNextZeroAreaOff(m, 16, 0, 2, 3, 3)).toBe(5);
    expect(bitmapFindNextZeroAreaOff(m, 16, 0, 4, 3, 3)).toBe(17);
    expect(bitmapFindNextZeroAreaOff(m, 16, 5, 2, 0, 0)).toBe(5);
  });

  it("the longest clear run", () => {
    expect(bitmapLongestZeroRun(fromBits("1100000011110000"), 16)).toBe(6);
    expect(bitmapLongestZeroRun(fromBits("1111"), 4)).toBe(0);
    expect(bitmapLongestZeroRun(new Uint32Array(3), 70)).toBe(70);
  });
});

describe("the bitmap allocator's run index", () => {
  test.prop(
    [
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 40 }), fc.nat()), { maxLength: 80 }),
      fc.array(
        fc.tuple(
          fc.integer({ min: 0, max: 300 }),
          fc.integer({ min: 1, max: 50 }),
          fc.integer({ min: 0, max: 5 }),
          fc.nat(),
        ),
        { minLength: 1, maxLength: 10 },
      ),
    ],
    { numRuns: 200 },
  )(
    "finds exactly what bitmap_find_next_zero_area_off finds, and its runs are the clear runs",
    (ops, queries) => {
      const bm = new CmaBitmap(0x41234, 300, 0);
      const live: [number, number][] = [];
      for (const [set, nr, pick] of ops) {
        if (set) {
          const no = bm.find(0, nr, 0, 0);
          if (no >= 0) {
            bm.set(no, nr);
            live.push([no, nr]);
          }
        } else if (live.length) {
          const [no, nr2] = live.splice(pick % live.length, 1)[0]!;
          bm.clear(no, nr2);
        }
      }
      // runs == maximal clear runs of the bitmap
      const runs: [number, number][] = [];
      for (let z = findNextZeroBit(bm.bits, bm.maxno, 0); z < bm.maxno; ) {
        const s = findNextBit(bm.bits, bm.maxno, z);
        runs.push([z, s]);
        z = findNextZeroBit(bm.bits, bm.maxno, s);
      }
      expect(bm.runStart.map((s, i) => [s, bm.runEnd[i]])).toEqual(runs);
      for (const [start, nr, order, off] of queries) {
        const mask = 2 ** order - 1;
        const offset = off % (mask + 1);
        const want = bitmapFindNextZeroAreaOff(bm.bits, bm.maxno, start, nr, mask, offset);
        const got = bm.find(start, nr, mask, offset);
        expect(got).toBe(want + nr > bm.maxno ? -1 : want);
      }
    },
  );
});
