// The System MMU hardware model at register level: no driver, page tables written by hand.
import { DMA_BIT_MASK, SZ_1M, SZ_4K, SZ_64K, TraceRecorder } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { DmaPort, RunList } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  CTRL_BLOCK,
  CTRL_DISABLE,
  CTRL_ENABLE,
  decodeMmuVersion,
  EXYNOS4210_SYSMMUS,
  makeMmuVer,
  mmuMajVer,
  mmuMinVer,
  REG_AR_FAULT_ADDR,
  REG_AW_FAULT_ADDR,
  REG_DEFAULT_SLAVE_ADDR,
  REG_INT_CLEAR,
  REG_INT_MASK,
  REG_INT_STATUS,
  REG_MMU_CTRL,
  REG_MMU_FLUSH,
  REG_MMU_FLUSH_ENTRY,
  REG_MMU_STATUS,
  REG_MMU_VERSION,
  REG_PAGE_FAULT_ADDR,
  REG_PT_BASE_ADDR,
  S5P_SYSMMU_TOTAL_IPNUM,
  SYSMMU_VERSIONS,
  SysMmu,
  type SysMmuVersion,
  sysmmuFaultInfo,
} from "../src/index.js";
import { allocPa, boot, enable, pattern, Tables } from "./helpers.js";

const MASTER = { id: 7, name: "fimc0", dmaMask: DMA_BIT_MASK(32) };

function rig(version: SysMmuVersion = "1.0", opts: { tlbEntries?: number } = {}) {
  const { kernel, mm } = boot();
  const mmu = new SysMmu(mm, {
    name: "11a20000.sysmmu",
    sfrBase: 0x11a20000,
    version,
    master: "fimc0",
    ...opts,
  });
  const t = new Tables(mm, mmu.version);
  const port = new DmaPort(mm, MASTER, mmu);
  return { kernel, mm, mmu, t, port };
}

describe("SysMmu registers", () => {
  it("reports each version in MMU_VERSION as the driver decodes it (v1.0 as 0x80000001)", () => {
    const { mm } = boot();
    for (const v of SYSMMU_VERSIONS) {
      const mmu = new SysMmu(mm, { name: `s${v}`, version: v });
      const [maj, min] = v.split(".").map(Number);
      const ver = decodeMmuVersion(mmu.read32(REG_MMU_VERSION));
      expect([mmuMajVer(ver), mmuMinVer(ver)]).toEqual([maj, min]);
      expect(mmu.version).toBe(makeMmuVer(maj!, min!));
    }
    expect(new SysMmu(mm, { name: "x", version: "1.0" }).read32(REG_MMU_VERSION)).toBe(0x80000001);
    expect(new SysMmu(mm, { name: "y", version: "3.3" }).read32(REG_MMU_VERSION)).toBe(((3 << 7) | 3) << 21);
  });

  it("rejects an unknown version, a bad TLB size, a misaligned SFR base and an offset outside the window", () => {
    const { mm } = boot();
    expect(() => new SysMmu(mm, { name: "x", version: "4.0" as SysMmuVersion })).toThrow(
      kerr("EINVAL", /version/),
    );
    expect(() => new SysMmu(mm, { name: "x", tlbEntries: 0 })).toThrow(kerr("EINVAL", /tlbEntries/));
    expect(() => new SysMmu(mm, { name: "x", sfrBase: 0x11a20004 })).toThrow(kerr("EINVAL", /sfrBase/));
    const mmu = new SysMmu(mm, { name: "x" });
    expect(() => mmu.read32(0x1000)).toThrow(kerr("EINVAL", /offset/));
    expect(() => mmu.write32(0x2, 1)).toThrow(kerr("EINVAL", /offset/));
    expect(mmu.read32(0x800)).toBe(0); // unimplemented: reads as zero
  });

  it("resets disabled and unblocked; a disabled MMU passes addresses through", () => {
    const { mm, mmu, port } = rig();
    expect(mmu.read32(REG_MMU_CTRL)).toBe(CTRL_DISABLE);
    expect(mmu.read32(REG_MMU_STATUS)).toBe(0);
    const data = pattern(100);
    port.write(0x40100000, data);
    expect(firstDiff(mm.phys.view(0x40100000, 100), data)).toBe(-1);
    expect(() => port.write(0x10000000, data)).toThrow(kerr("EIO", /not RAM/));
  });

  it("enables, blocks, unblocks and disables as MMU_CTRL says; a blocked MMU stalls its master", () => {
    const { kernel, mm, mmu, t, port } = rig();
    const rec = new TraceRecorder(kernel.trace, { events: ["sysmmu_enable", "sysmmu_disable"] });
    const page = allocPa(mm, 0);
    t.small(0x10000000, page);
    enable(mmu, t.lv1);
    expect(mmu.read32(REG_MMU_CTRL)).toBe(CTRL_ENABLE);
    expect(mmu.read32(REG_PT_BASE_ADDR)).toBe(t.lv1);
    port.write(0x10000010, Uint8Array.of(1, 2, 3));
    expect(mm.phys.read8(page + 0x11)).toBe(2);

    mmu.write32(REG_MMU_CTRL, CTRL_BLOCK);
    expect(mmu.read32(REG_MMU_STATUS) & 1).toBe(1);
    const before = mm.phys.view(page, 16).slice();
    expect(() => port.write(0x10000000, pattern(16))).toThrow(kerr("EBUSY", /blocked/));
    expect(firstDiff(mm.phys.view(page, 16), before)).toBe(-1);
    mmu.write32(REG_MMU_CTRL, CTRL_ENABLE);
    expect(mmu.read32(REG_MMU_STATUS) & 1).toBe(0);
    port.write(0x10000000, Uint8Array.of(9));
    expect(mm.phys.read8(page)).toBe(9);

    mmu.write32(REG_MMU_CTRL, CTRL_DISABLE);
    port.write(page + 1, Uint8Array.of(5)); // bypass: the address is physical again
    expect(mm.phys.read8(page + 1)).toBe(5);
    expect(rec.records().map((r) => r.name)).toEqual(["sysmmu_enable", "sysmmu_disable"]);
    expect(rec.of("sysmmu_enable")[0]!.data).toEqual({ sysmmu: "11a20000.sysmmu", pgtable: t.lv1 });
  });

  it("INT_CLEAR is write-one-to-clear and leaves the other bits pending", () => {
    const { mm, mmu, t, port } = rig();
    t.small(0x10000000, allocPa(mm, 0), 1); // read-only
    enable(mmu, t.lv1);
    expect(() => port.read(0x20000000, new Uint8Array(4))).toThrow(kerr("EFAULT", /PAGE FAULT/));
    mmu.write32(REG_MMU_CTRL, CTRL_ENABLE); // unblock without clearing
    expect(() => port.write(0x10000000, new Uint8Array(4))).toThrow(kerr("EACCES", /AW ACCESS PROTECTION/));
    expect(mmu.read32(REG_INT_STATUS)).toBe((1 << 0) | (1 << 7));
    mmu.write32(REG_INT_CLEAR, 1 << 7);
    expect(mmu.read32(REG_INT_STATUS)).toBe(1 << 0);
    mmu.write32(REG_INT_CLEAR, 0);
    expect(mmu.read32(REG_INT_STATUS)).toBe(1 << 0);
    mmu.write32(REG_INT_CLEAR, 0xff);
    expect(mmu.read32(REG_INT_STATUS)).toBe(0);
  });

  it("raises the interrupt for the lowest pending bit first, once per bit the handler clears", () => {
    const { mm, mmu, t, port } = rig();
    t.small(0x10000000, allocPa(mm, 0), 1);
    enable(mmu, t.lv1);
    mmu.write32(REG_MMU_CTRL, 0x1); // enabled, interrupt off: faults only latch
    expect(() => port.write(0x10000000, new Uint8Array(4))).toThrow(kerr("EACCES"));
    mmu.write32(REG_MMU_CTRL, 0x1); // unblock
    expect(() => port.read(0x30000000, new Uint8Array(4))).toThrow(kerr("EFAULT"));
    mmu.write32(REG_MMU_CTRL, 0x1);
    expect(mmu.read32(REG_INT_STATUS)).toBe(0x81);
    const serviced: number[] = [];
    mmu.setIrqHandler((m) => {
      const st = m.read32(REG_INT_STATUS);
      const bit = 31 - Math.clz32(st & -st); // __ffs
      const info = sysmmuFaultInfo(m.version, bit)!;
      serviced.push(bit, m.read32(info.addrReg));
      m.write32(REG_INT_CLEAR, 1 << bit);
      m.write32(REG_MMU_CTRL, CTRL_ENABLE);
    });
    mmu.write32(REG_MMU_CTRL, CTRL_ENABLE); // interrupt enabled: the line is asserted
    expect(serviced).toEqual([0, 0x30000000, 7, 0x10000000]);
    expect(mmu.read32(REG_INT_STATUS)).toBe(0);
  });

  it("INT_MASK keeps a masked fault from interrupting until it is unmasked", () => {
    const { mmu, t, port } = rig();
    enable(mmu, t.lv1);
    let calls = 0;
    mmu.setIrqHandler((m) => {
      calls++;
      m.write32(REG_INT_CLEAR, m.read32(REG_INT_STATUS));
      m.write32(REG_MMU_CTRL, CTRL_ENABLE);
    });
    mmu.write32(REG_INT_MASK, 1);
    expect(() => port.read(0x5000, new Uint8Array(1))).toThrow(kerr("EFAULT"));
    expect(calls).toBe(0);
    expect(mmu.read32(REG_MMU_STATUS)).toBe(1);
    mmu.write32(REG_INT_MASK, 0);
    expect(calls).toBe(1);
    expect(mmu.read32(REG_MMU_STATUS)).toBe(0);
  });

  it("chooses LRU or round-robin replacement by MMU_CFG bit0", () => {
    for (const lru of [true, false]) {
      const { mm, mmu, t, port } = rig("1.0", { tlbEntries: 2 });
      for (let i = 0; i < 3; i++) t.small(0x10000000 + i * SZ_4K, allocPa(mm, 0));
      enable(mmu, t.lv1, lru ? 1 : 0);
      const b = new Uint8Array(1);
      port.read(0x10000000, b); // A
      port.read(0x10001000, b); // B
      port.read(0x10000000, b); // A again: LRU makes B the victim
      port.read(0x10002000, b); // C
      const cached = mmu
        .tlbEntries()
        .map((e) => e.iova)
        .sort();
      expect(cached).toEqual(lru ? [0x10000000, 0x10002000] : [0x10001000, 0x10002000]);
    }
  });

  it("lists the 16 Exynos4210 instances with their SFR bases", () => {
    expect(S5P_SYSMMU_TOTAL_IPNUM).toBe(16);
    expect(EXYNOS4210_SYSMMUS.map((s) => s.name)).toEqual([
      "MDMA",
      "SSS",
      "FIMC0",
      "FIMC1",
      "FIMC2",
      "FIMC3",
      "JPEG",
      "FIMD0",
      "FIMD1",
      "PCIe",
      "G2D",
      "ROTATOR",
      "MDMA2",
      "TV",
      "MFC_L",
      "MFC_R",
    ]);
    expect(EXYNOS4210_SYSMMUS.find((s) => s.name === "FIMC0")!.sfrBase).toBe(0x11a20000);
    expect(EXYNOS4210_SYSMMUS.find((s) => s.name === "MFC_R")!.sfrBase).toBe(0x13630000);
    expect(new Set(EXYNOS4210_SYSMMUS.map((s) => s.sfrBase)).size).toBe(16);
  });
});

describe("SysMmu page-table walker", () => {
  it("translates 1 MiB sections, 64 KiB large pages and 4 KiB small pages at every offset", () => {
    const { mm, mmu, t, port } = rig();
    const sect = allocPa(mm, 8); // 1 MiB, aligned by the buddy allocator
    const large = allocPa(mm, 4);
    const small = allocPa(mm, 0);
    t.section(0x20000000, sect);
    t.large(0x30010000, large);
    t.small(0x40005000, small);
    enable(mmu, t.lv1);
    for (const off of [0, 42, 0xfff, 0x1000, 0xffff, 0xfffff]) {
      expect(port.resolve(0x20000000 + off, 1)).toEqual([{ paddr: sect + off, len: 1 }]);
    }
    for (const off of [0, 42, 0x1000, 0xfffe]) {
      expect(port.resolve(0x30010000 + off, 1)).toEqual([{ paddr: large + off, len: 1 }]);
    }
    expect(port.resolve(0x40005000 + 42, 8)).toEqual([{ paddr: small + 42, len: 8 }]);
    // a whole 1 MiB section is one physical run
    expect(port.resolve(0x20000000, SZ_1M)).toEqual([{ paddr: sect, len: SZ_1M }]);
    const data = pattern(SZ_64K);
    port.write(0x30010000, data);
    expect(firstDiff(mm.phys.view(large, SZ_64K), data)).toBe(-1);
  });

  it("merges physically contiguous 4 KiB pages into one run and splits scattered ones", () => {
    const { mm, mmu, t, port } = rig();
    const contig = allocPa(mm, 2);
    for (let i = 0; i < 4; i++) t.small(0x10000000 + i * SZ_4K, contig + i * SZ_4K);
    const a = allocPa(mm, 0);
    const b = allocPa(mm, 0);
    t.small(0x10100000, b);
    t.small(0x10101000, a);
    enable(mmu, t.lv1);
    expect(port.resolve(0x10000000, 4 * SZ_4K)).toEqual([{ paddr: contig, len: 4 * SZ_4K }]);
    expect(port.resolve(0x10100800, SZ_4K)).toEqual([
      { paddr: b + 0x800, len: 0x800 },
      { paddr: a, len: 0x800 },
    ]);
  });

  it("treats lv1 0b00 and 0b11 and lv2 0b00 as page faults", () => {
    const { mm, mmu, t, port } = rig();
    mm.phys.write32(t.lv1Entry(0x50000000), 0x40000003);
    t.small(0x60000000, allocPa(mm, 0));
    enable(mmu, t.lv1);
    for (const iova of [0x50000000, 0x60001000, 0x70000000]) {
      expect(() => port.read(iova, new Uint8Array(4))).toThrow(kerr("EFAULT", /PAGE FAULT/));
      expect(mmu.read32(REG_PAGE_FAULT_ADDR)).toBe(iova);
      mmu.write32(REG_INT_CLEAR, 1);
      mmu.write32(REG_MMU_CTRL, CTRL_ENABLE);
    }
  });

  it("keeps a stale translation until the TLB is flushed (remap without flush reads the old page)", () => {
    const { mm, mmu, t, port } = rig();
    const p1 = allocPa(mm, 0);
    const p2 = allocPa(mm, 0);
    mm.phys.fill(p1, 0x11, SZ_4K);
    mm.phys.fill(p2, 0x22, SZ_4K);
    t.small(0x10000000, p1);
    enable(mmu, t.lv1);
    const b = new Uint8Array(4);
    port.read(0x10000000, b);
    expect(b[0]).toBe(0x11);
    t.clearSmall(0x10000000);
    t.small(0x10000000, p2);
    port.read(0x10000000, b);
    expect(b[0]).toBe(0x11); // stale TLB entry
    mmu.write32(REG_MMU_FLUSH_ENTRY, 0x10000000 | 1);
    port.read(0x10000000, b);
    expect(b[0]).toBe(0x22);
    t.clearSmall(0x10000000);
    t.small(0x10000000, p1);
    port.read(0x10000000, b);
    expect(b[0]).toBe(0x22);
    mmu.write32(REG_MMU_FLUSH, 1);
    port.read(0x10000000, b);
    expect(b[0]).toBe(0x11);
  });

  it("a FLUSH_ENTRY without bit0 set invalidates nothing", () => {
    const { mm, mmu, t, port } = rig();
    t.small(0x10000000, allocPa(mm, 0));
    enable(mmu, t.lv1);
    port.read(0x10000000, new Uint8Array(1));
    mmu.write32(REG_MMU_FLUSH_ENTRY, 0x10000000);
    expect(mmu.tlbEntries()).toHaveLength(1);
    mmu.write32(REG_MMU_FLUSH_ENTRY, 0x10000001);
    expect(mmu.tlbEntries()).toHaveLength(0);
  });

  it("emits sysmmu_tlb_flush for flush-all and flush-entry", () => {
    const { kernel, mmu } = rig();
    const rec = new TraceRecorder(kernel.trace, { events: ["sysmmu_tlb_flush"] });
    mmu.write32(REG_MMU_FLUSH, 1);
    mmu.write32(REG_MMU_FLUSH_ENTRY, 0x12345001);
    expect(rec.records().map((r) => r.data)).toEqual([
      { sysmmu: "11a20000.sysmmu", scope: "all", iova: 0, size: 2 ** 32 },
      { sysmmu: "11a20000.sysmmu", scope: "entry", iova: 0x12345000, size: SZ_4K },
    ]);
  });

  it("v2 caches per 4 KiB in 64 sets: one FLUSH_ENTRY leaves the other pages of a 64 KiB page stale", () => {
    const { mm, mmu, t, port } = rig("2.0");
    const old = allocPa(mm, 4);
    const neu = allocPa(mm, 4);
    mm.phys.fill(old, 0xaa, SZ_64K);
    mm.phys.fill(neu, 0xbb, SZ_64K);
    t.large(0x10000000, old);
    enable(mmu, t.lv1);
    port.read(0x10000000, new Uint8Array(SZ_64K)); // caches 16 entries, one per set
    expect(mmu.tlbEntries()).toHaveLength(16);
    t.clearLarge(0x10000000);
    t.large(0x10000000, neu);
    mmu.write32(REG_MMU_FLUSH_ENTRY, 0x10000000 | 1); // what v1 needs, not enough for v2
    const b = new Uint8Array(SZ_64K);
    port.read(0x10000000, b);
    expect(b[0]).toBe(0xbb);
    expect(b[SZ_4K]).toBe(0xaa); // still the old page
    for (let i = 0; i < 16; i++) mmu.write32(REG_MMU_FLUSH_ENTRY, (0x10000000 + i * SZ_4K) | 1);
    port.read(0x10000000, b);
    expect(b.every((x) => x === 0xbb)).toBe(true);
  });

  it("v1 invalidates a whole 64 KiB entry with one FLUSH_ENTRY of any of its pages", () => {
    const { mm, mmu, t, port } = rig("1.0");
    const old = allocPa(mm, 4);
    t.large(0x10000000, old);
    enable(mmu, t.lv1);
    port.read(0x10000000, new Uint8Array(SZ_64K));
    expect(mmu.tlbEntries()).toEqual([
      { iova: 0x10000000, size: SZ_64K, paddr: old, read: true, write: true },
    ]);
    mmu.write32(REG_MMU_FLUSH_ENTRY, 0x10003000 | 1);
    expect(mmu.tlbEntries()).toEqual([]);
  });

  it("counts TLB hits, misses and walks; a warm TLB walks no more", () => {
    const { mm, mmu, t, port } = rig();
    const pa = allocPa(mm, 4);
    for (let i = 0; i < 16; i++) t.small(0x10000000 + i * SZ_4K, pa + i * SZ_4K);
    enable(mmu, t.lv1);
    const b = new Uint8Array(SZ_64K);
    port.read(0x10000000, b);
    expect(mmu.stats.walks).toBe(16);
    port.read(0x10000000, b);
    expect(mmu.stats.walks).toBe(16);
    expect(mmu.stats.tlbHits).toBe(16);
  });

  it("translates into a RunList without moving bytes (Translator)", () => {
    const { mm, mmu, t } = rig();
    const pa = allocPa(mm, 0);
    t.small(0x10000000, pa);
    enable(mmu, t.lv1);
    const runs = new RunList(4);
    mmu.translate(0x10000100, 0x100, true, runs);
    expect(runs.toArray()).toEqual([{ paddr: pa + 0x100, len: 0x100, memtype: 0 }]);
    expect(() => mmu.translate(0xfffff000, 0x2000, false, runs.clear())).toThrow(kerr("EINVAL", /32-bit/));
  });
});

describe("SysMmu faults (v1)", () => {
  // Each fault: INT_STATUS bit, address register, blocked, and no byte moved.
  function expectFault(
    r: ReturnType<typeof rig>,
    fn: () => void,
    errno: "EFAULT" | "EACCES" | "EIO",
    name: RegExp,
    bit: number,
    reg: number,
    iova: number,
  ): void {
    expect(fn).toThrow(kerr(errno, name));
    expect(r.mmu.read32(REG_INT_STATUS)).toBe(1 << bit);
    expect(r.mmu.read32(reg)).toBe(iova);
    expect(r.mmu.read32(REG_MMU_STATUS) & 1).toBe(1);
    expect(r.mmu.read32(REG_MMU_CTRL)).toBe(CTRL_BLOCK);
  }

  it("page fault: bit 0, PAGE_FAULT_ADDR, blocked, nothing written", () => {
    const r = rig();
    const pa = allocPa(r.mm, 0);
    r.t.small(0x10000000, pa);
    enable(r.mmu, r.t.lv1);
    // the second page is missing: the whole write is refused
    expectFault(
      r,
      () => r.port.write(0x10000800, pattern(SZ_4K)),
      "EFAULT",
      /PAGE FAULT at 0x10001000/,
      0,
      REG_PAGE_FAULT_ADDR,
      0x10001000,
    );
    expect(r.mm.phys.view(pa, SZ_4K).every((x) => x === 0)).toBe(true);
    expect(r.port.bytesWritten).toBe(0);
  });

  it("AR and AW multi-hit: a stale 4 KiB entry under a new 64 KiB mapping (bits 1 and 2)", () => {
    for (const write of [false, true]) {
      const r = rig();
      const p4 = allocPa(r.mm, 0);
      const p64 = allocPa(r.mm, 4);
      r.t.small(0x10000000, p4);
      enable(r.mmu, r.t.lv1);
      r.port.read(0x10000000, new Uint8Array(1)); // caches the 4 KiB entry
      r.t.clearSmall(0x10000000); // unmapped without a flush ...
      r.t.large(0x10000000, p64); // ... and remapped as a large page
      r.port.read(0x10001000, new Uint8Array(1)); // caches the 64 KiB entry
      const buf = new Uint8Array(16).fill(0x5a);
      expectFault(
        r,
        () => (write ? r.port.write(0x10000000, buf) : r.port.read(0x10000000, buf)),
        "EFAULT",
        write ? /AW MULTI-HIT/ : /AR MULTI-HIT/,
        write ? 2 : 1,
        write ? REG_AW_FAULT_ADDR : REG_AR_FAULT_ADDR,
        0x10000000,
      );
      expect(buf.every((x) => x === 0x5a)).toBe(true);
      expect(r.mm.phys.read8(p4)).toBe(0);
      expect(r.mm.phys.read8(p64)).toBe(0);
    }
  });

  it("bus error: a section that translates to no RAM (bit 3, DEFAULT_SLAVE_ADDR)", () => {
    const r = rig();
    r.t.section(0x10000000, 0x20000000); // below DRAM
    enable(r.mmu, r.t.lv1);
    const buf = new Uint8Array(8).fill(1);
    expectFault(
      r,
      () => r.port.read(0x10000040, buf),
      "EIO",
      /BUS ERROR at 0x10000040/,
      3,
      REG_DEFAULT_SLAVE_ADDR,
      0x10000040,
    );
    expect(buf.every((x) => x === 1)).toBe(true);
  });

  it("bus error: a page-table base outside RAM", () => {
    const r = rig();
    enable(r.mmu, 0x20000000);
    expectFault(
      r,
      () => r.port.read(0x1000, new Uint8Array(1)),
      "EIO",
      /BUS ERROR/,
      3,
      REG_DEFAULT_SLAVE_ADDR,
      0x1000,
    );
  });

  it("AR and AW security: the master touches the secure window (bits 4 and 6)", () => {
    for (const write of [false, true]) {
      const r = rig();
      const pa = allocPa(r.mm, 1);
      r.mmu.setSecureWindow(pa + SZ_4K, SZ_4K);
      r.t.small(0x10000000, pa);
      r.t.small(0x10001000, pa + SZ_4K);
      enable(r.mmu, r.t.lv1);
      const buf = pattern(0x2000);
      const out = new Uint8Array(0x2000);
      expectFault(
        r,
        () => (write ? r.port.write(0x10000000, buf) : r.port.read(0x10000000, out)),
        "EACCES",
        write ? /AW SECURITY PROTECTION/ : /AR SECURITY PROTECTION/,
        write ? 6 : 4,
        write ? REG_AW_FAULT_ADDR : REG_AR_FAULT_ADDR,
        0x10001000,
      );
      expect(r.mm.phys.view(pa, 0x2000).every((x) => x === 0)).toBe(true);
      expect(out.every((x) => x === 0)).toBe(true);
    }
  });

  it("AR access protection: a read through a no-access page while EAP is on (bit 5)", () => {
    const r = rig();
    r.t.small(0x10000000, allocPa(r.mm, 0), 0);
    enable(r.mmu, r.t.lv1);
    const out = new Uint8Array(4).fill(3);
    expectFault(
      r,
      () => r.port.read(0x10000004, out),
      "EACCES",
      /AR ACCESS PROTECTION/,
      5,
      REG_AR_FAULT_ADDR,
      0x10000004,
    );
    expect(out.every((x) => x === 3)).toBe(true);
  });

  it("AW access protection: a write to a read-only page (bit 7); reads pass", () => {
    const r = rig();
    const pa = allocPa(r.mm, 0);
    r.t.small(0x10000000, pa, 1);
    enable(r.mmu, r.t.lv1);
    r.port.read(0x10000000, new Uint8Array(4));
    expectFault(
      r,
      () => r.port.write(0x10000008, pattern(4)),
      "EACCES",
      /AW ACCESS PROTECTION/,
      7,
      REG_AW_FAULT_ADDR,
      0x10000008,
    );
    expect(r.mm.phys.view(pa, 16).every((x) => x === 0)).toBe(true);
  });

  it("access bits are not checked while MMU_CFG.EAP is clear (the 2010 driver's configuration)", () => {
    const r = rig();
    const pa = allocPa(r.mm, 0);
    r.t.small(0x10000000, pa, 1);
    enable(r.mmu, r.t.lv1, 0x1);
    r.port.write(0x10000000, Uint8Array.of(7));
    expect(r.mm.phys.read8(pa)).toBe(7);
  });

  it("emits sysmmu_fault with the master, type, address and direction", () => {
    const r = rig();
    const rec = new TraceRecorder(r.kernel.trace, { events: ["sysmmu_fault"] });
    enable(r.mmu, r.t.lv1);
    expect(() => r.port.write(0x1234000, pattern(4))).toThrow(kerr("EFAULT"));
    expect(rec.records().map((x) => x.data)).toEqual([
      { sysmmu: "11a20000.sysmmu", master: "fimc0", type: "PAGE", iova: 0x1234000, write: true },
    ]);
  });
});
