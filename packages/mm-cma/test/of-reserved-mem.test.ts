import { createKernel, Device, PAGE_SIZE, SZ_1M, SZ_4K, SZ_4M, SZ_8M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { MIGRATE_CMA, MT_NONE, mmInit } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  cmaAllocFromRegion,
  cmaAreas,
  cmaInit,
  cmaInitReservedAreas,
  dmaAllocFromContiguous,
  dmaContiguousDefaultArea,
  dmaContiguousReserve,
  ofReservedMemDeviceInit,
  ofReservedMemInit,
  ofReservedMemSetup,
  type ReservedMemNode,
} from "../src/index.js";

function dt(cmdline = "", maxAreas = 7) {
  const kernel = createKernel();
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
  cmaInit(kernel, { cmdline, maxAreas });
  const untouched = () => mm.memblock.reserved.length === 0 && mm.memblock.removed.length === 0;
  const boot = () => {
    mm.memblockFreeAll();
    cmaInitReservedAreas(kernel);
  };
  return { kernel, mm, untouched, boot };
}

const linuxCma: ReservedMemNode = {
  name: "linux,cma",
  compatible: "shared-dma-pool",
  reusable: true,
  size: 16 * SZ_1M,
  alignment: 0x2000,
  cmaDefault: true,
};

describe("reserved-memory: shared-dma-pool", () => {
  it("reusable + linux,cma-default → the default CMA area, aligned to 4 MiB, activated at boot", () => {
    const { kernel, mm, boot } = dt();
    const r = ofReservedMemSetup(kernel, linuxCma);
    expect(r.kind).toBe("cma");
    if (r.kind !== "cma") return;
    expect(r.base % SZ_4M).toBe(0);
    expect(r.cma.name).toBe("linux,cma");
    expect(dmaContiguousDefaultArea(kernel)).toBe(r.cma);
    expect(dmaContiguousReserve(kernel)).toBe(r.cma); // the Kconfig default is not added
    expect(cmaAreas(kernel)).toHaveLength(1);
    boot();
    expect(r.cma.activated).toBe(true);
    expect(mm.frames.pageblockType(r.cma.basePfn)).toBe(MIGRATE_CMA);
  });

  it("reusable with a static reg; a reg not aligned to 4 MiB is EINVAL and reserves nothing", () => {
    const { kernel, untouched } = dt();
    expect(() =>
      ofReservedMemSetup(kernel, {
        name: "bad",
        compatible: "shared-dma-pool",
        reusable: true,
        reg: { base: 0x41100000, size: SZ_4M },
      }),
    ).toThrow(kerr("EINVAL", /incorrect alignment of CMA region/));
    expect(() =>
      ofReservedMemSetup(kernel, {
        name: "bad",
        compatible: "shared-dma-pool",
        reusable: true,
        size: 6 * SZ_1M,
      }),
    ).toThrow(kerr("EINVAL", /incorrect alignment/));
    expect(untouched()).toBe(true);
    const r = ofReservedMemSetup(kernel, {
      name: "cam",
      compatible: ["vendor,cam-pool", "shared-dma-pool"],
      reusable: true,
      reg: { base: 0x41000000, size: SZ_8M },
    });
    expect(r).toMatchObject({ kind: "cma", base: 0x41000000, size: SZ_8M, cmaDefault: false });
  });

  it("reusable together with no-map is EINVAL; nothing is reserved", () => {
    const { kernel, untouched } = dt();
    expect(() => ofReservedMemSetup(kernel, { ...linuxCma, noMap: true })).toThrow(
      kerr("EINVAL", /mutually exclusive/),
    );
    expect(untouched()).toBe(true);
  });

  it("a shared-dma-pool neither reusable nor no-map is EINVAL on ARM", () => {
    const { kernel, untouched } = dt();
    expect(() =>
      ofReservedMemSetup(kernel, { name: "p", compatible: "shared-dma-pool", size: SZ_1M }),
    ).toThrow(kerr("EINVAL", /without no-map/));
    expect(untouched()).toBe(true);
  });

  it("linux,cma-default is bypassed (EBUSY) when cma= is on the command line", () => {
    const { kernel, untouched } = dt("cma=32M");
    expect(() => ofReservedMemSetup(kernel, linuxCma)).toThrow(kerr("EBUSY", /bypass linux,cma node/));
    expect(untouched()).toBe(true);
    const { cmaDefault: _, ...notDefault } = linuxCma;
    expect(ofReservedMemSetup(kernel, notDefault).kind).toBe("cma");
  });

  it("ENOSPC when every CMA slot is taken", () => {
    const { kernel } = dt("", 1);
    ofReservedMemSetup(kernel, { ...linuxCma, name: "a" });
    expect(() => ofReservedMemSetup(kernel, { ...linuxCma, name: "b" })).toThrow(kerr("ENOSPC"));
  });

  it("no-map → a private coherent pool: out of memblock and the linear map, never in the buddy allocator", () => {
    const { kernel, mm, boot } = dt();
    const r = ofReservedMemSetup(kernel, {
      name: "mfc-left",
      compatible: "shared-dma-pool",
      noMap: true,
      reg: { base: 0x43000000, size: SZ_8M },
      dmaDefault: true,
    });
    expect(r.kind).toBe("dma-pool");
    if (r.kind !== "dma-pool") return;
    expect(r.dmaDefault).toBe(true);
    expect(r.region.name).toBeNull();
    expect(r.region.reusable).toBe(false);
    expect(mm.memblock.removed.map((x) => [x.base, x.size])).toEqual([[0x43000000, SZ_8M]]);
    const idx = 0x43000000 / PAGE_SIZE - mm.frames.basePfn;
    expect(mm.kspace.linearMt[idx]).toBe(MT_NONE);
    boot();
    expect(mm.buddy.isFree(r.region.basePfn)).toBe(false);
    const a = cmaAllocFromRegion(r.region, SZ_1M, 0);
    expect(a).toBe(0x43000000);
    expect(mm.frames.ownerOf(a / PAGE_SIZE)).toBe("cma:(private)");
  });
});

describe("reserved-memory: placement and other nodes", () => {
  it("alloc-ranges are tried in order; ENOMEM when none has room", () => {
    const { kernel, mm } = dt();
    mm.memblock.reserve(0x40000000, 16 * SZ_1M, "kernel");
    const r = ofReservedMemSetup(kernel, {
      name: "pool",
      size: SZ_4M,
      alignment: SZ_4M,
      allocRanges: [
        { base: 0x40000000, size: 16 * SZ_1M },
        { base: 0x42000000, size: 16 * SZ_1M },
      ],
    });
    expect(r.kind).toBe("reserved");
    expect(r.base >= 0x42000000 && r.base + r.size <= 0x43000000).toBe(true);
    expect(() =>
      ofReservedMemSetup(kernel, {
        name: "nope",
        size: SZ_4M,
        allocRanges: [{ base: 0x40000000, size: SZ_8M }],
      }),
    ).toThrow(kerr("ENOMEM", /failed to allocate memory for node 'nope'/));
  });

  it("a plain node is a reservation; no-map removes it from the linear map", () => {
    const { kernel, mm } = dt();
    const a = ofReservedMemSetup(kernel, { name: "fw", reg: { base: 0x40100000, size: SZ_1M } });
    expect(a).toEqual({ kind: "reserved", name: "fw", base: 0x40100000, size: SZ_1M, noMap: false });
    expect(mm.memblock.isReserved(0x40100000, SZ_1M)).toBe(true);
    const b = ofReservedMemSetup(kernel, { name: "secure", noMap: true, size: SZ_1M });
    expect(b.kind === "reserved" && b.noMap).toBe(true);
    expect(mm.memblock.isMemory(b.base, SZ_1M)).toBe(false);
    expect(() =>
      ofReservedMemSetup(kernel, { name: "clash", noMap: true, reg: { base: 0x40100000, size: SZ_4K } }),
    ).toThrow(kerr("EBUSY"));
  });

  it("rejects nodes without reg or size, with bad numbers, or after boot", () => {
    const { kernel, boot } = dt();
    expect(() => ofReservedMemSetup(kernel, { name: "x" })).toThrow(kerr("EINVAL", /neither reg nor size/));
    expect(() => ofReservedMemSetup(kernel, { name: "x", size: 100 })).toThrow(
      kerr("EINVAL", /invalid size/),
    );
    expect(() => ofReservedMemSetup(kernel, { name: "x", size: SZ_1M, alignment: 3 })).toThrow(
      kerr("EINVAL", /alignment/),
    );
    expect(() => ofReservedMemSetup(kernel, { name: "", size: SZ_1M })).toThrow(kerr("EINVAL"));
    expect(() =>
      ofReservedMemSetup(kernel, { name: "x", size: SZ_1M, allocRanges: [{ base: 0, size: -1 }] }),
    ).toThrow(kerr("EINVAL", /alloc-ranges/));
    boot();
    expect(() => ofReservedMemSetup(kernel, { name: "late", size: SZ_1M })).toThrow(kerr("EBUSY"));
  });

  it("ofReservedMemInit: static nodes first, errors collected; devices get their CMA area", () => {
    const { kernel, boot } = dt();
    const res = ofReservedMemInit(kernel, [
      linuxCma,
      { name: "bad", compatible: "shared-dma-pool", reusable: true, noMap: true, size: SZ_4M },
      { name: "mfc", compatible: "shared-dma-pool", reusable: true, reg: { base: 0x43c00000, size: SZ_4M } },
    ]);
    expect(res.map((r) => r.node.name)).toEqual(["mfc", "linux,cma", "bad"]);
    expect(res[2]!.error?.errno).toBe("EINVAL");
    boot();
    const dev = new Device(kernel, { name: "s5p-mfc" });
    const mfc = res[0]!.rmem!;
    expect(ofReservedMemDeviceInit(dev, mfc)).toBe(true);
    const p = dmaAllocFromContiguous(dev, 16, 4)!;
    expect(p).toBe(0x43c00);
    const other = new Device(kernel, { name: "fimd" });
    expect(dmaAllocFromContiguous(other, 16, 4)! * PAGE_SIZE).not.toBe(0x43c00000);
    expect(
      ofReservedMemDeviceInit(dev, { kind: "reserved", name: "x", base: 0, size: 0, noMap: false }),
    ).toBe(false);
  });
});
