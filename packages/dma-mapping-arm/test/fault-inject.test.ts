// The two fault-injection sites of the DMA mapping layer: the ARM IOMMU bitmap allocator
// ("iova") and swiotlb's slots ("swiotlb"). Each failure is the API's own: DMA_MAPPING_ERROR, a
// null allocation, ENOMEM from dmaMapSgtable — and nothing is left mapped or allocated.

import { iommuIovaToPhys } from "@umm/iommu-core";
import { DMA_BIT_MASK, faultInjectSet, PAGE_SIZE, SZ_1M, SZ_4K, SZ_16M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  DMA_BIDIRECTIONAL,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  dmaAllocCoherent,
  dmaFreeCoherent,
  dmaMappingError,
  dmaMapSgtable,
  dmaMapSingle,
  dmaSetMask,
  dmaUnmapSgtable,
  dmaUnmapSingle,
  sgAllocTableFromPages,
  swiotlbStats,
} from "../src/index.js";
import {
  boot,
  DRAM,
  devRead,
  directDevice,
  expectNoAliases,
  IOVA_BASE,
  pattern,
  sysmmuDevice,
} from "./helpers.js";

afterEach(expectNoAliases);

describe('fault injection site "iova" (the ARM IOMMU bitmap allocator)', () => {
  it("a map, an sg map and a coherent allocation each fail cleanly at the injected IOVA allocation", () => {
    const r = boot();
    const { dev, mapping } = sysmmuDevice(r, "fimc0");
    const pfn = r.mm.buddy.allocPages(2, GFP_KERNEL)!;
    const va = r.mm.kspace.physToVirt(pfn * PAGE_SIZE);
    const free = r.mm.buddy.nrFreePages;

    faultInjectSet(r.kernel, "iova", { failNth: 1 });
    const bad = dmaMapSingle(dev, va, SZ_4K, DMA_TO_DEVICE);
    expect(bad).toBe(DMA_MAPPING_ERROR);
    expect(dmaMappingError(dev, bad)).not.toBe(0);
    expect(mapping.usedPages).toBe(0);
    expect(mapping.liveRanges).toBe(0);

    const sgt = sgAllocTableFromPages([pfn, pfn + 1, pfn + 2], 0, 3 * SZ_4K);
    faultInjectSet(r.kernel, "iova", { failNth: 1 });
    expect(() => dmaMapSgtable(dev, sgt, DMA_BIDIRECTIONAL)).toThrow(kerr("ENOMEM", /IOVA/));
    expect(mapping.usedPages).toBe(0);
    expect(iommuIovaToPhys(mapping.domain, IOVA_BASE)).toBe(0);

    faultInjectSet(r.kernel, "iova", { failNth: 1 });
    expect(dmaAllocCoherent(dev, 8 * SZ_4K)).toBeNull();
    expect(r.mm.buddy.nrFreePages).toBe(free); // the pages went back
    expect(mapping.usedPages).toBe(0);

    // one-shot: everything works again, from the bottom of the window
    const ok = dmaMapSingle(dev, va, SZ_4K, DMA_TO_DEVICE);
    expect(ok).toBe(IOVA_BASE);
    dmaUnmapSingle(dev, ok, SZ_4K, DMA_TO_DEVICE);
    dmaMapSgtable(dev, sgt, DMA_BIDIRECTIONAL);
    dmaUnmapSgtable(dev, sgt, DMA_BIDIRECTIONAL);
    const buf = dmaAllocCoherent(dev, 8 * SZ_4K)!;
    dmaFreeCoherent(dev, 8 * SZ_4K, buf.cpuAddr, buf.dmaAddr);
    expect(mapping.usedPages).toBe(0);
    r.mm.buddy.freePages(pfn, 2);
    expect(r.mm.buddy.nrFreePages).toBe(free + 4);
  });
});

describe('fault injection site "swiotlb"', () => {
  it("a bounce that gets no slot is DMA_MAPPING_ERROR; no slot stays taken", () => {
    const r = boot({ dmaZoneSize: SZ_16M, swiotlb: { size: SZ_1M, belowPhys: DRAM + SZ_16M } });
    const { dev, port } = directDevice(r, "isa-dma", { dmaPfnOffset: DRAM / PAGE_SIZE });
    dmaSetMask(dev, DMA_BIT_MASK(24));
    // a page above 16 MiB of bus space: the device cannot reach it, so it bounces
    const high = r.mm.buddy.allocPages(0, GFP_KERNEL)!;
    expect((high - DRAM / PAGE_SIZE) * PAGE_SIZE).toBeGreaterThanOrEqual(SZ_16M);
    const va = r.mm.kspace.physToVirt(high * PAGE_SIZE);
    const data = pattern(64, 7);
    r.cpu.write(r.mm.kspace, va, data);

    faultInjectSet(r.kernel, "swiotlb", { failNth: 1 });
    const bad = dmaMapSingle(dev, va, 64, DMA_TO_DEVICE);
    expect(bad).toBe(DMA_MAPPING_ERROR);
    expect(swiotlbStats(r.kernel).io_tlb_used).toBe(0);

    const ok = dmaMapSingle(dev, va, 64, DMA_TO_DEVICE);
    expect(ok).not.toBe(DMA_MAPPING_ERROR);
    expect(swiotlbStats(r.kernel).io_tlb_used).toBe(1);
    expect([...devRead(port, ok, 64)]).toEqual([...data]); // the bounce carries the bytes
    dmaUnmapSingle(dev, ok, 64, DMA_TO_DEVICE);
    expect(swiotlbStats(r.kernel).io_tlb_used).toBe(0);
    r.mm.buddy.freePages(high, 0);
  });
});
