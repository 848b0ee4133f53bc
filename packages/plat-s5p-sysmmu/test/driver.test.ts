// exynos-iommu's behaviour over iommu-core, checked through DRAM, registers and device DMA.

import {
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuDomain,
  iommuAttachDevice,
  iommuDetachDevice,
  iommuDomainAlloc,
  iommuDomainFree,
  iommuIovaToPhys,
  iommuMap,
  iommuReleaseDevice,
  iommuSetFaultHandler,
  iommuUnmap,
} from "@umm/iommu-core";
import {
  Device,
  deviceRegister,
  deviceUnregister,
  ERRNO,
  SZ_1M,
  SZ_4K,
  SZ_64K,
  TraceRecorder,
} from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  exynosIommuState,
  LV2TABLE_SIZE,
  lv2tableBase,
  makeMmuVer,
  mkLv2entSpage,
  REG_INT_STATUS,
  REG_MMU_CFG,
  REG_MMU_CTRL,
  REG_MMU_FLUSH_ENTRY,
  REG_MMU_STATUS,
  REG_PT_BASE_ADDR,
  type S5pDomain,
  SYSMMU_LV1_PROT,
  SYSMMU_LV2_PROT,
  sysmmuDmaPorts,
} from "../src/index.js";
import { allocPa, pattern } from "./helpers.js";
import { bootRig } from "./rig.js";

const RW = IOMMU_READ | IOMMU_WRITE;

function one(version: "1.0" | "2.0" | "3.3" | "5.0" = "1.0", tlbEntries?: number) {
  const r = bootRig();
  const sysmmu = r.sysmmu(0x11a20000, { version, ...(tlbEntries ? { tlbEntries } : {}) });
  const dev = r.master("fimc0", [sysmmu]);
  const d = iommuDomainAlloc(dev) as S5pDomain;
  return { ...r, sysmmu, dev, d, data: r.data(sysmmu), port: r.port(dev) };
}

describe("probe and remove", () => {
  it("builds the hardware from the device's properties and reads its version back", () => {
    const r = bootRig();
    const dev = r.sysmmu(0x13620000, { version: "3.3", tlbEntries: 16 });
    const data = r.data(dev);
    expect(dev.name).toBe("13620000.sysmmu");
    expect(data.mmu.sfrBase).toBe(0x13620000);
    expect(data.version).toBe(makeMmuVer(3, 3));
    expect(data.mmu.tlbCapacity).toBe(16);
    expect(data.active).toBe(false);
    expect(exynosIommuState(r.kernel)!.sysmmus.get(dev)).toBe(data);
  });

  it("refuses a device without reg, with an unknown version, or of the other page-table format", () => {
    const r = bootRig();
    const rec = new TraceRecorder(r.kernel.trace, { events: ["device_probe_failed"] });
    const noReg = new Device(r.kernel, { name: "a.sysmmu", compatible: ["samsung,exynos-sysmmu"] });
    expect(deviceRegister(noReg, r.bus)).toBe(false);
    const badVer = new Device(r.kernel, {
      name: "b.sysmmu",
      compatible: ["samsung,exynos-sysmmu"],
      properties: { reg: 0x10000000, version: "4.0" },
    });
    expect(deviceRegister(badVer, r.bus)).toBe(false);
    r.sysmmu(0x11a20000, { version: "3.3" });
    const v5 = new Device(r.kernel, {
      name: "c.sysmmu",
      compatible: ["samsung,exynos-sysmmu"],
      properties: { reg: 0x11a30000, version: "5.0" },
    });
    expect(deviceRegister(v5, r.bus)).toBe(false);
    expect(rec.records().map((x) => x.data)).toEqual([
      { device: "a.sysmmu", driver: "exynos-sysmmu", errno: "EINVAL" },
      { device: "b.sysmmu", driver: "exynos-sysmmu", errno: "EINVAL" },
      { device: "c.sysmmu", driver: "exynos-sysmmu", errno: "EINVAL" },
    ]);
  });

  it("remove refuses while a master is probed (EBUSY); every page comes back once all is gone", () => {
    const r = bootRig();
    const free0 = r.mm.buddy.nrFreePages;
    const sysmmu = r.sysmmu(0x11a20000);
    const dev = r.master("fimc0", [sysmmu]);
    expect(r.mm.buddy.nrFreePages).toBe(free0 - 1); // the zero lv2 table's page
    expect(() => deviceUnregister(sysmmu)).toThrow(kerr("EBUSY"));
    iommuReleaseDevice(dev);
    const fimc1 = r.master("fimc1", [sysmmu]);
    const d = iommuDomainAlloc(fimc1);
    iommuReleaseDevice(fimc1);
    deviceUnregister(sysmmu);
    // the domain still holds the state (and the zero table) until it is freed
    expect(exynosIommuState(r.kernel)).toBeDefined();
    iommuDomainFree(d);
    expect(exynosIommuState(r.kernel)).toBeUndefined();
    expect(r.mm.buddy.nrFreePages).toBe(free0);
  });
});

describe("domains and page tables in DRAM", () => {
  it("a new domain: 16 KiB-aligned lv1 of ZERO_LV2LINK, lv2entcnt in DRAM, the core's geometry", () => {
    const { d, mm, kernel } = one();
    const st = exynosIommuState(kernel)!;
    expect(d.pgtable % (16 * 1024)).toBe(0);
    for (const i of [0, 1, 2047, 4095]) expect(mm.phys.read32(d.pgtable + 4 * i)).toBe(st.zeroLv2Link);
    expect(st.zeroLv2Link).toBe(st.zeroLv2 | 1);
    expect(st.zeroLv2 % LV2TABLE_SIZE).toBe(0);
    expect(d.geometry).toEqual({ apertureStart: 0, apertureEnd: 0xffffffff, forceAperture: true });
    expect(d.pgsizeBitmap).toBe(SZ_1M | SZ_64K | SZ_4K);
    expect(d.lv2entcnt.buffer).toBe(mm.phys.banks[0]!.u8.buffer);
  });

  it("writes the exact descriptors: section, link, 16 identical large entries, small entries", () => {
    const { d, mm, kernel } = one();
    const st = exynosIommuState(kernel)!;
    const sect = allocPa(mm, 8);
    const large = allocPa(mm, 4);
    const small = allocPa(mm, 0);
    iommuMap(d, 0x20000000, sect, SZ_1M, IOMMU_READ);
    iommuMap(d, 0x30010000, large, SZ_64K, RW);
    iommuMap(d, 0x30005000, small, SZ_4K, IOMMU_WRITE);
    const lv1 = (iova: number) => mm.phys.read32(d.pgtable + (iova >>> 20) * 4);
    expect(lv1(0x20000000)).toBe((sect | SYSMMU_LV1_PROT[1]! | 2) >>> 0);
    const link = lv1(0x30000000);
    expect(link & 3).toBe(1);
    const lv2 = lv2tableBase(st.fmt, link);
    expect(lv2 % LV2TABLE_SIZE).toBe(0);
    for (let k = 0; k < 16; k++)
      expect(mm.phys.read32(lv2 + (0x10 + k) * 4)).toBe((large | SYSMMU_LV2_PROT[3]! | 1) >>> 0);
    expect(mm.phys.read32(lv2 + 0x20 * 4)).toBe(0);
    expect(mm.phys.read32(lv2 + 5 * 4)).toBe(mkLv2entSpage(st.fmt, small, IOMMU_WRITE));
    expect(mm.phys.read32(lv2 + 5 * 4) & ((1 << 9) | (1 << 4))).toBe(1 << 4); // write-only → RW
    expect(d.lv2entcnt[0x300]).toBe(256 - 17);
    expect(lv1(0x40000000)).toBe(st.zeroLv2Link);
    // unmapping the section writes ZERO_LV2LINK back, not 0
    expect(iommuUnmap(d, 0x20000000, SZ_1M)).toBe(SZ_1M);
    expect(lv1(0x20000000)).toBe(st.zeroLv2Link);
    expect(iommuUnmap(d, 0x30010000, SZ_64K)).toBe(SZ_64K);
    expect(d.lv2entcnt[0x300]).toBe(255);
    expect(lv1(0x30000000)).toBe(link); // lv2 tables stay until the domain is freed
    iommuDomainFree(d);
  });

  it("lv2entcnt is 256 minus the used entries of each section's table", () => {
    const { d, mm } = one();
    const pa = allocPa(mm, 5);
    iommuMap(d, 0x10000000, pa, SZ_64K + 3 * SZ_4K, RW);
    iommuMap(d, 0x10100000, pa, SZ_4K, RW);
    expect(d.lv2entcnt[0x100]).toBe(256 - 19);
    expect(d.lv2entcnt[0x101]).toBe(255);
    expect(d.lv2entcnt[0x102]).toBe(0); // no table
    iommuUnmap(d, 0x10000000, SZ_64K + 3 * SZ_4K);
    expect(d.lv2entcnt[0x100]).toBe(256);
    iommuDomainFree(d);
  });

  it("a section over an empty lv2 table frees the table; over a used one it is EADDRINUSE", () => {
    const { d, mm, kernel } = one();
    const st = exynosIommuState(kernel)!;
    const pa = allocPa(mm, 8);
    iommuMap(d, 0x10000000, pa, SZ_4K, RW);
    const objects = st.lv2.objects;
    const rec = new TraceRecorder(kernel.trace, { events: ["sysmmu_warn"] });
    expect(() => iommuMap(d, 0x10000000, pa, SZ_1M, RW)).toThrow(
      kerr("EADDRINUSE", /1MiB@0x10000000 that is mapped/),
    );
    expect(rec.of("sysmmu_warn")[0]!.data.message).toMatch(/Trying mapping on 1MiB@0x10000000/);
    expect(iommuIovaToPhys(d, 0x10000000)).toBe(pa);
    iommuUnmap(d, 0x10000000, SZ_4K);
    expect(st.lv2.objects).toBe(objects); // unmap keeps the table
    iommuMap(d, 0x10000000, pa, SZ_1M, RW);
    expect(st.lv2.objects).toBe(objects - 1); // the empty table went back
    expect(iommuIovaToPhys(d, 0x100fffff)).toBe(pa + 0xfffff);
    expect(() => iommuMap(d, 0x10010000, pa, SZ_64K, RW)).toThrow(
      kerr("EADDRINUSE", /mapped with 1MiB page/),
    );
    iommuDomainFree(d);
  });

  it("returns every page-table page on domain free: buddy free pages back to the start value", () => {
    const { d, mm, dev } = one();
    iommuDomainFree(d);
    const free0 = mm.buddy.nrFreePages;
    const d2 = iommuDomainAlloc(dev);
    iommuAttachDevice(d2, dev);
    const pa = allocPa(mm, 6);
    const freeAfterPa = mm.buddy.nrFreePages;
    for (let s = 0; s < 40; s++) iommuMap(d2, s * SZ_1M + (s % 3) * SZ_64K, pa, SZ_64K + SZ_4K, RW);
    iommuMap(d2, 0x80000000, pa, SZ_1M, RW);
    expect(mm.buddy.nrFreePages).toBeLessThan(freeAfterPa);
    iommuDetachDevice(d2, dev);
    iommuDomainFree(d2);
    expect(mm.buddy.nrFreePages).toBe(free0 - 64);
    mm.buddy.freePages(pa / 4096, 6);
    expect(mm.buddy.nrFreePages).toBe(free0);
  });

  it("a map that finds no page for an lv2 table is ENOMEM and changes nothing", () => {
    const { d, mm, kernel } = one();
    const st = exynosIommuState(kernel)!;
    const pa = allocPa(mm, 0);
    // take every free page, then give back nothing: the lv2 cache has no partial page
    while (st.lv2.objects % 4 !== 0) st.lv2.zalloc();
    const held: number[] = [];
    for (;;) {
      const p = mm.buddy.allocPages(0, GFP_KERNEL);
      if (p === null) break;
      held.push(p);
    }
    expect(() => iommuMap(d, 0x10000000, pa, SZ_4K, RW)).toThrow(kerr("ENOMEM", /level-2/));
    expect(mm.phys.read32(d.pgtable + 0x100 * 4)).toBe(st.zeroLv2Link);
    for (const p of held) mm.buddy.freePages(p, 0);
    iommuMap(d, 0x10000000, pa, SZ_4K, RW);
    expect(iommuIovaToPhys(d, 0x10000000)).toBe(pa);
  });

  it("the identity domain disables the SysMMU: addresses pass through", () => {
    const { d, dev, mm, port, data } = one();
    iommuAttachDevice(d, dev);
    expect(data.active).toBe(true);
    iommuDetachDevice(d, dev);
    const id = iommuDomainAlloc(dev, IOMMU_DOMAIN_IDENTITY);
    expect(iommuDomainAlloc(dev, IOMMU_DOMAIN_IDENTITY)).toBe(id);
    iommuAttachDevice(id, dev);
    const pa = allocPa(mm, 0);
    port.write(pa, Uint8Array.of(1, 2, 3));
    expect(mm.phys.read8(pa + 2)).toBe(3);
    expect(data.mmu.read32(REG_MMU_CTRL)).toBe(0);
    iommuDetachDevice(id, dev);
    iommuDomainFree(id);
    iommuDomainFree(d);
  });
});

// Adapted from io-pgtable-arm-v7s.c arm_v7s_do_selftests() to exynos-iommu's format and rules.
describe("v7s selftest, adapted", () => {
  const sizes = [SZ_4K, SZ_64K, SZ_1M];

  it("an empty table translates nothing", () => {
    const { d } = one();
    for (const iova of [42, 2 ** 30 + 42, 2 ** 31 + 42]) expect(iommuIovaToPhys(d, iova)).toBe(0);
  });

  it("maps every page size at many offsets; +42 translates; a second map over it fails", () => {
    const { d, mm } = one();
    const pa = allocPa(mm, 10); // 4 MiB, 1 MiB aligned
    let iova = 0;
    for (const s of sizes) {
      for (const k of [0, 1, 3, 7, 15]) {
        const at = iova + k * SZ_1M;
        const p = pa + ((k * s) % (4 * SZ_1M));
        iommuMap(d, at, p, s, RW | 8 | 4);
        expect(() => iommuMap(d, at, p + s, s, IOMMU_READ)).toThrow(kerr("EADDRINUSE"));
        expect(iommuIovaToPhys(d, at + 42)).toBe(p + 42);
        expect(iommuIovaToPhys(d, at + s - 1)).toBe(p + s - 1);
        expect(iommuIovaToPhys(d, at + s)).toBe(0);
      }
      iova += 16 * SZ_1M;
    }
    // full unmap, translate nothing, remap write-only
    iova = 0;
    for (const s of sizes) {
      expect(iommuUnmap(d, iova, s)).toBe(s);
      expect(iommuIovaToPhys(d, iova + 42)).toBe(0);
      iommuMap(d, iova, pa, s, IOMMU_WRITE);
      expect(iommuIovaToPhys(d, iova + 42)).toBe(pa + 42);
      iova += 16 * SZ_1M;
    }
  });

  it("partial unmap of a large page or a section is refused (returns 0, WARN) and leaves it", () => {
    const { d, mm, kernel } = one();
    const rec = new TraceRecorder(kernel.trace, { events: ["sysmmu_warn"] });
    const pa = allocPa(mm, 8);
    iommuMap(d, 0x10000000, pa, SZ_64K, RW);
    iommuMap(d, 0x20000000, pa, SZ_1M, RW);
    expect(iommuUnmap(d, 0x10000000, SZ_4K)).toBe(0);
    expect(iommuUnmap(d, 0x20000000, SZ_64K)).toBe(0);
    expect(iommuIovaToPhys(d, 0x10000000 + 42)).toBe(pa + 42);
    expect(iommuIovaToPhys(d, 0x20000000 + 42)).toBe(pa + 42);
    expect(rec.of("sysmmu_warn").map((r) => r.data.message)).toEqual([
      "Failed: size(0x1000) @ 0x10000000 is smaller than page size 0x10000",
      "Failed: size(0x10000) @ 0x20000000 is smaller than page size 0x100000",
    ]);
    // an unmapped small slot and an empty section count as unmapped
    expect(iommuUnmap(d, 0x10010000, SZ_4K)).toBe(SZ_4K);
    expect(iommuUnmap(d, 0x30000000, 2 * SZ_1M)).toBe(2 * SZ_1M);
  });

  it("unmap then remap a small page inside a populated table", () => {
    const { d, mm } = one();
    const pa = allocPa(mm, 5) + SZ_4K; // not 64 KiB aligned: the core maps small pages
    iommuMap(d, 0x10000000, pa, 16 * SZ_4K, RW);
    expect(d.lv2entcnt[0x100]).toBe(256 - 16);
    for (let i = 1; i < 16; i += 3) {
      expect(iommuUnmap(d, 0x10000000 + i * SZ_4K, SZ_4K)).toBe(SZ_4K);
      expect(iommuIovaToPhys(d, 0x10000000 + i * SZ_4K + 42)).toBe(0);
      iommuMap(d, 0x10000000 + i * SZ_4K, pa, SZ_4K, IOMMU_READ);
      expect(iommuIovaToPhys(d, 0x10000000 + i * SZ_4K + 42)).toBe(pa + 42);
    }
    expect(d.lv2entcnt[0x100]).toBe(256 - 16);
  });
});

describe("TLB maintenance", () => {
  it("the driver's unmap flushes: after unmap + remap the device reads the new page", () => {
    const { d, dev, mm, port } = one();
    iommuAttachDevice(d, dev);
    const p1 = allocPa(mm, 0);
    const p2 = allocPa(mm, 0);
    mm.phys.fill(p1, 0x11, SZ_4K);
    mm.phys.fill(p2, 0x22, SZ_4K);
    iommuMap(d, 0x10000000, p1, SZ_4K, RW);
    const b = new Uint8Array(8);
    port.read(0x10000000, b);
    expect(b[0]).toBe(0x11);
    iommuUnmap(d, 0x10000000, SZ_4K);
    iommuMap(d, 0x10000000, p2, SZ_4K, RW);
    port.read(0x10000000, b);
    expect(b[0]).toBe(0x22);
  });

  it("a page-table change behind the driver's back is not seen until the entry is flushed", () => {
    const { d, dev, mm, port, kernel, data } = one();
    const st = exynosIommuState(kernel)!;
    iommuAttachDevice(d, dev);
    const p1 = allocPa(mm, 0);
    const p2 = allocPa(mm, 0);
    mm.phys.fill(p1, 0x11, SZ_4K);
    mm.phys.fill(p2, 0x22, SZ_4K);
    iommuMap(d, 0x10000000, p1, SZ_4K, RW);
    const b = new Uint8Array(8);
    port.read(0x10000000, b);
    const lv2 = lv2tableBase(st.fmt, mm.phys.read32(d.pgtable + 0x100 * 4));
    mm.phys.write32(lv2, mkLv2entSpage(st.fmt, p2, RW)); // remap without flush
    port.read(0x10000000, b);
    expect(b[0]).toBe(0x11);
    data.mmu.write32(REG_MMU_FLUSH_ENTRY, 0x10000001);
    port.read(0x10000000, b);
    expect(b[0]).toBe(0x22);
  });

  it("attach programs the table and flushes all; detach disables", () => {
    const { d, dev, data, kernel } = one();
    const rec = new TraceRecorder(kernel.trace, {
      events: ["sysmmu_enable", "sysmmu_disable", "sysmmu_tlb_flush"],
    });
    iommuAttachDevice(d, dev);
    expect(data.mmu.read32(REG_PT_BASE_ADDR)).toBe(d.pgtable);
    expect(data.mmu.read32(REG_MMU_CTRL)).toBe(0x5);
    expect(data.mmu.read32(REG_MMU_CFG)).toBe(0x1 | (15 << 7) | (1 << 2)); // LRU, QoS 15, EAP
    iommuDetachDevice(d, dev);
    expect(data.mmu.read32(REG_MMU_CTRL)).toBe(0);
    expect(rec.records().map((r) => r.name)).toEqual(["sysmmu_tlb_flush", "sysmmu_enable", "sysmmu_disable"]);
    expect(rec.records()[1]!.data).toEqual({ sysmmu: "11a20000.sysmmu", pgtable: d.pgtable });
  });

  it("unmap flushes per version: v1 one entry, v2 min(size/4K, 64) entries, v5 a range; none while inactive", () => {
    const cases: { v: "1.0" | "2.0" | "3.3" | "5.0"; want: Record<number, string[]> }[] = [
      { v: "1.0", want: { [SZ_4K]: ["entry"], [SZ_64K]: ["entry"], [SZ_1M]: ["entry"] } },
      { v: "3.3", want: { [SZ_4K]: ["entry"], [SZ_64K]: ["entry"], [SZ_1M]: ["entry"] } },
      {
        v: "2.0",
        want: { [SZ_4K]: ["entry"], [SZ_64K]: Array(16).fill("entry"), [SZ_1M]: Array(64).fill("entry") },
      },
      { v: "5.0", want: { [SZ_4K]: ["entry"], [SZ_64K]: ["range"], [SZ_1M]: ["range"] } },
    ];
    for (const { v, want } of cases) {
      const { d, dev, mm, kernel } = one(v);
      const pa = allocPa(mm, 8);
      for (const s of [SZ_4K, SZ_64K, SZ_1M]) {
        iommuMap(d, 0x10000000, pa, s, RW);
        const rec = new TraceRecorder(kernel.trace, { events: ["sysmmu_tlb_flush"] });
        iommuUnmap(d, 0x10000000, s);
        expect(rec.records(), `v${v} inactive`).toEqual([]);
        iommuAttachDevice(d, dev);
        iommuMap(d, 0x10000000, pa, s, RW);
        rec.clear();
        iommuUnmap(d, 0x10000000, s);
        expect(
          rec.of("sysmmu_tlb_flush").map((r) => r.data.scope),
          `v${v} ${s}`,
        ).toEqual(want[s]);
        if (v === "5.0" && s > SZ_4K)
          expect(rec.of("sysmmu_tlb_flush")[0]!.data).toMatchObject({ iova: 0x10000000, size: s });
        iommuDetachDevice(d, dev);
        rec.stop();
      }
    }
  });

  it("v3.3 invalidates the FLPD cache when a ZERO_LV2LINK slot gets a real table", () => {
    const { d, dev, mm, kernel } = one("3.3");
    iommuAttachDevice(d, dev);
    const rec = new TraceRecorder(kernel.trace, { events: ["sysmmu_tlb_flush"] });
    iommuMap(d, 0x10000000, allocPa(mm, 0), SZ_4K, RW);
    expect(rec.of("sysmmu_tlb_flush").map((r) => [r.data.scope, r.data.iova])).toEqual([
      ["entry", 0x10000000],
    ]);
    rec.clear();
    iommuMap(d, 0x10001000, allocPa(mm, 0), SZ_4K, RW); // same table: nothing to invalidate
    expect(rec.records()).toEqual([]);
  });
});

describe("faults through the driver", () => {
  it("no fault handler: the kernel would panic — sysmmu_warn, KernelError, INT cleared, unblocked, nothing moved", () => {
    const { d, dev, mm, port, data, kernel } = one();
    iommuAttachDevice(d, dev);
    const pa = allocPa(mm, 0);
    iommuMap(d, 0x10000000, pa, SZ_4K, RW);
    const rec = new TraceRecorder(kernel.trace, { events: ["sysmmu_warn", "sysmmu_fault", "io_page_fault"] });
    expect(() => port.write(0x10000000, pattern(2 * SZ_4K))).toThrow(
      kerr("EFAULT", /unrecoverable System MMU fault.*\[READ\] PAGE FAULT occurred at 0x10001000/),
    );
    expect(mm.phys.view(pa, SZ_4K).every((x) => x === 0)).toBe(true);
    expect(data.mmu.read32(REG_INT_STATUS)).toBe(0);
    expect(data.mmu.read32(REG_MMU_STATUS)).toBe(0);
    expect(rec.records().map((r) => r.name)).toEqual(["sysmmu_fault", "io_page_fault", "sysmmu_warn"]);
    expect(rec.of("sysmmu_warn")[0]!.data.message).toBe(
      "Unrecoverable System MMU Fault! fimc0: [READ] PAGE FAULT occurred at 0x10001000",
    );
    // the MMU works on
    port.write(0x10000000, Uint8Array.of(5));
    expect(mm.phys.read8(pa)).toBe(5);
  });

  it("a handler that returns 0 gets (domain, master, iova, flags); the transaction still fails; the MMU goes on", () => {
    const { d, dev, mm, port, data } = one();
    iommuAttachDevice(d, dev);
    const pa = allocPa(mm, 0);
    const calls: [IommuDomain, Device, number, number][] = [];
    iommuSetFaultHandler(
      d,
      (dom, master, iova, flags) => {
        calls.push([dom, master, iova, flags]);
        // resolve a page fault by mapping the page (read-only); the master retries
        if (iommuIovaToPhys(dom, iova) === 0) iommuMap(dom, iova & ~0xfff, pa, SZ_4K, IOMMU_READ);
        return 0;
      },
      null,
    );
    const buf = new Uint8Array(4).fill(9);
    expect(() => port.read(0x10000010, buf)).toThrow(kerr("EFAULT", /PAGE FAULT at 0x10000010/));
    expect(buf.every((x) => x === 9)).toBe(true);
    expect(calls).toEqual([[d, dev, 0x10000010, IOMMU_FAULT_READ]]);
    expect(data.mmu.read32(REG_MMU_STATUS)).toBe(0);
    port.read(0x10000010, buf); // the retry finds the page
    expect(buf.every((x) => x === 0)).toBe(true);
    // a write to the read-only page: AW ACCESS PROTECTION, reported as a write
    expect(() => port.write(0x10000000, pattern(4))).toThrow(kerr("EACCES", /AW ACCESS PROTECTION/));
    expect(calls[1]).toEqual([d, dev, 0x10000000, IOMMU_FAULT_WRITE]);
  });

  it("a handler's non-zero answer is unrecoverable too", () => {
    const { d, dev, port } = one();
    iommuAttachDevice(d, dev);
    iommuSetFaultHandler(d, () => -ERRNO.EIO, null);
    expect(() => port.read(0x5000, new Uint8Array(1))).toThrow(kerr("EFAULT", /handler returned -5/));
  });

  it("v5: write page faults are reported as writes (bit 17, V5_FAULT_AW_VA)", () => {
    const r = bootRig({ banks: [{ start: 0x8_4000_0000, size: 64 * SZ_1M }] });
    const sysmmu = r.sysmmu(0x12000000, { version: "5.0" });
    const dev = r.master("gsc0", [sysmmu]);
    expect(sysmmu.dmaMask).toBe(2 ** 36 - 1);
    const d = iommuDomainAlloc(dev);
    iommuAttachDevice(d, dev);
    const flags: number[] = [];
    iommuSetFaultHandler(
      d,
      (_d, _m, _i, f) => {
        flags.push(f);
        return 0;
      },
      null,
    );
    const port = r.port(dev);
    expect(() => port.write(0x7000, new Uint8Array(1))).toThrow(kerr("EFAULT"));
    expect(flags).toEqual([IOMMU_FAULT_WRITE]);
  });
});

describe("several masters and several SysMMUs", () => {
  it("masters on one domain share its mappings; an unmap flushes every SysMMU; detaching one leaves the other", () => {
    const r = bootRig();
    const s0 = r.sysmmu(0x11a20000);
    const s1 = r.sysmmu(0x11a30000);
    const fimc0 = r.master("fimc0", [s0]);
    const fimc1 = r.master("fimc1", [s1]);
    const d = iommuDomainAlloc(fimc0);
    iommuAttachDevice(d, fimc0);
    iommuAttachDevice(d, fimc1);
    const pa = allocPa(r.mm, 4);
    iommuMap(d, 0x10000000, pa, SZ_64K, RW);
    const frame = pattern(SZ_64K, 3);
    r.port(fimc0).write(0x10000000, frame);
    const seen = new Uint8Array(SZ_64K);
    r.port(fimc1).read(0x10000000, seen);
    expect(firstDiff(seen, frame)).toBe(-1);
    const rec = new TraceRecorder(r.kernel.trace, { events: ["sysmmu_tlb_flush"] });
    iommuUnmap(d, 0x10000000, SZ_64K);
    expect(rec.of("sysmmu_tlb_flush").map((x) => x.data.sysmmu)).toEqual([
      "11a20000.sysmmu",
      "11a30000.sysmmu",
    ]);
    expect(() => r.port(fimc1).read(0x10000000, seen)).toThrow(kerr("EFAULT"));
    iommuMap(d, 0x10000000, pa, SZ_64K, RW);
    iommuDetachDevice(d, fimc0);
    expect((d as S5pDomain).clients.map((c) => c.dev.name)).toEqual(["11a30000.sysmmu"]);
    r.port(fimc1).read(0x10000000, seen);
    expect(firstDiff(seen, frame)).toBe(-1);
  });

  it("the MFC behind two SysMMUs (left and right ports): both enabled, both translate, both flushed", () => {
    const r = bootRig();
    const left = r.sysmmu(0x13620000);
    const right = r.sysmmu(0x13630000);
    const mfc = r.master("s5p-mfc", [left, right]);
    const d = iommuDomainAlloc(mfc);
    iommuAttachDevice(d, mfc);
    expect([r.data(left).active, r.data(right).active]).toEqual([true, true]);
    expect(r.data(left).master).toBe(mfc);
    const [pl, pr] = sysmmuDmaPorts(mfc);
    const pa = allocPa(r.mm, 1);
    iommuMap(d, 0x20000000, pa, 2 * SZ_4K, RW);
    pl!.write(0x20000000, Uint8Array.of(1, 2));
    pr!.write(0x20001000, Uint8Array.of(3, 4));
    expect([r.mm.phys.read8(pa + 1), r.mm.phys.read8(pa + SZ_4K + 1)]).toEqual([2, 4]);
    const rec = new TraceRecorder(r.kernel.trace, { events: ["sysmmu_tlb_flush"] });
    iommuUnmap(d, 0x20000000, SZ_4K);
    expect(rec.of("sysmmu_tlb_flush").map((x) => x.data.sysmmu)).toEqual([
      "13620000.sysmmu",
      "13630000.sysmmu",
    ]);
    expect(() => r.port(mfc, 2)).toThrow(kerr("EINVAL", /2 System MMU/));
    iommuDetachDevice(d, mfc);
    expect([r.data(left).active, r.data(right).active]).toEqual([false, false]);
  });

  it("a device without a System MMU has no port (ENODEV)", () => {
    const r = bootRig();
    const dev = new Device(r.kernel, { name: "plain" });
    expect(() => r.port(dev)).toThrow(kerr("ENODEV"));
  });
});
