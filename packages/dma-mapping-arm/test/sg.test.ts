// Scatterlists: sg_alloc_table_from_pages, dma_map_sg on a direct device (a segment per entry) and
// behind the SysMMU (entries merged into D.V segments under max_segment_size and the segment
// boundary, as arm_iommu_map_sg), errors, syncs and trace.

import { DMA_BIT_MASK, PAGE_SIZE, SZ_1M, SZ_4K, SZ_64K, TraceRecorder } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import { afterEach, describe, expect, it } from "vitest";
import {
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
  dmaMapSg,
  dmaMapSgtable,
  dmaSetMaxSegSize,
  dmaSetSegBoundary,
  dmaSyncSgForCpu,
  dmaSyncSgForDevice,
  dmaSyncSgtableForCpu,
  dmaSyncSgtableForDevice,
  dmaUnmapSg,
  dmaUnmapSgtable,
  SgTable,
  sgAllocTableFromPages,
} from "../src/index.js";
import {
  boot,
  devRead,
  directDevice,
  expectNoAliases,
  IOVA_BASE,
  pattern,
  type Rig,
  sysmmuDevice,
} from "./helpers.js";

afterEach(expectNoAliases);

const FRAME = 3_110_400; // 1080p NV12
const FRAME_PAGES = 760;

/** `n` single pages, scattered: allocated in order, then pairs swapped. */
function scattered(r: Rig, n: number): number[] {
  const pages: number[] = [];
  for (let i = 0; i < n + 1; i++) pages.push(r.mm.buddy.allocPages(0, GFP_KERNEL, { tag: "frame" })!);
  for (let i = pages.length - 1; i > 0; i -= 2) [pages[i], pages[i - 1]] = [pages[i - 1]!, pages[i]!];
  return pages.slice(0, n);
}

/** Writes `data` through the CPU into the pages of `sgt` (linear map), in table order. */
function cpuFill(r: Rig, sgt: SgTable, data: Uint8Array): void {
  let off = 0;
  for (const s of sgt.sgl) {
    r.cpu.write(r.mm.kspace, r.mm.kspace.physToVirt(s.pfn * PAGE_SIZE + s.offset), data, off, s.length);
    off += s.length;
  }
}

/** What the CPU reads from the pages of `sgt`, in order. */
function cpuGather(r: Rig, sgt: SgTable): Uint8Array {
  const out = new Uint8Array(sgt.size);
  let off = 0;
  for (const s of sgt.sgl) {
    r.cpu.read(r.mm.kspace, r.mm.kspace.physToVirt(s.pfn * PAGE_SIZE + s.offset), out, off, s.length);
    off += s.length;
  }
  return out;
}

describe("sg_alloc_table_from_pages", () => {
  it("makes one entry per physically contiguous run, the first with the offset, the last trimmed", () => {
    const t = sgAllocTableFromPages([10, 11, 12, 40, 41, 7], 0x100, 5 * SZ_4K + 0x10);
    expect(t.sgl.map((s) => [s.pfn, s.offset, s.length])).toEqual([
      [10, 0x100, 3 * SZ_4K - 0x100],
      [40, 0, 2 * SZ_4K],
      [7, 0, 0x110],
    ]);
    expect(t.origNents).toBe(3);
    expect(t.size).toBe(5 * SZ_4K + 0x10);
  });

  it("cuts runs at max_segment", () => {
    const t = sgAllocTableFromPages([1, 2, 3, 4, 5], 0, 5 * SZ_4K, 2 * SZ_4K);
    expect(t.sgl.map((s) => [s.pfn, s.length])).toEqual([
      [1, 2 * SZ_4K],
      [3, 2 * SZ_4K],
      [5, SZ_4K],
    ]);
  });

  it("rejects an empty list, an offset outside the page, a size that does not span the pages, a small max_segment", () => {
    expect(() => sgAllocTableFromPages([], 0, 1)).toThrow(kerr("EINVAL", /no pages/));
    expect(() => sgAllocTableFromPages([1], SZ_4K, 1)).toThrow(kerr("EINVAL", /offset/));
    expect(() => sgAllocTableFromPages([1, 2], 0, SZ_4K)).toThrow(kerr("EINVAL", /spans 1 pages, 2 given/));
    expect(() => sgAllocTableFromPages([1], 0, 10, 100)).toThrow(kerr("EINVAL", /max_segment/));
    expect(() => new SgTable([{ pfn: 1, length: 0 }])).toThrow(kerr("EINVAL", /length/));
  });
});

describe("dma_map_sg on a direct device", () => {
  it("maps each entry as its own segment at its bus address, with cache maintenance per entry", () => {
    const r = boot();
    const { dev, port } = directDevice(r, "fimc0");
    const pages = scattered(r, 8);
    const sgt = sgAllocTableFromPages(pages, 0, 8 * SZ_4K);
    const data = pattern(8 * SZ_4K, 1);
    cpuFill(r, sgt, data);
    const n = dmaMapSg(dev, sgt.sgl, sgt.origNents, DMA_TO_DEVICE);
    expect(n).toBe(sgt.origNents);
    let off = 0;
    for (const s of sgt.sgl) {
      expect(s.dmaAddress).toBe(s.pfn * PAGE_SIZE + s.offset);
      expect(s.dmaLength).toBe(s.length);
      expect(firstDiff(devRead(port, s.dmaAddress, s.dmaLength), data.subarray(off, off + s.length))).toBe(
        -1,
      );
      off += s.length;
    }
    dmaUnmapSg(dev, sgt.sgl, sgt.origNents, DMA_TO_DEVICE);
    expect(r.cpu.checker.total).toBe(0);
  });

  it("sync_sg for the CPU makes the device's writes visible; for the device the CPU's", () => {
    const r = boot();
    const { dev, port } = directDevice(r, "fimc0");
    const sgt = sgAllocTableFromPages(scattered(r, 4), 0, 4 * SZ_4K);
    dmaMapSgtable(dev, sgt, DMA_BIDIRECTIONAL);
    const data = pattern(4 * SZ_4K, 2);
    let off = 0;
    for (const s of sgt.dmaSegments()) {
      port.write(s.dmaAddress, data.subarray(off, off + s.dmaLength));
      off += s.dmaLength;
    }
    dmaSyncSgtableForCpu(dev, sgt, DMA_BIDIRECTIONAL);
    expect(firstDiff(cpuGather(r, sgt), data)).toBe(-1);
    cpuFill(r, sgt, pattern(4 * SZ_4K, 3));
    dmaSyncSgtableForDevice(dev, sgt, DMA_BIDIRECTIONAL);
    expect(firstDiff(devRead(port, sgt.sgl[0]!.dmaAddress, 100), pattern(100, 3))).toBe(-1);
    dmaUnmapSgtable(dev, sgt, DMA_BIDIRECTIONAL);
    expect(r.cpu.checker.total).toBe(0);
  });

  it("an entry beyond the mask (no swiotlb): dma_map_sg returns 0, dma_map_sgtable throws EIO, nothing stays mapped", () => {
    const r = boot();
    const { dev } = directDevice(r, "narrow", { dmaMask: DMA_BIT_MASK(30) });
    const sgt = sgAllocTableFromPages(scattered(r, 2), 0, 2 * SZ_4K);
    expect(dmaMapSg(dev, sgt.sgl, 2, DMA_TO_DEVICE)).toBe(0);
    expect(() => dmaMapSgtable(dev, sgt, DMA_TO_DEVICE)).toThrow(kerr("EIO"));
  });

  it("a bad list: 0 from dma_map_sg, EINVAL from dma_map_sgtable", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimc0");
    const bad = new SgTable([{ pfn: 5, length: 64 }]); // not RAM
    expect(dmaMapSg(dev, bad.sgl, 1, DMA_TO_DEVICE)).toBe(0);
    expect(() => dmaMapSgtable(dev, bad, DMA_TO_DEVICE)).toThrow(kerr("EINVAL", /not RAM/));
    const ok = sgAllocTableFromPages(scattered(r, 1), 0, 64);
    expect(dmaMapSg(dev, ok.sgl, 2, DMA_TO_DEVICE)).toBe(0);
  });
});

describe("dma_map_sg behind the SysMMU", () => {
  it("merges a scattered 1080p frame into 64 KiB segments (the default max_segment_size)", () => {
    const r = boot();
    const { dev, port, mapping } = sysmmuDevice(r, "fimc0");
    const sgt = sgAllocTableFromPages(scattered(r, FRAME_PAGES), 0, FRAME);
    const data = pattern(FRAME, 4);
    cpuFill(r, sgt, data);
    dmaMapSgtable(dev, sgt, DMA_TO_DEVICE);
    expect(sgt.nents).toBe(Math.ceil(FRAME / SZ_64K));
    const segs = sgt.dmaSegments();
    for (const s of segs.slice(0, -1)) expect(s.dmaLength).toBe(SZ_64K);
    expect(segs.reduce((n, s) => n + s.dmaLength, 0)).toBe(FRAME);
    let off = 0;
    for (const s of segs) {
      expect(firstDiff(devRead(port, s.dmaAddress, s.dmaLength), data.subarray(off, off + s.dmaLength))).toBe(
        -1,
      );
      off += s.dmaLength;
    }
    for (let i = sgt.nents; i < sgt.origNents; i++) expect(sgt.sgl[i]!.dmaLength).toBe(0);
    dmaUnmapSgtable(dev, sgt, DMA_TO_DEVICE);
    expect(mapping.usedPages).toBe(0);
    expect(mapping.liveRanges).toBe(0);
  });

  it("with a 4 MiB max segment the frame is one D.V segment the device reads in one go", () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "fimc0");
    dmaSetMaxSegSize(dev, 4 * SZ_1M);
    const sgt = sgAllocTableFromPages(scattered(r, FRAME_PAGES), 0, FRAME);
    const data = pattern(FRAME, 5);
    cpuFill(r, sgt, data);
    expect(dmaMapSg(dev, sgt.sgl, sgt.origNents, DMA_TO_DEVICE)).toBe(1);
    expect(sgt.sgl[0]!.dmaAddress).toBe(IOVA_BASE);
    expect(firstDiff(devRead(port, IOVA_BASE, FRAME), data)).toBe(-1);
    dmaUnmapSg(dev, sgt.sgl, sgt.origNents, DMA_TO_DEVICE);
  });

  it("an entry with an offset, or after an entry ending inside a page, starts a new segment", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "fimc0");
    const [a, b, c, d] = scattered(r, 4);
    const sgt = new SgTable([
      { pfn: a!, offset: 0, length: SZ_4K },
      { pfn: b!, offset: 0, length: SZ_4K - 512 }, // ends inside its page
      { pfn: c!, offset: 0, length: SZ_4K },
      { pfn: d!, offset: 256, length: 1024 }, // an offset
    ]);
    dmaMapSgtable(dev, sgt, DMA_TO_DEVICE);
    expect(sgt.dmaSegments().map((s) => [s.dmaAddress % SZ_4K, s.dmaLength])).toEqual([
      [0, 2 * SZ_4K - 512],
      [0, SZ_4K],
      [256, 1024],
    ]);
    dmaUnmapSgtable(dev, sgt, DMA_TO_DEVICE);
  });

  it("honours the segment boundary: no segment crosses a 64 KiB boundary, even with a larger max segment", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "fimc0");
    dmaSetMaxSegSize(dev, SZ_1M);
    dmaSetSegBoundary(dev, SZ_64K - 1);
    // a first small mapping moves the IOVA cursor off a 64 KiB boundary
    const one = sgAllocTableFromPages(scattered(r, 1), 0, SZ_4K);
    dmaMapSgtable(dev, one, DMA_TO_DEVICE);
    const sgt = sgAllocTableFromPages(scattered(r, 40), 0, 40 * SZ_4K);
    dmaMapSgtable(dev, sgt, DMA_TO_DEVICE);
    for (const s of sgt.dmaSegments()) {
      expect(s.dmaLength).toBeLessThanOrEqual(SZ_64K);
      expect(Math.floor(s.dmaAddress / SZ_64K)).toBe(Math.floor((s.dmaAddress + s.dmaLength - 1) / SZ_64K));
    }
    dmaUnmapSgtable(dev, sgt, DMA_TO_DEVICE);
    dmaUnmapSgtable(dev, one, DMA_TO_DEVICE);
  });

  it("out of IOVA space: ENOMEM from dma_map_sgtable, 0 from dma_map_sg, and the chunks mapped so far undone", () => {
    const r = boot();
    const { dev, mapping } = sysmmuDevice(r, "fimc0", SZ_1M);
    const sgt = sgAllocTableFromPages(scattered(r, 300), 0, 300 * SZ_4K);
    expect(() => dmaMapSgtable(dev, sgt, DMA_TO_DEVICE)).toThrow(kerr("ENOMEM", /IOVA/));
    expect(mapping.usedPages).toBe(0);
    expect(dmaMapSg(dev, sgt.sgl, sgt.origNents, DMA_TO_DEVICE)).toBe(0);
    expect(mapping.liveRanges).toBe(0);
  });

  it("sync_sg maintains the entries' pages: the CPU sees the device's writes", () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "fimc0");
    dmaSetMaxSegSize(dev, SZ_1M);
    const sgt = sgAllocTableFromPages(scattered(r, 6), 0, 6 * SZ_4K);
    dmaMapSgtable(dev, sgt, DMA_FROM_DEVICE);
    cpuGather(r, sgt); // lines cached while the device owns the pages
    const data = pattern(6 * SZ_4K, 6);
    port.write(sgt.sgl[0]!.dmaAddress, data);
    dmaSyncSgForCpu(dev, sgt.sgl, sgt.origNents, DMA_FROM_DEVICE);
    expect(firstDiff(cpuGather(r, sgt), data)).toBe(-1);
    dmaSyncSgForDevice(dev, sgt.sgl, sgt.origNents, DMA_FROM_DEVICE);
    dmaUnmapSg(dev, sgt.sgl, sgt.origNents, DMA_FROM_DEVICE);
    expect(r.cpu.checker.counts()["stale-read"]).toBe(0);
  });

  it("unmap of segments that are not live sg mappings is EINVAL, and nothing is unmapped", () => {
    const r = boot();
    const { dev, mapping } = sysmmuDevice(r, "fimc0");
    const sgt = sgAllocTableFromPages(scattered(r, 2), 0, 2 * SZ_4K);
    dmaMapSgtable(dev, sgt, DMA_TO_DEVICE);
    const copy = sgt.sgl.map((s) => ({ ...s, dmaAddress: s.dmaAddress + SZ_1M }));
    expect(() => dmaUnmapSg(dev, copy, 2, DMA_TO_DEVICE)).toThrow(kerr("EINVAL", /not a live sg/));
    expect(mapping.liveRanges).toBe(1);
    dmaUnmapSgtable(dev, sgt, DMA_TO_DEVICE);
  });

  it("emits dma_map_sg and dma_unmap_sg with segments and entries", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "fimc0");
    const sgt = sgAllocTableFromPages(scattered(r, 3), 0, 3 * SZ_4K);
    const rec = new TraceRecorder(r.kernel.trace, {
      events: ["dma_map_sg", "dma_unmap_sg", "dma_sync_sg_for_cpu", "dma_sync_sg_for_device"],
    });
    dmaMapSgtable(dev, sgt, DMA_TO_DEVICE);
    dmaSyncSgtableForCpu(dev, sgt, DMA_TO_DEVICE);
    dmaSyncSgtableForDevice(dev, sgt, DMA_TO_DEVICE);
    dmaUnmapSgtable(dev, sgt, DMA_TO_DEVICE);
    for (const ev of ["dma_sync_sg_for_cpu", "dma_sync_sg_for_device"] as const) {
      expect(rec.of(ev)[0]!.data).toEqual({
        device: "fimc0",
        nents: 3,
        dir: "TO_DEVICE",
        dma_addrs: [IOVA_BASE],
        lengths: [3 * SZ_4K],
      });
    }
    const m = rec.of("dma_map_sg")[0]!.data;
    expect(m).toMatchObject({ device: "fimc0", nents: 3, ents: 1, dir: "TO_DEVICE", dma_addrs: [IOVA_BASE] });
    expect(m.lengths).toEqual([3 * SZ_4K]);
    expect(m.phys_addrs).toEqual(sgt.sgl.map((s) => s.pfn * PAGE_SIZE));
    expect(rec.of("dma_unmap_sg")[0]!.data).toEqual({
      device: "fimc0",
      addrs: [IOVA_BASE],
      dir: "TO_DEVICE",
      attrs: 0,
    });
  });
});
