// Translation between address spaces: D.V -> P.A, P.A -> D.V per context, K.V through vcm_vmm.
import { iommuIovaToPhys } from "@umm/iommu-core";
import { SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  type VcmPhys,
  vcmActivate,
  vcmAlloc,
  vcmDvToPhys,
  vcmMap,
  vcmMmuInit,
  vcmPhysToDv,
  vcmPhysToKv,
  vcmReserve,
  vcmResToPhys,
  vcmTranslate,
  vcmUnmap,
  vcmVmm,
} from "../src/index.js";
import { boot } from "./helpers.js";
import { softIommu } from "./soft-iommu.js";

function rig() {
  const { kernel, mm } = boot();
  const iommu = softIommu(kernel);
  const a = iommu.masterWithDomain("fimc0");
  const b = iommu.masterWithDomain("fimd0");
  const va = vcmMmuInit(kernel, { start: 0x1000_0000, size: 256 * SZ_1M, domain: a.domain, name: "fimc0" });
  const vb = vcmMmuInit(kernel, { start: 0x2000_0000, size: 256 * SZ_1M, domain: b.domain, name: "fimd0" });
  vcmActivate(va);
  vcmActivate(vb);
  return { kernel, mm, a, b, va, vb };
}

describe("translation between address spaces", () => {
  it("D.V -> P.A in a binding follows the parts in order, and agrees with the IOMMU", () => {
    const { va, a } = rig();
    const p = vcmAlloc(va, SZ_1M + SZ_64K + SZ_4K);
    const r = vcmMap(va, p);
    const parts = (r.phys as VcmPhys).parts;
    expect(vcmResToPhys(r, 0)).toBe(parts[0]?.start);
    expect(vcmResToPhys(r, SZ_1M + 5)).toBe((parts[1]?.start as number) + 5);
    expect(vcmResToPhys(r, SZ_1M + SZ_64K + 7)).toBe((parts[2]?.start as number) + 7);
    for (let off = 0; off < r.boundSize; off += 0x3001) {
      expect(vcmResToPhys(r, off)).toBe(iommuIovaToPhys(a.domain, r.start + off));
      expect(vcmDvToPhys(va, r.start + off)).toBe(vcmResToPhys(r, off));
    }
    expect(() => vcmResToPhys(r, r.boundSize)).toThrow(kerr("EINVAL", /outside/));
    expect(() => vcmResToPhys(r, -1)).toThrow(kerr("EINVAL"));
    expect(vcmDvToPhys(va, r.start + r.boundSize)).toBeNull();
    const unbound = vcmReserve(va, SZ_4K);
    expect(() => vcmResToPhys(unbound, 0)).toThrow(kerr("EINVAL", /not bound/));
    expect(vcmDvToPhys(va, unbound.start)).toBeNull();
  });

  it("P.A -> D.V lists every reservation of the context mapping it; K.V through vcm_vmm", () => {
    const { kernel, mm, va, vb } = rig();
    const p = vcmAlloc(va, 2 * SZ_64K);
    const r1 = vcmMap(va, p);
    const r2 = vcmMap(va, p); // mapped twice in one context
    const rb = vcmMap(vb, p);
    const pa = (p.parts[0]?.start as number) + 0x123;
    expect(vcmPhysToDv(va, pa).map((h) => [h.res, h.daddr])).toEqual([
      [r1, r1.start + 0x123],
      [r2, r2.start + 0x123],
    ]);
    expect(vcmPhysToDv(vb, pa).map((h) => h.daddr)).toEqual([rb.start + 0x123]);
    expect(vcmPhysToKv(kernel, pa)).toEqual([]);
    const kv = vcmMap(vcmVmm(kernel), p);
    expect(vcmPhysToKv(kernel, pa)).toEqual([kv.start + 0x123]);
    expect(mm.kspace.translate(kv.start + 0x123)).toBe(pa);
    // D.V in one device's space -> D.V in the other's, and into K.V
    expect(vcmTranslate(vb, rb.start + 0x123, va)).toEqual([r1.start + 0x123, r2.start + 0x123]);
    expect(vcmTranslate(va, r1.start + 0x10, vcmVmm(kernel))).toEqual([kv.start + 0x10]);
    expect(vcmTranslate(va, 0x1fff_0000, vb)).toEqual([]);
    vcmUnmap(kv);
    vcmUnmap(r2);
    expect(vcmPhysToDv(va, pa).map((h) => h.res)).toEqual([r1]);
    expect(vcmPhysToDv(va, 0x4000_0000 - 1)).toEqual([]);
  });
});
