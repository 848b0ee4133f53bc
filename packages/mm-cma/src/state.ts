/**
 * Per-kernel CMA state (what the kernel keeps in `cma_regions`, `cma_allocators`, `cma_map`,
 * `cma_chunks_by_start`, `cma_areas[]`, `dma_contiguous_default_area`, the early-region list and
 * the command-line parameters), stored in a kernel slot, and `cmaInit`.
 *
 * @module
 */
import {
  defineSlot,
  type FaultSite,
  faultSite,
  type Kernel,
  KernelBug,
  KernelError,
  PAGE_SIZE,
  type Tracepoint,
} from "@umm/kernel-core";
import { type Mm, mmOf } from "@umm/mm-core";
import { bestFitAllocator } from "./allocators/best-fit.js";
import { bitmapAllocator } from "./allocators/bitmap.js";
import type { CmaMap } from "./map.js";
import type { CmaAllocator } from "./ops.js";
import { type CmaCmdline, parseCmaCmdline } from "./params.js";
import { type CmaLiveChunk, CmaRegion } from "./region.js";
import "./trace.js";
import { CONFIG_CMA_ALIGNMENT, CONFIG_CMA_AREAS, CONFIG_CMA_SIZE_MBYTES } from "./types.js";

/** Options of `cmaInit` (the Kconfig choices and the command line). */
export interface CmaOpts {
  /** kernel command line: `cma=` (2010 regions or merged default area) and `cma.map=` */
  readonly cmdline?: string;
  /** `CONFIG_CMA_AREAS`: most merged areas (default 7) */
  readonly maxAreas?: number;
  /** `CONFIG_CMA_SIZE_MBYTES`: default-area size in MiB when `cma=` is absent (default 16; 0: none) */
  readonly sizeMbytes?: number;
  /** `CONFIG_CMA_ALIGNMENT`: largest order `dmaAllocFromContiguous` aligns to (2..12, default 8) */
  readonly alignmentOrder?: number;
  /** register the built-in allocators "bf" (first, hence the default) and "bitmap" (default true) */
  readonly builtinAllocators?: boolean;
}

/** A debugfs `alloc` entry: what the `free` file pops. */
export interface CmaDebugEntry {
  pfn: number;
  count: number;
}

/** @internal the state of one kernel's CMA */
export interface CmaState {
  readonly kernel: Kernel;
  readonly mm: Mm;
  readonly maxAreas: number;
  readonly sizeMbytes: number;
  readonly alignmentOrder: number;
  readonly cmdline: CmaCmdline;
  /** registered allocators, first = default */
  readonly allocators: CmaAllocator[];
  /** registered regions: named first (most recently registered first), private last */
  readonly regions: CmaRegion[];
  /** 2010 early regions waiting for `cmaInitReservedAreas` */
  readonly early: CmaRegion[];
  /** merged areas (`cma_areas[]`) */
  readonly areas: CmaRegion[];
  /** the 2010 map (null: none) */
  map: CmaMap | null;
  /** `dma_contiguous_default_area` */
  defaultArea: CmaRegion | null;
  /** `core_initcall` ran */
  initcallDone: boolean;
  /** `cma_area_count` for unnamed areas */
  unnamed: number;
  /** debugfs `alloc` lists, per area (LIFO) */
  readonly debugLists: Map<CmaRegion, CmaDebugEntry[]>;
  /** the "cma" fault-injection site */
  readonly fault: FaultSite;
  readonly tp: {
    readonly start: Tracepoint<"cma_alloc_start">;
    readonly finish: Tracepoint<"cma_alloc_finish">;
    readonly busy: Tracepoint<"cma_alloc_busy_retry">;
    readonly release: Tracepoint<"cma_release">;
    readonly warn: Tracepoint<"cma_warn">;
  };
}

const CMA = defineSlot<CmaState>("cma");

/**
 * Creates the CMA state of `kernel` (which must have its mm, `mmInit`, and must not have booted
 * the buddy allocator yet if regions are to be declared): reads `cma=` / `cma.map=` from
 * `opts.cmdline` and registers the built-in allocators. EINVAL/ENOSPC for a bad command line or
 * bad options (nothing is created then). Calling any CMA function first creates the state with
 * default options; `cmaInit` after that is a `KernelBug`.
 */
export function cmaInit(kernel: Kernel, opts: CmaOpts = {}): void {
  const mm = mmOf(kernel);
  const maxAreas = opts.maxAreas ?? CONFIG_CMA_AREAS;
  if (!Number.isInteger(maxAreas) || maxAreas < 1) {
    throw new KernelError("EINVAL", `cmaInit: maxAreas ${maxAreas} must be a positive integer`);
  }
  const alignmentOrder = opts.alignmentOrder ?? CONFIG_CMA_ALIGNMENT;
  if (!Number.isInteger(alignmentOrder) || alignmentOrder < 2 || alignmentOrder > 12) {
    throw new KernelError("EINVAL", `cmaInit: alignmentOrder ${alignmentOrder} is not in 2..12`);
  }
  const sizeMbytes = opts.sizeMbytes ?? CONFIG_CMA_SIZE_MBYTES;
  if (!Number.isInteger(sizeMbytes) || sizeMbytes < 0) {
    throw new KernelError("EINVAL", `cmaInit: sizeMbytes ${sizeMbytes} must be a non-negative integer`);
  }
  const cmdline = parseCmaCmdline(opts.cmdline ?? "");
  const t = kernel.trace;
  const st: CmaState = {
    kernel,
    mm,
    maxAreas,
    sizeMbytes,
    alignmentOrder,
    cmdline,
    allocators: [],
    regions: [],
    early: [],
    areas: [],
    map: cmdline.map ?? null,
    defaultArea: null,
    initcallDone: false,
    unnamed: 0,
    debugLists: new Map(),
    fault: faultSite(kernel, "cma"),
    tp: {
      start: t.tracepoint("cma_alloc_start"),
      finish: t.tracepoint("cma_alloc_finish"),
      busy: t.tracepoint("cma_alloc_busy_retry"),
      release: t.tracepoint("cma_release"),
      warn: t.tracepoint("cma_warn"),
    },
  };
  if (opts.builtinAllocators !== false) st.allocators.push(bestFitAllocator, bitmapAllocator);
  // 2010 `cma=` regions are early regions, validated and rounded by the parser
  for (const d of cmdline.regions ?? []) {
    st.early.push(
      new CmaRegion({
        kernel,
        name: d.name ?? null,
        base: d.start ?? 0,
        size: d.size,
        alignment: d.alignment ?? PAGE_SIZE,
        reusable: false,
        orderPerBit: 0,
        allocName: d.allocName ?? null,
        alloc: null,
        origin: "2010",
      }),
    );
  }
  kernel.setSlot(CMA, st);
  kernel.onShutdown("cma", () => cmaShutdown(st));
}

/** @internal the CMA state of `kernel`, created with default options on first use */
export function cmaState(kernel: Kernel): CmaState {
  const st = kernel.trySlot(CMA);
  if (st) return st;
  cmaInit(kernel);
  return kernel.slot(CMA);
}

/** @internal emits `cma_warn` */
export function cmaWarn(st: CmaState, message: string): void {
  if (st.tp.warn.enabled) st.tp.warn.emit({ message });
}

/** Shutdown: every chunk still allocated is reported as a leak. */
function cmaShutdown(st: CmaState): void {
  const all = st.regions.flatMap((r) => r.chunks()).sort((a, b) => a.start - b.start);
  for (const c of all) {
    cmaWarn(
      st,
      `leak: ${c.owner} holds [0x${c.start.toString(16)}, +0x${c.size.toString(16)}) of ${c.region.label}`,
    );
  }
}

/** @internal the live chunk that starts exactly at `addr`, or undefined */
export function findChunk(st: CmaState, addr: number): CmaLiveChunk | undefined {
  for (const r of st.regions) {
    if (addr >= r._base && addr < r._base + r._size) return r._chunks.get(addr);
  }
  return undefined;
}

/** @internal the allocator of `name` (null: the default, i.e. the first registered) */
export function findAllocator(st: CmaState, name: string | null): CmaAllocator | null {
  if (name === null) return st.allocators[0] ?? null;
  return st.allocators.find((a) => a.name === name) ?? null;
}

/** @internal a registered named region by name (most recently registered first) */
export function findRegion(st: CmaState, name: string): CmaRegion | null {
  for (const r of st.regions) {
    if (r.name === null) break;
    if (r.name === name) return r;
  }
  return null;
}

/**
 * @internal attaches `region`'s allocator (`__cma_region_attach_alloc`): the preset one, else by
 * name, else the default. Returns false (and marks the region) when none can be attached.
 */
export function attachAllocator(st: CmaState, region: CmaRegion, preset: CmaAllocator | null): boolean {
  const alloc = preset ?? findAllocator(st, region._allocName);
  if (!alloc) {
    cmaWarn(st, `init: ${region.label}: ${region._allocName ?? "(default)"}: no such allocator`);
    region._attachFailed = true;
    return false;
  }
  region.priv = null;
  try {
    alloc.init?.(region);
  } catch (e) {
    cmaWarn(st, `init: ${region.label}: ${alloc.name ?? "(unnamed)"}: unable to initialise allocator: ${e}`);
    region.priv = null;
    region._attachFailed = true;
    if (e instanceof KernelError) return false;
    throw e;
  }
  region._alloc = alloc;
  region._attachFailed = false;
  return true;
}

/** @internal detaches `region`'s allocator (`__cma_region_detach_alloc`) */
export function detachAllocator(region: CmaRegion): void {
  const alloc = region._alloc;
  if (!alloc) return;
  if (region._users > 0) throw new KernelBug(`detach of ${region.label}'s allocator with live chunks`);
  alloc.cleanup?.(region);
  region._alloc = null;
  region.priv = null;
}

/** @internal adds a region to the registered list (named first, private last) */
export function listAdd(st: CmaState, region: CmaRegion): void {
  if (region.name !== null) st.regions.unshift(region);
  else st.regions.push(region);
  region._registered = true;
}
