// SysMMU v5: the shifted entry encoding (PA >> 4, 36-bit physical addresses), the moved
// registers, range flush and the AR/AW fault bits.
import { DMA_BIT_MASK, SZ_1M, SZ_4K, SZ_64K, TraceRecorder } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { DmaPort } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  CTRL_BLOCK,
  CTRL_ENABLE,
  mkLv1entPage,
  mkLv1entSect,
  mkLv2entSpage,
  REG_MMU_CTRL,
  REG_MMU_STATUS,
  REG_V5_FAULT_AR_VA,
  REG_V5_FAULT_AW_VA,
  REG_V5_INT_CLEAR,
  REG_V5_INT_STATUS,
  REG_V5_MMU_FLUSH_END,
  REG_V5_MMU_FLUSH_ENTRY,
  REG_V5_MMU_FLUSH_RANGE,
  REG_V5_MMU_FLUSH_START,
  REG_V5_PT_BASE_PFN,
  SYSMMU_V5_PTE_FORMAT,
  SysMmu,
} from "../src/index.js";
import { allocPa, boot, enable, pattern, Tables } from "./helpers.js";

// DRAM above 4 GiB: every table and page has a physical address that needs 33+ bits.
const HIGH = 0x8_4000_0000;

function rig() {
  const { kernel, mm } = boot({ banks: [{ start: HIGH, size: 64 * SZ_1M }] });
  const mmu = new SysMmu(mm, { name: "v5.sysmmu", version: "5.0", master: "gsc0" });
  const t = new Tables(mm, mmu.version);
  const port = new DmaPort(mm, { id: 3, name: "gsc0", dmaMask: DMA_BIT_MASK(32) }, mmu);
  return { kernel, mm, mmu, t, port };
}

describe("SysMmu v5", () => {
  it("stores PA >> 4 in entries and walks tables above 4 GiB", () => {
    const { mm, mmu, t, port } = rig();
    expect(t.lv1).toBeGreaterThan(2 ** 32);
    const sect = allocPa(mm, 8);
    const small = allocPa(mm, 0);
    t.section(0x10000000, sect, 3);
    t.small(0x20003000, small, 3);
    // the descriptors in DRAM, as exynos-iommu writes them
    expect(mm.phys.read32(t.lv1Entry(0x10000000))).toBe(((sect / 16) | (3 << 4) | 2) >>> 0);
    const link = mm.phys.read32(t.lv1Entry(0x20000000));
    expect(link & 3).toBe(1);
    const lv2 = ((link & 0xffffffc0) >>> 0) * 16;
    expect(mm.phys.read32(lv2 + 3 * 4)).toBe(((small / 16) | (3 << 2) | 2) >>> 0);
    expect(mkLv1entSect(SYSMMU_V5_PTE_FORMAT, 0x9_0010_0000, 1)).toBe((0x90010000 | (1 << 4) | 2) >>> 0);
    expect(mkLv1entPage(SYSMMU_V5_PTE_FORMAT, 0x9_0000_0400)).toBe(0x90000041);
    expect(mkLv2entSpage(SYSMMU_V5_PTE_FORMAT, 0xf_ffff_f000, 2)).toBe((0xffffff00 | (2 << 2) | 2) >>> 0);

    enable(mmu, t.lv1);
    expect(mmu.read32(REG_V5_PT_BASE_PFN)).toBe(t.lv1 / 4096);
    expect(port.resolve(0x10000000 + 42, 4)).toEqual([{ paddr: sect + 42, len: 4 }]);
    expect(port.resolve(0x20003000 + 42, 4)).toEqual([{ paddr: small + 42, len: 4 }]);
    const data = pattern(SZ_4K);
    port.write(0x20003000, data);
    expect(firstDiff(mm.phys.view(small, SZ_4K), data)).toBe(-1);
  });

  it("v5 access field: read-only refuses writes (bit 19), write-only refuses reads (bit 3)", () => {
    const { mm, mmu, t, port } = rig();
    t.small(0x10000000, allocPa(mm, 0), 1);
    t.small(0x10001000, allocPa(mm, 0), 2);
    enable(mmu, t.lv1);
    port.read(0x10000000, new Uint8Array(4));
    expect(() => port.write(0x10000010, pattern(4))).toThrow(kerr("EACCES", /AW ACCESS PROTECTION/));
    expect(mmu.read32(REG_V5_INT_STATUS)).toBe(1 << 19);
    expect(mmu.read32(REG_V5_FAULT_AW_VA)).toBe(0x10000010);
    expect(mmu.read32(REG_MMU_STATUS)).toBe(1);
    mmu.write32(REG_V5_INT_CLEAR, 1 << 19);
    mmu.write32(REG_MMU_CTRL, CTRL_ENABLE);
    port.write(0x10001000, pattern(4));
    expect(() => port.read(0x10001020, new Uint8Array(4))).toThrow(kerr("EACCES", /AR ACCESS PROTECTION/));
    expect(mmu.read32(REG_V5_INT_STATUS)).toBe(1 << 3);
    expect(mmu.read32(REG_V5_FAULT_AR_VA)).toBe(0x10001020);
  });

  it("v5 page faults set bit 1 (read) or 17 (write); a table base outside RAM is a PTW fault", () => {
    const { mmu, t, port } = rig();
    enable(mmu, t.lv1);
    expect(() => port.read(0x30000000, new Uint8Array(1))).toThrow(kerr("EFAULT", /PAGE FAULT/));
    expect(mmu.read32(REG_V5_INT_STATUS)).toBe(1 << 1);
    expect(mmu.read32(REG_V5_FAULT_AR_VA)).toBe(0x30000000);
    mmu.write32(REG_V5_INT_CLEAR, 0xffffffff);
    mmu.write32(REG_MMU_CTRL, CTRL_ENABLE);
    expect(() => port.write(0x30001000, pattern(1))).toThrow(kerr("EFAULT"));
    expect(mmu.read32(REG_V5_INT_STATUS)).toBe(1 << 17);
    expect(mmu.read32(REG_V5_FAULT_AW_VA)).toBe(0x30001000);
    mmu.write32(REG_V5_INT_CLEAR, 0xffffffff);
    mmu.write32(REG_MMU_CTRL, CTRL_BLOCK);
    mmu.write32(REG_V5_PT_BASE_PFN, 0x10000); // 256 MiB: no RAM there
    mmu.write32(REG_MMU_CTRL, CTRL_ENABLE);
    expect(() => port.read(0x1000, new Uint8Array(1))).toThrow(kerr("EIO", /PTW/));
    expect(mmu.read32(REG_V5_INT_STATUS)).toBe(1 << 0);
  });

  it("v5 has no bus-error bit: a target that is not RAM fails the transfer (EIO) without blocking", () => {
    const { mmu, t, port } = rig();
    t.section(0x10000000, 0x9_0000_0000); // past DRAM
    enable(mmu, t.lv1);
    expect(() => port.read(0x10000000, new Uint8Array(4))).toThrow(kerr("EIO", /BUS ERROR at 0x10000000/));
    expect(mmu.read32(REG_V5_INT_STATUS)).toBe(0);
    expect(mmu.read32(REG_MMU_STATUS)).toBe(0);
  });

  it("v5 security (bits 4 / 20) and multi-hit (bits 2 / 18)", () => {
    const { mm, mmu, t, port } = rig();
    const pa = allocPa(mm, 0);
    const p64 = allocPa(mm, 4);
    mmu.setSecureWindow(pa, SZ_4K);
    t.small(0x10000000, pa);
    enable(mmu, t.lv1);
    expect(() => port.write(0x10000000, pattern(8))).toThrow(kerr("EACCES", /AW SECURITY/));
    expect(mmu.read32(REG_V5_INT_STATUS)).toBe(1 << 20);
    mmu.write32(REG_V5_INT_CLEAR, 1 << 20);
    mmu.write32(REG_MMU_CTRL, CTRL_ENABLE);
    expect(() => port.read(0x10000000, new Uint8Array(8))).toThrow(kerr("EACCES", /AR SECURITY/));
    expect(mmu.read32(REG_V5_INT_STATUS)).toBe(1 << 4);
    mmu.write32(REG_V5_INT_CLEAR, 1 << 4);
    mmu.write32(REG_MMU_CTRL, CTRL_ENABLE);
    mmu.setSecureWindow(0, 0);
    port.read(0x10000000, new Uint8Array(8));
    t.clearSmall(0x10000000);
    t.large(0x10000000, p64);
    port.read(0x10002000, new Uint8Array(8));
    expect(() => port.write(0x10000000, pattern(8))).toThrow(kerr("EFAULT", /AW MULTI-HIT/));
    expect(mmu.read32(REG_V5_INT_STATUS)).toBe(1 << 18);
    expect(mm.phys.read8(p64)).toBe(0);
  });

  it("v5 range flush invalidates the entries of [FLUSH_START, FLUSH_END] and nothing else", () => {
    const { kernel, mm, mmu, t, port } = rig();
    const rec = new TraceRecorder(kernel.trace, { events: ["sysmmu_tlb_flush"] });
    const pa = allocPa(mm, 4);
    for (let i = 0; i < 16; i++) t.small(0x10000000 + i * SZ_4K, pa + i * SZ_4K);
    enable(mmu, t.lv1);
    port.read(0x10000000, new Uint8Array(SZ_64K));
    expect(mmu.tlbEntries()).toHaveLength(16);
    mmu.write32(REG_V5_MMU_FLUSH_START, 0x10004000);
    mmu.write32(REG_V5_MMU_FLUSH_END, 0x10007000);
    mmu.write32(REG_V5_MMU_FLUSH_RANGE, 1);
    const left = mmu
      .tlbEntries()
      .map((e) => (e.iova - 0x10000000) / SZ_4K)
      .sort((a, b) => a - b);
    expect(left).toEqual([0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15]);
    mmu.write32(REG_V5_MMU_FLUSH_ENTRY, 0x10000000 | 1);
    expect(mmu.tlbEntries()).toHaveLength(11);
    expect(rec.of("sysmmu_tlb_flush").map((r) => r.data.scope)).toEqual(["all", "range", "entry"]);
    expect(rec.records()[1]!.data).toMatchObject({ iova: 0x10004000, size: 4 * SZ_4K });
  });
});
