/**
 * Trace events of the DMA mapping layer, named and shaped as include/trace/events/dma.h and
 * swiotlb.h (directions print symbolically: "TO_DEVICE", ...), plus `swiotlb_warn`, `dma_warn`
 * (where the kernel WARNs and carries on) and `dma_debug_error` (a DMA-API debug report).
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /** a page (or part of one) mapped for streaming DMA */
    dma_map_page: {
      device: string;
      phys_addr: number;
      dma_addr: number;
      size: number;
      dir: string;
      attrs: number;
    };
    /** a streaming mapping undone */
    dma_unmap_page: { device: string; addr: number; size: number; dir: string; attrs: number };
    /** an MMIO resource mapped for a device */
    dma_map_resource: {
      device: string;
      phys_addr: number;
      dma_addr: number;
      size: number;
      dir: string;
      attrs: number;
    };
    /** an MMIO resource mapping undone */
    dma_unmap_resource: { device: string; addr: number; size: number; dir: string; attrs: number };
    /** a scatterlist mapped: `ents` DMA segments for `nents` entries */
    dma_map_sg: {
      device: string;
      nents: number;
      ents: number;
      dir: string;
      dma_addrs: number[];
      lengths: number[];
      phys_addrs: number[];
      attrs: number;
    };
    /** a scatterlist unmapped */
    dma_unmap_sg: { device: string; addrs: number[]; dir: string; attrs: number };
    /** a coherent (dir BIDIRECTIONAL) or non-coherent buffer allocated; virt_addr 0 for a cookie */
    dma_alloc: {
      device: string;
      virt_addr: number;
      dma_addr: number;
      size: number;
      dir: string;
      flags: number;
      attrs: number;
    };
    /** a coherent or non-coherent buffer freed */
    dma_free: {
      device: string;
      virt_addr: number;
      dma_addr: number;
      size: number;
      dir: string;
      attrs: number;
    };
    /** the CPU takes a streaming buffer back */
    dma_sync_single_for_cpu: { device: string; dma_addr: number; size: number; dir: string };
    /** the device gets a streaming buffer back */
    dma_sync_single_for_device: { device: string; dma_addr: number; size: number; dir: string };
    /** the CPU takes a mapped scatterlist back */
    dma_sync_sg_for_cpu: {
      device: string;
      nents: number;
      dir: string;
      dma_addrs: number[];
      lengths: number[];
    };
    /** the device gets a mapped scatterlist back */
    dma_sync_sg_for_device: {
      device: string;
      nents: number;
      dir: string;
      dma_addrs: number[];
      lengths: number[];
    };
    /** a streaming mapping went through a swiotlb bounce buffer */
    swiotlb_bounced: { dev_name: string; dma_mask: number; dev_addr: number; size: number; force: boolean };
    /** swiotlb refused a mapping (pool full, too large, beyond the mask) */
    swiotlb_warn: { device: string; message: string };
    /** the DMA layer WARNed and carried on (dev_WARN_ONCE, dev_warn) */
    dma_warn: { device: string; message: string };
    /**
     * DMA-API debug found a misuse: `check` names the check, `message` is the kernel's text
     * ("DMA-API: <driver> <device>: ..."), `tag` the caller's tag (default the driver's name),
     * `mapped_by` the tag of the call that created the entry involved ("" when none).
     */
    dma_debug_error: {
      check: string;
      device: string;
      driver: string;
      dev_addr: number;
      size: number;
      dir: string;
      tag: string;
      mapped_by: string;
      message: string;
    };
  }
}

/** The names of this package's trace events. */
export type DmaTraceEvent =
  | "dma_map_page"
  | "dma_unmap_page"
  | "dma_map_resource"
  | "dma_unmap_resource"
  | "dma_map_sg"
  | "dma_unmap_sg"
  | "dma_alloc"
  | "dma_free"
  | "dma_sync_single_for_cpu"
  | "dma_sync_single_for_device"
  | "dma_sync_sg_for_cpu"
  | "dma_sync_sg_for_device"
  | "swiotlb_bounced"
  | "swiotlb_warn"
  | "dma_warn"
  | "dma_debug_error";
