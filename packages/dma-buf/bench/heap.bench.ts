// DMA-BUF heap allocation latency (workloads-and-costs.md §6): DMA_HEAP_IOCTL_ALLOC followed by
// close of the new fd, through a process's system calls, at 4 KiB, 1 MiB and 8 MiB, for the
// system heap and the CMA heap, on a 256 MiB board with a 64 MiB CMA area and the CPU cache
// model (the CMA heap zeroes through it). Rates in operations per second, no goal: the native
// system-heap figures of §6 (17.6 µs, 50.5 µs, 571 µs per alloc+close on an x86 VM with page
// pools, Stultz 2021) are context for the row names, not targets.
import { cpuInit } from "@umm/arch-arm";
import { defineBench } from "@umm/bench";
import { createKernel, SZ_1M, SZ_4K } from "@umm/kernel-core";
import { O_RDWR, spawn } from "@umm/kernel-process";
import { cmaInit, cmaInitReservedAreas, dmaContiguousReserve } from "@umm/mm-cma";
import { mmInit } from "@umm/mm-core";
import { addDefaultCmaHeap, DMA_HEAP_IOCTL_ALLOC, systemHeapCreate } from "../src/index.js";

const SIZES = [
  { len: SZ_4K, label: "4 KiB", native: "17.6 µs" },
  { len: SZ_1M, label: "1 MiB", native: "50.5 µs" },
  { len: 8 * SZ_1M, label: "8 MiB", native: "571 µs" },
];

export default defineBench((b) => {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 256 * SZ_1M }] });
  cmaInit(kernel, { cmdline: "cma=64M" });
  dmaContiguousReserve(kernel);
  mm.memblockFreeAll();
  cmaInitReservedAreas(kernel);
  cpuInit(kernel);
  systemHeapCreate(kernel);
  addDefaultCmaHeap(kernel, { legacy: false });
  const app = spawn(kernel, { comm: "bench" });
  for (const heap of ["system", "default_cma_region"]) {
    const h = app.open(`/dev/dma_heap/${heap}`, O_RDWR);
    const req = { len: 0, fd: 0, fd_flags: O_RDWR, heap_flags: 0 };
    for (const s of SIZES) {
      const native = heap === "system" ? `; native ${s.native} is context, not a goal` : "; no native figure";
      b.rate({
        name: `${heap === "system" ? "system" : "CMA"} heap alloc+close ${s.label}${native}`,
        ops: 1,
        run: () => {
          req.len = s.len;
          req.fd = 0;
          app.ioctl(h, DMA_HEAP_IOCTL_ALLOC, req);
          app.close(req.fd);
        },
        time: { samples: 5, minSampleMs: 30 },
      });
    }
    app.close(h);
  }
});
