import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { cmaAlloc, cmaFree, cmaRelease } from "@umm/mm-cma";
import { bootBoard, EXYNOS4210_BOARD, S5PV210_BOARD } from "@umm/soc";
import { describe, expect, it } from "vitest";
import {
  CmaPlanError,
  type CmaPlanStep,
  churnWorkload,
  demoWorkload,
  parseWorkload,
  parseWorkloadJson,
  planCma,
  replayWorkload,
} from "../src/cma-plan/index.js";
import { toChromeTrace } from "../src/index.js";

const board = EXYNOS4210_BOARD;

describe("cma-plan: the workload format", () => {
  it("reads steps with units, sizes with suffixes, and fills each free from its allocation", () => {
    const w = parseWorkload(
      {
        name: "mine",
        unit: "ms",
        steps: [
          { t: 0, op: "alloc", id: "fw", dev: "mfc", type: "f", size: "512K", align: "128K" },
          { t: 10, op: "alloc", id: 7, dev: "fimc0", size: 3110400 },
          { op: "alloc", id: "x", dev: "app", region: "common", size: "4M", align: "0x100000" },
          { t: "1.5s", op: "free", id: 7 },
          { t: "2000000000ns", op: "free", id: "x" },
        ],
      },
      "file",
    );
    expect(w.name).toBe("mine");
    expect(w.steps).toEqual<CmaPlanStep[]>([
      { t: 0, op: "alloc", id: "fw", dev: "mfc", type: "f", size: 512 * 1024, align: 128 * 1024 },
      { t: 10e6, op: "alloc", id: "7", dev: "fimc0", size: 3110400, align: 0 },
      { t: 10e6, op: "alloc", id: "x", dev: "app", region: "common", size: 4 * SZ_1M, align: SZ_1M },
      { t: 1.5e9, op: "free", id: "7", dev: "fimc0", size: 3110400, align: 0 },
      { t: 2e9, op: "free", id: "x", dev: "app", region: "common", size: 4 * SZ_1M, align: SZ_1M },
    ]);
    // a bare array of steps, times in ms
    expect(parseWorkload([{ t: 2, op: "alloc", id: "a", dev: "fimc0", size: 4096 }], "arr").steps[0]!.t).toBe(
      2e6,
    );
    // and the replay uses the map for routed steps, the region for named ones
    const r = replayWorkload(board, w);
    expect(r.failures).toEqual([]);
    const by = Object.fromEntries(r.intervals.map((i) => [i.label!.split(/[ ,]/)[0], i.region]));
    expect(by).toEqual({ fw: "mfc_fw", "7": "common", x: "common" });
  });

  it.each([
    [{ steps: [] }, /it has no steps/],
    [{ steps: [{ op: "alloc", id: "a", dev: "d", size: 1, sise: 2 }] }, /step 0: unknown field "sise"/],
    [{ steps: [{ op: "grab", id: "a" }] }, /step 0: op "grab" is not "alloc" or "free"/],
    [{ steps: [{ op: "alloc", id: "a", dev: "d", size: "3Q" }] }, /size "3Q" is not a byte count/],
    [
      { steps: [{ op: "alloc", id: "a", dev: "d", size: 4096, align: 3000 }] },
      /align 3000 is not 0 or a power of two/,
    ],
    [{ steps: [{ op: "alloc", id: "a", dev: "d", size: 0 }] }, /size 0 is not positive/],
    [{ steps: [{ op: "alloc", id: "a", size: 4096 }] }, /dev undefined is not a device name/],
    [
      { steps: [{ op: "alloc", id: "a", dev: "d", size: 1, type: "a", region: "r" }] },
      /type .* or region, not both/,
    ],
    [
      { steps: [{ op: "alloc", id: "a", dev: "d", size: 1, via: "ion" }] },
      /via "ion" is not "cma", "dma" or "heap"/,
    ],
    [
      { steps: [{ op: "alloc", id: "a", dev: "d", size: 1, via: "dma", align: 4096 }] },
      /via "dma" lets the kernel choose the region and the alignment; give no type, region or align/,
    ],
    [
      { steps: [{ op: "alloc", id: "a", dev: "d", size: 1, via: "heap", region: "common" }] },
      /via "heap" lets the kernel choose/,
    ],
    [{ steps: [{ op: "free", id: "a" }] }, /free of id "a", which is not allocated/],
    [
      {
        steps: [
          { op: "alloc", id: "a", dev: "d", size: 1 },
          { op: "alloc", id: "a", dev: "d", size: 1 },
        ],
      },
      /step 1 .*id "a" is already allocated/,
    ],
    [
      {
        steps: [
          { t: 5, op: "alloc", id: "a", dev: "d", size: 1 },
          { t: 4, op: "free", id: "a" },
        ],
      },
      /step 1 .*t 4000000 ns is before the previous step's 5000000 ns/,
    ],
    [{ unit: "h", steps: [{ op: "free", id: "a" }] }, /unit "h" is not ns, us, ms or s/],
    [{ steps: [{ t: "soon", op: "free", id: "a" }] }, /t "soon" is not a time/],
    [{ events: [] }, /neither steps .* nor traceEvents/],
    [[1, 2], /holds no object/],
    [[{ foo: 1 }], /neither steps .* nor trace records .* nor Chrome trace events/],
    ["text", /neither an object nor an array/],
  ])("rejects %j naming the problem", (doc, msg) => {
    expect(() => parseWorkload(doc)).toThrow(CmaPlanError);
    expect(() => parseWorkload(doc)).toThrow(msg);
  });

  it("rejects text that is not JSON, naming the source", () => {
    expect(() => parseWorkloadJson("{ steps: [", "w", "--workload w.json")).toThrow(
      /^--workload w\.json: bad JSON: /,
    );
  });
});

describe("cma-plan: steps through the kernel's interfaces (via)", () => {
  const step = (id: string, dev: string, via: string, size: number) => ({ op: "alloc", id, dev, via, size });

  it("via dma goes where dma_alloc_coherent would, board by board", () => {
    const w = parseWorkload([
      step("cam", "fimc0", "dma", 3_110_400),
      step("fw", "mfc", "dma", 600 * 1024),
      { op: "alloc", id: "plain", dev: "fimc0", via: "cma", size: 4096 },
    ]);
    expect(w.steps[0]).toMatchObject({ via: "dma", align: 0 });
    expect(w.steps[2]!.via).toBeUndefined();
    // Exynos4210: fimc0 and the MFC sit behind System MMUs: scattered pages, no CMA
    const ex = replayWorkload(board, w);
    expect(ex.elsewhere).toEqual([
      { dev: "fimc0", via: "iommu", allocations: 1, peakSize: 760 * PAGE_SIZE },
      { dev: "mfc", via: "iommu", allocations: 1, peakSize: 600 * 1024 },
    ]);
    expect(ex.intervals.map((i) => i.region)).toEqual(["common"]); // the plain cma_alloc, through *=common
    // S5PV210: no IOMMU; fimc0 has no area of its own (the default one), the MFC a coherent pool
    // (mfc-left, no-map) that hands out power-of-two blocks
    const s5 = replayWorkload(S5PV210_BOARD, w);
    expect(s5.elsewhere).toEqual([]);
    const byId = Object.fromEntries(s5.intervals.map((i) => [i.label!.split(",")[0], i]));
    // aligned to its order capped at CONFIG_CMA_ALIGNMENT (1 MiB)
    expect(byId.cam).toMatchObject({ region: "common", size: 760 * PAGE_SIZE });
    expect(byId.cam!.start % SZ_1M).toBe(0);
    expect(byId.fw).toMatchObject({ region: "mfc-left@2a000000", size: SZ_1M }); // 600 KiB: an order-8 block
    expect(byId.plain!.region).toBe("fimc"); // cma_alloc(fimc0) follows the board's "fimc0=fimc"
  });

  it("via heap takes from the default CMA area, aligned as the CMA heap does", () => {
    const w = parseWorkload([step("a", "app", "heap", 4096), step("b", "app", "heap", 3 * SZ_1M)]);
    const r = replayWorkload(board, w);
    expect(r.intervals.map((i) => [i.region, i.size])).toEqual([
      ["common", PAGE_SIZE],
      ["common", 3 * SZ_1M],
    ]);
    // the 3 MiB buffer is 1 MiB aligned: it skips the rest of the first MiB
    expect(r.intervals[1]!.start - r.intervals[0]!.start).toBe(SZ_1M);
  });

  it("a failed via step says how it asked and the alignment the kernel chose", () => {
    const w = parseWorkload([step("big", "app", "heap", 200 * SZ_1M)]);
    const r = replayWorkload(board, w);
    expect(r.failures).toMatchObject([{ id: "big", via: "heap", type: null, align: SZ_1M, errno: "ENOMEM" }]);
  });

  it("a via dma step names a device of the board", () => {
    expect(() => replayWorkload(board, parseWorkload([step("x", "gpu", "dma", 4096)], "w"))).toThrow(
      /^workload w step 0 \(id "x"\): device "gpu" is not a device of board exynos4210 \(devices: fimc0, .*\); a "dma" step needs a device of the board$/,
    );
  });
});

describe("cma-plan: traces as workloads", () => {
  /** A machine that allocates through both APIs while a recorder listens. */
  async function traced() {
    const m = bootBoard(board, { seed: 3, drivers: [], trace: true });
    const common = m.cmaRegion("common");
    const mfc = m.devices.get("mfc")!;
    const a = cmaAlloc(common, 760, 0)!; // a 1080p NV12 frame, merged API
    await m.kernel.clock.runFor(1e6);
    const b = cmaAlloc(mfc, "b", 2 * SZ_1M, 8192); // a luma plane, 2010 API through the map
    await m.kernel.clock.runFor(1e6);
    const c = cmaAlloc(common, 2048, 8)!; // 8 MiB, 1 MiB aligned
    expect(cmaAlloc(m.cmaRegion("mfc_fw"), 4096, 0, true)).toBeNull(); // 16 MiB from 4 MiB: fails
    await m.kernel.clock.runFor(1e6);
    cmaRelease(common, a, 760);
    cmaFree(m.kernel, b);
    await m.kernel.clock.runFor(1e6);
    cmaRelease(common, c, 2048);
    const records = m.recorder!.records();
    m.shutdown();
    return { records, a, b, c };
  }

  it("reads an array of trace records: allocations, releases and a failed allocation", async () => {
    const { records, a, b, c } = await traced();
    const w = parseWorkloadJson(JSON.stringify(records), "trace", "trace.json");
    expect(w.description).toMatch(
      /^8 steps from trace records; 1 failed allocation replayed as a momentary demand$/,
    );
    expect(w.steps.map((s) => [s.op, s.t, s.region, s.size, s.align])).toEqual([
      ["alloc", 0, "common", 760 * PAGE_SIZE, PAGE_SIZE],
      ["alloc", 1e6, "mfc_b2", 2 * SZ_1M, 8192],
      ["alloc", 2e6, "common", 8 * SZ_1M, SZ_1M],
      ["alloc", 2e6, "mfc_fw", 16 * SZ_1M, PAGE_SIZE],
      ["free", 2e6, "mfc_fw", 16 * SZ_1M, PAGE_SIZE],
      ["free", 3e6, "common", 760 * PAGE_SIZE, PAGE_SIZE],
      ["free", 3e6, "mfc_b2", 2 * SZ_1M, 8192],
      ["free", 4e6, "common", 8 * SZ_1M, SZ_1M],
    ]);
    expect(w.steps[0]!.paddr).toBe(a * PAGE_SIZE);
    expect(w.steps[1]!.paddr).toBe(b);
    expect(w.steps[2]!.paddr).toBe(c * PAGE_SIZE);
    // replayed on the same board, the same allocations land at the same places and the same one fails
    const r = replayWorkload(board, w);
    expect(r.intervals.map((i) => i.start)).toEqual([a * PAGE_SIZE, b, c * PAGE_SIZE]);
    expect(r.failures.map((f) => f.regions[0]!.name)).toEqual(["mfc_fw"]);
  });

  it("reads umm trace's Chrome JSON to the same steps", async () => {
    const { records } = await traced();
    const fromRecords = parseWorkload(JSON.parse(JSON.stringify(records)));
    const chrome = JSON.parse(JSON.stringify(toChromeTrace(records)));
    expect(
      chrome.traceEvents.some((e: { name: string; ph: string }) => e.name === "cma_alloc" && e.ph === "X"),
    ).toBe(true);
    const fromChrome = parseWorkload(chrome);
    const strip = (s: CmaPlanStep) => ({ ...s, id: s.id.replace(/#\d+$/, "") });
    expect(fromChrome.steps.map(strip)).toEqual(fromRecords.steps.map(strip));
    expect(fromChrome.description).toMatch(/from a Chrome trace/);
  });

  it("skips releases whose allocation the trace dropped", () => {
    const rec = (seq: number, name: string, data: object) => ({
      seq,
      ts: seq,
      name,
      pid: 1,
      task: "t",
      cpu: 0,
      data,
    });
    const w = parseWorkload([
      rec(0, "cma_release", { name: "common", pfn: 0x58000, count: 1 }),
      rec(1, "cma_alloc_finish", { name: "common", pfn: 0x58001, count: 1, align: 0, errorno: 0 }),
    ]);
    expect(w.steps).toHaveLength(1);
    expect(w.description).toMatch(/1 release of allocations the trace lacks skipped/);
    expect(() => parseWorkload([rec(0, "cma_alloc_finish", { name: "common", pfn: "x", count: 1 })])).toThrow(
      /trace record 0 \(cma_alloc_finish\): field pfn is "x", not an integer/,
    );
    expect(() => parseWorkload([rec(0, "dma_xfer", { device: "fimc0" })])).toThrow(
      /holds no cma_alloc_finish/,
    );
  });
});

describe("cma-plan: built-in workloads", () => {
  it("demo is balanced: every allocation is freed", () => {
    const w = demoWorkload();
    expect(w.steps.filter((s) => s.op === "alloc").length).toBe(
      w.steps.filter((s) => s.op === "free").length,
    );
  });

  it("churn-10h is deterministic by seed and lasts ten hours", () => {
    const a = churnWorkload({ seed: 7 });
    const b = churnWorkload({ seed: 7 });
    const c = churnWorkload({ seed: 8 });
    expect(a).toEqual(b);
    expect(c.steps).not.toEqual(a.steps);
    expect(a.name).toBe("churn-10h");
    expect(a.steps.at(-1)!.t).toBe(10 * 3600e9);
    expect(a.steps.length).toBeGreaterThan(3000);
    // resolutions change: 720p, 1080p and 4K camera frames all appear
    const sizes = new Set(a.steps.filter((s) => s.dev === "fimc0").map((s) => s.size));
    expect([...sizes].sort((x, y) => x - y)).toEqual([1_382_400, 3_110_400, 12_441_600]);
    expect(a.steps.filter((s) => s.op === "alloc").length).toBe(
      a.steps.filter((s) => s.op === "free").length,
    );
  });

  it("the same seed gives the same report", () => {
    const w = churnWorkload({ seed: 2, duration: 3600e9 });
    expect(w.name).toBe("churn-1h");
    const one = planCma(board, w, { seed: 2 }).report;
    const two = planCma(board, churnWorkload({ seed: 2, duration: 3600e9 }), { seed: 2 }).report;
    expect(two).toEqual(one);
    expect(one.failures).toEqual([]);
  });
});
