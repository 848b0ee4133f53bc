import {
  IOMMU_READ,
  IOMMU_WRITE,
  iommuAttachDevice,
  iommuDetachDevice,
  iommuDomainAlloc,
  iommuDomainFree,
  iommuIovaToPhys,
  iommuMap,
  iommuUnmap,
} from "@umm/iommu-core";
import { faultInjectSet, PAGE_SIZE, SZ_1M, SZ_4K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import { exynosIommuState } from "../src/index.js";
import { bootRig } from "./rig.js";

describe('fault injection site "pgtable" (the lv2 table cache)', () => {
  it("a map that needs a new lv2 table fails with ENOMEM and maps nothing; the next one works", () => {
    const rig = bootRig();
    const s = rig.sysmmu(0x11a20000);
    const m = rig.master("fimc0", [s]);
    const d = iommuDomainAlloc(m);
    iommuAttachDevice(d, m);
    const st = exynosIommuState(rig.kernel)!;
    const pa = rig.mm.buddy.allocPages(1, GFP_KERNEL)! * PAGE_SIZE;
    iommuMap(d, 0x20000000, pa, SZ_4K, IOMMU_READ | IOMMU_WRITE); // allocates the section's table
    const pages = st.lv2.pages;
    const objects = st.lv2.objects;
    const free = rig.mm.buddy.nrFreePages;
    faultInjectSet(rig.kernel, "pgtable", { failNth: 1 });
    // same section: its table exists, no allocation, no failure
    iommuMap(d, 0x20001000, pa + SZ_4K, SZ_4K, IOMMU_READ);
    // another section: the table allocation is the injected failure
    expect(() => iommuMap(d, 0x20100000, pa, 2 * SZ_4K, IOMMU_READ)).toThrow(kerr("ENOMEM", /level-2/));
    expect(iommuIovaToPhys(d, 0x20100000)).toBe(0);
    expect(iommuIovaToPhys(d, 0x20101000)).toBe(0);
    expect(st.lv2.objects).toBe(objects);
    expect(st.lv2.pages).toBe(pages);
    expect(rig.mm.buddy.nrFreePages).toBe(free);
    // the device sees nothing there either: a fault, no byte moved
    expect(() => rig.port(m).write(0x20100000, new Uint8Array([1]))).toThrow(kerr("EFAULT"));
    iommuMap(d, 0x20100000, pa, SZ_4K, IOMMU_READ); // one-shot: works now
    expect(iommuIovaToPhys(d, 0x20100000)).toBe(pa);
    expect(iommuUnmap(d, 0x20000000, 2 * SZ_4K)).toBe(2 * SZ_4K);
    expect(iommuUnmap(d, 0x20100000, SZ_4K)).toBe(SZ_4K);
    iommuDetachDevice(d, m);
    iommuDomainFree(d);
    rig.mm.buddy.freePages(pa / PAGE_SIZE, 1);
  });

  it("the cache's own zalloc returns null while injected and holds no extra page", () => {
    const rig = bootRig({ size: 16 * SZ_1M });
    rig.sysmmu(0x11a20000);
    const st = exynosIommuState(rig.kernel)!;
    const pages = st.lv2.pages;
    faultInjectSet(rig.kernel, "pgtable", { probability: 100, times: 2 });
    expect(st.lv2.zalloc()).toBeNull();
    expect(st.lv2.zalloc()).toBeNull();
    expect(st.lv2.pages).toBe(pages);
    const t = st.lv2.zalloc()!;
    expect(t).not.toBeNull();
    st.lv2.free(t);
  });
});
