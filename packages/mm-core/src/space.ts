/**
 * Address spaces (U.V and the vmalloc part of K.V): sorted VMAs with a protection, a memory type
 * and a backing — anonymous pages (allocated at map time, movable), inserted pages (a driver's
 * pages, refcounted: `vm_insert_page`) or a pfn range (`remap_pfn_range`, VM_PFNMAP, no page
 * references). Translation turns a virtual range into physical runs.
 *
 * @module
 */
import { hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import type { Mm } from "./mm.js";
import type { MappingSite } from "./ops.js";
import { RunList } from "./runs.js";
import {
  __GFP_ZERO,
  GFP_HIGHUSER_MOVABLE,
  MEMTYPES,
  type MemType,
  memtypeIndex,
  PG_anon,
  PG_reserved,
  PROT_READ,
  PROT_WRITE,
} from "./types.js";

/** What backs a mapping. */
export type VmaBacking =
  /** anonymous memory: zeroed movable pages allocated now, freed at unmap */
  | { readonly kind: "anon" }
  /**
   * a driver's pages, one pfn per page (`vm_insert_pages`); `refs` (default true) takes a page
   * reference per page for as long as it is mapped (vmap passes false, as the kernel's vmap)
   */
  | { readonly kind: "pages"; readonly pfns: ArrayLike<number>; readonly refs?: boolean }
  /** a contiguous pfn range (`remap_pfn_range`): VM_PFNMAP, no page references */
  | { readonly kind: "pfn"; readonly pfn: number };

/** `vm_operations_struct` subset: how a driver learns that mappings come and go. */
export interface VmaOps {
  /** a new VMA now maps part of the driver's memory (a split made a copy) */
  readonly open?: (vma: Vma) => void;
  /** a VMA (or a piece of one) is going away */
  readonly close?: (vma: Vma) => void;
}

/** The file behind a mapping (`vm_file`): mm only takes and drops references on it. */
export interface VmaFileRef {
  get(): void;
  put(): void;
}

/** Arguments of `AddressSpace.mmap`. */
export interface MmapRequest {
  /** where; with `fixed`, exactly there (replacing what was mapped); else a hint or omitted */
  readonly addr?: number;
  /** bytes; rounded up to pages; must be > 0 */
  readonly length: number;
  /** PROT_* bits */
  readonly prot: number;
  /** default "cacheable" */
  readonly memtype?: MemType;
  /** MAP_SHARED (default true for non-anonymous backings) */
  readonly shared?: boolean;
  readonly fixed?: boolean;
  readonly backing: VmaBacking;
  /** shown in reports, e.g. "/dev/pmm" or "[anon]" */
  readonly name?: string;
  readonly ops?: VmaOps;
  /** the file this maps; its reference moves to the VMA (mm puts it when the VMA goes) */
  readonly file?: VmaFileRef;
  readonly privateData?: unknown;
  /** offset into the file, in pages */
  readonly pgoff?: number;
  /** owner tag for anonymous pages */
  readonly tag?: string;
}

/** A reverse-mapping entry: page `index` of `vma`. */
export interface RmapEntry {
  vma: Vma;
  index: number;
}

/** A virtual memory area. */
export class Vma {
  readonly space: AddressSpace;
  start: number;
  end: number;
  prot: number;
  /** MT_* number */
  readonly memtype: number;
  readonly shared: boolean;
  readonly kind: "anon" | "pages" | "pfn";
  /** per-page pfns ("anon" and "pages") */
  pfns: Int32Array | null;
  /** first pfn ("pfn") */
  basePfn: number;
  /** whether page references are held for `pfns` */
  readonly refs: boolean;
  pgoff: number;
  readonly name: string;
  readonly ops: VmaOps | null;
  readonly file: VmaFileRef | null;
  privateData: unknown;

  constructor(
    space: AddressSpace,
    init: Pick<
      Vma,
      | "start"
      | "end"
      | "prot"
      | "memtype"
      | "shared"
      | "kind"
      | "pfns"
      | "basePfn"
      | "refs"
      | "pgoff"
      | "name"
      | "ops"
      | "file"
      | "privateData"
    >,
  ) {
    this.space = space;
    this.start = init.start;
    this.end = init.end;
    this.prot = init.prot;
    this.memtype = init.memtype;
    this.shared = init.shared;
    this.kind = init.kind;
    this.pfns = init.pfns;
    this.basePfn = init.basePfn;
    this.refs = init.refs;
    this.pgoff = init.pgoff;
    this.name = init.name;
    this.ops = init.ops;
    this.file = init.file;
    this.privateData = init.privateData;
  }

  /** Bytes mapped. */
  get size(): number {
    return this.end - this.start;
  }

  /** `VM_PFNMAP` */
  get pfnmap(): boolean {
    return this.kind === "pfn";
  }

  /** The memory type's name. */
  get memtypeName(): MemType {
    return MEMTYPES[this.memtype]!;
  }

  /** The pfn mapped at `va` (inside the VMA). */
  pfnAt(va: number): number {
    const i = Math.floor((va - this.start) / PAGE_SIZE);
    return this.kind === "pfn" ? this.basePfn + i : this.pfns![i]!;
  }
}

function checkRange(addr: number, length: number, what: string): void {
  if (!Number.isSafeInteger(addr) || addr < 0 || addr % PAGE_SIZE !== 0) {
    throw new KernelError("EINVAL", `${what}: addr ${hex(addr)} is not page-aligned`);
  }
  if (!Number.isSafeInteger(length) || length <= 0) {
    throw new KernelError("EINVAL", `${what}: length ${length} must be positive`);
  }
}

/** A process's (or the kernel's vmalloc) address space. */
export class AddressSpace {
  readonly mm: Mm;
  readonly name: string;
  /** lowest mappable address */
  readonly lo: number;
  /** one past the highest mappable address */
  readonly hi: number;
  #vmas: Vma[] = [];
  #last: Vma | null = null;
  #destroyed = false;
  protected readonly site: MappingSite;

  constructor(mm: Mm, name: string, lo: number, hi: number) {
    this.mm = mm;
    this.name = name;
    this.lo = lo;
    this.hi = hi;
    this.site = { space: name, name: "" };
    mm._registerSpace(this);
  }

  /** The VMAs, ascending. */
  get vmas(): readonly Vma[] {
    return this.#vmas;
  }

  /** True once `destroy` ran. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** `find_vma` proper: the VMA containing `addr`, or undefined. */
  findVma(addr: number): Vma | undefined {
    const l = this.#last;
    if (l && addr >= l.start && addr < l.end) return l;
    const v = this.#vmas;
    let lo = 0;
    let hi = v.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = v[mid]!;
      if (addr < m.start) hi = mid - 1;
      else if (addr >= m.end) lo = mid + 1;
      else {
        this.#last = m;
        return m;
      }
    }
    return undefined;
  }

  /** Finds a free range of `length` bytes, top-down below `hint` or `hi` (`get_unmapped_area`). */
  getUnmappedArea(length: number, hint?: number): number {
    if (hint !== undefined && hint % PAGE_SIZE === 0 && hint >= this.lo && hint + length <= this.hi) {
      if (!this.#vmas.some((v) => v.start < hint + length && hint < v.end)) return hint;
    }
    let top = this.hi;
    for (let i = this.#vmas.length - 1; i >= -1; i--) {
      const below = i >= 0 ? this.#vmas[i]!.end : this.lo;
      if (top - below >= length) return top - length;
      if (i >= 0) top = Math.min(top, this.#vmas[i]!.start);
    }
    throw new KernelError("ENOMEM", `${this.name}: no free range of ${hex(length)} bytes`);
  }

  /**
   * `mmap`: maps a backing into this space and returns the new VMA. EINVAL for a zero or bad
   * length, a misaligned fixed address, a `pages` backing of the wrong count or a `pfn` range
   * that is not RAM; ENOMEM when no range is free or anonymous pages run out. Nothing is mapped
   * when it throws.
   */
  mmap(req: MmapRequest): Vma {
    if (this.#destroyed) throw new KernelError("EINVAL", `${this.name}: address space is gone`);
    if (!Number.isSafeInteger(req.length) || req.length <= 0) {
      throw new KernelError("EINVAL", `mmap: length ${req.length} must be positive`);
    }
    const length = Math.ceil(req.length / PAGE_SIZE) * PAGE_SIZE;
    const pages = length / PAGE_SIZE;
    const memtype = memtypeIndex(req.memtype ?? "cacheable");
    const b = req.backing;
    // validate the backing before touching anything
    if (b.kind === "pages") {
      if (b.pfns.length !== pages) {
        throw new KernelError("EINVAL", `mmap: ${b.pfns.length} pfns given for ${pages} pages`);
      }
      const f = this.mm.frames;
      for (let i = 0; i < pages; i++) {
        const idx = f.index(b.pfns[i]!);
        if (b.refs !== false && (f.flags[idx]! & PG_reserved) === 0 && f.refcount[idx]! <= 0) {
          throw new KernelError(
            "EINVAL",
            `mmap: pfn ${hex(b.pfns[i]!)} (page ${i}) is not an allocated page`,
          );
        }
      }
    } else if (b.kind === "pfn") {
      if (!this.mm.phys.isRam(b.pfn * PAGE_SIZE, length)) {
        throw new KernelError("EINVAL", `mmap: pfn range [${hex(b.pfn)}, +${pages}) is not RAM`);
      }
    }
    let start: number;
    if (req.fixed) {
      if (req.addr === undefined) throw new KernelError("EINVAL", "mmap: MAP_FIXED without an address");
      checkRange(req.addr, length, "mmap");
      if (req.addr < this.lo || req.addr + length > this.hi) {
        throw new KernelError("EINVAL", `mmap: [${hex(req.addr)}, +${hex(length)}) is outside ${this.name}`);
      }
      start = req.addr;
    } else {
      start = this.getUnmappedArea(length, req.addr);
    }
    let pfns: Int32Array | null = null;
    if (b.kind === "anon") {
      pfns = this.#allocAnon(pages, req.tag ?? `${this.name}:anon`);
    } else if (b.kind === "pages") {
      pfns = Int32Array.from(b.pfns);
    }
    if (req.fixed) this.munmap(start, length);
    const vma = new Vma(this, {
      start,
      end: start + length,
      prot: req.prot,
      memtype,
      shared: req.shared ?? b.kind !== "anon",
      kind: b.kind,
      pfns,
      basePfn: b.kind === "pfn" ? b.pfn : 0,
      refs: b.kind === "anon" || (b.kind === "pages" && b.refs !== false),
      pgoff: req.pgoff ?? 0,
      name: req.name ?? (b.kind === "anon" ? "[anon]" : "[mapping]"),
      ops: req.ops ?? null,
      file: req.file ?? null,
      privateData: req.privateData,
    });
    this.#attachPages(vma, 0, pages, b.kind !== "anon");
    this.#insert(vma);
    this.mm._traceMap(vma, true);
    return vma;
  }

  #allocAnon(pages: number, tag: string): Int32Array {
    const buddy = this.mm.buddy;
    const pfns = new Int32Array(pages);
    let done = 0;
    try {
      for (; done < pages; done++) {
        const pfn = buddy.allocPages(0, GFP_HIGHUSER_MOVABLE | __GFP_ZERO, { tag });
        if (pfn === null)
          throw new KernelError("ENOMEM", `mmap: out of memory after ${done} of ${pages} anonymous pages`);
        pfns[done] = pfn;
        const i = pfn - this.mm.frames.basePfn;
        this.mm.frames.flags[i] = this.mm.frames.flags[i]! | PG_anon;
      }
    } catch (e) {
      for (let k = 0; k < done; k++) buddy.putPage(pfns[k]!);
      throw e;
    }
    return pfns;
  }

  /** Accounts pages [from, to) of `vma` as mapped: refs, mapcount, rmap, observers. */
  #attachPages(vma: Vma, from: number, to: number, takeRefs: boolean): void {
    const mm = this.mm;
    const f = mm.frames;
    if (vma.kind === "pfn") {
      mm._notifyMap(vma.basePfn + from, to - from, vma.memtype, 1, this.#site(vma));
      return;
    }
    const pfns = vma.pfns!;
    for (let k = from; k < to; k++) {
      const pfn = pfns[k]!;
      const i = pfn - f.basePfn;
      if (takeRefs && vma.refs) mm.buddy.getPage(pfn);
      f.mapcount[i]!++;
      if (vma.kind === "anon") mm._rmapAdd(pfn, vma, k);
    }
    this.#notifyRuns(vma, from, to, 1);
  }

  #notifyRuns(vma: Vma, from: number, to: number, delta: 1 | -1): void {
    const pfns = vma.pfns!;
    const site = this.#site(vma);
    let runStart = from;
    for (let k = from + 1; k <= to; k++) {
      if (k === to || pfns[k] !== pfns[k - 1]! + 1) {
        this.mm._notifyMap(pfns[runStart]!, k - runStart, vma.memtype, delta, site);
        runStart = k;
      }
    }
  }

  #site(vma: Vma): MappingSite {
    return { space: this.name, name: vma.name };
  }

  /** Releases pages [from, to) of `vma`. */
  #detachPages(vma: Vma, from: number, to: number): void {
    const mm = this.mm;
    const f = mm.frames;
    if (vma.kind === "pfn") {
      mm._notifyMap(vma.basePfn + from, to - from, vma.memtype, -1, this.#site(vma));
      return;
    }
    this.#notifyRuns(vma, from, to, -1);
    const pfns = vma.pfns!;
    for (let k = from; k < to; k++) {
      const pfn = pfns[k]!;
      f.mapcount[pfn - f.basePfn]!--;
      if (vma.kind === "anon") mm._rmapDel(pfn, vma, k);
      if (vma.refs) mm.buddy.putPage(pfn);
    }
  }

  #insert(vma: Vma): void {
    const v = this.#vmas;
    let i = v.length;
    while (i > 0 && v[i - 1]!.start > vma.start) i--;
    v.splice(i, 0, vma);
  }

  /** Splits `vma` at `addr`; the upper part becomes a new VMA (vm_ops->open, file get). */
  #split(vma: Vma, addr: number): Vma {
    const cut = (addr - vma.start) / PAGE_SIZE;
    const upper = new Vma(this, {
      start: addr,
      end: vma.end,
      prot: vma.prot,
      memtype: vma.memtype,
      shared: vma.shared,
      kind: vma.kind,
      pfns: vma.pfns ? vma.pfns.slice(cut) : null,
      basePfn: vma.kind === "pfn" ? vma.basePfn + cut : 0,
      refs: vma.refs,
      pgoff: vma.pgoff + cut,
      name: vma.name,
      ops: vma.ops,
      file: vma.file,
      privateData: vma.privateData,
    });
    if (vma.kind === "anon") {
      for (let k = 0; k < upper.pfns!.length; k++) this.mm._rmapMove(upper.pfns![k]!, vma, cut + k, upper, k);
    }
    vma.end = addr;
    if (vma.pfns) vma.pfns = vma.pfns.slice(0, cut);
    this.#insert(upper);
    this.#last = null;
    upper.file?.get();
    upper.ops?.open?.(upper);
    return upper;
  }

  /** Splits VMAs so that `start` and `end` fall on VMA boundaries; returns those inside. */
  #carve(start: number, end: number): Vma[] {
    for (const v of [...this.#vmas]) {
      if (v.start < start && start < v.end) this.#split(v, start);
    }
    for (const v of [...this.#vmas]) {
      if (v.start < end && end < v.end) this.#split(v, end);
    }
    return this.#vmas.filter((v) => v.start >= start && v.end <= end);
  }

  /**
   * `munmap`: unmaps `[addr, addr + length)`; parts of VMAs outside stay mapped. EINVAL for a
   * misaligned address or a zero length; unmapping nothing is not an error.
   */
  munmap(addr: number, length: number): void {
    checkRange(addr, length, "munmap");
    const end = addr + Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
    if (!this.#vmas.some((v) => v.start < end && addr < v.end)) return;
    for (const v of this.#carve(addr, end)) this.#remove(v);
  }

  #remove(vma: Vma): void {
    this.#detachPages(vma, 0, vma.size / PAGE_SIZE);
    this.#vmas.splice(this.#vmas.indexOf(vma), 1);
    this.#last = null;
    this.mm._traceMap(vma, false);
    vma.ops?.close?.(vma);
    vma.file?.put();
  }

  /**
   * `mprotect`: changes the protection of `[addr, addr + length)`. ENOMEM when part of the range
   * is not mapped (nothing changes), EINVAL for a misaligned address; length 0 does nothing.
   */
  mprotect(addr: number, length: number, prot: number): void {
    if (length === 0 && Number.isSafeInteger(addr) && addr % PAGE_SIZE === 0) return; // Linux: nothing to do
    checkRange(addr, length, "mprotect");
    const end = addr + Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
    for (let p = addr; p < end; ) {
      const v = this.findVma(p);
      if (!v)
        throw new KernelError("ENOMEM", `mprotect: ${hex(p)} in [${hex(addr)}, ${hex(end)}) is not mapped`);
      p = v.end;
    }
    for (const v of this.#carve(addr, end)) v.prot = prot;
  }

  /** Throws EFAULT for an access `findVma` cannot serve. */
  protected accessFault(va: number, write: boolean, vma: Vma | undefined): never {
    if (!vma) throw new KernelError("EFAULT", `${this.name}: address ${hex(va)} is not mapped`);
    throw new KernelError(
      "EFAULT",
      `${this.name}: ${write ? "write to" : "read from"} ${hex(va)} not permitted by ${vma.name} (prot ${vma.prot})`,
    );
  }

  /**
   * Translates `[va, va + len)` into physical runs appended to `out` (cleared first). EFAULT
   * when any byte is unmapped or the access is not permitted; `out` is then unspecified.
   */
  translateRange(va: number, len: number, write: boolean, out: RunList): RunList {
    out.clear();
    const need = write ? PROT_WRITE : PROT_READ;
    let p = va;
    const end = va + len;
    while (p < end) {
      const vma = this.findVma(p);
      if (!vma || (vma.prot & need) === 0) this.accessFault(p, write, vma);
      const stop = Math.min(end, vma.end);
      if (vma.kind === "pfn") {
        out.push(vma.basePfn * PAGE_SIZE + (p - vma.start), stop - p, vma.memtype);
        p = stop;
        continue;
      }
      const pfns = vma.pfns!;
      while (p < stop) {
        const off = p - vma.start;
        const k = Math.floor(off / PAGE_SIZE);
        const inPage = off - k * PAGE_SIZE;
        const n = Math.min(PAGE_SIZE - inPage, stop - p);
        out.push(pfns[k]! * PAGE_SIZE + inPage, n, vma.memtype);
        p += n;
      }
    }
    return out;
  }

  /** Translates one address: its physical address, or EFAULT. */
  translate(va: number, write = false): number {
    const runs = this.translateRange(va, 1, write, new RunList(1));
    return runs.paddr[0]!;
  }

  /** `exit_mmap`: unmaps everything. */
  destroy(): void {
    if (this.#destroyed) return;
    for (const v of [...this.#vmas].reverse()) this.#remove(v);
    this.#destroyed = true;
    this.mm._unregisterSpace(this);
  }

  /** Bytes mapped. */
  get mappedBytes(): number {
    return this.#vmas.reduce((s, v) => s + v.size, 0);
  }

  /** @internal called by migration: page `index` of `vma` now lives at `pfn`. */
  _repoint(vma: Vma, index: number, pfn: number): void {
    const old = vma.pfns![index]!;
    this.mm._notifyMap(old, 1, vma.memtype, -1, this.#site(vma));
    vma.pfns![index] = pfn;
    this.mm._notifyMap(pfn, 1, vma.memtype, 1, this.#site(vma));
  }

  /** @internal replays every mapping to a new observer. */
  _replay(fn: (pfn: number, count: number, memtype: number, site: MappingSite) => void): void {
    for (const v of this.#vmas) {
      if (v.kind === "pfn") fn(v.basePfn, v.size / PAGE_SIZE, v.memtype, this.#site(v));
      else for (let k = 0; k < v.pfns!.length; k++) fn(v.pfns![k]!, 1, v.memtype, this.#site(v));
    }
  }
}
