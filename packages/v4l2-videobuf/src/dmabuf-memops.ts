/**
 * What the dma-contig, dma-sg and vmalloc back ends share around dma-buf. Import (DMABUF
 * memory): the size check, and for the two DMA back ends the mapping, unmapping, detaching and
 * kernel mapping of the attachment. Export (EXPBUF): each importer's own copy of the pages, mapped
 * for its device on first use and kept mapped until the direction changes or it detaches
 * (`vb2_dc_dmabuf_ops_map` and its twins), and the export of an MMAP plane. The kernel repeats
 * these bodies in each allocator file; here each back end keeps only what differs.
 *
 * @module
 */
import {
  type DmaBuf,
  type DmaBufAttachment,
  dmaBufDetach,
  dmaBufExport,
  dmaBufMapAttachment,
  dmaBufUnmapAttachment,
  dmaBufVmap,
  dmaBufVunmap,
} from "@umm/dma-buf";
import type { DmaBufOps } from "@umm/dma-buf/ops";
import {
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_NONE,
  type DmaDataDirection,
  dmaMapSgtable,
  dmaUnmapSgtable,
  type SgTable,
} from "@umm/dma-mapping-arm";
import { type Kernel, KernelError } from "@umm/kernel-core";
import type { Vb2Buffer } from "./core.js";
import type { Vb2Users } from "./memops.js";

// ---- DMABUF import ----------------------------------------------------------------------------

/**
 * `attach_dmabuf`'s first check in every back end: EFAULT (`name` says which back end) when the
 * dma-buf is smaller than the plane's `size` bytes.
 */
export function vb2DmabufCheckSize(name: string, vb: Vb2Buffer, dbuf: DmaBuf, size: number): void {
  if (dbuf.size < size) {
    throw new KernelError(
      "EFAULT",
      `${name}: ${vb}: dma-buf of ${dbuf.size} bytes is smaller than the plane's ${size}`,
    );
  }
}

/** The import state of a plane of a DMA back end (dma-contig, dma-sg) holding a dma-buf. */
export interface Vb2DmabufImport {
  /** the queue's DMA direction */
  readonly dmaDir: DmaDataDirection;
  /** the attachment, null once detached */
  dbAttach: DmaBufAttachment | null;
  /** the attachment's mapping, null while unmapped */
  dmaSgt: SgTable | null;
  /** the exporter's kernel mapping (`dma_buf_vmap`), made on first use */
  vaddr: number | null;
}

/**
 * The start of `map_dmabuf` (pinning the plane for the device): null when the plane is mapped
 * already, else the attachment's scatterlist, which the caller keeps in `buf.dmaSgt`. EINVAL
 * (`name` says which back end) for a plane not attached, or with the exporter's error as cause
 * when the exporter cannot map it.
 */
export function vb2DmabufMap(name: string, buf: Vb2DmabufImport): SgTable | null {
  const att = buf.dbAttach;
  if (!att) throw new KernelError("EINVAL", `${name}: trying to pin a non attached buffer`);
  if (buf.dmaSgt) return null;
  try {
    return dmaBufMapAttachment(att, buf.dmaDir);
  } catch (e) {
    throw new KernelError("EINVAL", `${name}: ${att.dev.name}: error getting the dmabuf scatterlist`, {
      cause: e,
    });
  }
}

/**
 * `unmap_dmabuf`: drops the kernel mapping and the attachment's mapping of `buf`. False when
 * there was no mapping to drop.
 */
export function vb2DmabufUnmap(buf: Vb2DmabufImport): boolean {
  const att = buf.dbAttach;
  if (!att || !buf.dmaSgt) return false;
  if (buf.vaddr !== null) dmaBufVunmap(att.dmabuf, buf.vaddr);
  buf.vaddr = null;
  dmaBufUnmapAttachment(att, buf.dmaSgt, buf.dmaDir);
  buf.dmaSgt = null;
  return true;
}

/** `detach_dmabuf`: unmaps `buf` if mapped (with the back end's `unmap`), then detaches it. */
export function vb2DmabufDetach<B extends Vb2DmabufImport>(buf: B, unmap: (buf: B) => void): void {
  if (buf.dmaSgt) unmap(buf);
  if (buf.dbAttach) dmaBufDetach(buf.dbAttach.dmabuf, buf.dbAttach);
  buf.dbAttach = null;
}

/**
 * The kernel address of an attached plane: the exporter's `dma_buf_vmap`, made on first use;
 * null when the exporter has no kernel mapping to give.
 */
export function vb2DmabufVaddr(buf: Vb2DmabufImport, att: DmaBufAttachment): number | null {
  if (buf.vaddr === null) {
    try {
      buf.vaddr = dmaBufVmap(att.dmabuf);
    } catch {
      buf.vaddr = null;
    }
  }
  return buf.vaddr;
}

// ---- export (EXPBUF) --------------------------------------------------------------------------

/**
 * `struct vb2_dc_attachment` (and its dma-sg and vmalloc twins): an importer's own copy of the
 * pages and the direction it is mapped in (DMA_NONE while unmapped).
 */
interface Vb2ExportAttachment {
  readonly sgt: SgTable;
  dir: DmaDataDirection;
}

/**
 * The attachment half of an exported plane's `DmaBufOps`, for `expName` ("videobuf2_dma_sg"):
 * `attach` gives the importer its own scatterlist of the plane's pages (`table(buf)`);
 * `mapDmaBuf` maps it for the importer's device on first use, without CPU sync, and keeps it
 * mapped (remapping when the direction changes) until `detach`, which unmaps it; `unmapDmaBuf`
 * does nothing. `mapDmaBuf` throws EIO, the mapping error as cause, when the device cannot map it.
 */
export function vb2ExportAttachOps<B>(
  expName: string,
  table: (buf: B) => SgTable,
): Required<Pick<DmaBufOps, "attach" | "detach" | "mapDmaBuf" | "unmapDmaBuf">> {
  return {
    attach: (dbuf, att) => {
      att.priv = { sgt: table(dbuf.priv as B), dir: DMA_NONE } satisfies Vb2ExportAttachment;
    },
    detach: (_dbuf, att) => {
      const a = att.priv as Vb2ExportAttachment | null;
      if (!a) return;
      if (a.dir !== DMA_NONE) dmaUnmapSgtable(att.dev, a.sgt, a.dir, DMA_ATTR_SKIP_CPU_SYNC);
      att.priv = null;
    },
    mapDmaBuf: (att, dir) => {
      const a = att.priv as Vb2ExportAttachment;
      if (a.dir === dir) return a.sgt;
      if (a.dir !== DMA_NONE) {
        dmaUnmapSgtable(att.dev, a.sgt, a.dir, DMA_ATTR_SKIP_CPU_SYNC);
        a.dir = DMA_NONE;
      }
      try {
        dmaMapSgtable(att.dev, a.sgt, dir, DMA_ATTR_SKIP_CPU_SYNC);
      } catch (e) {
        throw new KernelError("EIO", `${expName}: failed to map the scatterlist for ${att.dev.name}`, {
          cause: e,
        });
      }
      a.dir = dir;
      return a.sgt;
    },
    unmapDmaBuf: () => {},
  };
}

/** A plane a back end can export: its kind and size as well as its users. */
export interface Vb2Exportable extends Vb2Users {
  /** only "mmap" planes can be exported */
  readonly kind: "mmap" | "userptr" | "dmabuf";
  /** bytes */
  readonly size: number;
}

/** `get_dmabuf`'s check: EINVAL (`name` says which back end) unless `buf` is an MMAP plane. */
export function vb2CheckExportable(name: string, vb: Vb2Buffer, buf: Vb2Exportable): void {
  if (buf.kind !== "mmap")
    throw new KernelError("EINVAL", `${name}: ${vb}: only MMAP buffers can be exported`);
}

/**
 * `get_dmabuf`: exports `buf` as a dma-buf of exporter `expName` with `ops` and file flags
 * `flags`; the dma-buf holds a user of `buf` until its `release`.
 */
export function vb2ExportDmabuf(
  kernel: Kernel,
  buf: Vb2Exportable,
  expName: string,
  ops: DmaBufOps,
  flags: number,
): DmaBuf {
  const dbuf = dmaBufExport(kernel, { expName, ops, size: buf.size, flags, priv: buf });
  buf.refcount++;
  return dbuf;
}
