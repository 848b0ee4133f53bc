/**
 * Keeping the kernel linear map in step with a buffer's caching. ARM's OS backend allocates
 * lowmem pages, which the kernel maps cacheable, and user space then maps an uncached buffer
 * write-combined — two mappings of one page with different memory types, which ARMv6+ forbids
 * (arch-arm's checker reports it as an alias). umm does what `dma_alloc_writecombine` does
 * instead: while a buffer is uncached, its pages are write-combined in the linear map too.
 *
 * @module
 */
import { PAGE_SIZE } from "@umm/kernel-core";
import type { MemType, Mm } from "@umm/mm-core";
import type { UmpDdPhysicalBlock } from "./types.js";

/**
 * Sets the linear-map memory type of every page of `blocks` that the linear map covers (highmem
 * and no-map pages are skipped). The pages must hold no cache lines when they leave the
 * cacheable type (freshly zeroed or invalidated memory).
 */
export function setLinearMemtype(mm: Mm, blocks: readonly UmpDdPhysicalBlock[], memtype: MemType): void {
  const ks = mm.kspace;
  // the order of the frames does not matter here: sorted, OS pages fall into long runs
  const ranges = blocks
    .map((b) => [b.addr / PAGE_SIZE, b.size / PAGE_SIZE] as const)
    .sort((x, y) => x[0] - y[0]);
  let runStart = -1;
  let runLen = 0;
  const flush = (): void => {
    if (runLen > 0) ks.setLinearMemtype(runStart, runLen, memtype);
    runLen = 0;
  };
  for (const [first, n] of ranges) {
    for (let pfn = first; pfn < first + n; pfn++) {
      if (ks.linearMemtype(pfn) === undefined) {
        flush();
        continue;
      }
      if (runLen > 0 && pfn === runStart + runLen) runLen++;
      else {
        flush();
        runStart = pfn;
        runLen = 1;
      }
    }
  }
  flush();
}
