import { strict as assert } from "node:assert";
import {
  allocIova,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuDevice,
  type IommuDomain,
  initIovaDomain,
  iommuAttachDevice,
  iommuDeviceRegister,
  iommuDomainAlloc,
  iommuFwspecInit,
  iommuIovaToPhys,
  iommuMap,
  iommuProbeDevice,
  iommuUnmap,
} from "@umm/iommu-core";
import type { IommuDomainOps, IommuOps } from "@umm/iommu-core/ops";
import { createKernel, Device, hex, KernelError, SZ_4K } from "@umm/kernel-core";

// A toy IOMMU driver: 4 KiB pages, its page table a Map from IOVA page to physical page.
interface ToyDomain extends IommuDomain {
  readonly pte: Map<number, number>;
}
const pteOf = (d: IommuDomain): Map<number, number> => (d as ToyDomain).pte;
const toyDomainOps = Object.freeze({
  attachDev() {},
  mapPages(d, iova, paddr, pgsize, pgcount) {
    for (let i = 0; i < pgcount; i++) {
      if (pteOf(d).has(iova + i * pgsize))
        throw new KernelError("EEXIST", `iova ${hex(iova + i * pgsize)} is mapped`);
    }
    for (let i = 0; i < pgcount; i++) pteOf(d).set(iova + i * pgsize, paddr + i * pgsize);
    return pgcount * pgsize;
  },
  unmapPages(d, iova, pgsize, pgcount) {
    let n = 0;
    while (n < pgcount && pteOf(d).delete(iova + n * pgsize)) n++;
    return n * pgsize;
  },
  iovaToPhys(d, iova) {
    const page = pteOf(d).get(iova - (iova % SZ_4K));
    return page === undefined ? 0 : page + (iova % SZ_4K);
  },
} satisfies IommuDomainOps);
const toyOps: IommuOps = Object.freeze({
  pgsizeBitmap: SZ_4K,
  domainAlloc() {
    const domain = { ops: toyDomainOps, pte: new Map<number, number>() };
    return domain;
  },
  probeDevice: (): IommuDevice => toy,
} satisfies IommuOps);

const kernel = createKernel();
const sysmmu = new Device(kernel, { name: "11a20000.sysmmu" });
const toy: IommuDevice = { ops: toyOps, hwdev: sysmmu, fwnode: sysmmu };
iommuDeviceRegister(toy); // the IOMMU driver's probe
const fimc = new Device(kernel, { name: "fimc0" });
iommuFwspecInit(fimc, sysmmu); // DT: iommus = <&sysmmu_fimc0>
iommuProbeDevice(fimc);

const domain = iommuDomainAlloc(fimc); // IOMMU_DOMAIN_UNMANAGED
iommuAttachDevice(domain, fimc);
iommuMap(domain, 0x1000_0000, 0x4000_0000, 3 * SZ_4K, IOMMU_READ | IOMMU_WRITE);
assert.equal(iommuIovaToPhys(domain, 0x1000_2010), 0x4000_2010);
assert.throws(() => iommuMap(domain, 0x1000_1000, 0x5000_0000, SZ_4K, IOMMU_READ), /^KernelError: EEXIST/);
assert.throws(
  () => iommuMap(domain, 0x2000_0001, 0, SZ_4K, IOMMU_READ),
  /EINVAL: unaligned: iova 0x20000001/,
);
assert.equal(iommuUnmap(domain, 0x1000_0000, 3 * SZ_4K), 3 * SZ_4K);
assert.equal(iommuIovaToPhys(domain, 0x1000_2010), 0); // 0: not mapped

// The IOVA allocator hands out device addresses top-down, naturally aligned when asked.
const iovad = initIovaDomain(SZ_4K, 1);
assert.deepEqual(allocIova(iovad, 3, 0xfffff, true), { pfnLo: 0xffffc, pfnHi: 0xffffe });
