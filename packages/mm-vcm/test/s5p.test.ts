// Samsung's S5P unified address space (arch/arm/plat-s5p/s5p-vcm.c): one page table in DRAM for
// every System MMU master; the test's SysMMU models walk it.
import { fc, test } from "@fast-check/vitest";
import { KernelError, PAGE_SIZE, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  S5P_VCM_BASE,
  S5PVCM_RES_IN_ADDRSPACE,
  S5PVCM_RES_IN_VCM,
  S5PVCM_RES_NOT_IN_VCM,
  s5pVcmExit,
  s5pVcmInit,
  s5pVcmLv2Tables,
  VCM_DEV_FIMC0,
  VCM_DEV_G2D,
  VCM_DEV_MFC,
  VCM_DEV_NONE,
  VCM_DEV_NUM,
  VCM_DEV_TV,
  type VcmPhys,
  type VcmRes,
  vcmActivate,
  vcmAlloc,
  vcmBind,
  vcmCreateUnified,
  vcmDeactivate,
  vcmDestroy,
  vcmDestroyBinding,
  vcmFindVcm,
  vcmFree,
  vcmMakeBinding,
  vcmReservationInVcm,
  vcmReserve,
  vcmSetPgtableBase,
  vcmUnbind,
  vcmUnreserve,
} from "../src/index.js";
import { _s5pWriter } from "../src/s5p.js";
import { boot, countingVcm, expectNoLeaks, fakePhys, pattern, record, warnings } from "./helpers.js";
import { kindAt, lv2Problems, s5pRig, walk } from "./s5p-walker.js";

function rig(size = 128 * SZ_1M) {
  const { kernel, mm } = boot({ size });
  const s5p = s5pRig(kernel);
  const { pgd } = s5pVcmInit(kernel);
  return { kernel, mm, s5p, pgd };
}

/** Every page of a bound reservation walks to the matching physical page. */
function expectWalks(mm: ReturnType<typeof rig>["mm"], pgd: number, res: VcmRes): void {
  let va = res.start;
  for (const part of (res.phys as VcmPhys).parts) {
    for (let off = 0; off < part.size; off += SZ_4K) expect(walk(mm, pgd, va + off)).toBe(part.start + off);
    va += part.size;
  }
}

describe("vcmCreateUnified (vcm_create_unified)", () => {
  it("gives each id a disjoint 1 MiB-aligned slice of [0x00100000, 0xFFF00000), rounded up to 1 MiB", () => {
    const { kernel, s5p } = rig();
    const rec = record(kernel, "vcm_warn");
    const g2d = vcmCreateUnified(kernel, 1024 * SZ_1M, VCM_DEV_G2D, s5p.driver(VCM_DEV_G2D));
    const tv = vcmCreateUnified(kernel, 64 * SZ_1M + SZ_4K, VCM_DEV_TV, s5p.driver(VCM_DEV_TV));
    const mfc = vcmCreateUnified(kernel, 2 * 256 * SZ_1M, VCM_DEV_MFC, null);
    expect([g2d.start, g2d.size]).toEqual([S5P_VCM_BASE, 1024 * SZ_1M]);
    expect([tv.start, tv.size]).toEqual([S5P_VCM_BASE + 1024 * SZ_1M, 65 * SZ_1M]);
    expect(mfc.start).toBe(S5P_VCM_BASE + 1089 * SZ_1M);
    expect(warnings(rec)).toEqual([expect.stringMatching(/rounded up to 1 MiB/)]);
    expect(g2d.mmuDriver.orders).toEqual([8, 4, 0]);
    expect(vcmFindVcm(kernel, VCM_DEV_TV)).toBe(tv);
    expect(vcmFindVcm(kernel, VCM_DEV_FIMC0)).toBeNull();
    expect(vcmFindVcm(kernel, VCM_DEV_NONE)).toBeNull();
    expect(vcmFindVcm(kernel, VCM_DEV_NUM)).toBeNull();
  });

  it("errors in the kernel's order: EEXIST, EINVAL (size), EINVAL (id), ENOSPC, EBADR", () => {
    const { kernel } = rig();
    vcmCreateUnified(kernel, SZ_1M, VCM_DEV_G2D, null);
    expect(() => vcmCreateUnified(kernel, SZ_4K + 1, VCM_DEV_G2D, null)).toThrow(kerr("EEXIST"));
    expect(() => vcmCreateUnified(kernel, SZ_4K + 1, VCM_DEV_NUM, null)).toThrow(kerr("EINVAL", /4 KiB/));
    expect(() => vcmCreateUnified(kernel, SZ_1M, VCM_DEV_NUM, null)).toThrow(kerr("EINVAL", /id 15/));
    expect(() => vcmCreateUnified(kernel, SZ_1M, VCM_DEV_NONE, null)).toThrow(kerr("EINVAL", /id -1/));
    expect(() => vcmCreateUnified(kernel, 0xffe0_0000, VCM_DEV_TV, null)).toThrow(kerr("ENOSPC"));
    expect(() => vcmCreateUnified(kernel, 0, VCM_DEV_TV, null)).toThrow(kerr("EBADR"));
    expect(vcmFindVcm(kernel, VCM_DEV_TV)).toBeNull();
    // nothing was taken by the refused calls: the rest of the space is still one slice
    expect(vcmCreateUnified(kernel, 0xffe0_0000 - SZ_1M, VCM_DEV_TV, null).start).toBe(S5P_VCM_BASE + SZ_1M);
  });

  it("vcmDestroy frees the id and the slice", () => {
    const { kernel } = rig();
    const a = vcmCreateUnified(kernel, 4 * SZ_1M, VCM_DEV_G2D, null);
    vcmDestroy(a);
    expect(vcmFindVcm(kernel, VCM_DEV_G2D)).toBeNull();
    const b = vcmCreateUnified(kernel, 4 * SZ_1M, VCM_DEV_G2D, null);
    expect(b.start).toBe(a.start);
  });

  test.prop(
    [
      fc.array(fc.tuple(fc.integer({ min: 0, max: VCM_DEV_NUM - 1 }), fc.integer({ min: 1, max: 700 })), {
        maxLength: 30,
      }),
    ],
    {
      numRuns: 30,
    },
  )("slices stay disjoint and 1 MiB-aligned through creates and destroys", (ops) => {
    const { kernel } = rig(16 * SZ_1M);
    for (const [id, mib] of ops) {
      const have = vcmFindVcm(kernel, id);
      if (have) vcmDestroy(have);
      else {
        try {
          vcmCreateUnified(kernel, mib * SZ_1M, id, null);
        } catch (e) {
          expect((e as Error).message).toMatch(/^ENOSPC: /);
        }
      }
      const live = Array.from({ length: VCM_DEV_NUM }, (_, i) => vcmFindVcm(kernel, i)).filter(
        (v) => v !== null,
      );
      live.sort((x, y) => x.start - y.start);
      for (let i = 0; i < live.length; i++) {
        const v = live[i] as NonNullable<(typeof live)[number]>;
        expect(v.start % SZ_1M).toBe(0);
        expect(v.start).toBeGreaterThanOrEqual(S5P_VCM_BASE);
        expect(v.start + v.size).toBeLessThanOrEqual(S5P_VCM_BASE + 0xffe0_0000);
        if (i > 0)
          expect(v.start).toBeGreaterThanOrEqual(
            (live[i - 1] as typeof v).start + (live[i - 1] as typeof v).size,
          );
      }
    }
  });
});

describe("activation and the shared page table", () => {
  it("activation programs bound reservations, sets the pgd base and invalidates the TLB", () => {
    const { kernel, mm, s5p, pgd } = rig();
    const v = vcmCreateUnified(kernel, 64 * SZ_1M, VCM_DEV_G2D, s5p.driver(VCM_DEV_G2D));
    const r = vcmMakeBinding(v, SZ_1M + SZ_64K + SZ_4K);
    expect(walk(mm, pgd, r.start)).toBeNull(); // inactive: not on the hardware
    vcmActivate(v);
    expect(s5p.log).toEqual([`pgd ${VCM_DEV_G2D} 0x${pgd.toString(16)}`, `tlb ${VCM_DEV_G2D}`]);
    expectWalks(mm, pgd, r);
    expect(kindAt(mm, pgd, r.start)).toBe("section");
    expect(kindAt(mm, pgd, r.start + SZ_1M)).toBe("large");
    expect(kindAt(mm, pgd, r.start + SZ_1M + SZ_64K)).toBe("small");
    expect(lv2Problems(mm, pgd)).toEqual([]);
  });

  it("writes §5.4 descriptors: section pa|2, link table|1, large pa|1 ×16, small pa|2", () => {
    const { kernel, mm, pgd } = rig();
    const v = vcmCreateUnified(kernel, 64 * SZ_1M, VCM_DEV_G2D, null);
    vcmActivate(v);
    const r = vcmMakeBinding(v, SZ_1M + SZ_64K + SZ_4K);
    const [sec, large, small] = (r.phys as VcmPhys).parts;
    const l1 = (va: number) => mm.phys.read32(pgd + Math.floor(va / SZ_1M) * 4);
    expect(l1(r.start)).toBe((sec?.start as number) + 2);
    const link = l1(r.start + SZ_1M);
    expect(link & 0x3ff).toBe(1);
    const table = link - 1;
    for (let i = 0; i < 16; i++) expect(mm.phys.read32(table + i * 4)).toBe((large?.start as number) + 1);
    expect(mm.phys.read32(table + 16 * 4)).toBe((small?.start as number) + 2);
    expect(mm.phys.read32(table + 17 * 4)).toBe(0);
  });

  it("a device reads and writes through its SysMMU model; unbind removes the PTEs and invalidates the TLB", () => {
    const { kernel, mm, s5p, pgd } = rig();
    const v = vcmCreateUnified(kernel, 64 * SZ_1M, VCM_DEV_FIMC0, s5p.driver(VCM_DEV_FIMC0));
    vcmActivate(v);
    const port = s5p.models.get(VCM_DEV_FIMC0)?.port;
    if (!port) throw new Error("no model");
    const r = vcmMakeBinding(v, 3 * SZ_1M + 12 * SZ_4K);
    const data = pattern(r.boundSize, 5);
    port.write(r.start, data);
    const back = new Uint8Array(r.boundSize);
    let off = 0;
    for (const p of (r.phys as VcmPhys).parts) {
      mm.phys.read(p.start, back, off, p.size);
      off += p.size;
    }
    expect(firstDiff(back, data)).toBe(-1);
    const model = s5p.models.get(VCM_DEV_FIMC0);
    const inval = model?.invalidations ?? 0;
    const tables = s5pVcmLv2Tables(kernel);
    const start = r.start;
    vcmDestroyBinding(r);
    expect(model?.invalidations).toBe(inval + 1);
    for (let va = start; va < start + 3 * SZ_1M + 12 * SZ_4K; va += SZ_4K)
      expect(walk(mm, pgd, va)).toBeNull();
    expect(s5pVcmLv2Tables(kernel)).toBe(tables); // lv2 tables are not freed on unmap
    expect(() => port.read(start, back)).toThrow(kerr("EFAULT", /page fault/));
  });

  it("deactivation takes every binding off and invalidates the device's TLB", () => {
    const { kernel, mm, s5p, pgd } = rig();
    const v = vcmCreateUnified(kernel, 64 * SZ_1M, VCM_DEV_TV, s5p.driver(VCM_DEV_TV));
    const rs = [SZ_64K, 2 * SZ_1M, 5 * SZ_4K].map((s) => vcmMakeBinding(v, s));
    vcmActivate(v);
    for (const r of rs) expectWalks(mm, pgd, r);
    s5p.log.length = 0;
    vcmDeactivate(v);
    expect(s5p.log).toEqual([`tlb ${VCM_DEV_TV}`, `tlb ${VCM_DEV_TV}`, `tlb ${VCM_DEV_TV}`]);
    for (const r of rs) expect(walk(mm, pgd, r.start)).toBeNull();
    vcmSetPgtableBase(kernel, VCM_DEV_TV);
    expect(s5p.log.at(-1)).toBe(`pgd ${VCM_DEV_TV} 0x${pgd.toString(16)}`);
    vcmSetPgtableBase(kernel, VCM_DEV_G2D); // no context: nothing
    expect(s5p.log).toHaveLength(4);
  });

  it("a part that continues into the next MiB through lv2 tables maps the right pages", () => {
    // [discrepancy] the i777 s5p_write_2nd_table restarts such a part at its first page
    const { kernel, mm, pgd } = rig();
    const v = vcmCreateUnified(kernel, 64 * SZ_1M, VCM_DEV_G2D, null);
    vcmActivate(v);
    vcmReserve(v, SZ_64K); // pushes the next reservation off the 1 MiB boundary
    const one = fakePhys(kernel, [{ start: 0x4010_0000, size: SZ_1M }]);
    const r = vcmReserve(v, SZ_1M + SZ_64K); // 64 KiB-aligned
    expect(r.start % SZ_1M).toBe(SZ_64K);
    vcmBind(r, one);
    expectWalks(mm, pgd, r);
    expect(kindAt(mm, pgd, r.start + SZ_1M - SZ_64K)).toBe("large");
    // one contiguous 3 MiB + 64 KiB chunk: sections, then the tail through a lv2 table
    const chunk = fakePhys(kernel, [{ start: 0x4100_0000, size: 3 * SZ_1M + SZ_64K }]);
    const big = vcmReserve(v, 4 * SZ_1M);
    vcmBind(big, chunk);
    expectWalks(mm, pgd, big);
    expect([0, 1, 2].map((k) => kindAt(mm, pgd, big.start + k * SZ_1M))).toEqual([
      "section",
      "section",
      "section",
    ]);
    expect(kindAt(mm, pgd, big.start + 3 * SZ_1M)).toBe("large");
    expect(lv2Problems(mm, pgd)).toEqual([]);
  });

  it("an empty lv2 table where a section goes is freed and replaced", () => {
    const { kernel, mm, pgd } = rig();
    const v = vcmCreateUnified(kernel, 64 * SZ_1M, VCM_DEV_G2D, null);
    vcmActivate(v);
    const small = vcmMakeBinding(v, SZ_4K); // creates the lv2 table of the first MiB
    expect(s5pVcmLv2Tables(kernel)).toBe(1);
    const at = small.start;
    vcmDestroyBinding(small); // the table stays, empty
    expect(s5pVcmLv2Tables(kernel)).toBe(1);
    const big = vcmMakeBinding(v, SZ_1M);
    expect(big.start).toBe(at);
    expect(kindAt(mm, pgd, at)).toBe("section");
    expect(s5pVcmLv2Tables(kernel)).toBe(0);
  });

  it("vcmReservationInVcm: IN_VCM, IN_ADDRSPACE (with the querier's TLB invalidated), NOT_IN_VCM", () => {
    const { kernel, s5p } = rig();
    const g2d = vcmCreateUnified(kernel, 16 * SZ_1M, VCM_DEV_G2D, s5p.driver(VCM_DEV_G2D));
    const tv = vcmCreateUnified(kernel, 16 * SZ_1M, VCM_DEV_TV, s5p.driver(VCM_DEV_TV));
    const r = vcmReserve(g2d, SZ_64K);
    expect(vcmReservationInVcm(g2d, r)).toBe(S5PVCM_RES_IN_VCM);
    s5p.log.length = 0;
    expect(vcmReservationInVcm(tv, r)).toBe(S5PVCM_RES_IN_ADDRSPACE);
    expect(s5p.log).toEqual([`tlb ${VCM_DEV_TV}`]);
    const { vcm: other } = countingVcm(kernel);
    const foreign = vcmReserve(other, SZ_4K);
    expect(vcmReservationInVcm(tv, foreign)).toBe(S5PVCM_RES_NOT_IN_VCM);
    expect(vcmReservationInVcm(other, r)).toBe(S5PVCM_RES_NOT_IN_VCM);
    expect(vcmReservationInVcm(tv, null as unknown as VcmRes)).toBe(S5PVCM_RES_NOT_IN_VCM);
  });

  it("one page table: a buffer of G2D's context written by G2D is read by the TV mixer", () => {
    const { kernel, s5p } = rig();
    const g2d = vcmCreateUnified(kernel, 16 * SZ_1M, VCM_DEV_G2D, s5p.driver(VCM_DEV_G2D));
    const tv = vcmCreateUnified(kernel, 16 * SZ_1M, VCM_DEV_TV, s5p.driver(VCM_DEV_TV));
    vcmActivate(g2d);
    vcmActivate(tv);
    const r = vcmMakeBinding(g2d, SZ_1M + SZ_64K);
    const data = pattern(r.boundSize, 11);
    s5p.models.get(VCM_DEV_G2D)?.port.write(r.start, data);
    expect(vcmReservationInVcm(tv, r)).toBe(S5PVCM_RES_IN_ADDRSPACE);
    const seen = new Uint8Array(r.boundSize);
    s5p.models.get(VCM_DEV_TV)?.port.read(r.start, seen);
    expect(firstDiff(seen, data)).toBe(-1);
  });

  it("a device allocator (phys_alloc) gives single-part memory freed through phys_free", () => {
    const { kernel, mm, s5p, pgd } = rig();
    const freed: number[] = [];
    let fail = false;
    const v = vcmCreateUnified(
      kernel,
      64 * SZ_1M,
      VCM_DEV_MFC,
      s5p.driver(VCM_DEV_MFC, {
        physAlloc: (size) => {
          if (fail) throw new KernelError("ENOMEM", "carve-out full");
          const pfn = mm.buddy.allocPages(Math.log2(Math.ceil(size / PAGE_SIZE)), GFP_KERNEL);
          return (pfn as number) * PAGE_SIZE;
        },
        physFree: (p) => {
          freed.push(p.parts[0]?.start as number);
          mm.buddy.freePages((p.parts[0]?.start as number) / PAGE_SIZE, Math.log2(p.size / PAGE_SIZE));
        },
      }),
    );
    vcmActivate(v);
    const r = vcmMakeBinding(v, 2 * SZ_1M);
    expect(r.phys?.count).toBe(1);
    expectWalks(mm, pgd, r);
    const pa = r.phys?.parts[0]?.start;
    vcmDestroyBinding(r);
    expect(freed).toEqual([pa]);
    fail = true;
    expect(() => vcmMakeBinding(v, SZ_1M)).toThrow(kerr("ENOMEM", /carve-out/));
    expect(v.reservations).toEqual([]);
  });

  it("without phys_free the device's memory cannot be freed: EINVAL, as the core refuses it", () => {
    const { kernel, s5p } = rig();
    const v = vcmCreateUnified(
      kernel,
      4 * SZ_1M,
      VCM_DEV_MFC,
      s5p.driver(VCM_DEV_MFC, { physAlloc: () => 0x4100_0000 }),
    );
    expect(() => vcmAlloc(v, SZ_4K)).toThrow(kerr("EINVAL", /free/));
  });

  it("s5pVcmExit refuses while contexts exist (EBUSY), then gives every page back", () => {
    const { kernel, mm } = boot();
    const free0 = mm.buddy.nrFreePages;
    s5pVcmInit(kernel);
    const v = vcmCreateUnified(kernel, 64 * SZ_1M, VCM_DEV_G2D, null);
    vcmActivate(v);
    const rs = [SZ_64K, SZ_4K, 3 * SZ_1M].map((s) => vcmMakeBinding(v, s));
    expect(() => s5pVcmExit(kernel)).toThrow(kerr("EBUSY"));
    for (const r of rs) vcmDestroyBinding(r);
    vcmDestroy(v);
    s5pVcmExit(kernel);
    expect(mm.buddy.nrFreePages).toBe(free0);
    expectNoLeaks(kernel);
  });
});

describe("the page-table writer's errors (s5p_write_mapping), each with full rollback", () => {
  function snapshot(mm: ReturnType<typeof rig>["mm"], pgd: number, from: number, len: number) {
    const out: (number | null)[] = [];
    for (let va = from; va < from + len; va += SZ_4K) out.push(walk(mm, pgd, va));
    return out;
  }

  it("EADDRINUSE over a mapped entry: everything this call wrote is removed", () => {
    const { kernel, mm, pgd } = rig();
    const v = vcmCreateUnified(kernel, 64 * SZ_1M, VCM_DEV_G2D, null);
    vcmActivate(v);
    const p = vcmAlloc(v, SZ_1M + 3 * SZ_64K + 2 * SZ_4K);
    const r = vcmReserve(v, p.size);
    // someone else's small page in the middle of where r's 64 KiB pages go
    const u = _s5pWriter.unified(kernel);
    _s5pWriter.writeMapping(u, r.start + SZ_1M + 2 * SZ_64K, SZ_4K, [
      { start: 0x4000_0000, size: SZ_4K, pfn: null },
    ]);
    const before = snapshot(mm, pgd, r.start, p.size);
    const tables = s5pVcmLv2Tables(kernel);
    expect(() => vcmBind(r, p)).toThrow(kerr("EADDRINUSE"));
    expect(snapshot(mm, pgd, r.start, p.size)).toEqual(before);
    expect(s5pVcmLv2Tables(kernel)).toBe(tables);
    expect([r.phys, p.bindings]).toEqual([null, 0]);
    expect(lv2Problems(mm, pgd)).toEqual([]);
  });

  it("EADDRINUSE for a section over a non-empty lv2 table and over a section", () => {
    const { kernel, mm, pgd } = rig();
    const u = _s5pWriter.unified(kernel);
    const base = 0x2000_0000;
    _s5pWriter.writeMapping(u, base + SZ_1M + SZ_4K, SZ_4K, [{ start: 0x4000_0000, size: SZ_4K, pfn: null }]);
    const sec = [{ start: 0x4100_0000, size: 2 * SZ_1M, pfn: null }];
    expect(() => _s5pWriter.writeMapping(u, base, 2 * SZ_1M, sec)).toThrow(kerr("EADDRINUSE", /lv2 table/));
    expect(walk(mm, pgd, base)).toBeNull(); // the first section was rolled back
    expect(walk(mm, pgd, base + SZ_1M + SZ_4K)).toBe(0x4000_0000);
    _s5pWriter.writeMapping(u, base + 4 * SZ_1M, SZ_1M, [{ start: 0x4200_0000, size: SZ_1M, pfn: null }]);
    expect(() => _s5pWriter.writeMapping(u, base + 4 * SZ_1M, SZ_4K, sec)).toThrow(
      kerr("EADDRINUSE", /section/),
    );
  });

  it("EBADR for a chunk below 4 KiB (an empty part), rolled back", () => {
    const { kernel, mm, pgd } = rig();
    const v = vcmCreateUnified(kernel, 64 * SZ_1M, VCM_DEV_G2D, null);
    vcmActivate(v);
    const bad = fakePhys(
      kernel,
      [
        { start: 0x4010_0000, size: 2 * SZ_4K },
        { start: 0x4020_0000, size: 0 },
      ],
      { size: 3 * SZ_4K },
    );
    const r = vcmReserve(v, 3 * SZ_4K);
    const tables = s5pVcmLv2Tables(kernel);
    expect(() => vcmBind(r, bad)).toThrow(kerr("EBADR"));
    expect(snapshot(mm, pgd, r.start, 3 * SZ_4K)).toEqual([null, null, null]);
    expect(s5pVcmLv2Tables(kernel)).toBe(tables);
  });

  it("EFAULT for unaligned input, before anything is written (with a warning)", () => {
    const { kernel, mm, pgd } = rig();
    const rec = record(kernel, "vcm_warn");
    const u = _s5pWriter.unified(kernel);
    expect(() => _s5pWriter.writeMapping(u, 0x2000_0800, SZ_4K, [])).toThrow(kerr("EFAULT"));
    expect(() =>
      _s5pWriter.writeMapping(u, 0x2000_0000, SZ_4K, [{ start: 0x4000_0800, size: SZ_4K, pfn: null }]),
    ).toThrow(kerr("EFAULT", /part/));
    expect(walk(mm, pgd, 0x2000_0000)).toBeNull();
    expect(warnings(rec)).toHaveLength(2);
  });

  it("an activation that hits a conflict unprograms the bindings before it", () => {
    const { kernel, mm, pgd } = rig();
    const v = vcmCreateUnified(kernel, 64 * SZ_1M, VCM_DEV_G2D, null);
    const a = vcmMakeBinding(v, SZ_64K);
    const b = vcmMakeBinding(v, SZ_64K);
    _s5pWriter.writeMapping(_s5pWriter.unified(kernel), b.start + SZ_4K, SZ_4K, [
      { start: 0x4000_0000, size: SZ_4K, pfn: null },
    ]);
    expect(() => vcmActivate(v)).toThrow(kerr("EADDRINUSE"));
    expect(walk(mm, pgd, a.start)).toBeNull();
    expect(v.activated).toBe(false);
  });
});

describe("the shared page table stays right (property)", () => {
  test.prop(
    [
      fc.array(
        fc.tuple(
          fc.boolean(),
          fc.constantFrom(VCM_DEV_G2D, VCM_DEV_TV),
          fc.integer({ min: 1, max: 400 }),
          fc.nat(),
        ),
        { minLength: 1, maxLength: 30 },
      ),
    ],
    { numRuns: 25 },
  )("every page of every binding walks to its physical page; unbound ranges fault", (ops) => {
    const { kernel, mm, pgd } = rig(64 * SZ_1M);
    const ctx = {
      [VCM_DEV_G2D]: vcmCreateUnified(kernel, 8 * SZ_1M, VCM_DEV_G2D, null),
      [VCM_DEV_TV]: vcmCreateUnified(kernel, 8 * SZ_1M, VCM_DEV_TV, null),
    } as Record<number, ReturnType<typeof vcmCreateUnified>>;
    vcmActivate(ctx[VCM_DEV_G2D] as ReturnType<typeof vcmCreateUnified>);
    vcmActivate(ctx[VCM_DEV_TV] as ReturnType<typeof vcmCreateUnified>);
    const live: VcmRes[] = [];
    const gone: { start: number; size: number }[] = [];
    for (const [make, id, pages, pick] of ops) {
      if (make || live.length === 0) {
        try {
          live.push(vcmMakeBinding(ctx[id] as ReturnType<typeof vcmCreateUnified>, pages * PAGE_SIZE));
        } catch (e) {
          expect((e as Error).message).toMatch(/^(ENOSPC|ENOMEM): /);
        }
      } else {
        const r = live.splice(pick % live.length, 1)[0] as VcmRes;
        gone.push({ start: r.start, size: r.boundSize });
        vcmDestroyBinding(r);
      }
    }
    for (const r of live) expectWalks(mm, pgd, r);
    for (const g of gone) {
      for (let va = g.start; va < g.start + g.size; va += SZ_4K) {
        if (!live.some((r) => va >= r.start && va < r.start + r.boundSize))
          expect(walk(mm, pgd, va)).toBeNull();
      }
    }
    expect(lv2Problems(mm, pgd)).toEqual([]);
    for (const r of live) vcmDestroyBinding(r);
    expectNoLeaks(kernel);
  });
});

describe("misc", () => {
  it("unbinding while inactive touches no table", () => {
    const { kernel, s5p } = rig();
    const v = vcmCreateUnified(kernel, 4 * SZ_1M, VCM_DEV_G2D, s5p.driver(VCM_DEV_G2D));
    const r = vcmMakeBinding(v, SZ_4K);
    const p = vcmUnbind(r) as VcmPhys;
    expect(s5p.log).toEqual([]);
    vcmFree(p);
    vcmUnreserve(r);
  });
});
