import { Device, getOrder, PAGE_SIZE, SZ_1M, SZ_4K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { __GFP_NOWARN, GFP_ATOMIC, GFP_KERNEL } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  type CmaRegion,
  cmaDeclareContiguous,
  devGetCmaArea,
  devSetCmaArea,
  dmaAllocContiguous,
  dmaAllocFromContiguous,
  dmaContiguousDefaultArea,
  dmaContiguousReserve,
  dmaFreeContiguous,
  dmaReleaseFromContiguous,
} from "../src/index.js";
import { bootCma } from "../src/testing.js";
import { recordAll } from "./helpers.js";

describe("dma_contiguous_reserve", () => {
  const reserve = (cmdline: string, opts: { sizeMbytes?: number; limit?: number } = {}) => {
    let area: CmaRegion | null = null;
    const { kernel } = bootCma({
      size: 64 * SZ_1M,
      cmdline,
      ...(opts.sizeMbytes !== undefined ? { sizeMbytes: opts.sizeMbytes } : {}),
      setup: (k) => {
        area = dmaContiguousReserve(k, opts.limit ?? 0);
      },
    });
    return { kernel, area: area as CmaRegion | null };
  };

  it("takes the Kconfig size without cma=, and names the area 'reserved'", () => {
    const { kernel, area } = reserve("");
    expect(area?.size).toBe(16 * SZ_1M);
    expect(area?.name).toBe("reserved");
    expect(area?.activated).toBe(true);
    expect(dmaContiguousDefaultArea(kernel)).toBe(area);
    expect(reserve("", { sizeMbytes: 0 }).area).toBeNull();
  });

  it("cma=size, cma=0, cma=size@base (fixed), cma=size@base-end (a range)", () => {
    expect(reserve("cma=32M").area?.size).toBe(32 * SZ_1M);
    expect(reserve("cma=0").area).toBeNull();
    expect(reserve("cma=8M@0x41000000").area?.base).toBe(0x41000000);
    const ranged = reserve("cma=8M@0x41000000-0x42000000").area!;
    expect(ranged.base >= 0x41000000 && ranged.end <= 0x42000000).toBe(true);
    const limited = reserve("", { limit: 0x41000000 }).area!;
    expect(limited.end).toBeLessThanOrEqual(0x41000000);
    const cmdEnd = reserve("cma=4M@0-0x42000000", { limit: 0x41000000 }).area!;
    expect(cmdEnd.end).toBe(0x42000000); // the command line's end wins over the platform limit
  });

  it("keeps an existing default area; reports a failed reservation", () => {
    bootCma({
      setup: (k) => {
        const dt = cmaDeclareContiguous(k, { size: 8 * SZ_1M, name: "dt" });
        dmaContiguousReserve(k); // reserves "reserved"
        expect(dmaContiguousDefaultArea(k)?.name).toBe("reserved");
        expect(dmaContiguousReserve(k)?.name).toBe("reserved");
        expect(dt.name).toBe("dt");
      },
    });
    bootCma({
      cmdline: "cma=8M@0x41000000",
      setup: (k, mm) => {
        mm.memblock.reserve(0x41000000, SZ_1M, "firmware");
        expect(() => dmaContiguousReserve(k)).toThrow(kerr("EBUSY"));
        expect(dmaContiguousDefaultArea(k)).toBeNull();
      },
    });
  });
});

function devices(opts: { alignmentOrder?: number } = {}) {
  let own: CmaRegion | undefined;
  const { kernel, mm } = bootCma({
    size: 64 * SZ_1M,
    ...opts,
    setup: (k) => {
      dmaContiguousReserve(k);
      own = cmaDeclareContiguous(k, { size: 8 * SZ_1M, name: "camera" });
    },
  });
  const plain = new Device(kernel, { name: "plain" });
  const cam = new Device(kernel, { name: "fimc0" });
  devSetCmaArea(cam, own!);
  return { kernel, mm, plain, cam, own: own!, def: dmaContiguousDefaultArea(kernel)! };
}

describe("device areas and dma_alloc_from_contiguous", () => {
  it("a device uses its own area, else the default one", () => {
    const { plain, cam, own, def } = devices();
    expect(devGetCmaArea(plain)).toBe(def);
    expect(devGetCmaArea(cam)).toBe(own);
    expect(devGetCmaArea(null)).toBeNull();
    const p = dmaAllocFromContiguous(cam, 16, 0)!;
    expect(p >= own.basePfn && p < own.basePfn + own.count).toBe(true);
    const q = dmaAllocFromContiguous(plain, 16, 0)!;
    expect(q >= def.basePfn && q < def.basePfn + def.count).toBe(true);
    expect(dmaReleaseFromContiguous(plain, p, 16)).toBe(false); // not the default area's pages
    expect(dmaReleaseFromContiguous(cam, p, 16)).toBe(true);
    devSetCmaArea(cam, null);
    expect(devGetCmaArea(cam)).toBe(def);
  });

  it("clamps the alignment to CONFIG_CMA_ALIGNMENT", () => {
    const { plain, kernel } = devices({ alignmentOrder: 4 });
    const rec = recordAll(kernel);
    dmaAllocFromContiguous(plain, 1, 0);
    const p = dmaAllocFromContiguous(plain, 64, 10)!;
    expect(p % 16).toBe(0);
    expect(p % 1024).not.toBe(0);
    expect(rec.of("cma_alloc_start")[1]).toMatchObject({ count: 64, align: 4 });
  });

  it("null when no area exists", () => {
    const { kernel } = bootCma({ sizeMbytes: 0 });
    expect(dmaAllocFromContiguous(new Device(kernel, { name: "x" }), 1, 0)).toBeNull();
    expect(dmaReleaseFromContiguous(new Device(kernel, { name: "y" }), 0x40000, 1)).toBe(false);
  });
});

describe("dma_alloc_contiguous / dma_free_contiguous", () => {
  it("refuses non-blocking allocations and single pages without an own area", () => {
    const { plain, cam, own } = devices();
    expect(dmaAllocContiguous(plain, SZ_1M, GFP_ATOMIC)).toBeNull();
    expect(dmaAllocContiguous(plain, SZ_4K)).toBeNull();
    expect(dmaAllocContiguous(plain, 100)).toBeNull();
    const one = dmaAllocContiguous(cam, SZ_4K)!;
    expect(one >= own.basePfn).toBe(true);
  });

  it("aligns to the order of the size, capped at CONFIG_CMA_ALIGNMENT; frees back to the right place", () => {
    const { mm, kernel, plain, cam, def } = devices();
    const rec = recordAll(kernel);
    const frame = 3_110_400;
    const p = dmaAllocContiguous(plain, frame)!;
    expect(rec.of("cma_alloc_start")[0]).toEqual({
      name: "reserved",
      count: 760,
      align: Math.min(getOrder(frame), 8),
    });
    expect(p % 256).toBe(0);
    expect(mm.frames.ownerOf(p)).toBe("cma:reserved:plain");
    const q = dmaAllocContiguous(cam, 2 * SZ_1M, GFP_KERNEL | __GFP_NOWARN)!;
    dmaFreeContiguous(plain, p, frame);
    expect(def.availableCount).toBe(def.count);
    dmaFreeContiguous(cam, q, 2 * SZ_1M);
    // not CMA memory: back to the page allocator
    const b = mm.buddy.allocPages(3, GFP_KERNEL)!;
    dmaFreeContiguous(cam, b, 8 * PAGE_SIZE);
    expect(mm.buddy.isFree(b)).toBe(true);
    expect(dmaAllocContiguous(plain, 64 * SZ_1M, GFP_KERNEL | __GFP_NOWARN)).toBeNull();
    expect(rec.of("cma_warn")).toHaveLength(0);
    expect(dmaAllocContiguous(plain, 17 * SZ_1M)).toBeNull();
    expect(rec.of("cma_warn")).toHaveLength(1);
  });
});
