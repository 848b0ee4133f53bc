import { Device, faultInjectSet, PAGE_SIZE, SZ_1M, type TraceRecord } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  cmaAlloc,
  cmaDebugfs,
  cmaEarlyRegionsReserve,
  cmaFree,
  cmaRegionFind,
  cmaRelease,
  cmaSetDefaults,
  dmaContiguousDefaultArea,
  dmaContiguousReserve,
} from "../src/index.js";
import { bootCma, expectRegionConsistent } from "../src/testing.js";

describe('fault injection site "cma"', () => {
  it("fails the n-th allocation of either API cleanly: null / ENOMEM, nothing taken", () => {
    const { kernel, mm } = bootCma({
      cmdline: "cma=16M",
      setup: (k) => {
        cmaSetDefaults(k, [{ name: "video", size: 8 * SZ_1M }], "*=video");
        cmaEarlyRegionsReserve(k);
        dmaContiguousReserve(k);
      },
    });
    const area = dmaContiguousDefaultArea(kernel)!;
    const finishes: TraceRecord<"cma_alloc_finish">[] = [];
    kernel.trace.on("cma_alloc_finish", (r) => finishes.push(r));
    const free = mm.buddy.nrFreePages;
    faultInjectSet(kernel, "cma", { failNth: 1 });
    expect(cmaAlloc(area, 16, 0, true)).toBeNull(); // merged: NULL
    expect(cmaDebugfs(area).used).toBe(0);
    expect(finishes.at(-1)?.data.errorno).toBe(-12);
    const pfn = cmaAlloc(area, 16, 0, true)!;
    expect(pfn).not.toBeNull();
    expect(cmaDebugfs(area).used).toBe(16);
    expect(cmaRelease(area, pfn, 16)).toBe(true);

    const fimc = new Device(kernel, { name: "fimc0" });
    const video = cmaRegionFind(kernel, "video")!;
    faultInjectSet(kernel, "cma", { failNth: 1 });
    expect(() => cmaAlloc(fimc, null, SZ_1M, PAGE_SIZE)).toThrow(kerr("ENOMEM")); // 2010: ENOMEM
    expect(video.free).toBe(8 * SZ_1M);
    expect(video.users).toBe(0);
    const addr = cmaAlloc(fimc, null, SZ_1M, PAGE_SIZE);
    expect(video.free).toBe(7 * SZ_1M);
    cmaFree(kernel, addr);
    expectRegionConsistent(video);
    expect(mm.buddy.nrFreePages).toBe(free);
  });

  it("a reusable region keeps its lent pages where they were when the allocation is refused", () => {
    const { kernel, mm } = bootCma({ cmdline: "cma=8M", setup: (k) => void dmaContiguousReserve(k) });
    const area = dmaContiguousDefaultArea(kernel)!;
    faultInjectSet(kernel, "cma", { probability: 100, times: 3 });
    for (let i = 0; i < 3; i++) expect(cmaAlloc(area, 1, 0, true)).toBeNull();
    expect(cmaDebugfs(area).used).toBe(0);
    const pfn = cmaAlloc(area, 1, 0, true); // times ran out
    expect(pfn).not.toBeNull();
    expect(mm.frames.ownerOf(pfn!)).toMatch(/^cma:/);
    cmaRelease(area, pfn!, 1);
    for (const r of [area]) expectRegionConsistent(r);
  });
});
