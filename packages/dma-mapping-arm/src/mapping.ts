/**
 * The DMA mapping API drivers call (kernel/dma/mapping.c, include/linux/dma-mapping.h): it checks
 * the arguments, dispatches through the device's `DmaMapOps` (`dev.dmaOps`; null: `ARM_DMA_OPS`,
 * dma-direct), emits the dma tracepoints, and runs DMA-API debug when it is on.
 *
 * Every call takes an optional last `tag` (default: the bound driver's name) that DMA-API debug
 * records with the mapping and names in its reports, standing for the kernel's caller stack.
 *
 * Sentinels stay where the kernel API has them: a failed map returns `DMA_MAPPING_ERROR` (test it
 * with `dmaMappingError`), `dmaMapSg` returns 0, an allocation returns null. Everything else the
 * kernel rejects throws `KernelError`, and a bad direction is a `KernelBug`.
 *
 * @module
 */
import {
  type Device,
  DMA_BIT_MASK,
  ERRNO,
  hex,
  isKernelError,
  KernelError,
  PAGE_SIZE,
  pageAlign,
} from "@umm/kernel-core";
import type { MmapContext } from "@umm/kernel-process";
import { __GFP_DMA, __GFP_HIGHMEM, __GFP_NOWARN, GFP_KERNEL, VMALLOC_END, VMALLOC_START } from "@umm/mm-core";
import { checkRam, cpuOrNull } from "./arch.js";
import { allocFromDevCoherent, mmapFromDevCoherent, releaseFromDevCoherent } from "./coherent.js";
import {
  callerTag,
  type DebugRef,
  debugAlloc,
  debugCheckSync,
  debugCheckUnmap,
  debugForget,
  debugMap,
  debugMappingError,
  debugMapSg,
  debugMapSingle,
  debugOf,
  debugSgRefs,
  debugVirtToPhys,
} from "./debug.js";
import { ARM_DMA_OPS, checkMmapFits } from "./direct.js";
import { type DmaMapOps, getDmaOps } from "./ops.js";
import type { SgEntry, SgTable } from "./scatterlist.js";
import { type DmaBuffer, dmaState, dmaWarnOnce, isCookie } from "./state.js";
import {
  checkDmaDirection,
  DMA_ATTR_NO_WARN,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_ATTR_WRITE_COMBINE,
  DMA_BIDIRECTIONAL,
  DMA_DIRECTION_TRACE,
  DMA_MAPPING_ERROR,
  type DmaAllocation,
  type DmaCpuAddr,
  type DmaDataDirection,
  SIZE_MAX,
} from "./types.js";

/** The ops `dev` dispatches through: its own, else dma-direct. */
function opsOf(dev: Device): DmaMapOps {
  return getDmaOps(dev) ?? ARM_DMA_OPS;
}

const tdir = (dir: number): string => DMA_DIRECTION_TRACE[dir] ?? String(dir);

function checkSize(size: number, what: string): void {
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new KernelError("EINVAL", `${what}: size ${String(size)} must be a positive number of bytes`);
  }
}

function checkAddr(addr: number, what: string, name = "dma_addr"): void {
  if (!Number.isSafeInteger(addr))
    throw new KernelError("EINVAL", `${what}: ${name} ${String(addr)} is not an address`);
}

// ---- streaming: single pages ----

/**
 * `dma_map_page_attrs`: maps `size` bytes from `offset` in page `pfn` for `dev` in direction
 * `dir`; returns the bus address, or `DMA_MAPPING_ERROR` when the device cannot reach the memory
 * (no DMA mask, beyond its mask with no swiotlb, no IOVA space). EINVAL for a size, page or offset
 * that is not a number, or memory that is not RAM; a bad direction is a `KernelBug`.
 */
export function dmaMapPage(
  dev: Device,
  pfn: number,
  offset: number,
  size: number,
  dir: DmaDataDirection,
  attrs = 0,
  tag?: string,
): number {
  checkDmaDirection(dir, "dma_map_page");
  if (!Number.isSafeInteger(pfn) || pfn < 0)
    throw new KernelError("EINVAL", `dma_map_page: pfn ${String(pfn)}`);
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new KernelError("EINVAL", `dma_map_page: offset ${String(offset)}`);
  checkSize(size, "dma_map_page");
  const st = dmaState(dev.kernel);
  const paddr = pfn * PAGE_SIZE + offset;
  checkRam(st.mm, paddr, size, `dma_map_page(${dev.name})`);
  if (dev.dmaMask === null) {
    dmaWarnOnce(st, dev, "no-mask", `dma_map_page: ${dev.name} has no DMA mask`);
    return DMA_MAPPING_ERROR;
  }
  const ops = opsOf(dev);
  const addr = ops.mapPage ? ops.mapPage(dev, pfn, offset, size, dir, attrs) : DMA_MAPPING_ERROR;
  if (st.tp.mapPage.enabled) {
    st.tp.mapPage.emit({ device: dev.name, phys_addr: paddr, dma_addr: addr, size, dir: tdir(dir), attrs });
  }
  const d = debugOf(dev.kernel);
  if (d) {
    try {
      debugMap(d, dev, "single", paddr, addr, size, dir, attrs, callerTag(dev, tag));
    } catch (e) {
      if (addr !== DMA_MAPPING_ERROR) ops.unmapPage?.(dev, addr, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
      throw e;
    }
  }
  return addr;
}

/**
 * `dma_map_single_attrs`: maps `size` bytes at kernel address `kaddr` (the linear map). A vmalloc
 * address is refused with a `dma_warn` and `DMA_MAPPING_ERROR` ("rejecting DMA map of vmalloc
 * memory"); any other address outside the linear map is EINVAL. Else as `dmaMapPage`.
 */
export function dmaMapSingle(
  dev: Device,
  kaddr: number,
  size: number,
  dir: DmaDataDirection,
  attrs = 0,
  tag?: string,
): number {
  checkDmaDirection(dir, "dma_map_single");
  checkAddr(kaddr, "dma_map_single", "kaddr");
  const st = dmaState(dev.kernel);
  const d = debugOf(dev.kernel);
  if (d) debugMapSingle(d, dev, kaddr, size, callerTag(dev, tag));
  if (kaddr >= VMALLOC_START && kaddr < VMALLOC_END) {
    dmaWarnOnce(st, dev, "vmalloc", "rejecting DMA map of vmalloc memory");
    return DMA_MAPPING_ERROR;
  }
  const k = st.mm.kspace;
  if (!k.isLinear(kaddr)) {
    throw new KernelError("EINVAL", `dma_map_single(${dev.name}): ${hex(kaddr)} is not a linear-map address`);
  }
  const pa = k.virtToPhys(kaddr);
  return dmaMapPage(dev, Math.floor(pa / PAGE_SIZE), pa % PAGE_SIZE, size, dir, attrs, tag);
}

function unmapCommon(
  what: "dma_unmap_page" | "dma_unmap_resource",
  dev: Device,
  addr: number,
  size: number,
  dir: DmaDataDirection,
  attrs: number,
  tag: string | undefined,
): void {
  checkDmaDirection(dir, what);
  checkAddr(addr, what);
  checkSize(size, what);
  const st = dmaState(dev.kernel);
  const d = debugOf(dev.kernel);
  const type = what === "dma_unmap_page" ? "single" : "resource";
  const entry = d
    ? debugCheckUnmap(
        d,
        { dev, type, paddr: 0, devAddr: addr, size, dir, sgCallEnts: 0 },
        callerTag(dev, tag),
      )
    : null;
  const ops = opsOf(dev);
  if (what === "dma_unmap_page") {
    ops.unmapPage?.(dev, addr, size, dir, attrs);
    if (st.tp.unmapPage.enabled)
      st.tp.unmapPage.emit({ device: dev.name, addr, size, dir: tdir(dir), attrs });
  } else {
    ops.unmapResource?.(dev, addr, size, dir, attrs);
    if (st.tp.unmapResource.enabled)
      st.tp.unmapResource.emit({ device: dev.name, addr, size, dir: tdir(dir), attrs });
  }
  if (d) debugForget(d, [entry]);
}

/**
 * `dma_unmap_page_attrs`: undoes `dmaMapPage` and gives the memory back to the CPU (cache
 * maintenance for `dir`, swiotlb copy-back). EINVAL when the address is not one the ops can undo
 * (not RAM, not a live IOVA mapping or bounce buffer). A bad direction is a `KernelBug`.
 */
export function dmaUnmapPage(
  dev: Device,
  addr: number,
  size: number,
  dir: DmaDataDirection,
  attrs = 0,
  tag?: string,
): void {
  unmapCommon("dma_unmap_page", dev, addr, size, dir, attrs, tag);
}

/** `dma_unmap_single_attrs`: `dmaUnmapPage`. */
export function dmaUnmapSingle(
  dev: Device,
  addr: number,
  size: number,
  dir: DmaDataDirection,
  attrs = 0,
  tag?: string,
): void {
  unmapCommon("dma_unmap_page", dev, addr, size, dir, attrs, tag);
}

/**
 * `dma_map_resource`: maps an MMIO range (a peripheral's FIFO) for `dev`; no cache maintenance.
 * RAM is refused with a `dma_warn` and `DMA_MAPPING_ERROR`, as the kernel refuses it;
 * `DMA_MAPPING_ERROR` also when the device cannot reach the range. EINVAL for bad numbers.
 */
export function dmaMapResource(
  dev: Device,
  paddr: number,
  size: number,
  dir: DmaDataDirection,
  attrs = 0,
  tag?: string,
): number {
  checkDmaDirection(dir, "dma_map_resource");
  checkAddr(paddr, "dma_map_resource", "paddr");
  checkSize(size, "dma_map_resource");
  const st = dmaState(dev.kernel);
  if (st.mm.phys.isRam(paddr)) {
    dmaWarnOnce(st, dev, "resource-ram", `dma_map_resource: ${hex(paddr)} is RAM, not a resource`);
    return DMA_MAPPING_ERROR;
  }
  const ops = opsOf(dev);
  const addr = ops.mapResource ? ops.mapResource(dev, paddr, size, dir, attrs) : DMA_MAPPING_ERROR;
  if (st.tp.mapResource.enabled) {
    st.tp.mapResource.emit({
      device: dev.name,
      phys_addr: paddr,
      dma_addr: addr,
      size,
      dir: tdir(dir),
      attrs,
    });
  }
  const d = debugOf(dev.kernel);
  if (d) {
    try {
      debugMap(d, dev, "resource", paddr, addr, size, dir, attrs, callerTag(dev, tag));
    } catch (e) {
      if (addr !== DMA_MAPPING_ERROR) ops.unmapResource?.(dev, addr, size, dir, attrs);
      throw e;
    }
  }
  return addr;
}

/** `dma_unmap_resource`: undoes `dmaMapResource` (EINVAL for an IOVA that is not a live resource). */
export function dmaUnmapResource(
  dev: Device,
  addr: number,
  size: number,
  dir: DmaDataDirection,
  attrs = 0,
  tag?: string,
): void {
  unmapCommon("dma_unmap_resource", dev, addr, size, dir, attrs, tag);
}

/**
 * `dma_mapping_error`: -ENOMEM when `addr` is `DMA_MAPPING_ERROR`, else 0. DMA-API debug notes that
 * the driver checked the mapping.
 */
export function dmaMappingError(dev: Device, addr: number): number {
  const d = debugOf(dev.kernel);
  if (d) debugMappingError(d, dev, addr);
  return addr === DMA_MAPPING_ERROR ? -ERRNO.ENOMEM : 0;
}

// ---- streaming: scatterlists ----

function checkSg(dev: Device, sg: readonly SgEntry[], nents: number, what: string): void {
  const st = dmaState(dev.kernel);
  if (!Number.isSafeInteger(nents) || nents < 1 || nents > sg.length) {
    throw new KernelError(
      "EINVAL",
      `${what}(${dev.name}): nents ${String(nents)} for a list of ${sg.length}`,
    );
  }
  for (let i = 0; i < nents; i++) {
    const s = sg[i]!;
    if (!Number.isSafeInteger(s.pfn) || s.pfn < 0 || !Number.isSafeInteger(s.offset) || s.offset < 0) {
      throw new KernelError("EINVAL", `${what}(${dev.name}): entry ${i} has pfn ${s.pfn} offset ${s.offset}`);
    }
    if (!Number.isSafeInteger(s.length) || s.length <= 0) {
      throw new KernelError("EINVAL", `${what}(${dev.name}): entry ${i} has length ${s.length}`);
    }
    checkRam(st.mm, s.pfn * PAGE_SIZE + s.offset, s.length, `${what}(${dev.name}) entry ${i}`);
  }
}

/** Maps entry by entry with `mapPage` (ops without `mapSg`). */
function mapSgByPages(
  dev: Device,
  ops: DmaMapOps,
  sg: SgEntry[],
  nents: number,
  dir: DmaDataDirection,
  attrs: number,
): number {
  for (let i = 0; i < nents; i++) {
    const s = sg[i]!;
    const a = ops.mapPage ? ops.mapPage(dev, s.pfn, s.offset, s.length, dir, attrs) : DMA_MAPPING_ERROR;
    if (a === DMA_MAPPING_ERROR) {
      for (let k = 0; k < i; k++) {
        ops.unmapPage?.(dev, sg[k]!.dmaAddress, sg[k]!.dmaLength, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
      }
      throw new KernelError("EIO", `dma_map_sg(${dev.name}): entry ${i} cannot be mapped`);
    }
    s.dmaAddress = a;
    s.dmaLength = s.length;
  }
  return nents;
}

/** `__dma_map_sg_attrs` without debug: validation, ops, trace. Throws EINVAL / ENOMEM / EIO. */
function mapSgInner(
  dev: Device,
  sg: SgEntry[],
  nents: number,
  dir: DmaDataDirection,
  attrs: number,
  what: string,
): number {
  checkSg(dev, sg, nents, what);
  const st = dmaState(dev.kernel);
  if (dev.dmaMask === null) throw new KernelError("EIO", `${what}(${dev.name}): the device has no DMA mask`);
  const ops = opsOf(dev);
  const ents = ops.mapSg
    ? ops.mapSg(dev, sg, nents, dir, attrs)
    : mapSgByPages(dev, ops, sg, nents, dir, attrs);
  if (st.tp.mapSg.enabled) {
    const seg = sg.slice(0, ents);
    st.tp.mapSg.emit({
      device: dev.name,
      nents,
      ents,
      dir: tdir(dir),
      dma_addrs: seg.map((s) => s.dmaAddress),
      lengths: seg.map((s) => s.dmaLength),
      phys_addrs: sg.slice(0, nents).map((s) => s.pfn * PAGE_SIZE + s.offset),
      attrs,
    });
  }
  return ents;
}

function debugAfterSg(
  dev: Device,
  sg: SgEntry[],
  nents: number,
  ents: number,
  dir: DmaDataDirection,
  attrs: number,
  tag: string | undefined,
): void {
  const d = debugOf(dev.kernel);
  if (!d) return;
  try {
    debugMapSg(d, dev, sg, nents, ents, dir, attrs, callerTag(dev, tag));
  } catch (e) {
    unmapSgOps(dev, sg, nents, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
    throw e;
  }
}

/**
 * `dma_map_sg_attrs`: maps the first `nents` entries of `sg`; returns the number of DMA segments
 * written into the first entries (fewer than `nents` when an IOMMU merged them), or 0 on any
 * error (nothing stays mapped). A bad direction is a `KernelBug`.
 */
export function dmaMapSg(
  dev: Device,
  sg: SgEntry[],
  nents: number,
  dir: DmaDataDirection,
  attrs = 0,
  tag?: string,
): number {
  checkDmaDirection(dir, "dma_map_sg");
  let ents: number;
  try {
    ents = mapSgInner(dev, sg, nents, dir, attrs, "dma_map_sg");
  } catch (e) {
    if (isKernelError(e)) return 0;
    throw e;
  }
  debugAfterSg(dev, sg, nents, ents, dir, attrs, tag);
  return ents;
}

/**
 * `dma_map_sgtable`: maps every entry of `sgt` and sets `sgt.nents` to the number of DMA segments.
 * Throws EINVAL (bad list), ENOMEM (out of IOVA space or bounce slots; retryable) or EIO (memory
 * the device cannot reach); nothing stays mapped then.
 */
export function dmaMapSgtable(
  dev: Device,
  sgt: SgTable,
  dir: DmaDataDirection,
  attrs = 0,
  tag?: string,
): void {
  checkDmaDirection(dir, "dma_map_sgtable");
  const ents = mapSgInner(dev, sgt.sgl, sgt.origNents, dir, attrs, "dma_map_sgtable");
  debugAfterSg(dev, sgt.sgl, sgt.origNents, ents, dir, attrs, tag);
  sgt.nents = ents;
}

function unmapSgOps(dev: Device, sg: SgEntry[], nents: number, dir: DmaDataDirection, attrs: number): void {
  const ops = opsOf(dev);
  if (ops.unmapSg) {
    ops.unmapSg(dev, sg, nents, dir, attrs);
    return;
  }
  for (let i = 0; i < nents; i++) {
    const s = sg[i]!;
    if (s.dmaLength) ops.unmapPage?.(dev, s.dmaAddress, s.dmaLength, dir, attrs);
  }
}

/**
 * `dma_unmap_sg_attrs`: undoes `dmaMapSg`; `nents` is the count passed to the map (not the number
 * of segments it returned). EINVAL when a segment is not a live mapping of the ops.
 */
export function dmaUnmapSg(
  dev: Device,
  sg: SgEntry[],
  nents: number,
  dir: DmaDataDirection,
  attrs = 0,
  tag?: string,
): void {
  checkDmaDirection(dir, "dma_unmap_sg");
  if (!Number.isSafeInteger(nents) || nents < 1 || nents > sg.length) {
    throw new KernelError(
      "EINVAL",
      `dma_unmap_sg(${dev.name}): nents ${String(nents)} for a list of ${sg.length}`,
    );
  }
  const st = dmaState(dev.kernel);
  const d = debugOf(dev.kernel);
  const entries = d
    ? debugSgRefs(d, dev, sg, nents, dir, false).map((r) => debugCheckUnmap(d, r, callerTag(dev, tag)))
    : [];
  const addrs = st.tp.unmapSg.enabled
    ? sg
        .slice(0, nents)
        .filter((s) => s.dmaLength)
        .map((s) => s.dmaAddress)
    : [];
  unmapSgOps(dev, sg, nents, dir, attrs);
  if (st.tp.unmapSg.enabled) st.tp.unmapSg.emit({ device: dev.name, addrs, dir: tdir(dir), attrs });
  if (d) debugForget(d, entries);
}

/** `dma_unmap_sgtable`: `dmaUnmapSg` of every entry (`origNents`). */
export function dmaUnmapSgtable(
  dev: Device,
  sgt: SgTable,
  dir: DmaDataDirection,
  attrs = 0,
  tag?: string,
): void {
  dmaUnmapSg(dev, sgt.sgl, sgt.origNents, dir, attrs, tag);
}

// ---- syncs ----

function syncSingle(
  toCpu: boolean,
  dev: Device,
  addr: number,
  size: number,
  dir: DmaDataDirection,
  tag: string | undefined,
): void {
  const what = toCpu ? "dma_sync_single_for_cpu" : "dma_sync_single_for_device";
  checkDmaDirection(dir, what);
  checkAddr(addr, what);
  checkSize(size, what);
  const st = dmaState(dev.kernel);
  const d = debugOf(dev.kernel);
  if (d) {
    const ref: DebugRef = { dev, type: "single", paddr: 0, devAddr: addr, size, dir, sgCallEnts: 0 };
    debugCheckSync(d, ref, toCpu, callerTag(dev, tag));
  }
  const ops = opsOf(dev);
  if (toCpu) {
    ops.syncSingleForCpu?.(dev, addr, size, dir);
    if (st.tp.syncCpu.enabled) st.tp.syncCpu.emit({ device: dev.name, dma_addr: addr, size, dir: tdir(dir) });
  } else {
    ops.syncSingleForDevice?.(dev, addr, size, dir);
    if (st.tp.syncDev.enabled) st.tp.syncDev.emit({ device: dev.name, dma_addr: addr, size, dir: tdir(dir) });
  }
}

/**
 * `dma_sync_single_for_cpu`: the CPU takes `[addr, addr + size)` of a streaming mapping back
 * (invalidate unless DMA_TO_DEVICE; a bounce buffer is copied back). EINVAL for an address the ops
 * cannot resolve. A bad direction is a `KernelBug`.
 */
export function dmaSyncSingleForCpu(
  dev: Device,
  addr: number,
  size: number,
  dir: DmaDataDirection,
  tag?: string,
): void {
  syncSingle(true, dev, addr, size, dir, tag);
}

/**
 * `dma_sync_single_for_device`: the device gets the range back (clean, or invalidate for
 * DMA_FROM_DEVICE; a bounce buffer is refilled for TO_DEVICE / BIDIRECTIONAL).
 */
export function dmaSyncSingleForDevice(
  dev: Device,
  addr: number,
  size: number,
  dir: DmaDataDirection,
  tag?: string,
): void {
  syncSingle(false, dev, addr, size, dir, tag);
}

/** `dma_sync_single_range_for_cpu`: `dmaSyncSingleForCpu(dev, addr + offset, size, dir)`. */
export function dmaSyncSingleRangeForCpu(
  dev: Device,
  addr: number,
  offset: number,
  size: number,
  dir: DmaDataDirection,
  tag?: string,
): void {
  syncSingle(true, dev, addr + offset, size, dir, tag);
}

/** `dma_sync_single_range_for_device`: `dmaSyncSingleForDevice(dev, addr + offset, size, dir)`. */
export function dmaSyncSingleRangeForDevice(
  dev: Device,
  addr: number,
  offset: number,
  size: number,
  dir: DmaDataDirection,
  tag?: string,
): void {
  syncSingle(false, dev, addr + offset, size, dir, tag);
}

function syncSg(
  toCpu: boolean,
  dev: Device,
  sg: SgEntry[],
  nelems: number,
  dir: DmaDataDirection,
  tag: string | undefined,
): void {
  const what = toCpu ? "dma_sync_sg_for_cpu" : "dma_sync_sg_for_device";
  checkDmaDirection(dir, what);
  checkSg(dev, sg, nelems, what);
  const st = dmaState(dev.kernel);
  const d = debugOf(dev.kernel);
  if (d)
    for (const r of debugSgRefs(d, dev, sg, nelems, dir, true))
      debugCheckSync(d, r, toCpu, callerTag(dev, tag));
  const ops = opsOf(dev);
  if (toCpu) ops.syncSgForCpu?.(dev, sg, nelems, dir);
  else ops.syncSgForDevice?.(dev, sg, nelems, dir);
  const tp = toCpu ? st.tp.syncSgCpu : st.tp.syncSgDev;
  if (tp.enabled) {
    const seg = sg.slice(0, nelems).filter((s) => s.dmaLength);
    tp.emit({
      device: dev.name,
      nents: nelems,
      dir: tdir(dir),
      dma_addrs: seg.map((s) => s.dmaAddress),
      lengths: seg.map((s) => s.dmaLength),
    });
  }
}

/** `dma_sync_sg_for_cpu` over the `nelems` entries passed to the map. */
export function dmaSyncSgForCpu(
  dev: Device,
  sg: SgEntry[],
  nelems: number,
  dir: DmaDataDirection,
  tag?: string,
): void {
  syncSg(true, dev, sg, nelems, dir, tag);
}

/** `dma_sync_sg_for_device` over the `nelems` entries passed to the map. */
export function dmaSyncSgForDevice(
  dev: Device,
  sg: SgEntry[],
  nelems: number,
  dir: DmaDataDirection,
  tag?: string,
): void {
  syncSg(false, dev, sg, nelems, dir, tag);
}

/** `dma_sync_sgtable_for_cpu`. */
export function dmaSyncSgtableForCpu(dev: Device, sgt: SgTable, dir: DmaDataDirection, tag?: string): void {
  syncSg(true, dev, sgt.sgl, sgt.origNents, dir, tag);
}

/** `dma_sync_sgtable_for_device`. */
export function dmaSyncSgtableForDevice(
  dev: Device,
  sgt: SgTable,
  dir: DmaDataDirection,
  tag?: string,
): void {
  syncSg(false, dev, sgt.sgl, sgt.origNents, dir, tag);
}

// ---- coherent and non-coherent allocations ----

/**
 * `dma_alloc_attrs`: a zeroed buffer of `size` bytes both the CPU and `dev` may use at any time:
 * from the device's declared pool when it has one (its answer is final), else from the ops (CMA or
 * pages, mapped non-cacheable with no cacheable alias: uncached, or write-combining with
 * DMA_ATTR_WRITE_COMBINE). `cpuAddr` is a kernel address, or a `DmaCookie` with
 * DMA_ATTR_NO_KERNEL_MAPPING. Null when out of memory or IOVA space. EINVAL for a bad size.
 */
export function dmaAllocAttrs(
  dev: Device,
  size: number,
  gfp: number = GFP_KERNEL,
  attrs = 0,
  tag?: string,
): DmaAllocation | null {
  checkSize(size, "dma_alloc_attrs");
  const st = dmaState(dev.kernel);
  if (!dev.coherentDmaMask) dmaWarnOnce(st, dev, "coherent-mask", "dma_alloc_attrs: coherent_dma_mask is 0");
  const trace = (r: DmaAllocation | null): void => {
    if (!st.tp.alloc.enabled) return;
    st.tp.alloc.emit({
      device: dev.name,
      virt_addr: r && !isCookie(r.cpuAddr) ? r.cpuAddr : 0,
      dma_addr: r?.dmaAddr ?? 0,
      size,
      dir: tdir(DMA_BIDIRECTIONAL),
      flags: gfp,
      attrs,
    });
  };
  const fromPool = allocFromDevCoherent(st, dev, size);
  if (fromPool !== undefined) {
    trace(fromPool);
    return fromPool;
  }
  const ops = opsOf(dev);
  const g = gfp & ~(__GFP_DMA | __GFP_HIGHMEM);
  const r = ops.alloc ? ops.alloc(dev, size, g, attrs) : null;
  trace(r);
  const d = debugOf(dev.kernel);
  if (r && d && !isCookie(r.cpuAddr)) {
    const pa = debugVirtToPhys(dev.kernel, r.cpuAddr);
    if (pa !== null) {
      try {
        debugAlloc(d, dev, "coherent", pa, r.dmaAddr, size, DMA_BIDIRECTIONAL, attrs, callerTag(dev, tag));
      } catch (e) {
        ops.free?.(dev, size, r.cpuAddr, r.dmaAddr, attrs);
        throw e;
      }
    }
  }
  return r;
}

/** `dma_alloc_coherent`: `dmaAllocAttrs` with no attributes (DMA_ATTR_NO_WARN with __GFP_NOWARN). */
export function dmaAllocCoherent(
  dev: Device,
  size: number,
  gfp: number = GFP_KERNEL,
  tag?: string,
): DmaAllocation<number> | null {
  return dmaAllocAttrs(
    dev,
    size,
    gfp,
    gfp & __GFP_NOWARN ? DMA_ATTR_NO_WARN : 0,
    tag,
  ) as DmaAllocation<number> | null;
}

/** `dma_alloc_wc`: a coherent buffer mapped write-combining (DMA_ATTR_WRITE_COMBINE). */
export function dmaAllocWc(
  dev: Device,
  size: number,
  gfp: number = GFP_KERNEL,
  tag?: string,
): DmaAllocation<number> | null {
  const attrs = DMA_ATTR_WRITE_COMBINE | (gfp & __GFP_NOWARN ? DMA_ATTR_NO_WARN : 0);
  return dmaAllocAttrs(dev, size, gfp, attrs, tag) as DmaAllocation<number> | null;
}

/**
 * `dma_free_attrs`: frees a buffer of `dmaAllocAttrs` (the same size, CPU handle, bus address and
 * attributes); the kernel mapping goes and the linear map is cacheable again. A null `cpuAddr`
 * does nothing. EINVAL when the arguments do not name a live buffer of `dev` (nothing is freed).
 */
export function dmaFreeAttrs(
  dev: Device,
  size: number,
  cpuAddr: DmaCpuAddr | null,
  dmaAddr: number,
  attrs = 0,
  tag?: string,
): void {
  const st = dmaState(dev.kernel);
  if (cpuAddr !== null && releaseFromDevCoherent(st, dev, size, cpuAddr)) return;
  if (st.tp.free.enabled) {
    st.tp.free.emit({
      device: dev.name,
      virt_addr: cpuAddr === null || isCookie(cpuAddr) ? 0 : cpuAddr,
      dma_addr: dmaAddr,
      size,
      dir: tdir(DMA_BIDIRECTIONAL),
      attrs,
    });
  }
  if (cpuAddr === null) return;
  checkSize(size, "dma_free_attrs");
  const d = debugOf(dev.kernel);
  let entry = null;
  if (d && !isCookie(cpuAddr)) {
    const pa = debugVirtToPhys(dev.kernel, cpuAddr);
    if (pa !== null) {
      const ref: DebugRef = {
        dev,
        type: "coherent",
        paddr: pa,
        devAddr: dmaAddr,
        size,
        dir: DMA_BIDIRECTIONAL,
        sgCallEnts: 0,
      };
      entry = debugCheckUnmap(d, ref, callerTag(dev, tag));
    }
  }
  opsOf(dev).free?.(dev, size, cpuAddr, dmaAddr, attrs);
  if (d) debugForget(d, [entry]);
}

/** `dma_free_coherent`: `dmaFreeAttrs` with no attributes. */
export function dmaFreeCoherent(
  dev: Device,
  size: number,
  cpuAddr: number | null,
  dmaAddr: number,
  tag?: string,
): void {
  dmaFreeAttrs(dev, size, cpuAddr, dmaAddr, 0, tag);
}

/** `dma_free_wc`: `dmaFreeAttrs` with DMA_ATTR_WRITE_COMBINE. */
export function dmaFreeWc(
  dev: Device,
  size: number,
  cpuAddr: number | null,
  dmaAddr: number,
  tag?: string,
): void {
  dmaFreeAttrs(dev, size, cpuAddr, dmaAddr, DMA_ATTR_WRITE_COMBINE, tag);
}

/**
 * `dma_alloc_noncoherent`: `size` bytes (page-aligned up) of cacheable lowmem, zeroed by the CPU
 * (so the zeroes may sit dirty in the cache) and mapped for `dev` in direction `dir`. The CPU owns
 * it: sync for the device before DMA and for the CPU after. Null when out of memory, when `gfp`
 * names a zone (`__GFP_DMA`, `__GFP_HIGHMEM`: a WARN) or the ops cannot allocate pages. EINVAL for a
 * bad size; a bad direction is a `KernelBug`.
 */
export function dmaAllocNoncoherent(
  dev: Device,
  size: number,
  dir: DmaDataDirection,
  gfp: number = GFP_KERNEL,
  tag?: string,
): DmaAllocation<number> | null {
  checkDmaDirection(dir, "dma_alloc_noncoherent");
  checkSize(size, "dma_alloc_noncoherent");
  const st = dmaState(dev.kernel);
  if (!dev.coherentDmaMask) {
    dmaWarnOnce(st, dev, "coherent-mask", "dma_alloc_pages: coherent_dma_mask is 0");
    return null;
  }
  if (gfp & (__GFP_DMA | __GFP_HIGHMEM)) {
    dmaWarnOnce(st, dev, "gfp-zone", "dma_alloc_pages: gfp names a zone (__GFP_DMA / __GFP_HIGHMEM)");
    return null;
  }
  const sz = pageAlign(size);
  const ops = opsOf(dev);
  const got = ops.allocPages ? ops.allocPages(dev, sz, dir, gfp) : null;
  let r: DmaAllocation<number> | null = null;
  if (got) {
    const pa = got.pfn * PAGE_SIZE;
    const cpuAddr = st.mm.kspace.physToVirt(pa);
    const cpu = cpuOrNull(st.mm);
    if (cpu) cpu.fill(st.mm.kspace, cpuAddr, 0, sz);
    else st.mm.phys.fill(pa, 0, sz);
    const buf: DmaBuffer = {
      dev,
      kind: "noncoherent",
      by: "core",
      mapping: null,
      size: sz,
      cpuAddr,
      dmaAddr: got.dmaAddr,
      attrs: 0,
      dir,
      memtype: "cacheable",
      pfns: Int32Array.from({ length: sz / PAGE_SIZE }, (_, i) => got.pfn + i),
      contiguous: true,
      source: "buddy",
      chunks: [],
      linearRuns: [],
      vmapAddr: null,
    };
    st.buffers.set(cpuAddr, buf);
    r = { cpuAddr, dmaAddr: got.dmaAddr };
  }
  if (st.tp.alloc.enabled) {
    st.tp.alloc.emit({
      device: dev.name,
      virt_addr: r?.cpuAddr ?? 0,
      dma_addr: r?.dmaAddr ?? 0,
      size: sz,
      dir: tdir(dir),
      flags: gfp,
      attrs: 0,
    });
  }
  const d = debugOf(dev.kernel);
  if (r && d) {
    try {
      debugAlloc(d, dev, "noncoherent", got!.pfn * PAGE_SIZE, r.dmaAddr, sz, dir, 0, callerTag(dev, tag));
    } catch (e) {
      st.buffers.delete(r.cpuAddr);
      ops.freePages?.(dev, sz, got!.pfn, r.dmaAddr, dir);
      throw e;
    }
  }
  return r;
}

/**
 * `dma_free_noncoherent`: frees a buffer of `dmaAllocNoncoherent` (same size, address and
 * direction). EINVAL when the arguments do not name a live non-coherent buffer of `dev`.
 */
export function dmaFreeNoncoherent(
  dev: Device,
  size: number,
  cpuAddr: number,
  dmaAddr: number,
  dir: DmaDataDirection,
  tag?: string,
): void {
  checkDmaDirection(dir, "dma_free_noncoherent");
  checkSize(size, "dma_free_noncoherent");
  const st = dmaState(dev.kernel);
  const sz = pageAlign(size);
  const d = debugOf(dev.kernel);
  const buf = st.buffers.get(cpuAddr);
  const entry = d
    ? debugCheckUnmap(
        d,
        {
          dev,
          type: "noncoherent",
          paddr: buf?.pfns[0] !== undefined ? buf.pfns[0] * PAGE_SIZE : 0,
          devAddr: dmaAddr,
          size: sz,
          dir,
          sgCallEnts: 0,
        },
        callerTag(dev, tag),
      )
    : null;
  if (buf?.kind !== "noncoherent" || buf.dev !== dev || buf.dmaAddr !== dmaAddr || buf.size !== sz) {
    throw new KernelError(
      "EINVAL",
      `dma_free_noncoherent(${dev.name}): cpu_addr ${hex(cpuAddr)} dma_addr ${hex(Math.max(dmaAddr, 0))} size ${hex(size)} is not a live non-coherent buffer`,
    );
  }
  opsOf(dev).freePages?.(dev, sz, buf.pfns[0]!, dmaAddr, dir);
  st.buffers.delete(cpuAddr);
  if (st.tp.free.enabled) {
    st.tp.free.emit({
      device: dev.name,
      virt_addr: cpuAddr,
      dma_addr: dmaAddr,
      size: sz,
      dir: tdir(dir),
      attrs: 0,
    });
  }
  if (d) debugForget(d, [entry]);
}

// ---- user mappings and sg tables of buffers ----

/**
 * `dma_mmap_attrs` (Arnd's item 7): maps a buffer of `dmaAllocAttrs` or `dmaAllocNoncoherent` into
 * a process — the driver's `mmap` file op passes its `MmapContext`. The memory type matches the
 * kernel's mapping: uncached or write-combining for a coherent buffer (per `attrs`, cacheable on a
 * coherent device), cacheable for a non-coherent one. A contiguous buffer is mapped as a pfn range,
 * an IOMMU buffer page by page. ENXIO when `vm_pgoff` is past the buffer or the VMA is longer than
 * what is left of it, when the ops have no `mmap`, or when they do not know the buffer.
 */
export function dmaMmapAttrs(
  dev: Device,
  ctx: MmapContext,
  cpuAddr: DmaCpuAddr,
  dmaAddr: number,
  size: number,
  attrs = 0,
): void {
  checkSize(size, "dma_mmap_attrs");
  const st = dmaState(dev.kernel);
  // a pool is mapped non-cacheable in the kernel: its user mappings are too, even on a coherent device
  const poolMemtype = attrs & DMA_ATTR_WRITE_COMBINE ? "writecombine" : "uncached";
  if (mmapFromDevCoherent(st, dev, ctx, cpuAddr, size, poolMemtype)) return;
  const buf = st.buffers.get(cpuAddr);
  if (buf?.kind === "noncoherent") {
    if (buf.dev !== dev)
      throw new KernelError("ENXIO", `dma_mmap(${dev.name}): the buffer belongs to ${buf.dev.name}`);
    dmaMmapPages(dev, ctx, Math.min(size, buf.size), buf.pfns[0]!);
    return;
  }
  const ops = opsOf(dev);
  if (!ops.mmap) throw new KernelError("ENXIO", `dma_mmap(${dev.name}): ${ops.name} cannot mmap`);
  ops.mmap(dev, ctx, cpuAddr, dmaAddr, size, attrs);
}

/** `dma_mmap_coherent`: `dmaMmapAttrs` with no attributes. */
export function dmaMmapCoherent(
  dev: Device,
  ctx: MmapContext,
  cpuAddr: DmaCpuAddr,
  dmaAddr: number,
  size: number,
): void {
  dmaMmapAttrs(dev, ctx, cpuAddr, dmaAddr, size, 0);
}

/** `dma_mmap_wc`: `dmaMmapAttrs` with DMA_ATTR_WRITE_COMBINE. */
export function dmaMmapWc(
  dev: Device,
  ctx: MmapContext,
  cpuAddr: DmaCpuAddr,
  dmaAddr: number,
  size: number,
): void {
  dmaMmapAttrs(dev, ctx, cpuAddr, dmaAddr, size, DMA_ATTR_WRITE_COMBINE);
}

/**
 * `dma_mmap_pages`: maps `size` bytes of contiguous pages from `pfn` (a non-coherent buffer)
 * cacheable into a process. ENXIO when the VMA does not fit.
 */
export function dmaMmapPages(dev: Device, ctx: MmapContext, size: number, pfn: number): void {
  checkSize(size, "dma_mmap_pages");
  checkMmapFits(ctx, size);
  ctx.setMemtype("cacheable");
  ctx.setPfnRange(pfn + ctx.pgoff);
  void dev;
}

/** `dma_can_mmap`: whether `dev`'s ops can map coherent buffers into user space. */
export function dmaCanMmap(dev: Device): boolean {
  return opsOf(dev).mmap !== undefined;
}

/**
 * `dma_get_sgtable_attrs`: a scatterlist of a coherent buffer's pages (one entry for contiguous
 * memory, one per contiguous run for an IOMMU buffer), e.g. to export it as a dma-buf. ENXIO when
 * the ops have no `getSgtable` or do not know the buffer.
 */
export function dmaGetSgtable(
  dev: Device,
  cpuAddr: DmaCpuAddr,
  dmaAddr: number,
  size: number,
  attrs = 0,
): SgTable {
  checkSize(size, "dma_get_sgtable");
  const ops = opsOf(dev);
  if (!ops.getSgtable)
    throw new KernelError("ENXIO", `dma_get_sgtable(${dev.name}): ${ops.name} has no get_sgtable`);
  return ops.getSgtable(dev, cpuAddr, dmaAddr, size, attrs);
}

// ---- masks and limits ----

function checkMask(mask: number, what: string): void {
  if (typeof mask !== "number" || !(mask >= 0) || !Number.isFinite(mask)) {
    throw new KernelError("EINVAL", `${what}: mask ${String(mask)} is not a mask`);
  }
}

/** `dma_supported`: whether `dev`'s ops can serve `mask` (dma-direct: `dma_direct_supported`). */
export function dmaSupported(dev: Device, mask: number): boolean {
  const ops = opsOf(dev);
  return ops.dmaSupported ? ops.dmaSupported(dev, mask) : true;
}

/**
 * `dma_set_mask`: sets the streaming DMA mask. EIO when the device has no DMA mask (not DMA
 * capable) or the ops do not support `mask` (dma-direct: below 32 bits it must reach the last
 * page of RAM or the end of ZONE_DMA); EINVAL for something that is not a mask.
 */
export function dmaSetMask(dev: Device, mask: number): void {
  checkMask(mask, "dma_set_mask");
  if (dev.dmaMask === null)
    throw new KernelError("EIO", `dma_set_mask(${dev.name}): the device has no dma_mask`);
  if (!dmaSupported(dev, mask)) {
    throw new KernelError(
      "EIO",
      `dma_set_mask(${dev.name}): mask ${hex(mask)} is not supported by ${opsOf(dev).name}`,
    );
  }
  dev.dmaMask = mask;
}

/** `dma_set_coherent_mask`: sets the coherent mask. EIO when unsupported; EINVAL for a non-mask. */
export function dmaSetCoherentMask(dev: Device, mask: number): void {
  checkMask(mask, "dma_set_coherent_mask");
  if (!dmaSupported(dev, mask)) {
    throw new KernelError(
      "EIO",
      `dma_set_coherent_mask(${dev.name}): mask ${hex(mask)} is not supported by ${opsOf(dev).name}`,
    );
  }
  dev.coherentDmaMask = mask;
}

/** `dma_set_mask_and_coherent`: both masks (nothing set when the streaming mask fails). */
export function dmaSetMaskAndCoherent(dev: Device, mask: number): void {
  dmaSetMask(dev, mask);
  dmaSetCoherentMask(dev, mask);
}

/** `dma_get_mask`: the streaming mask, or DMA_BIT_MASK(32) when unset. */
export function dmaGetMask(dev: Device): number {
  return dev.dmaMask || DMA_BIT_MASK(32);
}

/** `dma_set_max_seg_size`: the longest DMA segment the device handles. EINVAL outside 1..2^32−1. */
export function dmaSetMaxSegSize(dev: Device, size: number): void {
  if (!Number.isSafeInteger(size) || size < 1 || size > 0xffffffff) {
    throw new KernelError("EINVAL", `dma_set_max_seg_size(${dev.name}): size ${String(size)}`);
  }
  dev.dmaParms.maxSegmentSize = size;
}

/** `dma_get_max_seg_size`: the device's max segment size (64 KiB unless set). */
export function dmaGetMaxSegSize(dev: Device): number {
  return dev.dmaParms.maxSegmentSize || 0x10000;
}

/**
 * `dma_set_seg_boundary`: DMA segments may not cross a multiple of `mask + 1`. EINVAL unless
 * `mask` is 2^n − 1 with 2^n at least a page.
 */
export function dmaSetSegBoundary(dev: Device, mask: number): void {
  const b = mask + 1;
  if (!Number.isSafeInteger(mask) || b < PAGE_SIZE || 2 ** Math.round(Math.log2(b)) !== b) {
    throw new KernelError("EINVAL", `dma_set_seg_boundary(${dev.name}): mask ${String(mask)} is not 2^n - 1`);
  }
  dev.dmaParms.segmentBoundaryMask = mask;
}

/** `dma_get_seg_boundary`: the boundary mask (ULONG_MAX, 0xffffffff on ARM32, unless set). */
export function dmaGetSegBoundary(dev: Device): number {
  return dev.dmaParms.segmentBoundaryMask || 0xffffffff;
}

/**
 * `dma_max_mapping_size`: the largest single streaming mapping (256 KiB for a direct device that
 * may bounce through swiotlb; else `SIZE_MAX`).
 */
export function dmaMaxMappingSize(dev: Device): number {
  const ops = opsOf(dev);
  return ops.maxMappingSize ? ops.maxMappingSize(dev) : SIZE_MAX;
}
