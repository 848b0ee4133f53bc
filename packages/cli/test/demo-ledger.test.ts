// BufferLedger: buffers and device mappings rebuilt from trace events alone.
import { describe, expect, it } from "vitest";
import { BufferLedger } from "../src/demo/index.js";
import type { TraceRecordLike } from "../src/index.js";

let seq = 0;
const rec = (ts: number, pid: number, task: string, name: string, data: object): TraceRecordLike => ({
  seq: seq++,
  ts,
  name,
  pid,
  task,
  cpu: 0,
  data,
});

/** A camera buffer through fimc0's IOMMU, a heap buffer, the MFC's own CMA, maps and frees. */
function records(): TraceRecordLike[] {
  seq = 0;
  return [
    // boot: the MFC driver takes firmware memory with cma_alloc (no dma_alloc claims it)
    rec(0, 0, "swapper", "cma_alloc_finish", {
      name: "mfc_fw",
      pfn: 0x4d000,
      count: 128,
      align: 5,
      errorno: 0,
    }),
    // the camera's MMAP buffer: two physical runs mapped by fimc0's IOMMU, then exported
    rec(10, 2, "camera", "iommu_map", { iova: 0x2000_0000, paddr: 0x7f80_0000, size: 0x20_0000 }),
    rec(10, 2, "camera", "iommu_map", { iova: 0x2020_0000, paddr: 0x7ff0_0000, size: 0x1_0000 }),
    rec(10, 2, "camera", "dma_alloc", { device: "fimc0", dma_addr: 0x2000_0000, size: 0x21_0000 }),
    rec(11, 2, "camera", "dma_buf_export", { exp_name: "videobuf2_dma_contig", size: 0x21_0000, ino: 1 }),
    // the compositor's heap buffer
    rec(20, 1, "compositor", "cma_alloc_finish", {
      name: "common",
      pfn: 0x58000,
      count: 16,
      align: 4,
      errorno: 0,
    }),
    rec(20, 1, "compositor", "dma_buf_export", { exp_name: "default_cma_region", size: 0x1_0000, ino: 2 }),
    // fimd0 maps it (its own iommu_map first: not an allocation)
    rec(30, 1, "compositor", "iommu_map", { iova: 0x2080_0000, paddr: 0x5800_0000, size: 0x1_0000 }),
    rec(30, 1, "compositor", "dma_map_sg", {
      device: "fimd0",
      dma_addrs: [0x2080_0000],
      lengths: [0x1_0000],
      phys_addrs: [0x5800_0000],
    }),
    rec(40, 1, "compositor", "dma_unmap_sg", { device: "fimd0", addrs: [0x2080_0000] }),
    rec(41, 1, "compositor", "cma_release", { name: "common", pfn: 0x58000, count: 16 }),
    rec(50, 2, "camera", "dma_free", { device: "fimc0", dma_addr: 0x2000_0000, size: 0x21_0000 }),
    rec(60, 0, "swapper", "cma_release", { name: "mfc_fw", pfn: 0x4d000, count: 128 }),
  ];
}

describe("BufferLedger", () => {
  it("names each buffer, with its physical runs, region, dma-buf and lifetime", () => {
    const l = new BufferLedger(records());
    expect(l.unmatched).toBe(0);
    expect(
      l.buffers.map((b) => [b.name, b.owner, b.region, b.ino, b.phys.map((p) => p.start), b.tAlloc, b.tFree]),
    ).toEqual([
      ["mfc_fw buffer 0", "mfc_fw", "mfc_fw", null, [0x4d00_0000], 0, 60],
      ["camera buffer 0", "camera", null, 1, [0x7f80_0000, 0x7ff0_0000], 10, 50],
      ["scanout buffer 0", "compositor", "common", 2, [0x5800_0000], 20, 41],
    ]);
    expect(BufferLedger.describe(l.bufferAt(0x7ff0_8000))).toBe(
      "camera buffer 0 (dma-buf 1, P.A 0x7f800000)",
    );
    expect(BufferLedger.describe(null)).toBe("an unknown buffer");
  });

  it("keeps each device's mappings with the records that made and ended them", () => {
    const l = new BufferLedger(records());
    expect(l.mappings.map((m) => [m.device, m.iova, m.paddr, m.buffer?.name, m.tMap, m.tUnmap])).toEqual([
      ["fimc0", 0x2000_0000, 0x7f80_0000, "camera buffer 0", 10, 50],
      ["fimc0", 0x2020_0000, 0x7ff0_0000, "camera buffer 0", 10, 50],
      ["fimd0", 0x2080_0000, 0x5800_0000, "scanout buffer 0", 30, 40],
    ]);
    const at = l.mappings[2]!.seqMap;
    expect([...l.dvMapsAt(at).keys()]).toEqual(["fimc0", "fimd0"]);
    expect([...l.dvMapsAt(l.mappings[2]!.seqUnmap!).keys()]).toEqual(["fimc0"]);
    // a fault after the unmap finds the buffer that was there
    expect(l.mappingAt("fimd0", 0x2080_1000, 45)?.buffer?.name).toBe("scanout buffer 0");
    expect(l.mappingAt("fimd0", 0x2090_0000)).toBeNull();
  });

  it("draws CMA regions and the page allocator's ranges for the memory map", () => {
    const l = new BufferLedger(records());
    const { regions, intervals } = l.memoryMap(
      [
        { name: "mfc_fw", base: 0x4d00_0000, size: 0x40_0000 },
        { name: "common", base: 0x5800_0000, size: 0x600_0000 },
      ],
      [{ name: "bank1", start: 0x6000_0000, size: 0x2000_0000 }],
    );
    expect(regions.map((r) => [r.name, r.base, r.size])).toEqual([
      ["mfc_fw", 0x4d00_0000, 0x40_0000],
      ["common", 0x5800_0000, 0x600_0000],
      ["bank1 (page allocator)", 0x7f80_0000, 0x80_0000],
    ]);
    expect(intervals.map((i) => [i.region, i.owner, i.tStart, i.tEnd])).toEqual([
      ["mfc_fw", "mfc_fw buffer 0", 0, 60],
      ["bank1 (page allocator)", "camera buffer 0", 10, 50],
      ["bank1 (page allocator)", "camera buffer 0", 10, 50],
      ["common", "scanout buffer 0", 20, 41],
    ]);
    expect(Object.keys(l.colors())).toEqual(["mfc_fw buffer 0", "camera buffer 0", "scanout buffer 0"]);
  });
});
