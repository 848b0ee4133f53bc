/**
 * PMM's kernel API (`drivers/s3cmm/pmm.c`): `pmm_alloc` → physical start or 0 with a reference
 * count of 1, `pmm_get` / `pmm_put` by physical start, the type loop (lowest type bit first), and
 * what the pools hold.
 *
 * Areas come from each type's pool through mm-cma (`cmaAllocFromRegion` on a private region with
 * the RFC's allocator, see `pmmAllocator`). A `PMM_NO_CACHE` area's pages are also remapped
 * write-combined in the kernel linear map while it lives (after a flush), so that the
 * write-combined user mapping never aliases a cacheable one — the RFC left the linear map
 * cacheable, which ARMv6+ forbids.
 *
 * @module
 */
import { type Cpu, cpuOf } from "@umm/arch-arm";
import {
  ffs,
  hex,
  isPowerOfTwo,
  type Kernel,
  KernelBug,
  KernelError,
  Kref,
  PAGE_SIZE,
  pageAlign,
} from "@umm/kernel-core";
import { cmaAllocFromRegion, cmaFree } from "@umm/mm-cma";
import { mmOf } from "@umm/mm-core";
import { logOp, type PmmArea, type PmmState, type PmmType, pmmState, tryPmmState } from "./state.js";
import { PMM_ITEM_LAST, PMM_KNOWN_FLAGS, PMM_MAGIC, PMM_NO_CACHE, type PmmAreaInfo } from "./types.js";

/** @internal the kernel's CPU (cache model), or null when it has none */
export function cpuFor(kernel: Kernel): Cpu | null {
  if (!mmOf(kernel).hooks.cache) return null;
  try {
    return cpuOf(kernel);
  } catch (e) {
    if (e instanceof KernelBug) return null;
    throw e;
  }
}

/** Options of `allocArea`. */
export interface AllocAreaOpts {
  /** owner tag of the pages (default `pmm:<type>[:<comm>]`) */
  readonly owner?: string;
  /** a candidate area the caller cannot use (a device cannot reach it) is given back; next type */
  readonly accept?: (start: number, size: number) => boolean;
  /** bytes asked for, for the operation log (default `size`) */
  readonly requested?: number;
}

/** 0 or a power of two */
function isValidAlignment(alignment: number): boolean {
  return alignment === 0 || isPowerOfTwo(alignment);
}

/**
 * @internal `pmm_alloc`'s core: the type loop over `typeMask` (lowest bit first). Returns the
 * new area (refcount 1), or null when the request is invalid or nothing fits (logged as `f`).
 */
export function allocArea(
  st: PmmState,
  size: number,
  typeMask: number,
  flags: number,
  alignment: number,
  opts: AllocAreaOpts = {},
): PmmArea | null {
  const requested = opts.requested ?? size;
  const mask = (typeMask >>> 0) & st.typesMask;
  const valid = Number.isSafeInteger(size) && size > 0 && isValidAlignment(alignment) && mask !== 0;
  if (valid) {
    const sz = pageAlign(size);
    const al = Math.max(alignment, PAGE_SIZE);
    for (const t of st.types) {
      if ((t.bit & mask) === 0 || !t.region || t.region.free < sz) continue;
      let start: number;
      try {
        start = cmaAllocFromRegion(t.region, sz, al);
      } catch (e) {
        if (e instanceof KernelError && e.errno === "ENOMEM") continue;
        throw e;
      }
      if (opts.accept && !opts.accept(start, sz)) {
        cmaFree(st.kernel, start);
        continue;
      }
      return makeArea(st, t, start, sz, flags & PMM_KNOWN_FLAGS, requested, opts.owner);
    }
  }
  logOp(st, "f", requested, 0, 0);
  if (st.tp.failed.enabled) st.tp.failed.emit({ size: requested, type: typeMask >>> 0, alignment });
  return null;
}

function makeArea(
  st: PmmState,
  t: PmmType,
  start: number,
  size: number,
  flags: number,
  requested: number,
  ownerOpt: string | undefined,
): PmmArea {
  const kernel = st.kernel;
  const cur = kernel.current;
  const owner = ownerOpt ?? (cur.pid === 0 ? `pmm:${t.name}` : `pmm:${t.name}:${cur.comm}`);
  const pfn = start / PAGE_SIZE;
  const pages = size / PAGE_SIZE;
  st.mm.frames.setOwner(pfn, pages, owner);
  if (flags & PMM_NO_CACHE) {
    // no cacheable alias may survive: drop (writing back) what the last user left cached, then
    // map the linear map write-combined like the user mapping will be
    cpuFor(kernel)?.flushPhys(start, size);
    st.mm.kspace.setLinearMemtype(pfn, pages, "writecombine");
  }
  const last = start + size === t.region!.end ? PMM_ITEM_LAST : 0;
  const area: PmmArea = {
    start,
    size,
    type: t,
    flags: flags | last,
    requested,
    owner,
    kref: new Kref(() => freeArea(st, area), `pmm area ${hex(start)}`),
  };
  st.areas.set(start, area);
  logOp(st, "a", requested, size, start);
  if (st.tp.alloc.enabled) st.tp.alloc.emit({ paddr: start, size, type: t.bit, flags: area.flags });
  return area;
}

/** The area's last reference went: it becomes a hole (merged with its neighbours). */
function freeArea(st: PmmState, area: PmmArea): void {
  st.areas.delete(area.start);
  if (area.flags & PMM_NO_CACHE) {
    st.mm.kspace.setLinearMemtype(area.start / PAGE_SIZE, area.size / PAGE_SIZE, "cacheable");
  }
  cmaFree(st.kernel, area.start);
  logOp(st, "r", 0, area.size, area.start);
  if (st.tp.free.enabled) st.tp.free.emit({ paddr: area.start, size: area.size });
}

/** @internal takes a reference on `area` (`pmm_get`) */
export function areaGet(st: PmmState, area: PmmArea): void {
  area.kref.get();
  logOp(st, "g", 0, area.size, area.start);
  if (st.tp.get.enabled) st.tp.get.emit({ paddr: area.start, refcount: area.kref.count });
}

/** @internal drops a reference on `area` (`pmm_put`); the last frees it */
export function areaPut(st: PmmState, area: PmmArea): void {
  logOp(st, "p", 0, area.size, area.start);
  if (st.tp.put.enabled) st.tp.put.emit({ paddr: area.start, refcount: area.kref.count - 1 });
  area.kref.put();
}

/** @internal the output fields of `pmm_area_info` for `area` */
export function fillInfo(info: PmmAreaInfo, area: PmmArea): void {
  info.magic = PMM_MAGIC;
  info.size = area.size;
  info.type = area.type.bit;
  info.flags = area.flags >>> 0;
  info.alignment = 2 ** ffs(area.start);
}

/**
 * `pmm_alloc(info)`: an area of `info.size` bytes (page-aligned up) aligned to `info.alignment`
 * (a power of two, raised to 4 KiB; 0 means 4 KiB) from the first type in `info.type` (lowest
 * bit first) whose pool has room, with `info.flags & PMM_KNOWN_FLAGS`. Returns its physical
 * start with a reference count of 1, and fills `info` (magic, actual size, actual type, the raw
 * area flags — PMM_ITEM_LAST included when the area ends its pool — and the actual alignment:
 * the lowest set bit of the start). Returns 0 and leaves `info` alone when the request is
 * invalid (size 0, alignment not a power of two, no type the platform defines) or nothing fits.
 * EINVAL when `info` is not an object. A `KernelBug` before `pmmReserve`/`pmmInit`.
 */
export function pmmAlloc(kernel: Kernel, info: PmmAreaInfo): number {
  const st = pmmState(kernel);
  if (typeof info !== "object" || info === null) {
    throw new KernelError("EINVAL", "pmm_alloc: info is not a struct pmm_area_info");
  }
  const area = allocArea(st, info.size, info.type, info.flags >>> 0, info.alignment);
  if (!area) return 0;
  fillInfo(info, area);
  return area.start;
}

function areaAt(st: PmmState, paddr: number, what: string): PmmArea {
  const area = st.areas.get(paddr);
  if (!area) throw new KernelError("ENOENT", `${what}: ${hex(paddr)} is not the start of an area`);
  return area;
}

/**
 * `pmm_get(paddr)`: takes a reference on the area starting at `paddr`. ENOENT when no area
 * starts there (a hole, the middle of an area, outside the pools).
 */
export function pmmGet(kernel: Kernel, paddr: number): void {
  const st = pmmState(kernel);
  areaGet(st, areaAt(st, paddr, "pmm_get"));
}

/**
 * `pmm_put(paddr)`: drops a reference on the area starting at `paddr`; the last one frees it
 * (it becomes a hole, merged with its neighbours). `paddr == 0` does nothing. ENOENT when no
 * area starts there.
 */
export function pmmPut(kernel: Kernel, paddr: number): void {
  if (paddr === 0) return;
  const st = pmmState(kernel);
  areaPut(st, areaAt(st, paddr, "pmm_put"));
}

/** What `pmmAreaAt` reports about an area. */
export interface PmmAreaDesc {
  /** physical start */
  readonly start: number;
  /** bytes */
  readonly size: number;
  /** type bit */
  readonly type: number;
  /** raw area flags */
  readonly flags: number;
  /** references held now */
  readonly refcount: number;
  /** owner tag of its pages */
  readonly owner: string;
}

/**
 * The area holding physical address `paddr` (anywhere inside it), or null: how a driver tells a
 * PMM buffer from other memory (the review's `isPMM()`).
 */
export function pmmAreaAt(kernel: Kernel, paddr: number): PmmAreaDesc | null {
  const st = tryPmmState(kernel);
  if (!st) return null;
  for (const t of st.types) {
    if (!t.region || paddr < t.base || paddr >= t.base + t.size) continue;
    for (const a of st.areas.values()) {
      if (paddr >= a.start && paddr < a.start + a.size) {
        return {
          start: a.start,
          size: a.size,
          type: a.type.bit,
          flags: a.flags,
          refcount: a.kref.count,
          owner: a.owner,
        };
      }
    }
  }
  return null;
}
