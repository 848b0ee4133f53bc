/**
 * Samsung's S5P unified address space (arch/arm/plat-s5p/s5p-vcm.c, plat/s5p-vcm.h, Exynos4210
 * vendor kernels): every System MMU master gets a VCM context, but all of them share one page
 * table (a 16 KiB lv1 table in DRAM with lazily allocated 1 KiB lv2 tables, the SysMMU v1–v3
 * descriptor format) and one address space, each context a disjoint 1 MiB-aligned slice of
 * `[0x00100000, 0xFFF00000)`. A buffer bound in one master's context is therefore usable by any
 * other master (`vcmReservationInVcm` → IN_ADDRSPACE, after a TLB invalidation).
 *
 * Descriptors (§5.4 of the seed notes): lv1 `pa | 2` section (1 MiB), `table | 1` link to a lv2
 * table; lv2 `pa | 1` large page (64 KiB, written into 16 consecutive entries), `pa | 2` small
 * page (4 KiB); `0` fault.
 *
 * @module
 */
import {
  hex,
  type Kernel,
  KernelBug,
  KernelError,
  kassert,
  PAGE_SIZE,
  SZ_1K,
  SZ_1M,
  SZ_4K,
  SZ_64K,
} from "@umm/kernel-core";
import { __GFP_ZERO, GFP_KERNEL, type Mm, mmOf } from "@umm/mm-core";
import { vcmInit } from "./core.js";
import { _checkMmuDriver, _mmuActivate, MMU_VCM_DRIVER, VcmMmu } from "./mmu.js";
import type { S5pVcmDriver, VcmDriver, VcmMmuDriver } from "./ops.js";
import { vcmPhysAlloc } from "./phys.js";
import { AddrPool } from "./pool.js";
import { vcmState, vcmWarn } from "./state.js";
import { type Vcm, VcmPhys, type VcmPhysPart, type VcmRes } from "./types.js";

// ---- ids ----------------------------------------------------------------------------------------

/** `enum vcm_dev_id`: no device. */
export const VCM_DEV_NONE = -1;
/** `VCM_DEV_MDMA` (0): memory-to-memory DMA. */
export const VCM_DEV_MDMA = 0;
/** `VCM_DEV_SSS` (1): security subsystem (crypto engine). */
export const VCM_DEV_SSS = 1;
/** `VCM_DEV_FIMC0` (2): camera interface / scaler 0. */
export const VCM_DEV_FIMC0 = 2;
/** `VCM_DEV_FIMC1` (3): camera interface / scaler 1. */
export const VCM_DEV_FIMC1 = 3;
/** `VCM_DEV_FIMC2` (4): camera interface / scaler 2. */
export const VCM_DEV_FIMC2 = 4;
/** `VCM_DEV_FIMC3` (5): camera interface / scaler 3. */
export const VCM_DEV_FIMC3 = 5;
/** `VCM_DEV_JPEG` (6): JPEG codec. */
export const VCM_DEV_JPEG = 6;
/** `VCM_DEV_FIMD0` (7): display controller 0. */
export const VCM_DEV_FIMD0 = 7;
/** `VCM_DEV_FIMD1` (8): display controller 1. */
export const VCM_DEV_FIMD1 = 8;
/** `VCM_DEV_PCIe` (9): PCI Express. */
export const VCM_DEV_PCIe = 9;
/** `VCM_DEV_G2D` (10): 2D graphics accelerator. */
export const VCM_DEV_G2D = 10;
/** `VCM_DEV_ROTATOR` (11): image rotator. */
export const VCM_DEV_ROTATOR = 11;
/** `VCM_DEV_MDMA2` (12): second memory-to-memory DMA. */
export const VCM_DEV_MDMA2 = 12;
/** `VCM_DEV_TV` (13): TV mixer. */
export const VCM_DEV_TV = 13;
/** `VCM_DEV_MFC` (14): multi-format video codec (both ports). */
export const VCM_DEV_MFC = 14;
/** Number of device ids. */
export const VCM_DEV_NUM = 15;
/** Names of the device ids, indexed by id. */
export const VCM_DEV_NAMES: readonly string[] = Object.freeze([
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
  "MFC",
]);

/** `enum S5PVCM_RESCHECK`: the reservation cannot be used by the querying device. */
export const S5PVCM_RES_NOT_IN_VCM = 0;
/** The reservation belongs to the querying device's context. */
export const S5PVCM_RES_IN_VCM = 1;
/** The reservation belongs to another S5P context of the shared address space. */
export const S5PVCM_RES_IN_ADDRSPACE = 2;

/** Start of the shared address space (gen_pool_add(pool, 0x100000, 0xFFE00000)). */
export const S5P_VCM_BASE = 0x0010_0000;
/** Bytes of the shared address space. */
export const S5P_VCM_SIZE = 0xffe0_0000;
/** Page orders of every S5P context: 1 MiB, 64 KiB, 4 KiB. */
export const S5P_VCM_ORDERS: readonly number[] = Object.freeze([8, 4, 0]);

// descriptor bits (s5p-vcm.c)
const PG_FLAG_MASK = 0x3;
const PG_LV1_SECTION_FLAG = 0x2;
const PG_LV1_PAGE_FLAG = 0x1;
const PG_LV2_SPAGE_FLAG = 0x2;
const PG_LV2_LPAGE_FLAG = 0x1;
const PG_FAULT_FLAG = 0;
const PG_LV1_LV2BASE_MASK = 0xfffffc00;
const LV1_TABLE_SIZE = 4096 * 4;
const LV2_TABLE_SIZE = 256 * 4;

// ---- state --------------------------------------------------------------------------------------

/** @internal the 1 KiB lv2 tables: a slab of 4 KiB pages cut in four (`l2pgtbl_cachep`) */
class Lv2Slab {
  readonly #mm: Mm;
  /** pfn → bitmask of used 1 KiB slots */
  readonly #pages = new Map<number, number>();

  constructor(mm: Mm) {
    this.#mm = mm;
  }

  get tables(): number {
    let n = 0;
    for (const m of this.#pages.values()) for (let s = 0; s < 4; s++) if (m & (1 << s)) n++;
    return n;
  }

  /** `kmem_cache_zalloc`: a zeroed, 1 KiB-aligned table; ENOMEM when no page is left. */
  alloc(): number {
    for (const [pfn, mask] of this.#pages) {
      if (mask === 0xf) continue;
      let s = 0;
      while (mask & (1 << s)) s++;
      this.#pages.set(pfn, mask | (1 << s));
      const pa = pfn * PAGE_SIZE + s * SZ_1K;
      this.#mm.phys.fill(pa, 0, LV2_TABLE_SIZE);
      return pa;
    }
    const pfn = this.#mm.buddy.allocPages(0, GFP_KERNEL, { tag: "s5p-vcm lv2" });
    if (pfn === null) throw new KernelError("ENOMEM", "s5p-vcm: no page for a 2nd-level page table");
    this.#pages.set(pfn, 1);
    const pa = pfn * PAGE_SIZE;
    this.#mm.phys.fill(pa, 0, LV2_TABLE_SIZE);
    return pa;
  }

  /** `kmem_cache_free`; a page whose four tables are all free goes back to the buddy allocator. */
  free(pa: number): void {
    const pfn = Math.floor(pa / PAGE_SIZE);
    const s = (pa % PAGE_SIZE) / SZ_1K;
    const mask = this.#pages.get(pfn);
    if (mask === undefined || (mask & (1 << s)) === 0) {
      throw new KernelBug(`s5p-vcm: lv2 table ${hex(pa)} is not allocated`);
    }
    const m = mask & ~(1 << s);
    if (m === 0) {
      this.#pages.delete(pfn);
      this.#mm.buddy.freePages(pfn, 0);
    } else this.#pages.set(pfn, m);
  }

  /** Frees every page (module exit). */
  destroy(): void {
    for (const pfn of this.#pages.keys()) this.#mm.buddy.freePages(pfn, 0);
    this.#pages.clear();
  }
}

/** @internal `shared_vcm`: the one page table, the global pool, the context of every id. */
export interface S5pUnified {
  readonly mm: Mm;
  /** physical address of the 16 KiB lv1 table */
  readonly pgd: number;
  readonly pool: AddrPool;
  readonly vcms: (S5pVcm | null)[];
  readonly slab: Lv2Slab;
}

/** A context of the unified address space: an MMU-wrapper context with its device id. */
export class S5pVcm extends VcmMmu {
  /** `enum vcm_dev_id` */
  readonly id: number;
  /** the device callbacks (may be null, as vb2's S5P allocator passes) */
  readonly s5pDriver: S5pVcmDriver | null;

  /** @internal use `vcmCreateUnified` */
  constructor(kernel: Kernel, start: number, size: number, id: number, s5pDriver: S5pVcmDriver | null) {
    super(
      kernel,
      { start, size, name: `s5p-vcm:${VCM_DEV_NAMES[id] ?? id}` },
      S5P_MMU_DRIVER,
      S5P_VCM_DRIVER,
    );
    this.id = id;
    this.s5pDriver = s5pDriver;
  }
}

function unified(kernel: Kernel): S5pUnified {
  return s5pVcmInit(kernel) as unknown as S5pUnified;
}

/** What `s5pVcmInit` returns. */
export interface S5pVcmInfo {
  /** physical address of the shared lv1 table (16 KiB, 16 KiB-aligned) */
  readonly pgd: number;
}

/**
 * `s5p_vcm_init` (a subsys_initcall): allocates the shared, zeroed 16 KiB lv1 table and the
 * global address pool. Runs once per kernel (later calls return the same state);
 * `vcmCreateUnified` calls it when needed. ENOMEM when the table cannot be allocated.
 */
export function s5pVcmInit(kernel: Kernel): S5pVcmInfo {
  const st = vcmState(kernel);
  if (st.s5p) return st.s5p;
  const mm = mmOf(kernel);
  const pfn = mm.buddy.allocPages(2, GFP_KERNEL | __GFP_ZERO, { tag: "s5p-vcm pgd" });
  if (pfn === null) throw new KernelError("ENOMEM", "s5p_vcm_init: no 16 KiB for the page table");
  const u: S5pUnified = {
    mm,
    pgd: pfn * PAGE_SIZE,
    pool: new AddrPool(S5P_VCM_BASE, S5P_VCM_SIZE, SZ_1M),
    vcms: new Array<S5pVcm | null>(VCM_DEV_NUM).fill(null),
    slab: new Lv2Slab(mm),
  };
  st.s5p = u;
  return u;
}

/**
 * Tears the unified address space down (what a module exit would do): frees the lv1 table and
 * every lv2 table. EBUSY while any context exists.
 */
export function s5pVcmExit(kernel: Kernel): void {
  const st = vcmState(kernel);
  const u = st.s5p;
  if (!u) return;
  const live = u.vcms.filter((v) => v !== null);
  if (live.length > 0) {
    throw new KernelError("EBUSY", `s5p_vcm_exit: ${live.map((v) => v.name).join(", ")} still exist`);
  }
  u.slab.destroy();
  u.mm.buddy.freePages(u.pgd / PAGE_SIZE, 2);
  st.s5p = null;
}

/** Number of lv2 tables the shared page table holds now. */
export function s5pVcmLv2Tables(kernel: Kernel): number {
  return vcmState(kernel).s5p?.slab.tables ?? 0;
}

// ---- page-table writer --------------------------------------------------------------------------

function lv1Addr(u: S5pUnified, vaddr: number): number {
  return u.pgd + Math.floor(vaddr / SZ_1M) * 4;
}

function pteWrite(u: S5pUnified, pa: number, value: number): void {
  // the CPU writes the descriptor and cleans it to memory (s5p_mmu_cacheflush_contig)
  u.mm.hooks.cache?.prepareKernelWrite(pa, 4);
  u.mm.phys.write32(pa, value);
}

function lv2Empty(u: S5pUnified, table: number): boolean {
  const v = u.mm.phys.view(table, LV2_TABLE_SIZE);
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) return false;
  return true;
}

/** `s5p_remove_mapping`: clears the descriptors of `[vaddr, vaddr + vsize)`; lv2 tables stay. */
function removeMapping(u: S5pUnified, vaddr: number, vsize: number): void {
  const phys = u.mm.phys;
  while (vsize > 0) {
    const l1 = lv1Addr(u, vaddr);
    const e = phys.read32(l1);
    switch (e & PG_FLAG_MASK) {
      case PG_LV1_PAGE_FLAG: {
        const table = e & PG_LV1_LV2BASE_MASK;
        const wsize = Math.min(SZ_1M - (vaddr % SZ_1M), vsize);
        const first = (vaddr % SZ_1M) / SZ_4K;
        for (let k = 0; k < wsize / SZ_4K; k++) pteWrite(u, (table >>> 0) + (first + k) * 4, 0);
        vaddr += wsize;
        vsize -= wsize;
        break;
      }
      case PG_LV1_SECTION_FLAG:
        kassert(vsize >= SZ_1M && vaddr % SZ_1M === 0, `s5p-vcm: partial unmap of section ${hex(vaddr)}`);
        pteWrite(u, l1, 0);
        vaddr += SZ_1M;
        vsize -= SZ_1M;
        break;
      default: {
        vcmWarn(u.mm.kernel, `s5p-vcm: removing ${hex(vaddr)}: lv1 entry ${hex(e >>> 0)} is not a mapping`);
        pteWrite(u, l1, 0);
        const diff = SZ_1M - (vaddr % SZ_1M);
        vaddr += diff;
        vsize = vsize > diff ? vsize - diff : 0;
      }
    }
  }
}

/** Cursor over the physical parts: part index and offset into it. */
interface Cursor {
  pi: number;
  off: number;
  vcur: number;
}

/** `s5p_write_2nd_table`: fills one lv2 table from `c.vcur` to the end of its section or `vend`. */
function write2nd(
  u: S5pUnified,
  table: number,
  c: Cursor,
  vend: number,
  parts: readonly VcmPhysPart[],
): void {
  const phys = u.mm.phys;
  const sectEnd = (Math.floor(c.vcur / SZ_1M) + 1) * SZ_1M;
  const end = Math.min(vend, sectEnd);
  while (c.pi < parts.length && c.vcur < end) {
    const part = parts[c.pi] as VcmPhysPart;
    const cstart = part.start + c.off;
    const csize = part.size - c.off;
    if (csize < SZ_4K)
      throw new KernelError("EBADR", `s5p-vcm: a chunk of ${hex(csize)} bytes is below 4 KiB`);
    let entry = table + ((c.vcur % SZ_1M) / SZ_4K) * 4;
    if ((phys.read32(entry) & PG_FLAG_MASK) !== PG_FAULT_FLAG) {
      throw new KernelError("EADDRINUSE", `s5p-vcm: ${hex(c.vcur)} is already mapped`);
    }
    let step: number;
    if (c.vcur % SZ_64K === 0 && cstart % SZ_64K === 0 && end - c.vcur >= SZ_64K && csize >= SZ_64K) {
      for (let i = 0; i < SZ_64K / SZ_4K; i++) {
        if ((phys.read32(entry) & PG_FLAG_MASK) !== PG_FAULT_FLAG) {
          throw new KernelError("EADDRINUSE", `s5p-vcm: ${hex(c.vcur)} is already mapped`);
        }
        pteWrite(u, entry, cstart + PG_LV2_LPAGE_FLAG);
        entry += 4;
        c.vcur += SZ_4K;
      }
      step = SZ_64K;
    } else if (c.vcur % SZ_4K === 0 && end - c.vcur >= SZ_4K && csize >= SZ_4K && cstart % SZ_4K === 0) {
      pteWrite(u, entry, cstart + PG_LV2_SPAGE_FLAG);
      c.vcur += SZ_4K;
      step = SZ_4K;
    } else {
      throw new KernelError(
        "EBADR",
        `s5p-vcm: chunk ${hex(cstart)} +${hex(csize)} cannot be mapped at ${hex(c.vcur)}`,
      );
    }
    c.off += step;
    if (c.off === part.size) {
      c.pi++;
      c.off = 0;
    }
  }
}

/**
 * `s5p_write_mapping`: maps `parts` contiguously from `vaddr` for `vsize` bytes — a section per
 * lv1 slot where both addresses are 1 MiB-aligned and a whole MiB is left in both (an empty lv2
 * table there is freed first), else a lv2 table (allocated on demand) with 64 KiB large pages
 * where aligned and fitting, else 4 KiB small pages. EFAULT for unaligned input; EADDRINUSE over
 * a non-fault entry (or a non-empty lv2 table where a section would go); EBADR for a chunk below
 * 4 KiB; ENOMEM for a lv2 table; on any error everything this call wrote is removed and the lv2
 * tables it allocated are freed.
 */
function writeMapping(u: S5pUnified, vaddr: number, vsize: number, parts: readonly VcmPhysPart[]): void {
  if (vaddr % SZ_4K !== 0 || vsize % SZ_4K !== 0) {
    vcmWarn(u.mm.kernel, `s5p-vcm: [${hex(vaddr)}, +${hex(vsize)}) is not page-aligned`);
    throw new KernelError("EFAULT", `s5p-vcm: [${hex(vaddr)}, +${hex(vsize)}) is not page-aligned`);
  }
  for (const p of parts) {
    if (p.start % SZ_4K !== 0 || p.size % SZ_4K !== 0) {
      vcmWarn(u.mm.kernel, `s5p-vcm: part [${hex(p.start)}, +${hex(p.size)}) is not page-aligned`);
      throw new KernelError("EFAULT", `s5p-vcm: part [${hex(p.start)}, +${hex(p.size)}) is not page-aligned`);
    }
  }
  const phys = u.mm.phys;
  const vend = vaddr + vsize;
  const c: Cursor = { pi: 0, off: 0, vcur: vaddr };
  const fresh: { l1: number; table: number }[] = [];
  try {
    while (c.pi < parts.length && c.vcur < vend) {
      const part = parts[c.pi] as VcmPhysPart;
      const cstart = part.start + c.off;
      const csize = part.size - c.off;
      const l1 = lv1Addr(u, c.vcur);
      const e = phys.read32(l1);
      const sectionOk =
        c.vcur % SZ_1M === 0 && cstart % SZ_1M === 0 && csize >= SZ_1M && vend - c.vcur >= SZ_1M;
      let table = -1;
      switch (e & PG_FLAG_MASK) {
        case PG_LV1_SECTION_FLAG:
          throw new KernelError("EADDRINUSE", `s5p-vcm: section ${hex(c.vcur)} is already mapped`);
        case PG_LV1_PAGE_FLAG:
          table = (e & PG_LV1_LV2BASE_MASK) >>> 0;
          if (sectionOk) {
            if (!lv2Empty(u, table)) {
              throw new KernelError("EADDRINUSE", `s5p-vcm: the lv2 table of ${hex(c.vcur)} maps pages`);
            }
            u.slab.free(table);
            const k = fresh.findIndex((f) => f.table === table);
            if (k >= 0) fresh.splice(k, 1);
            pteWrite(u, l1, 0);
            table = -1;
          }
          break;
        case PG_FAULT_FLAG:
          if (!sectionOk) {
            table = u.slab.alloc();
            fresh.push({ l1, table });
            pteWrite(u, l1, table + PG_LV1_PAGE_FLAG);
          }
          break;
        default:
          // 0b11 is no descriptor this writer makes (exynos-iommu treats it as fault); refuse it
          throw new KernelError("EADDRINUSE", `s5p-vcm: lv1 entry of ${hex(c.vcur)} is ${hex(e >>> 0)}`);
      }
      if (table < 0) {
        // section mapping: as many whole MiB as the chunk, the range and empty slots allow
        let s = cstart;
        let left = csize;
        let at = l1;
        do {
          pteWrite(u, at, s + PG_LV1_SECTION_FLAG);
          at += 4;
          s += SZ_1M;
          left -= SZ_1M;
          c.vcur += SZ_1M;
        } while (left >= SZ_1M && vend - c.vcur >= SZ_1M && phys.read32(at) === 0);
        c.off = part.size - left;
        if (left === 0) {
          c.pi++;
          c.off = 0;
        }
      } else {
        write2nd(u, table, c, vend, parts);
      }
    }
  } catch (e) {
    removeMapping(u, vaddr, c.vcur - vaddr);
    for (const f of fresh) {
      if (lv2Empty(u, f.table)) {
        u.slab.free(f.table);
        pteWrite(u, f.l1, 0);
      }
    }
    throw e;
  }
}

// ---- the S5P drivers ----------------------------------------------------------------------------

function s5pOf(vcm: Vcm): S5pVcm {
  return vcm as S5pVcm;
}

/** `s5p_vcm_mmu_driver`: orders {8, 4, 0}, whole-binding activate/deactivate. */
const S5P_MMU_DRIVER = Object.freeze({
  orders: S5P_VCM_ORDERS,
  cleanup(vcm) {
    const s = s5pOf(vcm);
    const u = unified(vcm.kernel);
    u.vcms[s.id] = null;
    // [deviation] s5p_mmu_cleanup never gives the slice back to the global pool; umm does
    u.pool.free(vcm.start, vcm.size);
  },
  activate(res, phys) {
    writeMapping(unified(res.vcm.kernel), res.start, phys.size, phys.parts);
  },
  deactivate(res) {
    const s = s5pOf(res.vcm);
    removeMapping(unified(res.vcm.kernel), res.start, res.boundSize);
    s.s5pDriver?.tlbInvalidator?.(s.id);
  },
} satisfies VcmMmuDriver);

/** The wrapper's driver with S5P's phys (device allocator) and activate (pgd base + TLB). */
const S5P_VCM_DRIVER = Object.freeze({
  ...MMU_VCM_DRIVER,
  phys(vcm, size, flags) {
    const s = s5pOf(vcm);
    const d = s.s5pDriver;
    if (d?.physAlloc) {
      const pa = d.physAlloc(size, flags);
      if (!Number.isSafeInteger(pa) || pa < 0) {
        throw new KernelError("ENOMEM", `s5p-vcm phys: ${vcm.name}'s phys_alloc returned ${String(pa)}`);
      }
      const ram = isRamRange(vcm.kernel, pa, size);
      return new VcmPhys(vcm.kernel, {
        parts: [{ start: pa, size, pfn: ram ? pa / PAGE_SIZE : null }],
        size,
        free: d.physFree ?? null,
      });
    }
    return vcmPhysAlloc(vcm.kernel, size, 0, S5P_VCM_ORDERS);
  },
  activate(vcm) {
    _mmuActivate(vcm);
    const s = s5pOf(vcm);
    const u = unified(vcm.kernel);
    s.s5pDriver?.pgdBaseSpecifier?.(s.id, u.pgd);
    s.s5pDriver?.tlbInvalidator?.(s.id);
  },
} satisfies VcmDriver);

function isRamRange(kernel: Kernel, pa: number, size: number): boolean {
  return mmOf(kernel).phys.isRam(pa, size);
}

function validId(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id < VCM_DEV_NUM;
}

/**
 * `vcm_create_unified`: the context of device `id` (`VCM_DEV_*`) in the shared address space:
 * `size` bytes rounded up to 1 MiB (a warning when not a multiple), placed at the lowest free
 * 1 MiB-aligned slice of `[0x00100000, 0xFFF00000)`, programmed into the shared page table with
 * orders {8, 4, 0}; `driver` gives the device's TLB/page-table-base callbacks and optionally
 * its own physical allocator. Errors in the kernel's order: EEXIST (the id has a context),
 * EINVAL (`size` not a multiple of 4 KiB, then `id` out of range), ENOSPC (no slice that big
 * is left), EBADR (the MMU wrapper refused the context, e.g. size 0).
 */
export function vcmCreateUnified(
  kernel: Kernel,
  size: number,
  id: number,
  driver: S5pVcmDriver | null,
): S5pVcm {
  const u = unified(kernel);
  if (validId(id) && u.vcms[id]) {
    vcmWarn(kernel, `vcm_create_unified: ${VCM_DEV_NAMES[id]} already has a context`);
    throw new KernelError(
      "EEXIST",
      `vcm_create_unified: id ${id} (${VCM_DEV_NAMES[id]}) already has a context`,
    );
  }
  if (!Number.isSafeInteger(size) || size < 0 || size % SZ_4K !== 0) {
    throw new KernelError("EINVAL", `vcm_create_unified: size ${String(size)} is not a multiple of 4 KiB`);
  }
  if (size % SZ_1M !== 0) vcmWarn(kernel, `vcm_create_unified: size ${hex(size)} rounded up to 1 MiB`);
  if (!validId(id)) {
    vcmWarn(kernel, `vcm_create_unified: id ${id} is not a VCM_DEV_* id`);
    throw new KernelError("EINVAL", `vcm_create_unified: id ${id} is not in 0..${VCM_DEV_NUM - 1}`);
  }
  const rounded = Math.ceil(size / SZ_1M) * SZ_1M;
  const start = u.pool.alloc(rounded, 0);
  // [deviation] gen_pool_alloc failing returns 0 and the kernel builds the context at 0
  if (!start && rounded > 0) {
    throw new KernelError("ENOSPC", `vcm_create_unified: no ${hex(rounded)} bytes left in the shared space`);
  }
  _checkMmuDriver(S5P_MMU_DRIVER, "vcm_create_unified");
  const vcm = new S5pVcm(kernel, start, rounded, id, driver);
  try {
    vcmInit(vcm);
  } catch (e) {
    if (start) u.pool.free(start, rounded);
    throw new KernelError("EBADR", `vcm_create_unified: vcm_mmu_init refused ${vcm}`, { cause: e });
  }
  u.vcms[id] = vcm;
  return vcm;
}

/**
 * `vcm_reservation_in_vcm`: whether device context `vcm` can use reservation `res` —
 * IN_VCM when `res` is in `vcm`; IN_ADDRSPACE when it is in another context of the shared
 * address space (the querying device's TLB is invalidated first, so it sees the other
 * context's mappings); NOT_IN_VCM otherwise (a warning for a null argument).
 */
export function vcmReservationInVcm(vcm: Vcm, res: VcmRes): number {
  if (!vcm || !res) {
    if (vcm || res) vcmWarn((vcm ?? res.vcm).kernel, "vcm_reservation_in_vcm: NULL argument");
    return S5PVCM_RES_NOT_IN_VCM;
  }
  if (res.vcm === vcm) return S5PVCM_RES_IN_VCM;
  if (!(res.vcm instanceof S5pVcm) || res.vcm.destroyed) return S5PVCM_RES_NOT_IN_VCM;
  // [deviation] the kernel indexes vcms[VCM_DEV_NONE] when the querying context is not S5P
  if (!(vcm instanceof S5pVcm) || vcm.destroyed) return S5PVCM_RES_NOT_IN_VCM;
  vcm.s5pDriver?.tlbInvalidator?.(vcm.id);
  return S5PVCM_RES_IN_ADDRSPACE;
}

/** `vcm_find_vcm`: the context of device `id`, or null. */
export function vcmFindVcm(kernel: Kernel, id: number): S5pVcm | null {
  if (!validId(id)) return null;
  return vcmState(kernel).s5p?.vcms[id] ?? null;
}

/**
 * `vcm_set_pgtable_base`: re-issues the device's `pgdBaseSpecifier` with the shared table's
 * physical address (after the SysMMU lost its state, e.g. power gating). Nothing for an unknown
 * id or a device without that callback.
 */
export function vcmSetPgtableBase(kernel: Kernel, id: number): void {
  const v = vcmFindVcm(kernel, id);
  const u = vcmState(kernel).s5p;
  if (v && u) v.s5pDriver?.pgdBaseSpecifier?.(id, u.pgd);
}

/** @internal exported for the tests of the writer */
export const _s5pWriter = { writeMapping, removeMapping, unified, LV1_TABLE_SIZE };
