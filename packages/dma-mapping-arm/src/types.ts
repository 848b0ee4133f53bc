/**
 * Constants and plain types of the DMA mapping API (include/linux/dma-mapping.h,
 * dma-direction.h, dma-map-ops.h, swiotlb.h): directions, attributes, the mapping-error
 * sentinel, the opaque cookie of `DMA_ATTR_NO_KERNEL_MAPPING`, and the Kconfig values this model
 * fixes.
 *
 * @module
 */
import { KernelBug, SZ_64M } from "@umm/kernel-core";

// ---- directions (enum dma_data_direction) ----

/** The device may read and write the buffer. */
export const DMA_BIDIRECTIONAL = 0;
/** The device reads the buffer (the CPU wrote it). */
export const DMA_TO_DEVICE = 1;
/** The device writes the buffer (the CPU reads it afterwards). */
export const DMA_FROM_DEVICE = 2;
/** No direction: never valid for a mapping or a sync (the kernel BUGs). */
export const DMA_NONE = 3;

/** A DMA direction value. */
export type DmaDataDirection = 0 | 1 | 2 | 3;

/** Direction names as dma-debug prints them, indexed by direction. */
export const DMA_DIRECTION_NAMES: readonly string[] = Object.freeze([
  "DMA_BIDIRECTIONAL",
  "DMA_TO_DEVICE",
  "DMA_FROM_DEVICE",
  "DMA_NONE",
]);

/** Direction names as the dma tracepoints print them (`__print_symbolic`). */
export const DMA_DIRECTION_TRACE: readonly string[] = Object.freeze([
  "BIDIRECTIONAL",
  "TO_DEVICE",
  "FROM_DEVICE",
  "NONE",
]);

/** `valid_dma_direction`: BIDIRECTIONAL, TO_DEVICE or FROM_DEVICE. */
export function validDmaDirection(dir: number): dir is 0 | 1 | 2 {
  return dir === DMA_BIDIRECTIONAL || dir === DMA_TO_DEVICE || dir === DMA_FROM_DEVICE;
}

/**
 * `BUG_ON(!valid_dma_direction(dir))`, as every map, unmap and sync does: a `KernelBug` naming
 * the call and the value.
 */
export function checkDmaDirection(dir: number, what: string): asserts dir is 0 | 1 | 2 {
  if (!validDmaDirection(dir)) {
    throw new KernelBug(`${what}: invalid DMA direction ${String(dir)} (BUG_ON(!valid_dma_direction))`);
  }
}

// ---- attributes (DMA_ATTR_*) ----

/** Reads and writes may be reordered (a hint; ignored on ARM). */
export const DMA_ATTR_WEAK_ORDERING = 1 << 1;
/** The CPU mapping of a coherent buffer is write-combining instead of uncached. */
export const DMA_ATTR_WRITE_COMBINE = 1 << 2;
/**
 * No kernel virtual mapping: the allocation returns an opaque `DmaCookie` instead of a CPU
 * address, to be passed back unchanged to free, mmap and get_sgtable.
 */
export const DMA_ATTR_NO_KERNEL_MAPPING = 1 << 4;
/** Map, unmap and sync skip the CPU cache maintenance (and swiotlb's copy on unmap). */
export const DMA_ATTR_SKIP_CPU_SYNC = 1 << 5;
/** IOMMU allocations: physically contiguous memory (from CMA). */
export const DMA_ATTR_FORCE_CONTIGUOUS = 1 << 6;
/** IOMMU allocations: single 4 KiB pages, no higher orders tried. */
export const DMA_ATTR_ALLOC_SINGLE_PAGES = 1 << 7;
/** Failures are expected: no warning. */
export const DMA_ATTR_NO_WARN = 1 << 8;
/** The mapping is for privileged device accesses only (IOMMU_PRIV). */
export const DMA_ATTR_PRIVILEGED = 1 << 9;

// ---- sentinels and limits ----

/**
 * `DMA_MAPPING_ERROR` (`~(dma_addr_t)0`): what a failed map returns. umm spells it -1, the
 * all-ones value read as a signed number, so that it can never be a bus address; test it with
 * `dmaMappingError(dev, addr)`.
 */
export const DMA_MAPPING_ERROR = -1;

/** `SIZE_MAX` of ARM32's 32-bit `size_t`: "no limit" for `dmaMaxMappingSize`. */
export const SIZE_MAX = 0xffffffff;

/** `CONFIG_ARM_DMA_IOMMU_ALIGNMENT`: IOVA alignment capped at 2^8 pages (1 MiB). */
export const CONFIG_ARM_DMA_IOMMU_ALIGNMENT = 8;

/** Page orders `__iommu_alloc_buffer` tries, largest first (2 MiB, 1 MiB, 64 KiB, 4 KiB). */
export const IOMMU_ORDER_ARRAY: readonly number[] = Object.freeze([9, 8, 4, 0]);

/** swiotlb slot size: 1 << IO_TLB_SHIFT = 2 KiB. */
export const IO_TLB_SHIFT = 11;
/** Bytes per swiotlb slot. */
export const IO_TLB_SIZE = 1 << IO_TLB_SHIFT;
/** Slots per segment: no bounce buffer spans two segments (128 slots = 256 KiB). */
export const IO_TLB_SEGSIZE = 128;
/** Default swiotlb pool size (64 MiB). */
export const IO_TLB_DEFAULT_SIZE = SZ_64M;

// ---- results ----

/**
 * The opaque handle `dmaAllocAttrs` returns as `cpuAddr` under `DMA_ATTR_NO_KERNEL_MAPPING`
 * (ARM32 returns a `struct page *` or a page array). It is not an address: the CPU cannot access
 * the buffer through it; pass it back unchanged to `dmaFreeAttrs`, `dmaMmapAttrs` and
 * `dmaGetSgtable`.
 */
export class DmaCookie {
  /** for reports: device and size */
  readonly label: string;

  /** @internal made by the allocators */
  constructor(label: string) {
    this.label = label;
    Object.freeze(this);
  }

  /** The label. */
  toString(): string {
    return `[dma cookie ${this.label}]`;
  }
}

/** A CPU-side handle of a coherent buffer: a kernel virtual address, or a cookie. */
export type DmaCpuAddr = number | DmaCookie;

/** What `dmaAllocAttrs` returns: the CPU's handle and the device's bus address. */
export interface DmaAllocation<C extends DmaCpuAddr = DmaCpuAddr> {
  /** kernel virtual address (K.V), or a `DmaCookie` under DMA_ATTR_NO_KERNEL_MAPPING */
  readonly cpuAddr: C;
  /** the address the device uses (D.V: a bus address, or an IOVA behind an IOMMU) */
  readonly dmaAddr: number;
}
