import { fc, test } from "@fast-check/vitest";
import { Prng } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import {
  allocIova,
  findIova,
  freeIova,
  IOVA_ANCHOR,
  type IovaDomain,
  initIovaDomain,
  iovaStats,
  reserveIova,
} from "../src/index.js";
import { iovaTreeOf } from "../src/iova.js";
import { IovaSpace } from "../src/iova-space.js";

/** The highest aligned fit by scanning every gap from the top (sorted, disjoint live ranges). */
function referenceFit(
  live: readonly (readonly [number, number])[],
  size: number,
  align: number,
  low: number,
  limitEx: number,
): number {
  let above = limitEx;
  for (let i = live.length; i >= 0; i--) {
    const gapLo = i > 0 ? (live[i - 1] as readonly [number, number])[1] + 1 : 0;
    const top = above - size;
    if (top >= 0) {
      const c = Math.floor(top / align) * align;
      if (c >= gapLo && c >= low) return c;
    }
    if (i > 0) above = Math.min(above, (live[i - 1] as readonly [number, number])[0]);
  }
  return -1;
}

/** A sorted list of disjoint ranges with `reserve_iova`'s rules, to compare the domain against. */
class Model {
  readonly live: [number, number][] = [];

  insert(lo: number, hi: number): void {
    const i = this.live.findIndex(([l]) => l > lo);
    this.live.splice(i < 0 ? this.live.length : i, 0, [lo, hi]);
  }

  find(pfn: number): [number, number] | null {
    return this.live.find(([lo, hi]) => lo <= pfn && pfn <= hi) ?? null;
  }

  remove(pfn: number): void {
    const i = this.live.findIndex(([lo, hi]) => lo <= pfn && pfn <= hi);
    if (i >= 0) this.live.splice(i, 1);
  }

  reserve(pfnLo: number, pfnHi: number): [number, number] {
    let lo = pfnLo;
    for (;;) {
      const x = this.live.find(([, hi]) => hi >= lo);
      if (!x || x[0] > pfnHi) break;
      if (lo < x[0]) x[0] = lo;
      if (pfnHi <= x[1]) return [x[0], x[1]];
      lo = x[1] + 1;
    }
    this.insert(lo, pfnHi);
    return [lo, pfnHi];
  }
}

const ranges = (d: IovaDomain): [number, number][] => iovaTreeOf(d).toArray().slice(0, -1);

describe("the IOVA space index", () => {
  it("reports the anchor last and keeps an empty 4 GiB domain, or one reaching 2^52 pfns, to a few nodes", () => {
    const d = initIovaDomain(4096, 1);
    expect(iovaTreeOf(d).toArray()).toEqual([[IOVA_ANCHOR, IOVA_ANCHOR]]);
    expect(allocIova(d, 1, 0xfffff, false)).toEqual({ pfnLo: 0xfffff, pfnHi: 0xfffff });
    // root, one inner node, one leaf: 3 levels for 2^20 pfns
    expect(iovaTreeOf(d).nodes).toEqual({ leaves: 1, inner: 2 });
    freeIova(d, 0xfffff);
    expect(iovaTreeOf(d).nodes).toEqual({ leaves: 0, inner: 1 });
    const top = 2 ** 52 - 1;
    expect(allocIova(d, 4, top, true)).toEqual({ pfnLo: top - 3 - 0, pfnHi: top });
    expect(iovaTreeOf(d).nodes.leaves + iovaTreeOf(d).nodes.inner).toBeLessThanOrEqual(10);
    // a reservation of 2^45 frames costs a few nodes a level, not bits per frame
    expect(reserveIova(d, 2 ** 20, 2 ** 20 + 2 ** 45 - 1)).toEqual({
      pfnLo: 2 ** 20,
      pfnHi: 2 ** 20 + 2 ** 45 - 1,
    });
    const n = iovaTreeOf(d).nodes;
    expect(n.leaves + n.inner).toBeLessThanOrEqual(40);
    expect(findIova(d, 2 ** 40 + 12345)).toEqual({ pfnLo: 2 ** 20, pfnHi: 2 ** 20 + 2 ** 45 - 1 });
    expect(allocIova(d, 1, 2 ** 20 + 2 ** 45 - 1, false)).toEqual({ pfnLo: 2 ** 20 - 1, pfnHi: 2 ** 20 - 1 });
    expect(allocIova(d, 1, IOVA_ANCHOR, false)).toEqual({ pfnLo: IOVA_ANCHOR - 1, pfnHi: IOVA_ANCHOR - 1 });
    iovaTreeOf(d).check();
    for (const [lo] of ranges(d)) freeIova(d, lo);
    expect(iovaStats(d)).toEqual({ live: 0, bytes: 0, cached: 0 });
    const e = iovaTreeOf(d).nodes;
    expect(e.leaves + e.inner).toBe(1); // the root
    iovaTreeOf(d).check();
  });

  it("holds 300,000 live size-1 IOVAs in about one leaf per 1,024 frames", () => {
    const d = initIovaDomain(4096, 1);
    for (let i = 0; i < 300_000; i++) allocIova(d, 1, 0xfffff, false);
    const n = iovaTreeOf(d).nodes;
    expect(n.leaves).toBeLessThanOrEqual(Math.ceil(300_000 / 1024) + 1);
    expect(n.inner).toBeLessThanOrEqual(12);
    const rng = new Prng("space-300k");
    for (let i = 0; i < 2000; i++) {
      const pfn = 0xfffff - rng.int(0, 299_999);
      freeIova(d, pfn);
      expect(allocIova(d, 1, 0xfffff, false)?.pfnLo).toBe(pfn);
    }
    iovaTreeOf(d).check();
  });

  test.prop([
    fc.array(
      fc.record({
        op: fc.constantFrom("alloc", "alloc", "alloc", "free", "free", "reserve", "find"),
        size: fc.integer({ min: 1, max: 3000 }),
        aligned: fc.boolean(),
        at: fc.integer({ min: 0, max: 200_000 }),
        scale: fc.constantFrom(1, 1, 1, 64, 2 ** 20),
      }),
      { maxLength: 120 },
    ),
    fc.integer({ min: 0, max: 5000 }),
  ])(
    "over several leaves and levels, large and unaligned ranges included, the domain agrees with a model",
    (ops, startPfn) => {
      const d = initIovaDomain(4096, startPfn);
      const m = new Model();
      const low = Math.max(startPfn, 1);
      for (const o of ops) {
        const at = o.at * o.scale;
        if (o.op === "alloc") {
          let align = 1;
          while (o.aligned && align < o.size) align *= 2;
          const want = referenceFit(m.live, o.size, align, low, at + 1);
          const r = allocIova(d, o.size, at, o.aligned);
          if (want < 0) expect(r).toBeNull();
          else {
            expect(r).toEqual({ pfnLo: want, pfnHi: want + o.size - 1 });
            m.insert(want, want + o.size - 1);
          }
        } else if (o.op === "free") {
          const pick = m.live.length > 0 && o.aligned ? m.live[o.at % m.live.length] : undefined;
          const pfn = pick ? pick[0] + (o.size % (pick[1] - pick[0] + 1)) : at;
          freeIova(d, pfn);
          m.remove(pfn);
        } else if (o.op === "reserve") {
          const [lo, hi] = m.reserve(at, at + o.size * o.scale - 1);
          expect(reserveIova(d, at, at + o.size * o.scale - 1)).toEqual({ pfnLo: lo, pfnHi: hi });
        } else {
          const r = m.find(at);
          expect(findIova(d, at)).toEqual(r ? { pfnLo: r[0], pfnHi: r[1] } : null);
        }
        expect(ranges(d)).toEqual(m.live);
      }
      iovaTreeOf(d).check();
      expect(iovaStats(d).live).toBe(m.live.length);
    },
  );

  it("finds fits that end exactly on leaf and node boundaries, across uniform slots", () => {
    for (const span of [1024, 32768]) {
      // a free run [span - 9, span + 7) across the boundary; the lower part's own runs are short
      const t = new IovaSpace();
      for (let p = 1; p + 6 < span - 10; p += 8) t.insert(p, p + 6);
      t.insert(span - 10, span - 10);
      t.insert(span + 7, span + 7);
      expect(t.findFit(16, 1, 1, span + 7)).toBe(span - 9);
      expect(t.findFit(17, 1, 1, span + 7)).toBe(-1);
      expect(t.findFit(8, 8, 1, span + 7)).toBe(span - 8);
      t.check();
      // a free slot whose bottom is the candidate, above a slot one range fills entirely
      const u = new IovaSpace();
      u.insert(1, 2 * span - 1);
      expect(u.findFit(span, span, 1, 3 * span)).toBe(2 * span);
      expect(u.findFit(span + 1, 1, 1, 3 * span)).toBe(-1);
      expect(u.findFit(1, 1, 1, 2 * span)).toBe(-1);
      expect(u.findFit(1, 1, 0, 2 * span)).toBe(0);
      u.check();
      // a run from the bottom of a slot whose own runs are short, down into the slot below
      const v = new IovaSpace();
      v.insert(1, span - 25);
      for (let p = span + 7; p + 6 < 2 * span; p += 8) v.insert(p, p + 6);
      expect(v.findFit(20, 1, 1, 2 * span)).toBe(span + 7 - 20);
      expect(v.findFit(31, 1, 1, 2 * span)).toBe(span + 7 - 31);
      expect(v.findFit(32, 1, 1, 2 * span)).toBe(-1);
      v.check();
    }
  });

  test.prop([
    fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 200 })), {
      minLength: 1,
      maxLength: 200,
    }),
    fc.array(
      fc.tuple(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 9 }),
        fc.integer({ min: 0, max: 6000 }),
        fc.integer({ min: 0, max: 6000 }),
      ),
      { minLength: 1, maxLength: 60 },
    ),
  ])("findFit agrees with a gap scan for any size, alignment, floor and limit", (adds, asks) => {
    const t = new IovaSpace();
    const live: [number, number][] = [];
    for (const [lo, len] of adds) {
      const hi = lo + len - 1;
      if (live.some(([a, b]) => a <= hi && lo <= b)) continue;
      t.insert(lo, hi);
      const i = live.findIndex(([a]) => a > lo);
      live.splice(i < 0 ? live.length : i, 0, [lo, hi]);
    }
    for (const [size, alignLog, low, limit] of asks) {
      const align = 2 ** alignLog;
      expect(t.findFit(size, align, low, limit + 1)).toBe(referenceFit(live, size, align, low, limit + 1));
    }
    t.check();
    expect(t.toArray().slice(0, -1)).toEqual(live);
  });
});
