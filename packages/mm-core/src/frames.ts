/**
 * Page frames: per-pfn metadata as a struct of typed arrays (the kernel's `struct page` array,
 * `mem_map`), indexed by `pfn - basePfn` over the spanned physical range. Holes between banks
 * are flagged PG_hole.
 *
 * @module
 */
import { hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import type { PhysMem } from "./phys.js";
import { PAGEBLOCK_ORDER, PG_hole } from "./types.js";

/** Interned owner tags: which buffer a page belongs to, for reports and hazard messages. */
export class TagTable {
  readonly #ids = new Map<string, number>();
  readonly #names: string[] = [""];

  /** The id of `tag` (0 is the empty tag). */
  intern(tag: string): number {
    if (tag === "") return 0;
    let id = this.#ids.get(tag);
    if (id === undefined) {
      id = this.#names.length;
      this.#names.push(tag);
      this.#ids.set(tag, id);
    }
    return id;
  }

  /** The tag of `id` ("" for 0 or unknown). */
  name(id: number): string {
    return this.#names[id] ?? "";
  }
}

/** Per-page metadata for every pfn of the spanned range. */
export class PageFrames {
  /** first pfn of the span */
  readonly basePfn: number;
  /** pfns in the span (holes included) */
  readonly count: number;
  /** PG_* bits */
  readonly flags: Uint32Array;
  /** `page_count`: references (allocation, mappings of inserted pages, pins) */
  readonly refcount: Int32Array;
  /** `page_mapcount`: user mappings */
  readonly mapcount: Int32Array;
  /** `FOLL_PIN` pins (get_user_pages with pin) */
  readonly pincount: Int32Array;
  /** order of a free buddy head or an allocated block head */
  readonly order: Uint8Array;
  /** owner tag id (TagTable) */
  readonly owner: Uint32Array;
  /** migrate type per pageblock */
  readonly pageblockMt: Uint8Array;
  /** buddy free-list links (page indexes, -1 = none) */
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly tags: TagTable = new TagTable();

  constructor(phys: PhysMem) {
    this.basePfn = Math.floor(phys.start / PAGE_SIZE);
    this.count = Math.ceil(phys.end / PAGE_SIZE) - this.basePfn;
    const n = this.count;
    this.flags = new Uint32Array(n);
    this.refcount = new Int32Array(n);
    this.mapcount = new Int32Array(n);
    this.pincount = new Int32Array(n);
    this.order = new Uint8Array(n);
    this.owner = new Uint32Array(n);
    this.pageblockMt = new Uint8Array(
      ((this.basePfn + n - 1) >>> PAGEBLOCK_ORDER) - (this.basePfn >>> PAGEBLOCK_ORDER) + 1,
    );
    this.next = new Int32Array(n);
    this.prev = new Int32Array(n);
    // mark holes between banks
    let p = phys.start;
    for (const b of phys.banks) {
      if (b.start > p)
        this.flags.fill(PG_hole, p / PAGE_SIZE - this.basePfn, b.start / PAGE_SIZE - this.basePfn);
      p = b.end;
    }
  }

  /** True when `pfn` is in the span and is RAM. */
  valid(pfn: number): boolean {
    const i = pfn - this.basePfn;
    return i >= 0 && i < this.count && (this.flags[i]! & PG_hole) === 0;
  }

  /** Index of `pfn` into the arrays; EINVAL outside the span or in a hole. */
  index(pfn: number): number {
    const i = pfn - this.basePfn;
    if (!(i >= 0 && i < this.count) || (this.flags[i]! & PG_hole) !== 0) {
      throw new KernelError("EINVAL", `pfn ${hex(pfn)} is not a RAM page frame`);
    }
    return i;
  }

  /** Index of the pageblock holding `pfn` into `pageblockMt` (pageblocks align to absolute pfns). */
  pageblockIndex(pfn: number): number {
    return (pfn >>> PAGEBLOCK_ORDER) - (this.basePfn >>> PAGEBLOCK_ORDER);
  }

  /** Pageblock migrate type of `pfn`. */
  pageblockType(pfn: number): number {
    return this.pageblockMt[(pfn >>> PAGEBLOCK_ORDER) - (this.basePfn >>> PAGEBLOCK_ORDER)]!;
  }

  /** Owner tag of `pfn` ("" when untagged). */
  ownerOf(pfn: number): string {
    const i = pfn - this.basePfn;
    return i >= 0 && i < this.count ? this.tags.name(this.owner[i]!) : "";
  }

  /** Tags `count` pages from `pfn` as belonging to `tag` (e.g. "vb2:fimc0:3"). */
  setOwner(pfn: number, count: number, tag: string): void {
    const id = this.tags.intern(tag);
    const i = pfn - this.basePfn;
    this.owner.fill(id, i, i + count);
  }
}
