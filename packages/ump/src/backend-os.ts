/**
 * The OS backend (`ump_kernel_memory_backend_os.c`, `ump_backend=1`): one zeroed `alloc_page`
 * per 4 KiB, so a buffer is as many single-page blocks (never physically linear). When a page is
 * missing, every page taken goes back and the allocation fails. `ump_memory_size` is only
 * recorded (`num_pages_max`), as in ARM's driver, which never checks it.
 *
 * Uncached buffers: ARM `dma_map_page`s each page and leaves it cacheable in the kernel linear
 * map; umm remaps the pages write-combined there while the buffer is uncached (see `linear.ts`).
 *
 * @module
 */
import { hex, PAGE_SIZE } from "@umm/kernel-core";
import { __GFP_ZERO, GFP_KERNEL, type Mm } from "@umm/mm-core";
import { setLinearMemtype } from "./linear.js";
import type { UmpAllocRequest, UmpBackendAllocation, UmpMemoryBackend } from "./ops.js";
import type { UmpDdPhysicalBlock } from "./types.js";

/** Owner tag of the OS backend's pages (reports, coherency hazards). */
export const UMP_OS_PAGE_TAG = "ump:os";

interface OsInfo {
  /** the pages are write-combined in the linear map (the buffer is uncached) */
  wc: boolean;
}

/** The OS backend, with its page counter exposed. */
export interface UmpOsBackend extends UmpMemoryBackend {
  readonly name: "os";
  /** `num_pages_allocated` */
  readonly pagesAllocated: number;
  /** `num_pages_max` (`ump_memory_size / PAGE_SIZE`; recorded, not enforced) */
  readonly pagesMax: number;
}

/** `ump_os_memory_backend_create(max_allocation)`. */
export function umpOsBackend(mm: Mm, maxAllocation: number): UmpOsBackend {
  let allocated = 0;
  const pagesMax = Math.floor(Math.max(0, maxAllocation) / PAGE_SIZE);
  return {
    name: "os",
    get pagesAllocated() {
      return allocated;
    },
    pagesMax,
    allocate(req: UmpAllocRequest): UmpBackendAllocation | null {
      const buddy = mm.buddy;
      const n = req.size / PAGE_SIZE;
      const blocks: UmpDdPhysicalBlock[] = [];
      for (let k = 0; k < n; k++) {
        const pfn = buddy.allocPages(0, GFP_KERNEL | __GFP_ZERO, { tag: UMP_OS_PAGE_TAG });
        if (pfn === null) {
          for (const b of blocks) buddy.freePages(b.addr / PAGE_SIZE, 0);
          return null;
        }
        blocks.push({ addr: pfn * PAGE_SIZE, size: PAGE_SIZE });
      }
      // zeroing dropped the pages' cache lines: remapping them write-combined loses nothing
      if (!req.cached) setLinearMemtype(mm, blocks, "writecombine");
      allocated += n;
      const info: OsInfo = { wc: !req.cached };
      return { blocks, size: req.size, cached: req.cached, info };
    },
    release(alloc: UmpBackendAllocation): void {
      const info = alloc.info as OsInfo;
      if (info.wc) setLinearMemtype(mm, alloc.blocks, "cacheable");
      allocated -= alloc.blocks.length;
      for (const b of alloc.blocks) mm.buddy.freePages(b.addr / PAGE_SIZE, 0);
    },
    setCached(alloc: UmpBackendAllocation): void {
      const info = alloc.info as OsInfo;
      if (!info.wc) return;
      setLinearMemtype(mm, alloc.blocks, "cacheable");
      info.wc = false;
    },
    stat: () => allocated * PAGE_SIZE,
    info: () => ({
      pagesAllocated: allocated,
      pagesMax,
      bytesInUse: allocated * PAGE_SIZE,
      limit: hex(pagesMax * PAGE_SIZE),
    }),
  };
}
