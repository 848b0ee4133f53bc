import {
  createKernel,
  DMA_BIT_MASK,
  PAGE_SIZE,
  SZ_1G,
  SZ_1M,
  SZ_4M,
  SZ_16M,
  SZ_32M,
  TraceRecorder,
} from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { findChrdev, O_RDWR, registerChrdev, spawn } from "@umm/kernel-process";
import { cmaRegions } from "@umm/mm-cma";
import { mmInit, PG_reserved } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  IOCTL_PMM_ALLOC,
  PMM_MEM_DMA24,
  PMM_MEM_GENERAL,
  parsePmmParam,
  pmmAlloc,
  pmmDebugfsRead,
  pmmInfo,
  pmmInit,
  pmmPut,
  pmmReserve,
} from "../src/index.js";
import { bootPmm } from "../src/testing.js";
import { areaInfo, DRAM, RAM_PFN_OFFSET, TYPES_24 } from "./helpers.js";

function early(size = 128 * SZ_1M) {
  const kernel = createKernel({ seed: 1 });
  const rec = new TraceRecorder(kernel.trace, { events: ["pmm_warn"] });
  const mm = mmInit(kernel, { banks: [{ start: DRAM, size }] });
  return { kernel, mm, rec };
}

describe("pmm= (pmm-init.c)", () => {
  it("reads the size with memparse and page-aligns it; the last pmm= wins", () => {
    expect(parsePmmParam("console=ttySAC0 pmm=32M")).toBe(SZ_32M);
    expect(parsePmmParam("pmm=0x100000")).toBe(SZ_1M);
    expect(parsePmmParam("pmm=1000")).toBe(PAGE_SIZE);
    expect(parsePmmParam("pmm=1G")).toBe(SZ_1G);
    expect(parsePmmParam("pmm=4M pmm=8M")).toBe(8 * SZ_1M);
    expect(parsePmmParam("quiet")).toBeNull();
  });
  it("refuses 0 and more than 1 GiB with EINVAL", () => {
    expect(() => parsePmmParam("pmm=0")).toThrow(kerr("EINVAL", /greater than 0/));
    expect(() => parsePmmParam("pmm=abc")).toThrow(kerr("EINVAL"));
    expect(() => parsePmmParam("pmm=1025M")).toThrow(kerr("EINVAL", /refusing to allocate more then 1GiB/));
  });
});

describe("pmmReserve: the boot-time pool", () => {
  it("reserves the pool from memblock in lowmem; the page allocator never gets it", () => {
    const { kernel, mm } = early();
    pmmReserve(kernel, { cmdline: "pmm=32M" });
    const res = mm.memblock.reserved.find((r) => r.name === "pmm:general")!;
    expect(res.size).toBe(SZ_32M);
    mm.memblockFreeAll();
    pmmInit(kernel);
    const f = mm.frames;
    expect(f.flags[res.base / PAGE_SIZE - f.basePfn]! & PG_reserved).toBe(PG_reserved);
    expect(mm.meminfo().freePages).toBeLessThanOrEqual((128 - 32) * 256);
    expect(pmmInfo(kernel)).toMatchObject({ size: SZ_32M, free: SZ_32M, typesMask: 1, userMask: 1 });
    expect(pmmDebugfsRead(kernel, "types/count")).toBe("1\n");
    expect(pmmDebugfsRead(kernel, "pmm/types/0")).toMatch(
      /^general type=0x1 start=0x[0-9a-f]{8} size=33554432 free=33554432\n$/,
    );
    expect(findChrdev(kernel, "/dev/pmm")).toBeDefined();
  });

  it("places the 24-bit pool below 16 MiB of bus space, inside one 16 MiB window", () => {
    const { kernel } = bootPmm({ cmdline: "pmm=32M", types: TYPES_24 });
    const dma = pmmInfo(kernel).types.find((t) => t.type === PMM_MEM_DMA24)!;
    const bus = dma.base - RAM_PFN_OFFSET * PAGE_SIZE;
    expect(dma.size).toBe(SZ_4M);
    expect(bus).toBeGreaterThanOrEqual(0);
    expect(bus + dma.size - 1).toBeLessThanOrEqual(DMA_BIT_MASK(24));
    expect(Math.floor(bus / SZ_16M)).toBe(Math.floor((bus + dma.size - 1) / SZ_16M));
  });

  it("honours a fixed base and a boundary window above the first", () => {
    const { kernel } = bootPmm({
      cmdline: "",
      types: [
        { type: PMM_MEM_GENERAL, name: "general", size: SZ_4M, base: DRAM + 64 * SZ_1M },
        { type: 1 << 5, name: "win", size: SZ_4M, boundary: SZ_16M, busLimit: 0x7fffffff, dmaPfnOffset: 0 },
      ],
    });
    const [g, w] = pmmInfo(kernel).types;
    expect(g!.base).toBe(DRAM + 64 * SZ_1M);
    expect(Math.floor(w!.base / SZ_16M)).toBe(Math.floor((w!.base + w!.size - 1) / SZ_16M));
  });

  it("rejects a bad table with EINVAL and reserves nothing", () => {
    const bad: [string, Parameters<typeof pmmReserve>[1]][] = [
      ["two bits", { types: [{ type: 3, name: "x", size: SZ_1M }] }],
      ["no bit", { types: [{ type: 0, name: "x", size: SZ_1M }] }],
      [
        "twice",
        {
          types: [
            { type: 1, name: "a" },
            { type: 1, name: "b", size: SZ_1M },
          ],
        },
      ],
      ["no size", { types: [{ type: 2, name: "x" }] }],
      ["no name", { types: [{ type: 2, name: "", size: SZ_1M }] }],
      ["too big", { types: [{ type: 2, name: "x", size: 2 * SZ_1G }] }],
      ["boundary", { types: [{ type: 2, name: "x", size: SZ_1M, boundary: 3 * SZ_1M }] }],
      ["window", { types: [{ type: 2, name: "x", size: SZ_32M, boundary: SZ_16M }] }],
      ["base", { types: [{ type: 2, name: "x", size: SZ_1M, base: 0x123 }] }],
      [
        "base outside",
        { types: [{ type: 2, name: "x", size: SZ_1M, base: DRAM + SZ_32M, busLimit: DMA_BIT_MASK(24) }] },
      ],
      ["pmm=", { cmdline: "pmm=2G" }],
      ["none", { types: [] }],
    ];
    for (const [why, opts] of bad) {
      const { kernel, mm } = early();
      expect(() => pmmReserve(kernel, opts), why).toThrow(kerr("EINVAL"));
      expect(mm.memblock.reserved, why).toEqual([]);
      pmmReserve(kernel, { cmdline: "pmm=1M" }); // state was not stored either
    }
  });

  it("is refused after boot and twice (EBUSY)", () => {
    const { kernel, mm } = early();
    pmmReserve(kernel, { cmdline: "pmm=1M" });
    expect(() => pmmReserve(kernel, { cmdline: "pmm=1M" })).toThrow(kerr("EBUSY", /already/));
    const late = early();
    late.mm.memblockFreeAll();
    expect(() => pmmReserve(late.kernel, { cmdline: "pmm=1M" })).toThrow(kerr("EBUSY", /memblockFreeAll/));
    mm.memblockFreeAll();
  });

  it("only logs a pool that does not fit (alloc_bootmem_pages_nopanic); allocations then fail", () => {
    const { kernel, mm, rec } = early(64 * SZ_1M);
    pmmReserve(kernel, { cmdline: "pmm=512M" });
    expect(rec.of("pmm_warn")[0]?.data.message).toMatch(/no room/);
    mm.memblockFreeAll();
    pmmInit(kernel);
    expect(pmmInfo(kernel).size).toBe(0);
    expect(pmmAlloc(kernel, areaInfo(PAGE_SIZE))).toBe(0);
  });
});

describe("pmmInit: module init", () => {
  it("needs the page allocator (EINVAL before memblockFreeAll) and runs once (EBUSY)", () => {
    const { kernel, mm } = early();
    pmmReserve(kernel, { cmdline: "pmm=1M" });
    expect(() => pmmInit(kernel)).toThrow(kerr("EINVAL", /memblockFreeAll/));
    mm.memblockFreeAll();
    pmmInit(kernel);
    expect(() => pmmInit(kernel)).toThrow(kerr("EBUSY"));
  });

  it("without pmmReserve starts with no pool, as a kernel booted without pmm=", () => {
    const { kernel, mm } = early();
    mm.memblockFreeAll();
    pmmInit(kernel);
    expect(pmmInfo(kernel).size).toBe(0);
  });

  it("registers nothing when the device path is taken (EEXIST), and can be retried", () => {
    const { kernel, mm } = early();
    pmmReserve(kernel, { cmdline: "pmm=4M" });
    mm.memblockFreeAll();
    registerChrdev(kernel, "/dev/pmm", { ops: {} });
    expect(() => pmmInit(kernel)).toThrow(kerr("EEXIST"));
    expect(cmaRegions(kernel)).toEqual([]);
    pmmInit(kernel, { device: { path: "/dev/pmm0", mode: 0o660 } });
    expect(findChrdev(kernel, "/dev/pmm0")?.mode).toBe(0o660);
    expect(cmaRegions(kernel)).toHaveLength(1);
    expect(cmaRegions(kernel)[0]!.allocator?.name).toBe("pmm");
  });

  it("reports areas still allocated at shutdown, after the processes were killed", () => {
    const { kernel } = bootPmm({ cmdline: "pmm=4M" });
    const rec = new TraceRecorder(kernel.trace, { events: ["pmm_warn"] });
    const proc = spawn(kernel, { comm: "still-running" });
    proc.ioctl(proc.open("/dev/pmm", O_RDWR), IOCTL_PMM_ALLOC, areaInfo(PAGE_SIZE)); // released by the kill
    const pa = pmmAlloc(kernel, areaInfo(3 * PAGE_SIZE));
    const pb = pmmAlloc(kernel, areaInfo(PAGE_SIZE));
    pmmPut(kernel, pb);
    kernel.shutdown();
    const msgs = rec.of("pmm_warn").map((r) => r.data.message);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatch(new RegExp(`leak: area \\[0x${pa.toString(16)}, \\+0x3000\\) of general`));
  });
});
