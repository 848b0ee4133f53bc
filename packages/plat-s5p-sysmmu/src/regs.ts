/**
 * The System MMU's programming interface: register offsets from each instance's SFR base
 * (arch/arm/mach-exynos4/include/mach/regs-sysmmu.h, drivers/iommu/exynos-iommu.c), control and
 * configuration bits, interrupt (fault) bits, and the version encoding of MMU_VERSION.
 *
 * v1.x–v3.x share one layout; v5.x moves the page-table base, flushes and interrupt registers.
 *
 * @module
 */

// ---- Registers common to every version ----

/** MMU_CTRL: bit0 enable, bit1 block, bit2 interrupt enable. */
export const REG_MMU_CTRL = 0x000;
/** MMU_CFG: bit0 LRU replacement, bit2 EAP (check access-protection bits), QoS, FLPD cache ... */
export const REG_MMU_CFG = 0x004;
/** MMU_STATUS: bit0 = the MMU is blocked (read-only). */
export const REG_MMU_STATUS = 0x008;
/** MMU_VERSION: `MAKE_MMU_VER(major, minor) << 21`; 0x80000001 on some v1.0 parts (read-only). */
export const REG_MMU_VERSION = 0x034;

// ---- v1.x–v3.x layout ----

/** MMU_FLUSH: write 1 to invalidate the whole TLB (v1–v3). */
export const REG_MMU_FLUSH = 0x00c;
/** MMU_FLUSH_ENTRY: write `(iova & ~0xFFF) | 1` to invalidate the entry for one page (v1–v3). */
export const REG_MMU_FLUSH_ENTRY = 0x010;
/** PT_BASE_ADDR: physical address of the first-level table, 16 KiB aligned (v1–v3). */
export const REG_PT_BASE_ADDR = 0x014;
/** INT_STATUS: one bit per pending fault (v1–v3, read-only). */
export const REG_INT_STATUS = 0x018;
/** INT_CLEAR: write-one-to-clear INT_STATUS bits (v1–v3). */
export const REG_INT_CLEAR = 0x01c;
/** INT_MASK: a set bit keeps that fault from raising the interrupt (S5P map; drivers leave 0). */
export const REG_INT_MASK = 0x020;
/** PAGE_FAULT_ADDR: IOVA of the last page fault (v1–v3). */
export const REG_PAGE_FAULT_ADDR = 0x024;
/** AW_FAULT_ADDR: IOVA of the last write-side fault (v1–v3). */
export const REG_AW_FAULT_ADDR = 0x028;
/** AR_FAULT_ADDR: IOVA of the last read-side fault (v1–v3). */
export const REG_AR_FAULT_ADDR = 0x02c;
/** DEFAULT_SLAVE_ADDR: IOVA of the last bus error (v1–v3). */
export const REG_DEFAULT_SLAVE_ADDR = 0x030;

// ---- v5.x layout ----

/** V5_PT_BASE_PFN: page-table base >> 12 (36-bit physical addresses). */
export const REG_V5_PT_BASE_PFN = 0x00c;
/** V5_MMU_FLUSH_ALL: write 1 to invalidate the whole TLB. */
export const REG_V5_MMU_FLUSH_ALL = 0x010;
/** V5_MMU_FLUSH_ENTRY: write `(iova & ~0xFFF) | 1` to invalidate one page's entry. */
export const REG_V5_MMU_FLUSH_ENTRY = 0x014;
/** V5_MMU_FLUSH_RANGE: write 1 to invalidate every entry in [FLUSH_START, FLUSH_END + 4 KiB). */
export const REG_V5_MMU_FLUSH_RANGE = 0x018;
/** V5_MMU_FLUSH_START: first page of a range flush. */
export const REG_V5_MMU_FLUSH_START = 0x020;
/** V5_MMU_FLUSH_END: last page (inclusive) of a range flush. */
export const REG_V5_MMU_FLUSH_END = 0x024;
/** V5_INT_STATUS: fault bits 0–4 (read side) and 16–20 (write side). */
export const REG_V5_INT_STATUS = 0x060;
/** V5_INT_CLEAR: write-one-to-clear V5_INT_STATUS bits. */
export const REG_V5_INT_CLEAR = 0x064;
/** V5_FAULT_AR_VA: IOVA of the last read-side fault. */
export const REG_V5_FAULT_AR_VA = 0x070;
/** V5_FAULT_AW_VA: IOVA of the last write-side fault. */
export const REG_V5_FAULT_AW_VA = 0x080;

/** Size of one instance's SFR window. */
export const SYSMMU_SFR_SIZE = 0x1000;

// ---- MMU_CTRL values ----

/** MMU_CTRL bit0: translation enabled. */
export const CTRL_EN = 1 << 0;
/** MMU_CTRL bit1: block (stall the master). */
export const CTRL_BLK = 1 << 1;
/** MMU_CTRL bit2: fault interrupt enabled. */
export const CTRL_INT_EN = 1 << 2;
/** Enabled, interrupt on, not blocked. */
export const CTRL_ENABLE = 0x5;
/** Enabled, interrupt on, blocked. */
export const CTRL_BLOCK = 0x7;
/** Everything off: the MMU passes addresses through. */
export const CTRL_DISABLE = 0x0;

// ---- MMU_CFG bits ----

/** MMU_CFG bit0: LRU TLB replacement (clear: round-robin). */
export const CFG_LRU = 0x1;
/** MMU_CFG bit2: check the access-protection bits of descriptors. */
export const CFG_EAP = 1 << 2;
/** MMU_CFG QoS field (bits 7–10). */
export const CFG_QOS = (n: number): number => (n & 0xf) << 7;
/** MMU_CFG bit20: first-level descriptor cache (v3.2+). */
export const CFG_FLPDCACHE = 1 << 20;
/** MMU_CFG bit22: system select (v3.2 only). */
export const CFG_SYSSEL = 1 << 22;
/** MMU_CFG bit24: auto clock gating (v3.3 only). */
export const CFG_ACGEN = 1 << 24;

/** MMU_STATUS bit0: blocked. */
export const STATUS_BLOCKED = 1;

// ---- Versions ----

/** `MAKE_MMU_VER(major, minor)`: the 11-bit version the driver keeps. */
export function makeMmuVer(major: number, minor: number): number {
  return ((major & 0xf) << 7) | (minor & 0x7f);
}

/** `MMU_MAJ_VER(ver)` */
export function mmuMajVer(ver: number): number {
  return ver >>> 7;
}

/** `MMU_MIN_VER(ver)` */
export function mmuMinVer(ver: number): number {
  return ver & 0x7f;
}

/** `MMU_RAW_VER(reg)`: the 11-bit version field of MMU_VERSION (bits 21–31). */
export function mmuRawVer(reg: number): number {
  return (reg >>> 21) & 0x7ff;
}

/**
 * The version the driver decodes from an MMU_VERSION value (`__sysmmu_get_version`):
 * 0x80000001, which some Exynos4210 parts report, is taken as v1.0.
 */
export function decodeMmuVersion(reg: number): number {
  return reg >>> 0 === 0x80000001 ? makeMmuVer(1, 0) : mmuRawVer(reg);
}

// ---- Faults (INT_STATUS bits) ----

/**
 * What went wrong, independent of the register layout (`sysmmu_v1_faults[].name`,
 * `sysmmu_v5_fault_names`): "PTW" is a v5 page-table-walk error.
 */
export type SysMmuFaultKind =
  | "PAGE"
  | "MULTI-HIT"
  | "BUS ERROR"
  | "SECURITY PROTECTION"
  | "ACCESS PROTECTION"
  | "PTW";

/** v1–v3 INT_STATUS bits (`enum exynos_sysmmu_inttype`). */
export const SYSMMU_PAGEFAULT = 0;
/** v1–v3: two TLB entries matched a read. */
export const SYSMMU_AR_MULTIHIT = 1;
/** v1–v3: two TLB entries matched a write. */
export const SYSMMU_AW_MULTIHIT = 2;
/** v1–v3: the translated address (or a descriptor) is not served by any slave. */
export const SYSMMU_BUSERROR = 3;
/** v1–v3: a read reached the secure window. */
export const SYSMMU_AR_SECURITY = 4;
/** v1–v3: a read was refused by the descriptor's access bits. */
export const SYSMMU_AR_ACCESS = 5;
/** v1–v3: a write reached the secure window. */
export const SYSMMU_AW_SECURITY = 6;
/** v1–v3: a write was refused by the descriptor's access bits (read-only page). */
export const SYSMMU_AW_PROTECTION = 7;

/** v5 fault bit numbers on the read side; add 16 for the write side. */
export const SYSMMU_V5_PTW = 0;
/** v5: page fault. */
export const SYSMMU_V5_PAGE = 1;
/** v5: multi-hit. */
export const SYSMMU_V5_MULTIHIT = 2;
/** v5: access protection. */
export const SYSMMU_V5_ACCESS = 3;
/** v5: security protection. */
export const SYSMMU_V5_SECURITY = 4;
/** v5: the write-side bits start here. */
export const SYSMMU_V5_AW_SHIFT = 16;

/** One row of a version's fault table: INT_STATUS bit → name, direction, address register. */
export interface SysMmuFaultInfo {
  /** the INT_STATUS bit */
  readonly bit: number;
  readonly kind: SysMmuFaultKind;
  /** true for a write-side (AW) fault; what the driver reports as IOMMU_FAULT_WRITE */
  readonly write: boolean;
  /** the register that latches the faulting IOVA */
  readonly addrReg: number;
}

/** `sysmmu_v1_faults`: bits 0–7 of a v1–v3 INT_STATUS. */
export const SYSMMU_V1_FAULTS: readonly SysMmuFaultInfo[] = Object.freeze([
  { bit: 0, kind: "PAGE", write: false, addrReg: REG_PAGE_FAULT_ADDR },
  { bit: 1, kind: "MULTI-HIT", write: false, addrReg: REG_AR_FAULT_ADDR },
  { bit: 2, kind: "MULTI-HIT", write: true, addrReg: REG_AW_FAULT_ADDR },
  { bit: 3, kind: "BUS ERROR", write: false, addrReg: REG_DEFAULT_SLAVE_ADDR },
  { bit: 4, kind: "SECURITY PROTECTION", write: false, addrReg: REG_AR_FAULT_ADDR },
  { bit: 5, kind: "ACCESS PROTECTION", write: false, addrReg: REG_AR_FAULT_ADDR },
  { bit: 6, kind: "SECURITY PROTECTION", write: true, addrReg: REG_AW_FAULT_ADDR },
  { bit: 7, kind: "ACCESS PROTECTION", write: true, addrReg: REG_AW_FAULT_ADDR },
] as const);

const V5_NAMES: readonly SysMmuFaultKind[] = [
  "PTW",
  "PAGE",
  "MULTI-HIT",
  "ACCESS PROTECTION",
  "SECURITY PROTECTION",
];

/** The v5 fault table: bits 0–4 read side (V5_FAULT_AR_VA), 16–20 write side (V5_FAULT_AW_VA). */
export const SYSMMU_V5_FAULTS: readonly SysMmuFaultInfo[] = Object.freeze([
  ...V5_NAMES.map((kind, bit) => ({ bit, kind, write: false, addrReg: REG_V5_FAULT_AR_VA })),
  ...V5_NAMES.map((kind, i) => ({
    bit: i + SYSMMU_V5_AW_SHIFT,
    kind,
    write: true,
    addrReg: REG_V5_FAULT_AW_VA,
  })),
]);

/**
 * `get_fault_info`: the fault an INT_STATUS bit stands for on a version (`ver` as
 * `makeMmuVer`), or undefined for a bit the version does not define ("Unhandled interrupt bit").
 */
export function sysmmuFaultInfo(ver: number, bit: number): SysMmuFaultInfo | undefined {
  const table = mmuMajVer(ver) >= 5 ? SYSMMU_V5_FAULTS : SYSMMU_V1_FAULTS;
  return table.find((f) => f.bit === bit);
}

/** The kernel's name of a fault: "AW ACCESS PROTECTION FAULT", "PAGE FAULT", "BUS ERROR". */
export function sysmmuFaultName(kind: SysMmuFaultKind, write: boolean): string {
  if (kind === "BUS ERROR") return kind;
  if (kind === "PAGE") return "PAGE FAULT";
  return `${write ? "AW" : "AR"} ${kind} FAULT`;
}
