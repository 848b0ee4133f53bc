// The DMA mapping layer's hot paths against raw Uint8Array.set of the same bytes in the same run:
// scatterlist map + unmap of a scattered 1080p frame behind the SysMMU, and a whole streaming
// transfer (map, sync, device DMA, unmap) of a 1080p frame, direct and through the SysMMU.
import { cpuInit } from "@umm/arch-arm";
import { defineBench } from "@umm/bench";
import { iommuFwspecInit, iommuProbeDevice } from "@umm/iommu-core";
import {
  busRegister,
  createKernel,
  Device,
  deviceRegister,
  driverRegister,
  type Kernel,
  PAGE_SIZE,
  SZ_1M,
  SZ_256M,
} from "@umm/kernel-core";
import { DmaPort, GFP_KERNEL, type Mm, mmInit } from "@umm/mm-core";
import {
  EXYNOS_SYSMMU_DRIVER,
  EXYNOS4210_SYSMMUS,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";
import {
  armIommuAttachDevice,
  armIommuCreateMapping,
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
  dmaMapSg,
  dmaMapSingle,
  dmaSyncSingleForCpu,
  dmaUnmapSg,
  dmaUnmapSingle,
  sgAllocTableFromPages,
} from "../src/index.js";

const FRAME = 3_110_400; // 1080p NV12
const FRAME_PAGES = 760;

/** A 256 MiB board with the CPU cache model and a platform bus with the exynos-sysmmu driver. */
function board(): { kernel: Kernel; mm: Mm } {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 256 * SZ_1M }] });
  mm.memblockFreeAll();
  cpuInit(kernel);
  return { kernel, mm };
}

/** FIMC0 behind its SysMMU, attached to a 256 MiB IOVA window. */
function sysmmuMaster(kernel: Kernel): { dev: Device; port: DmaPort } {
  const bus = busRegister(kernel, "platform");
  driverRegister(bus, EXYNOS_SYSMMU_DRIVER);
  const sysmmu = sysmmuPlatformDevice(kernel, EXYNOS4210_SYSMMUS.find((s) => s.name === "FIMC0")!);
  deviceRegister(sysmmu, bus);
  const dev = new Device(kernel, { name: "fimc0" });
  deviceRegister(dev);
  iommuFwspecInit(dev, sysmmu);
  iommuProbeDevice(dev);
  armIommuAttachDevice(dev, armIommuCreateMapping(dev, 0x20000000, SZ_256M));
  return { dev, port: sysmmuDmaPort(dev) };
}

export default defineBench((b) => {
  const src = new Uint8Array(FRAME).map((_, i) => i * 7);

  {
    const { kernel, mm } = board();
    const { dev } = sysmmuMaster(kernel);
    const pages: number[] = [];
    for (let i = 0; i < FRAME_PAGES + 1; i++) pages.push(mm.buddy.allocPages(0, GFP_KERNEL)!);
    for (let i = pages.length - 1; i > 0; i -= 2) [pages[i], pages[i - 1]] = [pages[i - 1]!, pages[i]!];
    const sgt = sgAllocTableFromPages(pages.slice(0, FRAME_PAGES), 0, FRAME);
    b.rate({
      name: "dmaMapSg + dmaUnmapSg of a scattered 1080p NV12 frame (760 pages, 64 KiB segments) through the SysMMU, TO_DEVICE",
      ops: 1,
      run: () => {
        const n = dmaMapSg(dev, sgt.sgl, sgt.origNents, DMA_TO_DEVICE);
        if (n === 0) throw new Error("dmaMapSg failed");
        dmaUnmapSg(dev, sgt.sgl, sgt.origNents, DMA_TO_DEVICE);
      },
    });
  }

  const cases = [
    {
      label: "direct (no IOMMU)",
      make: (kernel: Kernel, mm: Mm) => {
        const dev = new Device(kernel, { name: "fimc0" });
        return { dev, port: new DmaPort(mm, dev) };
      },
    },
    { label: "through the SysMMU", make: (kernel: Kernel) => sysmmuMaster(kernel) },
  ];
  for (const c of cases) {
    const { kernel, mm } = board();
    const { dev, port } = c.make(kernel, mm);
    const pfn = mm.buddy.allocPages(10, GFP_KERNEL, { tag: "frame" })!; // 4 MiB, contiguous
    const va = mm.kspace.physToVirt(pfn * PAGE_SIZE);
    const bank = mm.phys.banks[0]!;
    const off = pfn * PAGE_SIZE - bank.start;
    b.throughput({
      name: `map + sync_for_cpu + device DMA write + unmap of a 1080p NV12 frame (FROM_DEVICE), ${c.label}, CPU cache model on`,
      bytes: FRAME,
      run: () => {
        const addr = dmaMapSingle(dev, va, FRAME, DMA_FROM_DEVICE);
        port.write(addr, src);
        dmaSyncSingleForCpu(dev, addr, FRAME, DMA_FROM_DEVICE);
        dmaUnmapSingle(dev, addr, FRAME, DMA_FROM_DEVICE);
      },
      baseline: { name: "Uint8Array.set of the frame", run: () => bank.u8.set(src, off) },
      goal: { op: ">=", value: 0.5 },
    });
  }
});
