import { Device, PAGE_SIZE, SZ_1M, SZ_4M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { MIGRATE_CMA, PAGEBLOCK_NR_PAGES, pinUserPages } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  type CmaRegion,
  cmaAlloc,
  cmaAllocFrom,
  cmaAllocFromRegion,
  cmaDeclareContiguous,
  cmaEarlyRegionsReserve,
  cmaFree,
  cmaRegionFind,
  cmaRegionRegister,
  cmaRegionUnregister,
  cmaRelease,
  cmaSetDefaults,
  devSetCmaArea,
  dmaAllocFromContiguous,
} from "../src/index.js";
import { bootCma } from "../src/testing.js";
import { fillCmaWithUserPages, recordAll, type UserFill } from "./helpers.js";

/** 64 MiB; a 16 MiB merged area "area" at 0x41400000 (bitmap) and an 8 MiB reusable 2010 region "rv" (bf). */
function board() {
  let cma: CmaRegion | undefined;
  const { kernel, mm } = bootCma({
    size: 64 * SZ_1M,
    setup: (k) => {
      cma = cmaDeclareContiguous(k, { base: 0x41400000, size: 16 * SZ_1M, fixed: true, name: "area" });
      cmaSetDefaults(k, [{ name: "rv", size: 8 * SZ_1M, start: 0x42800000, reusable: true }]);
      cmaEarlyRegionsReserve(k);
    },
  });
  const rv = cmaRegionFind(kernel, "rv")!;
  return { kernel, mm, cma: cma!, rv };
}

/** User pages of `fill` that sit in `region`, one per pageblock (pageblock index → page k). */
function onePerPageblock(fill: UserFill, region: CmaRegion): Map<number, number> {
  const out = new Map<number, number>();
  for (let k = 0; k < fill.pages; k++) {
    const pfn = fill.pfnOf(k);
    if (pfn < region.basePfn || pfn >= region.basePfn + region.count) continue;
    const pb = Math.floor((pfn - region.basePfn) / PAGEBLOCK_NR_PAGES);
    if (!out.has(pb) && (pfn - region.basePfn) % PAGEBLOCK_NR_PAGES > 8) out.set(pb, k);
  }
  return out;
}

describe("reusable regions: free pages serve movable allocations, allocation migrates them", () => {
  it("both kinds of region are MIGRATE_CMA pageblocks of the buddy allocator", () => {
    const { mm, cma, rv } = board();
    expect(rv.reusable && rv.activated && rv.registered).toBe(true);
    expect(cma.activated).toBe(true);
    expect(mm.buddy.freePagesOfType(MIGRATE_CMA)).toBe((16 + 8) * 256);
  });

  it("allocating the whole area moves every user page out; each still reads its bytes through its mapping", () => {
    const { kernel, mm, cma } = board();
    const fill = fillCmaWithUserPages(mm, 6144);
    const inArea = Array.from({ length: fill.pages }, (_, k) => fill.pfnOf(k)).filter(
      (p) => p >= cma.basePfn && p < cma.basePfn + cma.count,
    ).length;
    expect(inArea).toBe(4096); // they really used the area while it was free
    const rec = recordAll(kernel);
    const pfn = cmaAlloc(cma, 4096, 0)!;
    expect(pfn).toBe(cma.basePfn);
    expect(fill.firstBadPage()).toBe(-1);
    for (let k = 0; k < fill.pages; k++) {
      const p = fill.pfnOf(k);
      expect(p >= pfn && p < pfn + 4096).toBe(false);
    }
    const migrated = rec.of("mm_migrate_pages").reduce((s, d) => s + (d.nr_migrated as number), 0);
    expect(migrated).toBe(inArea);
    expect(mm.frames.ownerOf(pfn + 17)).toBe("cma:area");
    expect(cmaRelease(cma, pfn, 4096)).toBe(true);
    expect(fill.firstBadPage()).toBe(-1);
  });

  it("a pinned page makes its candidate fail; the allocation lands in the next one", () => {
    const { kernel, mm, cma } = board();
    const fill = fillCmaWithUserPages(mm, 6144);
    const firstPb = onePerPageblock(fill, cma).get(0)!;
    const pinnedPfn = fill.pfnOf(firstPb);
    const pin = pinUserPages(fill.space, fill.vma.start + firstPb * PAGE_SIZE, 1);
    const rec = recordAll(kernel);
    const pfn = cmaAlloc(cma, 1024, 10)!;
    expect(pfn).toBe(cma.basePfn + 1024);
    expect(rec.of("cma_alloc_busy_retry")).toEqual([
      { name: "area", pfn: cma.basePfn, count: 1024, align: 10 },
    ]);
    expect(rec.of("cma_alloc_finish")).toEqual([{ name: "area", pfn, count: 1024, align: 10, errorno: 0 }]);
    expect(fill.pfnOf(firstPb)).toBe(pinnedPfn); // the pinned page did not move
    expect(fill.firstBadPage()).toBe(-1);
    expect(cma.chunks()).toHaveLength(1);
    pin.release();
  });

  it("null (merged) / ENOMEM (2010) when every candidate holds a pinned page; nothing is allocated", () => {
    const { kernel, mm, cma } = board();
    const fill = fillCmaWithUserPages(mm, 6144);
    const per = onePerPageblock(fill, cma);
    expect(per.size).toBe(4);
    const pins = [...per.values()].map((k) => pinUserPages(fill.space, fill.vma.start + k * PAGE_SIZE, 1));
    const rec = recordAll(kernel);
    expect(cmaAlloc(cma, 1024, 10)).toBeNull();
    expect(rec.of("cma_alloc_busy_retry")).toHaveLength(4);
    expect(rec.of("cma_alloc_finish")[0]).toMatchObject({ pfn: 0, errorno: -16 });
    expect(cma.availableCount).toBe(4096);
    expect(cma.chunks()).toHaveLength(0);
    expect(() => cmaAllocFrom(kernel, "area", 4 * SZ_1M, 4 * SZ_1M)).toThrow(kerr("ENOMEM"));
    expect(fill.firstBadPage()).toBe(-1);
    // a smaller request fits between the pins
    const small = cmaAlloc(cma, 512, 9)!;
    expect(small).not.toBeNull();
    for (const p of pins) expect(p.pfns[0]! >= small && p.pfns[0]! < small + 512).toBe(false);
    for (const p of pins) p.release();
    expect(cmaAlloc(cma, 1024, 10)).not.toBeNull();
  });

  it("best-fit on a reusable 2010 region skips past the busy page to the next aligned position", () => {
    const { kernel, mm, rv } = board();
    const fill = fillCmaWithUserPages(mm, 6144);
    const per = onePerPageblock(fill, rv);
    expect(per.size).toBe(2);
    const pin0 = pinUserPages(fill.space, fill.vma.start + per.get(0)! * PAGE_SIZE, 1);
    const pin1 = pinUserPages(fill.space, fill.vma.start + per.get(1)! * PAGE_SIZE, 1);
    const rec = recordAll(kernel);
    expect(() => cmaAllocFrom(kernel, "rv", SZ_4M, SZ_4M)).toThrow(kerr("ENOMEM"));
    expect(rec.of("cma_alloc_busy_retry").map((d) => d.pfn)).toEqual([rv.basePfn, rv.basePfn + 1024]);
    expect(rv.free).toBe(rv.size);
    pin1.release();
    const a = cmaAllocFrom(kernel, "rv", SZ_4M, SZ_4M);
    expect(a).toBe(rv.base + SZ_4M); // the hole's start is busy: the next aligned position clear of it
    expect(fill.firstBadPage()).toBe(-1);
    cmaFree(kernel, a);
    pin0.release();
    expect(cmaAllocFrom(kernel, "rv", 8 * SZ_1M, 0)).toBe(rv.base);
    expect(fill.firstBadPage()).toBe(-1);
  });

  it("dma_alloc_from_contiguous over movable pages tags the pages with the device", () => {
    const { kernel, mm, cma } = board();
    const fill = fillCmaWithUserPages(mm, 6144);
    const dev = new Device(kernel, { name: "mfc" });
    devSetCmaArea(dev, cma);
    const pfn = dmaAllocFromContiguous(dev, 2048, 11)!; // order clamped to CONFIG_CMA_ALIGNMENT (8)
    expect(pfn % 256).toBe(0);
    expect(mm.frames.ownerOf(pfn)).toBe("cma:area:mfc");
    expect(fill.firstBadPage()).toBe(-1);
  });
});

describe("reusable regions registered with cmaRegionRegister", () => {
  it("before boot: activated by cmaInitReservedAreas; after boot: at once", () => {
    let early: CmaRegion | undefined;
    const { kernel, mm } = bootCma({
      size: 64 * SZ_1M,
      setup: (k, m) => {
        m.memblock.reserve(0x41000000, SZ_4M, "pool a");
        m.memblock.reserve(0x41800000, SZ_4M, "pool b");
        early = cmaRegionRegister(k, { name: "a", start: 0x41000000, size: SZ_4M, reusable: true });
      },
    });
    expect(early!.activated).toBe(true);
    expect(mm.frames.pageblockType(early!.basePfn)).toBe(MIGRATE_CMA);
    expect(() =>
      cmaRegionRegister(kernel, { name: "odd", start: 0x41800000, size: SZ_1M, reusable: true }),
    ).toThrow(kerr("EINVAL", /pageblocks/));
    const late = cmaRegionRegister(kernel, { name: "b", start: 0x41800000, size: SZ_4M, reusable: true });
    expect(late.activated).toBe(true);
    expect(mm.buddy.freePagesOfType(MIGRATE_CMA)).toBe(2048);
    expect(cmaAllocFrom(kernel, "b", SZ_1M, 0)).toBe(0x41800000);
    expect(() => cmaRegionUnregister(late)).toThrow(kerr("EINVAL"));
  });

  it("a reusable region cannot serve allocations before it is activated", () => {
    bootCma({
      setup: (k, m) => {
        m.memblock.reserve(0x41000000, SZ_4M, "pool");
        const r = cmaRegionRegister(k, { name: "a", start: 0x41000000, size: SZ_4M, reusable: true });
        expect(() => cmaAllocFromRegion(r, SZ_1M, 0)).toThrow(kerr("ENOMEM"));
      },
    });
  });
});
