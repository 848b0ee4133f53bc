// A synthetic trace of the shape the demo will record: two processes sharing a CMA area, a camera
// and a display device doing DMA, an IOMMU mapping and a fault.
import type { TraceRecordLike } from "../src/index.js";

const US = 1000;

let seq = 0;
function rec(ts: number, name: string, pid: number, task: string, data: object): TraceRecordLike {
  return { seq: seq++, ts, name, pid, task, cpu: 0, data };
}

/** pfn of the CMA area's first page (0x40000000 >> 12) */
export const CMA_PFN = 0x40000;

export const RECORDS: readonly TraceRecordLike[] = [
  rec(0, "proc_spawn", 1, "init", { pid: 100, comm: "camera" }),
  rec(1 * US, "proc_spawn", 1, "init", { pid: 200, comm: "display" }),
  rec(10 * US, "cma_alloc_start", 100, "camera", { name: "cam", count: 256, align: 8 }),
  rec(35 * US, "cma_alloc_finish", 100, "camera", {
    name: "cam",
    pfn: CMA_PFN,
    count: 256,
    align: 8,
    errorno: 0,
  }),
  rec(40 * US, "iommu_map", 100, "camera", { iova: 0x20000000, paddr: 0x40000000, size: 0x100000 }),
  rec(50 * US, "cma_alloc_start", 200, "display", { name: "cam", count: 512, align: 8 }),
  rec(52 * US, "cma_alloc_finish", 200, "display", {
    name: "cam",
    pfn: CMA_PFN + 256,
    count: 512,
    align: 8,
    errorno: 0,
  }),
  rec(60 * US, "dma_xfer", 100, "camera", { device: "fimc0", dir: "write", daddr: 0x20000000, size: 4096 }),
  rec(61 * US, "dma_xfer", 200, "display", { device: "fimd0", dir: "read", daddr: 0x40100000, size: 8192 }),
  rec(70 * US, "io_page_fault", 100, "camera", { device: "fimc0", iova: 0x20200000, flags: 1 }),
  rec(80 * US, "cma_alloc_start", 200, "display", { name: "cam", count: 4096, align: 8 }),
  rec(81 * US, "cma_alloc_finish", 200, "display", {
    name: "cam",
    pfn: 0,
    count: 4096,
    align: 8,
    errorno: -12,
  }),
  rec(90 * US, "cma_release", 100, "camera", { name: "cam", pfn: CMA_PFN, count: 256 }),
  rec(95 * US, "cma_alloc_start", 100, "camera", { name: "cam", count: 16, align: 0 }),
  rec(100 * US, "proc_exit", 100, "camera", { pid: 100, comm: "camera", code: 0 }),
];
