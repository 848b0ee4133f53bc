/**
 * `cmaAlloc`, the one name both CMAs use for allocation, dispatching on its first argument: a
 * kernel-core `Device` selects the 2010 framework (`cma_alloc(dev, type, size, alignment)`, bytes,
 * throws), a `CmaRegion` selects merged CMA (`cma_alloc(cma, count, align, no_warn)`, pages,
 * returns null on failure).
 *
 * @module
 */
import type { Device } from "@umm/kernel-core";
import { KernelError } from "@umm/kernel-core";
import { cmaAllocDev } from "./cma2010.js";
import { cmaAllocArea } from "./merged.js";
import { CmaRegion } from "./region.js";

/**
 * 2010: a chunk of `size` bytes aligned to `alignment` (0 or a power of two; raised to a page)
 * for `dev` and memory `type` (null: "common"), from the regions of the first map rule that
 * matches, tried left to right. Returns the chunk's physical start. Throws, in order: EINVAL for
 * a null `dev`, a zero size or a bad alignment; ENOENT when no map is set or no rule matches;
 * ENOMEM when every listed region failed.
 */
export function cmaAlloc(dev: Device | null, type: string | null, size: number, alignment: number): number;
/**
 * Merged: `count` pages from area `cma`, aligned to 2^`align` pages in absolute pfn space.
 * Returns the first pfn, or null (no pages in the area, `count` 0, or nothing could be found or
 * emptied; a `cma_warn` says why unless `noWarn`).
 */
export function cmaAlloc(cma: CmaRegion, count: number, align: number, noWarn?: boolean): number | null;
export function cmaAlloc(
  first: Device | CmaRegion | null,
  b: string | null | number,
  c: number,
  d: number | boolean = false,
): number | null {
  if (first instanceof CmaRegion) {
    if (typeof b !== "number")
      throw new KernelError("EINVAL", "cma_alloc(cma, count, align): count must be a number");
    return cmaAllocArea(first, b, c, d === true);
  }
  if (b !== null && typeof b !== "string") {
    throw new KernelError("EINVAL", "cma_alloc(dev, type, size, alignment): type must be a string or null");
  }
  return cmaAllocDev(first, b, c, typeof d === "number" ? d : 0);
}
