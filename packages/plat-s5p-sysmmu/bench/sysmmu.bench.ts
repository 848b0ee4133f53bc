// Device DMA through the System MMU and the driver's map/unmap, against raw Uint8Array.set of
// the same bytes in the same run.
import { defineBench } from "@umm/bench";
import {
  IOMMU_READ,
  IOMMU_WRITE,
  iommuAttachDevice,
  iommuDomainAlloc,
  iommuFwspecInit,
  iommuMap,
  iommuProbeDevice,
  iommuUnmap,
} from "@umm/iommu-core";
import {
  busRegister,
  createKernel,
  Device,
  deviceRegister,
  driverRegister,
  PAGE_SIZE,
  SZ_1M,
  SZ_4K,
  SZ_64K,
} from "@umm/kernel-core";
import { GFP_KERNEL, mmInit } from "@umm/mm-core";
import {
  EXYNOS_SYSMMU_DRIVER,
  EXYNOS4210_SYSMMUS,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "../src/index.js";

const FRAME = 3_110_400; // 1080p NV12
const RW = IOMMU_READ | IOMMU_WRITE;
const IOVA = 0x20000000;

function rig() {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 256 * SZ_1M }] });
  mm.memblockFreeAll();
  const bus = busRegister(kernel, "platform");
  driverRegister(bus, EXYNOS_SYSMMU_DRIVER);
  // FIMC0's SysMMU of the Exynos4210: v1.0, 64-entry TLB (LRU, as the driver configures it)
  const sysmmu = sysmmuPlatformDevice(kernel, EXYNOS4210_SYSMMUS.find((s) => s.name === "FIMC0")!);
  deviceRegister(sysmmu, bus);
  const fimc = new Device(kernel, { name: "fimc0" });
  deviceRegister(fimc);
  iommuFwspecInit(fimc, sysmmu);
  iommuProbeDevice(fimc);
  const d = iommuDomainAlloc(fimc);
  iommuAttachDevice(d, fimc);
  return { mm, d, port: sysmmuDmaPort(fimc) };
}

export default defineBench((b) => {
  const src = new Uint8Array(FRAME).map((_, i) => i * 7);
  const dst = new Uint8Array(FRAME);

  const cases = [
    {
      page: SZ_4K,
      label: "4 KiB pages, TLB 64 entries, cold (the frame's 760 pages evict every entry)",
      goal: 0.7,
    },
    { page: SZ_64K, label: "64 KiB pages, TLB 64 entries, warm (48 entries)", goal: null },
    { page: SZ_1M, label: "1 MiB sections, TLB 64 entries, warm (3 entries)", goal: null },
  ];
  for (const c of cases) {
    const { mm, d, port } = rig();
    const pa = mm.buddy.allocPages(10, GFP_KERNEL)! * PAGE_SIZE; // 4 MiB, physically contiguous
    for (let off = 0; off < 4 * SZ_1M; off += c.page) iommuMap(d, IOVA + off, pa + off, c.page, RW);
    const bank = mm.phys.banks[0]!;
    const off = pa - bank.start;
    b.throughput({
      name: `device DMA write+read of a 1080p NV12 frame through the SysMMU, ${c.label}`,
      bytes: 2 * FRAME,
      run: () => {
        port.write(IOVA, src);
        port.read(IOVA, dst);
      },
      baseline: {
        name: "Uint8Array.set (write + read)",
        run: () => {
          bank.u8.set(src, off);
          dst.set(bank.u8.subarray(off, off + FRAME));
        },
      },
      goal: c.goal === null ? null : { op: ">=", value: c.goal },
    });
  }

  {
    // the same frame over scattered 4 KiB pages: one physical run per page
    const { mm, d, port } = rig();
    const bank = mm.phys.banks[0]!;
    const pages: number[] = [];
    for (let i = 0; i < 1024; i++) pages.push(mm.buddy.allocPages(0, GFP_KERNEL)! * PAGE_SIZE);
    for (let i = pages.length - 1; i > 0; i -= 2) [pages[i], pages[i - 1]] = [pages[i - 1]!, pages[i]!];
    for (let i = 0; i < 760; i++) iommuMap(d, IOVA + i * SZ_4K, pages[i]!, SZ_4K, RW);
    const off = pages[0]! - bank.start;
    b.throughput({
      name: "device DMA write+read of a 1080p NV12 frame through the SysMMU, 4 KiB scattered pages, TLB 64 entries, cold",
      bytes: 2 * FRAME,
      run: () => {
        port.write(IOVA, src);
        port.read(IOVA, dst);
      },
      baseline: {
        name: "Uint8Array.set (write + read, one run)",
        run: () => {
          bank.u8.set(src, off);
          dst.set(bank.u8.subarray(off, off + FRAME));
        },
      },
    });
  }

  {
    const { mm, d } = rig();
    const pa = mm.buddy.allocPages(0, GFP_KERNEL)! * PAGE_SIZE;
    // the section's lv2 table exists already (as for any buffer after its first page)
    iommuMap(d, IOVA + SZ_4K, pa, SZ_4K, RW);
    const page = new Uint8Array(SZ_4K).fill(3);
    const copy = new Uint8Array(SZ_4K);
    b.cost({
      name: "iommuMap + iommuUnmap of one 4 KiB page (attached: the unmap flushes the SysMMU's TLB entry)",
      run: () => {
        iommuMap(d, IOVA, pa, SZ_4K, RW);
        iommuUnmap(d, IOVA, SZ_4K);
      },
      baseline: { name: "Uint8Array.set of one 4 KiB page", run: () => copy.set(page) },
      goal: { op: "<=", value: 1.0 },
    });
  }
});
