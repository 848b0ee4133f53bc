/**
 * Constants and plain types of the memory-management core: page orders, migrate types, GFP
 * flags, page flags, memory types, protection and mmap flags.
 *
 * @module
 */

/** Orders run 0..MAX_PAGE_ORDER: the largest buddy block is 4 MiB (ARM32's MAX_ORDER 11). */
export const MAX_PAGE_ORDER = 10;
/** Number of orders (kernel `NR_PAGE_ORDERS`). */
export const NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1;
/** `pageblock_order` on ARM32 without hugetlb: 4 MiB pageblocks. */
export const PAGEBLOCK_ORDER = 10;
/** Pages per pageblock. */
export const PAGEBLOCK_NR_PAGES = 1 << PAGEBLOCK_ORDER;

/** Migrate types (`enum migratetype`), as numbers; free lists are kept per type. */
export const MIGRATE_UNMOVABLE = 0;
export const MIGRATE_MOVABLE = 1;
export const MIGRATE_RECLAIMABLE = 2;
/** pageblocks of a CMA area: only movable allocations may use them while the area is free */
export const MIGRATE_CMA = 3;
/** pageblocks being isolated for a contiguous allocation: nothing is allocated from them */
export const MIGRATE_ISOLATE = 4;
export const MIGRATE_TYPES = 5;
/** Names for reports, indexed by migrate type. */
export const MIGRATE_TYPE_NAMES: readonly string[] = [
  "Unmovable",
  "Movable",
  "Reclaimable",
  "CMA",
  "Isolate",
];
export type MigrateType = 0 | 1 | 2 | 3 | 4;

/** GFP flags (bit values chosen for umm; names as include/linux/gfp_types.h). */
export const __GFP_DMA = 0x01;
export const __GFP_HIGHMEM = 0x02;
export const __GFP_MOVABLE = 0x08;
export const __GFP_RECLAIMABLE = 0x10;
export const __GFP_ZERO = 0x100;
export const __GFP_NOWARN = 0x200;
/** may sleep (direct reclaim); umm never reclaims, the flag is accepted for fidelity */
export const __GFP_DIRECT_RECLAIM = 0x400;
export const GFP_KERNEL = __GFP_DIRECT_RECLAIM;
export const GFP_ATOMIC = 0;
export const GFP_USER = __GFP_DIRECT_RECLAIM;
export const GFP_DMA = __GFP_DMA;
export const GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM;
export const GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE;

/** Page flags (per-frame bits). */
export const PG_reserved = 1 << 0;
/** a free block head in the buddy allocator (its order is in `frames.order`) */
export const PG_buddy = 1 << 1;
/** movable: may be migrated (anonymous user memory) */
export const PG_movable = 1 << 2;
/** anonymous memory of a process */
export const PG_anon = 1 << 3;
/** head of an allocated block (its order is in `frames.order`) */
export const PG_head = 1 << 5;
/** not RAM: a hole between banks inside the spanned range */
export const PG_hole = 1 << 6;

/** The memory attribute of a mapping (ARM's cacheable / normal-non-cacheable / strongly-ordered). */
export type MemType = "cacheable" | "writecombine" | "uncached" | "device";
/** Memory types as small integers (index into MEMTYPES), used in typed arrays and run lists. */
export const MT_CACHEABLE = 0;
export const MT_WRITECOMBINE = 1;
export const MT_UNCACHED = 2;
export const MT_DEVICE = 3;
/** "not mapped" in the kernel linear map (no-map regions, highmem) */
export const MT_NONE = 255;
export const MEMTYPES: readonly MemType[] = ["cacheable", "writecombine", "uncached", "device"];
/** MemType → its small integer. */
export function memtypeIndex(t: MemType): number {
  const i = MEMTYPES.indexOf(t);
  if (i < 0) throw new TypeError(`unknown memtype ${JSON.stringify(t)}`);
  return i;
}
/** True for memory types the CPU cache holds. */
export function isCacheable(t: MemType | number): boolean {
  return t === "cacheable" || t === MT_CACHEABLE;
}

/** Protection bits (`PROT_*`). */
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;

/** mmap flags (generic Linux values). */
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_POPULATE = 0x8000;

/** A physical memory bank: `[start, start + size)`. */
export interface BankSpec {
  readonly start: number;
  readonly size: number;
  readonly name?: string;
}

/** Something that issues memory accesses (a device): its id tags the access. */
export interface DmaAgent {
  readonly id: number;
  readonly name: string;
}
