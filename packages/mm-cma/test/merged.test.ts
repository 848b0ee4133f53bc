import { fc, test } from "@fast-check/vitest";
import { createKernel, KernelBug, PAGE_SIZE, SZ_1M, SZ_4M, SZ_8M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { MIGRATE_CMA, MIGRATE_MOVABLE, mmInit } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  type CmaRegion,
  cmaAlloc,
  cmaAreas,
  cmaDebugfs,
  cmaDebugfsAlloc,
  cmaDebugfsFree,
  cmaDebugfsRead,
  cmaDeclareContiguous,
  cmaGetBase,
  cmaGetName,
  cmaGetSize,
  cmaInit,
  cmaInitReservedAreas,
  cmaInitReservedMem,
  cmaPagesValid,
  cmaRelease,
  cmaSysfs,
} from "../src/index.js";
import { bootCma } from "../src/testing.js";
import { recordAll } from "./helpers.js";

const DRAM = 0x40000000;

/** A 64 MiB memblock-stage kernel (lowmem `lowmem` bytes). */
function early(opts: { lowmem?: number; maxAreas?: number; cmdline?: string } = {}) {
  const kernel = createKernel();
  const mm = mmInit(kernel, {
    banks: [{ start: DRAM, size: 64 * SZ_1M }],
    ...(opts.lowmem ? { lowmemSize: opts.lowmem } : {}),
  });
  cmaInit(kernel, { maxAreas: opts.maxAreas ?? 7, cmdline: opts.cmdline ?? "" });
  const reservedNow = () => mm.memblock.reserved.map((r) => [r.base, r.size]);
  return { kernel, mm, reservedNow };
}

describe("cma_declare_contiguous: checks in the kernel's order", () => {
  it("ENOSPC when the slots are full comes before everything else", () => {
    const { kernel } = early({ maxAreas: 1 });
    cmaDeclareContiguous(kernel, { size: SZ_4M });
    expect(() => cmaDeclareContiguous(kernel, { size: 0, alignment: 3 })).toThrow(kerr("ENOSPC"));
  });

  it("EINVAL for a zero size, then for a non-power-of-two alignment", () => {
    const { kernel, reservedNow } = early();
    expect(() => cmaDeclareContiguous(kernel, { size: 0, alignment: 3 })).toThrow(kerr("EINVAL", /size 0/));
    expect(() => cmaDeclareContiguous(kernel, { size: SZ_4M, alignment: 3 })).toThrow(
      kerr("EINVAL", /power of two/),
    );
    expect(reservedNow()).toEqual([]);
    expect(cmaAreas(kernel)).toHaveLength(0);
  });

  it("raises the alignment to 4 MiB; a fixed base off it is EINVAL", () => {
    const { kernel } = early();
    expect(() => cmaDeclareContiguous(kernel, { base: 0x41100000, size: SZ_4M, fixed: true })).toThrow(
      kerr("EINVAL", /must be aligned to 0x400000/),
    );
    expect(() =>
      cmaDeclareContiguous(kernel, { base: 0x41400000, size: SZ_4M, fixed: true, alignment: SZ_8M }),
    ).toThrow(kerr("EINVAL", /aligned to 0x800000/));
  });

  it("aligns base and size up and the limit down; base 0 is never fixed", () => {
    const { kernel, mm } = early();
    const a = cmaDeclareContiguous(kernel, { size: 5 * SZ_1M, fixed: true, name: "a" });
    expect(a.size).toBe(SZ_8M);
    expect(a.base % SZ_4M).toBe(0);
    const b = cmaDeclareContiguous(kernel, { base: 0x40100000, size: SZ_4M, limit: 0x41900000, name: "b" });
    expect(b.base).toBe(0x41400000); // highest fit below the limit aligned down to 0x41800000
    expect(mm.memblock.isReserved(b.base, b.size)).toBe(true);
  });

  it("EINVAL when the size in pages is not a multiple of 2^order_per_bit", () => {
    const { kernel } = early();
    expect(() => cmaDeclareContiguous(kernel, { size: SZ_4M, orderPerBit: 11 })).toThrow(
      kerr("EINVAL", /2\^11/),
    );
    expect(cmaDeclareContiguous(kernel, { size: SZ_4M, orderPerBit: 10 }).orderPerBit).toBe(10);
  });

  it("EINVAL when base + size exceeds the limit (0 or beyond memory: the end of memory)", () => {
    const { kernel } = early();
    expect(() => cmaDeclareContiguous(kernel, { base: 0x43c00000, size: SZ_8M })).toThrow(
      kerr("EINVAL", /exceeds limit \(0x44000000\)/),
    );
    expect(() => cmaDeclareContiguous(kernel, { base: DRAM, size: SZ_8M, limit: 0x40400000 })).toThrow(
      kerr("EINVAL", /exceeds limit/),
    );
    // below the limit but no RAM there: ENOMEM (step 6), not EINVAL
    expect(() => cmaDeclareContiguous(kernel, { size: SZ_8M, limit: 0x40400000 })).toThrow(kerr("ENOMEM"));
    expect(cmaDeclareContiguous(kernel, { size: SZ_8M, limit: 0x90000000 }).end).toBe(0x44000000);
  });

  it("fixed: EINVAL across the lowmem/highmem boundary, EBUSY over reserved memory", () => {
    const { kernel, mm, reservedNow } = early({ lowmem: 32 * SZ_1M });
    expect(() => cmaDeclareContiguous(kernel, { base: 0x41c00000, size: SZ_8M, fixed: true })).toThrow(
      kerr("EINVAL", /low\/high memory boundary/),
    );
    mm.memblock.reserve(0x41000000, SZ_1M, "firmware");
    const before = reservedNow();
    expect(() => cmaDeclareContiguous(kernel, { base: 0x41000000, size: SZ_4M, fixed: true })).toThrow(
      kerr("EBUSY"),
    );
    expect(reservedNow()).toEqual(before);
    const ok = cmaDeclareContiguous(kernel, { base: 0x41400000, size: SZ_4M, fixed: true, name: "fix" });
    expect(ok.base).toBe(0x41400000);
  });

  it("placed: highmem first, then below it; ENOMEM when nothing fits", () => {
    const { kernel, mm } = early({ lowmem: 32 * SZ_1M });
    const hi = cmaDeclareContiguous(kernel, { size: SZ_8M, name: "hi" });
    expect(hi.base).toBeGreaterThanOrEqual(0x42000000);
    const lo = cmaDeclareContiguous(kernel, { size: SZ_8M, limit: 0x42000000, name: "lo" });
    expect(lo.end).toBeLessThanOrEqual(0x42000000);
    // fill what is left so that no 4 MiB-aligned 4 MiB remains
    for (let p = DRAM; p < 0x44000000; p += SZ_4M) {
      if (!mm.memblock.isReserved(p + SZ_1M, PAGE_SIZE)) mm.memblock.reserve(p + SZ_1M, PAGE_SIZE, "hole");
    }
    expect(() => cmaDeclareContiguous(kernel, { size: SZ_4M })).toThrow(kerr("ENOMEM"));
    expect(cmaAreas(kernel)).toHaveLength(2);
  });
});

describe("cma_init_reserved_mem", () => {
  it("needs reserved, 4 MiB-aligned memory and a free slot; names unnamed areas cma<N>", () => {
    const { kernel, mm } = early({ maxAreas: 2 });
    expect(() => cmaInitReservedMem(kernel, 0x41000000, SZ_4M, 0, null)).toThrow(
      kerr("EINVAL", /not reserved/),
    );
    mm.memblock.reserve(0x41000000, 12 * SZ_1M, "pool");
    expect(() => cmaInitReservedMem(kernel, 0x41000000, 0, 0, null)).toThrow(kerr("EINVAL"));
    expect(() => cmaInitReservedMem(kernel, 0x41100000, SZ_4M, 0, null)).toThrow(kerr("EINVAL", /aligned/));
    expect(() => cmaInitReservedMem(kernel, 0x41000000, 6 * SZ_1M, 0, null)).toThrow(
      kerr("EINVAL", /aligned/),
    );
    const a = cmaInitReservedMem(kernel, 0x41000000, SZ_4M, 0, "named");
    expect(() => cmaInitReservedMem(kernel, 0x41000000, SZ_4M, 0, null)).toThrow(kerr("EADDRINUSE"));
    const b = cmaInitReservedMem(kernel, 0x41400000, SZ_4M, 0, null);
    expect([a.name, b.name]).toEqual(["named", "cma2"]);
    expect(() => cmaInitReservedMem(kernel, 0x41800000, SZ_4M, 0, null)).toThrow(kerr("ENOSPC"));
    mm.memblockFreeAll();
    cmaInitReservedAreas(kernel);
    expect(() => cmaInitReservedMem(kernel, 0x41800000, SZ_4M, 0, null)).toThrow(kerr("EBUSY"));
  });
});

describe("activation (cma_init_reserved_areas)", () => {
  it("hands the pages to the buddy allocator as MIGRATE_CMA; EINVAL before boot", () => {
    const { kernel, mm } = early();
    const a = cmaDeclareContiguous(kernel, { size: 16 * SZ_1M, name: "video" });
    expect(() => cmaInitReservedAreas(kernel)).toThrow(kerr("EINVAL"));
    mm.memblockFreeAll();
    expect(mm.buddy.isFree(a.basePfn)).toBe(false);
    cmaInitReservedAreas(kernel);
    cmaInitReservedAreas(kernel); // once only
    expect(a.activated && a.registered).toBe(true);
    expect(mm.buddy.freePagesOfType(MIGRATE_CMA)).toBe(4096);
    expect(mm.frames.pageblockType(a.basePfn)).toBe(MIGRATE_CMA);
    expect([cmaGetBase(a), cmaGetSize(a), cmaGetName(a)]).toEqual([a.base, 16 * SZ_1M, "video"]);
  });

  it("an area spanning two zones is not activated: released as ordinary memory, count 0", () => {
    const { kernel, mm } = early({ lowmem: 32 * SZ_1M });
    mm.memblock.reserve(0x41c00000, SZ_8M, "straddle");
    const a = cmaInitReservedMem(kernel, 0x41c00000, SZ_8M, 0, "straddle");
    const rec = recordAll(kernel);
    mm.memblockFreeAll();
    cmaInitReservedAreas(kernel);
    expect(a.activated).toBe(false);
    expect(a.count).toBe(0);
    expect(cmaGetSize(a)).toBe(0);
    expect(rec.of("cma_warn")[0]!.message).toMatch(/could not be activated/);
    expect(mm.frames.pageblockType(a.basePfn)).toBe(MIGRATE_MOVABLE);
    expect(mm.buddy.isFree(a.basePfn)).toBe(true);
    expect(cmaAlloc(a, 1, 0)).toBeNull();
  });
});

function area(opts: { base?: number; size?: number; orderPerBit?: number } = {}) {
  let cma: CmaRegion | undefined;
  const { kernel, mm } = bootCma({
    size: 64 * SZ_1M,
    setup: (k) => {
      cma = cmaDeclareContiguous(k, {
        base: opts.base ?? 0x41400000,
        size: opts.size ?? 16 * SZ_1M,
        fixed: true,
        orderPerBit: opts.orderPerBit ?? 0,
        name: "area",
      });
    },
  });
  return { kernel, mm, cma: cma! };
}

describe("cma_alloc (merged)", () => {
  it("first fit in pages; aligned in absolute pfn space when the base is not aligned to the order", () => {
    const { cma } = area(); // base pfn 0x41400: aligned to 2^10, not to 2^11
    const a = cmaAlloc(cma, 1, 0)!;
    expect(a).toBe(0x41400);
    const b = cmaAlloc(cma, 2048, 11)!;
    expect(b % 2048).toBe(0);
    expect(b).toBe(0x41800); // bitmap index 0x400, not 0x800 (which relative alignment would give)
    const c = cmaAlloc(cma, 1, 9)!;
    expect(c).toBe(0x41600);
    expect(cmaAlloc(cma, 1, 0)).toBe(0x41401);
  });

  it("count 0 returns null with a start event and no accounting", () => {
    const { kernel, cma } = area();
    const rec = recordAll(kernel);
    expect(cmaAlloc(cma, 0, 0)).toBeNull();
    expect(rec.of("cma_alloc_start")).toEqual([{ name: "area", count: 0, align: 0 }]);
    expect(rec.of("cma_alloc_finish")).toEqual([]);
    expect(cmaSysfs(cma)).toMatchObject({ alloc_pages_success: 0, alloc_pages_fail: 0 });
  });

  it("failure returns null, counts failed pages and warns unless noWarn", () => {
    const { kernel, cma } = area();
    const rec = recordAll(kernel);
    expect(cmaAlloc(cma, 4097, 0)).toBeNull();
    expect(cmaAlloc(cma, 4097, 0, true)).toBeNull();
    expect(rec.of("cma_warn")).toHaveLength(1);
    expect(rec.of("cma_warn")[0]!.message).toMatch(
      /alloc failed, req-size: 4097 pages, ret: -ENOMEM; number of available pages: 4096@0x41400=> 4096 free of 4096 total pages/,
    );
    expect(rec.of("cma_alloc_finish")[0]).toMatchObject({ pfn: 0, count: 4097, errorno: -12 });
    expect(cmaSysfs(cma)).toEqual({
      alloc_pages_success: 0,
      alloc_pages_fail: 8194,
      release_pages_success: 0,
      total_pages: 4096,
      available_pages: 4096,
    });
    expect(() => cmaAlloc(cma, -1, 0)).toThrow(kerr("EINVAL"));
    expect(() => cmaAlloc(cma, 1, 1.5)).toThrow(kerr("EINVAL"));
  });

  it("order_per_bit rounds the bitmap granularity but counts the pages asked for", () => {
    const { cma } = area({ orderPerBit: 2 });
    const a = cmaAlloc(cma, 3, 0)!;
    const b = cmaAlloc(cma, 1, 0)!;
    expect(b - a).toBe(4);
    expect(cma.availableCount).toBe(4092);
    const d = cmaDebugfs(cma);
    expect(d).toMatchObject({ order_per_bit: 2, used: 4, count: 4096, maxchunk: 4088 });
    expect(d.bitmap[0]).toBe(0b11);
    expect(d.bitmap).toHaveLength(32); // 1024 bits
    const c = cmaAlloc(cma, 4, 3)!; // 8-page aligned: bit 2 → pfn +8
    expect(c % 8).toBe(0);
    expect(c - a).toBe(8);
  });

  it("the pages of a chunk are taken from the buddy allocator and tagged; release returns them", () => {
    const { kernel, mm, cma } = area();
    const rec = recordAll(kernel);
    const pfn = cmaAlloc(cma, 256, 8)!;
    expect(mm.buddy.isFree(pfn)).toBe(false);
    expect(mm.frames.ownerOf(pfn + 255)).toBe("cma:area");
    expect(cmaRelease(cma, pfn, 256)).toBe(true);
    expect(mm.buddy.isFree(pfn)).toBe(true);
    expect(mm.buddy.freePagesOfType(MIGRATE_CMA)).toBe(4096);
    expect(rec.of("cma_alloc_finish")).toEqual([{ name: "area", pfn, count: 256, align: 8, errorno: 0 }]);
    expect(rec.of("cma_release")).toEqual([{ name: "area", pfn, count: 256 }]);
    expect(cmaSysfs(cma)).toMatchObject({ alloc_pages_success: 256, release_pages_success: 256 });
  });
});

describe("cma_release and cma_pages_valid", () => {
  it("cma_pages_valid: inside the area, not crossing its end, count ≤ area count", () => {
    const { cma } = area();
    const end = cma.basePfn + cma.count;
    expect(cmaPagesValid(cma, cma.basePfn, 1)).toBe(true);
    expect(cmaPagesValid(cma, end - 1, 1)).toBe(true);
    expect(cmaPagesValid(cma, end - 1, 2)).toBe(false);
    expect(cmaPagesValid(cma, cma.basePfn - 1, 1)).toBe(false);
    expect(cmaPagesValid(cma, cma.basePfn, cma.count + 1)).toBe(false);
    expect(cmaPagesValid(null, cma.basePfn, 1)).toBe(false);
  });

  // found by tools/fuzz's bad-input catalogue: a negative count made an empty range that
  // cma_release reported as released
  it("cma_pages_valid and cma_release refuse a negative or fractional count or pfn, changing nothing", () => {
    const { cma } = area();
    const pfn = cmaAlloc(cma, 4, 0)!;
    for (const [p, n] of [
      [pfn, -1],
      [pfn, 1.5],
      [pfn + 0.5, 1],
    ] as const) {
      expect(cmaPagesValid(cma, p, n)).toBe(false);
      expect(cmaRelease(cma, p, n)).toBe(false);
    }
    expect(cma.availableCount).toBe(cma.count - 4);
    expect(cmaRelease(cma, pfn, 4)).toBe(true);
  });

  it("false for pages outside the area; a double release is a KernelBug", () => {
    const { cma } = area();
    const pfn = cmaAlloc(cma, 16, 0)!;
    expect(cmaRelease(cma, 0x40000, 16)).toBe(false);
    expect(cmaRelease(cma, pfn, 16)).toBe(true);
    expect(() => cmaRelease(cma, pfn, 16)).toThrow(KernelBug);
    expect(cmaRelease(cma, pfn, 0)).toBe(true);
  });

  it("with order_per_bit 0 part of an allocation can be released; the rest stays", () => {
    const { mm, cma } = area();
    const pfn = cmaAlloc(cma, 16, 0)!;
    expect(cmaRelease(cma, pfn + 4, 8)).toBe(true);
    expect(cma.chunks().map((c) => [c.start / PAGE_SIZE - pfn, c.size / PAGE_SIZE])).toEqual([
      [0, 4],
      [12, 4],
    ]);
    expect(mm.buddy.isFree(pfn + 4)).toBe(true);
    expect(mm.buddy.isFree(pfn + 3)).toBe(false);
    expect(cmaAlloc(cma, 8, 0)).toBe(pfn + 4);
  });

  it("with order_per_bit > 0 a partial release is refused (false, nothing changes)", () => {
    const { cma } = area({ orderPerBit: 1 });
    const pfn = cmaAlloc(cma, 8, 0)!;
    expect(cmaRelease(cma, pfn, 4)).toBe(false);
    expect(cma.availableCount).toBe(4088);
    expect(cmaRelease(cma, pfn, 8)).toBe(true);
  });
});

describe("debugfs", () => {
  it("count, used, maxchunk, order_per_bit, bitmap as text", () => {
    const { cma } = area();
    cmaAlloc(cma, 33, 0);
    expect(cmaDebugfsRead(cma, "count")).toBe("4096\n");
    expect(cmaDebugfsRead(cma, "used")).toBe("33\n");
    expect(cmaDebugfsRead(cma, "maxchunk")).toBe(`${4096 - 33}\n`);
    expect(cmaDebugfsRead(cma, "order_per_bit")).toBe("0\n");
    expect(cmaDebugfsRead(cma, "base_pfn")).toBe(`${0x41400}\n`);
    expect(cmaDebugfsRead(cma, "bitmap").split(" ").slice(0, 3)).toEqual(["4294967295", "1", "0"]);
    expect(() => cmaDebugfsRead(cma, "nope")).toThrow(kerr("ENOENT"));
  });

  it("alloc pushes, free pops last first and splits an entry only with order_per_bit 0", () => {
    const { cma } = area();
    cmaDebugfsAlloc(cma, 10);
    cmaDebugfsAlloc(cma, 20);
    expect(cma.availableCount).toBe(4066);
    cmaDebugfsFree(cma, 25); // all of the 20, then 5 of the 10
    expect(cma.availableCount).toBe(4091);
    cmaDebugfsFree(cma, 100); // the last 5; the list runs dry
    expect(cma.availableCount).toBe(4096);
    expect(() => cmaDebugfsAlloc(cma, 5000)).toThrow(kerr("ENOMEM"));

    const o = area({ orderPerBit: 1 }).cma;
    const rec = recordAll(o.kernel);
    cmaDebugfsAlloc(o, 8);
    cmaDebugfsFree(o, 3);
    expect(o.availableCount).toBe(4088);
    expect(rec.of("cma_warn")[0]!.message).toMatch(/cannot release partial block/);
  });
});

describe("bitmap placement property", () => {
  test.prop(
    [
      fc.integer({ min: 0, max: 6 }), // base offset in 4 MiB steps
      fc.integer({ min: 0, max: 2 }), // order_per_bit
      fc.array(
        fc.tuple(fc.integer({ min: 1, max: 700 }), fc.integer({ min: 0, max: 12 }), fc.boolean(), fc.nat()),
        {
          maxLength: 60,
        },
      ),
    ],
    { numRuns: 25 },
  )(
    "results are aligned in absolute pfn space, inside the area, disjoint; accounting holds",
    (off, opb, ops) => {
      const { cma } = area({ base: 0x40400000 + off * SZ_4M, size: 16 * SZ_1M, orderPerBit: opb });
      const live: [number, number][] = [];
      for (const [count, align, alloc, pick] of ops) {
        if (!alloc && live.length) {
          const [p, n] = live.splice(pick % live.length, 1)[0]!;
          expect(cmaRelease(cma, p, n)).toBe(true);
          continue;
        }
        const p = cmaAlloc(cma, count, align, true);
        if (p === null) continue;
        expect(p % 2 ** align).toBe(0);
        expect(p >= cma.basePfn && p + count <= cma.basePfn + cma.count).toBe(true);
        for (const [q, m] of live) expect(p + count <= q || q + m <= p).toBe(true);
        live.push([p, count]);
        expect(cma.availableCount).toBe(cma.count - live.reduce((s, [, m]) => s + m, 0));
      }
    },
  );
});
