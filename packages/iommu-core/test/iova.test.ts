import { fc, test } from "@fast-check/vitest";
import { createKernel, KernelBug, Prng, TraceRecorder } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  allocIova,
  allocIovaFast,
  findIova,
  freeCpuCachedIovas,
  freeIova,
  freeIovaFast,
  IOVA_MAG_SIZE,
  type IovaDomain,
  initIovaDomain,
  iovaAlign,
  iovaDmaAddr,
  iovaOffset,
  iovaPfn,
  iovaShift,
  iovaStats,
  MAX_GLOBAL_MAGS,
  putIovaDomain,
  reserveIova,
} from "../src/index.js";
import { iovaTreeOf } from "../src/iova.js";
import { IovaTree } from "../src/iova-tree.js";

/** Live ranges without the anchor. */
const ranges = (d: IovaDomain): [number, number][] => iovaTreeOf(d).toArray().slice(0, -1);

/** The highest fit by scanning every gap from the top (the reference the tree must agree with). */
function referenceFit(
  live: [number, number][],
  size: number,
  limit: number,
  aligned: boolean,
  low: number,
): number {
  let align = 1;
  while (aligned && align < size) align *= 2;
  let above = limit + 1; // exclusive top of the current gap
  for (let i = live.length; i >= 0; i--) {
    const gapLo = i > 0 ? (live[i - 1] as [number, number])[1] + 1 : 0;
    const top = above - size;
    if (top >= 0) {
      const c = top - (top % align);
      if (c >= gapLo && c >= low) return c;
    }
    if (i > 0) above = Math.min(above, (live[i - 1] as [number, number])[0]);
  }
  return -1;
}

describe("IOVA domain", () => {
  it("allocates top-down with natural alignment: allocIova(3, 0xFFFFF, aligned) on an empty domain → 0xFFFFC..0xFFFFE", () => {
    const d = initIovaDomain(4096, 1);
    expect(allocIova(d, 3, 0xfffff, true)).toEqual({ pfnLo: 0xffffc, pfnHi: 0xffffe });
    expect(allocIova(d, 3, 0xfffff, false)).toEqual({ pfnLo: 0xffff9, pfnHi: 0xffffb });
    expect(allocIova(d, 4, 0xfffff, true)).toEqual({ pfnLo: 0xffff4, pfnHi: 0xffff7 });
    expect(allocIova(d, 1, 0xfffff, false)).toEqual({ pfnLo: 0xfffff, pfnHi: 0xfffff });
    expect(iovaStats(d)).toEqual({ live: 4, bytes: 11 * 4096, cached: 0 });
  });

  it("rejects a granule that is not a power of two of at most 4096, and bad pfns, with EINVAL", () => {
    expect(() => initIovaDomain(3000, 1)).toThrow(kerr("EINVAL", /granule 3000/));
    expect(() => initIovaDomain(8192, 1)).toThrow(kerr("EINVAL", /granule 8192/));
    expect(() => initIovaDomain(0, 1)).toThrow(kerr("EINVAL"));
    expect(() => initIovaDomain(4096, -1)).toThrow(kerr("EINVAL", /startPfn/));
    const d = initIovaDomain(1024, 0);
    expect(() => allocIova(d, 0, 100, false)).toThrow(kerr("EINVAL", /size 0/));
    expect(() => allocIova(d, 1.5, 100, false)).toThrow(kerr("EINVAL"));
    expect(() => allocIova(d, 1, -1, false)).toThrow(kerr("EINVAL", /limitPfn/));
    expect(() => reserveIova(d, 5, 4)).toThrow(kerr("EINVAL", /above/));
    expect(iovaStats(d).live).toBe(0);
  });

  it("never hands out pfn 0, whatever startPfn, and returns null when full", () => {
    const d = initIovaDomain(4096, 0);
    const got: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = allocIova(d, 1, 15, false);
      if (!r) break;
      got.push(r.pfnLo);
    }
    expect(got).toEqual([15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(allocIova(d, 1, 15, false)).toBeNull();
    expect(allocIova(d, 1, 0, false)).toBeNull();
  });

  it("respects startPfn and the limit; a gap too small or misaligned is skipped", () => {
    const d = initIovaDomain(4096, 0x100);
    expect(allocIova(d, 0x10, 0x10f, false)).toEqual({ pfnLo: 0x100, pfnHi: 0x10f });
    expect(allocIova(d, 1, 0x10f, false)).toBeNull();
    reserveIova(d, 0x1fe, 0x1fe); // leaves a 1-pfn hole at 0x1ff under limit 0x1ff
    expect(allocIova(d, 2, 0x1ff, true)).toEqual({ pfnLo: 0x1fc, pfnHi: 0x1fd });
    expect(allocIova(d, 1, 0x1ff, false)).toEqual({ pfnLo: 0x1ff, pfnHi: 0x1ff });
  });

  it("free returns a range to the highest-first search; freeing an unknown pfn does nothing; find finds", () => {
    const d = initIovaDomain(4096, 1);
    const a = allocIova(d, 4, 0xffff, false)!;
    const b = allocIova(d, 4, 0xffff, false)!;
    expect(findIova(d, b.pfnLo + 2)).toEqual(b);
    expect(findIova(d, 5)).toBeNull();
    freeIova(d, 5);
    freeIova(d, a.pfnHi);
    expect(findIova(d, a.pfnLo)).toBeNull();
    expect(allocIova(d, 2, 0xffff, false)).toEqual({ pfnLo: a.pfnHi - 1, pfnHi: a.pfnHi });
  });

  it("reserve extends the ranges it overlaps down and inserts the rest (reserve_iova)", () => {
    const d = initIovaDomain(4096, 1);
    reserveIova(d, 10, 12);
    reserveIova(d, 15, 17);
    expect(reserveIova(d, 5, 20)).toEqual({ pfnLo: 18, pfnHi: 20 });
    expect(ranges(d)).toEqual([
      [5, 12],
      [13, 17],
      [18, 20],
    ]);
    expect(reserveIova(d, 14, 16)).toEqual({ pfnLo: 13, pfnHi: 17 });
    expect(ranges(d).length).toBe(3);
    expect(allocIova(d, 1, 20, false)).toEqual({ pfnLo: 4, pfnHi: 4 });
    iovaTreeOf(d).check();
    expect(iovaStats(d).bytes).toBe(17 * 4096);
  });

  it("put frees everything; using the domain afterwards is a KernelBug", () => {
    const d = initIovaDomain(4096, 1);
    allocIova(d, 8, 0xffff, true);
    putIovaDomain(d);
    expect(() => allocIova(d, 1, 0xffff, false)).toThrow(KernelBug);
    expect(() => iovaStats(d)).toThrow(KernelBug);
  });

  it("helpers convert between bytes and frames of the granule", () => {
    const d = initIovaDomain(1024, 1);
    expect(iovaShift(d)).toBe(10);
    expect(iovaOffset(d, 0x12345)).toBe(0x345);
    expect(iovaAlign(d, 0x401)).toBe(0x800);
    expect(iovaPfn(d, 0x12345)).toBe(0x48);
    expect(iovaDmaAddr(d, { pfnLo: 0x48, pfnHi: 0x48 })).toBe(0x12000);
    expect(d.dma32bitPfn).toBe(2 ** 22);
  });

  it("traces iova_alloc and iova_free when given a kernel", () => {
    const k = createKernel();
    const rec = new TraceRecorder(k.trace, { events: ["iova_alloc", "iova_free"] });
    const d = initIovaDomain(4096, 1, { kernel: k });
    const r = allocIova(d, 2, 0xff, true)!;
    freeIova(d, r.pfnLo);
    const p = allocIovaFast(d, 3, 0xff, false);
    freeIovaFast(d, p, 3);
    expect(rec.records().map((x) => [x.name, x.data])).toEqual([
      ["iova_alloc", { pfn_lo: 0xfe, pfn_hi: 0xff }],
      ["iova_free", { pfn_lo: 0xfe, pfn_hi: 0xff }],
      ["iova_alloc", { pfn_lo: 0xfc, pfn_hi: 0xff }],
      ["iova_free", { pfn_lo: 0xfc, pfn_hi: 0xff }],
    ]);
  });

  it("stays balanced and exact with 20,000 live entries and random churn", () => {
    const d = initIovaDomain(4096, 1);
    const rng = new Prng("iova-churn");
    const live: number[] = [];
    for (let i = 0; i < 20000; i++) live.push(allocIova(d, 1, 0xfffff, false)!.pfnLo);
    for (let i = 0; i < 2000; i++) {
      const j = rng.int(0, live.length - 1);
      const pfn = live[j]!;
      freeIova(d, pfn);
      const r = allocIova(d, 1, 0xfffff, false)!;
      expect(r.pfnLo).toBe(pfn); // the hole just made is the highest gap
      live[j] = r.pfnLo;
    }
    iovaTreeOf(d).check();
    expect(iovaStats(d).live).toBe(20000);
  });
});

describe("the index tree", () => {
  it("keeps its invariants while growing to 40,000 ranges (3 levels) and shrinking to a few", () => {
    const t = new IovaTree();
    const rng = new Prng("tree-grow-shrink");
    const live = new Set<number>();
    // disjoint ranges [10k, 10k + len] inserted in random order
    const order = rng.shuffle(Array.from({ length: 40000 }, (_, i) => i));
    for (let n = 0; n < order.length; n++) {
      const k = order[n]!;
      t.insert(k * 10, k * 10 + (k % 7));
      live.add(k);
      if (n % 4999 === 0) t.check();
    }
    t.check();
    expect(t.height).toBeGreaterThanOrEqual(3);
    expect(t.toArray().length).toBe(40000);
    const gone = rng.shuffle([...live]);
    for (let n = 0; n < gone.length - 5; n++) {
      const k = gone[n]!;
      expect(t.remove(k * 10 + (k % 7))).toBe(true);
      expect(t.removedLo).toBe(k * 10);
      live.delete(k);
      if (n % 4999 === 0) t.check();
    }
    t.check();
    expect(t.height).toBe(0);
    expect(t.toArray()).toEqual([...live].sort((a, b) => a - b).map((k) => [k * 10, k * 10 + (k % 7)]));
    expect(t.remove(1)).toBe(false);
  });

  test.prop([
    fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3000 })), { minLength: 1, maxLength: 1500 }),
  ])("random inserts and removes agree with a sorted array; fits agree with a gap scan", (ops) => {
    const t = new IovaTree();
    t.insert(1e9, 1e9);
    const live: [number, number][] = [];
    for (const [add, x] of ops) {
      const at = live.findIndex(([lo]) => lo > x);
      const i = at < 0 ? live.length : at;
      const prev = live[i - 1];
      if (add && (!prev || prev[1] < x)) {
        const next = live[i];
        const hi = Math.min(x + (x % 3), next ? next[0] - 1 : x + 2);
        t.insert(x, hi);
        live.splice(i, 0, [x, hi]);
      } else if (!add && prev && prev[1] >= x) {
        expect(t.remove(x)).toBe(true);
        live.splice(i - 1, 1);
      }
      const size = (x % 5) + 1;
      expect(t.findFit(size, 1, 1, 3001)).toBe(referenceFit(live, size, 3000, false, 1));
    }
    t.check();
    expect(t.toArray().slice(0, -1)).toEqual(live);
  });
});

type Op =
  | { op: "alloc"; size: number; limit: number; aligned: boolean }
  | { op: "free"; pick: number }
  | { op: "reserve"; lo: number; len: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("alloc" as const),
      size: fc.integer({ min: 1, max: 40 }),
      limit: fc.integer({ min: 0, max: 600 }),
      aligned: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("free" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("reserve" as const),
      lo: fc.integer({ min: 0, max: 600 }),
      len: fc.integer({ min: 1, max: 20 }),
    }),
  },
);

describe("IOVA allocator properties", () => {
  test.prop([fc.integer({ min: 0, max: 30 }), fc.array(opArb, { maxLength: 300 })])(
    "results equal a full gap scan; live ranges never overlap and stay in [max(startPfn,1), limit]; aligned ones are natural; freeing all empties it",
    (startPfn, ops) => {
      const d = initIovaDomain(4096, startPfn);
      const low = Math.max(startPfn, 1);
      const mine: number[] = []; // pfnLo of allocations (not reservations)
      for (const o of ops) {
        if (o.op === "alloc") {
          const want = referenceFit(ranges(d), o.size, o.limit, o.aligned, low);
          const r = allocIova(d, o.size, o.limit, o.aligned);
          if (want < 0) {
            expect(r).toBeNull();
            continue;
          }
          expect(r).toEqual({ pfnLo: want, pfnHi: want + o.size - 1 });
          const lo = r!.pfnLo;
          expect(lo).toBeGreaterThanOrEqual(low);
          expect(lo + o.size - 1).toBeLessThanOrEqual(o.limit);
          if (o.aligned) {
            let a = 1;
            while (a < o.size) a *= 2;
            expect(lo % a).toBe(0);
          }
          mine.push(lo);
        } else if (o.op === "free" && mine.length > 0) {
          const i = o.pick % mine.length;
          freeIova(d, mine[i]!);
          mine.splice(i, 1);
        } else if (o.op === "reserve") {
          const hi = o.lo + o.len - 1;
          const r = reserveIova(d, o.lo, hi);
          expect(r.pfnLo <= hi && hi <= r.pfnHi).toBe(true);
          for (let pfn = o.lo; pfn <= hi; pfn++) expect(findIova(d, pfn)).not.toBeNull();
          // reservations may swallow allocations (the kernel extends overlapped ranges)
          for (let i = mine.length - 1; i >= 0; i--)
            if (findIova(d, mine[i]!)?.pfnLo !== mine[i]) mine.splice(i, 1);
        }
        const rs = ranges(d);
        for (let i = 1; i < rs.length; i++) expect(rs[i]![0]).toBeGreaterThan(rs[i - 1]![1]);
      }
      iovaTreeOf(d).check();
      for (const [lo] of ranges(d)) freeIova(d, lo);
      expect(iovaStats(d)).toEqual({ live: 0, bytes: 0, cached: 0 });
      iovaTreeOf(d).check();
    },
  );
});

describe("range caches (alloc_iova_fast / free_iova_fast)", () => {
  it("rounds small sizes up to a power of two, aligned; a freed range comes back first", () => {
    const d = initIovaDomain(4096, 1);
    const p = allocIovaFast(d, 3, 0xfffff, false);
    expect(p).toBe(0xffffc);
    expect(findIova(d, p)).toEqual({ pfnLo: 0xffffc, pfnHi: 0xfffff });
    freeIovaFast(d, p, 3);
    expect(iovaStats(d)).toEqual({ live: 1, bytes: 4 * 4096, cached: 1 });
    expect(allocIovaFast(d, 4, 0xfffff, false)).toBe(p);
    expect(iovaStats(d).cached).toBe(0);
  });

  it("a cached range above the limit is not handed out: the tree serves the request", () => {
    const d = initIovaDomain(4096, 1);
    const hi = allocIovaFast(d, 1, 0xfffff, false);
    freeIovaFast(d, hi, 1);
    expect(allocIovaFast(d, 1, 0xffff, false)).toBe(0xffff);
    expect(allocIovaFast(d, 1, 0xfffff, false)).toBe(hi);
  });

  it("returns 0 when full; flushRcache returns the cached ranges to the tree and retries", () => {
    const d = initIovaDomain(4096, 1);
    const pfns: number[] = [];
    for (let p = allocIovaFast(d, 1, 16, false); p !== 0; p = allocIovaFast(d, 1, 16, false)) pfns.push(p);
    expect(pfns.length).toBe(16);
    for (const p of pfns) freeIovaFast(d, p, 1);
    expect(allocIovaFast(d, 2, 16, false)).toBe(0);
    expect(allocIovaFast(d, 2, 16, true)).toBe(14); // [14, 15]: [16, 17] would pass the limit
    expect(iovaStats(d)).toEqual({ live: 1, bytes: 2 * 4096, cached: 0 });
  });

  it("full magazines go to a depot of 32; beyond it they return to the tree", () => {
    const d = initIovaDomain(4096, 1);
    const n = (MAX_GLOBAL_MAGS + 4) * IOVA_MAG_SIZE;
    const pfns: number[] = [];
    for (let i = 0; i < n; i++) pfns.push(allocIovaFast(d, 1, 0xfffff, false));
    for (const p of pfns) freeIovaFast(d, p, 1);
    const s = iovaStats(d);
    expect(s.cached).toBeLessThanOrEqual((MAX_GLOBAL_MAGS + 2) * IOVA_MAG_SIZE);
    expect(s.cached).toBeGreaterThan(MAX_GLOBAL_MAGS * IOVA_MAG_SIZE);
    expect(s.live).toBe(s.cached);
    freeCpuCachedIovas(d);
    expect(iovaStats(d).cached).toBe(MAX_GLOBAL_MAGS * IOVA_MAG_SIZE);
    iovaTreeOf(d).check();
  });

  it("sizes above 32 pages bypass the caches", () => {
    const d = initIovaDomain(4096, 1);
    const p = allocIovaFast(d, 33, 0xfffff, false);
    expect(findIova(d, p)).toEqual({ pfnLo: p, pfnHi: p + 32 });
    expect(p % 64).toBe(0);
    freeIovaFast(d, p, 33);
    expect(iovaStats(d)).toEqual({ live: 0, bytes: 0, cached: 0 });
  });

  it("a double free, a free of a pfn that starts no range, a size mismatch or freeIova of a cached pfn are KernelBugs", () => {
    const d = initIovaDomain(4096, 1);
    const p = allocIovaFast(d, 2, 0xfffff, false);
    expect(() => freeIovaFast(d, p + 1, 1)).toThrow(KernelBug);
    expect(() => freeIovaFast(d, p, 4)).toThrow(KernelBug);
    freeIovaFast(d, p, 2);
    expect(() => freeIovaFast(d, p, 2)).toThrow(KernelBug);
    expect(() => freeIova(d, p)).toThrow(KernelBug);
  });
});
