// The register accesses exynos-iommu makes for a map and an unmap, one by one: the fast paths of
// the driver and of the SysMMU model must keep sysmmu_block / FLUSH_ENTRY / sysmmu_unblock.

import {
  IOMMU_READ,
  IOMMU_WRITE,
  iommuAttachDevice,
  iommuDomainAlloc,
  iommuMap,
  iommuUnmap,
} from "@umm/iommu-core";
import { SZ_4K, SZ_64K, TraceRecorder } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import {
  REG_MMU_CTRL,
  REG_MMU_FLUSH_ENTRY,
  REG_MMU_STATUS,
  REG_V5_MMU_FLUSH_END,
  REG_V5_MMU_FLUSH_ENTRY,
  REG_V5_MMU_FLUSH_RANGE,
  REG_V5_MMU_FLUSH_START,
  type S5pDomain,
  type SysMmu,
  type SysMmuVersion,
} from "../src/index.js";
import { allocPa } from "./helpers.js";
import { bootRig } from "./rig.js";

const RW = IOMMU_READ | IOMMU_WRITE;

/** Logs every register access of `mmu` as "r OFF=VAL" / "w OFF=VAL". */
function tap(mmu: SysMmu): string[] {
  const log: string[] = [];
  const read = mmu.read32.bind(mmu);
  const write = mmu.write32.bind(mmu);
  const h = (x: number) => x.toString(16);
  mmu.read32 = (offset: number) => {
    const v = read(offset);
    log.push(`r ${h(offset)}=${h(v)}`);
    return v;
  };
  mmu.write32 = (offset: number, value: number) => {
    log.push(`w ${h(offset)}=${h(value)}`);
    write(offset, value);
  };
  return log;
}

function rig(version: SysMmuVersion) {
  const r = bootRig();
  const sysmmu = r.sysmmu(0x11a20000, { version });
  const dev = r.master("fimc0", [sysmmu]);
  const d = iommuDomainAlloc(dev) as S5pDomain;
  iommuAttachDevice(d, dev);
  const pa = allocPa(r.mm, 8);
  iommuMap(d, 0x20001000, pa, SZ_4K, RW); // the section's lv2 table exists from here on
  return { ...r, d, pa, mmu: r.data(sysmmu).mmu };
}

const h = (x: number) => x.toString(16);

describe("register sequences", () => {
  it("v1.0 / v3.3: a small-page map touches no register; its unmap blocks, polls, flushes the entry, unblocks", () => {
    for (const v of ["1.0", "3.3"] as const) {
      const { d, pa, mmu, kernel } = rig(v);
      const log = tap(mmu);
      const rec = new TraceRecorder(kernel.trace, { events: ["sysmmu_tlb_flush"] });
      iommuMap(d, 0x20000000, pa, SZ_4K, RW);
      expect(log, v).toEqual([]);
      expect(iommuUnmap(d, 0x20000000, SZ_4K)).toBe(SZ_4K);
      expect(log, v).toEqual([
        `w ${h(REG_MMU_CTRL)}=7`,
        `r ${h(REG_MMU_STATUS)}=1`,
        `r ${h(REG_MMU_STATUS)}=1`,
        `w ${h(REG_MMU_FLUSH_ENTRY)}=20000001`,
        `w ${h(REG_MMU_CTRL)}=5`,
      ]);
      expect(rec.of("sysmmu_tlb_flush").map((r) => r.data)).toEqual([
        { sysmmu: mmu.name, scope: "entry", iova: 0x20000000, size: SZ_4K },
      ]);
      expect(mmu.read32(REG_MMU_STATUS)).toBe(0);
      rec.stop();
    }
  });

  it("v5: one entry for a small page, a range for a large one", () => {
    const { d, pa, mmu } = rig("5.0");
    const log = tap(mmu);
    iommuMap(d, 0x20000000, pa, SZ_4K, RW);
    iommuUnmap(d, 0x20000000, SZ_4K);
    expect(log).toEqual([
      `w ${h(REG_MMU_CTRL)}=7`,
      `r ${h(REG_MMU_STATUS)}=1`,
      `r ${h(REG_MMU_STATUS)}=1`,
      `w ${h(REG_V5_MMU_FLUSH_ENTRY)}=20000001`,
      `w ${h(REG_MMU_CTRL)}=5`,
    ]);
    log.length = 0;
    iommuMap(d, 0x20010000, pa + SZ_64K, SZ_64K, RW);
    iommuUnmap(d, 0x20010000, SZ_64K);
    expect(log).toEqual([
      `w ${h(REG_MMU_CTRL)}=7`,
      `r ${h(REG_MMU_STATUS)}=1`,
      `r ${h(REG_MMU_STATUS)}=1`,
      `w ${h(REG_V5_MMU_FLUSH_START)}=20010000`,
      `w ${h(REG_V5_MMU_FLUSH_END)}=2001f000`,
      `w ${h(REG_V5_MMU_FLUSH_RANGE)}=1`,
      `w ${h(REG_MMU_CTRL)}=5`,
    ]);
  });
});
