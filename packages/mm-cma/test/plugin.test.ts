import { alignDown, Device, SZ_1M, SZ_4K, SZ_4M } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import {
  bestFitAllocator,
  bitmapAllocator,
  type CmaAllocator,
  type CmaExtent,
  type CmaRegion,
  cmaAlloc,
  cmaAllocatorRegister,
  cmaDeclareContiguous,
  cmaRegionRegister,
  cmaRelease,
  cmaSetMap,
  cmaSysfsWrite,
} from "../src/index.js";
import { bootCma, describeCmaAllocator } from "../src/testing.js";
import { board2010 } from "./helpers.js";

/**
 * A third allocator, written here and plugged in without touching the package: "last fit" places
 * each chunk as high as it can go (a top-down first fit over a sorted list of used extents).
 */
const lastFit: CmaAllocator = {
  name: "lastfit",
  init(region: CmaRegion) {
    region.priv = [] as CmaExtent[];
  },
  cleanup(region: CmaRegion) {
    region.priv = null;
  },
  alloc(region, size, alignment, ctx) {
    const used = region.priv as CmaExtent[];
    let top = region.end;
    for (let i = used.length; i >= 0; i--) {
      const below = i > 0 ? used[i - 1]!.start + used[i - 1]!.size : region.base;
      for (let pos = alignDown(top - size, alignment); pos >= below; pos -= alignment) {
        if (!ctx.overlapsBusy(pos, size)) {
          used.splice(i, 0, { start: pos, size });
          return { start: pos, size };
        }
      }
      if (i > 0) top = used[i - 1]!.start;
    }
    return null;
  },
  free(chunk) {
    const used = chunk.region.priv as CmaExtent[];
    const i = used.findIndex((u) => u.start <= chunk.start && chunk.start < u.start + u.size);
    const u = used[i]!;
    const parts: CmaExtent[] = [];
    if (u.start < chunk.start) parts.push({ start: u.start, size: chunk.start - u.start });
    const end = chunk.start + chunk.size;
    if (end < u.start + u.size) parts.push({ start: end, size: u.start + u.size - end });
    used.splice(i, 1, ...parts);
  },
};

describeCmaAllocator("best-fit (built-in)", bestFitAllocator);
describeCmaAllocator("bitmap (built-in)", bitmapAllocator);
describeCmaAllocator("last-fit (written in a test)", lastFit);

describe("a platform allocator plugged in through cmaAllocatorRegister", () => {
  it("serves a 2010 region chosen per region with cma=name:alloc semantics", () => {
    const { kernel } = board2010([
      [0x42000000, 4 * SZ_1M, "a"],
      [0x42400000, 4 * SZ_1M, "b"],
    ]);
    cmaAllocatorRegister(kernel, lastFit);
    cmaRegionRegister(kernel, { name: "top", start: 0x42000000, size: 4 * SZ_1M, allocName: "lastfit" });
    cmaRegionRegister(kernel, { name: "low", start: 0x42400000, size: 4 * SZ_1M });
    cmaSetMap(kernel, "cam=top;*=low");
    const cam = new Device(kernel, { name: "cam" });
    const other = new Device(kernel, { name: "other" });
    expect(cmaAlloc(cam, null, SZ_1M, 0)).toBe(0x42300000);
    expect(cmaAlloc(other, null, SZ_1M, 0)).toBe(0x42400000);
    expect(() => cmaSysfsWrite(kernel, "regions/low/alloc", "lastfit")).toThrow(/^EBUSY/);
  });

  it("serves a reusable merged area too, skipping pages the framework reports busy", () => {
    let cma: CmaRegion | undefined;
    const { kernel } = bootCma({
      setup: (k) => {
        cma = cmaDeclareContiguous(k, { size: 2 * SZ_4M, name: "area" });
      },
    });
    cmaAllocatorRegister(kernel, lastFit);
    cmaSysfsWrite(kernel, `regions/area/alloc`, "lastfit");
    const p = cmaAlloc(cma!, 16, 4)!;
    expect(p * SZ_4K).toBe(cma!.end - 16 * SZ_4K);
    expect(cmaRelease(cma!, p + 4, 4)).toBe(true); // a partial release reaches free() as a sub-range
    expect(cmaRelease(cma!, p, 4)).toBe(true);
    expect(cmaRelease(cma!, p + 8, 8)).toBe(true);
    expect(cma!.availableCount).toBe(cma!.count);
  });
});
