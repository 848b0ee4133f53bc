/**
 * The seam of the DMA mapping layer (include/linux/dma-map-ops.h): `DmaMapOps`, the table a
 * device's DMA implementation fills, and what implementers need besides — `setDmaOps` /
 * `getDmaOps`, the ARM cache maintenance of streaming DMA (`archSyncDmaForDevice` /
 * `archSyncDmaForCpu`), and the two implementations this package provides: `ARM_DMA_OPS`
 * (dma-direct with ARM's cache rules, swiotlb and CMA) and `ARM_IOMMU_OPS` (arch/arm's
 * `iommu_ops` over the IOMMU API).
 *
 * Drivers never call ops directly: they call the `dma*` functions of `@umm/dma-mapping-arm`, which
 * validate, trace, run DMA-API debug and dispatch through `dev.dmaOps` (null: `ARM_DMA_OPS`), as
 * kernel/dma/mapping.c does.
 *
 * @module
 */
import { type Device, KernelBug } from "@umm/kernel-core";
import type { MmapContext } from "@umm/kernel-process";
import type { SgEntry, SgTable } from "./scatterlist.js";
import type { DmaAllocation, DmaCpuAddr, DmaDataDirection } from "./types.js";

/**
 * `struct dma_map_ops`. Every member is optional; the core's behaviour without one is given for
 * each. Sizes are bytes as the caller passed them (not page-aligned); directions are valid (the
 * core BUGs on others before calling); `attrs` are DMA_ATTR_* bits. A member that rejects its
 * arguments throws a `KernelError` and changes nothing.
 */
export interface DmaMapOps {
  /** shown in reports and traces */
  readonly name: string;
  /**
   * `alloc`: a coherent buffer of `size` bytes: zeroed, with a CPU handle (a kernel address, or a
   * `DmaCookie` under DMA_ATTR_NO_KERNEL_MAPPING) and a bus address; null when out of memory.
   * Absent: `dmaAllocAttrs` returns null.
   */
  readonly alloc?: (dev: Device, size: number, gfp: number, attrs: number) => DmaAllocation | null;
  /**
   * `free`: releases what `alloc` returned (same size, handle, address, attrs); EINVAL when they do
   * not name a live allocation of `dev`. Absent: nothing is freed.
   */
  readonly free?: (dev: Device, size: number, cpuAddr: DmaCpuAddr, dmaAddr: number, attrs: number) => void;
  /**
   * `alloc_pages_op`: `size` bytes of cacheable lowmem pages mapped for the device (the backing of
   * `dmaAllocNoncoherent`); returns the first page frame and the bus address, or null. The CPU
   * owns the zeroed buffer; the caller syncs. Absent: `dmaAllocNoncoherent` returns null.
   */
  readonly allocPages?: (
    dev: Device,
    size: number,
    dir: DmaDataDirection,
    gfp: number,
  ) => { readonly pfn: number; readonly dmaAddr: number } | null;
  /** `free_pages`: releases what `allocPages` returned. Absent: nothing is freed. */
  readonly freePages?: (
    dev: Device,
    size: number,
    pfn: number,
    dmaAddr: number,
    dir: DmaDataDirection,
  ) => void;
  /**
   * `mmap`: fills a user mapping (`ctx`, whose `pgoff` and `length` are the VMA's) with the
   * buffer's pages and the memory type matching the kernel's mapping; ENXIO when the buffer is
   * unknown or the VMA does not fit. Absent: `dmaMmapAttrs` throws ENXIO.
   */
  readonly mmap?: (
    dev: Device,
    ctx: MmapContext,
    cpuAddr: DmaCpuAddr,
    dmaAddr: number,
    size: number,
    attrs: number,
  ) => void;
  /**
   * `get_sgtable`: a scatterlist of the buffer's pages; ENXIO when the buffer is unknown. Absent:
   * `dmaGetSgtable` throws ENXIO.
   */
  readonly getSgtable?: (
    dev: Device,
    cpuAddr: DmaCpuAddr,
    dmaAddr: number,
    size: number,
    attrs: number,
  ) => SgTable;
  /**
   * `map_page`: makes `size` bytes from `offset` in page `pfn` (physically contiguous) visible to
   * the device, doing the CPU cache maintenance `dir` needs unless DMA_ATTR_SKIP_CPU_SYNC or the
   * device is coherent; returns the bus address, or `DMA_MAPPING_ERROR` when the device cannot
   * reach the memory. Absent: every map returns `DMA_MAPPING_ERROR`.
   */
  readonly mapPage?: (
    dev: Device,
    pfn: number,
    offset: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ) => number;
  /**
   * `unmap_page`: undoes `mapPage` and gives the buffer back to the CPU (maintenance for `dir`);
   * EINVAL when the address names nothing it can undo. Absent: nothing happens.
   */
  readonly unmapPage?: (
    dev: Device,
    dmaAddr: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ) => void;
  /**
   * `map_sg`: maps the first `nents` entries of `sg`, writing DMA segments into the first entries'
   * `dmaAddress` / `dmaLength` (an IOMMU may merge entries: fewer segments than entries), and
   * returns the number of segments (> 0). Throws EINVAL (bad list), ENOMEM (no address space;
   * retryable) or EIO, after undoing everything it mapped. Absent: the core maps entry by entry
   * with `mapPage` (as dma-direct does).
   */
  readonly mapSg?: (
    dev: Device,
    sg: SgEntry[],
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ) => number;
  /**
   * `unmap_sg`: undoes `mapSg`; `nents` is the number of entries passed to the map. Absent: the
   * core unmaps segment by segment with `unmapPage`.
   */
  readonly unmapSg?: (
    dev: Device,
    sg: SgEntry[],
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ) => void;
  /**
   * `map_resource`: maps an MMIO range (no cache maintenance, no struct page); returns the bus
   * address or `DMA_MAPPING_ERROR`. Absent: `DMA_MAPPING_ERROR`.
   */
  readonly mapResource?: (
    dev: Device,
    paddr: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ) => number;
  /** `unmap_resource`: undoes `mapResource`. Absent: nothing happens. */
  readonly unmapResource?: (
    dev: Device,
    dmaAddr: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ) => void;
  /**
   * `sync_single_for_cpu`: the CPU takes `[dmaAddr, dmaAddr + size)` back (invalidate unless
   * TO_DEVICE; swiotlb copies back). Absent: nothing happens (a coherent device).
   */
  readonly syncSingleForCpu?: (dev: Device, dmaAddr: number, size: number, dir: DmaDataDirection) => void;
  /**
   * `sync_single_for_device`: the device gets the range back (clean, or invalidate for
   * FROM_DEVICE; swiotlb copies in). Absent: nothing happens.
   */
  readonly syncSingleForDevice?: (dev: Device, dmaAddr: number, size: number, dir: DmaDataDirection) => void;
  /** `sync_sg_for_cpu` over `nents` entries (the count passed to the map). Absent: nothing. */
  readonly syncSgForCpu?: (dev: Device, sg: SgEntry[], nents: number, dir: DmaDataDirection) => void;
  /** `sync_sg_for_device` over `nents` entries. Absent: nothing. */
  readonly syncSgForDevice?: (dev: Device, sg: SgEntry[], nents: number, dir: DmaDataDirection) => void;
  /**
   * `dma_supported`: whether the implementation can serve a device with this DMA mask. Absent:
   * every mask is supported (as for IOMMU devices).
   */
  readonly dmaSupported?: (dev: Device, mask: number) => boolean;
  /** `max_mapping_size`: the largest single mapping in bytes. Absent: `SIZE_MAX`. */
  readonly maxMappingSize?: (dev: Device) => number;
}

/**
 * `get_dma_ops`: the ops installed on `dev`, or null (the device uses dma-direct). A `KernelBug`
 * when the slot holds something else.
 */
export function getDmaOps(dev: Device): DmaMapOps | null {
  const ops = dev.dmaOps;
  if (ops === null || ops === undefined) return null;
  if (typeof ops !== "object" || typeof (ops as DmaMapOps).name !== "string") {
    throw new KernelBug(`${dev.name}.dmaOps is not a DmaMapOps table`);
  }
  return ops as DmaMapOps;
}

/** `set_dma_ops`: installs `ops` on `dev` (null: back to dma-direct). */
export function setDmaOps(dev: Device, ops: DmaMapOps | null): void {
  dev.dmaOps = ops;
}

export { archSyncDmaForCpu, archSyncDmaForDevice } from "./arch.js";
export { ARM_DMA_OPS } from "./direct.js";
export { ARM_IOMMU_OPS } from "./iommu.js";
export type { DmaAllocation, DmaCpuAddr, DmaDataDirection } from "./types.js";
