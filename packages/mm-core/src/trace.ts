/**
 * mm-core's trace events (include/trace/events/kmem.h, migrate.h; DMA transfers are umm's own).
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /** `mm_page_alloc`: a block of 2^order pages from the buddy allocator */
    mm_page_alloc: { pfn: number; order: number; gfp_flags: number; migratetype: number };
    /** `mm_page_free`: a block returned (order 0 for single pages) */
    mm_page_free: { pfn: number; order: number };
    /** a contiguous range was emptied by migration (alloc_contig_range); `failed` 1 when it gave up */
    mm_migrate_pages: { start_pfn: number; end_pfn: number; nr_migrated: number; failed: number };
    /** a VMA appeared (`map` true) or went away */
    mm_vma: { space: string; start: number; end: number; memtype: string; name: string; map: boolean };
    /** user pages taken (`hold` true) or released; `pin` for FOLL_PIN */
    mm_gup: { space: string; uaddr: number; size: number; nr_pages: number; pin: boolean; hold: boolean };
    /** a device transfer through its DMA port */
    dma_xfer: { device: string; dir: "read" | "write"; daddr: number; size: number };
    /** a device access beyond its DMA mask or outside RAM */
    dma_bus_error: { device: string; dir: "read" | "write"; daddr: number; size: number };
  }
}

export {};
