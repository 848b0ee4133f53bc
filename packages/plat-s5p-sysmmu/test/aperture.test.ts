// Found by tools/fuzz's bad-input catalogue: a map running past 4 GiB of IOVA once wrote a link
// at lv1[4096] — past the 4096-entry table, which a typed array silently drops — leaked the lv2
// table it allocated for it, and reported success. The domain's aperture now refuses it.

import { IOMMU_READ, iommuAttachDevice, iommuDomainAlloc, iommuIovaToPhys, iommuMap } from "@umm/iommu-core";
import { PAGE_SIZE, SZ_4K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import { exynosIommuState } from "../src/index.js";
import { bootRig } from "./rig.js";

describe("the 4 GiB aperture of an exynos-iommu domain", () => {
  it("a map crossing 4 GiB is EINVAL; no page table is allocated or written", () => {
    const rig = bootRig();
    const m = rig.master("fimc0", [rig.sysmmu(0x11a20000)]);
    const d = iommuDomainAlloc(m);
    iommuAttachDevice(d, m);
    const st = exynosIommuState(rig.kernel)!;
    const pa = rig.mm.buddy.allocPages(1, GFP_KERNEL)! * PAGE_SIZE;
    const objects = st.lv2.objects;
    const free = rig.mm.buddy.nrFreePages;
    expect(() => iommuMap(d, 0xfffff000, pa, 2 * SZ_4K, IOMMU_READ)).toThrow(kerr("EINVAL", /aperture/));
    expect(() => iommuMap(d, 0x100000000, pa, SZ_4K, IOMMU_READ)).toThrow(kerr("EINVAL", /aperture/));
    expect(st.lv2.objects).toBe(objects);
    expect(rig.mm.buddy.nrFreePages).toBe(free);
    expect(iommuIovaToPhys(d, 0xfffff000)).toBe(0);
    iommuMap(d, 0xfffff000, pa, SZ_4K, IOMMU_READ); // the last page below 4 GiB is fine
    expect(iommuIovaToPhys(d, 0xfffff000)).toBe(pa);
  });
});
