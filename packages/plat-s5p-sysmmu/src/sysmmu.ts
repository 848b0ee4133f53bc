/**
 * The System MMU hardware model: one instance per bus-master port, as on S5PV310/Exynos4210 and
 * later Exynos SoCs. Software reaches it only through `read32` / `write32` at the register
 * offsets of its version; its master reaches memory through it as mm-core's `Translator`.
 *
 * - Registers: MMU_CTRL (enable / block / interrupt enable), MMU_CFG (LRU, EAP), MMU_STATUS,
 *   page-table base, TLB flushes (all, entry, v5 range), INT_STATUS / INT_CLEAR
 *   (write-one-to-clear) / INT_MASK, fault-address registers, MMU_VERSION.
 * - Walker: reads lv1 and lv2 descriptors from simulated DRAM (`mm.phys`) through typed-array
 *   views: 1 MiB sections, 64 KiB large pages, 4 KiB small pages, v1–v3 or v5 encoding.
 * - TLB (`SysMmuTlb`): emptied only by the flush registers.
 * - Faults (page, multi-hit, bus error, security, access protection, v5 PTW): set the INT_STATUS
 *   bit, latch the fault address, block the MMU, raise the interrupt, abort the transaction.
 * - Disabled: addresses pass through (bypass). Blocked: the master stalls; a transaction is
 *   refused with EBUSY and moves nothing.
 *
 * @module
 */
import { hex, type Kernel, KernelError, type Tracepoint } from "@umm/kernel-core";
import type { Mm, PhysBank, RunList, Translator } from "@umm/mm-core";
import {
  LPAGE_SIZE,
  LV1TABLE_SIZE,
  NUM_LV1ENTRIES,
  SECT_SIZE,
  SPAGE_SIZE,
  SYSMMU_PG_ENT_SHIFT,
  SYSMMU_V5_PG_ENT_SHIFT,
} from "./pgtable.js";
import {
  CFG_EAP,
  CFG_LRU,
  CTRL_BLK,
  CTRL_EN,
  CTRL_INT_EN,
  makeMmuVer,
  REG_AR_FAULT_ADDR,
  REG_AW_FAULT_ADDR,
  REG_DEFAULT_SLAVE_ADDR,
  REG_INT_CLEAR,
  REG_INT_MASK,
  REG_INT_STATUS,
  REG_MMU_CFG,
  REG_MMU_CTRL,
  REG_MMU_FLUSH,
  REG_MMU_VERSION,
  REG_PAGE_FAULT_ADDR,
  REG_PT_BASE_ADDR,
  REG_V5_FAULT_AR_VA,
  REG_V5_FAULT_AW_VA,
  REG_V5_INT_CLEAR,
  REG_V5_INT_STATUS,
  REG_V5_MMU_FLUSH_ALL,
  REG_V5_MMU_FLUSH_END,
  REG_V5_MMU_FLUSH_ENTRY,
  REG_V5_MMU_FLUSH_RANGE,
  REG_V5_MMU_FLUSH_START,
  REG_V5_PT_BASE_PFN,
  SYSMMU_AR_ACCESS,
  SYSMMU_AR_MULTIHIT,
  SYSMMU_AR_SECURITY,
  SYSMMU_AW_MULTIHIT,
  SYSMMU_AW_PROTECTION,
  SYSMMU_AW_SECURITY,
  SYSMMU_BUSERROR,
  SYSMMU_PAGEFAULT,
  SYSMMU_SFR_SIZE,
  SYSMMU_V5_ACCESS,
  SYSMMU_V5_AW_SHIFT,
  SYSMMU_V5_MULTIHIT,
  SYSMMU_V5_PAGE,
  SYSMMU_V5_PTW,
  SYSMMU_V5_SECURITY,
  type SysMmuFaultKind,
  sysmmuFaultName,
} from "./regs.js";
import { SysMmuTlb, TLB_MULTI_HIT, type TlbEntryInfo } from "./tlb.js";
import "./trace.js";

/** Hardware versions the model implements (MMU_VERSION major.minor). */
export type SysMmuVersion = "1.0" | "2.0" | "3.1" | "3.2" | "3.3" | "5.0";

/** Every version the model implements. */
export const SYSMMU_VERSIONS: readonly SysMmuVersion[] = Object.freeze([
  "1.0",
  "2.0",
  "3.1",
  "3.2",
  "3.3",
  "5.0",
]);

/** The default number of TLB entries. */
export const SYSMMU_DEFAULT_TLB_ENTRIES = 64;

/** A physical range the master may not reach (TrustZone-protected memory). */
export interface SysMmuSecureWindow {
  /** first physical byte */
  readonly base: number;
  /** bytes */
  readonly size: number;
}

/** Options of `new SysMmu`. */
export interface SysMmuOpts {
  /** the instance's name in events and messages, e.g. "11a20000.sysmmu" */
  readonly name: string;
  /** physical address of the register window (for boards and reports; default 0) */
  readonly sfrBase?: number;
  /** hardware version (default "1.0", the Exynos4210's) */
  readonly version?: SysMmuVersion;
  /** TLB entries (default 64) */
  readonly tlbEntries?: number;
  /** a physical window the master may not reach: accesses there are security faults */
  readonly secureWindow?: SysMmuSecureWindow | null;
  /** the master behind this port, for events (the driver sets it when it links the master) */
  readonly master?: string | null;
}

/** Counters of one instance. */
export interface SysMmuStats {
  /** TLB lookups answered by an entry */
  readonly tlbHits: number;
  /** TLB misses (each one walks the page table) */
  readonly tlbMisses: number;
  /** page-table walks */
  readonly walks: number;
  /** faults raised */
  readonly faults: number;
}

/** The interrupt line: called (synchronously) while a fault is pending and unmasked. */
export type SysMmuIrqHandler = (mmu: SysMmu) => void;

const TWO_32 = 2 ** 32;

const FAULT_ERRNO = {
  PAGE: "EFAULT",
  "MULTI-HIT": "EFAULT",
  "BUS ERROR": "EIO",
  PTW: "EIO",
  "SECURITY PROTECTION": "EACCES",
  "ACCESS PROTECTION": "EACCES",
} as const;

/** Parses "3.3" into `makeMmuVer(3, 3)`; EINVAL for a version the model does not implement. */
export function parseSysMmuVersion(version: string): number {
  if (!(SYSMMU_VERSIONS as readonly string[]).includes(version)) {
    throw new KernelError(
      "EINVAL",
      `version "${version}" is not a System MMU version this model implements (${SYSMMU_VERSIONS.join(", ")})`,
    );
  }
  const [maj, min] = version.split(".").map(Number);
  return makeMmuVer(maj!, min!);
}

/** One System MMU instance in front of one bus-master port. */
export class SysMmu implements Translator {
  /** the kernel of `mm` */
  readonly kernel: Kernel;
  /** the memory the walker and the master's transfers reach */
  readonly mm: Mm;
  /** the instance's name in events and messages */
  readonly name: string;
  /** physical address of the register window */
  readonly sfrBase: number;
  /** `makeMmuVer(major, minor)` */
  readonly version: number;
  /** major version (1, 2, 3, 5) */
  readonly major: number;
  /** minor version */
  readonly minor: number;
  /** the master behind this port (events and messages) */
  master: string | null;
  /**
   * The TLB sanitizer: while true, every translation the TLB answers is checked against a fresh
   * walk of the page table, and one that differs (an entry nobody invalidated after the table
   * changed) is reported as a `sysmmu_stale_tlb` event. Off by default: the check costs a walk
   * per hit.
   */
  tlbSanitizer = false;

  readonly #tlb: SysMmuTlb;
  readonly #v5: boolean;
  readonly #shift: number;
  /** v2's L2 TLB is 64-set associative: FLUSH_ENTRY reaches one set only */
  readonly #flushSetBits: number;
  readonly #versionReg: number;
  #ctrl = 0;
  #cfg = 0;
  #ptReg = 0;
  #intStatus = 0;
  #intMask = 0;
  #pageFaultAddr = 0;
  #arFaultAddr = 0;
  #awFaultAddr = 0;
  #slaveAddr = 0;
  #flushStart = 0;
  #flushEnd = 0;
  #blocked = false;
  /** translation announced as enabled (sysmmu_enable) */
  #on = false;
  #eap = false;
  /** lv1 table view while the page-table base is in RAM, else null */
  #lv1: Uint32Array | null = null;
  #ptBase = 0;
  /** 32-bit views of each DRAM bank, for lv2 descriptor reads */
  readonly #bankU32: Uint32Array[];
  readonly #banks: readonly PhysBank[];
  /** the bank the last lv2 table was read from */
  #lv2View: Uint32Array | null = null;
  #lv2Lo = 0;
  #lv2Hi = 0;
  #ramLo = 0;
  #ramHi = 0;
  #secBase = 0;
  #secEnd = 0;
  /** the last walk's result: the entry's IOVA, size, physical address and access bits */
  #wBase = 0;
  #wLen = 0;
  #wPa = 0;
  #wPerm = 0;
  #irq: SysMmuIrqHandler | null = null;
  #inIrq = false;
  #walks = 0;
  #faults = 0;
  readonly #tp: {
    fault: Tracepoint<"sysmmu_fault">;
    flush: Tracepoint<"sysmmu_tlb_flush">;
    stale: Tracepoint<"sysmmu_stale_tlb">;
    enable: Tracepoint<"sysmmu_enable">;
    disable: Tracepoint<"sysmmu_disable">;
  };

  /** EINVAL for an unknown version, a TLB size that is not a positive integer, or a bad window. */
  constructor(mm: Mm, opts: SysMmuOpts) {
    if (!opts.name) throw new KernelError("EINVAL", "name: a System MMU needs a name");
    const version = parseSysMmuVersion(opts.version ?? "1.0");
    const entries = opts.tlbEntries ?? SYSMMU_DEFAULT_TLB_ENTRIES;
    if (!Number.isInteger(entries) || entries < 1 || entries > 4096) {
      throw new KernelError("EINVAL", `tlbEntries ${entries} is not an entry count in 1..4096`);
    }
    const sfr = opts.sfrBase ?? 0;
    if (!Number.isSafeInteger(sfr) || sfr < 0 || sfr % SYSMMU_SFR_SIZE !== 0) {
      throw new KernelError("EINVAL", `sfrBase ${hex(sfr)} is not a 4 KiB-aligned physical address`);
    }
    this.kernel = mm.kernel;
    this.mm = mm;
    this.name = opts.name;
    this.sfrBase = sfr;
    this.version = version;
    this.major = version >>> 7;
    this.minor = version & 0x7f;
    this.master = opts.master ?? null;
    this.#v5 = this.major >= 5;
    this.#shift = this.#v5 ? SYSMMU_V5_PG_ENT_SHIFT : SYSMMU_PG_ENT_SHIFT;
    this.#flushSetBits = this.major === 2 ? 6 : 0;
    // Exynos4210 parts report 0x80000001, which the driver reads as v1.0
    this.#versionReg = this.major === 1 && this.minor === 0 ? 0x80000001 : (version << 21) >>> 0;
    this.#tlb = new SysMmuTlb(entries);
    this.#banks = mm.phys.banks;
    this.#bankU32 = this.#banks.map((b) => new Uint32Array(b.u8.buffer, b.u8.byteOffset, b.size >>> 2));
    const b0 = this.#banks[0]!;
    this.#ramLo = b0.start;
    this.#ramHi = b0.end;
    if (opts.secureWindow) this.setSecureWindow(opts.secureWindow.base, opts.secureWindow.size);
    const t = mm.kernel.trace;
    this.#tp = {
      fault: t.tracepoint("sysmmu_fault"),
      flush: t.tracepoint("sysmmu_tlb_flush"),
      stale: t.tracepoint("sysmmu_stale_tlb"),
      enable: t.tracepoint("sysmmu_enable"),
      disable: t.tracepoint("sysmmu_disable"),
    };
  }

  // ---- configuration outside the register file ----------------------------------------------

  /**
   * Sets the physical window the master may not reach (`size` 0: none). Models the secure
   * world's address-space controller; EINVAL for a negative or unsafe range.
   */
  setSecureWindow(base: number, size: number): void {
    if (!Number.isSafeInteger(base) || base < 0 || !Number.isSafeInteger(size) || size < 0) {
      throw new KernelError("EINVAL", `secure window [${hex(base)}, +${hex(size)}) is not a physical range`);
    }
    this.#secBase = base;
    this.#secEnd = base + size;
  }

  /** Connects the interrupt line to a handler (null disconnects it). */
  setIrqHandler(handler: SysMmuIrqHandler | null): void {
    this.#irq = handler;
  }

  /** The TLB's valid entries, most recently used first (TLB_READ/TLB_DATA, for tests and reports). */
  tlbEntries(): TlbEntryInfo[] {
    return this.#tlb.entries();
  }

  /** Counters since the instance was created. */
  get stats(): SysMmuStats {
    return {
      tlbHits: this.#tlb.hits,
      tlbMisses: this.#tlb.misses,
      walks: this.#walks,
      faults: this.#faults,
    };
  }

  /** TLB entries (capacity). */
  get tlbCapacity(): number {
    return this.#tlb.capacity;
  }

  // ---- register file --------------------------------------------------------------------------

  #badOffset(offset: number, what: string): never {
    throw new KernelError(
      "EINVAL",
      `${this.name}: ${what} offset ${typeof offset === "number" ? hex(offset) : String(offset)} is not a word inside the ${hex(SYSMMU_SFR_SIZE)}-byte SFR window`,
    );
  }

  /** Reads the 32-bit register at `offset`. Unimplemented offsets read as zero. */
  read32(offset: number): number {
    // MMU_STATUS first, in a body small enough to inline: the driver polls it on every unmap.
    // (Hot paths spell register numbers and bits as literals: a bundled module's constants are
    // variables, loaded and checked on every use.)
    if (offset === 0x008 /* REG_MMU_STATUS */) return this.#blocked ? 1 /* STATUS_BLOCKED */ : 0;
    return this.#read32(offset);
  }

  #read32(offset: number): number {
    if (offset >>> 0 !== offset || (offset & 3) !== 0 || offset >= SYSMMU_SFR_SIZE)
      this.#badOffset(offset, "read32");
    // (MMU_STATUS is handled in read32)
    switch (offset) {
      case REG_MMU_CTRL:
        return this.#ctrl;
      case REG_MMU_CFG:
        return this.#cfg;
      case REG_MMU_VERSION:
        return this.#versionReg;
    }
    if (this.#v5) {
      switch (offset) {
        case REG_V5_PT_BASE_PFN:
          return this.#ptReg;
        case REG_V5_MMU_FLUSH_START:
          return this.#flushStart;
        case REG_V5_MMU_FLUSH_END:
          return this.#flushEnd;
        case REG_V5_INT_STATUS:
          return this.#intStatus >>> 0;
        case REG_V5_FAULT_AR_VA:
          return this.#arFaultAddr;
        case REG_V5_FAULT_AW_VA:
          return this.#awFaultAddr;
        default:
          return 0;
      }
    }
    switch (offset) {
      case REG_PT_BASE_ADDR:
        return this.#ptReg;
      case REG_INT_STATUS:
        return this.#intStatus;
      case REG_INT_MASK:
        return this.#intMask;
      case REG_PAGE_FAULT_ADDR:
        return this.#pageFaultAddr;
      case REG_AW_FAULT_ADDR:
        return this.#awFaultAddr;
      case REG_AR_FAULT_ADDR:
        return this.#arFaultAddr;
      case REG_DEFAULT_SLAVE_ADDR:
        return this.#slaveAddr;
      default:
        return 0;
    }
  }

  /** Writes the 32-bit register at `offset`. Writes to read-only or unimplemented offsets are ignored. */
  write32(offset: number, value: number): void {
    // MMU_CTRL and (v1–v3) MMU_FLUSH_ENTRY first, in a body small enough to inline: the driver
    // blocks, flushes an entry and unblocks on every unmap
    if (offset === 0x000 /* REG_MMU_CTRL */) {
      const v = value >>> 0;
      this.#ctrl = v & 0x7; // CTRL_EN | CTRL_BLK | CTRL_INT_EN
      this.#blocked = (v & 0x2) /* CTRL_BLK */ !== 0;
      // the rare cases: translation turns on or off, a fault is pending
      if (((v & 0x1) /* CTRL_EN */ !== 0) !== this.#on || (this.#intStatus & ~this.#intMask) !== 0) {
        this.#ctrlChanged(v);
      }
    } else if (offset === 0x010 /* REG_MMU_FLUSH_ENTRY */ && !this.#v5) this.#writeFlushEntry(value >>> 0);
    else this.#write32(offset, value);
  }

  /** MMU_CTRL was written: translation turned on or off, or a fault is pending. */
  #ctrlChanged(v: number): void {
    if (((v & 0x1) /* CTRL_EN */ !== 0) !== this.#on) this.#ctrlOnOff(v);
    this.#raiseIrq();
  }

  /** v1–v3 MMU_FLUSH_ENTRY. */
  #writeFlushEntry(v: number): void {
    if ((v & 1) === 0) return;
    const iova = (v & ~0xfff) >>> 0;
    this.#tlb.invalidateEntry(iova, this.#flushSetBits);
    if (this.#tp.flush.enabled) this.#traceFlushEntry(iova);
  }

  #write32(offset: number, value: number): void {
    if (offset >>> 0 !== offset || (offset & 3) !== 0 || offset >= SYSMMU_SFR_SIZE)
      this.#badOffset(offset, "write32");
    const v = value >>> 0;
    // (MMU_CTRL and v1–v3 MMU_FLUSH_ENTRY are handled in write32)
    switch (offset) {
      case REG_MMU_CFG:
        this.#cfg = v;
        this.#tlb.lru = (v & CFG_LRU) !== 0;
        this.#eap = (v & CFG_EAP) !== 0;
        return;
    }
    if (this.#v5) {
      switch (offset) {
        case REG_V5_PT_BASE_PFN:
          this.#ptReg = v;
          this.#setPtBase(v * SPAGE_SIZE);
          return;
        case REG_V5_MMU_FLUSH_ALL:
          if (v & 1) this.#flushAll();
          return;
        case REG_V5_MMU_FLUSH_ENTRY:
          if (v & 1) this.#flushEntry(v & ~0xfff);
          return;
        case REG_V5_MMU_FLUSH_START:
          this.#flushStart = v & ~0xfff;
          return;
        case REG_V5_MMU_FLUSH_END:
          this.#flushEnd = v & ~0xfff;
          return;
        case REG_V5_MMU_FLUSH_RANGE:
          if (v & 1) this.#flushRange(this.#flushStart >>> 0, (this.#flushEnd >>> 0) + SPAGE_SIZE);
          return;
        case REG_V5_INT_CLEAR:
          this.#intStatus = (this.#intStatus & ~v) >>> 0;
          return;
        default:
          return;
      }
    }
    switch (offset) {
      case REG_PT_BASE_ADDR:
        this.#ptReg = v;
        this.#setPtBase(v);
        return;
      case REG_MMU_FLUSH:
        if (v & 1) this.#flushAll();
        return;
      case REG_INT_CLEAR:
        this.#intStatus = (this.#intStatus & ~v) >>> 0;
        return;
      case REG_INT_MASK:
        this.#intMask = v;
        this.#raiseIrq();
        return;
      default:
        return;
    }
  }

  /** MMU_CTRL's enable bit differs from the announced state. */
  #ctrlOnOff(v: number): void {
    // enable is announced once translation really starts (the driver enables blocked, programs
    // the table, then unblocks), disable when the enable bit goes
    if ((v & CTRL_EN) !== 0) {
      if (!this.#on && !this.#blocked) {
        this.#on = true;
        if (this.#tp.enable.enabled) this.#tp.enable.emit({ sysmmu: this.name, pgtable: this.#ptBase });
      }
    } else if (this.#on) {
      this.#on = false;
      if (this.#tp.disable.enabled) this.#tp.disable.emit({ sysmmu: this.name });
    }
  }

  #setPtBase(pa: number): void {
    // the table is 16 KiB aligned: the hardware ignores the low address bits
    const base = pa - (pa % LV1TABLE_SIZE);
    this.#ptBase = base;
    const i = this.#bankIndex(base);
    if (i >= 0 && base + LV1TABLE_SIZE <= this.#banks[i]!.end) {
      const off = (base - this.#banks[i]!.start) >>> 2;
      this.#lv1 = this.#bankU32[i]!.subarray(off, off + NUM_LV1ENTRIES);
    } else this.#lv1 = null;
  }

  #flushAll(): void {
    this.#tlb.invalidateAll();
    if (this.#tp.flush.enabled)
      this.#tp.flush.emit({ sysmmu: this.name, scope: "all", iova: 0, size: TWO_32 });
  }

  #flushEntry(iova: number): void {
    this.#tlb.invalidateEntry(iova, this.#flushSetBits);
    if (this.#tp.flush.enabled) this.#traceFlushEntry(iova);
  }

  #traceFlushEntry(iova: number): void {
    this.#tp.flush.emit({ sysmmu: this.name, scope: "entry", iova, size: SPAGE_SIZE });
  }

  #flushRange(start: number, end: number): void {
    if (end <= start) return;
    this.#tlb.invalidateRange(start, end);
    if (this.#tp.flush.enabled)
      this.#tp.flush.emit({ sysmmu: this.name, scope: "range", iova: start, size: end - start });
  }

  // ---- the master's side: Translator ----------------------------------------------------------

  /**
   * Translates the master's access `[daddr, daddr + len)` into physical runs appended to `out`.
   * Disabled: bypass (EIO where the address is not RAM). Blocked: EBUSY, nothing happens.
   * Enabled: per page through the TLB, walking the page table on a miss; a fault latches,
   * blocks, interrupts and throws (EFAULT page / multi-hit, EACCES access / security, EIO bus
   * error / PTW), or the driver's interrupt handler throws its own error. EINVAL beyond 4 GiB.
   */
  translate(daddr: number, len: number, write: boolean, out: RunList): void {
    if (this.#blocked) {
      throw new KernelError(
        "EBUSY",
        `${this.name}: blocked; the ${write ? "write" : "read"} of [${hex(daddr)}, ${hex(daddr + len)}) by ${this.master ?? "its master"} stalls`,
      );
    }
    const end = daddr + len;
    if (end > TWO_32) {
      throw new KernelError(
        "EINVAL",
        `${this.name}: daddr range [${hex(daddr)}, ${hex(end)}) leaves the 32-bit IOVA space`,
      );
    }
    if ((this.#ctrl & CTRL_EN) === 0) {
      this.#bypass(daddr, len, write, out);
      return;
    }
    const tlb = this.#tlb;
    const tbase = tlb.base;
    const tlen = tlb.len;
    const tpa = tlb.pa;
    const tperm = tlb.perm;
    const need = write ? 2 : 1;
    const eap = this.#eap;
    const secBase = this.#secBase;
    const secEnd = this.#secEnd;
    const lv1 = this.#lv1;
    const split = this.#flushSetBits;
    const v5 = this.#v5;
    const l2shift = 10 - this.#shift;
    const spShift = 12 - this.#shift;
    // Page tables do not change during one transfer (a fault ends it): the lv2 table of the
    // section last walked can be reused without reading its lv1 entry again.
    let curSect = -1;
    let curTable = 0;
    let ramLo = this.#ramLo;
    let ramHi = this.#ramHi;
    let iova = daddr;
    let runStart = -1;
    let runEnd = -1;
    while (iova < end) {
      let ebase: number;
      let elen: number;
      let epa: number;
      let eperm: number;
      const e = tlb.lookup(iova);
      if (e >= 0) {
        ebase = tbase[e]!;
        elen = tlen[e]!;
        epa = tpa[e]!;
        eperm = tperm[e]!;
        if (this.tlbSanitizer) {
          this.#checkStale(iova, epa + (iova - ebase));
          curSect = -1; // the check may have pointed the lv2 view at another bank
        }
      } else {
        if (e === TLB_MULTI_HIT) this.#fault("MULTI-HIT", write, iova);
        // the common walk inline: a link to an lv2 table in a bank, a small page
        let pent = 0;
        const sect = iova >>> 20;
        if (sect !== curSect && lv1 !== null && split === 0) {
          const sent = lv1[sect]!;
          if ((sent & 3) === 1) {
            const lv2pa = (sent >>> l2shift) * 1024;
            if (lv2pa >= this.#lv2Lo && lv2pa + 1024 <= this.#lv2Hi) {
              curSect = sect;
              curTable = (lv2pa - this.#lv2Lo) >>> 2;
            }
          }
        }
        if (sect === curSect) pent = this.#lv2View![curTable + ((iova >>> 12) & 0xff)]!;
        if ((pent & 2) !== 0) {
          this.#walks++;
          ebase = (iova & ~0xfff) >>> 0;
          elen = SPAGE_SIZE;
          epa = (pent >>> spShift) * SPAGE_SIZE;
          eperm = v5 ? (pent >>> 2) & 3 : apPerm(pent, 1 << 4, 1 << 9);
          tlb.fillPage(ebase, epa, eperm, ebase, SPAGE_SIZE);
        } else {
          this.#walk(iova, write);
          curSect = -1;
          ebase = this.#wBase;
          elen = this.#wLen;
          epa = this.#wPa;
          eperm = this.#wPerm;
        }
      }
      if (eap && (eperm & need) === 0) this.#fault("ACCESS PROTECTION", write, iova);
      const pa = epa + (iova - ebase);
      let n = ebase + elen - iova;
      if (n > end - iova) n = end - iova;
      if (pa < secEnd && pa + n > secBase) {
        this.#fault("SECURITY PROTECTION", write, iova + Math.max(0, secBase - pa));
      }
      if (pa < ramLo || pa + n > ramHi) {
        const ok = this.#ramPrefix(pa, n);
        if (ok < n) this.#fault("BUS ERROR", write, iova + ok);
        ramLo = this.#ramLo;
        ramHi = this.#ramHi;
      }
      // physically contiguous pages make one run; push it when the next one does not follow
      if (pa === runEnd) runEnd += n;
      else {
        if (runEnd > runStart) out.push(runStart, runEnd - runStart);
        runStart = pa;
        runEnd = pa + n;
      }
      iova += n;
    }
    if (runEnd > runStart) out.push(runStart, runEnd - runStart);
    tlb.commit();
  }

  /**
   * The TLB sanitizer's check of a hit: the physical address the page table gives `iova` now
   * (no TLB fill, no fault) against the one the TLB answered; a difference is a stale entry.
   */
  #checkStale(iova: number, tlbPa: number): void {
    const ptPa = this.#peek(iova);
    if (ptPa === tlbPa) return;
    const tp = this.#tp.stale;
    if (!tp.enabled) return;
    tp.emit({
      sysmmu: this.name,
      master: this.master ?? "",
      iova,
      tlb_pa: tlbPa,
      pt_pa: ptPa,
      missing:
        ptPa < 0
          ? "TLB invalidation after the unmap (MMU_FLUSH_ENTRY): the page table maps nothing here"
          : "TLB invalidation after the unmap (MMU_FLUSH_ENTRY): the page table maps another page here",
    });
  }

  /** The physical address the page table maps `iova` to now, or -1 (no TLB fill, no fault). */
  #peek(iova: number): number {
    if (this.#decode(iova) !== null) return -1;
    return this.#wPa + (iova - this.#wBase);
  }

  #bypass(daddr: number, len: number, write: boolean, out: RunList): void {
    if (len === 0) return;
    const ok = daddr >= this.#ramLo && daddr + len <= this.#ramHi ? len : this.#ramPrefix(daddr, len);
    if (ok < len) {
      throw new KernelError(
        "EIO",
        `${this.name}: bus error at ${hex(daddr + ok)} (${write ? "write" : "read"} by ${this.master ?? "its master"} with translation disabled): not RAM`,
      );
    }
    out.push(daddr, len);
  }

  /** Bytes from `pa` that are RAM (up to `n`); caches the last bank's bounds for the fast path. */
  #ramPrefix(pa: number, n: number): number {
    let p = pa;
    const end = pa + n;
    while (p < end) {
      const i = this.#bankIndex(p);
      if (i < 0) break;
      const b = this.#banks[i]!;
      if (p === pa) {
        this.#ramLo = b.start;
        this.#ramHi = b.end;
      }
      p = b.end;
    }
    return Math.min(p, end) - pa;
  }

  #bankIndex(pa: number): number {
    const banks = this.#banks;
    for (let i = 0; i < banks.length; i++) if (pa >= banks[i]!.start && pa < banks[i]!.end) return i;
    return -1;
  }

  /** Walks the page table for `iova` and fills a TLB entry (or faults); the result in `#w*`. */
  #walk(iova: number, write: boolean): void {
    this.#walks++;
    const fault = this.#decode(iova);
    if (fault !== null) this.#fault(fault, write, iova);
    const pageBase = this.#wBase;
    const pageSize = this.#wLen;
    const pa = this.#wPa;
    const perm = this.#wPerm;
    const tlb = this.#tlb;
    if (this.#flushSetBits > 0) {
      // v2 caches per 4 KiB page in the set the address indexes
      const g = (iova & ~0xfff) >>> 0;
      this.#wBase = g;
      this.#wLen = SPAGE_SIZE;
      this.#wPa = pa + (g - pageBase);
      tlb.fillPage(g, this.#wPa, perm, pageBase, pageSize);
      return;
    }
    if (pageSize === SPAGE_SIZE) tlb.fillPage(pageBase, pa, perm, pageBase, pageSize);
    else tlb.insert(pageBase, pageSize, pa, perm, pageBase, pageSize);
  }

  /**
   * Reads the page table's entry for `iova` (nothing filled, nothing latched): null with the page
   * in `#w*` (base, size, physical address, permission), or the fault the walk would raise.
   */
  #decode(iova: number): SysMmuFaultKind | null {
    const lv1 = this.#lv1;
    if (lv1 === null) return this.#v5 ? "PTW" : "BUS ERROR";
    const S = this.#shift;
    const v5 = this.#v5;
    const sent = lv1[iova >>> 20]!;
    const t1 = sent & 3;
    if (t1 === 2) {
      this.#wLen = SECT_SIZE;
      this.#wBase = (iova >>> 20) * SECT_SIZE;
      this.#wPa = (sent >>> (20 - S)) * SECT_SIZE;
      this.#wPerm = v5 ? (sent >>> 4) & 3 : apPerm(sent, 1 << 10, 1 << 15);
      return null;
    }
    if (t1 !== 1) return "PAGE";
    const lv2pa = (sent >>> (10 - S)) * 1024;
    if ((lv2pa < this.#lv2Lo || lv2pa + 1024 > this.#lv2Hi) && !this.#lv2Bank(lv2pa)) {
      return v5 ? "PTW" : "BUS ERROR";
    }
    const pent = this.#lv2View![((lv2pa - this.#lv2Lo) >>> 2) + ((iova >>> 12) & 0xff)]!;
    if ((pent & 3) === 0) return "PAGE";
    const pageSize = (pent & 2) !== 0 ? SPAGE_SIZE : LPAGE_SIZE;
    this.#wLen = pageSize;
    this.#wPa = (pent >>> (pageSize === SPAGE_SIZE ? 12 - S : 16 - S)) * pageSize;
    this.#wBase = (iova & -pageSize) >>> 0;
    this.#wPerm = v5 ? (pent >>> 2) & 3 : apPerm(pent, 1 << 4, 1 << 9);
    return null;
  }

  /** Points the lv2 view at the bank holding the table at `lv2pa`; false when no bank holds it. */
  #lv2Bank(lv2pa: number): boolean {
    const i = this.#bankIndex(lv2pa);
    if (i < 0 || lv2pa + 1024 > this.#banks[i]!.end) return false;
    this.#lv2View = this.#bankU32[i]!;
    this.#lv2Lo = this.#banks[i]!.start;
    this.#lv2Hi = this.#banks[i]!.end;
    return true;
  }

  /** The INT_STATUS bit of a fault on this version, or -1 when the version has none. */
  #faultBit(kind: SysMmuFaultKind, write: boolean): number {
    if (this.#v5) {
      const side = write ? SYSMMU_V5_AW_SHIFT : 0;
      switch (kind) {
        case "PTW":
          return SYSMMU_V5_PTW + side;
        case "PAGE":
          return SYSMMU_V5_PAGE + side;
        case "MULTI-HIT":
          return SYSMMU_V5_MULTIHIT + side;
        case "ACCESS PROTECTION":
          return SYSMMU_V5_ACCESS + side;
        case "SECURITY PROTECTION":
          return SYSMMU_V5_SECURITY + side;
        default:
          return -1;
      }
    }
    switch (kind) {
      case "PAGE":
        return SYSMMU_PAGEFAULT;
      case "MULTI-HIT":
        return write ? SYSMMU_AW_MULTIHIT : SYSMMU_AR_MULTIHIT;
      case "SECURITY PROTECTION":
        return write ? SYSMMU_AW_SECURITY : SYSMMU_AR_SECURITY;
      case "ACCESS PROTECTION":
        return write ? SYSMMU_AW_PROTECTION : SYSMMU_AR_ACCESS;
      default:
        return SYSMMU_BUSERROR;
    }
  }

  /** Latches a fault, blocks, interrupts, and aborts the transaction. */
  #fault(kind: SysMmuFaultKind, write: boolean, iova: number): never {
    this.#tlb.commit();
    this.#faults++;
    const master = this.master ?? "";
    if (this.#tp.fault.enabled) this.#tp.fault.emit({ sysmmu: this.name, master, type: kind, iova, write });
    const bit = this.#faultBit(kind, write);
    const what = `${sysmmuFaultName(kind, write)} at ${hex(iova)} (${write ? "write" : "read"} by ${master || "its master"})`;
    if (bit < 0) {
      // v5 has no bus-error interrupt: the slave's error response reaches the master directly
      throw new KernelError(FAULT_ERRNO[kind], `${this.name}: ${what}: not RAM`);
    }
    this.#intStatus = (this.#intStatus | (1 << bit)) >>> 0;
    if (this.#v5) {
      if (write) this.#awFaultAddr = iova;
      else this.#arFaultAddr = iova;
    } else if (bit === SYSMMU_PAGEFAULT) this.#pageFaultAddr = iova;
    else if (bit === SYSMMU_BUSERROR) this.#slaveAddr = iova;
    else if (write) this.#awFaultAddr = iova;
    else this.#arFaultAddr = iova;
    this.#blocked = true;
    this.#ctrl |= CTRL_BLK;
    this.#raiseIrq();
    throw new KernelError(FAULT_ERRNO[kind], `${this.name}: ${what}; the transaction was aborted`);
  }

  /**
   * The level-triggered interrupt line: while the interrupt is enabled and an unmasked fault is
   * pending, calls the handler (once per fault it clears; not again from inside the handler).
   */
  #raiseIrq(): void {
    if (this.#irq === null || this.#inIrq || (this.#ctrl & CTRL_INT_EN) === 0) return;
    if ((this.#intStatus & ~this.#intMask) === 0) return;
    this.#serviceIrq(this.#irq);
  }

  /** `#raiseIrq` with a fault pending: the handler runs until it clears what it can. */
  #serviceIrq(handler: SysMmuIrqHandler): void {
    this.#inIrq = true;
    try {
      for (let guard = 0; guard < 64; guard++) {
        if ((this.#ctrl & CTRL_INT_EN) === 0) return;
        const pending = (this.#intStatus & ~this.#intMask) >>> 0;
        if (pending === 0) return;
        handler(this);
        if ((this.#intStatus & ~this.#intMask) >>> 0 === pending) return;
      }
    } finally {
      this.#inIrq = false;
    }
  }
}

/** v1–v3 access bits: AP0 clear = no access, AP2 set = read-only. */
function apPerm(ent: number, ap0: number, ap2: number): number {
  if ((ent & ap0) === 0) return 0;
  return (ent & ap2) !== 0 ? 1 : 3;
}
