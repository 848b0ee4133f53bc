/**
 * Scatterlists (include/linux/scatterlist.h, lib/scatterlist.c): a table of entries, each a run
 * of bytes in one physically contiguous piece of memory (first page, offset, length) and, once
 * mapped, a DMA segment (`dmaAddress`, `dmaLength`). After a map the first `nents` entries hold
 * the DMA segments (fewer than `origNents` when an IOMMU merged entries); unmap and sync take
 * `origNents`.
 *
 * @module
 */
import { hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";

/** One scatterlist entry (`struct scatterlist`). */
export interface SgEntry {
  /** first page frame (`sg_page`) */
  pfn: number;
  /** byte offset into the first page */
  offset: number;
  /** bytes of memory this entry describes */
  length: number;
  /** `sg_dma_address`: the DMA segment's bus address, once mapped */
  dmaAddress: number;
  /** `sg_dma_len`: the DMA segment's length, once mapped (0: no segment) */
  dmaLength: number;
}

/** `sg_phys`: the physical address of the entry's first byte. */
export function sgPhys(sg: SgEntry): number {
  return sg.pfn * PAGE_SIZE + sg.offset;
}

/** `sg_set_page`: points `sg` at `length` bytes from `offset` in page `pfn`. */
export function sgSetPage(sg: SgEntry, pfn: number, length: number, offset: number): void {
  sg.pfn = pfn;
  sg.length = length;
  sg.offset = offset;
}

function newEntry(pfn = 0, offset = 0, length = 0): SgEntry {
  return { pfn, offset, length, dmaAddress: 0, dmaLength: 0 };
}

/** A scatter-gather table (`struct sg_table`). */
export class SgTable {
  /** the entries (`sgl`) */
  readonly sgl: SgEntry[];
  /** entries holding DMA segments after a map (`nents`); `origNents` before */
  nents: number;
  /** entries describing memory (`orig_nents`) */
  readonly origNents: number;

  /**
   * A table of the given entries (pfn, offset, length). EINVAL for an empty list or an entry
   * that is not a non-negative pfn, an offset ≥ 0 and a positive length.
   */
  constructor(entries: readonly { pfn: number; offset?: number; length: number }[]) {
    if (entries.length === 0) throw new KernelError("EINVAL", "sg table: no entries");
    this.sgl = entries.map((e, i) => {
      const off = e.offset ?? 0;
      if (!Number.isSafeInteger(e.pfn) || e.pfn < 0)
        throw new KernelError("EINVAL", `sg table: entry ${i}: pfn ${String(e.pfn)} is not a page frame`);
      if (!Number.isSafeInteger(off) || off < 0)
        throw new KernelError("EINVAL", `sg table: entry ${i}: offset ${String(off)} is negative`);
      if (!Number.isSafeInteger(e.length) || e.length <= 0)
        throw new KernelError("EINVAL", `sg table: entry ${i}: length ${String(e.length)} must be positive`);
      return newEntry(e.pfn, off, e.length);
    });
    this.origNents = this.sgl.length;
    this.nents = this.origNents;
  }

  /** Bytes of memory the table describes (sum of the entry lengths). */
  get size(): number {
    let n = 0;
    for (let i = 0; i < this.origNents; i++) n += this.sgl[i]!.length;
    return n;
  }

  /** The mapped DMA segments (the first `nents` entries' `dmaAddress`, `dmaLength`). */
  dmaSegments(): { dmaAddress: number; dmaLength: number }[] {
    const out: { dmaAddress: number; dmaLength: number }[] = [];
    for (let i = 0; i < this.nents; i++) {
      const s = this.sgl[i]!;
      out.push({ dmaAddress: s.dmaAddress, dmaLength: s.dmaLength });
    }
    return out;
  }
}

/** Default `max_segment` of `sg_alloc_table_from_pages`: UINT_MAX rounded down to a page. */
export const SG_MAX_SEGMENT_DEFAULT = 0xfffff000;

/**
 * `sg_alloc_table_from_pages_segment`: a table over `size` bytes starting `offset` bytes into
 * the first of `pfns`, one entry per run of physically contiguous pages, each at most
 * `maxSegment` bytes (rounded down to pages). `pfns` must be exactly the pages the range spans.
 * EINVAL for an empty page list, an offset outside the first page, a size that does not span
 * exactly `pfns.length` pages, or `maxSegment` below one page.
 */
export function sgAllocTableFromPages(
  pfns: ArrayLike<number>,
  offset: number,
  size: number,
  maxSegment: number = SG_MAX_SEGMENT_DEFAULT,
): SgTable {
  const n = pfns.length;
  if (n === 0) throw new KernelError("EINVAL", "sg_alloc_table_from_pages: no pages");
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= PAGE_SIZE)
    throw new KernelError("EINVAL", `sg_alloc_table_from_pages: offset ${hex(offset)} is not inside a page`);
  if (!Number.isSafeInteger(size) || size <= 0)
    throw new KernelError("EINVAL", `sg_alloc_table_from_pages: size ${String(size)} must be positive`);
  if (Math.ceil((offset + size) / PAGE_SIZE) !== n) {
    throw new KernelError(
      "EINVAL",
      `sg_alloc_table_from_pages: offset ${hex(offset)} + size ${hex(size)} spans ${Math.ceil((offset + size) / PAGE_SIZE)} pages, ${n} given`,
    );
  }
  const maxSeg = Math.floor(maxSegment / PAGE_SIZE) * PAGE_SIZE;
  if (!Number.isSafeInteger(maxSegment) || maxSeg < PAGE_SIZE)
    throw new KernelError(
      "EINVAL",
      `sg_alloc_table_from_pages: max_segment ${hex(maxSegment)} is below a page`,
    );
  for (let i = 0; i < n; i++) {
    const p = pfns[i]!;
    if (!Number.isSafeInteger(p) || p < 0)
      throw new KernelError(
        "EINVAL",
        `sg_alloc_table_from_pages: page ${i}: pfn ${String(p)} is not a page frame`,
      );
  }
  const entries: { pfn: number; offset: number; length: number }[] = [];
  let left = size;
  let off = offset;
  let cur = 0;
  while (cur < n) {
    let segLen = 0;
    let j = cur + 1;
    for (; j < n; j++) {
      segLen += PAGE_SIZE;
      if (segLen >= maxSeg || pfns[j] !== pfns[j - 1]! + 1) break;
    }
    const chunk = (j - cur) * PAGE_SIZE - off;
    entries.push({ pfn: pfns[cur]!, offset: off, length: Math.min(left, chunk) });
    left -= chunk;
    off = 0;
    cur = j;
  }
  return new SgTable(entries);
}
