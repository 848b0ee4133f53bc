/**
 * DMA-contiguous glue (kernel/dma/contiguous.c): the default area reserved from `cma=` or the
 * Kconfig size, the device → area link (`dev->cma_area`, null meaning the default area), and the
 * page-counting helpers the DMA-mapping layer calls.
 *
 * @module
 */
import { type Device, getOrder, type Kernel, KernelBug, PAGE_SIZE, pageAlign } from "@umm/kernel-core";
import { __GFP_DIRECT_RECLAIM, __GFP_NOWARN, GFP_KERNEL, mmOf } from "@umm/mm-core";
import { cmaAllocArea, cmaDeclareContiguous, cmaRelease } from "./merged.js";
import { CmaRegion } from "./region.js";
import { cmaState } from "./state.js";
import { CMA_DEFAULT_AREA_NAME } from "./types.js";

/**
 * `dma_contiguous_reserve(limit)`: reserves the default area (named "reserved") unless one exists
 * already (a `linux,cma-default` node): its size, base and limit come from a merged `cma=` on the
 * command line (`@start` alone or `start + size == end` fixes it), else from the Kconfig size;
 * `limit` (0: none) bounds it unless `cma=` gave an end. Returns the default area, or null when
 * the size is 0 (`cma=0`). Throws the errors of `cmaDeclareContiguous` (the kernel only logs
 * "Failed to reserve").
 */
export function dmaContiguousReserve(kernel: Kernel, limit = 0): CmaRegion | null {
  const st = cmaState(kernel);
  if (st.defaultArea) return st.defaultArea;
  const c = st.cmdline.merged;
  const size = c ? c.size : st.sizeMbytes * 2 ** 20;
  if (!size) return null;
  const area = cmaDeclareContiguous(kernel, {
    base: c?.base ?? 0,
    size,
    limit: c ? c.limit || limit : limit,
    fixed: c?.fixed ?? false,
    name: CMA_DEFAULT_AREA_NAME,
  });
  st.defaultArea = area;
  return area;
}

/** `dma_contiguous_default_area` of `kernel`, or null. */
export function dmaContiguousDefaultArea(kernel: Kernel): CmaRegion | null {
  return cmaState(kernel).defaultArea;
}

/** Makes `cma` the default area (`dma_contiguous_set_default`). */
export function dmaContiguousSetDefault(kernel: Kernel, cma: CmaRegion | null): void {
  cmaState(kernel).defaultArea = cma;
}

/** `dev_set_cma_area`: `dev`'s own area (null: back to the default area). */
export function devSetCmaArea(dev: Device, cma: CmaRegion | null): void {
  if (cma && cma.kernel !== dev.kernel) {
    throw new KernelBug(`dev_set_cma_area: ${cma.label} belongs to another kernel than ${dev.name}`);
  }
  dev.cmaArea = cma;
}

/** `dev_get_cma_area`: `dev`'s own area, else the default area, else null. */
export function devGetCmaArea(dev: Device | null): CmaRegion | null {
  if (dev?.cmaArea) {
    if (!(dev.cmaArea instanceof CmaRegion)) throw new KernelBug(`${dev.name}.cmaArea is not a CMA area`);
    return dev.cmaArea;
  }
  if (!dev) return null;
  return cmaState(dev.kernel).defaultArea;
}

/**
 * `dma_alloc_from_contiguous(dev, count, align, no_warn)`: `count` pages from `dev`'s area (or the
 * default area), aligned to 2^min(align, CONFIG_CMA_ALIGNMENT) pages; the pages are tagged
 * `cma:<area>:<device>`. Returns the first pfn, or null.
 */
export function dmaAllocFromContiguous(
  dev: Device,
  count: number,
  align: number,
  noWarn = false,
): number | null {
  const cma = devGetCmaArea(dev);
  if (!cma) return null;
  const st = cmaState(dev.kernel);
  return cmaAllocArea(cma, count, Math.min(align, st.alignmentOrder), noWarn, `cma:${cma.label}:${dev.name}`);
}

/**
 * `dma_release_from_contiguous(dev, pfn, count)`: gives pages back to `dev`'s area (or the
 * default). False when they do not belong to it.
 */
export function dmaReleaseFromContiguous(dev: Device, pfn: number, count: number): boolean {
  return cmaRelease(devGetCmaArea(dev), pfn, count);
}

/**
 * `dma_alloc_contiguous(dev, size, gfp)`: a buffer of `size` bytes (page-aligned up) from CMA,
 * aligned to its order capped at CONFIG_CMA_ALIGNMENT. Null when `gfp` may not sleep, when `dev`
 * has no area of its own and `size` ≤ PAGE_SIZE (CMA is not wasted on single pages), when there
 * is no area, or when the area has no room. Returns the first pfn.
 */
export function dmaAllocContiguous(dev: Device, size: number, gfp: number = GFP_KERNEL): number | null {
  if ((gfp & __GFP_DIRECT_RECLAIM) === 0) return null;
  const st = cmaState(dev.kernel);
  const own = dev.cmaArea ? devGetCmaArea(dev) : null;
  if (!own && size <= PAGE_SIZE) return null;
  const cma = own ?? st.defaultArea;
  if (!cma) return null;
  const sz = pageAlign(size);
  const align = Math.min(getOrder(sz), st.alignmentOrder);
  return cmaAllocArea(cma, sz / PAGE_SIZE, align, (gfp & __GFP_NOWARN) !== 0, `cma:${cma.label}:${dev.name}`);
}

/**
 * `dma_free_contiguous(dev, pfn, size)`: returns a buffer from `dmaAllocContiguous` — to `dev`'s
 * area, else the default area, else (not CMA memory) to the page allocator as an order-
 * `get_order(size)` block.
 */
export function dmaFreeContiguous(dev: Device, pfn: number, size: number): void {
  const count = pageAlign(size) / PAGE_SIZE;
  if (dev.cmaArea && cmaRelease(devGetCmaArea(dev), pfn, count)) return;
  if (cmaRelease(cmaState(dev.kernel).defaultArea, pfn, count)) return;
  mmOf(dev.kernel).buddy.freePages(pfn, getOrder(size));
}
