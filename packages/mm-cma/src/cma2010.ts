/**
 * The 2010 framework API (RFCv6 `include/linux/cma.h`, `mm/cma.c`): named regions reserved at
 * boot, a map from (device, type) to an ordered list of regions, private regions, pluggable
 * allocators, early regions and platform defaults. Functions that use a global in the kernel take
 * the kernel first (`cmaAllocFrom(kernel, "reg1,reg2", size, alignment)`, `cmaFree(kernel, addr)`).
 *
 * Errors are thrown in the kernel's order: EINVAL for a null device, a zero size or an alignment
 * that is not a power of two; ENOENT when no map is set or no rule matches; ENOMEM when every
 * listed region failed.
 *
 * @module
 */
import {
  alignUp,
  type Device,
  hex,
  isPowerOfTwo,
  type Kernel,
  KernelError,
  PAGE_SIZE,
  pageAlign,
} from "@umm/kernel-core";
import { activateRegion, regionZonesValid } from "./activate.js";
import { freeChunk, isReservedMemory, regionAlloc } from "./alloc.js";
import { type CmaMap, cmaMapLookup, parseCmaMap } from "./map.js";
import type { CmaAllocator } from "./ops.js";
import { CmaRegion } from "./region.js";
import {
  attachAllocator,
  type CmaState,
  cmaState,
  cmaWarn,
  detachAllocator,
  findChunk,
  findRegion,
  listAdd,
} from "./state.js";
import {
  CMA_DEFAULT_TYPE,
  CMA_MIN_ALIGNMENT_BYTES,
  type CmaInfo,
  type CmaRegionDesc,
  DMA_ADDR_LIMIT,
} from "./types.js";

/** Checks a 2010 size/alignment pair; returns them rounded (PAGE_ALIGN, max(alignment, PAGE_SIZE)). */
export function checkSizeAlign(size: number, alignment: number, what: string): [number, number] {
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new KernelError("EINVAL", `${what}: size ${size} must be a positive number of bytes`);
  }
  if (!Number.isSafeInteger(alignment) || alignment < 0 || (alignment !== 0 && !isPowerOfTwo(alignment))) {
    throw new KernelError("EINVAL", `${what}: alignment ${alignment} is not a power of two (or 0)`);
  }
  return [pageAlign(size), Math.max(alignment, PAGE_SIZE)];
}

/** The region names of the first map rule matching `dev` and `type` (`__cma_where_from`). */
function whereFrom(st: CmaState, dev: Device, type: string | null): readonly string[] {
  const t = type ?? CMA_DEFAULT_TYPE;
  if (!st.map) throw new KernelError("ENOENT", `no CMA map is set (device ${dev.name}, type "${t}")`);
  const rule = cmaMapLookup(st.map, dev.name, t);
  if (!rule)
    throw new KernelError("ENOENT", `no rule of the CMA map matches device ${dev.name}, type "${t}"`);
  return rule.regions;
}

/** Splits a region list: comma-separated names, ended by the string's end or `;`. */
function regionList(regions: string): string[] {
  return (regions.split(";")[0] ?? "").split(",");
}

/** Tries `names` left to right (unknown names skipped); returns the chunk start or throws ENOMEM. */
function allocFromList(
  st: CmaState,
  names: readonly string[],
  size: number,
  alignment: number,
  owner: (r: CmaRegion) => string,
  what: string,
): number {
  for (const name of names) {
    const reg = findRegion(st, name);
    if (!reg) continue;
    const out = regionAlloc(st, reg, size, alignment, owner(reg));
    if (typeof out !== "string") return out.start;
  }
  throw new KernelError(
    "ENOMEM",
    `${what}: no region of "${names.join(",")}" has ${hex(size)} bytes aligned to ${hex(alignment)}`,
  );
}

/**
 * `cma_alloc(dev, type, size, alignment)` of the 2010 framework (use the overloaded `cmaAlloc`):
 * a chunk for `dev` from the regions of the first map rule matching `dev`'s name and `type`
 * (null: "common"), tried left to right. Returns the chunk's physical start.
 * @internal
 */
export function cmaAllocDev(
  dev: Device | null,
  type: string | null,
  size: number,
  alignment: number,
): number {
  if (!dev) throw new KernelError("EINVAL", "cma_alloc: dev is NULL");
  const [sz, al] = checkSizeAlign(size, alignment, "cma_alloc");
  const st = cmaState(dev.kernel);
  const names = whereFrom(st, dev, type);
  const t = type ?? CMA_DEFAULT_TYPE;
  const suffix = t === CMA_DEFAULT_TYPE ? "" : `/${t}`;
  return allocFromList(
    st,
    names,
    sz,
    al,
    (r) => `cma:${r.label}:${dev.name}${suffix}`,
    `cma_alloc(${dev.name})`,
  );
}

/**
 * `cma_alloc_from(regions, size, alignment)`: a chunk from the first of the comma-separated
 * `regions` (ended by the end or `;`) that has room. EINVAL for a bad size/alignment, ENOMEM when
 * none has room.
 */
export function cmaAllocFrom(kernel: Kernel, regions: string, size: number, alignment: number): number {
  if (typeof regions !== "string") throw new KernelError("EINVAL", "cma_alloc_from: regions is NULL");
  const [sz, al] = checkSizeAlign(size, alignment, "cma_alloc_from");
  const st = cmaState(kernel);
  return allocFromList(st, regionList(regions), sz, al, (r) => r._owner, "cma_alloc_from");
}

/**
 * `cma_alloc_from_region(reg, size, alignment)`: a chunk from `region` itself (the only way to
 * reach a private region). EINVAL for a bad size/alignment or an unregistered region; ENOMEM
 * when it has no room.
 */
export function cmaAllocFromRegion(region: CmaRegion, size: number, alignment: number): number {
  const [sz, al] = checkSizeAlign(size, alignment, "cma_alloc_from_region");
  if (!region) throw new KernelError("EINVAL", "cma_alloc_from_region: region is NULL");
  if (!region._registered) {
    throw new KernelError("EINVAL", `cma_alloc_from_region: region ${region} is not registered`);
  }
  const st = cmaState(region.kernel);
  const out = regionAlloc(st, region, sz, al, region._owner);
  if (typeof out === "string") {
    throw new KernelError(
      "ENOMEM",
      `cma_alloc_from_region: ${region.label} has no ${hex(sz)} bytes aligned to ${hex(al)}`,
    );
  }
  return out.start;
}

/**
 * `cma_free(addr)`: frees the chunk that starts exactly at `addr` (of either API). ENOENT, with a
 * `cma_warn`, when no chunk starts there; nothing changes then.
 */
export function cmaFree(kernel: Kernel, addr: number): void {
  const st = cmaState(kernel);
  const c = findChunk(st, addr);
  if (!c) {
    cmaWarn(st, `free(${hex(addr)}): not found`);
    throw new KernelError("ENOENT", `cma_free: ${hex(addr)} is not the start of a chunk`);
  }
  freeChunk(st, c);
}

function infoOf(st: CmaState, names: readonly string[]): CmaInfo {
  let lower = Number.POSITIVE_INFINITY;
  let upper = 0;
  let total = 0;
  let free = 0;
  let count = 0;
  for (const name of names) {
    const r = findRegion(st, name);
    if (!r) continue;
    total += r.size;
    free += r.free;
    lower = Math.min(lower, r.base);
    upper = Math.max(upper, r.end);
    count++;
  }
  return {
    lowerBound: count ? lower : 0,
    upperBound: upper,
    totalSize: total,
    freeSize: free,
    count,
  };
}

/**
 * `cma_info(info, dev, type)`: bounds, total and free bytes, and the number of the regions the
 * first rule matching `dev`/`type` lists (unknown names skipped). EINVAL for a null device;
 * ENOENT without a map or a matching rule.
 */
export function cmaInfo(dev: Device | null, type: string | null = null): CmaInfo {
  if (!dev) throw new KernelError("EINVAL", "cma_info: dev is NULL");
  const st = cmaState(dev.kernel);
  return infoOf(st, whereFrom(st, dev, type));
}

/** `cma_info_about(info, regions)`: `cmaInfo` over a comma-separated region list. */
export function cmaInfoAbout(kernel: Kernel, regions: string): CmaInfo {
  if (typeof regions !== "string") throw new KernelError("EINVAL", "cma_info_about: regions is NULL");
  return infoOf(cmaState(kernel), regionList(regions));
}

// ---- regions ----------------------------------------------------------------------------------

/** A registered region or merged area overlapping `[base, base + size)`, other than `self`. */
export function overlapping(st: CmaState, base: number, size: number, self?: CmaRegion): CmaRegion | null {
  for (const r of [...st.regions, ...st.areas]) {
    if (r === self || r.count === 0) continue;
    if (r.base < base + size && base < r.end) return r;
  }
  return null;
}

/**
 * `cma_region_register(reg)`: makes a region over memory that is already reserved (a carve-out,
 * a no-map range) available for allocation and returns it. A named region becomes reachable
 * through the map; a private one only through `cmaAllocFromRegion`. EINVAL for a zero or
 * unaligned size or start, an overflowing range, memory the page allocator owns, or a reusable
 * region not made of whole pageblocks; EADDRINUSE when it overlaps a registered region; the
 * error of `desc.alloc.init` when it refuses the region. A reusable region registered after boot
 * is handed to the page allocator as MIGRATE_CMA at once.
 */
export function cmaRegionRegister(kernel: Kernel, desc: CmaRegionDesc): CmaRegion {
  const st = cmaState(kernel);
  const start = desc.start ?? 0;
  const size = desc.size;
  const what = `cma_region_register(${desc.name ?? "(private)"})`;
  if (!Number.isSafeInteger(size) || size <= 0 || !Number.isSafeInteger(start) || start < 0) {
    throw new KernelError("EINVAL", `${what}: size ${size} / start ${start} must be positive integers`);
  }
  if (start + size > DMA_ADDR_LIMIT) {
    throw new KernelError("EINVAL", `${what}: [${hex(start)}, +${hex(size)}) overflows the bus`);
  }
  if (start % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) {
    throw new KernelError("EINVAL", `${what}: [${hex(start)}, +${hex(size)}) is not page-aligned`);
  }
  const reusable = desc.reusable ?? false;
  if (reusable && (start % CMA_MIN_ALIGNMENT_BYTES !== 0 || size % CMA_MIN_ALIGNMENT_BYTES !== 0)) {
    throw new KernelError("EINVAL", `${what}: a reusable region must be made of whole 4 MiB pageblocks`);
  }
  const opb = desc.orderPerBit ?? 0;
  if (!Number.isInteger(opb) || opb < 0 || opb > 20) {
    throw new KernelError("EINVAL", `${what}: order_per_bit ${opb} is out of range`);
  }
  const other = overlapping(st, start, size);
  if (other) throw new KernelError("EADDRINUSE", `${what}: [${hex(start)}, +${hex(size)}) overlaps ${other}`);
  if (!isReservedMemory(st.mm, start, size)) {
    throw new KernelError("EINVAL", `${what}: [${hex(start)}, +${hex(size)}) is not reserved memory`);
  }
  const region = new CmaRegion({
    kernel,
    name: desc.name ?? null,
    base: start,
    size,
    alignment: desc.alignment ?? PAGE_SIZE,
    reusable,
    orderPerBit: opb,
    allocName: desc.allocName ?? desc.alloc?.name ?? null,
    alloc: null,
    origin: "2010",
  });
  if (reusable && st.mm.booted && !regionZonesValid(st, region)) {
    throw new KernelError("EINVAL", `${what}: a reusable region must lie in one zone`);
  }
  if (desc.alloc) {
    desc.alloc.init?.(region); // throws to refuse: nothing registered
    region._alloc = desc.alloc;
  }
  region._reserved = true;
  const booted = st.mm.booted;
  region._resTag = (booted && st.mm.frames.ownerOf(region.basePfn)) || `cma:${region.label}`;
  if (reusable && booted) activateRegion(st, region);
  listAdd(st, region);
  return region;
}

/**
 * `cma_region_unregister(reg)`: takes a region out of use. EBUSY while it holds chunks; EINVAL
 * when it is not registered or is an activated reusable area (merged CMA areas live forever).
 */
export function cmaRegionUnregister(region: CmaRegion): void {
  if (!region._registered)
    throw new KernelError("EINVAL", `cma_region_unregister: ${region} is not registered`);
  if (region._activated) {
    throw new KernelError(
      "EINVAL",
      `cma_region_unregister: ${region} is a CMA area; areas are never removed`,
    );
  }
  if (region._users > 0) {
    throw new KernelError("EBUSY", `cma_region_unregister: ${region} holds ${region._users} chunk(s)`);
  }
  const st = cmaState(region.kernel);
  detachAllocator(region);
  st.regions.splice(st.regions.indexOf(region), 1);
  region._registered = false;
}

/**
 * `cma_allocator_register(alloc)`: adds a placement algorithm. The first registered is the
 * default (the built-in "bf" unless `cmaInit` was told not to register built-ins). Registered
 * regions without an allocator that ask for this one by name — or ask for the default while this
 * is the first — get it attached now (also when an earlier attach failed for want of it); the
 * others attach at their first allocation. EINVAL without
 * `alloc`/`free`; EEXIST for an allocator or a name already registered.
 */
export function cmaAllocatorRegister(kernel: Kernel, alloc: CmaAllocator): void {
  if (!alloc || typeof alloc.alloc !== "function" || typeof alloc.free !== "function") {
    throw new KernelError("EINVAL", "cma_allocator_register: an allocator needs alloc and free");
  }
  const st = cmaState(kernel);
  if (st.allocators.includes(alloc) || (alloc.name && st.allocators.some((a) => a.name === alloc.name))) {
    throw new KernelError(
      "EEXIST",
      `cma_allocator_register: "${alloc.name ?? "(unnamed)"}" is already registered`,
    );
  }
  const first = st.allocators.length === 0;
  st.allocators.push(alloc);
  for (const r of st.regions) {
    if (r._alloc) continue;
    const wants = r._allocName !== null ? alloc.name === r._allocName : first;
    if (wants) attachAllocator(st, r, alloc);
  }
}

/** Names of the registered allocators, first (default) first; unnamed ones as "-". */
export function cmaAllocators(kernel: Kernel): string[] {
  return cmaState(kernel).allocators.map((a) => a.name ?? "-");
}

/** Registered regions: named ones first (most recently registered first), private ones last. */
export function cmaRegions(kernel: Kernel): readonly CmaRegion[] {
  return [...cmaState(kernel).regions];
}

/** A registered named region, or null. */
export function cmaRegionFind(kernel: Kernel, name: string): CmaRegion | null {
  return findRegion(cmaState(kernel), name);
}

/**
 * The sysfs `alloc` write of a region: chooses its allocator by name (empty: the default). EBUSY
 * while an allocator is attached and the region holds chunks; otherwise the attached allocator is
 * detached (`cleanup`) and the new one attaches at the next allocation.
 */
export function cmaRegionSetAlloc(region: CmaRegion, name: string): void {
  if (region._alloc && region._users > 0) {
    throw new KernelError("EBUSY", `${region.label}: allocator in use by ${region._users} chunk(s)`);
  }
  const nl = name.indexOf("\n");
  const n = nl >= 0 ? name.slice(0, nl) : name;
  detachAllocator(region);
  region._allocName = n === "" ? null : n;
  region._attachFailed = false;
}

// ---- map --------------------------------------------------------------------------------------

/**
 * Replaces the map (sysfs `map` write, `cma.map=`): validated first, replaced atomically. EINVAL
 * with the offset of a bad rule (the old map stays). An empty map clears it: `cmaAlloc` then
 * fails with ENOENT.
 */
export function cmaSetMap(kernel: Kernel, map: string): void {
  const parsed = parseCmaMap(map);
  cmaState(kernel).map = parsed;
}

/** The map as text (sysfs shows it followed by a newline), "" when none is set. */
export function cmaGetMap(kernel: Kernel): string {
  return cmaState(kernel).map?.text ?? "";
}

/** The parsed map, or null. */
export function cmaGetMapRules(kernel: Kernel): CmaMap | null {
  return cmaState(kernel).map;
}

// ---- early regions ----------------------------------------------------------------------------

function earlyCheck(st: CmaState, what: string): void {
  if (st.initcallDone || st.mm.memblock.retired) {
    throw new KernelError("EBUSY", `${what}: boot already finished (memblock is retired)`);
  }
}

function makeEarly(st: CmaState, desc: CmaRegionDesc): CmaRegion {
  const what = `cma_early_region_register(${desc.name ?? "(private)"})`;
  const align0 = desc.alignment ?? 0;
  if (!Number.isSafeInteger(align0) || align0 < 0 || (align0 !== 0 && !isPowerOfTwo(align0))) {
    throw new KernelError("EINVAL", `${what}: alignment ${align0} is not a power of two (or 0)`);
  }
  if (!Number.isSafeInteger(desc.size) || desc.size <= 0) {
    throw new KernelError("EINVAL", `${what}: size ${desc.size} must be positive`);
  }
  const reusable = desc.reusable ?? false;
  const alignment = Math.max(align0, reusable ? CMA_MIN_ALIGNMENT_BYTES : PAGE_SIZE);
  const start = alignUp(desc.start ?? 0, alignment);
  const size = reusable ? alignUp(desc.size, CMA_MIN_ALIGNMENT_BYTES) : pageAlign(desc.size);
  if (!Number.isSafeInteger(start) || start < 0 || start + size > DMA_ADDR_LIMIT) {
    throw new KernelError("EINVAL", `${what}: start ${hex(start)} + size ${hex(size)} overflows`);
  }
  const opb = desc.orderPerBit ?? 0;
  if (!Number.isInteger(opb) || opb < 0 || opb > 20) {
    throw new KernelError("EINVAL", `${what}: order_per_bit ${opb} is out of range`);
  }
  return new CmaRegion({
    kernel: st.kernel,
    name: desc.name ?? null,
    base: start,
    size,
    alignment,
    reusable,
    orderPerBit: opb,
    allocName: desc.allocName ?? desc.alloc?.name ?? null,
    alloc: desc.alloc ?? null,
    origin: "2010",
  });
}

/**
 * `cma_early_region_register(reg)`: queues a region to be reserved at boot (alignment raised to
 * a page — 4 MiB when reusable —, start aligned up to it, size to a page). EINVAL for an
 * alignment that is not a power of two or an overflowing range; EBUSY after boot. No overlap
 * check (reservation does that).
 */
export function cmaEarlyRegionRegister(kernel: Kernel, desc: CmaRegionDesc): CmaRegion {
  const st = cmaState(kernel);
  earlyCheck(st, "cma_early_region_register");
  const r = makeEarly(st, desc);
  st.early.push(r);
  return r;
}

/**
 * `cma_set_defaults(regions, map)`: the platform's regions and map, used where the command line
 * gave none (`cma=` regions, `cma.map=`). Everything is validated before anything is queued.
 * Returns the early regions queued. EINVAL/EBUSY as `cmaEarlyRegionRegister` and `cmaSetMap`.
 */
export function cmaSetDefaults(
  kernel: Kernel,
  regions: readonly CmaRegionDesc[] | null,
  map: string | null = null,
): CmaRegion[] {
  const st = cmaState(kernel);
  earlyCheck(st, "cma_set_defaults");
  const parsed = map === null ? undefined : parseCmaMap(map);
  const made = (regions ?? []).map((d) => makeEarly(st, d));
  if (parsed !== undefined && st.cmdline.map === undefined) st.map = parsed;
  if (st.cmdline.regions !== null) return [];
  st.early.push(...made);
  return made;
}

/**
 * `cma_early_region_reserve(reg)`: reserves an early region's memory from memblock — at its start
 * when it has one, else anywhere aligned. EINVAL for a zero size or an already reserved region;
 * ENOMEM when memblock cannot give the range.
 */
export function cmaEarlyRegionReserve(region: CmaRegion): void {
  const st = cmaState(region.kernel);
  const what = `cma_early_region_reserve(${region.label})`;
  if (!region.size || region._reserved) {
    throw new KernelError("EINVAL", `${what}: ${region._reserved ? "already reserved" : "size is 0"}`);
  }
  const mb = st.mm.memblock;
  const tag = `cma:${region.label}`;
  if (region.base) {
    if (mb.isReserved(region.base, region.size)) {
      throw new KernelError(
        "ENOMEM",
        `${what}: [${hex(region.base)}, +${hex(region.size)}) is already reserved`,
      );
    }
    try {
      mb.reserve(region.base, region.size, tag);
    } catch (e) {
      throw new KernelError("ENOMEM", `${what}: ${(e as Error).message}`, { cause: e });
    }
  } else {
    const base = mb.alloc(region.size, region.alignment, { name: tag });
    if (base === null) {
      throw new KernelError(
        "ENOMEM",
        `${what}: no ${hex(region.size)} bytes aligned to ${hex(region.alignment)}`,
      );
    }
    region._base = base;
  }
  region._reserved = true;
  region._resTag = tag;
}

/**
 * `cma_early_regions_reserve(reserve)`: reserves every queued early region that is not reserved
 * yet with `reserve` (default `cmaEarlyRegionReserve`). Failures are only warned (`cma_warn`).
 * Returns the regions now reserved.
 */
export function cmaEarlyRegionsReserve(
  kernel: Kernel,
  reserve: (region: CmaRegion) => void = cmaEarlyRegionReserve,
): CmaRegion[] {
  const st = cmaState(kernel);
  for (const r of st.early) {
    if (r._reserved) continue;
    try {
      reserve(r);
      r._reserved = true;
      if (!r._resTag) r._resTag = `cma:${r.label}`;
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      cmaWarn(
        st,
        `init: ${r.label}: unable to reserve ${hex(r.size)}@${hex(r.base)}/${hex(r.alignment)}: ${e.message}`,
      );
    }
  }
  return st.early.filter((r) => r._reserved);
}

/** The early regions queued and not yet registered. */
export function cmaEarlyRegions(kernel: Kernel): readonly CmaRegion[] {
  return [...cmaState(kernel).early];
}

/**
 * @internal the 2010 `cma_init` (subsys_initcall): registers every reserved early region (errors
 * only warned) and empties the queue.
 */
export function registerEarlyRegions(st: CmaState): void {
  for (const r of st.early) {
    if (!r._reserved) continue;
    const other = overlapping(st, r.base, r.size, r);
    if (other) {
      cmaWarn(st, `init: ${r.label}: overlaps ${other}; not registered`);
      continue;
    }
    const preset = r._alloc;
    r._alloc = null;
    if (preset && !attachAllocator(st, r, preset)) {
      cmaWarn(st, `init: ${r.label}: allocator refused the region; not registered`);
      continue;
    }
    if (r.reusable) {
      activateRegion(st, r);
      if (!r._activated) continue;
    }
    listAdd(st, r);
  }
  st.early.length = 0;
}
