import { createKernel, Device, PAGE_SIZE, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { mmInit } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  type CmaAllocator,
  cmaAlloc,
  cmaAllocatorRegister,
  cmaAllocators,
  cmaAllocFrom,
  cmaAllocFromRegion,
  cmaDeclareContiguous,
  cmaEarlyRegionRegister,
  cmaEarlyRegionReserve,
  cmaEarlyRegions,
  cmaEarlyRegionsReserve,
  cmaFree,
  cmaGetMap,
  cmaInfo,
  cmaInfoAbout,
  cmaInit,
  cmaInitReservedAreas,
  cmaRegionFind,
  cmaRegionRegister,
  cmaRegions,
  cmaRegionUnregister,
  cmaSetDefaults,
  cmaSetMap,
  cmaSysfsRead,
  cmaSysfsWrite,
} from "../src/index.js";
import { bootCma, expectRegionConsistent } from "../src/testing.js";
import { board2010, recordAll } from "./helpers.js";

/** Two named regions and a private one over carve-outs. */
function setup(map: string | null = "fimc*=video,common;mfc/bitstream=common;*=common") {
  const { kernel, mm } = board2010([
    [0x42000000, 8 * SZ_1M, "video carve-out"],
    [0x42800000, 4 * SZ_1M, "common carve-out"],
    [0x43000000, 2 * SZ_1M, "private carve-out"],
  ]);
  const video = cmaRegionRegister(kernel, { name: "video", start: 0x42000000, size: 8 * SZ_1M });
  const common = cmaRegionRegister(kernel, { name: "common", start: 0x42800000, size: 4 * SZ_1M });
  const priv = cmaRegionRegister(kernel, { start: 0x43000000, size: 2 * SZ_1M });
  if (map) cmaSetMap(kernel, map);
  const fimc = new Device(kernel, { name: "fimc0" });
  const mfc = new Device(kernel, { name: "mfc" });
  const snap = () => [video, common, priv].map((r) => [r.free, r.users]);
  return { kernel, mm, video, common, priv, fimc, mfc, snap };
}

describe("cma_alloc (2010): errors in the kernel's order, and nothing changes on error", () => {
  it("EINVAL for a null device before anything else, then for size 0, then for a bad alignment", () => {
    const { fimc, snap, kernel } = setup(null);
    const before = snap();
    expect(() => cmaAlloc(null, null, 0, 3)).toThrow(kerr("EINVAL", /dev is NULL/));
    expect(() => cmaAlloc(fimc, null, 0, 3)).toThrow(kerr("EINVAL", /size 0/));
    expect(() => cmaAlloc(fimc, null, SZ_4K, 3)).toThrow(kerr("EINVAL", /alignment 3/));
    expect(() => cmaAlloc(fimc, null, SZ_4K, 0)).toThrow(kerr("ENOENT", /no CMA map/));
    cmaSetMap(kernel, "mfc=common");
    expect(() => cmaAlloc(fimc, null, SZ_4K, 0)).toThrow(kerr("ENOENT", /no rule .* fimc0, type "common"/));
    expect(snap()).toEqual(before);
  });

  it("ENOMEM when every listed region failed", () => {
    const { fimc, snap } = setup();
    const before = snap();
    expect(() => cmaAlloc(fimc, null, 13 * SZ_1M, 0)).toThrow(kerr("ENOMEM", /video,common/));
    expect(snap()).toEqual(before);
  });

  it("rounds the size up to a page and the alignment up to a page; 0 alignment is allowed", () => {
    const { fimc, video, mm } = setup();
    const a = cmaAlloc(fimc, null, 5000, 0);
    expect(a % PAGE_SIZE).toBe(0);
    expect(video.chunks()[0]!.size).toBe(2 * PAGE_SIZE);
    expect(video.free).toBe(8 * SZ_1M - 2 * PAGE_SIZE);
    const b = cmaAlloc(fimc, "preview", SZ_4K, SZ_1M);
    expect(b % SZ_1M).toBe(0);
    expect(mm.frames.ownerOf(b / PAGE_SIZE)).toBe("cma:video:fimc0/preview");
    expect(mm.frames.ownerOf(a / PAGE_SIZE + 1)).toBe("cma:video:fimc0");
  });

  it("types choose the rule; null is 'common'; fallback goes left to right", () => {
    const { mfc, fimc, video, common } = setup("mfc/bitstream=common;mfc=video;fimc*=video,common");
    const x = cmaAlloc(mfc, "bitstream", SZ_64K, 0);
    expect(x >= common.base && x < common.end).toBe(true);
    const y = cmaAlloc(mfc, null, SZ_64K, 0);
    expect(y >= video.base && y < video.end).toBe(true);
    const big = cmaAlloc(fimc, null, 7 * SZ_1M, 0); // video
    expect(big >= video.base).toBe(true);
    const next = cmaAlloc(fimc, null, 2 * SZ_1M, 0); // video is short: common
    expect(next >= common.base && next < common.end).toBe(true);
  });

  it("tags pages with the owner and gives them back to the region on free", () => {
    const { kernel, fimc, mm } = setup();
    const a = cmaAlloc(fimc, null, SZ_64K, 0);
    expect(mm.frames.ownerOf(a / PAGE_SIZE + 15)).toBe("cma:video:fimc0");
    cmaFree(kernel, a);
    expect(mm.frames.ownerOf(a / PAGE_SIZE)).toBe("video carve-out");
    expect(mm.buddy.isFree(a / PAGE_SIZE)).toBe(false); // a non-reusable region never touches the buddy allocator
  });

  it("emits cma_alloc_start/finish and cma_release", () => {
    const { kernel, fimc } = setup();
    const rec = recordAll(kernel);
    const a = cmaAlloc(fimc, null, SZ_1M, SZ_1M);
    cmaFree(kernel, a);
    expect(rec.of("cma_alloc_start")).toEqual([{ name: "video", count: 256, align: 8 }]);
    expect(rec.of("cma_alloc_finish")).toEqual([
      { name: "video", pfn: a / PAGE_SIZE, count: 256, align: 8, errorno: 0 },
    ]);
    expect(rec.of("cma_release")).toEqual([{ name: "video", pfn: a / PAGE_SIZE, count: 256 }]);
  });
});

describe("cma_free", () => {
  it("ENOENT unless the address is the exact start of a chunk; nothing changes", () => {
    const { kernel, fimc, snap } = setup();
    const rec = recordAll(kernel);
    const a = cmaAlloc(fimc, null, SZ_64K, 0);
    const before = snap();
    expect(() => cmaFree(kernel, a + SZ_4K)).toThrow(kerr("ENOENT", /not the start of a chunk/));
    expect(() => cmaFree(kernel, 0x1234)).toThrow(kerr("ENOENT"));
    expect(snap()).toEqual(before);
    expect(rec.of("cma_warn")).toHaveLength(2);
    cmaFree(kernel, a);
    expect(() => cmaFree(kernel, a)).toThrow(kerr("ENOENT"));
  });
});

describe("cma_info, cma_alloc_from, cma_info_about", () => {
  it("aggregates the regions of the matching rule, skipping unknown names", () => {
    const { fimc, video, common } = setup("fimc*=video,ghost,common");
    cmaAlloc(fimc, null, SZ_1M, 0);
    expect(cmaInfo(fimc)).toEqual({
      lowerBound: video.base,
      upperBound: common.end,
      totalSize: 12 * SZ_1M,
      freeSize: 11 * SZ_1M,
      count: 2,
    });
    expect(() => cmaInfo(null)).toThrow(kerr("EINVAL"));
  });

  it("cmaInfo fails like cmaAlloc without a map or a matching rule", () => {
    const { kernel, fimc } = setup(null);
    expect(() => cmaInfo(fimc)).toThrow(kerr("ENOENT"));
    cmaSetMap(kernel, "x=video");
    expect(() => cmaInfo(fimc, "foo")).toThrow(kerr("ENOENT"));
  });

  it("cma_alloc_from takes a region list ended by the end or ';'", () => {
    const { kernel, common, video } = setup(null);
    const a = cmaAllocFrom(kernel, "ghost,common;video", SZ_1M, 0);
    expect(a >= common.base && a < common.end).toBe(true);
    expect(() => cmaAllocFrom(kernel, "common;video", 4 * SZ_1M, 0)).toThrow(kerr("ENOMEM"));
    expect(() => cmaAllocFrom(kernel, "video", 0, 0)).toThrow(kerr("EINVAL"));
    expect(() => cmaAllocFrom(kernel, "video", SZ_4K, 12345)).toThrow(kerr("EINVAL"));
    expect(cmaInfoAbout(kernel, "video,common;private").count).toBe(2);
    expect(cmaInfoAbout(kernel, "video").freeSize).toBe(video.size);
    expect(cmaInfoAbout(kernel, "nothing")).toEqual({
      lowerBound: 0,
      upperBound: 0,
      totalSize: 0,
      freeSize: 0,
      count: 0,
    });
  });
});

describe("private regions", () => {
  it("are reachable only through cma_alloc_from_region", () => {
    const { kernel, priv, fimc } = setup("*=video");
    expect(priv.name).toBeNull();
    expect(cmaRegions(kernel).at(-1)).toBe(priv); // named first, private last
    expect(cmaInfoAbout(kernel, "(private)").count).toBe(0);
    const a = cmaAllocFromRegion(priv, SZ_1M, SZ_1M);
    expect(a).toBe(priv.base);
    expect(() => cmaAllocFromRegion(priv, 2 * SZ_1M, 0)).toThrow(kerr("ENOMEM"));
    expect(() => cmaAllocFromRegion(priv, 0, 0)).toThrow(kerr("EINVAL"));
    const x = cmaAlloc(fimc, null, SZ_1M, 0);
    expect(x < priv.base).toBe(true);
    cmaFree(kernel, a);
    cmaRegionUnregister(priv);
    expect(() => cmaAllocFromRegion(priv, SZ_4K, 0)).toThrow(kerr("EINVAL", /not registered/));
  });
});

describe("cma_region_register / unregister", () => {
  it("refuses a zero size, overflow, unaligned or unreserved memory with EINVAL and overlap with EADDRINUSE", () => {
    const { kernel } = setup();
    const n = cmaRegions(kernel).length;
    expect(() => cmaRegionRegister(kernel, { name: "z", start: 0x43400000, size: 0 })).toThrow(
      kerr("EINVAL"),
    );
    expect(() => cmaRegionRegister(kernel, { name: "o", start: 0xfff00000, size: 2 * SZ_1M })).toThrow(
      kerr("EINVAL", /overflows/),
    );
    expect(() => cmaRegionRegister(kernel, { name: "u", start: 0x42000800, size: SZ_4K })).toThrow(
      kerr("EINVAL"),
    );
    expect(() => cmaRegionRegister(kernel, { name: "u", start: 0x43400800, size: SZ_4K })).toThrow(
      kerr("EINVAL", /page-aligned/),
    );
    expect(() => cmaRegionRegister(kernel, { name: "ov", start: 0x42700000, size: 2 * SZ_1M })).toThrow(
      kerr("EADDRINUSE", /overlaps (video|common)/),
    );
    expect(() => cmaRegionRegister(kernel, { name: "buddy", start: 0x43400000, size: SZ_1M })).toThrow(
      kerr("EINVAL", /not reserved memory/),
    );
    expect(cmaRegions(kernel)).toHaveLength(n);
  });

  it("a preset allocator must accept the region, else nothing is registered", () => {
    const { kernel, mm } = board2010([[0x43000000, SZ_1M, "c"]]);
    const picky: CmaAllocator = {
      name: "picky",
      init: () => {
        throw new (class extends Error {})("no");
      },
      alloc: () => null,
      free: () => {},
    };
    expect(() =>
      cmaRegionRegister(kernel, { name: "p", start: 0x43000000, size: SZ_1M, alloc: picky }),
    ).toThrow("no");
    expect(cmaRegions(kernel)).toHaveLength(0);
    expect(mm.booted).toBe(true);
  });

  it("unregister: EBUSY while chunks exist; EINVAL when not registered or a CMA area", () => {
    const { kernel, video, fimc } = setup();
    const a = cmaAlloc(fimc, null, SZ_1M, 0);
    expect(() => cmaRegionUnregister(video)).toThrow(kerr("EBUSY", /1 chunk/));
    expect(video.registered).toBe(true);
    cmaFree(kernel, a);
    cmaRegionUnregister(video);
    expect(cmaRegionFind(kernel, "video")).toBeNull();
    expect(() => cmaRegionUnregister(video)).toThrow(kerr("EINVAL"));
    // its memory can be registered again as a new region
    const again = cmaRegionRegister(kernel, { name: "video2", start: 0x42000000, size: 8 * SZ_1M });
    expect(cmaAllocFromRegion(again, SZ_1M, 0)).toBe(0x42000000);

    const b = bootCma({ setup: (k) => cmaDeclareContiguous(k, { size: 8 * SZ_1M, name: "area" }) });
    expect(() => cmaRegionUnregister(cmaRegionFind(b.kernel, "area")!)).toThrow(
      kerr("EINVAL", /never removed/),
    );
  });
});

describe("cma_allocator_register", () => {
  const stub = (name?: string): CmaAllocator => ({
    ...(name ? { name } : {}),
    alloc: (region, size) => (region.free >= size ? { start: region.end - region.free, size } : null),
    free: () => {},
  });

  it("EINVAL without alloc or free; EEXIST twice", () => {
    const { kernel } = setup();
    expect(() => cmaAllocatorRegister(kernel, { name: "x" } as unknown as CmaAllocator)).toThrow(
      kerr("EINVAL"),
    );
    expect(() =>
      cmaAllocatorRegister(kernel, { name: "x", alloc: () => null } as unknown as CmaAllocator),
    ).toThrow(kerr("EINVAL"));
    const a = stub("x");
    cmaAllocatorRegister(kernel, a);
    expect(() => cmaAllocatorRegister(kernel, a)).toThrow(kerr("EEXIST"));
    expect(() => cmaAllocatorRegister(kernel, stub("x"))).toThrow(kerr("EEXIST"));
    expect(cmaAllocators(kernel)).toEqual(["bf", "bitmap", "x"]);
    cmaAllocatorRegister(kernel, stub());
    expect(cmaSysfsRead(kernel, "allocators")).toBe("bf bitmap x -\n");
  });

  it("the first registered allocator is the default", () => {
    const kernel = createKernel();
    const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 32 * SZ_1M }] });
    cmaInit(kernel, { builtinAllocators: false });
    mm.memblock.reserve(0x41000000, 4 * SZ_1M, "c");
    mm.memblockFreeAll();
    cmaInitReservedAreas(kernel);
    const r = cmaRegionRegister(kernel, { name: "r", start: 0x41000000, size: 4 * SZ_1M });
    // no allocator at all: the allocation fails
    expect(() => cmaAllocFromRegion(r, SZ_4K, 0)).toThrow(kerr("ENOMEM"));
    const mine = stub("mine");
    cmaAllocatorRegister(kernel, mine);
    cmaAllocatorRegister(kernel, stub("second"));
    expect(cmaAllocFromRegion(r, SZ_4K, 0)).toBe(0x41000000);
    expect(r.allocator).toBe(mine);
  });

  it("attaches lazily at the first allocation, or when the allocator a region names arrives", () => {
    const { kernel, mm } = board2010([[0x43000000, 2 * SZ_1M, "c"]]);
    expect(mm.booted).toBe(true);
    const r = cmaRegionRegister(kernel, {
      name: "later",
      start: 0x43000000,
      size: SZ_1M,
      allocName: "later-fit",
    });
    const d = cmaRegionRegister(kernel, { name: "dflt", start: 0x43100000, size: SZ_1M });
    expect(r.allocator).toBeNull();
    expect(() => cmaAllocFromRegion(r, SZ_4K, 0)).toThrow(kerr("ENOMEM"));
    expect(cmaSysfsRead(kernel, "regions/later/alloc")).toBe("[later-fit]\n");
    const later = stub("later-fit");
    cmaAllocatorRegister(kernel, later);
    expect(r.allocator).toBe(later);
    expect(d.allocator).toBeNull(); // wants the default, which is not the newcomer
    expect(cmaSysfsRead(kernel, "regions/dflt/alloc")).toBe("");
    cmaAllocFromRegion(d, SZ_4K, 0);
    expect(cmaSysfsRead(kernel, "regions/dflt/alloc")).toBe("bf\n");
  });
});

describe("2010 sysfs", () => {
  it("shows each region's name, start, size, free, users and allocator", () => {
    const { kernel, fimc, priv } = setup();
    cmaAlloc(fimc, null, SZ_1M, 0);
    expect(cmaSysfsRead(kernel, "regions/video/name")).toBe("video\n");
    expect(cmaSysfsRead(kernel, "regions/42000000/start")).toBe("42000000\n");
    expect(cmaSysfsRead(kernel, "regions/video/size")).toBe(`${8 * SZ_1M}\n`);
    expect(cmaSysfsRead(kernel, "regions/video/free")).toBe(`${7 * SZ_1M}\n`);
    expect(cmaSysfsRead(kernel, "regions/video/users")).toBe("1\n");
    expect(cmaSysfsRead(kernel, "regions/video/alloc")).toBe("bf\n");
    expect(cmaSysfsRead(kernel, "regions/43000000/name")).toBe("");
    expect(priv.name).toBeNull();
    expect(cmaSysfsRead(kernel, "regions")).toContain("video\n");
    expect(cmaSysfsRead(kernel, "regions/video")).toBe("name\nstart\nsize\nfree\nusers\nalloc\n");
    expect(() => cmaSysfsRead(kernel, "regions/nope/size")).toThrow(kerr("ENOENT"));
    expect(() => cmaSysfsRead(kernel, "bogus")).toThrow(kerr("ENOENT"));
    expect(() => cmaSysfsWrite(kernel, "regions/video/size", "1")).toThrow(kerr("EACCES"));
    expect(() => cmaSysfsWrite(kernel, "allocators", "x")).toThrow(kerr("EACCES"));
  });

  it("writing alloc: EBUSY while the allocator holds chunks; otherwise detach and attach at next use", () => {
    const { kernel, fimc, video } = setup();
    const a = cmaAlloc(fimc, null, SZ_1M, 0);
    expect(() => cmaSysfsWrite(kernel, "regions/video/alloc", "bitmap\n")).toThrow(kerr("EBUSY"));
    expect(video.allocator?.name).toBe("bf");
    cmaFree(kernel, a);
    cmaSysfsWrite(kernel, "regions/video/alloc", "bitmap\n");
    expect(video.allocator).toBeNull();
    expect(cmaSysfsRead(kernel, "regions/video/alloc")).toBe("[bitmap]\n");
    cmaAlloc(fimc, null, SZ_1M, 0);
    expect(video.allocator?.name).toBe("bitmap");
    expectRegionConsistent(video);
  });
});

describe("cma_set_defaults and early regions", () => {
  const fresh = (cmdline = "") => {
    const kernel = createKernel();
    const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
    cmaInit(kernel, { cmdline });
    return { kernel, mm };
  };

  it("platform regions and map are used when the command line has none", () => {
    const { kernel, mm } = fresh();
    const made = cmaSetDefaults(
      kernel,
      [
        { name: "v", size: 20 * SZ_1M },
        { name: "c", size: 5 * SZ_1M, start: 0x41000000 },
      ],
      "video=v;camera=c;*=common",
    );
    expect(made).toHaveLength(2);
    expect(cmaGetMap(kernel)).toBe("video=v;camera=c;*=common");
    expect(cmaEarlyRegionsReserve(kernel)).toHaveLength(2);
    mm.memblockFreeAll();
    cmaInitReservedAreas(kernel);
    expect(cmaEarlyRegions(kernel)).toHaveLength(0);
    expect(cmaRegionFind(kernel, "c")!.base).toBe(0x41000000);
    expect(cmaRegionFind(kernel, "v")!.size).toBe(20 * SZ_1M);
    expect(mm.frames.ownerOf(0x41000000 / PAGE_SIZE)).toBe("cma:c");
    const cam = new Device(kernel, { name: "camera" });
    expect(cmaAlloc(cam, null, SZ_1M, 0)).toBe(0x41000000);
  });

  it("the command line wins over the platform defaults", () => {
    const { kernel } = fresh("cma=cmd=4M cma.map=*=cmd");
    expect(cmaSetDefaults(kernel, [{ name: "v", size: SZ_1M }], "video=v")).toEqual([]);
    expect(cmaGetMap(kernel)).toBe("*=cmd");
    expect(cmaEarlyRegions(kernel).map((r) => r.name)).toEqual(["cmd"]);
  });

  it("validates everything first: a bad map or region queues nothing", () => {
    const { kernel } = fresh();
    expect(() => cmaSetDefaults(kernel, [{ name: "v", size: SZ_1M }], "oops")).toThrow(kerr("EINVAL"));
    expect(() =>
      cmaSetDefaults(kernel, [
        { name: "v", size: SZ_1M },
        { name: "w", size: SZ_1M, alignment: 3 },
      ]),
    ).toThrow(kerr("EINVAL", /alignment 3/));
    expect(cmaEarlyRegions(kernel)).toHaveLength(0);
    expect(cmaGetMap(kernel)).toBe("");
  });

  it("early register rounds and aligns; reserve fails cleanly; failures at boot are only warned", () => {
    const { kernel, mm } = fresh();
    const rec = recordAll(kernel);
    const a = cmaEarlyRegionRegister(kernel, { name: "a", size: 5000, start: 0x41001000, alignment: SZ_64K });
    expect([a.base, a.size, a.alignment]).toEqual([0x41010000, 2 * SZ_4K, SZ_64K]);
    expect(() => cmaEarlyRegionRegister(kernel, { name: "b", size: SZ_1M, alignment: 6000 })).toThrow(
      kerr("EINVAL"),
    );
    mm.memblock.reserve(0x42000000, SZ_1M, "firmware");
    const clash = cmaEarlyRegionRegister(kernel, { name: "clash", size: SZ_1M, start: 0x42000000 });
    expect(() => cmaEarlyRegionReserve(clash)).toThrow(kerr("ENOMEM", /already reserved/));
    const huge = cmaEarlyRegionRegister(kernel, { name: "huge", size: 128 * SZ_1M });
    expect(() => cmaEarlyRegionReserve(huge)).toThrow(kerr("ENOMEM"));
    cmaEarlyRegionReserve(a);
    expect(() => cmaEarlyRegionReserve(a)).toThrow(kerr("EINVAL", /already reserved/));
    const reserved = cmaEarlyRegionsReserve(kernel);
    expect(reserved.map((r) => r.name)).toEqual(["a"]);
    expect(rec.of("cma_warn").map((w) => w.message)).toEqual([
      expect.stringContaining("clash"),
      expect.stringContaining("huge"),
    ]);
    mm.memblockFreeAll();
    cmaInitReservedAreas(kernel);
    expect(cmaRegions(kernel).map((r) => r.name)).toEqual(["a"]);
    expect(() => cmaEarlyRegionRegister(kernel, { name: "late", size: SZ_1M })).toThrow(kerr("EBUSY"));
    expect(() => cmaSetDefaults(kernel, null, "*=a")).toThrow(kerr("EBUSY"));
  });

  it("a private early region with its own allocator", () => {
    const { kernel, mm } = fresh();
    const r = cmaEarlyRegionRegister(kernel, { size: 2 * SZ_1M, allocName: "bitmap" });
    cmaEarlyRegionsReserve(kernel);
    mm.memblockFreeAll();
    cmaInitReservedAreas(kernel);
    expect(r.registered).toBe(true);
    expect(cmaAllocFromRegion(r, SZ_4K, 0)).toBe(r.base);
    expect(r.allocator?.name).toBe("bitmap");
    expect(mm.frames.ownerOf(r.basePfn)).toBe("cma:(private)");
  });
});
