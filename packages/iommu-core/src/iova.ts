/**
 * The IOVA allocator (drivers/iommu/iova.c, include/linux/iova.h): hands out ranges of IOVA page
 * frames top-down below a limit, with optional natural alignment, plus the per-CPU range caches
 * ("magazines") that make small allocations cheap. dma-iommu keeps one `IovaDomain` per DMA
 * domain; units are pfns of `granule` bytes.
 *
 * The index is the pfn space itself (`IovaSpace`): a sparse radix tree of allocation bitmaps
 * whose nodes know their longest free run, so the highest fit below the limit is found top-down
 * in a few levels, at a cost that does not grow with the number of live ranges.
 *
 * @module
 */
import {
  FAULT_SITE_OFF,
  type FaultSite,
  faultSite,
  hex,
  type Kernel,
  KernelBug,
  KernelError,
  type Tracepoint,
} from "@umm/kernel-core";
import { IovaSpace } from "./iova-space.js";
import "./trace.js";

/** Caches exist for sizes of 2^0 .. 2^(IOVA_RANGE_CACHE_MAX_SIZE - 1) pages (1 .. 32). */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
/** pfns per magazine (a magazine struct is 1 KiB in the kernel). */
export const IOVA_MAG_SIZE = 127;
/** Full magazines the depot of one size class holds before it returns them to the tree. */
export const MAX_GLOBAL_MAGS = 32;
/** pfn of the anchor range that terminates the tree (the kernel's IOVA_ANCHOR, ~0UL). */
export const IOVA_ANCHOR = Number.MAX_SAFE_INTEGER;

/** An allocated range of IOVA page frames, inclusive. */
export interface IovaRange {
  readonly pfnLo: number;
  readonly pfnHi: number;
}

/** What an IOVA domain holds (`iovaStats`). */
export interface IovaStats {
  /** ranges allocated (including those parked in the range caches) */
  readonly live: number;
  /** bytes those ranges cover */
  readonly bytes: number;
  /** ranges parked in the range caches, allocated in the tree but free for `allocIovaFast` */
  readonly cached: number;
}

/** An IOVA space (`struct iova_domain`), from `initIovaDomain`. */
export interface IovaDomain {
  /** bytes per IOVA page frame (a power of two, at most 4096) */
  readonly granule: number;
  /** log2(granule) */
  readonly shift: number;
  /** lowest pfn handed out (never below 1) */
  readonly startPfn: number;
  /** first pfn above 4 GiB of IOVA (`dma_32bit_pfn`) */
  readonly dma32bitPfn: number;
}

/** Options of `initIovaDomain`. */
export interface IovaDomainOpts {
  /** kernel whose trace bus gets `iova_alloc` / `iova_free` (default: none, nothing traced) */
  readonly kernel?: Kernel;
}

class Magazine {
  size = 0;
  readonly pfns = new Float64Array(IOVA_MAG_SIZE);
}

interface Rcache {
  loaded: Magazine;
  prev: Magazine;
  readonly depot: Magazine[];
}

class IovaDomainImpl implements IovaDomain {
  readonly granule: number;
  readonly shift: number;
  readonly startPfn: number;
  readonly dma32bitPfn: number;
  readonly tree = new IovaSpace();
  readonly rcaches: Rcache[] = [];
  /** pfns parked in the caches, to catch a double free */
  readonly cachedPfns = new Set<number>();
  livePages = 0;
  dead = false;
  readonly tpAlloc: Tracepoint<"iova_alloc"> | null;
  readonly tpFree: Tracepoint<"iova_free"> | null;
  /** the "iova" fault-injection site (none without a kernel) */
  readonly fault: FaultSite;

  constructor(granule: number, startPfn: number, kernel: Kernel | undefined) {
    this.granule = granule;
    this.shift = Math.log2(granule);
    this.startPfn = startPfn;
    this.dma32bitPfn = 2 ** (32 - this.shift);
    for (let i = 0; i < IOVA_RANGE_CACHE_MAX_SIZE; i++) {
      this.rcaches.push({ loaded: new Magazine(), prev: new Magazine(), depot: [] });
    }
    this.tpAlloc = kernel ? kernel.trace.tracepoint("iova_alloc") : null;
    this.tpFree = kernel ? kernel.trace.tracepoint("iova_free") : null;
    this.fault = kernel ? faultSite(kernel, "iova") : FAULT_SITE_OFF;
  }
}

function impl(iovad: IovaDomain): IovaDomainImpl {
  if (!(iovad instanceof IovaDomainImpl)) throw new KernelBug("not an IovaDomain from initIovaDomain");
  if (iovad.dead) throw new KernelBug("IOVA domain used after putIovaDomain");
  return iovad;
}

function checkPfn(x: number, name: string): void {
  if (!Number.isSafeInteger(x) || x < 0) throw new KernelError("EINVAL", `${name} ${String(x)} is not a pfn`);
}

function checkPages(x: number): void {
  if (!Number.isSafeInteger(x) || x <= 0) {
    throw new KernelError("EINVAL", `size ${String(x)} is not a positive number of pages`);
  }
}

function roundupPow2(x: number): number {
  let p = 1;
  while (p < x) p *= 2;
  return p;
}

/** `order_base_2`: ceil(log2(x)) for x >= 1. */
function orderBase2(x: number): number {
  let o = 0;
  let p = 1;
  while (p < x) {
    p *= 2;
    o++;
  }
  return o;
}

/**
 * `init_iova_domain`: an empty IOVA space of `granule`-byte frames handing out pfns from
 * `startPfn` up (pfn 0 is never handed out, whatever `startPfn` says: an IOVA of 0 means failure
 * to dma-iommu). Throws EINVAL unless `granule` is a power of two of at most 4096 and
 * `startPfn` a non-negative integer.
 */
export function initIovaDomain(granule: number, startPfn: number, opts: IovaDomainOpts = {}): IovaDomain {
  if (!Number.isInteger(granule) || granule <= 0 || granule > 4096 || (granule & (granule - 1)) !== 0) {
    throw new KernelError("EINVAL", `granule ${String(granule)} is not a power of two of at most 4096`);
  }
  checkPfn(startPfn, "startPfn");
  if (startPfn >= IOVA_ANCHOR) throw new KernelError("EINVAL", `startPfn ${hex(startPfn)} is too high`);
  return new IovaDomainImpl(granule, startPfn, opts.kernel);
}

/** `iova_shift`: log2 of the granule. */
export function iovaShift(iovad: IovaDomain): number {
  return iovad.shift;
}

/** `iova_offset`: the offset of byte address `addr` inside its frame. */
export function iovaOffset(iovad: IovaDomain, addr: number): number {
  return addr % iovad.granule;
}

/** `iova_align`: `size` in bytes rounded up to whole frames. */
export function iovaAlign(iovad: IovaDomain, size: number): number {
  return Math.ceil(size / iovad.granule) * iovad.granule;
}

/** `iova_pfn`: the frame of byte address `addr`. */
export function iovaPfn(iovad: IovaDomain, addr: number): number {
  return Math.floor(addr / iovad.granule);
}

/** `iova_dma_addr`: the byte address of the first frame of `iova`. */
export function iovaDmaAddr(iovad: IovaDomain, iova: IovaRange): number {
  return iova.pfnLo * iovad.granule;
}

/** Tree allocation without tracing; the pfn, or -1. */
function allocRange(d: IovaDomainImpl, size: number, limitPfn: number, sizeAligned: boolean): number {
  const limitEx = Math.min(limitPfn, IOVA_ANCHOR - 1) + 1;
  const low = Math.max(d.startPfn, 1);
  const lo = d.tree.findFit(size, sizeAligned ? roundupPow2(size) : 1, low, limitEx);
  if (lo < 0) return -1;
  d.tree.insert(lo, lo + size - 1);
  d.livePages += size;
  return lo;
}

/**
 * `alloc_iova`: allocates `size` frames at the highest free place whose last frame is at most
 * `limitPfn` (inclusive) and whose first is at least `startPfn` (and 1); with `sizeAligned` the
 * first frame is a multiple of `size` rounded up to a power of two. Returns the range, or null
 * when no gap fits (the kernel's NULL). Throws EINVAL for a `size` that is not a positive integer
 * or a `limitPfn` that is not a non-negative integer.
 */
export function allocIova(
  iovad: IovaDomain,
  size: number,
  limitPfn: number,
  sizeAligned: boolean,
): IovaRange | null {
  const d = impl(iovad);
  checkPages(size);
  checkPfn(limitPfn, "limitPfn");
  if (d.fault.armed && d.fault.shouldFail()) return null;
  const lo = allocRange(d, size, limitPfn, sizeAligned);
  if (lo < 0) return null;
  if (d.tpAlloc?.enabled) d.tpAlloc.emit({ pfn_lo: lo, pfn_hi: lo + size - 1 });
  return { pfnLo: lo, pfnHi: lo + size - 1 };
}

/** Removes the range containing `pfn` from the tree (no trace); false when none. */
function removeRange(d: IovaDomainImpl, pfn: number): boolean {
  if (pfn >= IOVA_ANCHOR || !d.tree.remove(pfn)) return false;
  d.livePages -= d.tree.foundHi - d.tree.foundLo + 1;
  return true;
}

/**
 * `free_iova`: frees the range containing `pfn`; nothing happens when no range contains it (as
 * the kernel). Throws EINVAL for a `pfn` that is not a non-negative integer.
 */
export function freeIova(iovad: IovaDomain, pfn: number): void {
  const d = impl(iovad);
  checkPfn(pfn, "pfn");
  if (d.cachedPfns.has(pfn))
    throw new KernelBug(`freeIova of pfn ${hex(pfn)}, which sits in the range cache`);
  if (!removeRange(d, pfn)) return;
  if (d.tpFree?.enabled) d.tpFree.emit({ pfn_lo: d.tree.foundLo, pfn_hi: d.tree.foundHi });
}

/** `find_iova`: the allocated range containing `pfn`, or null. */
export function findIova(iovad: IovaDomain, pfn: number): IovaRange | null {
  const d = impl(iovad);
  checkPfn(pfn, "pfn");
  if (pfn >= IOVA_ANCHOR) return null;
  return d.tree.find(pfn) ? { pfnLo: d.tree.foundLo, pfnHi: d.tree.foundHi } : null;
}

/**
 * `reserve_iova`: takes `[pfnLo, pfnHi]` out of allocation (a hardware window, an MSI doorbell).
 * Ranges it overlaps are extended down to cover it and the rest is inserted, so that the whole
 * span ends up allocated. Returns the range that covers `pfnHi`. Throws EINVAL for bounds that
 * are not pfns, reversed, or reach the anchor.
 */
export function reserveIova(iovad: IovaDomain, pfnLo: number, pfnHi: number): IovaRange {
  const d = impl(iovad);
  checkPfn(pfnLo, "pfnLo");
  checkPfn(pfnHi, "pfnHi");
  if (pfnLo > pfnHi) throw new KernelError("EINVAL", `pfnLo ${hex(pfnLo)} is above pfnHi ${hex(pfnHi)}`);
  if (pfnHi >= IOVA_ANCHOR) throw new KernelError("EINVAL", `pfnHi ${hex(pfnHi)} is too high`);
  const t = d.tree;
  let lo = pfnLo;
  while (t.firstEndingAtOrAfter(lo) && t.foundLo <= pfnHi) {
    const xlo = t.foundLo;
    const xhi = t.foundHi;
    if (lo < xlo) {
      t.extendDown(xlo, lo);
      d.livePages += xlo - lo;
    }
    if (pfnHi <= xhi) return { pfnLo: Math.min(lo, xlo), pfnHi: xhi };
    lo = xhi + 1;
  }
  t.insert(lo, pfnHi);
  d.livePages += pfnHi - lo + 1;
  return { pfnLo: lo, pfnHi };
}

/**
 * `put_iova_domain`: frees every range and the caches. Using the domain afterwards is a
 * `KernelBug`.
 */
export function putIovaDomain(iovad: IovaDomain): void {
  const d = impl(iovad);
  d.tree.clear();
  d.cachedPfns.clear();
  d.rcaches.length = 0;
  d.livePages = 0;
  d.dead = true;
}

/** What the domain holds: live ranges (the anchor excluded), their bytes, ranges in the caches. */
export function iovaStats(iovad: IovaDomain): IovaStats {
  const d = impl(iovad);
  return { live: d.tree.size, bytes: d.livePages * d.granule, cached: d.cachedPfns.size };
}

// ---- range caches ----

/** Returns every pfn of `mag` to the tree and empties it. */
function magazineFreePfns(d: IovaDomainImpl, mag: Magazine): void {
  for (let i = 0; i < mag.size; i++) {
    const pfn = mag.pfns[i] as number;
    d.cachedPfns.delete(pfn);
    if (!removeRange(d, pfn)) throw new KernelBug(`cached IOVA pfn ${hex(pfn)} is not in the tree`);
  }
  mag.size = 0;
}

/** Parks `pfn` in the cache of its size class; false when the size is not cached. */
function rcacheInsert(d: IovaDomainImpl, pfn: number, size: number): boolean {
  const log = orderBase2(size);
  if (log >= IOVA_RANGE_CACHE_MAX_SIZE) return false;
  const rc = d.rcaches[log] as Rcache;
  let toFree: Magazine | null = null;
  if (rc.loaded.size === IOVA_MAG_SIZE) {
    if (rc.prev.size < IOVA_MAG_SIZE) {
      const t = rc.loaded;
      rc.loaded = rc.prev;
      rc.prev = t;
    } else {
      if (rc.depot.length < MAX_GLOBAL_MAGS) rc.depot.push(rc.loaded);
      else toFree = rc.loaded;
      rc.loaded = new Magazine();
    }
  }
  rc.loaded.pfns[rc.loaded.size++] = pfn;
  d.cachedPfns.add(pfn);
  if (toFree) magazineFreePfns(d, toFree);
  return true;
}

/** A cached pfn of `size` frames whose last frame is below `limitEx`, or 0. */
function rcacheGet(d: IovaDomainImpl, size: number, limitEx: number): number {
  const log = orderBase2(size);
  if (log >= IOVA_RANGE_CACHE_MAX_SIZE) return 0;
  const rc = d.rcaches[log] as Rcache;
  if (rc.loaded.size === 0) {
    if (rc.prev.size > 0) {
      const t = rc.loaded;
      rc.loaded = rc.prev;
      rc.prev = t;
    } else {
      const full = rc.depot.pop();
      if (!full) return 0;
      rc.loaded = full;
    }
  }
  // Only fall back to the tree when the magazine has no pfn low enough at all.
  const mag = rc.loaded;
  const limit = limitEx - size;
  let i = mag.size - 1;
  while (i >= 0 && (mag.pfns[i] as number) > limit) i--;
  if (i < 0) return 0;
  const pfn = mag.pfns[i] as number;
  mag.pfns[i] = mag.pfns[--mag.size] as number;
  d.cachedPfns.delete(pfn);
  return pfn;
}

function flushRcaches(d: IovaDomainImpl): void {
  for (const rc of d.rcaches) {
    magazineFreePfns(d, rc.loaded);
    magazineFreePfns(d, rc.prev);
    for (const mag of rc.depot) magazineFreePfns(d, mag);
    rc.depot.length = 0;
  }
}

/**
 * `free_cpu_cached_iovas`: returns the ranges parked in the CPU's loaded and previous magazines
 * to the tree (umm has one CPU).
 */
export function freeCpuCachedIovas(iovad: IovaDomain): void {
  const d = impl(iovad);
  for (const rc of d.rcaches) {
    magazineFreePfns(d, rc.loaded);
    magazineFreePfns(d, rc.prev);
  }
}

/**
 * `alloc_iova_fast`: allocates `size` frames (sizes below 32 rounded up to a power of two),
 * naturally aligned, ending at most at `limitPfn`: from the range cache when it has one, else
 * from the tree; when that fails and `flushRcache` is set, returns every cached range to the tree
 * and tries once more. Returns the first pfn, or 0 on failure (the kernel's sentinel). Throws
 * EINVAL for a `size` or `limitPfn` that is not a positive / non-negative integer.
 */
export function allocIovaFast(
  iovad: IovaDomain,
  size: number,
  limitPfn: number,
  flushRcache: boolean,
): number {
  const d = impl(iovad);
  checkPages(size);
  checkPfn(limitPfn, "limitPfn");
  if (d.fault.armed && d.fault.shouldFail()) return 0;
  // Caching non-power-of-two sizes would hand a short range out for a longer request later.
  if (size < 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1)) size = roundupPow2(size);
  const limit = Math.min(limitPfn, IOVA_ANCHOR - 1);
  let pfn = rcacheGet(d, size, limit + 1);
  if (pfn === 0) {
    pfn = allocRange(d, size, limit, true);
    if (pfn < 0 && flushRcache) {
      flushRcaches(d);
      pfn = allocRange(d, size, limit, true);
    }
    if (pfn < 0) return 0;
  }
  if (d.tpAlloc?.enabled) d.tpAlloc.emit({ pfn_lo: pfn, pfn_hi: pfn + size - 1 });
  return pfn;
}

/**
 * `free_iova_fast`: frees what `allocIovaFast(size)` returned at `pfn`: parked in the range cache
 * for sizes up to 32 frames, else freed in the tree. Freeing a pfn that does not start a live
 * range of that size, or that is already cached, is a `KernelBug` (the kernel would corrupt its
 * cache). Throws EINVAL for arguments that are not integers.
 */
export function freeIovaFast(iovad: IovaDomain, pfn: number, size: number): void {
  const d = impl(iovad);
  checkPfn(pfn, "pfn");
  checkPages(size);
  if (d.cachedPfns.has(pfn)) throw new KernelBug(`freeIovaFast of pfn ${hex(pfn)} twice (already cached)`);
  if (!(pfn < IOVA_ANCHOR && d.tree.find(pfn)) || d.tree.foundLo !== pfn)
    throw new KernelBug(`freeIovaFast of pfn ${hex(pfn)}, not the start of a live IOVA`);
  const have = d.tree.foundHi - pfn + 1;
  const want = size < 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1) ? roundupPow2(size) : size;
  if (have !== want) {
    throw new KernelBug(`freeIovaFast of pfn ${hex(pfn)} with size ${size}: the range has ${have} frames`);
  }
  if (d.tpFree?.enabled) d.tpFree.emit({ pfn_lo: pfn, pfn_hi: pfn + have - 1 });
  if (!rcacheInsert(d, pfn, size)) removeRange(d, pfn);
}

/** @internal the index behind a domain, for invariant checks in tests */
export function iovaTreeOf(iovad: IovaDomain): IovaSpace {
  return impl(iovad).tree;
}
