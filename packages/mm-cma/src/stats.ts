/**
 * What CMA shows about itself:
 *
 * - merged debugfs `<debugfs>/cma/<name>/` (mm/cma_debug.c): `base_pfn`, `count`,
 *   `order_per_bit`, `used`, `maxchunk`, `bitmap` (u32 words), and the `alloc` / `free` files;
 * - merged sysfs `/sys/kernel/mm/cma/<name>/` (mm/cma_sysfs.c): `alloc_pages_success`,
 *   `alloc_pages_fail`, `release_pages_success`, `total_pages`, `available_pages`;
 * - the 2010 sysfs `/sys/kernel/mm/contiguous/`: `map` (rw), `allocators`, and
 *   `regions/<start>/{name,start,size,free,users,alloc}` (+ a `regions/<name>` link).
 *
 * The bitmap is derived from the live chunks at order_per_bit granularity, so it reads the same
 * whatever allocator manages the region.
 *
 * @module
 */
import { type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { bitmapLongestZeroRun, bitmapSet, bitmapWords } from "./bitmap.js";
import { cmaGetMap, cmaRegionSetAlloc, cmaSetMap } from "./cma2010.js";
import { cmaAllocArea, cmaRelease } from "./merged.js";
import type { CmaRegion } from "./region.js";
import { cmaState, cmaWarn, findRegion } from "./state.js";

/** The debugfs view of an area. */
export interface CmaDebugfs {
  readonly base_pfn: number;
  /** pages */
  readonly count: number;
  readonly order_per_bit: number;
  /** pages in use: `count - available_count` */
  readonly used: number;
  /** longest free run, in pages (at order_per_bit granularity) */
  readonly maxchunk: number;
  /** the allocation bitmap as u32 words, `DIV_ROUND_UP(maxno, 32)` of them */
  readonly bitmap: readonly number[];
}

/** The area's bitmap: one bit per 2^order_per_bit pages, set where a chunk lies. */
export function cmaBitmap(cma: CmaRegion): { bits: Uint32Array; maxno: number } {
  const opb = cma.orderPerBit;
  const maxno = Math.floor(cma.count / 2 ** opb);
  const bits = new Uint32Array(bitmapWords(maxno));
  for (const c of cma.chunks()) {
    const first = Math.floor((c.start / PAGE_SIZE - cma.basePfn) / 2 ** opb);
    bitmapSet(bits, first, Math.ceil(c.size / PAGE_SIZE / 2 ** opb));
  }
  return { bits, maxno };
}

/** The debugfs files of `cma` as numbers. */
export function cmaDebugfs(cma: CmaRegion): CmaDebugfs {
  const { bits, maxno } = cmaBitmap(cma);
  return {
    base_pfn: cma.basePfn,
    count: cma.count,
    order_per_bit: cma.orderPerBit,
    used: cma.count - cma.availableCount,
    maxchunk: bitmapLongestZeroRun(bits, maxno) * 2 ** cma.orderPerBit,
    bitmap: [...bits],
  };
}

/** Reads one debugfs file as text (`"%llu\n"`, the bitmap as space-separated words). ENOENT otherwise. */
export function cmaDebugfsRead(cma: CmaRegion, file: string): string {
  const d = cmaDebugfs(cma);
  switch (file) {
    case "base_pfn":
    case "count":
    case "order_per_bit":
    case "used":
    case "maxchunk":
      return `${d[file]}\n`;
    case "bitmap":
      return `${d.bitmap.join(" ")}\n`;
    default:
      throw new KernelError("ENOENT", `cma debugfs: ${cma.label}/${file} does not exist`);
  }
}

/**
 * Writes `count` to the debugfs `alloc` file: `cma_alloc(cma, count, 0, false)`, remembered for
 * `free`. ENOMEM when the allocation fails.
 */
export function cmaDebugfsAlloc(cma: CmaRegion, count: number): void {
  const pfn = cmaAllocArea(cma, count, 0, false);
  if (pfn === null)
    throw new KernelError("ENOMEM", `cma debugfs alloc: ${count} pages from ${cma.label} failed`);
  const st = cmaState(cma.kernel);
  let list = st.debugLists.get(cma);
  if (!list) {
    list = [];
    st.debugLists.set(cma, list);
  }
  list.push({ pfn, count });
}

/**
 * Writes `count` to the debugfs `free` file: releases debugfs allocations last first, whole
 * entries while they fit, then part of one when order_per_bit is 0 (otherwise it stops with
 * "cannot release partial block"). An empty list does nothing.
 */
export function cmaDebugfsFree(cma: CmaRegion, count: number): void {
  const st = cmaState(cma.kernel);
  const list = st.debugLists.get(cma) ?? [];
  while (count > 0) {
    const mem = list[list.length - 1];
    if (!mem) return;
    if (mem.count <= count) {
      cmaRelease(cma, mem.pfn, mem.count);
      count -= mem.count;
      list.pop();
    } else if (cma.orderPerBit === 0) {
      cmaRelease(cma, mem.pfn, count);
      mem.pfn += count;
      mem.count -= count;
      count = 0;
    } else {
      cmaWarn(st, "cma: cannot release partial block when order_per_bit != 0");
      return;
    }
  }
}

/** The sysfs counters of an area (`/sys/kernel/mm/cma/<name>/`), in pages. */
export interface CmaSysfs {
  readonly alloc_pages_success: number;
  readonly alloc_pages_fail: number;
  readonly release_pages_success: number;
  readonly total_pages: number;
  readonly available_pages: number;
}

/** The sysfs counters of `cma`. */
export function cmaSysfs(cma: CmaRegion): CmaSysfs {
  return {
    alloc_pages_success: cma._succeeded,
    alloc_pages_fail: cma._failed,
    release_pages_success: cma._released,
    total_pages: cma.count,
    available_pages: cma.availableCount,
  };
}

// ---- 2010 sysfs -------------------------------------------------------------------------------

/** The directory name of a region under `regions/`: its start as `%p` (8+ hex digits). */
export function cmaRegionDirName(region: CmaRegion): string {
  return region.base.toString(16).padStart(8, "0");
}

function regionByDir(kernel: Kernel, dir: string): CmaRegion {
  const st = cmaState(kernel);
  const r = st.regions.find((x) => cmaRegionDirName(x) === dir) ?? findRegion(st, dir);
  if (!r) throw new KernelError("ENOENT", `/sys/kernel/mm/contiguous/regions/${dir}: no such region`);
  return r;
}

const REGION_FILES = ["name", "start", "size", "free", "users", "alloc"] as const;

/**
 * Reads a file of `/sys/kernel/mm/contiguous/` (path relative to it): `map`, `allocators`,
 * `regions` (the entries, one a line), `regions/<start|name>` (its files) or
 * `regions/<start|name>/<file>`. ENOENT for anything else.
 */
export function cmaSysfsRead(kernel: Kernel, path: string): string {
  const st = cmaState(kernel);
  const parts = path.split("/").filter((x) => x !== "");
  if (parts.length === 1 && parts[0] === "map") {
    const m = cmaGetMap(kernel);
    return m === "" ? "" : `${m.slice(0, PAGE_SIZE - 1)}\n`;
  }
  if (parts.length === 1 && parts[0] === "allocators") {
    return st.allocators.length ? `${st.allocators.map((a) => a.name ?? "-").join(" ")}\n` : "";
  }
  if (parts[0] === "regions" && parts.length === 1) {
    const names = st.regions.flatMap((r) => [cmaRegionDirName(r), ...(r.name ? [r.name] : [])]);
    return names.map((n) => `${n}\n`).join("");
  }
  if (parts[0] === "regions" && parts.length === 2) {
    regionByDir(kernel, parts[1]!);
    return REGION_FILES.map((f) => `${f}\n`).join("");
  }
  if (parts[0] === "regions" && parts.length === 3) {
    const r = regionByDir(kernel, parts[1]!);
    switch (parts[2]) {
      case "name":
        return r.name ? `${r.name}\n` : "";
      case "start":
        return `${cmaRegionDirName(r)}\n`;
      case "size":
        return `${r.size}\n`;
      case "free":
        return `${r.free}\n`;
      case "users":
        return `${r.users}\n`;
      case "alloc":
        if (r.allocator) return `${r.allocator.name ?? "-"}\n`;
        return r.allocName ? `[${r.allocName}]\n` : "";
    }
  }
  throw new KernelError("ENOENT", `/sys/kernel/mm/contiguous/${path}: no such file`);
}

/**
 * Writes a file of `/sys/kernel/mm/contiguous/`: `map` (validated and replaced atomically; EINVAL
 * with the rule's offset; empty clears) or `regions/<start|name>/alloc` (EBUSY while the region's
 * allocator holds chunks). EACCES for read-only files, ENOENT for anything else.
 */
export function cmaSysfsWrite(kernel: Kernel, path: string, value: string): void {
  const parts = path.split("/").filter((x) => x !== "");
  if (parts.length === 1 && parts[0] === "map") {
    cmaSetMap(kernel, value);
    return;
  }
  if (parts.length === 1 && parts[0] === "allocators") {
    throw new KernelError("EACCES", "/sys/kernel/mm/contiguous/allocators is read-only");
  }
  if (parts[0] === "regions" && parts.length === 3) {
    const r = regionByDir(kernel, parts[1]!);
    if (parts[2] === "alloc") {
      cmaRegionSetAlloc(r, value);
      return;
    }
    if ((REGION_FILES as readonly string[]).includes(parts[2]!)) {
      throw new KernelError("EACCES", `/sys/kernel/mm/contiguous/${path} is read-only`);
    }
  }
  throw new KernelError("ENOENT", `/sys/kernel/mm/contiguous/${path}: no such file`);
}
