/**
 * Trace events of the System MMU model and its driver (exynos-iommu has no tracepoints of its
 * own; these follow its log lines: "%s: [%s] %s FAULT occurred at %#x", TLB invalidation,
 * enable / disable).
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /**
     * A System MMU raised a fault: `type` is the fault's name ("PAGE", "MULTI-HIT", "BUS ERROR",
     * "SECURITY PROTECTION", "ACCESS PROTECTION", "PTW"), `write` the direction of the access.
     */
    sysmmu_fault: { sysmmu: string; master: string; type: string; iova: number; write: boolean };
    /** TLB entries were invalidated: everything, the entry of one page, or a range of pages. */
    sysmmu_tlb_flush: { sysmmu: string; scope: "all" | "entry" | "range"; iova: number; size: number };
    /**
     * The TLB sanitizer (`SysMmu.tlbSanitizer`) found a translation served from a stale TLB
     * entry: the TLB gave `iova` the physical address `tlb_pa`, the page table now gives `pt_pa`
     * (-1: unmapped); `missing` names the maintenance that was left out.
     */
    sysmmu_stale_tlb: {
      sysmmu: string;
      master: string;
      iova: number;
      tlb_pa: number;
      pt_pa: number;
      missing: string;
    };
    /** Translation was switched on with the first-level table at `pgtable` (physical). */
    sysmmu_enable: { sysmmu: string; pgtable: number };
    /** Translation was switched off: the master's addresses pass through. */
    sysmmu_disable: { sysmmu: string };
    /** Where exynos-iommu WARNs or panics and carries on here: the kernel's message. */
    sysmmu_warn: { sysmmu: string; message: string };
  }
}

export {};
