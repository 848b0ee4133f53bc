/**
 * Page migration (mm/migrate.c) and contiguous-range allocation (alloc_contig_range in
 * mm/page_alloc.c): the primitives merged CMA is built on. A movable page moves to another
 * frame — its bytes copied, every mapping repointed — so that a range can be emptied and handed
 * out whole. Pinned or otherwise referenced pages cannot move.
 *
 * @module
 */
import { hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import type { Mm } from "./mm.js";
import {
  GFP_HIGHUSER_MOVABLE,
  MIGRATE_ISOLATE,
  PAGEBLOCK_NR_PAGES,
  PG_anon,
  PG_buddy,
  PG_hole,
  PG_movable,
  PG_reserved,
} from "./types.js";

/** Why a page cannot move, or null when it can. */
export function whyUnmovable(mm: Mm, pfn: number): string | null {
  const f = mm.frames;
  const i = pfn - f.basePfn;
  const flags = f.flags[i]!;
  if (flags & (PG_hole | PG_buddy)) return "not an allocated page";
  if (flags & PG_reserved) return "reserved";
  if ((flags & PG_movable) === 0) return `unmovable (${f.ownerOf(pfn) || "kernel allocation"})`;
  if (f.pincount[i]! > 0) return `pinned ${f.pincount[i]} time(s) (${f.ownerOf(pfn) || "user page"})`;
  if (f.refcount[i]! > 1)
    return `held by ${f.refcount[i]! - 1} extra reference(s) (${f.ownerOf(pfn) || "user page"})`;
  return null;
}

/**
 * Moves the movable page `pfn` to a newly allocated frame and returns the new pfn: copies its
 * bytes (after the CPU cache gave up its lines), repoints every mapping, carries over flags,
 * owner and mapcount, and frees the old frame. EBUSY when the page is not movable, pinned or
 * referenced beyond its mappings; ENOMEM when no frame is free.
 */
export function migratePage(mm: Mm, pfn: number): number {
  const f = mm.frames;
  const i = f.index(pfn);
  const why = whyUnmovable(mm, pfn);
  if (why) throw new KernelError("EBUSY", `migrate: pfn ${hex(pfn)} cannot move: ${why}`);
  const dst = mm.buddy.allocPages(0, GFP_HIGHUSER_MOVABLE);
  if (dst === null) throw new KernelError("ENOMEM", `migrate: no free frame to move pfn ${hex(pfn)} to`);
  const j = dst - f.basePfn;
  const src = pfn * PAGE_SIZE;
  const to = dst * PAGE_SIZE;
  mm.hooks.cache?.prepareMove(src, to, PAGE_SIZE);
  mm.phys.copy(to, src, PAGE_SIZE);
  f.flags[j] = f.flags[i]! & (PG_movable | PG_anon);
  f.owner[j] = f.owner[i]!;
  f.mapcount[j] = f.mapcount[i]!;
  mm._rmapMigrate(pfn, dst);
  f.mapcount[i] = 0;
  f.flags[i] = f.flags[i]! & ~(PG_movable | PG_anon);
  mm.buddy.putPage(pfn);
  return dst;
}

/** Result of `allocContigRange`. */
export interface ContigResult {
  /** pages that had to move out of the way */
  readonly migrated: number;
}

/**
 * `alloc_contig_range`: takes `[startPfn, endPfn)` out of the page allocator. The pageblocks
 * around it are isolated, every page in use is migrated away, then the free range is taken; the
 * pages come back allocated (refcount 1 each, tagged `tag`). EINVAL when the range is not RAM,
 * EBUSY when a page cannot move (pinned, unmovable): the pageblocks return to their types and the
 * range to the allocator, except for pages already moved, which stay moved (as in the kernel).
 * ENOMEM when no frame is free to move a page to.
 */
export function allocContigRange(mm: Mm, startPfn: number, endPfn: number, tag = ""): ContigResult {
  const f = mm.frames;
  if (!(endPfn > startPfn))
    throw new KernelError("EINVAL", `alloc_contig_range: empty range [${hex(startPfn)}, ${hex(endPfn)})`);
  for (const pfn of [startPfn, endPfn - 1]) f.index(pfn);
  if (!mm.phys.isRam(startPfn * PAGE_SIZE, (endPfn - startPfn) * PAGE_SIZE)) {
    throw new KernelError("EINVAL", `alloc_contig_range: [${hex(startPfn)}, ${hex(endPfn)}) is not all RAM`);
  }
  const buddy = mm.buddy;
  const pbFirst = Math.floor(startPfn / PAGEBLOCK_NR_PAGES) * PAGEBLOCK_NR_PAGES;
  const saved: { pfn: number; mt: number }[] = [];
  for (let pb = pbFirst; pb < endPfn; pb += PAGEBLOCK_NR_PAGES) {
    const probe = Math.max(pb, f.basePfn);
    saved.push({ pfn: probe, mt: f.pageblockType(probe) });
    buddy.setPageblockMigratetype(probe, MIGRATE_ISOLATE);
  }
  const undo = (): void => {
    for (const s of saved) buddy.setPageblockMigratetype(s.pfn, s.mt);
  };
  let migrated = 0;
  try {
    for (let pfn = startPfn; pfn < endPfn; ) {
      const i = pfn - f.basePfn;
      if (buddy.isFree(pfn)) {
        pfn++;
        continue;
      }
      if (f.refcount[i]! > 0 && (f.flags[i]! & PG_reserved) === 0) {
        migratePage(mm, pfn);
        migrated++;
      } else if (f.flags[i]! & PG_reserved) {
        throw new KernelError("EBUSY", `alloc_contig_range: pfn ${hex(pfn)} is reserved`);
      }
      pfn++;
    }
    buddy.takeFreeRange(startPfn, endPfn, tag);
  } catch (e) {
    undo();
    mm._traceMigrate(startPfn, endPfn, migrated, 1);
    throw e;
  }
  undo();
  mm._traceMigrate(startPfn, endPfn, migrated, 0);
  return { migrated };
}

/** `free_contig_range`: returns `count` pages from `pfn` taken by `allocContigRange`. */
export function freeContigRange(mm: Mm, pfn: number, count: number): void {
  for (let k = 0; k < count; k++) mm.buddy.putPage(pfn + k);
}
