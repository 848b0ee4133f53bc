import { strict as assert } from "node:assert";
import {
  IOMMU_READ,
  IOMMU_WRITE,
  iommuAttachDevice,
  iommuDetachDevice,
  iommuDomainAlloc,
  iommuDomainFree,
  iommuFwspecInit,
  iommuMap,
  iommuProbeDevice,
  iommuSetFaultHandler,
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
} from "@umm/kernel-core";
import { GFP_KERNEL, mmInit } from "@umm/mm-core";
import {
  EXYNOS_SYSMMU_DRIVER,
  EXYNOS4210_SYSMMUS,
  exynosSysmmuOf,
  REG_MMU_STATUS,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";

// A board: DRAM, a platform bus with the exynos-sysmmu driver, FIMC0's System MMU (v1.0).
const kernel = createKernel({ seed: 1 });
const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
mm.memblockFreeAll();
const platform = busRegister(kernel, "platform");
driverRegister(platform, EXYNOS_SYSMMU_DRIVER);
const sysmmu = sysmmuPlatformDevice(kernel, EXYNOS4210_SYSMMUS.find((s) => s.name === "FIMC0")!);
deviceRegister(sysmmu, platform); // probe: the hardware model, registered with iommu-core

// The camera behind it (`iommus = <&sysmmu_fimc0>`), probed through iommu-core.
const fimc0 = new Device(kernel, { name: "fimc0" });
deviceRegister(fimc0);
iommuFwspecInit(fimc0, sysmmu);
iommuProbeDevice(fimc0);

// Two scattered physical pages become one contiguous device buffer at 0x20000000.
const domain = iommuDomainAlloc(fimc0);
iommuAttachDevice(domain, fimc0); // page-table base written, TLB flushed, translation on
const a = mm.buddy.allocPages(0, GFP_KERNEL)! * PAGE_SIZE;
const b = mm.buddy.allocPages(0, GFP_KERNEL)! * PAGE_SIZE;
iommuMap(domain, 0x20000000, b, PAGE_SIZE, IOMMU_READ | IOMMU_WRITE);
iommuMap(domain, 0x20001000, a, PAGE_SIZE, IOMMU_READ | IOMMU_WRITE);

// The camera writes across the page boundary; the SysMMU walks the tables held in DRAM.
const port = sysmmuDmaPort(fimc0);
port.write(0x20000ffe, new Uint8Array([1, 2, 3, 4]));
assert.deepEqual([mm.phys.read8(b + 0xfff), mm.phys.read8(a)], [2, 3]);

// An access to an unmapped IOVA: the SysMMU blocks and interrupts, the driver reports the
// fault, the transaction is aborted; the driver clears the interrupt and unblocks.
const faults: number[] = [];
iommuSetFaultHandler(
  domain,
  (_d, _dev, iova) => {
    faults.push(iova);
    return 0; // handled
  },
  null,
);
assert.throws(() => port.read(0x20002000, new Uint8Array(4)), /PAGE FAULT at 0x20002000/);
assert.deepEqual(faults, [0x20002000]);
assert.equal(exynosSysmmuOf(sysmmu)!.mmu.read32(REG_MMU_STATUS), 0); // unblocked

iommuUnmap(domain, 0x20000000, 2 * PAGE_SIZE); // TLB entries flushed
iommuDetachDevice(domain, fimc0);
iommuDomainFree(domain); // lv1, lv2 tables and counters back to the buddy allocator
