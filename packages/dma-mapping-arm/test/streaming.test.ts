// Streaming DMA (dma_map_single / dma_map_page / dma_map_resource and their syncs) on a direct
// device and on a device behind an Exynos SysMMU: the device sees the CPU's bytes only after the
// sync for the device, the CPU sees the device's only after the sync for the CPU, and the
// coherency checker names the missing maintenance otherwise.

import { iommuIovaToPhys } from "@umm/iommu-core";
import { DMA_BIT_MASK, KernelBug, PAGE_SIZE, SZ_1M, SZ_4K, TraceRecorder } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_NONE,
  DMA_TO_DEVICE,
  type DmaDataDirection,
  dmaMapPage,
  dmaMappingError,
  dmaMapResource,
  dmaMapSingle,
  dmaSyncSingleForCpu,
  dmaSyncSingleForDevice,
  dmaSyncSingleRangeForCpu,
  dmaSyncSingleRangeForDevice,
  dmaUnmapPage,
  dmaUnmapResource,
  dmaUnmapSingle,
} from "../src/index.js";
import {
  boot,
  cpuRead,
  DRAM,
  devRead,
  directDevice,
  expectNoAliases,
  IOVA_BASE,
  mem,
  pattern,
  type Rig,
  sysmmuDevice,
} from "./helpers.js";

afterEach(expectNoAliases);

const DRAM_PFN = 0x40000;

/** A buffer of `pages` pages in the linear map (kmalloc-like): its K.V and P.A. */
function kbuf(r: Rig, order = 0): { va: number; pa: number; pfn: number } {
  const pfn = r.mm.buddy.allocPages(order, GFP_KERNEL, { tag: "driver buffer" })!;
  return { pfn, pa: pfn * PAGE_SIZE, va: r.mm.kspace.physToVirt(pfn * PAGE_SIZE) };
}

const kinds = [
  { name: "direct device", make: (r: Rig) => directDevice(r, "fimc0") },
  { name: "SysMMU device", make: (r: Rig) => sysmmuDevice(r, "fimc0") },
] as const;

for (const kind of kinds) {
  describe(`streaming DMA on a ${kind.name}`, () => {
    it("map(TO_DEVICE) cleans: the device reads what the CPU wrote", () => {
      const r = boot();
      const { dev, port } = kind.make(r);
      const b = kbuf(r);
      const data = pattern(1000, 1);
      r.cpu.write(r.mm.kspace, b.va + 24, data);
      const addr = dmaMapSingle(dev, b.va + 24, 1000, DMA_TO_DEVICE);
      expect(dmaMappingError(dev, addr)).toBe(0);
      expect(firstDiff(devRead(port, addr, 1000), data)).toBe(-1);
      dmaUnmapSingle(dev, addr, 1000, DMA_TO_DEVICE);
      expect(r.cpu.checker.total).toBe(0);
    });

    it("sync_for_device: the device sees the CPU's new bytes after it, and a dirty-read hazard without it", () => {
      const r = boot();
      const { dev, port } = kind.make(r);
      const b = kbuf(r);
      const addr = dmaMapPage(dev, b.pfn, 0, SZ_4K, DMA_TO_DEVICE);
      // the driver refills the buffer while it is mapped, and forgets to hand it back
      const first = pattern(SZ_4K, 2);
      r.cpu.write(r.mm.kspace, b.va, first);
      const stale = devRead(port, addr, SZ_4K);
      expect(firstDiff(stale, first)).not.toBe(-1);
      expect(r.cpu.checker.counts()["dirty-read"]).toBe(1);
      expect(r.cpu.checker.reports[0]!.missing).toMatch(/clean/);
      // with the sync the device sees them
      dmaSyncSingleForDevice(dev, addr, SZ_4K, DMA_TO_DEVICE);
      expect(firstDiff(devRead(port, addr, SZ_4K), first)).toBe(-1);
      expect(r.cpu.checker.counts()["dirty-read"]).toBe(1);
      dmaUnmapPage(dev, addr, SZ_4K, DMA_TO_DEVICE);
    });

    it("sync_for_cpu: the CPU sees the device's bytes after it, stale data and a stale-read hazard without it", () => {
      const r = boot();
      const { dev, port } = kind.make(r);
      const b = kbuf(r);
      const addr = dmaMapPage(dev, b.pfn, 0, SZ_4K, DMA_FROM_DEVICE);
      cpuRead(r, b.va, SZ_4K); // a bad driver peeks while the device owns the buffer: lines cached
      const data = pattern(SZ_4K, 3);
      port.write(addr, data);
      const stale = cpuRead(r, b.va, SZ_4K);
      expect(firstDiff(stale, data)).not.toBe(-1);
      expect(r.cpu.checker.counts()["stale-read"]).toBe(1);
      dmaSyncSingleForCpu(dev, addr, SZ_4K, DMA_FROM_DEVICE);
      expect(firstDiff(cpuRead(r, b.va, SZ_4K), data)).toBe(-1);
      dmaUnmapPage(dev, addr, SZ_4K, DMA_FROM_DEVICE);
      expect(firstDiff(cpuRead(r, b.va, SZ_4K), data)).toBe(-1);
      expect(r.cpu.checker.counts()["stale-read"]).toBe(1);
    });

    it("map(FROM_DEVICE) invalidates: dirty CPU lines cannot overwrite the device's data later", () => {
      const r = boot();
      const { dev, port } = kind.make(r);
      const b = kbuf(r);
      r.cpu.fill(r.mm.kspace, b.va, 0xaa, SZ_4K); // dirty lines
      const addr = dmaMapSingle(dev, b.va, SZ_4K, DMA_FROM_DEVICE);
      const data = pattern(SZ_4K, 4);
      port.write(addr, data);
      dmaUnmapSingle(dev, addr, SZ_4K, DMA_FROM_DEVICE);
      expect(firstDiff(cpuRead(r, b.va, SZ_4K), data)).toBe(-1);
      expect(r.cpu.checker.total).toBe(0);
    });

    it("BIDIRECTIONAL: clean for the device, invalidate for the CPU, a round trip over 1 MiB", () => {
      const r = boot();
      const { dev, port } = kind.make(r);
      const b = kbuf(r, 8);
      const out = pattern(SZ_1M, 5);
      r.cpu.write(r.mm.kspace, b.va, out);
      const addr = dmaMapSingle(dev, b.va, SZ_1M, DMA_BIDIRECTIONAL);
      expect(firstDiff(devRead(port, addr, SZ_1M), out)).toBe(-1);
      const back = pattern(SZ_1M, 6);
      port.write(addr, back);
      dmaSyncSingleForCpu(dev, addr, SZ_1M, DMA_BIDIRECTIONAL);
      expect(firstDiff(cpuRead(r, b.va, SZ_1M), back)).toBe(-1);
      r.cpu.write(r.mm.kspace, b.va + 100, out.subarray(0, 100));
      dmaSyncSingleRangeForDevice(dev, addr, 100, 100, DMA_BIDIRECTIONAL);
      expect(firstDiff(devRead(port, addr + 100, 100), out.subarray(0, 100))).toBe(-1);
      port.write(addr + 4096, out.subarray(0, 64));
      dmaSyncSingleRangeForCpu(dev, addr, 4096, 64, DMA_BIDIRECTIONAL);
      expect(firstDiff(cpuRead(r, b.va + 4096, 64), out.subarray(0, 64))).toBe(-1);
      dmaUnmapSingle(dev, addr, SZ_1M, DMA_BIDIRECTIONAL);
      expect(r.cpu.checker.total).toBe(0);
    });

    it("DMA_ATTR_SKIP_CPU_SYNC: no maintenance at map, the explicit sync does it", () => {
      const r = boot();
      const { dev, port } = kind.make(r);
      const b = kbuf(r);
      const data = pattern(256, 7);
      r.cpu.write(r.mm.kspace, b.va, data);
      const addr = dmaMapSingle(dev, b.va, 256, DMA_TO_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
      devRead(port, addr, 256);
      expect(r.cpu.checker.counts()["dirty-read"]).toBe(1);
      dmaSyncSingleForDevice(dev, addr, 256, DMA_TO_DEVICE);
      expect(firstDiff(devRead(port, addr, 256), data)).toBe(-1);
      dmaUnmapSingle(dev, addr, 256, DMA_TO_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    });

    it("a coherent device needs no maintenance: map does none", () => {
      const r = boot();
      const { dev } = kind.make(r);
      dev.dmaCoherent = true;
      const b = kbuf(r);
      r.cpu.write(r.mm.kspace, b.va, pattern(64, 8));
      const rec = new TraceRecorder(r.kernel.trace, { events: ["cpu_cache_maint"] });
      const addr = dmaMapSingle(dev, b.va, 64, DMA_TO_DEVICE);
      dmaSyncSingleForCpu(dev, addr, 64, DMA_TO_DEVICE);
      dmaUnmapSingle(dev, addr, 64, DMA_TO_DEVICE);
      expect(rec.records()).toEqual([]);
    });

    it("a bad direction is a KernelBug, before anything is mapped", () => {
      const r = boot();
      const { dev } = kind.make(r);
      const b = kbuf(r);
      expect(() => dmaMapSingle(dev, b.va, 64, DMA_NONE)).toThrow(KernelBug);
      expect(() => dmaMapPage(dev, b.pfn, 0, 64, 7 as DmaDataDirection)).toThrow(KernelBug);
      expect(() => dmaSyncSingleForCpu(dev, 0, 64, DMA_NONE)).toThrow(KernelBug);
      expect(() => dmaUnmapPage(dev, 0, 64, DMA_NONE)).toThrow(KernelBug);
    });

    it("rejects a size 0, memory that is not RAM, and an address outside the linear map with EINVAL", () => {
      const r = boot();
      const { dev } = kind.make(r);
      const b = kbuf(r);
      expect(() => dmaMapSingle(dev, b.va, 0, DMA_TO_DEVICE)).toThrow(kerr("EINVAL", /size 0/));
      expect(() => dmaMapPage(dev, 0x10, 0, 64, DMA_TO_DEVICE)).toThrow(kerr("EINVAL", /not RAM/));
      expect(() => dmaMapSingle(dev, 0x1000, 64, DMA_TO_DEVICE)).toThrow(kerr("EINVAL", /linear-map/));
    });

    it("emits dma_map_page / dma_unmap_page / dma_sync_single_* with the kernel's fields", () => {
      const r = boot();
      const { dev } = kind.make(r);
      const b = kbuf(r);
      const rec = new TraceRecorder(r.kernel.trace);
      const addr = dmaMapPage(dev, b.pfn, 16, 100, DMA_TO_DEVICE);
      dmaSyncSingleForDevice(dev, addr, 100, DMA_TO_DEVICE);
      dmaSyncSingleForCpu(dev, addr, 100, DMA_TO_DEVICE);
      dmaUnmapPage(dev, addr, 100, DMA_TO_DEVICE);
      expect(rec.of("dma_map_page").map((x) => x.data)).toEqual([
        { device: "fimc0", phys_addr: b.pa + 16, dma_addr: addr, size: 100, dir: "TO_DEVICE", attrs: 0 },
      ]);
      expect(rec.of("dma_sync_single_for_device")[0]!.data).toEqual({
        device: "fimc0",
        dma_addr: addr,
        size: 100,
        dir: "TO_DEVICE",
      });
      expect(rec.of("dma_sync_single_for_cpu")).toHaveLength(1);
      expect(rec.of("dma_unmap_page")[0]!.data).toEqual({
        device: "fimc0",
        addr,
        size: 100,
        dir: "TO_DEVICE",
        attrs: 0,
      });
    });
  });
}

describe("streaming DMA: direct specifics", () => {
  it("the bus address is the physical address minus dmaPfnOffset pages", () => {
    const r = boot();
    const { dev, port } = directDevice(r, "isa", { dmaPfnOffset: DRAM_PFN });
    const b = kbuf(r);
    const addr = dmaMapPage(dev, b.pfn, 8, 64, DMA_FROM_DEVICE);
    expect(addr).toBe(b.pa - 0x40000000 + 8);
    port.write(addr, pattern(64, 9));
    dmaUnmapPage(dev, addr, 64, DMA_FROM_DEVICE);
    expect(firstDiff(cpuRead(r, b.va + 8, 64), pattern(64, 9))).toBe(-1);
  });

  it("memory beyond the mask with no swiotlb: DMA_MAPPING_ERROR, a dma_warn, dmaMappingError -ENOMEM", () => {
    const r = boot();
    const { dev } = directDevice(r, "narrow", { dmaMask: DMA_BIT_MASK(30) });
    const rec = new TraceRecorder(r.kernel.trace, { events: ["dma_warn"] });
    const b = kbuf(r);
    const addr = dmaMapSingle(dev, b.va, 64, DMA_TO_DEVICE);
    expect(addr).toBe(DMA_MAPPING_ERROR);
    expect(dmaMappingError(dev, addr)).toBe(-12);
    expect(rec.of("dma_warn")[0]!.data.message).toMatch(/DMA addr 0x.* overflow \(mask 0x3fffffff/);
  });

  it("a device without a DMA mask cannot map", () => {
    const r = boot();
    const { dev } = directDevice(r, "nodma", { dmaMask: null });
    const b = kbuf(r);
    expect(dmaMapSingle(dev, b.va, 64, DMA_TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
  });

  it("a vmalloc address is refused with DMA_MAPPING_ERROR and a warning", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimc0");
    const va = r.mm.kspace.vmalloc(SZ_4K);
    const rec = new TraceRecorder(r.kernel.trace, { events: ["dma_warn"] });
    expect(dmaMapSingle(dev, va, 64, DMA_TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
    expect(rec.of("dma_warn")[0]!.data.message).toBe("rejecting DMA map of vmalloc memory");
  });

  it("unmap and sync of an address that is not RAM are EINVAL", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimc0");
    expect(() => dmaUnmapPage(dev, 0x1000, 64, DMA_TO_DEVICE)).toThrow(kerr("EINVAL", /not RAM/));
    expect(() => dmaSyncSingleForCpu(dev, 0x1000, 64, DMA_FROM_DEVICE)).toThrow(kerr("EINVAL", /not RAM/));
  });

  it("map_resource: an MMIO address maps to itself for a direct device; RAM is refused", () => {
    const r = boot();
    const { dev } = directDevice(r, "pl330");
    expect(dmaMapResource(dev, 0x12680000, 64, DMA_TO_DEVICE)).toBe(0x12680000);
    dmaUnmapResource(dev, 0x12680000, 64, DMA_TO_DEVICE);
    expect(dmaMapResource(dev, DRAM, 64, DMA_TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
  });
});

describe("streaming DMA: SysMMU specifics", () => {
  it("maps bottom-up from the window's base, with the page offset kept, and unmaps from the page table", () => {
    const r = boot();
    const { dev, mapping } = sysmmuDevice(r, "fimc0");
    const b = kbuf(r);
    const addr = dmaMapPage(dev, b.pfn, 0x123, 0x100, DMA_TO_DEVICE);
    expect(addr).toBe(IOVA_BASE + 0x123);
    expect(iommuIovaToPhys(mapping.domain, addr)).toBe(b.pa + 0x123);
    expect(mapping.usedPages).toBe(1);
    dmaUnmapPage(dev, addr, 0x100, DMA_TO_DEVICE);
    expect(iommuIovaToPhys(mapping.domain, addr)).toBe(0);
    expect(mapping.usedPages).toBe(0);
  });

  it("a map spanning pages maps each, and the device reaches them through the SysMMU's tables", () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "fimc0");
    const b = kbuf(r, 2);
    const data = pattern(3 * SZ_4K, 10);
    r.cpu.write(r.mm.kspace, b.va + 100, data);
    const addr = dmaMapSingle(dev, b.va + 100, data.length, DMA_TO_DEVICE);
    expect(firstDiff(devRead(port, addr, data.length), data)).toBe(-1);
    dmaUnmapSingle(dev, addr, data.length, DMA_TO_DEVICE);
    expect(() => devRead(port, addr, 4)).toThrow(/FAULT/);
  });

  it("the device's DMA reaches nothing once unmapped; an unknown IOVA is EINVAL at unmap", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "fimc0");
    expect(() => dmaUnmapPage(dev, IOVA_BASE + 0x5000, 64, DMA_TO_DEVICE)).toThrow(
      kerr("EINVAL", /not a live page mapping/),
    );
  });

  it("map_resource maps an MMIO page into the IOVA window", () => {
    const r = boot();
    const { dev, mapping } = sysmmuDevice(r, "g2d");
    const addr = dmaMapResource(dev, 0x12680010, 16, DMA_FROM_DEVICE);
    expect(addr % SZ_4K).toBe(0x10);
    expect(iommuIovaToPhys(mapping.domain, addr)).toBe(0x12680010);
    dmaUnmapResource(dev, addr, 16, DMA_FROM_DEVICE);
    expect(mapping.liveRanges).toBe(0);
  });

  it("ownership with the IOMMU: a write by the device is seen by the CPU only after unmap", () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "fimc0");
    const b = kbuf(r);
    const addr = dmaMapSingle(dev, b.va, SZ_4K, DMA_FROM_DEVICE);
    port.write(addr, pattern(SZ_4K, 11));
    expect(firstDiff(mem(r, b.pa, SZ_4K), pattern(SZ_4K, 11))).toBe(-1);
    dmaUnmapSingle(dev, addr, SZ_4K, DMA_FROM_DEVICE);
    expect(firstDiff(cpuRead(r, b.va, SZ_4K), pattern(SZ_4K, 11))).toBe(-1);
  });
});
