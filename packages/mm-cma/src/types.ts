/**
 * Constants and plain types of the Contiguous Memory Allocator: the Kconfig defaults, the
 * pageblock minimum a reusable area must respect, and the descriptions platform code hands in
 * (2010 region descriptors, `cma_info`, device-tree reserved-memory nodes).
 *
 * @module
 */
import { PAGE_SIZE } from "@umm/kernel-core";
import { PAGEBLOCK_NR_PAGES } from "@umm/mm-core";
import type { CmaAllocator } from "./ops.js";

/** `CMA_MIN_ALIGNMENT_PAGES`: a reusable area is made of whole pageblocks (1024 pages here). */
export const CMA_MIN_ALIGNMENT_PAGES = PAGEBLOCK_NR_PAGES;
/** `CMA_MIN_ALIGNMENT_BYTES`: 4 MiB with 4 KiB pages and pageblock_order 10 (ARM32). */
export const CMA_MIN_ALIGNMENT_BYTES = PAGE_SIZE * CMA_MIN_ALIGNMENT_PAGES;
/** `CONFIG_CMA_AREAS` default: how many merged CMA areas a kernel may declare. */
export const CONFIG_CMA_AREAS = 7;
/** `CONFIG_CMA_SIZE_MBYTES` default: size of the default area when `cma=` is not given. */
export const CONFIG_CMA_SIZE_MBYTES = 16;
/** `CONFIG_CMA_ALIGNMENT` default: largest alignment order `dma_alloc_from_contiguous` honours (1 MiB). */
export const CONFIG_CMA_ALIGNMENT = 8;
/** `CMA_MAX_NAME`: longest area name, including the terminating NUL in the kernel. */
export const CMA_MAX_NAME = 64;
/** Most regions the 2010 `cma=` parser accepts (its static table holds 16, one is the sentinel). */
export const CMA_MAX_CMDLINE_REGIONS = 15;
/** The 2010 framework's default memory type (`cma_alloc(dev, NULL, ...)`). */
export const CMA_DEFAULT_TYPE = "common";
/** Name of the merged default area (`dma_contiguous_reserve`). */
export const CMA_DEFAULT_AREA_NAME = "reserved";
/** Name of the built-in 2010 best-fit allocator (mm/cma-best-fit.c). */
export const CMA_BEST_FIT = "bf";
/** Name of the built-in merged-CMA bitmap first-fit allocator (mm/cma.c). */
export const CMA_BITMAP = "bitmap";
/** Largest `dma_addr_t` of the modelled 32-bit ARM platforms, plus one. */
export const DMA_ADDR_LIMIT = 2 ** 32;

/**
 * A region as platform code describes it (`struct cma_region` before registration). Every field
 * but `size` is optional; a region without a name is private (only `cmaAllocFromRegion` reaches
 * it).
 */
export interface CmaRegionDesc {
  /** the name maps refer to; null or absent: a private region */
  readonly name?: string | null;
  /** physical start; 0 or absent lets the early reservation choose */
  readonly start?: number;
  /** bytes (rounded up to a page, to a pageblock when reusable) */
  readonly size: number;
  /** start alignment, a power of two or 0 (raised to a page, to 4 MiB when reusable) */
  readonly alignment?: number;
  /** the allocator to use, by name (null: the first registered) */
  readonly allocName?: string | null;
  /** an allocator to attach at registration (its `init` must accept the region) */
  readonly alloc?: CmaAllocator;
  /** merged-CMA behaviour: free pages serve movable allocations, allocation migrates them away */
  readonly reusable?: boolean;
  /** bitmap granularity: one bit per 2^orderPerBit pages (bitmap allocator) */
  readonly orderPerBit?: number;
}

/** `struct cma_info`: what `cmaInfo` / `cmaInfoAbout` aggregate over a set of regions. */
export interface CmaInfo {
  /** lowest start of the regions (0 when `count` is 0) */
  readonly lowerBound: number;
  /** highest end of the regions (0 when `count` is 0) */
  readonly upperBound: number;
  /** bytes in the regions */
  readonly totalSize: number;
  /** bytes free in the regions */
  readonly freeSize: number;
  /** number of regions found */
  readonly count: number;
}

/** One `(address, length)` pair of a device-tree `alloc-ranges` property. */
export interface DtRange {
  readonly base: number;
  readonly size: number;
}

/**
 * A `/reserved-memory` child node as a board loader reads it from the device tree
 * (Documentation/devicetree/bindings/reserved-memory/{reserved-memory,shared-dma-pool}.yaml).
 * Either `reg` (static placement) or `size` (dynamic, with optional `alignment` and
 * `allocRanges`) must be given.
 */
export interface ReservedMemNode {
  /** node name (`linux,cma`, `mfc-left@43000000`); becomes the area or region name */
  readonly name: string;
  /** `compatible`; "shared-dma-pool" for CMA areas and coherent pools */
  readonly compatible?: string | readonly string[];
  /** `reg = <base size>`: static placement */
  readonly reg?: DtRange;
  /** `size`: dynamic placement */
  readonly size?: number;
  /** `alignment` of a dynamic placement (raised to 4 MiB for a reusable pool) */
  readonly alignment?: number;
  /** `alloc-ranges`: where a dynamic placement may go, tried in order */
  readonly allocRanges?: readonly DtRange[];
  /** `reusable`: the OS may use the memory while the owner does not (CMA) */
  readonly reusable?: boolean;
  /** `no-map`: the range leaves the kernel linear map */
  readonly noMap?: boolean;
  /** `linux,cma-default`: becomes the default CMA area */
  readonly cmaDefault?: boolean;
  /** `linux,dma-default`: becomes the global coherent pool */
  readonly dmaDefault?: boolean;
}
