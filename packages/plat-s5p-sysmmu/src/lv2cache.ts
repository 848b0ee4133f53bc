/**
 * Where exynos-iommu's page-table memory comes from, in simulated DRAM: the
 * "exynos-iommu-lv2table" kmem cache (1 KiB objects, 1 KiB aligned, four to a page taken from
 * the buddy allocator and given back when its last object is freed), and 32-bit access to page
 * tables through typed-array views of the DRAM banks.
 *
 * @module
 */
import { type FaultSite, faultSite, hex, KernelBug, PAGE_SIZE } from "@umm/kernel-core";
import { GFP_ATOMIC, type Mm, type PhysBank } from "@umm/mm-core";
import { LV2TABLE_SIZE } from "./pgtable.js";

const PER_PAGE = PAGE_SIZE / LV2TABLE_SIZE;
const FULL = (1 << PER_PAGE) - 1;

/** `kmem_cache_create("exynos-iommu-lv2table", LV2TABLE_SIZE, LV2TABLE_SIZE, ...)` over the buddy allocator. */
export class Lv2TableCache {
  readonly mm: Mm;
  /** pfn → bitmask of the objects in use in that page */
  readonly #used = new Map<number, number>();
  /** pages with a free object */
  readonly #partial: number[] = [];
  /** the "pgtable" fault-injection site (failslab on this cache) */
  readonly #fault: FaultSite;

  constructor(mm: Mm) {
    this.mm = mm;
    this.#fault = faultSite(mm.kernel, "pgtable");
  }

  /** Pages the cache holds. */
  get pages(): number {
    return this.#used.size;
  }

  /** Objects in use. */
  get objects(): number {
    let n = 0;
    for (const m of this.#used.values()) for (let b = m; b !== 0; b &= b - 1) n++;
    return n;
  }

  /** `kmem_cache_zalloc(..., GFP_ATOMIC)`: a zeroed 1 KiB table, or null when no page is free. */
  zalloc(): number | null {
    if (this.#fault.armed && this.#fault.shouldFail()) return null;
    let pfn = this.#partial[this.#partial.length - 1];
    if (pfn === undefined) {
      const p = this.mm.buddy.allocPages(0, GFP_ATOMIC, { tag: "exynos-iommu-lv2table" });
      if (p === null) return null;
      pfn = p;
      this.#used.set(pfn, 0);
      this.#partial.push(pfn);
    }
    const mask = this.#used.get(pfn)!;
    let slot = 0;
    while (mask & (1 << slot)) slot++;
    const next = mask | (1 << slot);
    this.#used.set(pfn, next);
    if (next === FULL) this.#partial.pop();
    const pa = pfn * PAGE_SIZE + slot * LV2TABLE_SIZE;
    this.mm.phys.fill(pa, 0, LV2TABLE_SIZE);
    return pa;
  }

  /** `kmem_cache_free`: returns a table; its page goes back to the buddy allocator when empty. */
  free(pa: number): void {
    const pfn = Math.floor(pa / PAGE_SIZE);
    const slot = (pa - pfn * PAGE_SIZE) / LV2TABLE_SIZE;
    const mask = this.#used.get(pfn);
    if (mask === undefined || !Number.isInteger(slot) || (mask & (1 << slot)) === 0) {
      throw new KernelBug(`exynos-iommu-lv2table: freeing ${hex(pa)}, which the cache did not hand out`);
    }
    const next = mask & ~(1 << slot);
    if (mask === FULL) this.#partial.push(pfn);
    if (next === 0) {
      this.#used.delete(pfn);
      this.#partial.splice(this.#partial.indexOf(pfn), 1);
      this.mm.buddy.freePages(pfn, 0);
    } else this.#used.set(pfn, next);
  }
}

/**
 * 32-bit words of DRAM through typed-array views of its banks, remembering the last bank: how
 * the driver reads and writes page-table entries without a DataView call per entry.
 */
export class PteMem {
  readonly #banks: readonly PhysBank[];
  readonly #u32: Uint32Array[];
  /** the view `index` last pointed into */
  view: Uint32Array;
  #lo: number;
  #hi: number;

  constructor(mm: Mm) {
    this.#banks = mm.phys.banks;
    this.#u32 = this.#banks.map((b) => new Uint32Array(b.u8.buffer, b.u8.byteOffset, b.size >>> 2));
    this.view = this.#u32[0]!;
    this.#lo = this.#banks[0]!.start;
    this.#hi = this.#banks[0]!.end;
  }

  /** Points `view` at the bank of `[pa, pa + len)` and returns the word index of `pa` in it. */
  index(pa: number, len = 4): number {
    if (pa < this.#lo || pa + len > this.#hi) this.#switchBank(pa, len);
    return (pa - this.#lo) >>> 2;
  }

  /** `index(pa)` of one word (the page-table walk of every map and unmap). */
  word(pa: number): number {
    if (pa < this.#lo || pa + 4 > this.#hi) this.#switchBank(pa, 4);
    return (pa - this.#lo) >>> 2;
  }

  #switchBank(pa: number, len: number): void {
    const i = this.#banks.findIndex((b) => pa >= b.start && pa + len <= b.end);
    if (i < 0) throw new KernelBug(`page-table memory [${hex(pa)}, +${hex(len)}) is not in one DRAM bank`);
    this.view = this.#u32[i]!;
    this.#lo = this.#banks[i]!.start;
    this.#hi = this.#banks[i]!.end;
  }

  /** A view of `words` 32-bit words at `pa` (one bank). */
  words(pa: number, words: number): Uint32Array {
    const i = this.index(pa, words * 4);
    return this.view.subarray(i, i + words);
  }

  /** A view of `n` signed 16-bit counters at `pa` (one bank). */
  shorts(pa: number, n: number): Int16Array {
    const i = this.index(pa, n * 2);
    return new Int16Array(this.view.buffer, this.view.byteOffset + i * 4, n);
  }
}
