/**
 * vb2-dma-sg (drivers/media/common/videobuf2/videobuf2-dma-sg.c): buffers as scatterlists of
 * pages for devices with scatter-gather DMA (or an IOMMU). MMAP pages come from the buddy
 * allocator in the largest orders that fit (`vb2_dma_sg_alloc_compacted`), zeroed, mapped once
 * with `dmaMapSgtable` (no CPU sync) and synced at every prepare/finish; user mappings and the
 * kernel mapping are cacheable. USERPTR takes any page-scattered user range.
 *
 * @module
 */

import { type DmaBuf, type DmaBufAttachment, dmaBufAttach } from "@umm/dma-buf";
import type { DmaBufOps } from "@umm/dma-buf/ops";
import {
  DMA_ATTR_SKIP_CPU_SYNC,
  type DmaDataDirection,
  dmaMapSgtable,
  dmaSyncSgtableForCpu,
  dmaSyncSgtableForDevice,
  dmaUnmapSgtable,
  type SgTable,
  sgAllocTableFromPages,
} from "@umm/dma-mapping-arm";
import { type Device, getOrder, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import type { MmapContext } from "@umm/kernel-process";
import { __GFP_NOWARN, __GFP_ZERO, GFP_KERNEL, mmOf, type UserPages } from "@umm/mm-core";
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
import { vb2CreateFramevec, vb2DestroyFramevec, vb2MmapHold, vb2MmapPages, vb2Tag } from "./memops.js";
import type { Vb2MemOps, Vb2MemPriv } from "./ops.js";

/** The buddy allocator's largest order (4 MiB blocks). */
const MAX_PAGE_ORDER = 10;

/** `struct vb2_dma_sg_buf`: one plane of dma-sg memory. */
export class Vb2DmaSgBuf {
  /** the device the pages are mapped for */
  readonly dev: Device;
  /** the buffer (cache hints, queue) */
  readonly vb: Vb2Buffer;
  /** "mmap", "userptr" or "dmabuf" */
  readonly kind: "mmap" | "userptr" | "dmabuf";
  /** bytes */
  readonly size: number;
  /** offset of the data in the first page (USERPTR) */
  readonly offset: number;
  /** the queue's DMA direction */
  readonly dmaDir: DmaDataDirection;
  /** the pages (MMAP and USERPTR) */
  pages: Int32Array;
  /** the mapped scatterlist (`dma_sgt`) */
  dmaSgt: SgTable | null = null;
  /** kernel mapping (`vm_map_ram`), made on first use */
  vaddr: number | null = null;
  /** MMAP: users (allocation, mappings, exports) */
  refcount = 1;
  /** USERPTR: the pinned pages */
  vec: UserPages | null = null;
  /** DMABUF: the attachment */
  dbAttach: DmaBufAttachment | null = null;

  /** @internal */
  constructor(
    dev: Device,
    vb: Vb2Buffer,
    kind: Vb2DmaSgBuf["kind"],
    size: number,
    offset: number,
    pages: Int32Array,
  ) {
    this.dev = dev;
    this.vb = vb;
    this.kind = kind;
    this.size = size;
    this.offset = offset;
    this.pages = pages;
    this.dmaDir = vb.queue.dmaDir as DmaDataDirection;
  }
}

function asBuf(priv: Vb2MemPriv): Vb2DmaSgBuf {
  if (!(priv instanceof Vb2DmaSgBuf)) throw new KernelError("EINVAL", "dma-sg: not a dma-sg buffer");
  return priv;
}

/**
 * `vb2_dma_sg_alloc_compacted`: pages for `size` bytes in the largest orders that do not
 * over-allocate, falling back to smaller orders; each block split into single pages. ENOMEM
 * (nothing kept) when even single pages run out.
 */
function allocCompacted(dev: Device, size: number, gfpFlags: number, tag: string): Int32Array {
  const buddy = mmOf(dev.kernel).buddy;
  const pages = new Int32Array(size / PAGE_SIZE);
  let last = 0;
  let left = size;
  while (left > 0) {
    let order = Math.min(getOrder(left), MAX_PAGE_ORDER);
    if (PAGE_SIZE * 2 ** order > left) order--;
    let pfn: number | null = null;
    for (;;) {
      pfn = buddy.allocPages(order, GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN | gfpFlags, { tag });
      if (pfn !== null) break;
      if (order === 0) {
        while (last--) buddy.putPage(pages[last]!);
        throw new KernelError("ENOMEM", `dma-sg: ${dev.name}: out of pages for ${size} bytes`);
      }
      order--;
    }
    buddy.splitPage(pfn, order);
    for (let i = 0; i < 1 << order; i++) pages[last++] = pfn + i;
    left -= PAGE_SIZE << order;
  }
  return pages;
}

function put(buf: Vb2DmaSgBuf): void {
  if (buf.refcount <= 0) throw new KernelError("EINVAL", "dma-sg: put of a freed buffer");
  if (--buf.refcount > 0) return;
  const mm = mmOf(buf.dev.kernel);
  if (buf.dmaSgt) dmaUnmapSgtable(buf.dev, buf.dmaSgt, buf.dmaDir, DMA_ATTR_SKIP_CPU_SYNC, vb2Tag(buf.vb));
  buf.dmaSgt = null;
  if (buf.vaddr !== null) mm.kspace.vunmap(buf.vaddr);
  buf.vaddr = null;
  for (const pfn of buf.pages) mm.buddy.putPage(pfn);
  buf.pages = new Int32Array(0);
}

function alloc(vb: Vb2Buffer, dev: Device | null, size: number): Vb2MemPriv {
  if (!dev || !size) throw new KernelError("EINVAL", `dma-sg: ${vb}: no device or size 0`);
  const q = vb.queue;
  const pages = allocCompacted(dev, size, q.gfpFlags, vb2Tag(vb));
  const buf = new Vb2DmaSgBuf(dev, vb, "mmap", size, 0, pages);
  const sgt = sgAllocTableFromPages(pages, 0, size);
  try {
    dmaMapSgtable(dev, sgt, buf.dmaDir, DMA_ATTR_SKIP_CPU_SYNC, vb2Tag(vb));
  } catch (e) {
    const buddy = mmOf(dev.kernel).buddy;
    for (const pfn of pages) buddy.putPage(pfn);
    throw new KernelError("ENOMEM", `dma-sg: ${dev.name}: cannot map ${size} bytes`, { cause: e });
  }
  buf.dmaSgt = sgt;
  return buf;
}

function mmap(priv: Vb2MemPriv, ctx: MmapContext): void {
  const buf = asBuf(priv);
  if (buf.kind !== "mmap") throw new KernelError("EINVAL", "dma-sg: no buffer to map");
  vb2MmapPages("dma-sg", ctx, buf.pages);
  vb2MmapHold(ctx, buf, () => put(buf));
}

function vaddr(_vb: Vb2Buffer, priv: Vb2MemPriv): number | null {
  const buf = asBuf(priv);
  if (buf.dbAttach) return vb2DmabufVaddr(buf, buf.dbAttach);
  if (buf.vaddr === null && buf.pages.length > 0) {
    buf.vaddr = mmOf(buf.dev.kernel).kspace.vmap(buf.pages, "cacheable", `vb2 ${vb2Tag(buf.vb)}`);
  }
  return buf.vaddr === null ? null : buf.vaddr + buf.offset;
}

function prepare(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  if (buf.vb.skipCacheSyncOnPrepare || !buf.dmaSgt) return;
  dmaSyncSgtableForDevice(buf.dev, buf.dmaSgt, buf.dmaDir, vb2Tag(buf.vb));
}

function finish(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  if (buf.vb.skipCacheSyncOnFinish || !buf.dmaSgt) return;
  dmaSyncSgtableForCpu(buf.dev, buf.dmaSgt, buf.dmaDir, vb2Tag(buf.vb));
}

function getUserptr(vb: Vb2Buffer, dev: Device | null, uaddr: number, size: number): Vb2MemPriv {
  if (!dev) throw new KernelError("EINVAL", `dma-sg: ${vb}: no device`);
  if (!size) throw new KernelError("EINVAL", "dma-sg: user pointer size is zero");
  const dir = vb.queue.dmaDir;
  const vec = vb2CreateFramevec(dev.kernel, uaddr, size, dir === 2 || dir === 0);
  const buf = new Vb2DmaSgBuf(dev, vb, "userptr", size, uaddr % PAGE_SIZE, vec.pfns);
  const sgt = sgAllocTableFromPages(vec.pfns, buf.offset, size);
  try {
    dmaMapSgtable(dev, sgt, buf.dmaDir, DMA_ATTR_SKIP_CPU_SYNC, vb2Tag(vb));
  } catch (e) {
    vb2DestroyFramevec(vec);
    throw new KernelError("ENOMEM", `dma-sg: ${dev.name}: cannot map the user pages`, { cause: e });
  }
  buf.dmaSgt = sgt;
  buf.vec = vec;
  return buf;
}

function putUserptr(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  if (buf.vaddr !== null) mmOf(buf.dev.kernel).kspace.vunmap(buf.vaddr);
  buf.vaddr = null;
  if (buf.dmaSgt) dmaUnmapSgtable(buf.dev, buf.dmaSgt, buf.dmaDir, DMA_ATTR_SKIP_CPU_SYNC, vb2Tag(buf.vb));
  buf.dmaSgt = null;
  if (buf.vec) vb2DestroyFramevec(buf.vec);
  buf.vec = null;
}

// ---- DMABUF import ----------------------------------------------------------------------------

function attachDmabuf(vb: Vb2Buffer, dev: Device | null, dbuf: DmaBuf, size: number): Vb2MemPriv {
  if (!dev) throw new KernelError("EINVAL", `dma-sg: ${vb}: no device`);
  vb2DmabufCheckSize("dma-sg", vb, dbuf, size);
  const att = dmaBufAttach(dbuf, dev);
  const buf = new Vb2DmaSgBuf(dev, vb, "dmabuf", size, 0, new Int32Array(0));
  buf.dbAttach = att;
  return buf;
}

function mapDmabuf(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  const sgt = vb2DmabufMap("dma-sg", buf);
  if (!sgt) return;
  buf.dmaSgt = sgt;
  buf.vaddr = null;
}

function unmapDmabuf(priv: Vb2MemPriv): void {
  vb2DmabufUnmap(asBuf(priv));
}

function detachDmabuf(priv: Vb2MemPriv): void {
  vb2DmabufDetach(asBuf(priv), unmapDmabuf);
}

// ---- export (EXPBUF) --------------------------------------------------------------------------

/** `vb2_dma_sg_dmabuf_ops`: an exported dma-sg buffer; importers get a table of its pages. */
const SG_DMABUF_OPS: DmaBufOps = {
  ...vb2ExportAttachOps("videobuf2_dma_sg", (buf: Vb2DmaSgBuf) =>
    sgAllocTableFromPages(buf.pages, 0, buf.size),
  ),
  release: (dbuf) => put(dbuf.priv as Vb2DmaSgBuf),
  beginCpuAccess: (dbuf) => {
    const buf = dbuf.priv as Vb2DmaSgBuf;
    if (buf.dmaSgt) dmaSyncSgtableForCpu(buf.dev, buf.dmaSgt, buf.dmaDir, vb2Tag(buf.vb));
  },
  endCpuAccess: (dbuf) => {
    const buf = dbuf.priv as Vb2DmaSgBuf;
    if (buf.dmaSgt) dmaSyncSgtableForDevice(buf.dev, buf.dmaSgt, buf.dmaDir, vb2Tag(buf.vb));
  },
  vmap: (dbuf) => {
    const buf = dbuf.priv as Vb2DmaSgBuf;
    const v = vaddr(buf.vb, buf);
    if (v === null) throw new KernelError("EINVAL", "videobuf2_dma_sg: the buffer has no kernel mapping");
    return v;
  },
  mmap: (dbuf, vma) => mmap(dbuf.priv as Vb2DmaSgBuf, vma),
};
Object.freeze(SG_DMABUF_OPS);

function getDmabuf(vb: Vb2Buffer, priv: Vb2MemPriv, flags: number): DmaBuf {
  const buf = asBuf(priv);
  vb2CheckExportable("dma-sg", vb, buf);
  return vb2ExportDmabuf(buf.dev.kernel, buf, "videobuf2_dma_sg", SG_DMABUF_OPS, flags);
}

/** `vb2_dma_sg_memops`: the dma-sg back end. */
export const vb2DmaSgMemops: Vb2MemOps = Object.freeze({
  name: "dma-sg",
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
  cookie: (_vb: Vb2Buffer, priv: Vb2MemPriv) => asBuf(priv).dmaSgt,
  numUsers: (priv: Vb2MemPriv) => asBuf(priv).refcount,
});

/**
 * `vb2_dma_sg_plane_desc`: the mapped scatterlist of `plane` — the DMA segments the driver
 * programs. EINVAL when the plane has no mapped dma-sg memory.
 */
export function vb2DmaSgPlaneDesc(vb: Vb2Buffer, plane: number): SgTable {
  const p = vb.planes[plane];
  const buf = p?.memPriv;
  if (plane >= vb.numPlanes || !(buf instanceof Vb2DmaSgBuf) || !buf.dmaSgt) {
    throw new KernelError("EINVAL", `${vb}: plane ${plane} has no mapped dma-sg memory`);
  }
  return buf.dmaSgt;
}
