// The one-to-one wrapper (CONFIG_VCM_O2O) and VCM-CMA (mm/vcm-cma.c).
import { createKernel, PAGE_SIZE, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import {
  type CmaRegion,
  cmaDeclareContiguous,
  cmaInit,
  cmaInitReservedAreas,
  cmaRegionRegister,
} from "@umm/mm-cma";
import { mmInit } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  type VcmO2oDriver,
  VcmPhys,
  vcmAlloc,
  vcmBind,
  vcmCmaCreate,
  vcmDestroyBinding,
  vcmFree,
  vcmMakeBinding,
  vcmMap,
  vcmO2oInit,
  vcmReserve,
  vcmUnbind,
  vcmUnmap,
} from "../src/index.js";
import { boot, expectNoLeaks, fakePhys } from "./helpers.js";

const CARVE = 0x4200_0000;

/** A kernel with a 16 MiB 2010 CMA region "cam" at CARVE. */
export function cmaBoot() {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
  cmaInit(kernel, { sizeMbytes: 0 });
  mm.memblock.reserve(CARVE, 16 * SZ_1M, "cam carve-out");
  mm.memblockFreeAll();
  const region = cmaRegionRegister(kernel, { name: "cam", start: CARVE, size: 16 * SZ_1M });
  return { kernel, mm, region };
}

function o2o(parts: (size: number) => { start: number; size: number }[], opts: { noFree?: boolean } = {}) {
  const { kernel } = boot();
  const freed: number[] = [];
  const driver: VcmO2oDriver = {
    phys: (vcm, size) =>
      new VcmPhys(vcm.kernel, {
        parts: parts(size).map((p) => ({ ...p, pfn: p.start / PAGE_SIZE })),
        size,
        free: opts.noFree ? null : (p) => void freed.push(p.parts[0]?.start ?? -1),
      }),
  };
  return { kernel, vcm: vcmO2oInit(kernel, { start: 0x4000_0000, size: 64 * SZ_1M, driver }), freed };
}

describe("vcmO2oInit (vcm_o2o_init)", () => {
  it("rejects a driver without phys (EINVAL)", () => {
    const { kernel } = boot();
    expect(() => vcmO2oInit(kernel, { start: 0, size: SZ_4K, driver: {} as VcmO2oDriver })).toThrow(
      kerr("EINVAL"),
    );
    expect(() =>
      vcmO2oInit(kernel, { start: 1, size: SZ_4K, driver: { phys: () => fakePhys(kernel, []) } }),
    ).toThrow(kerr("EINVAL", /aligned/));
  });

  it("vcmMakeBinding maps at the physical address: res.start == parts[0].start, count 1", () => {
    const { vcm } = o2o((size) => [{ start: 0x4100_0000, size }]);
    const r = vcmMakeBinding(vcm, 3 * SZ_4K);
    expect([r.start, r.resSize, r.boundSize, r.phys?.count]).toEqual([0x4100_0000, 3 * SZ_4K, 3 * SZ_4K, 1]);
    vcmDestroyBinding(r);
  });

  it("cannot reserve: vcmReserve is EOPNOTSUPP", () => {
    const { vcm } = o2o((size) => [{ start: 0x4100_0000, size }]);
    expect(() => vcmReserve(vcm, SZ_4K)).toThrow(kerr("EOPNOTSUPP"));
  });

  it.each([
    ["a part smaller than asked", (size: number) => [{ start: 0x4100_0000, size: size - SZ_4K }]],
    ["an empty part", () => [{ start: 0x4100_0000, size: 0 }]],
    ["an unaligned part", (size: number) => [{ start: 0x4100_0800, size }]],
    ["no part", () => []],
  ])("refuses %s from the driver: frees it and throws EINVAL", (_w, parts) => {
    const { vcm, freed, kernel } = o2o(parts);
    expect(() => vcmMakeBinding(vcm, 2 * SZ_4K)).toThrow(kerr("EINVAL"));
    expect(freed).toHaveLength(1);
    expectNoLeaks(kernel);
  });

  it("refuses a phys without free (EINVAL)", () => {
    const { vcm } = o2o((size) => [{ start: 0x4100_0000, size }], { noFree: true });
    expect(() => vcmAlloc(vcm, SZ_4K)).toThrow(kerr("EINVAL", /free/));
  });

  it("a driver phys with a good first part but two parts passes phys, fails map (EOPNOTSUPP), and is freed", () => {
    const { kernel, vcm, freed } = o2o((size) => [
      { start: 0x4100_0000, size },
      { start: 0x4200_0000, size: SZ_4K },
    ]);
    expect(() => vcmMakeBinding(vcm, SZ_4K)).toThrow(kerr("EOPNOTSUPP", /contiguous/));
    expect(freed).toEqual([0x4100_0000]);
    expectNoLeaks(kernel);
  });

  it("map needs one contiguous part: a scattered phys is EOPNOTSUPP", () => {
    const { kernel, vcm } = o2o((size) => [{ start: 0x4100_0000, size }]);
    const scattered = fakePhys(kernel, [
      { start: 0x4100_0000, size: SZ_4K },
      { start: 0x4200_0000, size: SZ_4K },
    ]);
    expect(() => vcmMap(vcm, scattered)).toThrow(kerr("EOPNOTSUPP", /contiguous/));
    expect(scattered.bindings).toBe(0);
    const odd = fakePhys(kernel, [{ start: 0x4100_0800, size: SZ_4K }]);
    expect(() => vcmMap(vcm, odd)).toThrow(kerr("EINVAL"));
  });

  it("bind succeeds only where bus address equals physical address (else EOPNOTSUPP)", () => {
    const { kernel, vcm } = o2o((size) => [{ start: 0x4100_0000, size }]);
    const r = vcmMakeBinding(vcm, SZ_4K);
    const p = vcmUnbind(r) as VcmPhys;
    const other = fakePhys(kernel, [{ start: 0x4200_0000, size: SZ_4K }]);
    expect(() => vcmBind(r, other)).toThrow(kerr("EOPNOTSUPP", /physical address/));
    const two = fakePhys(kernel, [
      { start: 0x4100_0000, size: SZ_4K / 2 },
      { start: 0x4100_0800, size: SZ_4K / 2 },
    ]);
    expect(() => vcmBind(r, two)).toThrow(kerr("EOPNOTSUPP", /contiguous/));
    vcmBind(r, p);
    expect(r.phys).toBe(p);
    vcmDestroyBinding(r);
  });

  it("any contiguous phys can be mapped one-to-one (vcmMap), and vcmUnmap leaves it allocated", () => {
    const { kernel, vcm } = o2o((size) => [{ start: 0x4100_0000, size }]);
    const p = fakePhys(kernel, [{ start: 0x4300_0000, size: SZ_64K }]);
    const r = vcmMap(vcm, p);
    expect([r.start, r.resSize]).toEqual([0x4300_0000, SZ_64K]);
    vcmUnmap(r);
    expect(p.freed).toBe(false);
    vcmFree(p);
  });
});

describe("vcmCmaCreate (vcm_cma_create)", () => {
  it("rejects an alignment that is not a power of two (EINVAL); 0 is allowed", () => {
    const { kernel, region } = cmaBoot();
    expect(() => vcmCmaCreate(kernel, region, 3 * SZ_4K)).toThrow(kerr("EINVAL", /power of two/));
    expect(() => vcmCmaCreate(kernel, region, -1)).toThrow(kerr("EINVAL"));
    expect(vcmCmaCreate(kernel, region, 0).name).toBe("vcm_cma:cam");
  });

  it("takes one chunk per binding from the region, aligned, and gives it back", () => {
    const { kernel, mm, region } = cmaBoot();
    const vcm = vcmCmaCreate(kernel, region, SZ_1M);
    expect([vcm.start, vcm.size]).toEqual([CARVE, 16 * SZ_1M]);
    const a = vcmMakeBinding(vcm, 3 * SZ_4K);
    const b = vcmMakeBinding(vcm, 2 * SZ_1M);
    for (const r of [a, b]) {
      expect(r.start % SZ_1M).toBe(0);
      expect(r.start).toBe(r.phys?.parts[0]?.start);
      expect(r.start).toBeGreaterThanOrEqual(CARVE);
      expect(r.start + r.boundSize).toBeLessThanOrEqual(CARVE + 16 * SZ_1M);
      expect(mm.frames.ownerOf(r.start / PAGE_SIZE)).toMatch(/^cma:cam/);
    }
    expect(region.free).toBe(16 * SZ_1M - 3 * SZ_4K - 2 * SZ_1M);
    vcmDestroyBinding(a);
    vcmDestroyBinding(b);
    expect(region.free).toBe(region.size);
    expectNoLeaks(kernel);
  });

  it("ENOMEM from CMA propagates and nothing stays allocated", () => {
    const { kernel, region } = cmaBoot();
    const vcm = vcmCmaCreate(kernel, region);
    expect(() => vcmMakeBinding(vcm, 32 * SZ_1M)).toThrow(kerr("ENOMEM"));
    expect(region.free).toBe(region.size);
    expectNoLeaks(kernel);
  });

  it("the RFCv5 form takes a list of region names", () => {
    const { kernel, region } = cmaBoot();
    const vcm = vcmCmaCreate(kernel, "nosuch,cam", SZ_64K);
    expect([vcm.start, vcm.size]).toEqual([CARVE, 16 * SZ_1M]);
    const r = vcmMakeBinding(vcm, SZ_64K);
    expect(region.users).toBe(1);
    vcmDestroyBinding(r);
    expect(region.users).toBe(0);
  });

  it("works over a merged, reusable CMA area (pages migrate out of the way)", () => {
    let area: CmaRegion | null = null;
    const kernel = createKernel({ seed: 2 });
    const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
    cmaInit(kernel, { sizeMbytes: 0 });
    area = cmaDeclareContiguous(kernel, { size: 8 * SZ_1M, name: "video" });
    mm.memblockFreeAll();
    cmaInitReservedAreas(kernel);
    const vcm = vcmCmaCreate(kernel, area, SZ_1M);
    const r = vcmMakeBinding(vcm, 3 * SZ_1M);
    expect(r.start).toBe(r.phys?.parts[0]?.start);
    expect(r.start).toBeGreaterThanOrEqual(area.base);
    vcmDestroyBinding(r);
    expectNoLeaks(kernel);
  });
});
