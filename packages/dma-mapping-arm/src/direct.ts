/**
 * `ARM_DMA_OPS`: what a device without an IOMMU uses (`dev.dmaOps === null`) — kernel/dma/direct.c
 * with ARM32's architecture hooks from arch/arm/mm/dma-mapping.c:
 *
 * - coherent buffers (`arch_dma_alloc` → `__dma_alloc`): contiguous pages from the device's CMA
 *   area (or the default area; with no area, the buddy allocator under the coherent mask), cleared
 *   out of the cache, and mapped non-cacheable in K.V — lowmem by remapping the linear map
 *   (`__dma_remap`), highmem by vmap — so that no cacheable alias remains; cacheable for a
 *   coherent device;
 * - streaming mappings: bus address = P.A − dmaPfnOffset, cache maintenance by direction, swiotlb
 *   when the device cannot reach the memory;
 * - non-coherent pages (`dma_direct_alloc_pages`): cacheable, the caller syncs.
 *
 * @module
 */
import {
  type Device,
  DMA_BIT_MASK,
  getOrder,
  hex,
  KernelError,
  PAGE_SIZE,
  pageAlign,
} from "@umm/kernel-core";
import type { MmapContext } from "@umm/kernel-process";
import {
  devGetCmaArea,
  dmaAllocContiguous,
  dmaAllocFromContiguous,
  dmaFreeContiguous,
  dmaReleaseFromContiguous,
} from "@umm/mm-cma";
import { __GFP_DIRECT_RECLAIM, __GFP_DMA, __GFP_HIGHMEM, __GFP_NOWARN, type Mm } from "@umm/mm-core";
import {
  archSyncDmaForCpu,
  archSyncDmaForDevice,
  checkRam,
  clearPages,
  dmaCapable,
  dmaToPhys,
  kernelMap,
  kernelUnmap,
  physToDma,
} from "./arch.js";
import type { DmaMapOps } from "./ops.js";
import { type SgEntry, SgTable } from "./scatterlist.js";
import { type DmaBuffer, dmaState, dmaWarn, dmaWarnOnce, isCookie } from "./state.js";
import {
  isSwiotlbActive,
  isSwiotlbBuffer,
  isSwiotlbForceBounce,
  swiotlbMap,
  swiotlbMaxMappingSize,
  swiotlbSyncForCpu,
  swiotlbSyncForDevice,
  swiotlbUnmap,
} from "./swiotlb.js";
import {
  DMA_ATTR_NO_KERNEL_MAPPING,
  DMA_ATTR_NO_WARN,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_ATTR_WRITE_COMBINE,
  DMA_BIDIRECTIONAL,
  DMA_MAPPING_ERROR,
  type DmaAllocation,
  DmaCookie,
  type DmaCpuAddr,
  type DmaDataDirection,
  SIZE_MAX,
} from "./types.js";

/** The memory type of a coherent buffer's CPU mappings (`__get_dma_pgprot` / `dma_pgprot`). @internal */
export function coherentMemtype(dev: Device, attrs: number): "cacheable" | "uncached" | "writecombine" {
  if (dev.dmaCoherent) return "cacheable";
  return attrs & DMA_ATTR_WRITE_COMBINE ? "writecombine" : "uncached";
}

/** The page frame just past the highest bus address `mask` reaches, for the buddy allocator. @internal */
export function maxPfnUnder(dev: Device, mask: number): number {
  return Math.floor((dmaToPhys(dev, mask) + 1) / PAGE_SIZE);
}

function hasDmaZone(mm: Mm): boolean {
  const z = mm.zoneSpecs.find((s) => s.name === "DMA");
  return z !== undefined && z.endPfn > z.startPfn;
}

/** `gfp` for the buddy allocator under `mask` (`GFP_DMA` below 32 bits when there is a DMA zone). @internal */
export function gfpUnder(mm: Mm, gfp: number, mask: number): number {
  const g = gfp & ~(__GFP_HIGHMEM | __GFP_DMA);
  return mask < DMA_BIT_MASK(32) && hasDmaZone(mm) ? g | __GFP_DMA : g;
}

function directAlloc(dev: Device, size: number, gfp: number, attrs: number): DmaAllocation | null {
  const st = dmaState(dev.kernel);
  const mm = st.mm;
  const mask = dev.coherentDmaMask;
  if (!mask) {
    dmaWarn(st, dev, "coherent DMA mask is unset");
    return null;
  }
  const sz = pageAlign(size);
  const count = sz / PAGE_SIZE;
  const order = getOrder(sz);
  const noWarn = (gfp & __GFP_NOWARN) !== 0 || (attrs & DMA_ATTR_NO_WARN) !== 0;
  const cma = gfp & __GFP_DIRECT_RECLAIM ? devGetCmaArea(dev) : null;
  let pfn: number | null;
  let release: () => void;
  if (cma) {
    pfn = dmaAllocFromContiguous(dev, count, order, noWarn);
    const p = pfn;
    release = () => {
      dmaReleaseFromContiguous(dev, p!, count);
    };
  } else {
    pfn = mm.buddy.allocPages(order, gfpUnder(mm, gfp, mask), {
      maxPfn: maxPfnUnder(dev, mask),
      tag: `dma-coherent:${dev.name}`,
    });
    const p = pfn;
    release = () => mm.buddy.freePages(p!, order);
  }
  if (pfn === null) return null;
  const dmaAddr = physToDma(dev, pfn * PAGE_SIZE);
  if (dmaAddr < 0 || dmaAddr + sz - 1 > mask) {
    release();
    if (!noWarn) {
      dmaWarn(
        st,
        dev,
        `coherent allocation at ${hex(pfn * PAGE_SIZE)} is beyond the coherent DMA mask ${hex(mask)}`,
      );
    }
    return null;
  }
  const pfns = Int32Array.from({ length: count }, (_, i) => pfn + i);
  const memtype = coherentMemtype(dev, attrs);
  clearPages(mm, [{ pfn, count }]);
  const wantVaddr = (attrs & DMA_ATTR_NO_KERNEL_MAPPING) === 0;
  let km: ReturnType<typeof kernelMap>;
  try {
    km = kernelMap(mm, pfns, memtype, wantVaddr, false, `dma-coherent:${dev.name}`);
  } catch (e) {
    release();
    if (e instanceof KernelError && e.errno === "ENOMEM") return null;
    throw e;
  }
  const cpuAddr: DmaCpuAddr = km.cpuAddr ?? new DmaCookie(`${dev.name}@${hex(dmaAddr)}+${hex(sz)}`);
  const buf: DmaBuffer = {
    dev,
    kind: "coherent",
    by: "direct",
    mapping: null,
    size: sz,
    cpuAddr,
    dmaAddr,
    attrs,
    dir: DMA_BIDIRECTIONAL,
    memtype,
    pfns,
    contiguous: true,
    source: cma ? "cma" : "buddy",
    chunks: cma ? [] : [{ pfn, order }],
    linearRuns: km.linearRuns,
    vmapAddr: km.vmapAddr,
  };
  st.buffers.set(cpuAddr, buf);
  return { cpuAddr, dmaAddr };
}

/**
 * The live coherent buffer of `dev` that `cpuAddr` names, made by implementation `by`, with the
 * same bus address and page-aligned size; EINVAL otherwise (naming what differs). @internal
 */
export function findBuffer(
  dev: Device,
  size: number,
  cpuAddr: DmaCpuAddr,
  dmaAddr: number,
  by: DmaBuffer["by"],
  what: string,
): DmaBuffer {
  const st = dmaState(dev.kernel);
  const buf = st.buffers.get(cpuAddr);
  const name = isCookie(cpuAddr) ? String(cpuAddr) : hex(cpuAddr);
  if (buf?.kind !== "coherent") {
    throw new KernelError("EINVAL", `${what}(${dev.name}): cpu_addr ${name} is not a live coherent buffer`);
  }
  if (buf.dev !== dev) {
    throw new KernelError("EINVAL", `${what}(${dev.name}): cpu_addr ${name} belongs to ${buf.dev.name}`);
  }
  if (buf.by !== by) {
    throw new KernelError(
      "EINVAL",
      `${what}(${dev.name}): cpu_addr ${name} was allocated through the ${buf.by === "iommu" ? "IOMMU" : "direct"} ops, not these`,
    );
  }
  if (buf.dmaAddr !== dmaAddr) {
    throw new KernelError(
      "EINVAL",
      `${what}(${dev.name}): dma_addr ${hex(Math.max(dmaAddr, 0))} is not ${hex(buf.dmaAddr)}, the address of cpu_addr ${name}`,
    );
  }
  if (pageAlign(size) !== buf.size) {
    throw new KernelError(
      "EINVAL",
      `${what}(${dev.name}): size ${hex(size)} is not the buffer's ${hex(buf.size)}`,
    );
  }
  return buf;
}

function directFree(dev: Device, size: number, cpuAddr: DmaCpuAddr, dmaAddr: number, _attrs: number): void {
  const st = dmaState(dev.kernel);
  const buf = findBuffer(dev, size, cpuAddr, dmaAddr, "direct", "dma_free");
  kernelUnmap(st.mm, buf);
  st.buffers.delete(cpuAddr);
  const pfn = buf.pfns[0]!;
  if (buf.source === "cma") dmaReleaseFromContiguous(dev, pfn, buf.pfns.length);
  else for (const c of buf.chunks) st.mm.buddy.freePages(c.pfn, c.order);
}

function directAllocPages(
  dev: Device,
  size: number,
  _dir: DmaDataDirection,
  gfp: number,
): { pfn: number; dmaAddr: number } | null {
  const st = dmaState(dev.kernel);
  const mm = st.mm;
  const mask = dev.coherentDmaMask;
  const sz = pageAlign(size);
  const fits = (pfn: number): boolean => {
    const d = physToDma(dev, pfn * PAGE_SIZE);
    return d >= 0 && d + sz - 1 <= mask && pfn * PAGE_SIZE + sz <= mm.kspace.lowmemEnd;
  };
  let pfn = dmaAllocContiguous(dev, sz, gfp);
  if (pfn !== null && !fits(pfn)) {
    dmaFreeContiguous(dev, pfn, sz);
    pfn = null;
  }
  if (pfn === null) {
    pfn = mm.buddy.allocPages(getOrder(sz), gfpUnder(mm, gfp, mask), {
      maxPfn: maxPfnUnder(dev, mask),
      tag: `dma-noncoherent:${dev.name}`,
    });
  }
  if (pfn === null) return null;
  return { pfn, dmaAddr: physToDma(dev, pfn * PAGE_SIZE) };
}

function directFreePages(
  dev: Device,
  size: number,
  pfn: number,
  _dmaAddr: number,
  _dir: DmaDataDirection,
): void {
  dmaFreeContiguous(dev, pfn, pageAlign(size));
}

/** The ENXIO rule of every mmap: the VMA's pages from `pgoff` must fit the buffer's. @internal */
export function checkMmapFits(ctx: MmapContext, size: number): { count: number; userCount: number } {
  const count = Math.ceil(size / PAGE_SIZE);
  const userCount = ctx.length / PAGE_SIZE;
  if (ctx.pgoff >= count || userCount > count - ctx.pgoff) {
    throw new KernelError(
      "ENXIO",
      `dma_mmap: ${userCount} page(s) from vm_pgoff ${ctx.pgoff} do not fit a ${count}-page buffer`,
    );
  }
  return { count, userCount };
}

function directMmap(
  dev: Device,
  ctx: MmapContext,
  cpuAddr: DmaCpuAddr,
  dmaAddr: number,
  size: number,
  attrs: number,
): void {
  const st = dmaState(dev.kernel);
  const buf = st.buffers.get(cpuAddr);
  if (buf && (buf.by !== "direct" || buf.dev !== dev)) {
    throw new KernelError(
      "ENXIO",
      `dma_mmap(${dev.name}): the buffer was not allocated by dma-direct for this device`,
    );
  }
  checkMmapFits(ctx, size);
  const pfn = Math.floor(dmaToPhys(dev, dmaAddr) / PAGE_SIZE);
  if (!st.mm.phys.isRam(pfn * PAGE_SIZE, ctx.length)) {
    throw new KernelError("ENXIO", `dma_mmap(${dev.name}): dma_addr ${hex(dmaAddr)} is not RAM`);
  }
  ctx.setMemtype(buf ? buf.memtype : coherentMemtype(dev, attrs));
  ctx.setPfnRange(pfn + ctx.pgoff);
}

function directGetSgtable(
  dev: Device,
  cpuAddr: DmaCpuAddr,
  dmaAddr: number,
  size: number,
  _attrs: number,
): SgTable {
  const st = dmaState(dev.kernel);
  const buf = st.buffers.get(cpuAddr);
  if (buf && (buf.by !== "direct" || buf.dev !== dev)) {
    throw new KernelError(
      "ENXIO",
      `dma_get_sgtable(${dev.name}): the buffer was not allocated by dma-direct`,
    );
  }
  const pa = dmaToPhys(dev, dmaAddr);
  if (pa % PAGE_SIZE || !st.mm.phys.isRam(pa, pageAlign(size))) {
    throw new KernelError(
      "ENXIO",
      `dma_get_sgtable(${dev.name}): dma_addr ${hex(dmaAddr)} is not a RAM page`,
    );
  }
  return new SgTable([{ pfn: pa / PAGE_SIZE, offset: 0, length: pageAlign(size) }]);
}

function directMapPage(
  dev: Device,
  pfn: number,
  offset: number,
  size: number,
  dir: DmaDataDirection,
  attrs: number,
): number {
  const paddr = pfn * PAGE_SIZE + offset;
  const daddr = physToDma(dev, paddr);
  if (isSwiotlbForceBounce(dev)) return swiotlbMap(dev, paddr, size, dir, attrs);
  if (!dmaCapable(dev, daddr, size)) {
    if (isSwiotlbActive(dev)) return swiotlbMap(dev, paddr, size, dir, attrs);
    dmaWarnOnce(
      dmaState(dev.kernel),
      dev,
      "overflow",
      `DMA addr ${hex(Math.max(daddr, 0))}+${size} overflow (mask ${hex(dev.dmaMask ?? 0)}, bus limit 0).`,
    );
    return DMA_MAPPING_ERROR;
  }
  if (!dev.dmaCoherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC))
    archSyncDmaForDevice(dev.kernel, paddr, size, dir);
  return daddr;
}

function directUnmapPage(
  dev: Device,
  dmaAddr: number,
  size: number,
  dir: DmaDataDirection,
  attrs: number,
): void {
  const phys = dmaToPhys(dev, dmaAddr);
  if (isSwiotlbBuffer(dev, phys)) {
    swiotlbUnmap(dev, phys, size, dir, attrs);
    return;
  }
  checkRam(dmaState(dev.kernel).mm, phys, size, `dma_unmap_page(${dev.name}) of dma_addr ${hex(dmaAddr)}`);
  if (!dev.dmaCoherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC)) archSyncDmaForCpu(dev.kernel, phys, size, dir);
}

function directMapSg(
  dev: Device,
  sg: SgEntry[],
  nents: number,
  dir: DmaDataDirection,
  attrs: number,
): number {
  for (let i = 0; i < nents; i++) {
    const s = sg[i]!;
    const a = directMapPage(dev, s.pfn, s.offset, s.length, dir, attrs);
    if (a === DMA_MAPPING_ERROR) {
      directUnmapSg(dev, sg, i, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
      throw new KernelError(
        "EIO",
        `dma_map_sg(${dev.name}): entry ${i} at ${hex(s.pfn * PAGE_SIZE + s.offset)}+${hex(s.length)} cannot be mapped`,
      );
    }
    s.dmaAddress = a;
    s.dmaLength = s.length;
  }
  return nents;
}

function directUnmapSg(
  dev: Device,
  sg: SgEntry[],
  nents: number,
  dir: DmaDataDirection,
  attrs: number,
): void {
  for (let i = 0; i < nents; i++) directUnmapPage(dev, sg[i]!.dmaAddress, sg[i]!.dmaLength, dir, attrs);
}

function directMapResource(
  dev: Device,
  paddr: number,
  size: number,
  _dir: DmaDataDirection,
  _attrs: number,
): number {
  if (!dmaCapable(dev, paddr, size)) {
    dmaWarnOnce(
      dmaState(dev.kernel),
      dev,
      "resource-overflow",
      `DMA addr ${hex(paddr)}+${size} overflow (mask ${hex(dev.dmaMask ?? 0)}, bus limit 0).`,
    );
    return DMA_MAPPING_ERROR;
  }
  return paddr;
}

function directSyncForCpu(dev: Device, dmaAddr: number, size: number, dir: DmaDataDirection): void {
  const phys = dmaToPhys(dev, dmaAddr);
  if (isSwiotlbBuffer(dev, phys)) {
    swiotlbSyncForCpu(dev, phys, size, dir);
    return;
  }
  checkRam(
    dmaState(dev.kernel).mm,
    phys,
    size,
    `dma_sync_single_for_cpu(${dev.name}) of dma_addr ${hex(dmaAddr)}`,
  );
  if (!dev.dmaCoherent) archSyncDmaForCpu(dev.kernel, phys, size, dir);
}

function directSyncForDevice(dev: Device, dmaAddr: number, size: number, dir: DmaDataDirection): void {
  const phys = dmaToPhys(dev, dmaAddr);
  if (isSwiotlbBuffer(dev, phys)) {
    swiotlbSyncForDevice(dev, phys, size, dir);
    return;
  }
  checkRam(
    dmaState(dev.kernel).mm,
    phys,
    size,
    `dma_sync_single_for_device(${dev.name}) of dma_addr ${hex(dmaAddr)}`,
  );
  if (!dev.dmaCoherent) archSyncDmaForDevice(dev.kernel, phys, size, dir);
}

/**
 * `dma_direct_supported`: a mask of 32 bits or more always; a smaller one when it reaches the
 * last page of RAM, or the end of ZONE_DMA when the kernel has one.
 */
export function dmaDirectSupported(dev: Device, mask: number): boolean {
  if (mask >= DMA_BIT_MASK(32)) return true;
  const mm = dmaState(dev.kernel).mm;
  let minMask = mm.phys.end - PAGE_SIZE;
  const z = mm.zoneSpecs.find((s) => s.name === "DMA");
  if (z && z.endPfn > z.startPfn) minMask = Math.min(minMask, z.endPfn * PAGE_SIZE - 1);
  return mask >= physToDma(dev, minMask);
}

/** `dma_get_required_mask` for a direct device: the smallest all-ones mask reaching all RAM. */
export function dmaDirectGetRequiredMask(dev: Device): number {
  const top = physToDma(dev, dmaState(dev.kernel).mm.phys.end - 1);
  return top <= 0 ? 0 : 2 ** (Math.floor(Math.log2(top)) + 1) - 1;
}

/**
 * `dma_direct_max_mapping_size`: swiotlb's 256 KiB when the device may bounce (its mask cannot
 * reach all RAM, or bouncing is forced), else `SIZE_MAX`.
 */
export function dmaDirectMaxMappingSize(dev: Device): number {
  const limited = (dev.dmaMask ?? 0) < dmaDirectGetRequiredMask(dev);
  if (isSwiotlbActive(dev) && (limited || isSwiotlbForceBounce(dev))) return swiotlbMaxMappingSize(dev);
  return SIZE_MAX;
}

/** dma-direct with ARM32's cache maintenance, swiotlb and CMA: the ops of every direct device. */
export const ARM_DMA_OPS: DmaMapOps = Object.freeze({
  name: "arm-dma-direct",
  alloc: directAlloc,
  free: directFree,
  allocPages: directAllocPages,
  freePages: directFreePages,
  mmap: directMmap,
  getSgtable: directGetSgtable,
  mapPage: directMapPage,
  unmapPage: directUnmapPage,
  mapSg: directMapSg,
  unmapSg: directUnmapSg,
  mapResource: directMapResource,
  unmapResource: () => {},
  syncSingleForCpu: directSyncForCpu,
  syncSingleForDevice: directSyncForDevice,
  syncSgForCpu: (dev, sg, nents, dir) => {
    for (let i = 0; i < nents; i++) directSyncForCpu(dev, sg[i]!.dmaAddress, sg[i]!.length, dir);
  },
  syncSgForDevice: (dev, sg, nents, dir) => {
    for (let i = 0; i < nents; i++) directSyncForDevice(dev, sg[i]!.dmaAddress, sg[i]!.length, dir);
  },
  dmaSupported: dmaDirectSupported,
  maxMappingSize: dmaDirectMaxMappingSize,
} satisfies DmaMapOps);
