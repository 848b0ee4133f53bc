/**
 * The allocation core both APIs share (`__cma_alloc_from_region` of 2010 and `cma_range_alloc`
 * of merged CMA): attach the allocator lazily, ask it for a candidate, and on a reusable region
 * empty the candidate with `alloc_contig_range` — an EBUSY there (a pinned or unmovable page)
 * hands the allocator the failed candidate and asks for the next one. Chunks are recorded by
 * start address, accounted, tagged with their owner in mm-core's page frames, and traced.
 *
 * @module
 */
import { ERRNO, type ErrnoName, hex, isKernelError, KernelBug, PAGE_SIZE } from "@umm/kernel-core";
import { allocContigRange, freeContigRange, type Mm, PG_reserved, whyUnmovable } from "@umm/mm-core";
import type { CmaAllocCtx, CmaBusyCandidate, CmaChunk } from "./ops.js";
import type { CmaLiveChunk, CmaRegion } from "./region.js";
import { attachAllocator, type CmaState, cmaWarn } from "./state.js";

/** Order of an alignment in bytes (a power of two ≥ PAGE_SIZE). */
export function alignOrder(alignment: number): number {
  return Math.round(Math.log2(alignment / PAGE_SIZE));
}

/** The first page of `[pfn, pfn + n)` that cannot be migrated, as an address (pfn's if none found). */
function findBlocker(mm: Mm, pfn: number, n: number): number {
  const buddy = mm.buddy;
  for (let p = pfn; p < pfn + n; p++) {
    if (!buddy.isFree(p) && whyUnmovable(mm, p) !== null) return p * PAGE_SIZE;
  }
  return pfn * PAGE_SIZE;
}

class Ctx implements CmaAllocCtx {
  readonly busy: CmaBusyCandidate[] = [];

  overlapsBusy(start: number, size: number): boolean {
    for (const b of this.busy) if (b.blocker >= start && b.blocker < start + size) return true;
    return false;
  }
}

const NO_BUSY: CmaAllocCtx = Object.freeze({
  busy: Object.freeze([]) as readonly CmaBusyCandidate[],
  overlapsBusy: () => false,
});

/**
 * Allocates `size` bytes (page multiple) aligned to `alignment` (power of two ≥ PAGE_SIZE) from
 * `region` for `owner`. Never throws for lack of memory: returns the chunk, or the errno of the
 * failure (ENOMEM when nothing fits, EBUSY when the last candidate could not be emptied). Emits
 * `cma_alloc_start` (unless the caller already did), `cma_alloc_busy_retry` per failed
 * candidate, and `cma_alloc_finish`.
 */
export function regionAlloc(
  st: CmaState,
  region: CmaRegion,
  size: number,
  alignment: number,
  owner: string,
  emitStart = true,
): CmaLiveChunk | ErrnoName {
  const tp = st.tp;
  if (emitStart && tp.start.enabled) {
    tp.start.emit({ name: region.label, count: size / PAGE_SIZE, align: alignOrder(alignment) });
  }
  const out = allocInner(st, region, size, alignment, owner);
  if (tp.finish.enabled) {
    const ok = typeof out !== "string";
    tp.finish.emit({
      name: region.label,
      pfn: ok ? out.start / PAGE_SIZE : 0,
      count: size / PAGE_SIZE,
      align: alignOrder(alignment),
      errorno: ok ? 0 : -ERRNO[out],
    });
  }
  return out;
}

function allocInner(
  st: CmaState,
  region: CmaRegion,
  size: number,
  alignment: number,
  owner: string,
): CmaLiveChunk | ErrnoName {
  if (st.fault.armed && st.fault.shouldFail()) return "ENOMEM";
  if (region._free < size || (region.reusable && !region._activated)) return "ENOMEM";
  if (!region._alloc && (region._attachFailed || !attachAllocator(st, region, null))) return "ENOMEM";
  const alloc = region._alloc!;
  const mm = st.mm;
  const ctx = region.reusable ? new Ctx() : null;
  let errno: ErrnoName = "ENOMEM";
  for (;;) {
    const ext = alloc.alloc(region, size, alignment, ctx ?? NO_BUSY);
    if (!ext) return errno;
    const start = ext.start;
    if (
      ext.size !== size ||
      start % alignment !== 0 ||
      start < region._base ||
      start + size > region._base + region._size
    ) {
      throw new KernelBug(
        `allocator ${alloc.name ?? "(unnamed)"} returned [${hex(start)}, +${hex(ext.size)}) for ${hex(size)} bytes aligned to ${hex(alignment)} in ${region}`,
      );
    }
    if (region._chunks.has(start)) {
      cmaWarn(st, `${region.label}: allocator handed out ${hex(start)} twice`);
      alloc.free({ start, size, region });
      return "EADDRINUSE";
    }
    const pfn = start / PAGE_SIZE;
    const n = size / PAGE_SIZE;
    if (ctx) {
      if (ctx.overlapsBusy(start, size)) {
        cmaWarn(st, `${region.label}: allocator proposed busy range ${hex(start)} again`);
        alloc.free({ start, size, region });
        return "EBUSY";
      }
      try {
        allocContigRange(mm, pfn, pfn + n, owner);
      } catch (e) {
        alloc.free({ start, size, region });
        if (isKernelError(e, "EBUSY")) {
          ctx.busy.push({ start, size, blocker: findBlocker(mm, pfn, n) });
          if (st.tp.busy.enabled) {
            st.tp.busy.emit({ name: region.label, pfn, count: n, align: alignOrder(alignment) });
          }
          errno = "EBUSY";
          continue;
        }
        if (isKernelError(e)) return e.errno;
        throw e;
      }
    } else {
      mm.frames.setOwner(pfn, n, owner);
    }
    const chunk: CmaLiveChunk = { start, size, region, owner };
    addChunk(chunk);
    return chunk;
  }
}

function addChunk(c: CmaLiveChunk): void {
  const r = c.region;
  r._chunks.set(c.start, c);
  r._users++;
  r._free -= c.size;
}

function dropChunk(c: CmaLiveChunk): void {
  const r = c.region;
  r._chunks.delete(c.start);
  r._users--;
  r._free += c.size;
}

/** Gives `ext` of `region` back to its allocator and its pages to their owner. */
function freeExtent(st: CmaState, region: CmaRegion, ext: CmaChunk): void {
  region._alloc!.free(ext);
  const pfn = ext.start / PAGE_SIZE;
  const n = ext.size / PAGE_SIZE;
  if (region.reusable) freeContigRange(st.mm, pfn, n);
  else st.mm.frames.setOwner(pfn, n, region._resTag);
}

/** Frees a whole chunk (`__cma_chunk_free`) and emits `cma_release`. */
export function freeChunk(st: CmaState, c: CmaLiveChunk): void {
  dropChunk(c);
  freeExtent(st, c.region, c);
  if (st.tp.release.enabled) {
    st.tp.release.emit({ name: c.region.label, pfn: c.start / PAGE_SIZE, count: c.size / PAGE_SIZE });
  }
}

/**
 * Releases `[start, start + size)` of `region`, which must be covered by live chunks (whole or
 * in part). Returns false (nothing changed) when it would split a chunk of a region with
 * order_per_bit > 0. A range with pages that are not allocated is a double free: `KernelBug`.
 */
export function releaseRange(st: CmaState, region: CmaRegion, start: number, size: number): boolean {
  const exact = region._chunks.get(start);
  if (exact && exact.region === region && exact.size === size) {
    freeChunk(st, exact);
    return true;
  }
  const end = start + size;
  const hit = region.chunks().filter((c) => c.start < end && start < c.start + c.size);
  let cursor = start;
  for (const c of hit) {
    if (c.start > cursor) break;
    cursor = Math.max(cursor, c.start + c.size);
  }
  if (cursor < end) {
    throw new KernelBug(
      `cma_release: page ${hex(Math.floor(cursor / PAGE_SIZE))} of ${region.label} is not allocated (double release?)`,
    );
  }
  const partial = hit.some((c) => c.start < start || c.start + c.size > end);
  if (partial && region.orderPerBit > 0) {
    cmaWarn(st, `${region.label}: cannot release part of a chunk when order_per_bit != 0`);
    return false;
  }
  for (const c of hit) {
    dropChunk(c);
    const ps = Math.max(c.start, start);
    const pe = Math.min(c.start + c.size, end);
    freeExtent(st, region, { start: ps, size: pe - ps, region });
    if (c.start < ps) addChunk({ start: c.start, size: ps - c.start, region, owner: c.owner });
    if (pe < c.start + c.size) addChunk({ start: pe, size: c.start + c.size - pe, region, owner: c.owner });
  }
  if (st.tp.release.enabled) {
    st.tp.release.emit({ name: region.label, pfn: start / PAGE_SIZE, count: size / PAGE_SIZE });
  }
  return true;
}

/**
 * True when every page of `[base, base + size)` is reserved memory that the buddy allocator does
 * not own: PG_reserved after boot; reserved or removed (no-map) in memblock before.
 */
export function isReservedMemory(mm: Mm, base: number, size: number): boolean {
  if (mm.booted) {
    const f = mm.frames;
    for (let p = base / PAGE_SIZE; p < (base + size) / PAGE_SIZE; p++) {
      if (!f.valid(p) || (f.flags[p - f.basePfn]! & PG_reserved) === 0) return false;
    }
    return true;
  }
  const spans = [...mm.memblock.reserved, ...mm.memblock.removed].sort((a, b) => a.base - b.base);
  let p = base;
  for (const r of spans) {
    if (r.base <= p && p < r.base + r.size) p = r.base + r.size;
    if (p >= base + size) return true;
  }
  return p >= base + size;
}
