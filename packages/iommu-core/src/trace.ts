/**
 * The IOMMU's trace events (include/trace/events/iommu.h, prefixed `iommu_` where the kernel's
 * name is too generic: its `map` is our `iommu_map`), plus IOVA allocator events and a warning
 * event for the places where the kernel WARNs and carries on.
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /** `iommuMap` / one run of `iommuMapSg` succeeded (trace_map) */
    iommu_map: { iova: number; paddr: number; size: number };
    /** `iommuUnmap` / `iommuUnmapFast` finished; `unmapped_size` may differ from `size` (trace_unmap) */
    iommu_unmap: { iova: number; size: number; unmapped_size: number };
    /** `reportIommuFault` ran, with or without a handler (trace_io_page_fault) */
    io_page_fault: { device: string; iova: number; flags: number };
    /** a device now translates through a new domain (trace_attach_device_to_domain) */
    iommu_attach_device_to_domain: { device: string };
    /** a device left its domain with no default to return to (trace_detach_device_from_domain) */
    iommu_detach_device_from_domain: { device: string };
    /** a device joined an IOMMU group (trace_add_device_to_group) */
    iommu_add_device_to_group: { group: number; device: string };
    /** a device left its IOMMU group (trace_remove_device_from_group) */
    iommu_remove_device_from_group: { group: number; device: string };
    /** an IOVA range was allocated (allocIova, allocIovaFast); inclusive pfns */
    iova_alloc: { pfn_lo: number; pfn_hi: number };
    /** an IOVA range was freed (freeIova, freeIovaFast); inclusive pfns */
    iova_free: { pfn_lo: number; pfn_hi: number };
    /** the kernel would WARN here and carry on (a leak at shutdown, a release while attached) */
    iommu_warn: { message: string };
  }
}

/** Names of the events this package emits. */
export type IommuTraceEvent =
  | "iommu_map"
  | "iommu_unmap"
  | "io_page_fault"
  | "iommu_attach_device_to_domain"
  | "iommu_detach_device_from_domain"
  | "iommu_add_device_to_group"
  | "iommu_remove_device_from_group"
  | "iova_alloc"
  | "iova_free"
  | "iommu_warn";
