/**
 * DMA mapping over the IOMMU API (arch/arm/mm/dma-mapping.c, `CONFIG_ARM_DMA_USE_IOMMU`):
 * `armIommuCreateMapping` makes an IOVA window with its bitmap allocator (bottom-up first fit,
 * aligned to the size's order capped at `CONFIG_ARM_DMA_IOMMU_ALIGNMENT`, one page of bitmap per
 * 128 MiB "extension", extra extensions allocated on demand) and an UNMANAGED domain;
 * `armIommuAttachDevice` attaches a device (several may share a mapping) and installs
 * `ARM_IOMMU_OPS`, which only ever call iommu-core (`iommuMap`, `iommuUnmap`, `iommuIovaToPhys`):
 *
 * - `mapPage`: cache maintenance by direction, an IOVA range, `iommuMap`;
 * - `mapSg`: merges entries into as few D.V segments as the device's max segment size and segment
 *   boundary allow (`arm_iommu_map_sg`'s rules);
 * - `alloc`: pages of orders 9, 8, 4, 0 (4 KiB only with DMA_ATTR_ALLOC_SINGLE_PAGES, CMA with
 *   DMA_ATTR_FORCE_CONTIGUOUS), including highmem, cleared out of the cache, mapped contiguously in
 *   D.V and vmapped contiguously in K.V — and every lowmem page's linear-map entry remapped to the
 *   same non-cacheable type, so that no cacheable alias remains (stricter than ARM, which leaves
 *   the linear map cacheable).
 *
 * @module
 */
import {
  IOMMU_MMIO,
  IOMMU_PRIV,
  IOMMU_READ,
  IOMMU_WRITE,
  type IommuDomain,
  iommuAttachDevice,
  iommuDetachDevice,
  iommuDomainFree,
  iommuIovaToPhys,
  iommuMap,
  iommuPagingDomainAlloc,
  iommuUnmap,
} from "@umm/iommu-core";
import {
  type Device,
  type FaultSite,
  faultSite,
  fls,
  getOrder,
  hex,
  type Kernel,
  KernelBug,
  KernelError,
  Kref,
  PAGE_SIZE,
  pageAlign,
  SZ_4G,
} from "@umm/kernel-core";
import type { MmapContext } from "@umm/kernel-process";
import {
  bitmapClear,
  bitmapFindNextZeroArea,
  bitmapSet,
  bitmapWeight,
  dmaAllocFromContiguous,
  dmaReleaseFromContiguous,
} from "@umm/mm-cma";
import { __GFP_DIRECT_RECLAIM, __GFP_DMA, __GFP_HIGHMEM, __GFP_NOWARN, type Mm } from "@umm/mm-core";
import {
  archSyncDmaForCpu,
  archSyncDmaForDevice,
  clearPages,
  kernelMap,
  kernelUnmap,
  pfnRuns,
} from "./arch.js";
import { checkMmapFits, coherentMemtype, findBuffer } from "./direct.js";
import { type DmaMapOps, setDmaOps } from "./ops.js";
import { type SgEntry, type SgTable, sgAllocTableFromPages } from "./scatterlist.js";
import { type DmaBuffer, devDma, dmaState, dmaWarn } from "./state.js";
import {
  CONFIG_ARM_DMA_IOMMU_ALIGNMENT,
  DMA_ATTR_ALLOC_SINGLE_PAGES,
  DMA_ATTR_FORCE_CONTIGUOUS,
  DMA_ATTR_NO_KERNEL_MAPPING,
  DMA_ATTR_NO_WARN,
  DMA_ATTR_PRIVILEGED,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  type DmaAllocation,
  DmaCookie,
  type DmaCpuAddr,
  type DmaDataDirection,
  IOMMU_ORDER_ARRAY,
} from "./types.js";

/** What one live IOVA range of a mapping holds. */
interface IovaMap {
  /** page-aligned bytes */
  readonly len: number;
  readonly kind: "page" | "resource" | "sg" | "coherent";
  /** physical start of a "page" / "resource" range (contiguous), else -1 */
  readonly phys: number;
}

/** An IOVA window and its domain, shared by the devices attached to it (`struct dma_iommu_mapping`). */
export interface DmaIommuMapping {
  /** the UNMANAGED domain every attached device translates through */
  readonly domain: IommuDomain;
  /** first IOVA of the window */
  readonly base: number;
  /** bytes asked for at creation */
  readonly size: number;
  /** IOVA pages one bitmap covers (32768 = 128 MiB when the window needs several) */
  readonly bits: number;
  /** bitmaps the window may grow to */
  readonly extensions: number;
  /** bitmaps allocated so far */
  readonly nrBitmaps: number;
  /** devices attached now */
  readonly devices: readonly Device[];
  /** references: the creator's plus one per attached device */
  readonly refcount: number;
  /** IOVA pages allocated */
  readonly usedPages: number;
  /** live IOVA ranges (maps, scatterlist chunks, coherent buffers) */
  readonly liveRanges: number;
}

class Mapping implements DmaIommuMapping {
  readonly domain: IommuDomain;
  readonly base: number;
  readonly size: number;
  readonly bits: number;
  readonly extensions: number;
  readonly bitmaps: Uint32Array[];
  readonly kref: Kref;
  readonly attached = new Set<Device>();
  readonly maps = new Map<number, IovaMap>();
  readonly label: string;
  readonly kernel: Kernel;
  /** the "iova" fault-injection site */
  readonly fault: FaultSite;

  constructor(
    kernel: Kernel,
    domain: IommuDomain,
    base: number,
    size: number,
    bits: number,
    extensions: number,
    label: string,
  ) {
    this.kernel = kernel;
    this.fault = faultSite(kernel, "iova");
    this.domain = domain;
    this.base = base;
    this.size = size;
    this.bits = bits;
    this.extensions = extensions;
    this.bitmaps = [new Uint32Array(bits / 32)];
    this.label = label;
    this.kref = new Kref(() => this.#release(), `dma_iommu_mapping ${label}`);
  }

  get nrBitmaps(): number {
    return this.bitmaps.length;
  }

  get devices(): readonly Device[] {
    return [...this.attached];
  }

  get refcount(): number {
    return this.kref.count;
  }

  get usedPages(): number {
    let n = 0;
    for (const b of this.bitmaps) n += bitmapWeight(b, this.bits);
    return n;
  }

  get liveRanges(): number {
    return this.maps.size;
  }

  #release(): void {
    if (this.maps.size > 0) {
      dmaWarn(
        dmaState(this.kernel),
        null,
        `release_iommu_mapping ${this.label}: ${this.maps.size} IOVA range(s) still mapped`,
      );
    }
    iommuDomainFree(this.domain);
  }
}

function asMapping(m: DmaIommuMapping): Mapping {
  if (!(m instanceof Mapping)) throw new KernelBug("not a DmaIommuMapping from armIommuCreateMapping");
  return m;
}

/**
 * `arm_iommu_create_mapping(dev, base, size)`: an IOVA window `[base, base + size)` and a new
 * paging domain of the IOMMU in front of `dev`. The bitmap covers whole 32-page words (so, as in
 * the kernel, the last IOVAs may lie a little past `size`), one page of bitmap (128 MiB) per
 * extension. ERANGE when `size` is above 4 GiB or the window ends above 4 GiB; EINVAL for a size
 * under one page or a base that is not page-aligned; the errors of `iommuPagingDomainAlloc`
 * (ENODEV: `dev` has no IOMMU).
 */
export function armIommuCreateMapping(dev: Device, base: number, size: number): DmaIommuMapping {
  if (!Number.isSafeInteger(size) || size < 0)
    throw new KernelError("EINVAL", `size ${String(size)} is not a size`);
  if (size > SZ_4G) {
    throw new KernelError(
      "ERANGE",
      `size ${hex(size)} is above 4 GiB: only a 32-bit DMA address space is supported`,
    );
  }
  if (!Number.isSafeInteger(base) || base < 0 || base % PAGE_SIZE) {
    throw new KernelError("EINVAL", `base ${hex(base)} is not a page-aligned address`);
  }
  if (base + size > SZ_4G) {
    throw new KernelError("ERANGE", `window [${hex(base)}, ${hex(base + size)}) ends above 4 GiB`);
  }
  const bits = Math.floor(size / PAGE_SIZE);
  let bitmapSize = Math.ceil(bits / 32) * 4;
  if (bitmapSize === 0) throw new KernelError("EINVAL", `size ${hex(size)} is less than a page`);
  let extensions = 1;
  if (bitmapSize > PAGE_SIZE) {
    extensions = Math.floor(bitmapSize / PAGE_SIZE);
    bitmapSize = PAGE_SIZE;
  }
  const domain = iommuPagingDomainAlloc(dev);
  return new Mapping(dev.kernel, domain, base, size, bitmapSize * 8, extensions, `${dev.name}@${hex(base)}`);
}

/**
 * `arm_iommu_release_mapping`: drops the creator's reference; the domain is freed when the last
 * attached device detaches too. A second release is a `KernelBug` (put after release).
 */
export function armIommuReleaseMapping(mapping: DmaIommuMapping | null): void {
  if (!mapping) return;
  asMapping(mapping).kref.put();
}

/**
 * `arm_iommu_attach_device`: `dev` translates through `mapping`'s domain and its DMA calls go
 * through `ARM_IOMMU_OPS`. Several devices may share one mapping. Errors of `iommuAttachDevice`
 * (ENODEV without an IOMMU group, EBUSY when attached elsewhere, EINVAL for another IOMMU driver);
 * EINVAL for a released mapping. Nothing changes on error.
 */
export function armIommuAttachDevice(dev: Device, mapping: DmaIommuMapping): void {
  const m = asMapping(mapping);
  if (m.kref.released) throw new KernelError("EINVAL", `mapping ${m.label} was released`);
  iommuAttachDevice(m.domain, dev);
  m.kref.get();
  m.attached.add(dev);
  devDma(dmaState(dev.kernel), dev).mapping = m;
  setDmaOps(dev, ARM_IOMMU_OPS);
}

/**
 * `arm_iommu_detach_device`: `dev` leaves its mapping's domain, drops its reference and goes back
 * to dma-direct. A device that is not attached gets a `dma_warn` ("Not attached") and nothing
 * else, as in the kernel.
 */
export function armIommuDetachDevice(dev: Device): void {
  const st = dmaState(dev.kernel);
  const d = devDma(st, dev);
  const m = d.mapping as Mapping | null;
  if (!m) {
    dmaWarn(st, dev, "Not attached");
    return;
  }
  iommuDetachDevice(m.domain, dev);
  m.attached.delete(dev);
  d.mapping = null;
  setDmaOps(dev, null);
  m.kref.put();
}

/** `to_dma_iommu_mapping`: the mapping `dev` is attached to, or null. */
export function toDmaIommuMapping(dev: Device): DmaIommuMapping | null {
  return dmaState(dev.kernel).devs.get(dev)?.mapping ?? null;
}

function mappingOf(dev: Device, what: string): Mapping {
  const m = dmaState(dev.kernel).devs.get(dev)?.mapping as Mapping | null | undefined;
  if (!m) throw new KernelError("ENODEV", `${what}(${dev.name}): not attached to an IOMMU mapping`);
  return m;
}

// ---- the IOVA bitmap allocator ----

/**
 * `__alloc_iova`: `size` bytes of IOVA, bottom-up first fit over each bitmap in turn, aligned to
 * 2^min(get_order(size), 8) pages, extending the mapping when every bitmap is full. A
 * `boundary` (bytes, power of two) keeps the range inside one boundary-aligned block (umm: for
 * scatterlist segments under the device's segment boundary). `DMA_MAPPING_ERROR` when nothing
 * fits.
 */
function allocIova(m: Mapping, size: number, boundary = 0): number {
  if (m.fault.armed && m.fault.shouldFail()) return DMA_MAPPING_ERROR;
  const order = Math.min(getOrder(size), CONFIG_ARM_DMA_IOMMU_ALIGNMENT);
  const count = pageAlign(size) / PAGE_SIZE;
  const align = 2 ** order - 1;
  const mappingSize = m.bits * PAGE_SIZE;
  const tryBitmap = (i: number): number => {
    const map = m.bitmaps[i]!;
    const bitmapBase = m.base + mappingSize * i;
    let from = 0;
    for (;;) {
      const start = bitmapFindNextZeroArea(map, m.bits, from, count, align);
      if (start + count > m.bits) return -1;
      if (boundary) {
        const lo = bitmapBase + start * PAGE_SIZE;
        const next = (Math.floor(lo / boundary) + 1) * boundary;
        if (lo + count * PAGE_SIZE > next) {
          from = (next - bitmapBase) / PAGE_SIZE;
          continue;
        }
      }
      bitmapSet(map, start, count);
      return bitmapBase + start * PAGE_SIZE;
    }
  };
  for (let i = 0; i < m.bitmaps.length; i++) {
    const iova = tryBitmap(i);
    if (iova >= 0) return iova;
  }
  while (m.bitmaps.length < m.extensions) {
    m.bitmaps.push(new Uint32Array(m.bits / 32));
    const iova = tryBitmap(m.bitmaps.length - 1);
    if (iova >= 0) return iova;
  }
  return DMA_MAPPING_ERROR;
}

/** `__free_iova`: a range crossing two bitmaps is a `KernelBug`, as the kernel BUGs. */
function freeIova(m: Mapping, iova: number, size: number): void {
  if (!size) return;
  const mappingSize = m.bits * PAGE_SIZE;
  const idx = Math.floor((iova - m.base) / mappingSize);
  if (iova < m.base || idx >= m.bitmaps.length)
    throw new KernelBug(`__free_iova: ${hex(iova)} is outside ${m.label}`);
  const bitmapBase = m.base + mappingSize * idx;
  if (iova + size > bitmapBase + mappingSize)
    throw new KernelBug(`__free_iova: [${hex(iova)}, +${hex(size)}) crosses a bitmap`);
  bitmapClear(m.bitmaps[idx]!, (iova - bitmapBase) / PAGE_SIZE, size / PAGE_SIZE);
}

/** `__dma_info_to_prot`. */
function infoToProt(dir: DmaDataDirection, attrs: number): number {
  const priv = attrs & DMA_ATTR_PRIVILEGED ? IOMMU_PRIV : 0;
  if (dir === DMA_TO_DEVICE) return priv | IOMMU_READ;
  if (dir === DMA_FROM_DEVICE) return priv | IOMMU_WRITE;
  return priv | IOMMU_READ | IOMMU_WRITE;
}

/** `__iommu_remove_mapping` of a recorded range. */
function removeRange(m: Mapping, iova: number, rec: IovaMap): void {
  iommuUnmap(m.domain, iova, rec.len);
  freeIova(m, iova, rec.len);
  m.maps.delete(iova);
}

/**
 * `__iommu_create_mapping`: maps `pfns` (a buffer's pages) contiguously in a new IOVA range, one
 * `iommuMap` per physically contiguous run. `DMA_MAPPING_ERROR` on failure (nothing mapped).
 */
function createMapping(m: Mapping, pfns: Int32Array, attrs: number): number {
  const size = pfns.length * PAGE_SIZE;
  const dmaAddr = allocIova(m, size);
  if (dmaAddr === DMA_MAPPING_ERROR) return dmaAddr;
  let iova = dmaAddr;
  try {
    for (const r of pfnRuns(pfns)) {
      iommuMap(m.domain, iova, r.pfn * PAGE_SIZE, r.count * PAGE_SIZE, infoToProt(DMA_BIDIRECTIONAL, attrs));
      iova += r.count * PAGE_SIZE;
    }
  } catch (e) {
    if (iova > dmaAddr) iommuUnmap(m.domain, dmaAddr, iova - dmaAddr);
    freeIova(m, dmaAddr, size);
    if (e instanceof KernelError) return DMA_MAPPING_ERROR;
    throw e;
  }
  m.maps.set(dmaAddr, { len: size, kind: "coherent", phys: -1 });
  return dmaAddr;
}

// ---- coherent buffers ----

interface Pages {
  readonly pfns: Int32Array;
  readonly chunks: readonly { readonly pfn: number; readonly order: number }[];
  readonly source: "cma" | "buddy";
}

function freeChunks(mm: Mm, dev: Device, p: Pages): void {
  if (p.source === "cma") dmaReleaseFromContiguous(dev, p.pfns[0]!, p.pfns.length);
  else for (const c of p.chunks) mm.buddy.freePages(c.pfn, c.order);
}

/** `__iommu_alloc_buffer`: the pages of a buffer, in buffer order, or null. */
function allocBuffer(mm: Mm, dev: Device, size: number, gfp: number, attrs: number): Pages | null {
  const count = size / PAGE_SIZE;
  const noWarn = (gfp & __GFP_NOWARN) !== 0 || (attrs & DMA_ATTR_NO_WARN) !== 0;
  if (attrs & DMA_ATTR_FORCE_CONTIGUOUS) {
    const pfn = dmaAllocFromContiguous(dev, count, getOrder(size), noWarn);
    if (pfn === null) return null;
    return { pfns: Int32Array.from({ length: count }, (_, i) => pfn + i), chunks: [], source: "cma" };
  }
  const pfns = new Int32Array(count);
  const chunks: { pfn: number; order: number }[] = [];
  const g = (gfp & ~__GFP_DMA) | __GFP_HIGHMEM | __GFP_NOWARN;
  let orderIdx = attrs & DMA_ATTR_ALLOC_SINGLE_PAGES ? IOMMU_ORDER_ARRAY.length - 1 : 0;
  let i = 0;
  let left = count;
  while (left > 0) {
    const order = IOMMU_ORDER_ARRAY[orderIdx]!;
    if (fls(left) < order) {
      orderIdx++;
      continue;
    }
    const pfn = mm.buddy.allocPages(order, g, { tag: `dma-iommu:${dev.name}` });
    if (pfn === null) {
      if (order) {
        orderIdx++;
        continue;
      }
      freeChunks(mm, dev, { pfns, chunks, source: "buddy" });
      return null;
    }
    chunks.push({ pfn, order });
    for (let k = 0; k < 2 ** order; k++) pfns[i + k] = pfn + k;
    i += 2 ** order;
    left -= 2 ** order;
  }
  return { pfns, chunks, source: "buddy" };
}

function iommuAlloc(dev: Device, size: number, gfp: number, attrs: number): DmaAllocation | null {
  const st = dmaState(dev.kernel);
  const mm = st.mm;
  const m = mappingOf(dev, "dma_alloc");
  const sz = pageAlign(size);
  const simple = dev.dmaCoherent || (gfp & __GFP_DIRECT_RECLAIM) === 0;
  let pages: Pages | null;
  if (simple) {
    const order = getOrder(sz);
    const pfn = mm.buddy.allocPages(order, gfp & ~(__GFP_HIGHMEM | __GFP_DMA), {
      tag: `dma-iommu:${dev.name}`,
    });
    pages =
      pfn === null
        ? null
        : {
            pfns: Int32Array.from({ length: sz / PAGE_SIZE }, (_, i) => pfn + i),
            chunks: [{ pfn, order }],
            source: "buddy",
          };
  } else {
    pages = allocBuffer(mm, dev, sz, gfp, attrs);
  }
  if (!pages) return null;
  clearPages(mm, pfnRuns(pages.pfns));
  const dmaAddr = createMapping(m, pages.pfns, attrs);
  if (dmaAddr === DMA_MAPPING_ERROR) {
    freeChunks(mm, dev, pages);
    return null;
  }
  const memtype = coherentMemtype(dev, attrs);
  const wantVaddr = (attrs & DMA_ATTR_NO_KERNEL_MAPPING) === 0;
  let km: ReturnType<typeof kernelMap>;
  try {
    km = kernelMap(mm, pages.pfns, memtype, wantVaddr, !simple, `dma-iommu:${dev.name}`);
  } catch (e) {
    removeRange(m, dmaAddr, m.maps.get(dmaAddr)!);
    freeChunks(mm, dev, pages);
    if (e instanceof KernelError && e.errno === "ENOMEM") return null;
    throw e;
  }
  const cpuAddr: DmaCpuAddr = km.cpuAddr ?? new DmaCookie(`${dev.name}@${hex(dmaAddr)}+${hex(sz)}`);
  const buf: DmaBuffer = {
    dev,
    kind: "coherent",
    by: "iommu",
    mapping: m,
    size: sz,
    cpuAddr,
    dmaAddr,
    attrs,
    dir: DMA_BIDIRECTIONAL,
    memtype,
    pfns: pages.pfns,
    contiguous: pfnRuns(pages.pfns).length === 1,
    source: pages.source,
    chunks: pages.chunks,
    linearRuns: km.linearRuns,
    vmapAddr: km.vmapAddr,
  };
  st.buffers.set(cpuAddr, buf);
  return { cpuAddr, dmaAddr };
}

function iommuFree(dev: Device, size: number, cpuAddr: DmaCpuAddr, dmaAddr: number, _attrs: number): void {
  const st = dmaState(dev.kernel);
  const buf = findBuffer(dev, size, cpuAddr, dmaAddr, "iommu", "dma_free");
  const m = buf.mapping as Mapping;
  kernelUnmap(st.mm, buf);
  removeRange(m, dmaAddr, m.maps.get(dmaAddr)!);
  st.buffers.delete(cpuAddr);
  freeChunks(st.mm, dev, buf);
}

function bufferOf(dev: Device, cpuAddr: DmaCpuAddr, what: string): DmaBuffer {
  const buf = dmaState(dev.kernel).buffers.get(cpuAddr);
  if (buf?.by !== "iommu" || buf.dev !== dev || buf.kind !== "coherent") {
    throw new KernelError("ENXIO", `${what}(${dev.name}): no IOMMU coherent buffer at this cpu_addr`);
  }
  return buf;
}

function iommuMmap(
  dev: Device,
  ctx: MmapContext,
  cpuAddr: DmaCpuAddr,
  _dmaAddr: number,
  size: number,
  _attrs: number,
): void {
  const buf = bufferOf(dev, cpuAddr, "dma_mmap");
  const { userCount } = checkMmapFits(ctx, Math.min(size, buf.size));
  ctx.setMemtype(buf.memtype);
  ctx.setPages(buf.pfns.subarray(ctx.pgoff, ctx.pgoff + userCount));
}

function iommuGetSgtable(
  dev: Device,
  cpuAddr: DmaCpuAddr,
  _dmaAddr: number,
  size: number,
  _attrs: number,
): SgTable {
  const buf = bufferOf(dev, cpuAddr, "dma_get_sgtable");
  if (size <= 0 || size > buf.size) {
    throw new KernelError(
      "EINVAL",
      `dma_get_sgtable(${dev.name}): size ${hex(size)} is not inside the buffer`,
    );
  }
  return sgAllocTableFromPages(buf.pfns.subarray(0, Math.ceil(size / PAGE_SIZE)), 0, size);
}

// ---- streaming ----

function iommuMapPage(
  dev: Device,
  pfn: number,
  offset: number,
  size: number,
  dir: DmaDataDirection,
  attrs: number,
): number {
  const m = mappingOf(dev, "dma_map_page");
  const len = pageAlign(size + offset);
  if (!dev.dmaCoherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC)) {
    archSyncDmaForDevice(dev.kernel, pfn * PAGE_SIZE + offset, size, dir);
  }
  const iova = allocIova(m, len);
  if (iova === DMA_MAPPING_ERROR) return iova;
  try {
    iommuMap(m.domain, iova, pfn * PAGE_SIZE, len, infoToProt(dir, attrs));
  } catch (e) {
    freeIova(m, iova, len);
    if (e instanceof KernelError) return DMA_MAPPING_ERROR;
    throw e;
  }
  m.maps.set(iova, { len, kind: "page", phys: pfn * PAGE_SIZE });
  return iova + offset;
}

function liveRange(
  m: Mapping,
  dev: Device,
  handle: number,
  kind: IovaMap["kind"],
  what: string,
): [number, IovaMap] {
  const iova = handle - (handle % PAGE_SIZE);
  const rec = m.maps.get(iova);
  if (!rec || rec.kind !== kind) {
    throw new KernelError(
      "EINVAL",
      `${what}(${dev.name}): dma_addr ${hex(Math.max(handle, 0))} is not a live ${kind === "page" ? "page mapping" : kind} of ${m.label}`,
    );
  }
  return [iova, rec];
}

function iommuUnmapPage(
  dev: Device,
  handle: number,
  size: number,
  dir: DmaDataDirection,
  attrs: number,
): void {
  const m = mappingOf(dev, "dma_unmap_page");
  const [iova, rec] = liveRange(m, dev, handle, "page", "dma_unmap_page");
  const offset = handle - iova;
  if (!dev.dmaCoherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC)) {
    archSyncDmaForCpu(dev.kernel, rec.phys + offset, Math.min(size, rec.len - offset), dir);
  }
  removeRange(m, iova, rec);
}

function iommuMapResource(
  dev: Device,
  paddr: number,
  size: number,
  dir: DmaDataDirection,
  attrs: number,
): number {
  const m = mappingOf(dev, "dma_map_resource");
  const offset = paddr % PAGE_SIZE;
  const addr = paddr - offset;
  const len = pageAlign(size + offset);
  const iova = allocIova(m, len);
  if (iova === DMA_MAPPING_ERROR) return iova;
  try {
    iommuMap(m.domain, iova, addr, len, infoToProt(dir, attrs) | IOMMU_MMIO);
  } catch (e) {
    freeIova(m, iova, len);
    if (e instanceof KernelError) return DMA_MAPPING_ERROR;
    throw e;
  }
  m.maps.set(iova, { len, kind: "resource", phys: addr });
  return iova + offset;
}

function iommuUnmapResource(
  dev: Device,
  handle: number,
  _size: number,
  _dir: DmaDataDirection,
  _attrs: number,
): void {
  const m = mappingOf(dev, "dma_unmap_resource");
  const [iova, rec] = liveRange(m, dev, handle, "resource", "dma_unmap_resource");
  removeRange(m, iova, rec);
}

/** `__map_sg_chunk`: entries `[from, to)` of `sg` (`size` bytes from the first's offset) in one IOVA range. */
function mapSgChunk(
  dev: Device,
  m: Mapping,
  sg: SgEntry[],
  from: number,
  to: number,
  size: number,
  dir: DmaDataDirection,
  attrs: number,
): number {
  const len = pageAlign(size);
  const b = dev.dmaParms.segmentBoundaryMask + 1;
  const iova = allocIova(m, len, len <= b ? b : 0);
  if (iova === DMA_MAPPING_ERROR) {
    throw new KernelError(
      "ENOMEM",
      `dma_map_sg(${dev.name}): no ${hex(len)} bytes of IOVA left in ${m.label}`,
    );
  }
  let cur = iova;
  try {
    for (let k = from; k < to; k++) {
      const s = sg[k]!;
      if (!dev.dmaCoherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC)) {
        archSyncDmaForDevice(dev.kernel, s.pfn * PAGE_SIZE + s.offset, s.length, dir);
      }
      const l = pageAlign(s.offset + s.length);
      iommuMap(m.domain, cur, s.pfn * PAGE_SIZE, l, infoToProt(dir, attrs));
      cur += l;
    }
  } catch (e) {
    if (cur > iova) iommuUnmap(m.domain, iova, cur - iova);
    freeIova(m, iova, len);
    if (e instanceof KernelError)
      throw new KernelError("EINVAL", `dma_map_sg(${dev.name}): ${e.message}`, { cause: e });
    throw e;
  }
  m.maps.set(iova, { len, kind: "sg", phys: -1 });
  return iova;
}

function iommuMapSg(dev: Device, sg: SgEntry[], nents: number, dir: DmaDataDirection, attrs: number): number {
  const m = mappingOf(dev, "dma_map_sg");
  const max = dev.dmaParms.maxSegmentSize;
  const boundary = dev.dmaParms.segmentBoundaryMask + 1;
  const done: number[] = [];
  let start = 0;
  let d = 0;
  let offset = sg[0]!.offset;
  let size = sg[0]!.offset + sg[0]!.length;
  try {
    for (let i = 1; i < nents; i++) {
      const s = sg[i]!;
      s.dmaLength = 0;
      if (s.offset || size % PAGE_SIZE || size + s.length > max || pageAlign(size + s.length) > boundary) {
        const h = mapSgChunk(dev, m, sg, start, i, size, dir, attrs);
        done.push(h);
        sg[d]!.dmaAddress = h + offset;
        sg[d]!.dmaLength = size - offset;
        size = offset = s.offset;
        start = i;
        d++;
      }
      size += s.length;
    }
    const h = mapSgChunk(dev, m, sg, start, nents, size, dir, attrs);
    sg[d]!.dmaAddress = h + offset;
    sg[d]!.dmaLength = size - offset;
  } catch (e) {
    for (const h of done) removeRange(m, h, m.maps.get(h)!);
    throw e;
  }
  return d + 1;
}

function iommuUnmapSg(dev: Device, sg: SgEntry[], nents: number, dir: DmaDataDirection, attrs: number): void {
  const m = mappingOf(dev, "dma_unmap_sg");
  const ranges: [number, IovaMap][] = [];
  for (let i = 0; i < nents; i++) {
    const s = sg[i]!;
    if (s.dmaLength) ranges.push(liveRange(m, dev, s.dmaAddress, "sg", "dma_unmap_sg"));
  }
  for (const [iova, rec] of ranges) removeRange(m, iova, rec);
  if (!dev.dmaCoherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC)) {
    for (let i = 0; i < nents; i++)
      archSyncDmaForCpu(dev.kernel, sg[i]!.pfn * PAGE_SIZE + sg[i]!.offset, sg[i]!.length, dir);
  }
}

/** The physical runs behind `[handle, handle + size)` (EINVAL at a hole). */
function physRuns(
  m: Mapping,
  dev: Device,
  handle: number,
  size: number,
  what: string,
): { pa: number; len: number }[] {
  const iova = handle - (handle % PAGE_SIZE);
  const rec = m.maps.get(iova);
  if (rec && rec.phys >= 0 && handle + size <= iova + rec.len)
    return [{ pa: rec.phys + (handle - iova), len: size }];
  const out: { pa: number; len: number }[] = [];
  let a = handle;
  const end = handle + size;
  while (a < end) {
    const pa = iommuIovaToPhys(m.domain, a);
    if (!pa)
      throw new KernelError("EINVAL", `${what}(${dev.name}): dma_addr ${hex(a)} is not mapped in ${m.label}`);
    const n = Math.min(end - a, PAGE_SIZE - (a % PAGE_SIZE));
    const last = out[out.length - 1];
    if (last && last.pa + last.len === pa) last.len += n;
    else out.push({ pa, len: n });
    a += n;
  }
  return out;
}

function iommuSyncForCpu(dev: Device, handle: number, size: number, dir: DmaDataDirection): void {
  if (dev.dmaCoherent) return;
  const m = mappingOf(dev, "dma_sync_single_for_cpu");
  for (const r of physRuns(m, dev, handle, size, "dma_sync_single_for_cpu"))
    archSyncDmaForCpu(dev.kernel, r.pa, r.len, dir);
}

function iommuSyncForDevice(dev: Device, handle: number, size: number, dir: DmaDataDirection): void {
  if (dev.dmaCoherent) return;
  const m = mappingOf(dev, "dma_sync_single_for_device");
  for (const r of physRuns(m, dev, handle, size, "dma_sync_single_for_device")) {
    archSyncDmaForDevice(dev.kernel, r.pa, r.len, dir);
  }
}

/** arch/arm's `iommu_ops`: DMA mapping for devices attached with `armIommuAttachDevice`. */
export const ARM_IOMMU_OPS: DmaMapOps = Object.freeze({
  name: "arm-iommu",
  alloc: iommuAlloc,
  free: iommuFree,
  allocPages: (dev, size, dir, gfp) => {
    // dma_common_alloc_pages: contiguous pages, mapped without CPU sync, zeroed by the core
    const st = dmaState(dev.kernel);
    const sz = pageAlign(size);
    const order = getOrder(sz);
    const pfn = st.mm.buddy.allocPages(order, gfp & ~(__GFP_HIGHMEM | __GFP_DMA), {
      tag: `dma-noncoherent:${dev.name}`,
    });
    if (pfn === null) return null;
    const dmaAddr = iommuMapPage(dev, pfn, 0, sz, dir, DMA_ATTR_SKIP_CPU_SYNC);
    if (dmaAddr === DMA_MAPPING_ERROR) {
      st.mm.buddy.freePages(pfn, order);
      return null;
    }
    return { pfn, dmaAddr };
  },
  freePages: (dev, size, pfn, dmaAddr, dir) => {
    iommuUnmapPage(dev, dmaAddr, size, dir, DMA_ATTR_SKIP_CPU_SYNC);
    dmaState(dev.kernel).mm.buddy.freePages(pfn, getOrder(pageAlign(size)));
  },
  mmap: iommuMmap,
  getSgtable: iommuGetSgtable,
  mapPage: iommuMapPage,
  unmapPage: iommuUnmapPage,
  mapSg: iommuMapSg,
  unmapSg: iommuUnmapSg,
  mapResource: iommuMapResource,
  unmapResource: iommuUnmapResource,
  syncSingleForCpu: iommuSyncForCpu,
  syncSingleForDevice: iommuSyncForDevice,
  syncSgForCpu: (dev, sg, nents, dir) => {
    if (dev.dmaCoherent) return;
    for (let i = 0; i < nents; i++)
      archSyncDmaForCpu(dev.kernel, sg[i]!.pfn * PAGE_SIZE + sg[i]!.offset, sg[i]!.length, dir);
  },
  syncSgForDevice: (dev, sg, nents, dir) => {
    if (dev.dmaCoherent) return;
    for (let i = 0; i < nents; i++) {
      archSyncDmaForDevice(dev.kernel, sg[i]!.pfn * PAGE_SIZE + sg[i]!.offset, sg[i]!.length, dir);
    }
  },
} satisfies DmaMapOps);
