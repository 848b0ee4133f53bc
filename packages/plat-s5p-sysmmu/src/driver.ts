/**
 * The exynos-iommu driver (drivers/iommu/exynos-iommu.c) over iommu-core: a platform driver
 * for "samsung,exynos-sysmmu" devices whose probe builds the System MMU hardware model and
 * registers it, and the frozen `IommuOps` / `IommuDomainOps` tables.
 *
 * The driver touches the hardware only through `read32` / `write32`, keeps its page tables in
 * simulated DRAM (lv1 16 KiB from the buddy allocator, lv2 1 KiB from a kmem-cache-like carve of
 * pages, the per-section free-entry counters in two more pages), and follows exynos-iommu's
 * rules: one page per map/unmap callback, EADDRINUSE over a mapped entry, ZERO_LV2LINK for empty
 * sections, lv2 tables freed only with the domain, TLB invalidation after every unmap (skipped
 * while a SysMMU is inactive, done blocked), flush-all whenever a page-table base is set.
 *
 * @module
 */

import {
  IOMMU_DOMAIN_DMA,
  IOMMU_DOMAIN_IDENTITY,
  IOMMU_DOMAIN_UNMANAGED,
  IOMMU_FAULT_READ,
  IOMMU_FAULT_WRITE,
  type IommuDevice,
  type IommuDomain,
  type IommuDomainInit,
  type IommuDomainType,
  type IommuIotlbGather,
  type IommuXlateArgs,
} from "@umm/iommu-core";
import {
  devIommuPrivGet,
  devIommuPrivSet,
  type IommuDomainOps,
  type IommuOps,
  iommuDeviceRegister,
  iommuDeviceUnregister,
  reportIommuFault,
} from "@umm/iommu-core/ops";
import {
  type Device,
  type DeviceDriver,
  DMA_BIT_MASK,
  defineSlot,
  devGetDrvdata,
  devSetDrvdata,
  ERRNO,
  hex,
  type Kernel,
  KernelError,
  PAGE_SIZE,
  type Tracepoint,
} from "@umm/kernel-core";
import { GFP_KERNEL, type Mm, mmOf } from "@umm/mm-core";
import { Lv2TableCache, PteMem } from "./lv2cache.js";
import {
  LPAGE_SIZE,
  lpagePhys,
  lv1entOffset,
  lv1entSection,
  lv2entFault,
  lv2entLarge,
  lv2entOffset,
  lv2entSmall,
  lv2tableBase,
  mkLv1entPage,
  mkLv1entSect,
  mkLv2entLpage,
  mkLv2entSpage,
  NUM_LV1ENTRIES,
  NUM_LV2ENTRIES,
  pteFormatOf,
  SECT_SIZE,
  SPAGE_SIZE,
  SPAGES_PER_LPAGE,
  SYSMMU_PGSIZE_BITMAP,
  type SysMmuPteFormat,
  sectionPhys,
  spagePhys,
} from "./pgtable.js";
import {
  CFG_ACGEN,
  CFG_EAP,
  CFG_FLPDCACHE,
  CFG_LRU,
  CFG_QOS,
  CFG_SYSSEL,
  CTRL_BLOCK,
  CTRL_DISABLE,
  CTRL_ENABLE,
  decodeMmuVersion,
  makeMmuVer,
  mmuMajVer,
  mmuMinVer,
  REG_INT_CLEAR,
  REG_INT_STATUS,
  REG_MMU_CFG,
  REG_MMU_CTRL,
  REG_MMU_FLUSH,
  REG_MMU_FLUSH_ENTRY,
  REG_MMU_VERSION,
  REG_PT_BASE_ADDR,
  REG_V5_INT_CLEAR,
  REG_V5_INT_STATUS,
  REG_V5_MMU_FLUSH_ALL,
  REG_V5_MMU_FLUSH_END,
  REG_V5_MMU_FLUSH_ENTRY,
  REG_V5_MMU_FLUSH_RANGE,
  REG_V5_MMU_FLUSH_START,
  REG_V5_PT_BASE_PFN,
  sysmmuFaultInfo,
  sysmmuFaultName,
} from "./regs.js";
import { parseSysMmuVersion, SysMmu, type SysMmuVersion } from "./sysmmu.js";
import "./trace.js";

// ---- state ----------------------------------------------------------------------------------

/** Register offsets of one generation (`struct sysmmu_variant`). */
interface SysmmuVariant {
  readonly ptBase: number;
  readonly flushAll: number;
  readonly flushEntry: number;
  readonly flushRange: number;
  readonly flushStart: number;
  readonly flushEnd: number;
  readonly intStatus: number;
  readonly intClear: number;
}

const SYSMMU_V1_VARIANT: SysmmuVariant = Object.freeze({
  ptBase: REG_PT_BASE_ADDR,
  flushAll: REG_MMU_FLUSH,
  flushEntry: REG_MMU_FLUSH_ENTRY,
  flushRange: -1,
  flushStart: -1,
  flushEnd: -1,
  intStatus: REG_INT_STATUS,
  intClear: REG_INT_CLEAR,
});

const SYSMMU_V5_VARIANT: SysmmuVariant = Object.freeze({
  ptBase: REG_V5_PT_BASE_PFN,
  flushAll: REG_V5_MMU_FLUSH_ALL,
  flushEntry: REG_V5_MMU_FLUSH_ENTRY,
  flushRange: REG_V5_MMU_FLUSH_RANGE,
  flushStart: REG_V5_MMU_FLUSH_START,
  flushEnd: REG_V5_MMU_FLUSH_END,
  intStatus: REG_V5_INT_STATUS,
  intClear: REG_V5_INT_CLEAR,
});

/** One probed System MMU (`struct sysmmu_drvdata`): what the driver keeps per instance. */
export interface S5pSysmmu {
  /** the SysMMU's platform device */
  readonly dev: Device;
  /** the hardware behind the registers */
  readonly mmu: SysMmu;
  /** the version read from MMU_VERSION (`makeMmuVer`) */
  readonly version: number;
  /** the instance registered with iommu-core */
  readonly iommu: IommuDevice;
  /** the master this SysMMU translates for (set by ofXlate) */
  master: Device | null;
  /** the domain it translates through, or null */
  domain: S5pDomain | null;
  /** physical address of that domain's lv1 table (0: none) */
  pgtable: number;
  /** translation is on (`data->active`) */
  active: boolean;
  /**
   * Debug: how many of the next TLB invalidations after an unmap the driver leaves out (a driver
   * bug on purpose, for sanitizer demonstrations; 0 normally). Set it with
   * `exynosSysmmuSkipTlbInvalidations`.
   */
  skipTlbInvalidations: number;
  /** @internal */
  readonly variant: SysmmuVariant;
}

/** A master's System MMUs (`struct exynos_iommu_owner`, kept with `devIommuPrivSet`). */
export interface S5pOwner {
  /** its SysMMUs, in the order the firmware named them (MFC: left, right) */
  readonly controllers: S5pSysmmu[];
  /** the domain the master is attached to, or null */
  domain: IommuDomain | null;
}

/** The driver's state in one kernel (a slot): page-table memory and the shared zero lv2 table. */
export interface ExynosIommuState {
  readonly kernel: Kernel;
  readonly mm: Mm;
  /** the entry format every SysMMU of the system shares (`PG_ENT_SHIFT`, `LV1_PROT`, ...) */
  readonly fmt: SysMmuPteFormat;
  /** physical address of `zero_lv2_table` */
  readonly zeroLv2: number;
  /** `ZERO_LV2LINK`: an lv1 link to the zero table, meaning "no mapping" */
  readonly zeroLv2Link: number;
  /** the "exynos-iommu-lv2table" cache */
  readonly lv2: Lv2TableCache;
  /** @internal */
  readonly mem: PteMem;
  /** probed SysMMUs by device (their fwnode) */
  readonly sysmmus: Map<Device, S5pSysmmu>;
  /** live paging domains */
  readonly domains: Set<S5pDomain>;
  /** @internal the identity domain, made on first request */
  identity: IommuDomain | null;
  /** @internal */
  readonly warn: Tracepoint<"sysmmu_warn">;
  /** @internal `fmt.lv2Prot` as a typed array (an element of a frozen array is read through an IC) */
  readonly lv2ProtBits: Int32Array;
}

/**
 * An exynos-iommu paging domain (`struct exynos_iommu_domain`): one lv1 table shared by every
 * attached master's SysMMUs.
 */
export interface S5pDomain extends IommuDomain {
  readonly state: ExynosIommuState;
  /** physical address of the lv1 table (16 KiB, 16 KiB aligned) */
  readonly pgtable: number;
  /** the lv1 table in DRAM */
  readonly lv1: Uint32Array;
  /** physical address of `lv2entcnt` (two pages) */
  readonly lv2entcntPa: number;
  /** free lv2 entries per section, in DRAM (256 for a fresh table) */
  readonly lv2entcnt: Int16Array;
  /** SysMMUs translating through this domain (`clients`) */
  readonly clients: S5pSysmmu[];
}

const SLOT = defineSlot<ExynosIommuState>("exynos-iommu");

/** The driver's state of `kernel`, or undefined before the first SysMMU probed. */
export function exynosIommuState(kernel: Kernel): ExynosIommuState | undefined {
  return kernel.trySlot(SLOT);
}

function warn(st: ExynosIommuState, sysmmu: string, message: string): void {
  if (st.warn.enabled) st.warn.emit({ sysmmu, message });
}

/** Creates the state at the first probe (`exynos_iommu_init`: the lv2 cache and the zero table). */
function stateFor(kernel: Kernel, mm: Mm, fmt: SysMmuPteFormat): ExynosIommuState {
  const have = kernel.trySlot(SLOT);
  if (have) return have;
  const lv2 = new Lv2TableCache(mm);
  const zero = lv2.zalloc();
  if (zero === null) throw new KernelError("ENOMEM", "exynos-iommu: no page for the zero level-2 table");
  const st: ExynosIommuState = {
    kernel,
    mm,
    fmt,
    zeroLv2: zero,
    zeroLv2Link: mkLv1entPage(fmt, zero),
    lv2,
    mem: new PteMem(mm),
    sysmmus: new Map(),
    domains: new Set(),
    identity: null,
    warn: kernel.trace.tracepoint("sysmmu_warn"),
    lv2ProtBits: Int32Array.from(fmt.lv2Prot),
  };
  kernel.setSlot(SLOT, st);
  return st;
}

/** Drops the state once no SysMMU and no domain needs it (the zero table goes back). */
function maybeDropState(st: ExynosIommuState): void {
  if (st.sysmmus.size > 0 || st.domains.size > 0) return;
  st.lv2.free(st.zeroLv2);
  st.kernel.clearSlot(SLOT);
}

// ---- hardware access (only read32 / write32) -----------------------------------------------

// The unmap path (block, poll, flush entry, unblock) spells its register offsets and values as
// literals: a bundled module's constants are variables, loaded and checked on every use.

function sysmmuUnblock(data: S5pSysmmu): void {
  data.mmu.write32(0x000 /* REG_MMU_CTRL */, 0x5 /* CTRL_ENABLE */);
}

/** `sysmmu_block`: block and poll MMU_STATUS up to 120 times; on failure unblock and say so. */
function sysmmuBlock(data: S5pSysmmu): boolean {
  const mmu = data.mmu;
  mmu.write32(0x000 /* REG_MMU_CTRL */, 0x7 /* CTRL_BLOCK */);
  let i = 120;
  while (i > 0 && (mmu.read32(0x008 /* REG_MMU_STATUS */) & 1) === 0) --i;
  if ((mmu.read32(0x008 /* REG_MMU_STATUS */) & 1) === 0) {
    sysmmuUnblock(data);
    return false;
  }
  return true;
}

function tlbInvalidateAll(data: S5pSysmmu): void {
  data.mmu.write32(data.variant.flushAll, 1);
}

/** `__sysmmu_tlb_invalidate_entry`: `n` entry flushes from `iova`, or one v5 range flush. */
function tlbInvalidateEntries(data: S5pSysmmu, iova: number, n: number): void {
  if (n !== 1 && mmuMajVer(data.version) >= 5) {
    tlbInvalidateRange(data, iova, n);
    return;
  }
  const mmu = data.mmu;
  const reg = data.variant.flushEntry;
  for (let i = 0; i < n; i++) {
    mmu.write32(reg, ((iova & ~0xfff) | 1) >>> 0);
    iova += 0x1000; // SPAGE_SIZE
  }
}

/** v5: one range flush of `n` pages from `iova`. */
function tlbInvalidateRange(data: S5pSysmmu, iova: number, n: number): void {
  const mmu = data.mmu;
  const v = data.variant;
  const start = (iova & ~0xfff) >>> 0;
  mmu.write32(v.flushStart, start);
  mmu.write32(v.flushEnd, start + (n - 1) * SPAGE_SIZE);
  mmu.write32(v.flushRange, 1);
}

/** `__sysmmu_set_ptbase`: the table base (v5: its page number), then flush all. */
function setPtbase(data: S5pSysmmu, pgd: number): void {
  data.mmu.write32(data.variant.ptBase, mmuMajVer(data.version) < 5 ? pgd : Math.floor(pgd / SPAGE_SIZE));
  tlbInvalidateAll(data);
}

/** `__sysmmu_init_config` */
function initConfig(data: S5pSysmmu): void {
  const ver = data.version;
  let cfg: number;
  if (ver <= makeMmuVer(3, 1)) cfg = CFG_LRU | CFG_QOS(15);
  else if (ver <= makeMmuVer(3, 2)) cfg = CFG_LRU | CFG_QOS(15) | CFG_FLPDCACHE | CFG_SYSSEL;
  else cfg = CFG_QOS(15) | CFG_FLPDCACHE | CFG_ACGEN;
  cfg |= CFG_EAP;
  data.mmu.write32(REG_MMU_CFG, cfg);
}

/** `__sysmmu_enable`: block, configure, program the table (+ flush all), enable. */
function sysmmuEnable(data: S5pSysmmu): void {
  data.mmu.write32(REG_MMU_CTRL, CTRL_BLOCK);
  initConfig(data);
  setPtbase(data, data.pgtable);
  data.mmu.write32(REG_MMU_CTRL, CTRL_ENABLE);
  data.active = true;
}

/** `__sysmmu_disable` */
function sysmmuDisable(data: S5pSysmmu): void {
  data.mmu.write32(REG_MMU_CTRL, CTRL_DISABLE);
  data.mmu.write32(REG_MMU_CFG, 0);
  data.active = false;
}

/** `sysmmu_tlb_invalidate_flpdcache`: v3.3+ may cache a first-level entry that just changed. */
function tlbInvalidateFlpd(data: S5pSysmmu, iova: number): void {
  if (!data.active || data.version < makeMmuVer(3, 3)) return;
  if (sysmmuBlock(data)) {
    if (data.version >= makeMmuVer(5, 0)) tlbInvalidateAll(data);
    else tlbInvalidateEntries(data, iova, 1);
    sysmmuUnblock(data);
  }
}

/**
 * `sysmmu_tlb_invalidate_entry` after an unmap of `size` bytes at `iova`: skipped while the
 * SysMMU is inactive; v2 needs min(size / 4 KiB, 64) entry flushes (its 64-set L2 TLB may hold
 * a large page in any set), v5 flushes the range, the others one entry.
 */
function tlbInvalidateEntry(data: S5pSysmmu, iova: number, size: number): void {
  if (!data.active) return;
  if (data.skipTlbInvalidations > 0) {
    data.skipTlbInvalidations--;
    return;
  }
  const maj = data.version >>> 7; // mmuMajVer
  if (maj === 2 || maj >= 5) {
    tlbInvalidateEntriesOf(data, iova, maj === 2 ? Math.min(size / 0x1000, 64) : size / 0x1000);
    return;
  }
  flushEntryBlocked(data, iova);
}

/**
 * v1, v3: block, one entry flush (the loop of __sysmmu_tlb_invalidate_entry with n = 1),
 * unblock. One function for the three register writes, so that they compile together.
 */
function flushEntryBlocked(data: S5pSysmmu, iova: number): void {
  if (sysmmuBlock(data)) {
    data.mmu.write32(data.variant.flushEntry, ((iova & ~0xfff) | 1) >>> 0);
    sysmmuUnblock(data);
  }
}

/** `sysmmu_tlb_invalidate_entry` of `n` entries (v2) or pages (v5), blocked. */
function tlbInvalidateEntriesOf(data: S5pSysmmu, iova: number, n: number): void {
  if (sysmmuBlock(data)) {
    tlbInvalidateEntries(data, iova, n);
    sysmmuUnblock(data);
  }
}

const FAULT_ERRNO = {
  PAGE: "EFAULT",
  "MULTI-HIT": "EFAULT",
  "BUS ERROR": "EIO",
  PTW: "EIO",
  "SECURITY PROTECTION": "EACCES",
  "ACCESS PROTECTION": "EACCES",
} as const;

/**
 * `exynos_sysmmu_irq`: services the lowest pending INT_STATUS bit. The fault goes to
 * `reportIommuFault`; a non-zero answer (no handler: -ENOSYS) is where the kernel panics
 * ("Unrecoverable System MMU Fault!"): here a `sysmmu_warn` event, and — after INT_CLEAR and
 * unblock, as the driver does — a `KernelError` naming the fault that fails the transaction.
 */
function sysmmuIrq(st: ExynosIommuState, data: S5pSysmmu): void {
  const mmu = data.mmu;
  const status = mmu.read32(data.variant.intStatus);
  if (status === 0) return;
  const itype = 31 - Math.clz32(status & -status);
  const info = sysmmuFaultInfo(data.version, itype);
  let panic: KernelError | null = null;
  if (!info) {
    warn(st, data.dev.name, `Unhandled interrupt bit ${itype}`);
  } else {
    const addr = mmu.read32(info.addrReg);
    const master = data.master;
    let ret = -ERRNO.ENOSYS;
    if (data.domain && master) {
      ret = reportIommuFault(data.domain, master, addr, info.write ? IOMMU_FAULT_WRITE : IOMMU_FAULT_READ);
    }
    if (ret !== 0) {
      const what = `${master?.name ?? "no master"}: [${info.write ? "WRITE" : "READ"}] ${sysmmuFaultName(info.kind, info.write)} occurred at ${hex(addr)}`;
      warn(st, data.dev.name, `Unrecoverable System MMU Fault! ${what}`);
      panic = new KernelError(
        FAULT_ERRNO[info.kind],
        `${data.dev.name}: unrecoverable System MMU fault (the kernel would panic): ${what}; ${data.domain ? `the fault handler returned ${ret}` : "no domain attached"}`,
      );
    }
  }
  mmu.write32(data.variant.intClear, (1 << itype) >>> 0);
  sysmmuUnblock(data);
  if (panic) throw panic;
}

// ---- domains --------------------------------------------------------------------------------

function asDomain(domain: IommuDomain): S5pDomain {
  return domain as S5pDomain;
}

/** `exynos_iommu_domain_alloc_paging`: lv1 (order 2), lv2entcnt (order 1), all ZERO_LV2LINK. */
function domainAllocPaging(st: ExynosIommuState): S5pDomain | null {
  const buddy = st.mm.buddy;
  const lv1Pfn = buddy.allocPages(2, GFP_KERNEL, { tag: "exynos-iommu lv1" });
  if (lv1Pfn === null) return null;
  const cntPfn = buddy.allocPages(1, GFP_KERNEL, { tag: "exynos-iommu lv2entcnt" });
  if (cntPfn === null) {
    buddy.freePages(lv1Pfn, 2);
    return null;
  }
  const pgtable = lv1Pfn * PAGE_SIZE;
  const lv2entcntPa = cntPfn * PAGE_SIZE;
  const lv1 = st.mem.words(pgtable, NUM_LV1ENTRIES);
  lv1.fill(st.zeroLv2Link);
  const lv2entcnt = st.mem.shorts(lv2entcntPa, NUM_LV1ENTRIES);
  lv2entcnt.fill(0);
  // every field the core completes is present from the start: the object keeps one shape
  const init: S5pDomain = {
    type: IOMMU_DOMAIN_UNMANAGED,
    ops: EXYNOS_DOMAIN_OPS,
    owner: EXYNOS_IOMMU_OPS,
    pgsizeBitmap: SYSMMU_PGSIZE_BITMAP,
    geometry: { apertureStart: 0, apertureEnd: 0xffffffff, forceAperture: true },
    handler: null,
    handlerToken: null,
    state: st,
    pgtable,
    lv1,
    lv2entcntPa,
    lv2entcnt,
    clients: [],
  };
  st.domains.add(init);
  return init;
}

/** Address of the lv2 entry of `iova` under link `sent`; points `st.mem.view` at it. */
function pageEntry(st: ExynosIommuState, sent: number, iova: number): number {
  return st.mem.word(lv2tableBase(st.fmt, sent) + lv2entOffset(iova) * 4);
}

function lv1entFault(st: ExynosIommuState, sent: number): boolean {
  return sent === st.zeroLv2Link || (sent & 3) === 0 || (sent & 3) === 3;
}

function lv1entPage(st: ExynosIommuState, sent: number): boolean {
  return sent !== st.zeroLv2Link && (sent & 3) === 1;
}

function mapError(d: S5pDomain, iova: number, size: number, why: string): KernelError {
  warn(d.state, "exynos-iommu", why);
  return new KernelError(
    "EADDRINUSE",
    `iova ${hex(iova)}: ${why} (exynos_iommu_map: Failed(${-ERRNO.EADDRINUSE}) to map ${hex(size)} bytes @ ${hex(iova)})`,
  );
}

/** `lv1set_section` */
function lv1setSection(d: S5pDomain, iova: number, paddr: number, prot: number): void {
  const st = d.state;
  const i = lv1entOffset(iova);
  const sent = d.lv1[i]!;
  if (lv1entSection(sent))
    throw mapError(d, iova, SECT_SIZE, `Trying mapping on 1MiB@${hex(iova)} that is mapped`);
  if (lv1entPage(st, sent)) {
    if (d.lv2entcnt[i] !== NUM_LV2ENTRIES) {
      throw mapError(d, iova, SECT_SIZE, `Trying mapping on 1MiB@${hex(iova)} that is mapped`);
    }
    st.lv2.free(lv2tableBase(st.fmt, sent));
    d.lv2entcnt[i] = 0;
  }
  d.lv1[i] = mkLv1entSect(st.fmt, paddr, prot);
}

/** `alloc_lv2entry`: the lv2 entry of `iova`, allocating its table (index into `st.mem.view`). */
function allocLv2entry(d: S5pDomain, iova: number, size: number): number {
  const st = d.state;
  const sent = d.lv1[lv1entOffset(iova)]!;
  // the usual case first: a link to an lv2 table that is not the zero table
  if ((sent & 3) === 1 && sent !== st.zeroLv2Link) return pageEntry(st, sent, iova);
  return allocLv2table(d, iova, size, sent);
}

/** `alloc_lv2entry` without a table yet (or over a section: EADDRINUSE). */
function allocLv2table(d: S5pDomain, iova: number, size: number, sent: number): number {
  const st = d.state;
  const i = lv1entOffset(iova);
  if (lv1entSection(sent)) {
    throw mapError(d, iova, size, `Trying mapping on ${hex(iova)} mapped with 1MiB page`);
  }
  if (lv1entFault(st, sent)) {
    const needFlushFlpd = sent === st.zeroLv2Link;
    const pent = st.lv2.zalloc();
    if (pent === null) {
      throw new KernelError("ENOMEM", `iova ${hex(iova)}: no memory for a level-2 page table`);
    }
    const link = mkLv1entPage(st.fmt, pent);
    d.lv1[i] = link;
    d.lv2entcnt[i] = NUM_LV2ENTRIES;
    if (needFlushFlpd) for (const data of d.clients) tlbInvalidateFlpd(data, iova);
    return pageEntry(st, link, iova);
  }
  return pageEntry(st, sent, iova);
}

/** `lv2set_page` (the entry index is into `st.mem.view`). */
function lv2setPage(d: S5pDomain, e: number, iova: number, paddr: number, size: number, prot: number): void {
  const st = d.state;
  const view = st.mem.view;
  if (size === 0x1000 /* SPAGE_SIZE */) {
    if (!lv2entFault(view[e]!)) throw mappedError(d, iova, size, "4KiB");
    view[e] = mkLv2entSpage(st.fmt, paddr, prot);
    d.lv2entcnt[lv1entOffset(iova)]! -= 1;
    return;
  }
  lv2setLpage(d, e, iova, paddr, size, prot);
}

function mappedError(d: S5pDomain, iova: number, size: number, what: string): KernelError {
  return mapError(d, iova, size, `Trying mapping on ${what}@${hex(iova)} that is mapped`);
}

/** `lv2set_page` of a 64 KiB page: 16 identical entries. */
function lv2setLpage(d: S5pDomain, e: number, iova: number, paddr: number, size: number, prot: number): void {
  const st = d.state;
  const view = st.mem.view;
  const i = lv1entOffset(iova);
  for (let k = 0; k < SPAGES_PER_LPAGE; k++) {
    if (!lv2entFault(view[e + k]!)) {
      throw mapError(d, iova, size, `Trying mapping on 64KiB@${hex(iova)} that is mapped`);
    }
  }
  view.fill(mkLv2entLpage(st.fmt, paddr, prot), e, e + SPAGES_PER_LPAGE);
  d.lv2entcnt[i]! -= SPAGES_PER_LPAGE;
}

/** `exynos_iommu_map`: one page of `pgsize` (the core calls again for the rest). */
function mapPages(
  domain: IommuDomain,
  iova: number,
  paddr: number,
  pgsize: number,
  _pgcount: number,
  prot: number,
): number {
  const d = asDomain(domain);
  if (pgsize === 0x1000 /* SPAGE_SIZE */) {
    // the usual case in a few lines: a free small-page entry of an lv2 table that exists
    const st = d.state;
    const i = lv1entOffset(iova);
    const sent = d.lv1[i]!;
    if ((sent & 3) === 1 && sent !== st.zeroLv2Link) {
      const e = pageEntry(st, sent, iova);
      const view = st.mem.view;
      if (lv2entFault(view[e]!)) {
        // mkLv2entSpage, with the state's access-bit table
        const f = st.fmt;
        const ent = (f.scale === 1 ? paddr : paddr / f.scale) >>> 0;
        view[e] = (ent | st.lv2ProtBits[prot & 0x3 /* SYSMMU_SUPPORTED_PROT_BITS */]! | 2) >>> 0;
        d.lv2entcnt[i]! -= 1;
        return pgsize;
      }
    }
  }
  return mapPage(d, iova, paddr, pgsize, prot);
}

/** `exynos_iommu_map` of any page: a section, a table to allocate, EADDRINUSE. */
function mapPage(d: S5pDomain, iova: number, paddr: number, pgsize: number, prot: number): number {
  const p = prot & 0x3; // SYSMMU_SUPPORTED_PROT_BITS
  if (pgsize === 0x100000 /* SECT_SIZE */) lv1setSection(d, iova, paddr, p);
  else {
    const e = allocLv2entry(d, iova, pgsize);
    lv2setPage(d, e, iova, paddr, pgsize, p);
  }
  return pgsize;
}

/** `exynos_iommu_unmap`: one page; returns the bytes unmapped (0: refused). */
function unmapPages(
  domain: IommuDomain,
  iova: number,
  pgsize: number,
  _pgcount: number,
  _gather: IommuIotlbGather,
): number {
  const d = asDomain(domain);
  const st = d.state;
  const i = lv1entOffset(iova);
  const sent = d.lv1[i]!;
  if ((sent & 3) === 1 && sent !== st.zeroLv2Link) {
    // the usual case in a few lines: a small page of an lv2 table
    const e = pageEntry(st, sent, iova);
    const view = st.mem.view;
    if (lv2entSmall(view[e]!)) {
      view[e] = 0;
      d.lv2entcnt[i]! += 1;
      const clients = d.clients;
      for (let k = 0; k < clients.length; k++) tlbInvalidateEntry(clients[k]!, iova, 0x1000);
      return 0x1000; // SPAGE_SIZE
    }
  }
  return unmapPage(d, iova, pgsize);
}

/** `exynos_iommu_unmap` of any entry: a hole, a large page, a section (or refused). */
function unmapPage(d: S5pDomain, iova: number, pgsize: number): number {
  const st = d.state;
  const i = lv1entOffset(iova);
  const sent = d.lv1[i]!;
  let size = pgsize;
  if ((sent & 3) === 1 && sent !== st.zeroLv2Link) {
    // a link to an lv2 table (the cases are disjoint: the order of the tests is free)
    const e = pageEntry(st, sent, iova);
    const view = st.mem.view;
    const pent = view[e]!;
    if (lv2entFault(pent))
      size = 0x1000; // SPAGE_SIZE
    else if (lv2entSmall(pent)) {
      view[e] = 0;
      size = 0x1000;
      d.lv2entcnt[i]! += 1;
    } else {
      size = unmapLpage(d, iova, e, size);
      if (size === 0) return 0;
    }
  } else {
    size = unmapLv1(d, iova, size, sent);
    if (size === 0) return 0;
  }
  const clients = d.clients;
  for (let k = 0; k < clients.length; k++) tlbInvalidateEntry(clients[k]!, iova, size);
  return size;
}

/** `exynos_iommu_unmap` where the lv1 entry `sent` is a section or a fault: the bytes it covers. */
function unmapLv1(d: S5pDomain, iova: number, size: number, sent: number): number {
  if (lv1entSection(sent)) {
    if (size < SECT_SIZE) return refuseUnmap(d.state, iova, size, SECT_SIZE);
    d.lv1[lv1entOffset(iova)] = d.state.zeroLv2Link;
    return SECT_SIZE;
  }
  return Math.min(size, SECT_SIZE); // a fault entry
}

/** Unmaps the 64 KiB page whose entry `e` covers `iova`; 0 (refused) for a smaller `size`. */
function unmapLpage(d: S5pDomain, iova: number, e: number, size: number): number {
  if (size < LPAGE_SIZE) return refuseUnmap(d.state, iova, size, LPAGE_SIZE);
  // the large page's 16 entries start at its 64 KiB boundary
  const first = e - (lv2entOffset(iova) % SPAGES_PER_LPAGE);
  d.state.mem.view.fill(0, first, first + SPAGES_PER_LPAGE);
  d.lv2entcnt[lv1entOffset(iova)]! += SPAGES_PER_LPAGE;
  return LPAGE_SIZE;
}

/** exynos-iommu refuses to split a larger page: warns, 0 bytes unmapped. */
function refuseUnmap(st: ExynosIommuState, iova: number, size: number, page: number): number {
  warn(
    st,
    "exynos-iommu",
    `Failed: size(${hex(size)}) @ ${hex(iova)} is smaller than page size ${hex(page)}`,
  );
  return 0;
}

/** `exynos_iommu_iova_to_phys` */
function iovaToPhys(domain: IommuDomain, iova: number): number {
  const d = asDomain(domain);
  const st = d.state;
  if (iova > 0xffffffff) return 0;
  const sent = d.lv1[lv1entOffset(iova)]!;
  if (lv1entSection(sent)) return sectionPhys(st.fmt, sent) + (iova & (SECT_SIZE - 1));
  if (lv1entPage(st, sent)) {
    const pent = st.mem.view[pageEntry(st, sent, iova)]!;
    if (lv2entLarge(pent)) return lpagePhys(st.fmt, pent) + (iova & (LPAGE_SIZE - 1));
    if (lv2entSmall(pent)) return spagePhys(st.fmt, pent) + (iova & (SPAGE_SIZE - 1));
  }
  return 0;
}

/** Takes `data` off its domain (disabled first if active). */
function unlinkClient(data: S5pSysmmu): void {
  if (data.active) sysmmuDisable(data);
  const d = data.domain;
  if (d) {
    const k = d.clients.indexOf(data);
    if (k >= 0) d.clients.splice(k, 1);
  }
  data.pgtable = 0;
  data.domain = null;
}

/** The master's SysMMUs leave its domain, disabled (`exynos_iommu_identity_attach`'s work). */
function leaveDomain(owner: S5pOwner): void {
  for (const data of owner.controllers) unlinkClient(data);
  owner.domain = null;
}

/**
 * `detach_dev` (`exynos_iommu_identity_attach` in newer kernels): the master's SysMMUs stop
 * translating (disabled: addresses pass through) and leave the domain. Only the master's own
 * SysMMUs leave: other masters on the same domain keep translating.
 */
function detachDev(domain: IommuDomain, dev: Device): void {
  const owner = devIommuPrivGet<S5pOwner>(dev);
  if (!owner || owner.domain !== domain) return;
  leaveDomain(owner);
}

/** `exynos_iommu_attach_device`: leave the previous domain, program this one's table, enable. */
function attachDev(domain: IommuDomain, dev: Device): void {
  const d = asDomain(domain);
  const owner = devIommuPrivGet<S5pOwner>(dev);
  if (!owner) throw new KernelError("ENODEV", `${dev.name} has no System MMU`);
  leaveDomain(owner);
  for (const data of owner.controllers) {
    data.pgtable = d.pgtable;
    data.domain = d;
    d.clients.push(data);
  }
  owner.domain = d;
  // the SysMMUs are always powered here (no runtime PM): program them at once
  for (const data of owner.controllers) sysmmuEnable(data);
}

/** `exynos_iommu_domain_free`: disable leftover clients, free lv2 tables, lv1 and counters. */
function domainFree(domain: IommuDomain): void {
  const d = asDomain(domain);
  const st = d.state;
  if (d.clients.length > 0) {
    warn(st, "exynos-iommu", `domain freed with ${d.clients.length} System MMU(s) still attached`);
    for (const data of [...d.clients]) unlinkClient(data);
  }
  for (let i = 0; i < NUM_LV1ENTRIES; i++) {
    const sent = d.lv1[i]!;
    if (lv1entPage(st, sent)) st.lv2.free(lv2tableBase(st.fmt, sent));
  }
  st.mm.buddy.freePages(d.pgtable / PAGE_SIZE, 2);
  st.mm.buddy.freePages(d.lv2entcntPa / PAGE_SIZE, 1);
  st.domains.delete(d);
  maybeDropState(st);
}

/** `exynos_identity_domain`'s attach: the master's SysMMUs pass addresses through. */
function identityAttach(_domain: IommuDomain, dev: Device): void {
  const owner = devIommuPrivGet<S5pOwner>(dev);
  if (!owner) throw new KernelError("ENODEV", `${dev.name} has no System MMU`);
  leaveDomain(owner);
}

/** The domain ops of every exynos-iommu paging domain. */
export const EXYNOS_DOMAIN_OPS = Object.freeze({
  attachDev,
  detachDev,
  mapPages,
  unmapPages,
  iovaToPhys,
  free: domainFree,
} satisfies IommuDomainOps);

/** The ops of the identity domain (addresses pass through the disabled SysMMUs). */
export const EXYNOS_IDENTITY_DOMAIN_OPS = Object.freeze({
  attachDev: identityAttach,
} satisfies IommuDomainOps);

// ---- iommu_ops ------------------------------------------------------------------------------

function stateOfDev(dev: Device): ExynosIommuState {
  const st = dev.kernel.trySlot(SLOT);
  if (!st) throw new KernelError("ENODEV", `${dev.name}: no System MMU is probed in this kernel`);
  return st;
}

/** `domain_alloc_paging` / identity: UNMANAGED and DMA get a page table, IDENTITY the static one. */
function domainAlloc(type: IommuDomainType, dev: Device): IommuDomainInit | null {
  const st = stateOfDev(dev);
  if (type === IOMMU_DOMAIN_IDENTITY) {
    st.identity ??= { ops: EXYNOS_IDENTITY_DOMAIN_OPS } as IommuDomain;
    return st.identity;
  }
  if (type !== IOMMU_DOMAIN_UNMANAGED && type !== IOMMU_DOMAIN_DMA) return null;
  return domainAllocPaging(st);
}

/** `exynos_iommu_of_xlate`: links the SysMMU `args.fwnode` to the master. */
function ofXlate(dev: Device, args: IommuXlateArgs): void {
  const st = stateOfDev(dev);
  const data = st.sysmmus.get(args.fwnode as Device);
  if (!data) throw new KernelError("ENODEV", `${dev.name}: its IOMMU is not a probed System MMU`);
  let owner = devIommuPrivGet<S5pOwner>(dev);
  if (!owner) {
    owner = { controllers: [], domain: null };
    devIommuPrivSet(dev, owner);
  }
  if (owner.controllers.includes(data)) return;
  owner.controllers.push(data);
  data.master = dev;
  data.mmu.master = dev.name;
}

/** `exynos_iommu_probe_device`: the master's first SysMMU is its IOMMU instance. */
function probeDevice(dev: Device): IommuDevice {
  const owner = devIommuPrivGet<S5pOwner>(dev);
  const first = owner?.controllers[0];
  if (!first) throw new KernelError("ENODEV", `${dev.name} is not a master of a System MMU`);
  return first.iommu;
}

/** `exynos_iommu_release_device`: back to no translation; the SysMMUs forget the master. */
function releaseDevice(dev: Device): void {
  const owner = devIommuPrivGet<S5pOwner>(dev);
  if (!owner) return;
  leaveDomain(owner);
  for (const data of owner.controllers) {
    data.master = null;
    data.mmu.master = null;
  }
}

/** exynos-iommu's `iommu_ops` (`exynos_iommu_ops`). */
export const EXYNOS_IOMMU_OPS = Object.freeze({
  pgsizeBitmap: SYSMMU_PGSIZE_BITMAP,
  domainAlloc,
  probeDevice,
  releaseDevice,
  ofXlate,
} satisfies IommuOps);

// ---- the platform driver --------------------------------------------------------------------

/** The DT compatible string the driver binds to. */
export const EXYNOS_SYSMMU_COMPATIBLE = "samsung,exynos-sysmmu";

function propNumber(dev: Device, key: string): number | undefined {
  const v = dev.properties.get(key);
  if (v === undefined) return undefined;
  const n = Array.isArray(v) ? v[0] : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new KernelError("EINVAL", `${dev.name}: property "${key}" is not a number (${String(v)})`);
  }
  return n;
}

/**
 * `exynos_sysmmu_probe`: builds the hardware of the SysMMU device from its properties — `reg`
 * (SFR base, or [base, size]), `version` ("1.0" ... "5.0", the silicon's; default "1.0"),
 * optional `tlb-entries` and `secure-window` ([base, size]) — reads its version back from
 * MMU_VERSION, wires its interrupt and registers it with iommu-core.
 *
 * EINVAL for a missing or bad property, or for a SysMMU whose page-table format (v1–v3 vs v5)
 * differs from the SysMMUs already probed; ENOMEM without a page for the zero lv2 table;
 * iommuDeviceRegister's errors.
 */
function sysmmuProbe(dev: Device): void {
  const reg = propNumber(dev, "reg");
  if (reg === undefined) throw new KernelError("EINVAL", `${dev.name}: no "reg" property (SFR base)`);
  const ver = dev.properties.get("version") ?? "1.0";
  parseSysMmuVersion(String(ver));
  const tlbEntries = propNumber(dev, "tlb-entries");
  const sw = dev.properties.get("secure-window");
  if (sw !== undefined && !(Array.isArray(sw) && sw.length === 2)) {
    throw new KernelError("EINVAL", `${dev.name}: property "secure-window" is not [base, size]`);
  }
  const mm = mmOf(dev.kernel);
  const mmu = new SysMmu(mm, {
    name: dev.name,
    sfrBase: reg,
    version: String(ver) as SysMmuVersion,
    ...(tlbEntries !== undefined ? { tlbEntries } : {}),
    secureWindow: sw ? { base: Number(sw[0]), size: Number(sw[1]) } : null,
  });
  const version = decodeMmuVersion(mmu.read32(REG_MMU_VERSION));
  const fmt = pteFormatOf(version);
  const have = dev.kernel.trySlot(SLOT);
  if (have && have.fmt !== fmt) {
    throw new KernelError(
      "EINVAL",
      `${dev.name}: System MMU v${mmuMajVer(version)}.${mmuMinVer(version)} uses another page-table format than the System MMUs already probed`,
    );
  }
  const st = stateFor(dev.kernel, mm, fmt);
  const iommu: IommuDevice = { ops: EXYNOS_IOMMU_OPS, hwdev: dev, fwnode: dev };
  const data: S5pSysmmu = {
    dev,
    mmu,
    version,
    iommu,
    master: null,
    domain: null,
    pgtable: 0,
    active: false,
    skipTlbInvalidations: 0,
    variant: mmuMajVer(version) < 5 ? SYSMMU_V1_VARIANT : SYSMMU_V5_VARIANT,
  };
  try {
    iommuDeviceRegister(iommu);
  } catch (e) {
    maybeDropState(st);
    throw e;
  }
  if (mmuMajVer(version) >= 5) dev.dmaMask = DMA_BIT_MASK(36);
  mmu.setIrqHandler(() => sysmmuIrq(st, data));
  st.sysmmus.set(dev, data);
  devSetDrvdata(dev, data);
}

/** Undoes the probe: unregisters (EBUSY while a master still uses it), disables, frees. */
function sysmmuRemove(dev: Device): void {
  const data = devGetDrvdata<S5pSysmmu>(dev);
  const st = dev.kernel.trySlot(SLOT);
  if (!data || !st) return;
  iommuDeviceUnregister(data.iommu);
  if (data.active) sysmmuDisable(data);
  data.mmu.setIrqHandler(null);
  st.sysmmus.delete(dev);
  maybeDropState(st);
}

/** The platform driver ("exynos-sysmmu", compatible "samsung,exynos-sysmmu"). */
export const EXYNOS_SYSMMU_DRIVER: DeviceDriver = Object.freeze({
  name: "exynos-sysmmu",
  compatible: Object.freeze([EXYNOS_SYSMMU_COMPATIBLE]),
  probe: sysmmuProbe,
  remove: sysmmuRemove,
});

/** The driver data of a probed SysMMU device (`platform_get_drvdata`), or null. */
export function exynosSysmmuOf(dev: Device): S5pSysmmu | null {
  const data = devGetDrvdata<S5pSysmmu | null>(dev);
  return data && dev.driver === EXYNOS_SYSMMU_DRIVER ? data : null;
}

/**
 * Debug knob: the driver leaves out the TLB invalidation of its next `count` unmap callbacks on
 * the SysMMU of device `dev` (each callback unmaps one section, large or small page, so a
 * mapping's first `count` entries stay in the TLB) — the bug `umm demo --bug no-tlb-flush`
 * shows. Translations served from such a stale entry are what the model's `tlbSanitizer`
 * reports. 0 turns it off. EINVAL for a count that is not a non-negative integer, ENODEV for a
 * device that is not a probed SysMMU.
 */
export function exynosSysmmuSkipTlbInvalidations(dev: Device, count: number): void {
  if (!Number.isInteger(count) || count < 0) {
    throw new KernelError("EINVAL", `count ${count} is not a non-negative integer`);
  }
  const data = exynosSysmmuOf(dev);
  if (!data) throw new KernelError("ENODEV", `${dev.name} is not a probed System MMU`);
  data.skipTlbInvalidations = count;
}

/** The SysMMUs of a master (after `ofXlate`, i.e. `iommuProbeDevice`), in firmware order. */
export function exynosSysmmusOfMaster(master: Device): readonly S5pSysmmu[] {
  return devIommuPrivGet<S5pOwner>(master)?.controllers ?? [];
}
