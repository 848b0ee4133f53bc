// swiotlb: seeds/001's 24-bit masters ("Are any of the target devices 24 bit dma clients?
// (Crossing a 16MB boundary would then not work...)") get their buffers bounced through a pool
// below 16 MiB of bus address space, with correct data both ways, never an address above
// 16 MiB, never a bounce buffer across a 16 MiB boundary, and an error — not corruption — when
// the pool is full.

import {
  DMA_BIT_MASK,
  PAGE_SIZE,
  SZ_1M,
  SZ_4K,
  SZ_16M,
  SZ_64K,
  SZ_256K,
  TraceRecorder,
} from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { GFP_DMA, GFP_KERNEL } from "@umm/mm-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  DMA_ATTR_NO_WARN,
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  dmaMapPage,
  dmaMappingError,
  dmaMapSgtable,
  dmaMapSingle,
  dmaMaxMappingSize,
  dmaSetMask,
  dmaSetSegBoundary,
  dmaSyncSingleForCpu,
  dmaSyncSingleForDevice,
  dmaUnmapPage,
  dmaUnmapSgtable,
  dmaUnmapSingle,
  IO_TLB_SIZE,
  isSwiotlbBuffer,
  SIZE_MAX,
  sgAllocTableFromPages,
  swiotlbInit,
  swiotlbRange,
  swiotlbStats,
} from "../src/index.js";
import { boot, cpuRead, DRAM, devRead, directDevice, expectNoAliases, pattern, type Rig } from "./helpers.js";

afterEach(expectNoAliases);

const DRAM_PFN = DRAM / PAGE_SIZE;

/** A board whose first 16 MiB are ZONE_DMA, with a swiotlb pool below 16 MiB, and a 24-bit master. */
function isaRig(poolSize = SZ_1M) {
  const r = boot({ dmaZoneSize: SZ_16M, swiotlb: { size: poolSize, belowPhys: DRAM + SZ_16M } });
  // bus address 0 is the start of RAM (dma-ranges), 24 address lines
  const { dev, port } = directDevice(r, "isa-dma", {
    dmaPfnOffset: DRAM_PFN,
    coherentDmaMask: DMA_BIT_MASK(24),
  });
  dmaSetMask(dev, DMA_BIT_MASK(24));
  return { r, dev, port };
}

/** A lowmem buffer above the 24-bit device's reach. */
function high(r: Rig, order = 0): { pa: number; va: number; pfn: number } {
  const pfn = r.mm.buddy.allocPages(order, GFP_KERNEL, { tag: "net buffer" })!;
  expect(pfn * PAGE_SIZE).toBeGreaterThanOrEqual(DRAM + SZ_16M);
  return { pfn, pa: pfn * PAGE_SIZE, va: r.mm.kspace.physToVirt(pfn * PAGE_SIZE) };
}

describe("swiotlb for a 24-bit device", () => {
  it("bounces TO_DEVICE: the copy goes through the cache, the bounce buffer is cleaned, the device reads the CPU's bytes", () => {
    const { r, dev, port } = isaRig();
    const b = high(r);
    const data = pattern(1500, 1);
    r.cpu.write(r.mm.kspace, b.va + 64, data); // dirty in the cache, not yet in memory
    const rec = new TraceRecorder(r.kernel.trace, { events: ["swiotlb_bounced"] });
    const addr = dmaMapSingle(dev, b.va + 64, 1500, DMA_TO_DEVICE);
    expect(dmaMappingError(dev, addr)).toBe(0);
    expect(addr + 1500 - 1).toBeLessThanOrEqual(0xffffff);
    expect(isSwiotlbBuffer(dev, addr + DRAM)).toBe(true);
    expect(rec.records()[0]!.data).toEqual({
      dev_name: "isa-dma",
      dma_mask: 0xffffff,
      dev_addr: b.pa + 64 - DRAM,
      size: 1500,
      force: false,
    });
    expect(firstDiff(devRead(port, addr, 1500), data)).toBe(-1);
    expect(swiotlbStats(r.kernel).io_tlb_used).toBe(1);
    dmaUnmapSingle(dev, addr, 1500, DMA_TO_DEVICE);
    expect(swiotlbStats(r.kernel).io_tlb_used).toBe(0);
    expect(r.cpu.checker.total).toBe(0);
  });

  it("bounces FROM_DEVICE: the device's bytes reach the original at unmap, and at sync_for_cpu", () => {
    const { r, dev, port } = isaRig();
    const b = high(r, 2);
    const addr = dmaMapPage(dev, b.pfn, 0, 3 * SZ_4K, DMA_FROM_DEVICE);
    expect(addr + 3 * SZ_4K).toBeLessThanOrEqual(SZ_16M);
    const first = pattern(3 * SZ_4K, 2);
    port.write(addr, first);
    dmaSyncSingleForCpu(dev, addr, 3 * SZ_4K, DMA_FROM_DEVICE);
    expect(firstDiff(cpuRead(r, b.va, 3 * SZ_4K), first)).toBe(-1);
    dmaSyncSingleForDevice(dev, addr, 3 * SZ_4K, DMA_FROM_DEVICE);
    const second = pattern(3 * SZ_4K, 3);
    port.write(addr, second);
    dmaUnmapPage(dev, addr, 3 * SZ_4K, DMA_FROM_DEVICE);
    expect(firstDiff(cpuRead(r, b.va, 3 * SZ_4K), second)).toBe(-1);
    expect(r.cpu.checker.total).toBe(0);
  });

  it("copies the original in at map whatever the direction; BIDIRECTIONAL keeps it for a partial device write", () => {
    const { r, dev, port } = isaRig();
    const b = high(r);
    const orig = pattern(SZ_4K, 4);
    r.cpu.write(r.mm.kspace, b.va, orig);
    const addr = dmaMapSingle(dev, b.va, SZ_4K, DMA_BIDIRECTIONAL);
    port.write(addr + 100, new Uint8Array(10).fill(0xee));
    dmaUnmapSingle(dev, addr, SZ_4K, DMA_BIDIRECTIONAL);
    const want = orig.slice();
    want.fill(0xee, 100, 110);
    expect(firstDiff(cpuRead(r, b.va, SZ_4K), want)).toBe(-1);
  });

  it("ARM32's invalidate for FROM_DEVICE drops that copy: a partial write returns the slot's old bytes", () => {
    // The hole arm64 closed in c50f11c6196f ("Don't invalidate FROM_DEVICE buffers at start of
    // DMA transfer"); ARM32's __dma_page_cpu_to_dev still invalidates, and umm shows the leak.
    const { r, dev, port } = isaRig(SZ_256K);
    const secret = high(r, 6);
    r.cpu.write(r.mm.kspace, secret.va, new Uint8Array(SZ_256K).fill(0x5e));
    const s = dmaMapSingle(dev, secret.va, SZ_256K, DMA_TO_DEVICE); // fills every slot
    dmaUnmapSingle(dev, s, SZ_256K, DMA_TO_DEVICE);
    const b = high(r);
    r.cpu.write(r.mm.kspace, b.va, pattern(SZ_4K, 4));
    const addr = dmaMapSingle(dev, b.va, SZ_4K, DMA_FROM_DEVICE);
    expect(addr).toBe(s); // the same slots again
    port.write(addr + 100, new Uint8Array(10).fill(0xee));
    dmaUnmapSingle(dev, addr, SZ_4K, DMA_FROM_DEVICE);
    const got = cpuRead(r, b.va, SZ_4K);
    expect(got.subarray(100, 110)).toEqual(new Uint8Array(10).fill(0xee));
    expect(got[0]).toBe(0x5e); // another mapping's data, not the original's
    expect(r.cpu.checker.total).toBe(0);
  });

  it("BIDIRECTIONAL syncs copy both ways", () => {
    const { r, dev, port } = isaRig();
    const b = high(r);
    const addr = dmaMapSingle(dev, b.va, 512, DMA_BIDIRECTIONAL);
    r.cpu.write(r.mm.kspace, b.va, pattern(512, 5));
    dmaSyncSingleForDevice(dev, addr, 512, DMA_BIDIRECTIONAL);
    expect(firstDiff(devRead(port, addr, 512), pattern(512, 5))).toBe(-1);
    port.write(addr, pattern(512, 6));
    dmaSyncSingleForCpu(dev, addr, 512, DMA_BIDIRECTIONAL);
    expect(firstDiff(cpuRead(r, b.va, 512), pattern(512, 6))).toBe(-1);
    dmaUnmapSingle(dev, addr, 512, DMA_BIDIRECTIONAL);
  });

  it("memory the device reaches is not bounced", () => {
    const { r, dev } = isaRig();
    const pfn = r.mm.buddy.allocPages(0, GFP_DMA, { tag: "isa buffer" })!;
    const addr = dmaMapPage(dev, pfn, 0, SZ_4K, DMA_TO_DEVICE);
    expect(addr).toBe(pfn * PAGE_SIZE - DRAM);
    expect(swiotlbStats(r.kernel).io_tlb_used).toBe(0);
    dmaUnmapPage(dev, addr, SZ_4K, DMA_TO_DEVICE);
  });

  it("a scatterlist bounces entry by entry and copies back at unmap", () => {
    const { r, dev, port } = isaRig();
    const pages = [high(r).pfn, high(r).pfn, high(r).pfn];
    const sgt = sgAllocTableFromPages(pages, 0, 3 * SZ_4K, SZ_4K);
    dmaMapSgtable(dev, sgt, DMA_FROM_DEVICE);
    for (const [i, s] of sgt.sgl.entries()) {
      expect(s.dmaAddress + s.dmaLength).toBeLessThanOrEqual(SZ_16M);
      port.write(s.dmaAddress, pattern(SZ_4K, 10 + i));
    }
    dmaUnmapSgtable(dev, sgt, DMA_FROM_DEVICE);
    for (const [i, pfn] of pages.entries()) {
      expect(
        firstDiff(cpuRead(r, r.mm.kspace.physToVirt(pfn * PAGE_SIZE), SZ_4K), pattern(SZ_4K, 10 + i)),
      ).toBe(-1);
    }
  });

  it("a full pool fails the mapping with DMA_MAPPING_ERROR and swiotlb_warn; the live bounces keep their data", () => {
    const { r, dev, port } = isaRig(SZ_256K); // 128 slots
    const warns = new TraceRecorder(r.kernel.trace, { events: ["swiotlb_warn"] });
    const a = high(r, 5);
    const b = high(r, 5);
    const c = high(r, 5);
    r.cpu.write(r.mm.kspace, a.va, pattern(128 * 1024, 7));
    const x = dmaMapSingle(dev, a.va, 128 * 1024, DMA_TO_DEVICE);
    const y = dmaMapSingle(dev, b.va, 128 * 1024, DMA_TO_DEVICE);
    expect(swiotlbStats(r.kernel)).toEqual({
      io_tlb_nslabs: 128,
      io_tlb_used: 128,
      io_tlb_used_hiwater: 128,
    });
    const z = dmaMapSingle(dev, c.va, SZ_4K, DMA_TO_DEVICE);
    expect(z).toBe(DMA_MAPPING_ERROR);
    expect(dmaMappingError(dev, z)).toBe(-12);
    expect(warns.of("swiotlb_warn")[0]!.data.message).toBe(
      "swiotlb buffer is full (sz: 4096 bytes), total 128 (slots), used 128 (slots)",
    );
    expect(dmaMapSingle(dev, c.va, SZ_4K, DMA_TO_DEVICE, DMA_ATTR_NO_WARN)).toBe(DMA_MAPPING_ERROR);
    expect(warns.records()).toHaveLength(1);
    expect(firstDiff(devRead(port, x, 128 * 1024), pattern(128 * 1024, 7))).toBe(-1);
    dmaUnmapSingle(dev, y, 128 * 1024, DMA_TO_DEVICE);
    const z2 = dmaMapSingle(dev, c.va, SZ_4K, DMA_TO_DEVICE);
    expect(z2).not.toBe(DMA_MAPPING_ERROR);
    dmaUnmapSingle(dev, z2, SZ_4K, DMA_TO_DEVICE);
    dmaUnmapSingle(dev, x, 128 * 1024, DMA_TO_DEVICE);
    expect(swiotlbStats(r.kernel)).toEqual({ io_tlb_nslabs: 128, io_tlb_used: 0, io_tlb_used_hiwater: 128 });
  });

  it("a mapping larger than 256 KiB cannot bounce; dma_max_mapping_size says so", () => {
    const { r, dev } = isaRig();
    expect(dmaMaxMappingSize(dev)).toBe(128 * IO_TLB_SIZE);
    const b = high(r, 7);
    expect(dmaMapSingle(dev, b.va, SZ_256K + SZ_4K, DMA_TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
    const full = directDevice(r, "full").dev;
    expect(dmaMaxMappingSize(full)).toBe(SIZE_MAX);
  });

  it("unmap or sync of an address in the pool that is no live bounce buffer is EINVAL", () => {
    const { r, dev } = isaRig();
    const start = swiotlbRange(r.kernel)!.start - DRAM;
    expect(() => dmaUnmapSingle(dev, start, 64, DMA_TO_DEVICE)).toThrow(
      kerr("EINVAL", /live swiotlb bounce buffer/),
    );
    expect(() => dmaSyncSingleForCpu(dev, start, 64, DMA_FROM_DEVICE)).toThrow(kerr("EINVAL"));
  });
});

describe("swiotlb slot search", () => {
  it("never places a bounce buffer across the device's segment boundary (16 MiB)", () => {
    // the pool straddles bus 16 MiB, with a 128-slot segment across it
    const r = boot({
      setup: (_k, mm) => mm.memblock.reserve(DRAM, 15 * SZ_1M + 128 * 1024, "below the pool"),
      swiotlb: { size: 2 * SZ_1M, belowPhys: DRAM + 18 * SZ_1M, force: true },
    });
    const pool = swiotlbRange(r.kernel)!;
    expect(pool.start).toBe(DRAM + 15 * SZ_1M + 128 * 1024);
    const { dev, port } = directDevice(r, "isa", { dmaPfnOffset: DRAM_PFN });
    dmaSetSegBoundary(dev, SZ_16M - 1);
    const maps: number[] = [];
    const data = pattern(200 * 1024, 8);
    for (let i = 0; i < 12; i++) {
      const b = high(r, 6);
      r.cpu.write(r.mm.kspace, b.va, data);
      const addr = dmaMapSingle(dev, b.va, 200 * 1024, DMA_TO_DEVICE, DMA_ATTR_NO_WARN);
      if (addr === DMA_MAPPING_ERROR) break;
      expect(Math.floor(addr / SZ_16M)).toBe(Math.floor((addr + 200 * 1024 - 1) / SZ_16M));
      expect(firstDiff(devRead(port, addr, 200 * 1024), data)).toBe(-1);
      maps.push(addr);
    }
    // 8 segments of 256 KiB hold one 200 KiB buffer each, but the one across 16 MiB holds none
    expect(maps).toHaveLength(7);
    for (const a of maps) dmaUnmapSingle(dev, a, 200 * 1024, DMA_TO_DEVICE);
  });

  it("swiotlb=force bounces every mapping of a direct device", () => {
    const r = boot({ swiotlb: { size: SZ_1M, force: true } });
    const { dev } = directDevice(r, "fimc0");
    const pfn = r.mm.buddy.allocPages(0, GFP_KERNEL)!;
    const addr = dmaMapPage(dev, pfn, 0, 64, DMA_TO_DEVICE);
    expect(isSwiotlbBuffer(dev, addr)).toBe(true);
    dmaUnmapPage(dev, addr, 64, DMA_TO_DEVICE);
  });

  it("a bounce buffer the mask cannot reach is refused (the pool is above it)", () => {
    const r = boot({
      setup: (_k, mm) => mm.memblock.reserve(DRAM, 8 * SZ_1M, "low"),
      swiotlb: { size: SZ_1M, belowPhys: DRAM + 40 * SZ_1M },
    });
    const { dev } = directDevice(r, "tiny", { dmaMask: DMA_BIT_MASK(20), dmaPfnOffset: DRAM_PFN });
    const warns = new TraceRecorder(r.kernel.trace, { events: ["swiotlb_warn"] });
    const b = high(r);
    expect(dmaMapSingle(dev, b.va, 64, DMA_TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
    expect(warns.of("swiotlb_warn")[0]!.data.message).toMatch(/swiotlb addr 0x.* overflow \(mask 0xfffff/);
    expect(swiotlbStats(r.kernel).io_tlb_used).toBe(0);
  });
});

describe("swiotlbInit", () => {
  it("reserves from memblock at boot; EBUSY after boot or twice, EINVAL for a bad size, ENOMEM without room", () => {
    const r = boot({ swiotlb: { size: SZ_64K } });
    expect(swiotlbStats(r.kernel).io_tlb_nslabs).toBe(128); // rounded up to one segment
    expect(() => swiotlbInit(r.kernel, { size: SZ_1M })).toThrow(kerr("EBUSY"));
    const late = boot();
    expect(() => swiotlbInit(late.kernel, { size: SZ_1M })).toThrow(kerr("EBUSY", /retired/));
    expect(() => boot({ swiotlb: { size: 0 } })).toThrow(kerr("EINVAL"));
    expect(() => boot({ swiotlb: { size: SZ_1M, belowPhys: DRAM } })).toThrow(kerr("ENOMEM"));
  });
});
