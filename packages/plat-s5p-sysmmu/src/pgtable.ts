/**
 * The System MMU page-table format (exynos-iommu.c; seed-systems §5.4): a 4096-entry first level
 * (16 KiB, 16 KiB aligned, one entry per 1 MiB of IOVA) and 256-entry second levels (1 KiB,
 * 1 KiB aligned, one entry per 4 KiB). Entries are 32-bit little-endian words in DRAM.
 *
 * - lv1 `[1:0]`: 0b00 / 0b11 fault, 0b10 1 MiB section, 0b01 link to a lv2 table.
 * - lv2 `[1:0]`: 0b00 fault, 0b01 64 KiB large page (16 identical entries), bit1 4 KiB small page.
 * - v1–v3 store the physical address itself; v5 stores `PA >> 4` (`PG_ENT_SHIFT` 4, 36-bit PA).
 * - Access bits: v1–v3 AP0 (lv1 bit10 / lv2 bit4: accessible) and AP2 (lv1 bit15 / lv2 bit9:
 *   read-only); v5 a 2-bit field (lv1 bits 4–5 / lv2 bits 2–3: 1 read, 2 write, 3 both).
 *
 * @module
 */
import { mmuMajVer } from "./regs.js";

/** `SECT_ORDER` */
export const SECT_ORDER = 20;
/** `LPAGE_ORDER` */
export const LPAGE_ORDER = 16;
/** `SPAGE_ORDER` */
export const SPAGE_ORDER = 12;
/** 1 MiB */
export const SECT_SIZE = 1 << SECT_ORDER;
/** 64 KiB */
export const LPAGE_SIZE = 1 << LPAGE_ORDER;
/** 4 KiB */
export const SPAGE_SIZE = 1 << SPAGE_ORDER;
/** `NUM_LV1ENTRIES` */
export const NUM_LV1ENTRIES = 4096;
/** `NUM_LV2ENTRIES` */
export const NUM_LV2ENTRIES = 256;
/** `LV1TABLE_SIZE`: 16 KiB */
export const LV1TABLE_SIZE = NUM_LV1ENTRIES * 4;
/** `LV2TABLE_SIZE`: 1 KiB */
export const LV2TABLE_SIZE = NUM_LV2ENTRIES * 4;
/** `SPAGES_PER_LPAGE` */
export const SPAGES_PER_LPAGE = LPAGE_SIZE / SPAGE_SIZE;
/** The page sizes the System MMU maps: 1M | 64K | 4K. */
export const SYSMMU_PGSIZE_BITMAP = SECT_SIZE | LPAGE_SIZE | SPAGE_SIZE;

/** `SYSMMU_PG_ENT_SHIFT`: v1–v3 entries hold the physical address. */
export const SYSMMU_PG_ENT_SHIFT = 0;
/** `SYSMMU_V5_PG_ENT_SHIFT`: v5 entries hold the physical address >> 4. */
export const SYSMMU_V5_PG_ENT_SHIFT = 4;

/** `SYSMMU_LV1_PROT[prot & 3]` (v1–v3): none, read-only, write (promoted to RW), RW. */
export const SYSMMU_LV1_PROT: readonly number[] = Object.freeze([0, (1 << 15) | (1 << 10), 1 << 10, 1 << 10]);
/** `SYSMMU_LV2_PROT[prot & 3]` (v1–v3). */
export const SYSMMU_LV2_PROT: readonly number[] = Object.freeze([0, (1 << 9) | (1 << 4), 1 << 4, 1 << 4]);
/** `SYSMMU_V5_LV1_PROT[prot & 3]`. */
export const SYSMMU_V5_LV1_PROT: readonly number[] = Object.freeze([0, 1 << 4, 2 << 4, 3 << 4]);
/** `SYSMMU_V5_LV2_PROT[prot & 3]`. */
export const SYSMMU_V5_LV2_PROT: readonly number[] = Object.freeze([0, 1 << 2, 2 << 2, 3 << 2]);

/** `SYSMMU_SUPPORTED_PROT_BITS` (IOMMU_READ | IOMMU_WRITE): the driver drops every other prot bit. */
export const SYSMMU_SUPPORTED_PROT_BITS = 0x3;

/**
 * One page-table format: the entry shift and access-bit tables of a hardware generation. Every
 * System MMU of a system uses the same one (the driver fixes it at the first probe).
 */
export interface SysMmuPteFormat {
  /** `PG_ENT_SHIFT`: 0 for v1–v3, 4 for v5 */
  readonly shift: number;
  /** `2 ** shift`: entries hold `pa / scale` */
  readonly scale: number;
  /** `LV1_PROT`, indexed by `prot & 3` */
  readonly lv1Prot: readonly number[];
  /** `LV2_PROT`, indexed by `prot & 3` */
  readonly lv2Prot: readonly number[];
}

/** The v1–v3 format. */
export const SYSMMU_V1_PTE_FORMAT: SysMmuPteFormat = Object.freeze({
  shift: SYSMMU_PG_ENT_SHIFT,
  scale: 1,
  lv1Prot: SYSMMU_LV1_PROT,
  lv2Prot: SYSMMU_LV2_PROT,
});

/** The v5 format. */
export const SYSMMU_V5_PTE_FORMAT: SysMmuPteFormat = Object.freeze({
  shift: SYSMMU_V5_PG_ENT_SHIFT,
  scale: 16,
  lv1Prot: SYSMMU_V5_LV1_PROT,
  lv2Prot: SYSMMU_V5_LV2_PROT,
});

/** The format of a hardware version (as `makeMmuVer`). */
export function pteFormatOf(ver: number): SysMmuPteFormat {
  return mmuMajVer(ver) >= 5 ? SYSMMU_V5_PTE_FORMAT : SYSMMU_V1_PTE_FORMAT;
}

// The helpers below run on every map and unmap: they spell their shifts as literals (a bundled
// module's constants are variables, loaded and checked on every use) and read the access bits of
// the two built-in formats from typed arrays (an element of a frozen array is read through an
// inline-cache call).

/** `lv1ent_offset(iova)` */
export function lv1entOffset(iova: number): number {
  return iova >>> 20; // SECT_ORDER
}

/** `lv2ent_offset(iova)` */
export function lv2entOffset(iova: number): number {
  return (iova >>> 12) & 0xff; // SPAGE_ORDER, NUM_LV2ENTRIES - 1
}

/** `pa >> PG_ENT_SHIFT` as an unsigned 32-bit value (pa may exceed 32 bits on v5; it is 16-byte aligned). */
function toEnt(f: SysMmuPteFormat, pa: number): number {
  // v1–v3 store the address itself: no division
  return (f.scale === 1 ? pa : pa / f.scale) >>> 0;
}

const V1_LV1_PROT = Int32Array.from(SYSMMU_LV1_PROT);
const V1_LV2_PROT = Int32Array.from(SYSMMU_LV2_PROT);
const V5_LV1_PROT = Int32Array.from(SYSMMU_V5_LV1_PROT);
const V5_LV2_PROT = Int32Array.from(SYSMMU_V5_LV2_PROT);

/** `LV1_PROT[prot & 3]` of format `f`. */
function lv1Prot(f: SysMmuPteFormat, prot: number): number {
  if (f === SYSMMU_V1_PTE_FORMAT) return V1_LV1_PROT[prot & 3] as number;
  if (f === SYSMMU_V5_PTE_FORMAT) return V5_LV1_PROT[prot & 3] as number;
  return f.lv1Prot[prot & 3] as number;
}

/** `LV2_PROT[prot & 3]` of format `f`. */
function lv2Prot(f: SysMmuPteFormat, prot: number): number {
  if (f === SYSMMU_V1_PTE_FORMAT) return V1_LV2_PROT[prot & 3] as number;
  if (f === SYSMMU_V5_PTE_FORMAT) return V5_LV2_PROT[prot & 3] as number;
  return f.lv2Prot[prot & 3] as number;
}

/** `mk_lv1ent_sect(pa, prot)` */
export function mkLv1entSect(f: SysMmuPteFormat, pa: number, prot: number): number {
  return (toEnt(f, pa) | lv1Prot(f, prot) | 2) >>> 0;
}

/** `mk_lv1ent_page(pa)`: a link to the lv2 table at `pa` */
export function mkLv1entPage(f: SysMmuPteFormat, pa: number): number {
  return (toEnt(f, pa) | 1) >>> 0;
}

/** `mk_lv2ent_lpage(pa, prot)` */
export function mkLv2entLpage(f: SysMmuPteFormat, pa: number, prot: number): number {
  return (toEnt(f, pa) | lv2Prot(f, prot) | 1) >>> 0;
}

/** `mk_lv2ent_spage(pa, prot)` */
export function mkLv2entSpage(f: SysMmuPteFormat, pa: number, prot: number): number {
  return (toEnt(f, pa) | lv2Prot(f, prot) | 2) >>> 0;
}

/** `sect_to_phys(ent)`: the entry value shifted back into a physical address. */
function entToPhys(f: SysMmuPteFormat, ent: number): number {
  return (ent >>> 0) * f.scale;
}

/** `lv2table_base(sent)`: the physical address of the lv2 table a link entry names. */
export function lv2tableBase(f: SysMmuPteFormat, sent: number): number {
  return entToPhys(f, (sent & 0xffffffc0) >>> 0);
}

/** `section_phys(sent)` */
export function sectionPhys(f: SysMmuPteFormat, sent: number): number {
  const pa = entToPhys(f, sent);
  return pa - (pa % SECT_SIZE);
}

/** `lpage_phys(pent)` */
export function lpagePhys(f: SysMmuPteFormat, pent: number): number {
  const pa = entToPhys(f, pent);
  return pa - (pa % LPAGE_SIZE);
}

/** `spage_phys(pent)` */
export function spagePhys(f: SysMmuPteFormat, pent: number): number {
  const pa = entToPhys(f, pent);
  return pa - (pa % SPAGE_SIZE);
}

/** `lv1ent_section(sent)` */
export function lv1entSection(sent: number): boolean {
  return (sent & 3) === 2;
}

/** `lv1ent_page_zero(sent)`: any link, the shared zero table's included. */
export function lv1entPageZero(sent: number): boolean {
  return (sent & 3) === 1;
}

/** `lv2ent_fault(pent)` */
export function lv2entFault(pent: number): boolean {
  return (pent & 3) === 0;
}

/** `lv2ent_small(pent)` */
export function lv2entSmall(pent: number): boolean {
  return (pent & 2) === 2;
}

/** `lv2ent_large(pent)` */
export function lv2entLarge(pent: number): boolean {
  return (pent & 3) === 1;
}
