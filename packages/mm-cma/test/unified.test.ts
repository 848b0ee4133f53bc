import { Device, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import {
  type CmaRegion,
  cmaAlloc,
  cmaAllocFromRegion,
  cmaDeclareContiguous,
  cmaFree,
  cmaInfo,
  cmaRegionFind,
  cmaRelease,
  cmaSetMap,
} from "../src/index.js";
import { bootCma } from "../src/testing.js";
import { recordAll } from "./helpers.js";

describe("one region model for both APIs", () => {
  const setup = () => {
    let cma: CmaRegion | undefined;
    const { kernel, mm } = bootCma({
      setup: (k) => {
        cma = cmaDeclareContiguous(k, { size: 8 * SZ_1M, name: "video" });
      },
    });
    return { kernel, mm, cma: cma! };
  };

  it("a merged area answers the 2010 map by name, and cmaFree / cmaRelease free either kind of chunk", () => {
    const { kernel, mm, cma } = setup();
    expect(cmaRegionFind(kernel, "video")).toBe(cma);
    cmaSetMap(kernel, "fimc*=video");
    const dev = new Device(kernel, { name: "fimc1" });
    const a = cmaAlloc(dev, null, SZ_1M, SZ_1M);
    expect(a % SZ_1M).toBe(0);
    expect(mm.frames.ownerOf(a / PAGE_SIZE)).toBe("cma:video:fimc1");
    expect(cmaInfo(dev)).toMatchObject({ count: 1, freeSize: 7 * SZ_1M });
    const p = cmaAlloc(cma, 16, 0)!;
    cmaFree(kernel, p * PAGE_SIZE); // a merged allocation freed by its start
    expect(cmaRelease(cma, a / PAGE_SIZE, 256)).toBe(true); // a 2010 chunk released by pfn and count
    expect(cma.availableCount).toBe(cma.count);
    expect(mm.buddy.isFree(a / PAGE_SIZE)).toBe(true);
    expect(cmaAllocFromRegion(cma, SZ_1M, 0)).toBe(cma.base);
  });

  it("at shutdown every chunk still held is reported as a leak", () => {
    const { kernel, cma } = setup();
    const rec = recordAll(kernel);
    cmaAlloc(cma, 4, 0);
    kernel.shutdown();
    expect(rec.of("cma_warn").map((w) => w.message)).toEqual([
      `leak: cma:video holds [0x${cma.base.toString(16)}, +0x4000) of video`,
    ]);
  });

  it("a clean shutdown reports nothing", () => {
    const { kernel, cma } = setup();
    const rec = recordAll(kernel);
    const p = cmaAlloc(cma, 4, 0)!;
    cmaRelease(cma, p, 4);
    kernel.shutdown();
    expect(rec.of("cma_warn")).toEqual([]);
  });
});
