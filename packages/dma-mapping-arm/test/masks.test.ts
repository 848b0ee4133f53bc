// Masks (dma_set_mask and dma_direct_supported), segment limits, dma_mapping_error, and the
// dma_map_ops seam (Arnd's item 3): one API, dispatching to dma-direct, to the IOMMU ops, or to any
// table a platform installs, with the kernel's behaviour for the members a table leaves out.

import { Device, DMA_BIT_MASK, PAGE_SIZE, SZ_1M, SZ_4K, SZ_16M, SZ_64K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  type DmaMapOps,
  dmaAllocCoherent,
  dmaCanMmap,
  dmaDirectGetRequiredMask,
  dmaFreeCoherent,
  dmaGetMask,
  dmaGetMaxSegSize,
  dmaGetSegBoundary,
  dmaGetSgtable,
  dmaMapPage,
  dmaMappingError,
  dmaMapResource,
  dmaMapSgtable,
  dmaMaxMappingSize,
  dmaSetCoherentMask,
  dmaSetMask,
  dmaSetMaskAndCoherent,
  dmaSetMaxSegSize,
  dmaSetSegBoundary,
  dmaSupported,
  dmaUnmapPage,
  dmaUnmapSgtable,
  getDmaOps,
  SIZE_MAX,
  setDmaOps,
  sgAllocTableFromPages,
} from "../src/index.js";
import { ARM_DMA_OPS, ARM_IOMMU_OPS, getDmaOps as getOpsFromOpsEntry } from "../src/ops.js";
import { boot, DRAM, directDevice, expectNoAliases, sysmmuDevice } from "./helpers.js";
import { mapToUser } from "./user.js";

afterEach(expectNoAliases);

describe("DMA masks", () => {
  it("a direct device takes any mask of 32 bits or more, and a smaller one that covers all RAM", () => {
    const r = boot(); // RAM 0x40000000..0x44000000
    const { dev } = directDevice(r, "fimc0");
    dmaSetMask(dev, DMA_BIT_MASK(64));
    expect(dev.dmaMask).toBe(DMA_BIT_MASK(64));
    dmaSetMask(dev, DMA_BIT_MASK(31));
    expect(dmaGetMask(dev)).toBe(DMA_BIT_MASK(31));
    expect(dmaDirectGetRequiredMask(dev)).toBe(DMA_BIT_MASK(31));
  });

  it("EIO for a mask below the last page of RAM with no DMA zone, and the mask stays", () => {
    const r = boot();
    const { dev } = directDevice(r, "isa", { dmaPfnOffset: DRAM / PAGE_SIZE });
    expect(() => dmaSetMask(dev, DMA_BIT_MASK(24))).toThrow(
      kerr("EIO", /mask 0xffffff is not supported by arm-dma-direct/),
    );
    expect(dev.dmaMask).toBe(DMA_BIT_MASK(32));
    expect(() => dmaSetCoherentMask(dev, DMA_BIT_MASK(24))).toThrow(kerr("EIO"));
    expect(() => dmaSetMaskAndCoherent(dev, DMA_BIT_MASK(24))).toThrow(kerr("EIO"));
    expect(dev.coherentDmaMask).toBe(DMA_BIT_MASK(32));
  });

  it("a 24-bit mask is supported when ZONE_DMA ends within it (bus 0 = start of RAM)", () => {
    const r = boot({ dmaZoneSize: SZ_16M });
    const { dev } = directDevice(r, "isa", { dmaPfnOffset: DRAM / PAGE_SIZE });
    expect(dmaSupported(dev, DMA_BIT_MASK(24))).toBe(true);
    expect(dmaSupported(dev, DMA_BIT_MASK(23))).toBe(false);
    dmaSetMaskAndCoherent(dev, DMA_BIT_MASK(24));
    expect([dev.dmaMask, dev.coherentDmaMask]).toEqual([0xffffff, 0xffffff]);
    // and coherent memory then comes from ZONE_DMA when there is no CMA
    const nocma = boot({ dmaZoneSize: SZ_16M, cmaMiB: 0 });
    const isa = directDevice(nocma, "isa", { dmaPfnOffset: DRAM / PAGE_SIZE }).dev;
    dmaSetMaskAndCoherent(isa, DMA_BIT_MASK(24));
    const buf = dmaAllocCoherent(isa, SZ_64K)!;
    expect(buf.dmaAddr + SZ_64K - 1).toBeLessThanOrEqual(0xffffff);
    dmaFreeCoherent(isa, SZ_64K, buf.cpuAddr, buf.dmaAddr);
  });

  it("a device without a DMA mask cannot get one (EIO)", () => {
    const r = boot();
    const { dev } = directDevice(r, "nodma", { dmaMask: null });
    expect(() => dmaSetMask(dev, DMA_BIT_MASK(32))).toThrow(kerr("EIO", /no dma_mask/));
    expect(dmaGetMask(dev)).toBe(DMA_BIT_MASK(32));
  });

  it("a device behind an IOMMU takes any mask", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "fimc0");
    dmaSetMaskAndCoherent(dev, DMA_BIT_MASK(16));
    expect(dev.dmaMask).toBe(0xffff);
  });

  it("rejects something that is not a mask with EINVAL", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimc0");
    expect(() => dmaSetMask(dev, -1)).toThrow(kerr("EINVAL"));
    expect(() => dmaSetCoherentMask(dev, Number.NaN)).toThrow(kerr("EINVAL"));
  });
});

describe("segment limits and mapping sizes", () => {
  it("max segment size: 64 KiB by default, settable, EINVAL outside 1..2^32-1", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimc0");
    expect(dmaGetMaxSegSize(dev)).toBe(SZ_64K);
    dmaSetMaxSegSize(dev, SZ_1M);
    expect(dmaGetMaxSegSize(dev)).toBe(SZ_1M);
    expect(() => dmaSetMaxSegSize(dev, 0)).toThrow(kerr("EINVAL"));
    expect(() => dmaSetMaxSegSize(dev, 2 ** 32)).toThrow(kerr("EINVAL"));
  });

  it("segment boundary: ULONG_MAX by default, settable to 2^n - 1 only", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimc0");
    expect(dmaGetSegBoundary(dev)).toBe(0xffffffff);
    dmaSetSegBoundary(dev, SZ_16M - 1);
    expect(dmaGetSegBoundary(dev)).toBe(0xffffff);
    expect(() => dmaSetSegBoundary(dev, 0x1234)).toThrow(kerr("EINVAL"));
    expect(() => dmaSetSegBoundary(dev, 0xff)).toThrow(kerr("EINVAL"));
  });

  it("dma_max_mapping_size is SIZE_MAX without swiotlb and behind an IOMMU", () => {
    const r = boot();
    expect(dmaMaxMappingSize(directDevice(r, "a").dev)).toBe(SIZE_MAX);
    expect(dmaMaxMappingSize(sysmmuDevice(r, "b").dev)).toBe(SIZE_MAX);
  });

  it("dma_mapping_error: -ENOMEM for DMA_MAPPING_ERROR, 0 for an address", () => {
    const r = boot();
    const { dev } = directDevice(r, "a");
    expect(dmaMappingError(dev, DMA_MAPPING_ERROR)).toBe(-12);
    expect(dmaMappingError(dev, 0)).toBe(0);
    expect(dmaMappingError(dev, 0x4000_0000)).toBe(0);
  });
});

describe("the dma_map_ops seam", () => {
  it("null ops means dma-direct; arm_iommu_attach_device installs the IOMMU ops; both exported from ./ops", () => {
    const r = boot();
    const a = directDevice(r, "a").dev;
    const b = sysmmuDevice(r, "b").dev;
    expect(getDmaOps(a)).toBeNull();
    expect(getDmaOps(b)).toBe(ARM_IOMMU_OPS);
    expect(getOpsFromOpsEntry(a) ?? ARM_DMA_OPS).toBe(ARM_DMA_OPS);
    expect(dmaCanMmap(a) && dmaCanMmap(b)).toBe(true);
  });

  it("a platform's own table: absent members behave as the kernel's core (null, ENXIO, entry-by-entry sg, any mask)", () => {
    const r = boot();
    const dev = new Device(r.kernel, { name: "custom" });
    const calls: string[] = [];
    const mini: DmaMapOps = Object.freeze({
      name: "mini",
      mapPage: (_d, pfn, offset) => {
        calls.push("map");
        return 0x8000_0000 + pfn * PAGE_SIZE + offset;
      },
      unmapPage: () => {
        calls.push("unmap");
      },
    } satisfies DmaMapOps);
    setDmaOps(dev, mini);
    const pfn = r.mm.buddy.allocPages(1, GFP_KERNEL)!;
    const addr = dmaMapPage(dev, pfn, 4, 100, DMA_TO_DEVICE);
    expect(addr).toBe(0x8000_0000 + pfn * PAGE_SIZE + 4);
    dmaUnmapPage(dev, addr, 100, DMA_TO_DEVICE);
    expect(dmaAllocCoherent(dev, SZ_4K)).toBeNull();
    expect(dmaMapResource(dev, 0x1000_0000, 4, DMA_TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
    expect(() => dmaGetSgtable(dev, 0xc000_0000, 0, SZ_4K)).toThrow(kerr("ENXIO"));
    expect(dmaCanMmap(dev)).toBe(false);
    expect(() => mapToUser(r, dev, { cpuAddr: 0xc000_0000, dmaAddr: 0 }, SZ_4K)).toThrow(kerr("ENXIO"));
    expect(dmaSupported(dev, 1)).toBe(true);
    expect(dmaMaxMappingSize(dev)).toBe(SIZE_MAX);
    const sgt = sgAllocTableFromPages([pfn, pfn + 1], 0, 2 * SZ_4K, SZ_4K);
    dmaMapSgtable(dev, sgt, DMA_TO_DEVICE);
    expect(sgt.nents).toBe(2);
    dmaUnmapSgtable(dev, sgt, DMA_TO_DEVICE);
    expect(calls).toEqual(["map", "unmap", "map", "map", "unmap", "unmap"]);
    setDmaOps(dev, null);
    expect(getDmaOps(dev)).toBeNull();
  });
});
