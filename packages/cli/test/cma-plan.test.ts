import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { EXYNOS4210_BOARD, S5PV210_BOARD } from "@umm/soc";
import { describe, expect, it } from "vitest";
import {
  boardRegionDecl,
  type CmaPlanStep,
  type CmaPlanWorkload,
  demoWorkload,
  formatCmaPlan,
  MFC_FW_SIZE,
  nv12Size,
  planCma,
  RES_1080P,
  replayWorkload,
  resizeBoardRegion,
  smallestRegionSize,
  xrgbSize,
} from "../src/cma-plan/index.js";

const pages = (bytes: number): number => Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
const board = EXYNOS4210_BOARD;
/** A 1080p XRGB8888 scanout buffer: 2025 pages, 1 MiB aligned (the CMA heap's order, capped at 8). */
const SCANOUT = xrgbSize(RES_1080P);
/** A 1080p NV12 capture buffer as dma_alloc_coherent takes it: 760 pages. */
const CAPTURE = pages(nv12Size(RES_1080P));

/** Failures of a replay that tried `region`. */
function failuresIn(w: CmaPlanWorkload, b: typeof board, region: string): number {
  return replayWorkload(b, w, { intervals: false }).failures.filter((f) =>
    f.regions.some((r) => r.name === region),
  ).length;
}

describe("cma-plan: the demo workload", () => {
  const demo = demoWorkload();

  it("is what umm demo allocates: firmware, 4 capture buffers by DMA API, 3 scanouts from the heap", () => {
    const allocs = demo.steps.filter((s) => s.op === "alloc");
    expect(allocs.map((s) => [s.id, s.dev, s.via ?? s.type, s.size])).toEqual([
      ["mfc-fw", "mfc", "f", MFC_FW_SIZE],
      ["cap0", "fimc0", "dma", 3_110_400],
      ["cap1", "fimc0", "dma", 3_110_400],
      ["cap2", "fimc0", "dma", 3_110_400],
      ["cap3", "fimc0", "dma", 3_110_400],
      ["scanout0", "compositor", "heap", 8_294_400],
      ["scanout1", "compositor", "heap", 8_294_400],
      ["scanout2", "compositor", "heap", 8_294_400],
    ]);
    // every buffer is live at once, and every one is freed; the firmware last
    const firstFree = demo.steps.findIndex((s) => s.op === "free");
    expect(firstFree).toBe(allocs.length);
    expect(demo.steps.filter((s) => s.op === "free")).toHaveLength(allocs.length);
    expect(demo.steps.at(-1)).toMatchObject({ op: "free", id: "mfc-fw" });
  });

  describe("on the default board (every media device behind a System MMU)", () => {
    const { report, replay } = planCma(board, demo);

    it("replays with no failure; the camera's buffers take no CMA memory", () => {
      expect(report.failures).toEqual([]);
      expect(replay.replayed).toBe(demo.steps.length);
      expect(report.workload).toMatchObject({
        name: "demo",
        steps: 16,
        allocations: 8,
        duration: Math.round(121e9 / 30) + Math.round(1e9 / 30),
      });
      expect(report.elsewhere).toEqual([
        { dev: "fimc0", via: "iommu", allocations: 4, peakSize: 4 * CAPTURE },
      ]);
    });

    it("reports each region's peak use from the buffer sizes", () => {
      const byName = Object.fromEntries(report.regions.map((r) => [r.name, r]));
      expect(Object.keys(byName)).toEqual(["mfc_fw", "common"]);
      expect(byName.mfc_fw!.peakUsed).toBe(MFC_FW_SIZE);
      expect(byName.common!.peakUsed).toBe(3 * SCANOUT);
      expect(byName.common).toMatchObject({
        origin: "merged",
        size: 96 * SZ_1M,
        reusable: true,
        allocations: 3,
        failures: 0,
        smallest: null,
        sizing: null,
        headroom: 96 * SZ_1M - 3 * SCANOUT,
        headroomBasis: "peak",
      });
      // at the peak the scanouts sit at 0, 8 and 16 MiB (1 MiB aligned): two 23-page gaps and the rest
      const largest = 96 * SZ_1M - 16 * SZ_1M - SCANOUT;
      expect(byName.common!.worst).toMatchObject({
        reason: "peak",
        step: 7,
        used: 3 * SCANOUT,
        freeChunks: 3,
        largestFree: largest,
      });
      expect(byName.common!.worst!.fragmentation).toBeCloseTo(1 - largest / (96 * SZ_1M - 3 * SCANOUT), 12);
    });

    it("prints the table, the worst moments, the allocations outside CMA and the headroom", () => {
      const text = formatCmaPlan(report);
      expect(text).toContain("umm cma-plan: board exynos4210, workload demo");
      expect(text).toContain("16 steps, 8 allocations over 4.067 s of virtual time, seed 1: 0 failures");
      expect(text).toMatch(/^region +kind +size +peak used +allocs +failures +smallest ok +headroom$/m);
      expect(text).toMatch(/^common +merged +96 MiB +23\.73 MiB +3 +0 +- +<= 72\.27 MiB$/m);
      expect(text).toMatch(/^mfc_fw +2010 +4 MiB +512 KiB +1 +0 +- +<= 3\.50 MiB$/m);
      expect(text).toMatch(
        /^ {2}common +at 0 ms \(step 7, peak use\): 23\.73 MiB used, 72\.27 MiB free in 3 ranges/m,
      );
      expect(text).toContain(
        "  fimc0: 4 allocations, at most 11.88 MiB at once, from scattered pages mapped by its IOMMU",
      );
    });

    it("gives every allocation back: the machine shuts down clean", () => {
      // replayWorkload shuts its machine down; a second replay of the same workload sees the same
      const again = replayWorkload(board, demo);
      expect(again.regions).toEqual(replay.regions);
      expect(again.intervals).toEqual(replay.intervals);
      expect(replay.intervals.filter((i) => i.tEnd === null)).toEqual([]);
      expect(replay.intervals).toHaveLength(4);
    });
  });

  it("on the S5PV210 (no System MMU) the capture buffers come from the default CMA area too", () => {
    const { report } = planCma(S5PV210_BOARD, demo);
    expect(report.failures).toEqual([]);
    expect(report.elsewhere).toEqual([]);
    const common = report.regions.find((r) => r.name === "common")!;
    expect(common).toMatchObject({ size: 64 * SZ_1M, allocations: 7, peakUsed: 4 * CAPTURE + 3 * SCANOUT });
    // the board's 2010 "fimc" region is for cma_alloc(dev, type); dma_alloc_coherent never uses it
    expect(report.regions.map((r) => r.name)).toEqual(["mfc_fw", "common"]);
  });
});

describe("cma-plan: a shrunk region", () => {
  const demo = demoWorkload();
  const small = resizeBoardRegion(board, "common", 20 * SZ_1M);

  it("fails first at the third scanout, with the region's state at that moment", () => {
    const r = replayWorkload(small, demo);
    expect(r.failures).toHaveLength(1);
    const first = r.failures[0]!;
    // fw, 4 capture (not CMA), scanouts 0 and 1 at 0 and 8 MiB; scanout 2 needs 16 MiB + 7.91 MiB
    expect(first).toMatchObject({
      step: 7,
      t: 0,
      id: "scanout2",
      dev: "compositor",
      type: null,
      via: "heap",
      size: SCANOUT,
      align: SZ_1M,
      errno: "ENOMEM",
    });
    const used = 2 * SCANOUT;
    expect(first.regions).toEqual([
      { name: "common", used, free: 20 * SZ_1M - used, largestFree: 20 * SZ_1M - 8 * SZ_1M - SCANOUT },
    ]);
    const common = r.regions.find((x) => x.name === "common")!;
    expect(common.failures).toBe(1);
    expect(common.worst).toMatchObject({ reason: "failure", step: 7, t: 0, used, freeChunks: 2 });
    expect(formatCmaPlan(planCma(small, demo).report)).toContain(
      "step 7 at 0 ms: compositor (heap) scanout2: 7.91 MiB (align 1 MiB) from common (4.18 MiB free, largest free chunk 4.09 MiB): ENOMEM",
    );
  });

  it("the smallest size succeeds and one pageblock less fails, both checked by replay", () => {
    const z = smallestRegionSize(small, demo, "common");
    expect(z).toMatchObject({
      region: "common",
      boardSize: 20 * SZ_1M,
      step: 4 * SZ_1M,
      smallest: 24 * SZ_1M,
      failsAt: 20 * SZ_1M,
    });
    expect(failuresIn(demo, resizeBoardRegion(board, "common", z.smallest!), "common")).toBe(0);
    expect(
      failuresIn(demo, resizeBoardRegion(board, "common", z.smallest! - z.step), "common"),
    ).toBeGreaterThan(0);
  });

  it("a 2010 region is searched in 1 MiB steps", () => {
    // six 1920 × 1088 luma planes in the MFC's bank B (510 pages each, 8 KiB aligned): 11.95 MiB
    const steps: CmaPlanStep[] = Array.from({ length: 6 }, (_, i) => ({
      t: i,
      op: "alloc",
      id: `luma${i}`,
      dev: "mfc",
      type: "b",
      size: 1920 * 1088,
      align: 8192,
    }));
    const w: CmaPlanWorkload = { name: "luma", description: "", steps };
    const b = resizeBoardRegion(board, "mfc_b2", 8 * SZ_1M);
    expect(b.cmdline.cma).toBe("mfc_fw=4M@0x4d000000;mfc_b1=32M@0x4e000000;mfc_b2=8M@0x6c000000");
    const plan = planCma(b, w);
    const row = plan.report.regions.find((r) => r.name === "mfc_b2")!;
    expect(row.failures).toBe(2); // four fit in 8 MiB (2040 of 2048 pages)
    expect(row.smallest).toBe(12 * SZ_1M);
    expect(row.sizing).toMatchObject({ step: SZ_1M, failsAt: 11 * SZ_1M, relocated: false });
    expect(row.headroom).toBe(-4 * SZ_1M);
    expect(failuresIn(w, resizeBoardRegion(board, "mfc_b2", 12 * SZ_1M), "mfc_b2")).toBe(0);
    expect(failuresIn(w, resizeBoardRegion(board, "mfc_b2", 11 * SZ_1M), "mfc_b2")).toBeGreaterThan(0);
    expect(formatCmaPlan(plan.report)).toMatch(
      /^ {2}mfc_b2 +12 MiB succeeds, 11 MiB fails; board has 8 MiB/m,
    );
  });

  it("a placed region that outgrows its place is moved", () => {
    // five 4 MiB firmware-kind chunks: mfc_fw (4 MiB at 0x4d000000, mfc_b1 right after it) must grow to 20 MiB
    const steps = Array.from({ length: 5 }, (_, i) => ({
      t: i,
      op: "alloc" as const,
      id: `f${i}`,
      dev: "mfc",
      type: "f",
      size: 4 * SZ_1M,
      align: 0,
    }));
    const w: CmaPlanWorkload = { name: "fw", description: "", steps };
    expect(failuresIn(w, board, "mfc_fw")).toBe(4);
    const z = smallestRegionSize(board, w, "mfc_fw");
    expect(z).toMatchObject({ smallest: 20 * SZ_1M, failsAt: 19 * SZ_1M, relocated: true });
    expect(z.probes.some((p) => p.relocated && p.result === "ok")).toBe(true);
    const moved = resizeBoardRegion(board, "mfc_fw", 20 * SZ_1M, { relocate: true });
    expect(moved.cmdline.cma).toBe("mfc_fw=20M;mfc_b1=32M@0x4e000000;mfc_b2=32M@0x6c000000");
    expect(failuresIn(w, moved, "mfc_fw")).toBe(0);
  });
});

describe("cma-plan: region declarations", () => {
  it("finds reserved-memory nodes, 2010 cma= entries and nothing for PMM", () => {
    expect(boardRegionDecl(board, "common")).toEqual({
      region: "common",
      kind: "reserved-memory",
      size: 96 * SZ_1M,
      reusable: true,
      placed: false,
    });
    expect(boardRegionDecl(board, "mfc-left@4a000000")).toMatchObject({ reusable: false, placed: true });
    expect(boardRegionDecl(board, "mfc_b1")).toEqual({
      region: "mfc_b1",
      kind: "cma-2010",
      size: 32 * SZ_1M,
      reusable: false,
      placed: true,
    });
    expect(boardRegionDecl(S5PV210_BOARD, "fimc")).toMatchObject({ size: 24 * SZ_1M, placed: false });
    expect(boardRegionDecl(board, "pmm:general")).toBeNull();
  });

  it("resizes a reg node in place, or moves it into its bank", () => {
    const inPlace = resizeBoardRegion(board, "mfc-right@6a000000", 16 * SZ_1M);
    expect(inPlace.reservedMemory.find((n) => n.name === "mfc-right@6a000000")!.reg).toEqual({
      base: 0x6a000000,
      size: 16 * SZ_1M,
    });
    const moved = resizeBoardRegion(board, "mfc-right@6a000000", 64 * SZ_1M, { relocate: true });
    const n = moved.reservedMemory.find((x) => x.name === "mfc-right@6a000000")!;
    expect(n.reg).toBeUndefined();
    expect(n).toMatchObject({
      size: 64 * SZ_1M,
      alignment: 4 * SZ_1M,
      allocRanges: [{ base: 0x60000000, size: 512 * SZ_1M }],
    });
    // the original is untouched
    expect(board.reservedMemory.find((x) => x.name === "mfc-right@6a000000")!.reg!.size).toBe(8 * SZ_1M);
  });

  it("--all sizes every region, unused ones at 0 and PMM not at all", () => {
    const plan = planCma(board, demoWorkload(), { all: true });
    const byName = Object.fromEntries(plan.report.regions.map((r) => [r.name, r]));
    expect(byName.common!.smallest).toBe(24 * SZ_1M);
    expect(byName.common!.headroom).toBe(72 * SZ_1M);
    expect(byName.mfc_fw!.smallest).toBe(SZ_1M);
    expect(byName["mfc-left@4a000000"]!.smallest).toBe(0);
    expect(byName["pmm:general"]!.sizing).toMatchObject({ resizable: false, smallest: null });
    expect(formatCmaPlan(plan.report)).toMatch(/^pmm:general +2010 +32 MiB +0 B +0 +0 +n\/a +<= 32 MiB$/m);
  });
});
