/**
 * The buddy allocator (mm/page_alloc.c): per zone, per order, per migrate type free lists kept as
 * doubly linked lists in typed arrays indexed by page. Allocation takes the smallest block that
 * fits and splits it; freeing merges a block with its buddy while the buddy is free. Pageblocks
 * carry a migrate type: MOVABLE allocations may use CMA pageblocks, nothing may use ISOLATE ones.
 *
 * Every page of an allocated block has refcount 1 (as after `split_page`), so pages can be mapped
 * and released one by one; a page whose refcount drops to 0 returns to the free lists.
 *
 * @module
 */
import { FAULT_SITE_OFF, type FaultSite, hex, KernelBug, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import type { PageFrames } from "./frames.js";
import type { PhysMem } from "./phys.js";
import {
  __GFP_DMA,
  __GFP_HIGHMEM,
  __GFP_MOVABLE,
  __GFP_RECLAIMABLE,
  __GFP_ZERO,
  MAX_PAGE_ORDER,
  MIGRATE_CMA,
  MIGRATE_MOVABLE,
  MIGRATE_RECLAIMABLE,
  MIGRATE_TYPES,
  MIGRATE_UNMOVABLE,
  NR_PAGE_ORDERS,
  PAGEBLOCK_NR_PAGES,
  PAGEBLOCK_ORDER,
  PG_buddy,
  PG_head,
  PG_hole,
  PG_movable,
  PG_reserved,
} from "./types.js";

/** Zone names, lowest first. */
export type ZoneName = "DMA" | "Normal" | "HighMem";

/** A zone's pfn range `[startPfn, endPfn)`. */
export interface ZoneSpec {
  readonly name: ZoneName;
  readonly startPfn: number;
  readonly endPfn: number;
}

/** One zone with its free lists. */
export class Zone {
  readonly name: ZoneName;
  readonly startPfn: number;
  readonly endPfn: number;
  /** head page index of each list, at [order * MIGRATE_TYPES + mt]; -1 = empty */
  readonly heads: Int32Array = new Int32Array(NR_PAGE_ORDERS * MIGRATE_TYPES).fill(-1);
  /** blocks on each list */
  readonly nrFree: Int32Array = new Int32Array(NR_PAGE_ORDERS * MIGRATE_TYPES);
  /** free pages per migrate type */
  readonly freeByType: Float64Array = new Float64Array(MIGRATE_TYPES);
  /** free pages */
  freePages = 0;
  /** pages handed to the allocator at boot or later */
  managedPages = 0;

  constructor(spec: ZoneSpec) {
    this.name = spec.name;
    this.startPfn = spec.startPfn;
    this.endPfn = spec.endPfn;
  }

  /** True when `pfn` lies in this zone. */
  contains(pfn: number): boolean {
    return pfn >= this.startPfn && pfn < this.endPfn;
  }
}

/** Options of `allocPages`. */
export interface AllocPagesOpts {
  /** only pages whose block ends at or below this pfn (allocation under a DMA mask) */
  readonly maxPfn?: number;
  /** owner tag for reports */
  readonly tag?: string;
}

/** Hooks the buddy allocator calls: zeroing goes through the cache owner (arch). */
export interface BuddyHooks {
  zero(paddr: number, len: number): void;
  alloc?(pfn: number, order: number, gfp: number, mt: number): void;
  free?(pfn: number, order: number): void;
  /** the "page" fault-injection site (fail_page_alloc); none: never injected */
  readonly fault?: FaultSite;
}

const FALLBACKS: readonly (readonly number[])[] = [
  [MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE], // UNMOVABLE
  [MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE], // MOVABLE
  [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE], // RECLAIMABLE
];

/** Migrate type an allocation with `gfp` asks for. */
export function gfpMigratetype(gfp: number): number {
  if (gfp & __GFP_MOVABLE) return MIGRATE_MOVABLE;
  if (gfp & __GFP_RECLAIMABLE) return MIGRATE_RECLAIMABLE;
  return MIGRATE_UNMOVABLE;
}

/** The buddy allocator over a set of zones. */
export class Buddy {
  readonly zones: readonly Zone[];
  readonly #f: PageFrames;
  readonly #base: number;
  readonly #hooks: BuddyHooks;
  readonly #fault: FaultSite;

  constructor(frames: PageFrames, _phys: PhysMem, zones: readonly ZoneSpec[], hooks: BuddyHooks) {
    this.#fault = hooks.fault ?? FAULT_SITE_OFF;
    this.#f = frames;
    this.#base = frames.basePfn;
    this.#hooks = hooks;
    this.zones = zones.filter((z) => z.endPfn > z.startPfn).map((z) => new Zone(z));
  }

  /** The zone holding `pfn`. */
  zoneOf(pfn: number): Zone | undefined {
    for (const z of this.zones) if (z.contains(pfn)) return z;
    return undefined;
  }

  /** Total free pages. */
  get nrFreePages(): number {
    let n = 0;
    for (const z of this.zones) n += z.freePages;
    return n;
  }

  // ---- free lists -------------------------------------------------------------------------

  #add(z: Zone, i: number, order: number, mt: number): void {
    const f = this.#f;
    const slot = order * MIGRATE_TYPES + mt;
    const head = z.heads[slot]!;
    f.next[i] = head;
    f.prev[i] = -1;
    if (head >= 0) f.prev[head] = i;
    z.heads[slot] = i;
    z.nrFree[slot]!++;
    f.flags[i] = (f.flags[i]! | PG_buddy) & ~PG_head;
    f.order[i] = order;
    const n = 1 << order;
    z.freePages += n;
    z.freeByType[mt]! += n;
  }

  #del(z: Zone, i: number, order: number, mt: number): void {
    const f = this.#f;
    const slot = order * MIGRATE_TYPES + mt;
    const nx = f.next[i]!;
    const pv = f.prev[i]!;
    if (pv >= 0) f.next[pv] = nx;
    else z.heads[slot] = nx;
    if (nx >= 0) f.prev[nx] = pv;
    z.nrFree[slot]!--;
    f.flags[i] = f.flags[i]! & ~PG_buddy;
    const n = 1 << order;
    z.freePages -= n;
    z.freeByType[mt]! -= n;
  }

  #mtOf(pfn: number): number {
    return this.#f.pageblockMt[this.#f.pageblockIndex(pfn)]!;
  }

  /** Adds a free block and merges it with free buddies (`__free_one_page`). */
  #freeOne(z: Zone, pfn: number, order: number): void {
    const f = this.#f;
    const base = this.#base;
    while (order < MAX_PAGE_ORDER) {
      const buddyPfn = pfn ^ (1 << order);
      if (!z.contains(buddyPfn) || !z.contains(buddyPfn + (1 << order) - 1)) break;
      const bi = buddyPfn - base;
      if (bi < 0 || bi >= f.count) break;
      const bf = f.flags[bi]!;
      if ((bf & PG_buddy) === 0 || f.order[bi] !== order) break;
      this.#del(z, bi, order, this.#mtOf(buddyPfn));
      pfn = Math.min(pfn, buddyPfn);
      order++;
    }
    this.#add(z, pfn - base, order, this.#mtOf(pfn));
  }

  // ---- boot --------------------------------------------------------------------------------

  /**
   * Hands `[startPfn, endPfn)` to the allocator in the largest aligned blocks (the boot-time
   * `__free_pages_core`), pageblocks set to `mt` (MIGRATE_MOVABLE at boot, MIGRATE_CMA for CMA
   * areas). Pages must be RAM inside one zone.
   */
  releaseRange(startPfn: number, endPfn: number, mt: number = MIGRATE_MOVABLE): void {
    const f = this.#f;
    let pfn = startPfn;
    while (pfn < endPfn) {
      const z = this.zoneOf(pfn);
      if (!z) throw new KernelBug(`releaseRange: pfn ${hex(pfn)} is in no zone`);
      const stop = Math.min(endPfn, z.endPfn);
      for (let pb = pfn; pb < stop; pb = (Math.floor(pb / PAGEBLOCK_NR_PAGES) + 1) * PAGEBLOCK_NR_PAGES) {
        f.pageblockMt[f.pageblockIndex(pb)] = mt;
      }
      while (pfn < stop) {
        let order = MAX_PAGE_ORDER;
        while (order > 0 && (pfn % (1 << order) !== 0 || pfn + (1 << order) > stop)) order--;
        const i = pfn - this.#base;
        const n = 1 << order;
        f.flags.fill(0, i, i + n);
        f.refcount.fill(0, i, i + n);
        f.owner.fill(0, i, i + n);
        z.managedPages += n;
        this.#freeOne(z, pfn, order);
        pfn += n;
      }
    }
  }

  // ---- allocation --------------------------------------------------------------------------

  #zonelist(gfp: number): Zone[] {
    const byName = (n: ZoneName) => this.zones.find((z) => z.name === n);
    const order: ZoneName[] =
      gfp & __GFP_DMA ? ["DMA"] : gfp & __GFP_HIGHMEM ? ["HighMem", "Normal", "DMA"] : ["Normal", "DMA"];
    return order.map(byName).filter((z): z is Zone => z !== undefined);
  }

  /** Takes a block of exactly `order` from lists of type `mt`, splitting bigger ones. */
  #rmqueueSmallest(z: Zone, order: number, mt: number, maxPfn: number): number {
    const f = this.#f;
    for (let o = order; o <= MAX_PAGE_ORDER; o++) {
      let i = z.heads[o * MIGRATE_TYPES + mt]!;
      while (i >= 0 && this.#base + i + (1 << o) > maxPfn) i = f.next[i]!;
      if (i < 0) continue;
      this.#del(z, i, o, mt);
      // expand: hand back the upper halves
      while (o > order) {
        o--;
        this.#add(z, i + (1 << o), o, mt);
      }
      return i;
    }
    return -1;
  }

  /** Moves every free block of the pageblock holding `pfn` to lists of type `mt` and retypes it. */
  setPageblockMigratetype(pfn: number, mt: number): void {
    const f = this.#f;
    const start = Math.floor(pfn / PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES;
    const pbi = f.pageblockIndex(start);
    const old = f.pageblockMt[pbi]!;
    if (old === mt) return;
    const z = this.zoneOf(Math.max(start, f.basePfn));
    f.pageblockMt[pbi] = mt;
    if (!z) return;
    let p = Math.max(start, z.startPfn);
    const end = Math.min(start + PAGEBLOCK_NR_PAGES, z.endPfn);
    while (p < end) {
      const i = p - this.#base;
      if (i >= 0 && i < f.count && (f.flags[i]! & PG_buddy) !== 0) {
        const o = f.order[i]!;
        this.#del(z, i, o, old);
        this.#add(z, i, o, mt);
        p += 1 << o;
      } else p++;
    }
  }

  /**
   * Allocates from a fallback type's lists (`__rmqueue_fallback`): looks for the largest free block
   * of a fallback type; a big one claims its whole pageblock for `mt`, a small one is simply taken
   * from the fallback list. Invariant kept: a free block always sits on the list of its
   * pageblock's type.
   */
  #fallback(z: Zone, order: number, mt: number, maxPfn: number): number {
    for (let o = MAX_PAGE_ORDER; o >= order; o--) {
      for (const fb of FALLBACKS[mt] ?? []) {
        let i = z.heads[o * MIGRATE_TYPES + fb]!;
        while (i >= 0 && this.#base + i + (1 << o) > maxPfn) i = this.#f.next[i]!;
        if (i < 0) continue;
        if (o >= PAGEBLOCK_ORDER >> 1) {
          this.setPageblockMigratetype(this.#base + i, mt);
          return this.#rmqueueSmallest(z, order, mt, maxPfn);
        }
        return this.#rmqueueSmallest(z, order, fb, maxPfn);
      }
    }
    return -1;
  }

  /**
   * `alloc_pages(gfp, order)`: the pfn of the first page of a 2^order block, or null when no zone
   * allowed by `gfp` has one. EINVAL for an order outside 0..MAX_PAGE_ORDER.
   */
  allocPages(order: number, gfp: number, opts: AllocPagesOpts = {}): number | null {
    if (!Number.isInteger(order) || order < 0 || order > MAX_PAGE_ORDER) {
      throw new KernelError("EINVAL", `alloc_pages: order ${order} is not in 0..${MAX_PAGE_ORDER}`);
    }
    if (this.#fault.armed && this.#fault.shouldFail()) return null;
    const mt = gfpMigratetype(gfp);
    const maxPfn = opts.maxPfn ?? Number.POSITIVE_INFINITY;
    for (const z of this.#zonelist(gfp)) {
      if (z.startPfn + (1 << order) > maxPfn) continue;
      if (z.freePages < 1 << order) continue;
      let i = -1;
      if (mt === MIGRATE_MOVABLE && z.freeByType[MIGRATE_CMA]! > z.freePages / 2) {
        i = this.#rmqueueSmallest(z, order, MIGRATE_CMA, maxPfn);
      }
      if (i < 0) i = this.#rmqueueSmallest(z, order, mt, maxPfn);
      if (i < 0) i = this.#fallback(z, order, mt, maxPfn);
      if (i < 0 && mt === MIGRATE_MOVABLE) i = this.#rmqueueSmallest(z, order, MIGRATE_CMA, maxPfn);
      if (i < 0) continue;
      const pfn = this.#base + i;
      this.#prep(i, order, gfp, opts.tag);
      this.#hooks.alloc?.(pfn, order, gfp, mt);
      return pfn;
    }
    return null;
  }

  #prep(i: number, order: number, gfp: number, tag: string | undefined): void {
    const f = this.#f;
    const n = 1 << order;
    const extra = gfp & __GFP_MOVABLE ? PG_movable : 0;
    f.flags.fill(extra, i, i + n);
    f.flags[i] = f.flags[i]! | PG_head;
    f.order[i] = order;
    f.refcount.fill(1, i, i + n);
    f.mapcount.fill(0, i, i + n);
    f.pincount.fill(0, i, i + n);
    f.owner.fill(tag ? f.tags.intern(tag) : 0, i, i + n);
    if (gfp & __GFP_ZERO) this.#hooks.zero((this.#base + i) * PAGE_SIZE, n * PAGE_SIZE);
  }

  // ---- freeing -----------------------------------------------------------------------------

  #checkAllocated(pfn: number, what: string): number {
    const f = this.#f;
    const i = pfn - this.#base;
    if (i < 0 || i >= f.count || (f.flags[i]! & PG_hole) !== 0) {
      throw new KernelBug(`${what}: pfn ${hex(pfn)} is not a RAM page`);
    }
    if ((f.flags[i]! & (PG_buddy | PG_reserved)) !== 0 || f.refcount[i]! <= 0) {
      throw new KernelBug(`${what}: pfn ${hex(pfn)} is not allocated (double free or use after free)`);
    }
    return i;
  }

  /**
   * `__free_pages(page, order)`: drops the allocation's reference on every page of the block.
   * When no page is still referenced (mapped, pinned) the block returns whole; otherwise the
   * still-referenced pages return one by one as their last reference drops (`putPage`).
   * Freeing a block that is not an allocated head of that order is a `KernelBug`.
   */
  freePages(pfn: number, order: number): void {
    const f = this.#f;
    const i = this.#checkAllocated(pfn, "__free_pages");
    if ((f.flags[i]! & PG_head) === 0 || f.order[i] !== order) {
      throw new KernelBug(`__free_pages: pfn ${hex(pfn)} is not the head of an order-${order} block`);
    }
    const n = 1 << order;
    let shared = false;
    for (let k = 0; k < n; k++) if (f.refcount[i + k] !== 1) shared = true;
    const z = this.zoneOf(pfn)!;
    this.#hooks.free?.(pfn, order);
    if (!shared) {
      f.refcount.fill(0, i, i + n);
      f.owner.fill(0, i, i + n);
      f.flags.fill(0, i, i + n);
      this.#freeOne(z, pfn, order);
      return;
    }
    f.flags[i] = f.flags[i]! & ~PG_head;
    for (let k = 0; k < n; k++) this.putPage(pfn + k);
  }

  /**
   * `split_page`: turns an allocated order-N block into 2^N independent pages, each freed by its
   * own `putPage` (or `freePages(pfn + k, 0)`). A `KernelBug` unless `pfn` heads an allocated
   * block of that order.
   */
  splitPage(pfn: number, order: number): void {
    const f = this.#f;
    const i = this.#checkAllocated(pfn, "split_page");
    if ((f.flags[i]! & PG_head) === 0 || f.order[i] !== order) {
      throw new KernelBug(`split_page: pfn ${hex(pfn)} is not the head of an order-${order} block`);
    }
    for (let k = 0; k < 1 << order; k++) {
      f.flags[i + k] = f.flags[i + k]! | PG_head;
      f.order[i + k] = 0;
    }
  }

  /** `get_page`: takes a reference on an allocated page (a `KernelBug` on a free page). */
  getPage(pfn: number): void {
    const i = this.#checkAllocated(pfn, "get_page");
    this.#f.refcount[i]!++;
  }

  /**
   * `put_page`: drops a reference; at 0 the page returns to the free lists. Reserved pages
   * (memblock, carve-outs) never return. Returns true when the page was freed.
   */
  putPage(pfn: number): boolean {
    const f = this.#f;
    const i = pfn - this.#base;
    if (i < 0 || i >= f.count || (f.flags[i]! & PG_hole) !== 0)
      throw new KernelBug(`put_page: pfn ${hex(pfn)} is not RAM`);
    if ((f.flags[i]! & PG_reserved) !== 0) {
      if (f.refcount[i]! > 0) f.refcount[i]!--;
      return false;
    }
    if (f.refcount[i]! <= 0)
      throw new KernelBug(`put_page: pfn ${hex(pfn)} refcount underflow (use after free)`);
    if (--f.refcount[i]! > 0) return false;
    if ((f.flags[i]! & PG_head) !== 0 && f.order[i]! > 0) {
      throw new KernelBug(
        `put_page: pfn ${hex(pfn)} is the head of an order-${f.order[i]} block; free it with freePages`,
      );
    }
    f.flags[i] = 0;
    f.owner[i] = 0;
    f.mapcount[i] = 0;
    this.#hooks.free?.(pfn, 0);
    this.#freeOne(this.zoneOf(pfn)!, pfn, 0);
    return true;
  }

  // ---- contiguous ranges (CMA) -------------------------------------------------------------

  /** True when `pfn` lies inside a free block. */
  isFree(pfn: number): boolean {
    return this.#freeHeadOf(pfn) >= 0;
  }

  /** Page index of the free block head covering `pfn`, or -1. */
  #freeHeadOf(pfn: number): number {
    const f = this.#f;
    for (let o = 0; o <= MAX_PAGE_ORDER; o++) {
      const head = pfn & ~((1 << o) - 1);
      const i = head - this.#base;
      if (i < 0 || i >= f.count) return -1;
      if ((f.flags[i]! & PG_buddy) !== 0 && head + (1 << f.order[i]!) > pfn) return i;
    }
    return -1;
  }

  /**
   * Takes every page of `[startPfn, endPfn)` out of the free lists (`isolate_freepages_range`),
   * splitting blocks that straddle the edges. Every page must be free (EBUSY otherwise, nothing
   * changed). The pages come back allocated, refcount 1 each, tagged `tag`.
   */
  takeFreeRange(startPfn: number, endPfn: number, tag = ""): void {
    for (let p = startPfn; p < endPfn; ) {
      const hi = this.#freeHeadOf(p);
      if (hi < 0)
        throw new KernelError("EBUSY", `pfn ${hex(p)} in [${hex(startPfn)}, ${hex(endPfn)}) is not free`);
      p = this.#base + hi + (1 << this.#f.order[hi]!);
    }
    const f = this.#f;
    for (let p = startPfn; p < endPfn; ) {
      const hi = this.#freeHeadOf(p);
      const head = this.#base + hi;
      const o = f.order[hi]!;
      const z = this.zoneOf(head)!;
      this.#del(z, hi, o, this.#mtOf(head));
      const blockEnd = head + (1 << o);
      // give back what lies outside the range, in aligned blocks
      this.#giveBack(z, head, Math.max(head, Math.min(startPfn, blockEnd)));
      this.#giveBack(z, Math.min(blockEnd, Math.max(endPfn, head)), blockEnd);
      const from = Math.max(head, startPfn);
      const to = Math.min(blockEnd, endPfn);
      const i = from - this.#base;
      f.flags.fill(0, i, i + (to - from));
      f.refcount.fill(1, i, i + (to - from));
      f.owner.fill(tag ? f.tags.intern(tag) : 0, i, i + (to - from));
      p = blockEnd;
    }
  }

  #giveBack(z: Zone, from: number, to: number): void {
    let p = from;
    while (p < to) {
      let o = MAX_PAGE_ORDER;
      while (o > 0 && (p % (1 << o) !== 0 || p + (1 << o) > to)) o--;
      this.#add(z, p - this.#base, o, this.#mtOf(p));
      p += 1 << o;
    }
  }

  /** Per zone, per order: number of free blocks (/proc/buddyinfo). */
  buddyinfo(): { zone: ZoneName; free: number[] }[] {
    return this.zones.map((z) => {
      const free = new Array<number>(NR_PAGE_ORDERS).fill(0);
      for (let o = 0; o < NR_PAGE_ORDERS; o++) {
        for (let mt = 0; mt < MIGRATE_TYPES; mt++) free[o]! += z.nrFree[o * MIGRATE_TYPES + mt]!;
      }
      return { zone: z.name, free };
    });
  }

  /** Per zone, per migrate type, per order: free blocks (/proc/pagetypeinfo). */
  pagetypeinfo(): { zone: ZoneName; byType: number[][] }[] {
    return this.zones.map((z) => ({
      zone: z.name,
      byType: Array.from({ length: MIGRATE_TYPES }, (_, mt) =>
        Array.from({ length: NR_PAGE_ORDERS }, (_, o) => z.nrFree[o * MIGRATE_TYPES + mt]!),
      ),
    }));
  }

  /** Free pages of migrate type `mt` over all zones. */
  freePagesOfType(mt: number): number {
    let n = 0;
    for (const z of this.zones) n += z.freeByType[mt]!;
    return n;
  }
}
