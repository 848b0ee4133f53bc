/**
 * `Mm`: one kernel's memory-management state — DRAM, page frames, memblock, the buddy allocator
 * (after boot), the kernel address space, every user address space, the reverse map of movable
 * pages, and the hooks higher layers plug in.
 *
 * Boot is two steps, as in the kernel: `mmInit` (memblock only: platform code reserves CMA areas
 * and carve-outs, removes no-map ranges), then `mm.memblockFreeAll()` (the buddy allocator takes
 * every page nobody reserved).
 *
 * @module
 */
import {
  defineSlot,
  faultSite,
  hex,
  type Kernel,
  KernelBug,
  KernelError,
  PAGE_SIZE,
  type Tracepoint,
} from "@umm/kernel-core";
import { Buddy, type ZoneSpec } from "./buddy.js";
import { PageFrames } from "./frames.js";
import { DEFAULT_LOWMEM_SIZE, KernelSpace } from "./kspace.js";
import { Memblock } from "./memblock.js";
import type { CpuCacheOps, DmaObserver, MappingObserver, MappingSite } from "./ops.js";
import { PhysMem } from "./phys.js";
import { AddressSpace, type RmapEntry, type Vma } from "./space.js";
import "./trace.js";
import { type BankSpec, MEMTYPES, MIGRATE_CMA, MT_NONE, PG_reserved } from "./types.js";

/** Options of `mmInit`. */
export interface MmOpts {
  /** DRAM banks (page-aligned, non-overlapping) */
  readonly banks: readonly BankSpec[];
  /** bytes of RAM in the kernel linear map (lowmem); default 760 MiB, the rest is highmem */
  readonly lowmemSize?: number;
  /** bytes from the start of RAM that form ZONE_DMA (default 0: no DMA zone) */
  readonly dmaZoneSize?: number;
}

/** The hooks higher layers plug into mm (see `./ops`). */
export interface MmHooks {
  cache: CpuCacheOps | null;
  readonly dma: DmaObserver[];
  readonly mapping: MappingObserver[];
}

/** Lowest and highest+1 user address (ARM TASK_SIZE). */
export const USER_LO = 0x00010000;
export const TASK_SIZE = 0xbf000000;

const MM = defineSlot<Mm>("mm");

/** A kernel's memory management. */
export class Mm {
  readonly kernel: Kernel;
  readonly phys: PhysMem;
  readonly frames: PageFrames;
  readonly memblock: Memblock;
  readonly kspace: KernelSpace;
  readonly hooks: MmHooks = { cache: null, dma: [], mapping: [] };
  readonly zoneSpecs: readonly ZoneSpec[];
  #buddy: Buddy | null = null;
  readonly #rmap = new Map<number, RmapEntry[]>();
  readonly #spaces = new Set<AddressSpace>();
  readonly #tp: {
    alloc: Tracepoint<"mm_page_alloc">;
    free: Tracepoint<"mm_page_free">;
    migrate: Tracepoint<"mm_migrate_pages">;
    vma: Tracepoint<"mm_vma">;
    gup: Tracepoint<"mm_gup">;
    dma: Tracepoint<"dma_xfer">;
    busError: Tracepoint<"dma_bus_error">;
  };

  constructor(kernel: Kernel, opts: MmOpts) {
    this.kernel = kernel;
    this.phys = new PhysMem(opts.banks);
    this.frames = new PageFrames(this.phys);
    this.memblock = new Memblock();
    for (const b of this.phys.banks) this.memblock.addMemory(b.start, b.size, b.name);
    const t = kernel.trace;
    this.#tp = {
      alloc: t.tracepoint("mm_page_alloc"),
      free: t.tracepoint("mm_page_free"),
      migrate: t.tracepoint("mm_migrate_pages"),
      vma: t.tracepoint("mm_vma"),
      gup: t.tracepoint("mm_gup"),
      dma: t.tracepoint("dma_xfer"),
      busError: t.tracepoint("dma_bus_error"),
    };
    this.kspace = new KernelSpace(this, opts.lowmemSize ?? DEFAULT_LOWMEM_SIZE);
    const startPfn = this.frames.basePfn;
    const endPfn = startPfn + this.frames.count;
    const dmaEnd = Math.min(endPfn, startPfn + Math.floor((opts.dmaZoneSize ?? 0) / PAGE_SIZE));
    const lowEnd = Math.max(dmaEnd, this.kspace.lowmemEnd / PAGE_SIZE);
    this.zoneSpecs = [
      { name: "DMA", startPfn, endPfn: dmaEnd },
      { name: "Normal", startPfn: dmaEnd, endPfn: lowEnd },
      { name: "HighMem", startPfn: lowEnd, endPfn },
    ];
  }

  /** True once `memblockFreeAll` ran. */
  get booted(): boolean {
    return this.#buddy !== null;
  }

  /** The buddy allocator (a `KernelBug` before boot finished). */
  get buddy(): Buddy {
    if (!this.#buddy) throw new KernelBug("the buddy allocator does not exist before memblockFreeAll()");
    return this.#buddy;
  }

  /**
   * `memblock_remove` for a no-map region: the range leaves memory and the linear map. See
   * `Memblock.remove` for errors.
   */
  memblockRemove(base: number, size: number, name = "no-map"): void {
    this.memblock.remove(base, size, name);
    const first = base / PAGE_SIZE;
    const n = size / PAGE_SIZE;
    const lowEnd = Math.min(first + n, this.kspace.lowmemEnd / PAGE_SIZE);
    if (lowEnd > first) this.kspace.setLinearMemtype(first, lowEnd - first, null);
  }

  /**
   * `memblock_free_all`: creates the buddy allocator and hands it every page neither reserved nor
   * removed. Reserved and removed pages stay PG_reserved. Memblock is retired. EBUSY if boot
   * already finished.
   */
  memblockFreeAll(): void {
    if (this.#buddy) throw new KernelError("EBUSY", "memblock_free_all: boot already finished");
    const f = this.frames;
    const cache = (): CpuCacheOps | null => this.hooks.cache;
    const phys = this.phys;
    const tp = this.#tp;
    this.#buddy = new Buddy(f, phys, this.zoneSpecs, {
      zero: (paddr, len) => {
        cache()?.prepareKernelWrite(paddr, len);
        phys.fill(paddr, 0, len);
      },
      alloc: (pfn, order, gfp, mt) => {
        if (tp.alloc.enabled) tp.alloc.emit({ pfn, order, gfp_flags: gfp, migratetype: mt });
      },
      free: (pfn, order) => {
        if (tp.free.enabled) tp.free.emit({ pfn, order });
      },
      fault: faultSite(this.kernel, "page"),
    });
    // everything starts reserved; free ranges are released into the buddy allocator
    for (const b of phys.banks) {
      const i = b.start / PAGE_SIZE - f.basePfn;
      const n = b.size / PAGE_SIZE;
      f.flags.fill(PG_reserved, i, i + n);
      f.refcount.fill(1, i, i + n);
    }
    for (const r of this.memblock.reserved) f.setOwner(r.base / PAGE_SIZE, r.size / PAGE_SIZE, r.name);
    for (const r of this.memblock.freeRanges()) {
      this.#buddy.releaseRange(r.base / PAGE_SIZE, (r.base + r.size) / PAGE_SIZE);
    }
    this.memblock._retire();
  }

  /**
   * Hands a reserved range back to the page allocator as pageblocks of type `mt` (used by CMA's
   * `cma_init_reserved_areas`: MIGRATE_CMA). The range must be pageblock-aligned for CMA.
   */
  releaseReserved(base: number, size: number, mt: number): void {
    const f = this.frames;
    const first = base / PAGE_SIZE;
    for (let p = first; p < first + size / PAGE_SIZE; p++) {
      const i = f.index(p);
      if ((f.flags[i]! & PG_reserved) === 0) {
        throw new KernelError(
          "EINVAL",
          `release: pfn ${hex(p)} of [${hex(base)}, +${hex(size)}) is not reserved`,
        );
      }
    }
    this.buddy.releaseRange(first, first + size / PAGE_SIZE, mt);
  }

  /** A new user address space (a process's mm_struct). */
  createUserSpace(name: string): AddressSpace {
    return new AddressSpace(this, name, USER_LO, TASK_SIZE);
  }

  /** Live address spaces (the kernel's included). */
  get spaces(): readonly AddressSpace[] {
    return [...this.#spaces];
  }

  // ---- hooks -------------------------------------------------------------------------------

  /** Plugs in the CPU cache maintenance mm needs (one implementation at a time). */
  setCacheOps(ops: CpuCacheOps | null): void {
    this.hooks.cache = ops;
  }

  /** Adds a DMA observer; returns the function that removes it. */
  addDmaObserver(o: DmaObserver): () => void {
    this.hooks.dma.push(o);
    return () => {
      const i = this.hooks.dma.indexOf(o);
      if (i >= 0) this.hooks.dma.splice(i, 1);
    };
  }

  /**
   * Adds a mapping observer; it is first told of every existing mapping (the linear map and each
   * VMA), then of every change. Returns the function that removes it.
   */
  addMappingObserver(o: MappingObserver): () => void {
    const lm = this.kspace.linearMt;
    const base = this.frames.basePfn;
    const site = { space: "kernel", name: "linear map" };
    for (let i = 0; i < lm.length; ) {
      const mt = lm[i]!;
      let n = 1;
      while (i + n < lm.length && lm[i + n] === mt) n++;
      if (mt !== MT_NONE) o.onMapChange(base + i, n, mt, 1, site);
      i += n;
    }
    for (const s of this.#spaces) s._replay((pfn, count, mt, st) => o.onMapChange(pfn, count, mt, 1, st));
    this.hooks.mapping.push(o);
    return () => {
      const i = this.hooks.mapping.indexOf(o);
      if (i >= 0) this.hooks.mapping.splice(i, 1);
    };
  }

  /** @internal */
  _notifyMap(pfn: number, count: number, mt: number, delta: 1 | -1, site: MappingSite): void {
    const obs = this.hooks.mapping;
    for (let i = 0; i < obs.length; i++) obs[i]!.onMapChange(pfn, count, mt, delta, site);
  }

  /** @internal */
  _registerSpace(s: AddressSpace): void {
    this.#spaces.add(s);
  }

  /** @internal */
  _unregisterSpace(s: AddressSpace): void {
    this.#spaces.delete(s);
  }

  // ---- reverse map of movable pages --------------------------------------------------------

  /** @internal */
  _rmapAdd(pfn: number, vma: Vma, index: number): void {
    const l = this.#rmap.get(pfn);
    if (l) l.push({ vma, index });
    else this.#rmap.set(pfn, [{ vma, index }]);
  }

  /** @internal */
  _rmapDel(pfn: number, vma: Vma, index: number): void {
    const l = this.#rmap.get(pfn);
    if (!l) return;
    const i = l.findIndex((e) => e.vma === vma && e.index === index);
    if (i >= 0) l.splice(i, 1);
    if (l.length === 0) this.#rmap.delete(pfn);
  }

  /** @internal a split moved page `index` of `from` to page `toIndex` of `to` */
  _rmapMove(pfn: number, from: Vma, index: number, to: Vma, toIndex: number): void {
    const e = this.#rmap.get(pfn)?.find((x) => x.vma === from && x.index === index);
    if (e) {
      e.vma = to;
      e.index = toIndex;
    }
  }

  /** @internal migration: every mapping of `src` now maps `dst` */
  _rmapMigrate(src: number, dst: number): void {
    const l = this.#rmap.get(src);
    if (!l) return;
    this.#rmap.delete(src);
    for (const e of l) e.vma.space._repoint(e.vma, e.index, dst);
    this.#rmap.set(dst, l);
  }

  /** The mappings of a movable page (tests, reports). */
  rmapOf(pfn: number): readonly RmapEntry[] {
    return this.#rmap.get(pfn) ?? [];
  }

  // ---- trace -------------------------------------------------------------------------------

  /** @internal */
  _traceMap(vma: Vma, map: boolean): void {
    if (this.#tp.vma.enabled) {
      this.#tp.vma.emit({
        space: vma.space.name,
        start: vma.start,
        end: vma.end,
        memtype: MEMTYPES[vma.memtype]!,
        name: vma.name,
        map,
      });
    }
  }

  /** @internal */
  _traceGup(space: AddressSpace, uaddr: number, size: number, n: number, pin: boolean, hold: boolean): void {
    if (this.#tp.gup.enabled) this.#tp.gup.emit({ space: space.name, uaddr, size, nr_pages: n, pin, hold });
  }

  /** @internal */
  _traceDma(dev: { name: string }, daddr: number, size: number, write: boolean): void {
    if (this.#tp.dma.enabled)
      this.#tp.dma.emit({ device: dev.name, dir: write ? "write" : "read", daddr, size });
  }

  /** @internal */
  _traceBusError(dev: { name: string }, daddr: number, size: number, write: boolean): void {
    if (this.#tp.busError.enabled) {
      this.#tp.busError.emit({ device: dev.name, dir: write ? "write" : "read", daddr, size });
    }
  }

  /** @internal */
  _traceMigrate(startPfn: number, endPfn: number, migrated: number, failed: number): void {
    if (this.#tp.migrate.enabled) {
      this.#tp.migrate.emit({ start_pfn: startPfn, end_pfn: endPfn, nr_migrated: migrated, failed });
    }
  }

  // ---- stats -------------------------------------------------------------------------------

  /** /proc/meminfo-style numbers, in pages. */
  meminfo(): { totalPages: number; freePages: number; reservedPages: number; cmaFreePages: number } {
    const f = this.frames;
    let reserved = 0;
    for (let i = 0; i < f.count; i++) if (f.flags[i]! & PG_reserved) reserved++;
    return {
      totalPages: this.phys.totalSize / PAGE_SIZE,
      freePages: this.#buddy?.nrFreePages ?? 0,
      reservedPages: reserved,
      cmaFreePages: this.#buddy?.freePagesOfType(MIGRATE_CMA) ?? 0,
    };
  }
}

/** Creates a kernel's memory management (memblock stage) and stores it in the kernel. */
export function mmInit(kernel: Kernel, opts: MmOpts): Mm {
  const mm = new Mm(kernel, opts);
  kernel.setSlot(MM, mm);
  return mm;
}

/** The `Mm` of `kernel` (a `KernelBug` when mmInit never ran). */
export function mmOf(kernel: Kernel): Mm {
  return kernel.slot(MM);
}
