/**
 * Merged CMA (Linux 3.5+, `mm/cma.c`): areas reserved at boot whose pages the buddy allocator
 * uses for movable allocations while they are free, emptied by migration when a driver asks for
 * a contiguous range. `cma_declare_contiguous` / `cma_init_reserved_mem` declare an area (with
 * the kernel's check order and errnos), `cma_init_reserved_areas` activates the areas after
 * `memblock_free_all`, and `cma_alloc` / `cma_release` count in pages with an order alignment.
 *
 * @module
 */
import { alignDown, alignUp, hex, isPowerOfTwo, type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { activateRegion } from "./activate.js";
import { regionAlloc, releaseRange } from "./alloc.js";
import { overlapping, registerEarlyRegions } from "./cma2010.js";
import { CmaRegion } from "./region.js";
import { type CmaState, cmaState, cmaWarn, listAdd } from "./state.js";
import { CMA_BITMAP, CMA_MAX_NAME, CMA_MIN_ALIGNMENT_BYTES } from "./types.js";

/** Options of `cmaDeclareContiguous` (the arguments of `cma_declare_contiguous`). */
export interface CmaDeclareOpts {
  /** lowest base (bytes); 0: anywhere below `limit` */
  readonly base?: number;
  /** bytes (rounded up to the alignment) */
  readonly size: number;
  /** one past the highest end (0: end of memory) */
  readonly limit?: number;
  /** alignment, a power of two or 0 (raised to 4 MiB) */
  readonly alignment?: number;
  /** bitmap granularity: one bit per 2^orderPerBit pages */
  readonly orderPerBit?: number;
  /** the area must sit exactly at `base` */
  readonly fixed?: boolean;
  /** area name (debugfs, sysfs, trace events); null: `cma<N>` */
  readonly name?: string | null;
}

function checkInt(v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new KernelError("EINVAL", `${what} ${v} must be a non-negative integer`);
}

function memblockEnd(st: CmaState): number {
  const mem = st.mm.memblock.memory;
  return mem.reduce((e, r) => Math.max(e, r.base + r.size), 0);
}

/**
 * `cma_declare_contiguous`: reserves a reusable area from memblock and declares it. Checks, in
 * the kernel's order: ENOSPC when every area slot is taken; EINVAL for a zero size or an
 * alignment that is not a power of two; alignment raised to 4 MiB; EINVAL for a fixed base not
 * on that alignment; base and size aligned up, limit down, base 0 means not fixed; EINVAL when
 * the size in pages is not a multiple of 2^orderPerBit; limit 0 or beyond memory means the end
 * of memory, EINVAL when base + size exceeds it; a fixed area must not straddle lowmem/highmem
 * (EINVAL) and must be free (EBUSY); a placed one comes from highmem first, then below the
 * limit (ENOMEM when nothing fits). Then `cmaInitReservedMem`, whose failure frees the memory.
 */
export function cmaDeclareContiguous(kernel: Kernel, opts: CmaDeclareOpts): CmaRegion {
  const st = cmaState(kernel);
  let base = opts.base ?? 0;
  let size = opts.size;
  let limit = opts.limit ?? 0;
  let alignment = opts.alignment ?? 0;
  const opb = opts.orderPerBit ?? 0;
  let fixed = opts.fixed ?? false;
  const name = opts.name ?? null;
  checkInt(base, "cma_declare_contiguous: base");
  checkInt(limit, "cma_declare_contiguous: limit");
  checkInt(alignment, "cma_declare_contiguous: alignment");
  if (!Number.isInteger(opb) || opb < 0 || opb > 20) {
    throw new KernelError("EINVAL", `cma_declare_contiguous: order_per_bit ${opb} is out of range`);
  }
  // 1
  if (st.areas.length >= st.maxAreas) {
    throw new KernelError(
      "ENOSPC",
      `cma_declare_contiguous: not enough slots for CMA reserved regions (${st.maxAreas})`,
    );
  }
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new KernelError("EINVAL", `cma_declare_contiguous: size ${size} must be positive`);
  }
  if (alignment && !isPowerOfTwo(alignment)) {
    throw new KernelError(
      "EINVAL",
      `cma_declare_contiguous: alignment ${hex(alignment)} is not a power of two`,
    );
  }
  // 2
  alignment = Math.max(alignment, CMA_MIN_ALIGNMENT_BYTES);
  if (fixed && base % alignment !== 0) {
    throw new KernelError(
      "EINVAL",
      `cma_declare_contiguous: region at ${hex(base)} must be aligned to ${hex(alignment)} bytes`,
    );
  }
  // 3
  base = alignUp(base, alignment);
  size = alignUp(size, alignment);
  limit = alignDown(limit, alignment);
  if (base === 0) fixed = false;
  // 4
  if ((size / PAGE_SIZE) % 2 ** opb !== 0) {
    throw new KernelError(
      "EINVAL",
      `cma_declare_contiguous: ${size / PAGE_SIZE} pages is not a multiple of 2^${opb}`,
    );
  }
  // 5
  const end = memblockEnd(st);
  if (limit === 0 || limit > end) limit = end;
  if (base + size > limit) {
    throw new KernelError(
      "EINVAL",
      `cma_declare_contiguous: size (${hex(size)}) of region at ${hex(base)} exceeds limit (${hex(limit)})`,
    );
  }
  // 6
  const mb = st.mm.memblock;
  const tag = `cma:${name ?? `cma${st.areas.length + 1}`}`;
  const highmem = st.mm.kspace.lowmemEnd;
  if (fixed) {
    if (base < highmem && base + size > highmem) {
      throw new KernelError(
        "EINVAL",
        `cma_declare_contiguous: region at ${hex(base)} defined on low/high memory boundary (${hex(highmem)})`,
      );
    }
    if (mb.isReserved(base, size)) {
      throw new KernelError(
        "EBUSY",
        `cma_declare_contiguous: [${hex(base)}, +${hex(size)}) is already reserved`,
      );
    }
    mb.reserve(base, size, tag);
  } else {
    let addr: number | null = null;
    if (base < highmem && limit > highmem) {
      addr = mb.alloc(size, alignment, { start: highmem, end: limit, name: tag });
      limit = highmem;
    }
    if (addr === null) addr = mb.alloc(size, alignment, { start: base, end: limit, name: tag });
    if (addr === null) {
      throw new KernelError(
        "ENOMEM",
        `cma_declare_contiguous: failed to reserve ${size / 2 ** 20} MiB below ${hex(limit)}`,
      );
    }
    base = addr;
  }
  // 7
  try {
    return cmaInitReservedMem(kernel, base, size, opb, name);
  } catch (e) {
    mb.free(base, size);
    throw e;
  }
}

/**
 * `cma_init_reserved_mem`: declares a reusable area over memory already reserved from memblock.
 * EINVAL for a zero size or memory that is not reserved; EBUSY once `cmaInitReservedAreas` ran;
 * EINVAL when base or size is not a multiple of 4 MiB or the size in pages is not a multiple of
 * 2^orderPerBit; EADDRINUSE when it overlaps an area or region; ENOSPC when every slot is taken.
 * A null name becomes `cma<N>` (N counts areas, this one included).
 */
export function cmaInitReservedMem(
  kernel: Kernel,
  base: number,
  size: number,
  orderPerBit: number,
  name: string | null,
): CmaRegion {
  const st = cmaState(kernel);
  checkInt(base, "cma_init_reserved_mem: base");
  if (!Number.isSafeInteger(size) || size <= 0 || !fullyReserved(st, base, size)) {
    throw new KernelError(
      "EINVAL",
      `cma_init_reserved_mem: [${hex(base)}, +${hex(size)}) is not reserved memory`,
    );
  }
  if (st.initcallDone)
    throw new KernelError("EBUSY", "cma_init_reserved_mem: CMA areas are already activated");
  if (base % CMA_MIN_ALIGNMENT_BYTES !== 0 || size % CMA_MIN_ALIGNMENT_BYTES !== 0) {
    throw new KernelError(
      "EINVAL",
      `cma_init_reserved_mem: [${hex(base)}, +${hex(size)}) is not aligned to ${hex(CMA_MIN_ALIGNMENT_BYTES)}`,
    );
  }
  if (!Number.isInteger(orderPerBit) || orderPerBit < 0 || (size / PAGE_SIZE) % 2 ** orderPerBit !== 0) {
    throw new KernelError(
      "EINVAL",
      `cma_init_reserved_mem: order_per_bit ${orderPerBit} does not divide the area`,
    );
  }
  const other = overlapping(st, base, size);
  if (other)
    throw new KernelError(
      "EADDRINUSE",
      `cma_init_reserved_mem: [${hex(base)}, +${hex(size)}) overlaps ${other}`,
    );
  if (st.areas.length >= st.maxAreas) {
    throw new KernelError("ENOSPC", "cma_init_reserved_mem: not enough slots for CMA reserved regions");
  }
  const label = (name ?? `cma${st.areas.length + 1}`).slice(0, CMA_MAX_NAME - 1);
  const area = new CmaRegion({
    kernel,
    name: label,
    base,
    size,
    alignment: CMA_MIN_ALIGNMENT_BYTES,
    reusable: true,
    orderPerBit,
    allocName: CMA_BITMAP,
    alloc: null,
    origin: "merged",
  });
  area._reserved = true;
  area._resTag = `cma:${label}`;
  st.areas.push(area);
  return area;
}

function fullyReserved(st: CmaState, base: number, size: number): boolean {
  let p = base;
  for (const r of [...st.mm.memblock.reserved].sort((a, b) => a.base - b.base)) {
    if (r.base <= p && p < r.base + r.size) p = r.base + r.size;
    if (p >= base + size) return true;
  }
  return p >= base + size;
}

/**
 * `cma_init_reserved_areas` (core_initcall) together with the 2010 `cma_init` (subsys_initcall):
 * after `mm.memblockFreeAll()`, activates every declared area (its pages go to the buddy
 * allocator as MIGRATE_CMA; an area spanning zones is released as ordinary memory instead),
 * registers the reserved 2010 early regions, and tags the free pages of every non-reusable
 * region with its name. EINVAL before boot; a second call does nothing.
 */
export function cmaInitReservedAreas(kernel: Kernel): void {
  const st = cmaState(kernel);
  if (!st.mm.booted) {
    throw new KernelError("EINVAL", "cma_init_reserved_areas: call it after mm.memblockFreeAll()");
  }
  if (st.initcallDone) return;
  st.initcallDone = true;
  for (const area of st.areas) {
    activateRegion(st, area);
    if (area._activated && !area._registered) listAdd(st, area);
  }
  // reusable 2010 regions registered before boot
  for (const r of st.regions) if (r.reusable) activateRegion(st, r);
  registerEarlyRegions(st);
  for (const r of st.regions) {
    if (!r.reusable && r._chunks.size === 0) st.mm.frames.setOwner(r.basePfn, r.size / PAGE_SIZE, r._resTag);
  }
}

/** Merged areas in declaration order (`cma_areas[]`, `cma_for_each_area`). */
export function cmaAreas(kernel: Kernel): readonly CmaRegion[] {
  return [...cmaState(kernel).areas];
}

/** `cma_get_base`: the area's physical base. */
export function cmaGetBase(cma: CmaRegion): number {
  return cma.base;
}

/** `cma_get_size`: `count << PAGE_SHIFT` (0 for an area whose activation failed). */
export function cmaGetSize(cma: CmaRegion): number {
  return cma.count * PAGE_SIZE;
}

/** `cma_get_name`. */
export function cmaGetName(cma: CmaRegion): string {
  return cma.label;
}

/**
 * `cma_alloc(cma, count, align, no_warn)` (use the overloaded `cmaAlloc`): `count` pages aligned
 * to 2^align pages in absolute pfn space. Returns the first pfn, or null: for an area without
 * pages or not activated, for `count` 0 (no accounting), or when no candidate could be found or
 * emptied. A failure without `noWarn` emits `cma_warn` with the areas' free ranges.
 * @internal
 */
export function cmaAllocArea(
  cma: CmaRegion,
  count: number,
  align: number,
  noWarn: boolean,
  owner?: string,
): number | null {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new KernelError("EINVAL", `cma_alloc: count ${count} must be a non-negative integer`);
  }
  if (!Number.isInteger(align) || align < 0 || align > 30) {
    throw new KernelError("EINVAL", `cma_alloc: align ${align} is not an order`);
  }
  if (!cma?._count) return null;
  const st = cmaState(cma.kernel);
  if (!cma._registered) {
    cmaWarn(st, `cma_alloc: ${cma.label} is not activated`);
    return null;
  }
  if (st.tp.start.enabled) st.tp.start.emit({ name: cma.label, count, align });
  if (count === 0) return null;
  const size = count * PAGE_SIZE;
  const out = regionAlloc(st, cma, size, PAGE_SIZE * 2 ** align, owner ?? cma._owner, false);
  if (typeof out !== "string") {
    cma._succeeded += count;
    return out.start / PAGE_SIZE;
  }
  cma._failed += count;
  if (!noWarn) {
    cmaWarn(
      st,
      `cma_alloc: ${cma.label}: alloc failed, req-size: ${count} pages, ret: -${out}; ${cmaShowAreas(cma)}`,
    );
  }
  return null;
}

/** `cma_debug_show_areas`: "number of available pages: N@start+...=> F free of T total pages". */
export function cmaShowAreas(cma: CmaRegion): string {
  const parts: string[] = [];
  let cursor = cma.base;
  for (const c of [...cma.chunks(), { start: cma.end, size: 0 }]) {
    if (c.start > cursor) parts.push(`${(c.start - cursor) / PAGE_SIZE}@${hex(cursor / PAGE_SIZE)}`);
    cursor = Math.max(cursor, c.start + c.size);
  }
  return `number of available pages: ${parts.join("+")}=> ${cma.availableCount} free of ${cma.count} total pages`;
}

/**
 * `cma_pages_valid`: true when `[pfn, pfn + count)` lies inside the area (false for no area, a
 * count beyond the area's, or a pfn or count that is not a non-negative integer: the kernel's
 * unsigned long cannot be negative, and a range that ends before it starts releases nothing).
 */
export function cmaPagesValid(cma: CmaRegion | null, pfn: number, count: number): boolean {
  if (!cma || !Number.isSafeInteger(pfn) || !Number.isSafeInteger(count) || count < 0) return false;
  if (count > cma.count) return false;
  const base = cma.basePfn;
  const end = base + cma.count;
  return pfn >= base && pfn < end && pfn + count <= end;
}

/**
 * `cma_release(cma, pfn, count)`: gives `count` pages from `pfn` back (whole allocations or, with
 * order_per_bit 0, parts of one). Returns false, changing nothing, when the range is not inside
 * the area or would split an allocation of an area with order_per_bit > 0. Releasing pages that
 * are not allocated is a double free: a `KernelBug`.
 */
export function cmaRelease(cma: CmaRegion | null, pfn: number, count: number): boolean {
  if (!cmaPagesValid(cma, pfn, count)) return false;
  const area = cma as CmaRegion;
  const st = cmaState(area.kernel);
  if (!releaseRange(st, area, pfn * PAGE_SIZE, count * PAGE_SIZE)) return false;
  area._released += count;
  return true;
}
