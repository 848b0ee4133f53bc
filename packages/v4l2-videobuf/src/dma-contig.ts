/**
 * vb2-dma-contig (drivers/media/common/videobuf2/videobuf2-dma-contig.c): buffers that are one
 * contiguous range in the device's address space (D.V). MMAP buffers come from the DMA mapping
 * API — coherent (`dmaAllocAttrs`: uncached, no cache maintenance) or, with
 * V4L2_MEMORY_FLAG_NON_COHERENT on a queue allowing cache hints, cacheable
 * (`dmaAllocNoncoherent`, synced at prepare/finish). USERPTR and DMABUF memory is accepted only
 * when it maps to one contiguous D.V range: through an IOMMU scattered pages do, on a direct
 * device only physically contiguous ones — otherwise EFAULT ("contiguous mapping is too small").
 *
 * @module
 */

import { type DmaBuf, type DmaBufAttachment, dmaBufAttach, dmaBufUnmapAttachment } from "@umm/dma-buf";
import type { DmaBufOps } from "@umm/dma-buf/ops";
import {
  DMA_ATTR_NO_KERNEL_MAPPING,
  DMA_ATTR_SKIP_CPU_SYNC,
  type DmaCpuAddr,
  type DmaDataDirection,
  dmaAllocAttrs,
  dmaAllocNoncoherent,
  dmaFreeAttrs,
  dmaFreeNoncoherent,
  dmaGetMaxSegSize,
  dmaGetSgtable,
  dmaMapSgtable,
  dmaMmapAttrs,
  dmaSetMaxSegSize,
  dmaSyncSgtableForCpu,
  dmaSyncSgtableForDevice,
  dmaSyncSingleForCpu,
  dmaSyncSingleForDevice,
  dmaUnmapSgtable,
  SgTable,
  sgAllocTableFromPages,
} from "@umm/dma-mapping-arm";
import { type Device, hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import type { MmapContext } from "@umm/kernel-process";
import { GFP_KERNEL, mmOf, type UserPages } from "@umm/mm-core";
import type { Vb2Buffer } from "./core.js";
import {
  vb2CheckExportable,
  vb2DmabufCheckSize,
  vb2DmabufDetach,
  vb2DmabufMap,
  vb2DmabufUnmap,
  vb2DmabufVaddr,
  vb2ExportAttachOps,
  vb2ExportDmabuf,
} from "./dmabuf-memops.js";
import {
  dmaGetCacheAlignment,
  vb2CreateFramevec,
  vb2DestroyFramevec,
  vb2MmapHold,
  vb2Tag,
} from "./memops.js";
import type { Vb2MemOps, Vb2MemPriv } from "./ops.js";

/** `struct vb2_dc_buf`: one plane of dma-contig memory. */
export class Vb2DcBuf {
  /** the device the memory is mapped for */
  readonly dev: Device;
  /** the buffer (for its cache hints and queue) */
  readonly vb: Vb2Buffer;
  /** "mmap" (allocated), "userptr" (pinned user pages) or "dmabuf" (imported) */
  readonly kind: "mmap" | "userptr" | "dmabuf";
  /** bytes */
  size: number;
  /** the DMA direction of the queue */
  readonly dmaDir: DmaDataDirection;
  /** the D.V address of the first byte (0 for an unmapped import) */
  dmaAddr = 0;
  /** kernel virtual address, or null (NO_KERNEL_MAPPING, user memory) */
  vaddr: number | null = null;
  /** MMAP: the CPU handle of the allocation (kernel address or DmaCookie) */
  cookie: DmaCpuAddr | null = null;
  /** MMAP: DMA_ATTR_* of the allocation */
  attrs = 0;
  /** cacheable memory that prepare/finish sync (non-coherent MMAP, USERPTR) */
  nonCoherentMem = false;
  /** USERPTR / DMABUF: the mapped scatterlist */
  dmaSgt: SgTable | null = null;
  /** USERPTR: the pinned pages */
  vec: UserPages | null = null;
  /** MMAP: users — the allocation, each user mapping, each exported dma-buf */
  refcount = 1;
  /** MMAP: the scatterlist of the pages, made for the first export */
  sgtBase: SgTable | null = null;
  /** DMABUF: the attachment */
  dbAttach: DmaBufAttachment | null = null;

  /** @internal */
  constructor(dev: Device, vb: Vb2Buffer, kind: Vb2DcBuf["kind"], size: number) {
    this.dev = dev;
    this.vb = vb;
    this.kind = kind;
    this.size = size;
    this.dmaDir = vb.queue.dmaDir as DmaDataDirection;
  }
}

function asBuf(priv: Vb2MemPriv): Vb2DcBuf {
  if (!(priv instanceof Vb2DcBuf)) throw new KernelError("EINVAL", "dma-contig: not a dma-contig buffer");
  return priv;
}

/** `vb2_dc_get_contiguous_size`: bytes of the mapped segments that follow each other in D.V. */
export function vb2DcGetContiguousSize(sgt: SgTable): number {
  let expected = sgt.sgl[0]!.dmaAddress;
  let size = 0;
  for (let i = 0; i < sgt.nents; i++) {
    const s = sgt.sgl[i]!;
    if (s.dmaAddress !== expected) break;
    expected += s.dmaLength;
    size += s.dmaLength;
  }
  return size;
}

/** The pages of a contiguous lowmem buffer at kernel address `kaddr`. */
function contiguousPfns(buf: Vb2DcBuf, kaddr: number): number[] {
  const mm = mmOf(buf.dev.kernel);
  const pfn0 = mm.kspace.virtToPhys(kaddr) / PAGE_SIZE;
  return Array.from({ length: Math.ceil(buf.size / PAGE_SIZE) }, (_, i) => pfn0 + i);
}

function put(buf: Vb2DcBuf): void {
  if (buf.refcount <= 0) throw new KernelError("EINVAL", "dma-contig: put of a freed buffer");
  if (--buf.refcount > 0) return;
  if (buf.nonCoherentMem) {
    dmaFreeNoncoherent(buf.dev, buf.size, buf.cookie as number, buf.dmaAddr, buf.dmaDir, vb2Tag(buf.vb));
  } else {
    buf.sgtBase = null;
    dmaFreeAttrs(buf.dev, buf.size, buf.cookie, buf.dmaAddr, buf.attrs, vb2Tag(buf.vb));
  }
  buf.cookie = null;
  buf.vaddr = null;
}

function alloc(vb: Vb2Buffer, dev: Device | null, size: number): Vb2MemPriv {
  if (!dev) throw new KernelError("EINVAL", `dma-contig: ${vb}: no device to allocate for`);
  const q = vb.queue;
  const buf = new Vb2DcBuf(dev, vb, "mmap", size);
  buf.attrs = q.dmaAttrs;
  buf.nonCoherentMem = q.nonCoherentMem;
  const gfp = GFP_KERNEL | q.gfpFlags;
  if (buf.nonCoherentMem) {
    const r = dmaAllocNoncoherent(dev, size, buf.dmaDir, gfp, vb2Tag(vb));
    if (!r) throw new KernelError("ENOMEM", `dma-contig: ${dev.name}: dma alloc of size ${size} failed`);
    buf.cookie = r.cpuAddr;
    buf.dmaAddr = r.dmaAddr;
  } else {
    const r = dmaAllocAttrs(dev, size, gfp, buf.attrs, vb2Tag(vb));
    if (!r) throw new KernelError("ENOMEM", `dma-contig: ${dev.name}: dma alloc of size ${size} failed`);
    buf.cookie = r.cpuAddr;
    buf.dmaAddr = r.dmaAddr;
    if (!(q.dmaAttrs & DMA_ATTR_NO_KERNEL_MAPPING)) buf.vaddr = r.cpuAddr as number;
  }
  return buf;
}

function mmap(priv: Vb2MemPriv, ctx: MmapContext): void {
  const buf = asBuf(priv);
  if (buf.kind !== "mmap" || buf.cookie === null)
    throw new KernelError("EINVAL", "dma-contig: no buffer to map");
  dmaMmapAttrs(buf.dev, ctx, buf.cookie, buf.dmaAddr, buf.size, buf.attrs);
  vb2MmapHold(ctx, buf, () => put(buf));
}

function vaddr(_vb: Vb2Buffer, priv: Vb2MemPriv): number | null {
  const buf = asBuf(priv);
  if (buf.vaddr !== null) return buf.vaddr;
  if (buf.dbAttach) return vb2DmabufVaddr(buf, buf.dbAttach);
  if (buf.nonCoherentMem && buf.kind === "mmap") buf.vaddr = buf.cookie as number;
  return buf.vaddr;
}

function sync(buf: Vb2DcBuf, toCpu: boolean): void {
  const tag = vb2Tag(buf.vb);
  if (buf.dmaSgt) {
    if (toCpu) dmaSyncSgtableForCpu(buf.dev, buf.dmaSgt, buf.dmaDir, tag);
    else dmaSyncSgtableForDevice(buf.dev, buf.dmaSgt, buf.dmaDir, tag);
  } else if (toCpu) {
    dmaSyncSingleForCpu(buf.dev, buf.dmaAddr, buf.size, buf.dmaDir, tag);
  } else {
    dmaSyncSingleForDevice(buf.dev, buf.dmaAddr, buf.size, buf.dmaDir, tag);
  }
}

function prepare(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  if (buf.vb.skipCacheSyncOnPrepare) return;
  if (!buf.nonCoherentMem) return;
  sync(buf, false);
}

function finish(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  if (buf.vb.skipCacheSyncOnFinish) return;
  if (!buf.nonCoherentMem) return;
  sync(buf, true);
}

function getUserptr(vb: Vb2Buffer, dev: Device | null, uaddr: number, size: number): Vb2MemPriv {
  const align = dev ? dmaGetCacheAlignment(dev.kernel) : 64;
  if (uaddr % align !== 0 || size % align !== 0) {
    throw new KernelError(
      "EINVAL",
      `dma-contig: user data at ${hex(uaddr)} size ${hex(size)} must be aligned to ${align} bytes`,
    );
  }
  if (!size) throw new KernelError("EINVAL", "dma-contig: user pointer size is zero");
  if (!dev) throw new KernelError("EINVAL", `dma-contig: ${vb}: no device`);
  const buf = new Vb2DcBuf(dev, vb, "userptr", size);
  const write = buf.dmaDir === 2 || buf.dmaDir === 0;
  const vec = vb2CreateFramevec(dev.kernel, uaddr, size, write);
  let sgt: SgTable;
  try {
    sgt = sgAllocTableFromPages(vec.pfns, uaddr % PAGE_SIZE, size);
  } catch (e) {
    vb2DestroyFramevec(vec);
    throw e;
  }
  try {
    dmaMapSgtable(dev, sgt, buf.dmaDir, DMA_ATTR_SKIP_CPU_SYNC, vb2Tag(vb));
  } catch (e) {
    vb2DestroyFramevec(vec);
    throw new KernelError("EIO", `dma-contig: ${dev.name}: failed to map the user pages`, { cause: e });
  }
  const contig = vb2DcGetContiguousSize(sgt);
  if (contig < size) {
    dmaUnmapSgtable(dev, sgt, buf.dmaDir, DMA_ATTR_SKIP_CPU_SYNC, vb2Tag(vb));
    vb2DestroyFramevec(vec);
    throw new KernelError(
      "EFAULT",
      `dma-contig: ${dev.name}: contiguous mapping is too small ${contig}/${size} (user memory at ${hex(uaddr)} is not contiguous in the device's address space)`,
    );
  }
  buf.dmaAddr = sgt.sgl[0]!.dmaAddress;
  buf.dmaSgt = sgt;
  buf.vec = vec;
  buf.nonCoherentMem = true;
  return buf;
}

function putUserptr(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  if (buf.dmaSgt) dmaUnmapSgtable(buf.dev, buf.dmaSgt, buf.dmaDir, DMA_ATTR_SKIP_CPU_SYNC, vb2Tag(buf.vb));
  buf.dmaSgt = null;
  if (buf.vec) vb2DestroyFramevec(buf.vec);
  buf.vec = null;
}

/**
 * `vb2_dc_get_base_sgt`: the scatterlist of an MMAP buffer's pages (for export); ENXIO from the
 * DMA layer when it has none.
 */
export function vb2DcGetBaseSgt(buf: Vb2DcBuf): SgTable {
  if (buf.sgtBase) return buf.sgtBase;
  if (buf.nonCoherentMem) {
    buf.sgtBase = sgAllocTableFromPages(contiguousPfns(buf, buf.cookie as number), 0, buf.size);
  } else {
    buf.sgtBase = dmaGetSgtable(buf.dev, buf.cookie!, buf.dmaAddr, buf.size, buf.attrs);
  }
  return buf.sgtBase;
}

// ---- DMABUF import ----------------------------------------------------------------------------

function attachDmabuf(vb: Vb2Buffer, dev: Device | null, dbuf: DmaBuf, size: number): Vb2MemPriv {
  vb2DmabufCheckSize("dma-contig", vb, dbuf, size);
  if (!dev) throw new KernelError("EINVAL", `dma-contig: ${vb}: no device`);
  const att = dmaBufAttach(dbuf, dev);
  const buf = new Vb2DcBuf(dev, vb, "dmabuf", size);
  buf.dbAttach = att;
  return buf;
}

function mapDmabuf(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  const sgt = vb2DmabufMap("dma-contig", buf);
  if (!sgt) return;
  const att = buf.dbAttach!;
  const contig = vb2DcGetContiguousSize(sgt);
  if (contig < buf.size) {
    dmaBufUnmapAttachment(att, sgt, buf.dmaDir);
    throw new KernelError(
      "EFAULT",
      `dma-contig: ${att.dev.name}: contiguous chunk is too small ${contig}/${buf.size} (the dma-buf is not contiguous in the device's address space)`,
    );
  }
  buf.dmaAddr = sgt.sgl[0]!.dmaAddress;
  buf.dmaSgt = sgt;
  buf.vaddr = null;
}

function unmapDmabuf(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  if (vb2DmabufUnmap(buf)) buf.dmaAddr = 0;
}

function detachDmabuf(priv: Vb2MemPriv): void {
  vb2DmabufDetach(asBuf(priv), unmapDmabuf);
}

// ---- export (EXPBUF) --------------------------------------------------------------------------

function copyTable(base: SgTable): SgTable {
  return new SgTable(
    base.sgl.slice(0, base.origNents).map((e) => ({ pfn: e.pfn, offset: e.offset, length: e.length })),
  );
}

/** `vb2_dc_dmabuf_ops`: an exported dma-contig buffer; importers get a copy of its base table. */
const DC_DMABUF_OPS: DmaBufOps = {
  ...vb2ExportAttachOps("videobuf2_dma_contig", (buf: Vb2DcBuf) => copyTable(buf.sgtBase!)),
  release: (dbuf) => put(dbuf.priv as Vb2DcBuf),
  beginCpuAccess: () => {},
  endCpuAccess: () => {},
  vmap: (dbuf) => {
    const buf = dbuf.priv as Vb2DcBuf;
    const v = vaddr(buf.vb, buf);
    if (v === null) throw new KernelError("EINVAL", "videobuf2_dma_contig: the buffer has no kernel mapping");
    return v;
  },
  mmap: (dbuf, vma) => mmap(dbuf.priv as Vb2DcBuf, vma),
};
Object.freeze(DC_DMABUF_OPS);

function getDmabuf(vb: Vb2Buffer, priv: Vb2MemPriv, flags: number): DmaBuf {
  const buf = asBuf(priv);
  vb2CheckExportable("dma-contig", vb, buf);
  vb2DcGetBaseSgt(buf);
  return vb2ExportDmabuf(buf.dev.kernel, buf, "videobuf2_dma_contig", DC_DMABUF_OPS, flags);
}

/** `vb2_dma_contig_memops`: the dma-contig back end. */
export const vb2DmaContigMemops: Vb2MemOps = Object.freeze({
  name: "dma-contig",
  alloc,
  put: (priv: Vb2MemPriv) => put(asBuf(priv)),
  mmap,
  getUserptr,
  putUserptr,
  prepare,
  finish,
  attachDmabuf,
  detachDmabuf,
  mapDmabuf,
  unmapDmabuf,
  getDmabuf,
  vaddr,
  cookie: (_vb: Vb2Buffer, priv: Vb2MemPriv) => ({ dmaAddr: asBuf(priv).dmaAddr }),
  numUsers: (priv: Vb2MemPriv) => asBuf(priv).refcount,
});

/**
 * `vb2_dma_contig_plane_dma_addr`: the D.V address of `plane` — what the driver programs into
 * its DMA engine. EINVAL when the plane has no dma-contig memory.
 */
export function vb2DmaContigPlaneDmaAddr(vb: Vb2Buffer, plane: number): number {
  const p = vb.planes[plane];
  if (plane >= vb.numPlanes || !p?.memPriv || !(p.memPriv instanceof Vb2DcBuf)) {
    throw new KernelError("EINVAL", `${vb}: plane ${plane} has no dma-contig memory`);
  }
  return p.memPriv.dmaAddr;
}

/**
 * `vb2_dma_contig_set_max_seg_size`: raises the device's maximum DMA segment so that a
 * scatterlist maps as one D.V range behind an IOMMU (call before using USERPTR or DMABUF).
 */
export function vb2DmaContigSetMaxSegSize(dev: Device, size: number): void {
  if (dmaGetMaxSegSize(dev) < size) dmaSetMaxSegSize(dev, size);
}
