/**
 * PRIME (drivers/gpu/drm/drm_prime.c, `drm_gem_dma_prime_import_sg_table`): GEM objects shared as
 * dma-bufs — how a buffer passes from V4L2 (or a heap, or another DRM device) to the display
 * and back.
 *
 * - Export (PRIME_HANDLE_TO_FD): the object becomes a dma-buf whose ops map it for any attached
 *   device (`dma_get_sgtable` + `dma_map_sgtable`) and mmap it write-combining. The object keeps
 *   that dma-buf while it has handles, so exporting twice gives the same dma-buf (a new fd).
 * - Import (PRIME_FD_TO_HANDLE): a dma-buf of another exporter is attached to the display device
 *   and mapped BIDIRECTIONAL; it must be one contiguous range of the display's D.V (through its
 *   IOMMU, or physically for a direct display) or the import fails with EINVAL. A dma-buf this
 *   device exported gives back its own GEM object. Each file maps every dma-buf to one handle:
 *   importing it twice gives the same handle.
 *
 * Lifetimes are references, so either side may close first: the imported object holds its
 * attachment and a dma-buf reference until it is freed; an exported dma-buf holds its object
 * until the dma-buf is released. Each entry of a file's PRIME table holds a dma-buf reference
 * for as long as the handle exists.
 *
 * @module
 */
import {
  type DmaBuf,
  type DmaBufAttachment,
  type DmaBufOps,
  dmaBufAttach,
  dmaBufDetach,
  dmaBufExport,
  dmaBufFd,
  dmaBufGet,
  dmaBufMapAttachment,
  dmaBufPut,
  dmaBufUnmapAttachment,
  getDmaBuf,
} from "@umm/dma-buf";
import {
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_ATTR_WRITE_COMBINE,
  DMA_BIDIRECTIONAL,
  type DmaDataDirection,
  dmaGetSgtable,
  dmaMapSgtable,
  dmaMmapAttrs,
  dmaUnmapSgtable,
  type SgTable,
} from "@umm/dma-mapping-arm";
import { hex, KernelBug, KernelError } from "@umm/kernel-core";
import { currentProcess, type MmapContext } from "@umm/kernel-process";
import { s32, struct, u32 } from "./args.js";
import type { DrmDevice, DrmFile } from "./device.js";
import { DrmGemObject, drmGemHandleCreate, drmGemObjectLookup } from "./gem.js";
import { DRM_CLOEXEC, DRM_RDWR, type DrmPrimeHandle } from "./types.js";

/** @internal the dma-buf type as GEM stores it */
export type DrmPrimeBuf = DmaBuf;

/** @internal `import_attach` and the mapping made at import */
export interface DrmImportAttach {
  readonly attach: DmaBufAttachment;
  readonly sgt: SgTable;
}

/** @internal `struct drm_prime_file_private`: dma-buf ↔ handle of one file */
export interface PrimeFileState {
  readonly byBuf: Map<DmaBuf, number>;
  readonly byHandle: Map<number, DmaBuf>;
}

/** `drm_prime_add_buf_handle`: the entry holds a dma-buf reference. */
function addBufHandle(file: DrmFile, buf: DmaBuf, handle: number): void {
  if (file._prime.byBuf.has(buf)) return;
  getDmaBuf(buf);
  file._prime.byBuf.set(buf, handle);
  file._prime.byHandle.set(handle, buf);
}

/** @internal `drm_prime_remove_buf_handle`: the handle goes; its entry's reference too. */
export function drmPrimeRemoveHandle(file: DrmFile, handle: number): void {
  const buf = file._prime.byHandle.get(handle);
  if (buf === undefined) return;
  file._prime.byHandle.delete(handle);
  file._prime.byBuf.delete(buf);
  dmaBufPut(buf);
}

/** @internal `drm_gem_object_exported_dma_buf_free`: the last handle went. */
export function drmGemExportedDmaBufFree(obj: DrmGemObject): void {
  const buf = obj._dmaBuf;
  if (!buf) return;
  obj._dmaBuf = null;
  dmaBufPut(buf);
}

/** @internal `drm_prime_gem_destroy`: an imported object is freed. */
export function drmPrimeGemDestroy(obj: DrmGemObject, imp: DrmImportAttach): void {
  const buf = imp.attach.dmabuf;
  dmaBufUnmapAttachment(imp.attach, imp.sgt, DMA_BIDIRECTIONAL);
  dmaBufDetach(buf, imp.attach);
  dmaBufPut(buf);
  void obj;
}

/** @internal `drm_prime_destroy_file_private`: the handles released their entries already. */
export function drmPrimeReleaseFile(file: DrmFile): void {
  if (file._prime.byBuf.size > 0) {
    file.dev._warn(`prime: ${file._prime.byBuf.size} dma-buf entries left at close`);
    for (const handle of [...file._prime.byHandle.keys()]) drmPrimeRemoveHandle(file, handle);
  }
}

// ---- the exporter side (drm_gem_prime_dmabuf_ops) ---------------------------------------------

function objOf(buf: DmaBuf): DrmGemObject {
  return buf.priv as DrmGemObject;
}

/** `drm_gem_prime_dmabuf_ops` for objects of the DMA helper. */
const DRM_GEM_PRIME_DMABUF_OPS: DmaBufOps = Object.freeze({
  // drm_gem_map_dma_buf: the object's pages (dma_get_sgtable) mapped for the importer
  mapDmaBuf: (att: DmaBufAttachment, dir: DmaDataDirection): SgTable => {
    const obj = objOf(att.dmabuf);
    const sgt = dmaGetSgtable(obj.dev.dev, obj.vaddr!, obj.dmaAddr, obj.size);
    dmaMapSgtable(att.dev, sgt, dir, DMA_ATTR_SKIP_CPU_SYNC);
    return sgt;
  },
  unmapDmaBuf: (att: DmaBufAttachment, sgt: SgTable, dir: DmaDataDirection): void => {
    dmaUnmapSgtable(att.dev, sgt, dir, DMA_ATTR_SKIP_CPU_SYNC);
  },
  // drm_gem_dmabuf_release
  release: (buf: DmaBuf): void => {
    objOf(buf).put();
  },
  // drm_gem_dmabuf_mmap → drm_gem_dma_mmap: write-combining, holding the object
  mmap: (buf: DmaBuf, vma: MmapContext): void => {
    const obj = objOf(buf);
    dmaMmapAttrs(obj.dev.dev, vma, obj.vaddr!, obj.dmaAddr, obj.size, DMA_ATTR_WRITE_COMBINE);
    obj.get();
    vma.setOps({ open: () => obj.get(), close: () => obj.put() });
  },
  // drm_gem_dmabuf_vmap: the write-combining kernel mapping the object already has
  vmap: (buf: DmaBuf): number => {
    const v = objOf(buf).vaddr;
    if (typeof v !== "number")
      throw new KernelError("EINVAL", `dma_buf_vmap: GEM object has no kernel mapping`);
    return v;
  },
  vunmap: () => {},
}) satisfies DmaBufOps;

/** True when `buf` is a dma-buf exported by a DRM device (its priv is a GEM object). */
export function isDrmPrimeBuf(buf: DmaBuf): boolean {
  return buf.ops === DRM_GEM_PRIME_DMABUF_OPS;
}

/**
 * `drm_gem_prime_export`: a new dma-buf of `obj` (holding a reference to it), with file flags
 * `flags` (DRM_RDWR gives a read-write file). The caller owns the dma-buf's reference.
 */
export function drmGemPrimeExport(obj: DrmGemObject, flags: number): DmaBuf {
  if (obj.imported) throw new KernelBug(`drm_gem_prime_export: ${obj} is an import`);
  obj.get();
  try {
    return dmaBufExport(obj.dev.kernel, {
      expName: `drm:${obj.dev.name}`,
      ops: DRM_GEM_PRIME_DMABUF_OPS,
      size: obj.size,
      flags: flags & DRM_RDWR,
      priv: obj,
    });
  } catch (e) {
    obj.put();
    throw e;
  }
}

/**
 * @internal DRM_IOCTL_PRIME_HANDLE_TO_FD (`drm_gem_prime_handle_to_fd`): `fd` gets a dma-buf of
 * the object of `handle` — the one it was imported from, the one it was exported as before, or
 * a new export. EINVAL for flags other than DRM_CLOEXEC | DRM_RDWR; ENOENT for a bad handle;
 * EMFILE when the process has no free fd (nothing is exported then).
 */
export function drmPrimeHandleToFdIoctl(file: DrmFile, arg: unknown): number {
  const what = "PRIME_HANDLE_TO_FD";
  const a = struct<DrmPrimeHandle>(arg, what);
  const handle = u32(a, "handle", what);
  const flags = u32(a, "flags", what, true);
  if (flags & ~(DRM_CLOEXEC | DRM_RDWR)) {
    throw new KernelError(
      "EINVAL",
      `${what}: flags ${hex(flags)} has bits other than DRM_CLOEXEC | DRM_RDWR`,
    );
  }
  const obj = drmGemObjectLookup(file, handle);
  if (!obj) throw new KernelError("ENOENT", `${what}: handle ${handle} is not a GEM handle of this file`);
  try {
    const proc = currentProcess(file.dev.kernel);
    if (!proc) throw new KernelError("ESRCH", `${what}: no process is current to receive the fd`);
    if (proc.fds.free === 0)
      throw new KernelError("EMFILE", `${what}: the fd table of pid ${proc.pid} is full`);
    let buf: DmaBuf;
    if (obj._importAttach) {
      // re-export the original imported dma-buf
      buf = obj._importAttach.attach.dmabuf;
      getDmaBuf(buf);
    } else if (obj._dmaBuf) {
      buf = obj._dmaBuf;
      getDmaBuf(buf);
    } else {
      // export_and_register_object: the object keeps the dma-buf while it has handles
      buf = drmGemPrimeExport(obj, flags);
      obj._dmaBuf = buf;
      getDmaBuf(buf);
    }
    addBufHandle(file, buf, handle);
    const fd = dmaBufFd(buf, flags & DRM_CLOEXEC); // the caller's reference moves to the fd
    a.fd = fd;
    file.dev.kernel.trace.emit("drm_prime_export", {
      dev: file.dev.name,
      ino: buf.ino,
      handle,
      obj: obj.name,
      fd,
    });
    return 0;
  } finally {
    obj.put();
  }
}

/** `drm_prime_get_contiguous_size`: bytes of the mapping that are one run of device addresses. */
export function drmPrimeGetContiguousSize(sgt: SgTable): number {
  const segs = sgt.dmaSegments();
  if (segs.length === 0) return 0;
  let expected = segs[0]!.dmaAddress;
  let size = 0;
  for (const s of segs) {
    if (!s.dmaLength || s.dmaAddress !== expected) break;
    expected += s.dmaLength;
    size += s.dmaLength;
  }
  return size;
}

/**
 * `drm_gem_prime_import` + `drm_gem_dma_prime_import_sg_table`: a GEM object for `buf` on `ddev`
 * with a reference the caller owns. A dma-buf this device exported gives its own object back;
 * any other is attached to the display device and mapped BIDIRECTIONAL. EINVAL when the mapping
 * is not one contiguous range of the display's D.V as large as the buffer; or what the exporter's
 * attach or map throws (EBUSY, ENOMEM, ...). Nothing stays attached when it fails.
 */
export function drmGemPrimeImport(ddev: DrmDevice, buf: DmaBuf): DrmGemObject {
  if (isDrmPrimeBuf(buf)) {
    const obj = objOf(buf);
    if (obj.dev === ddev) {
      obj.get();
      return obj;
    }
  }
  const attach = dmaBufAttach(buf, ddev.dev);
  getDmaBuf(buf);
  let sgt: SgTable;
  try {
    sgt = dmaBufMapAttachment(attach, DMA_BIDIRECTIONAL);
  } catch (e) {
    dmaBufDetach(buf, attach);
    dmaBufPut(buf);
    throw e;
  }
  const contiguous = drmPrimeGetContiguousSize(sgt);
  if (contiguous < buf.size) {
    dmaBufUnmapAttachment(attach, sgt, DMA_BIDIRECTIONAL);
    dmaBufDetach(buf, attach);
    dmaBufPut(buf);
    throw new KernelError(
      "EINVAL",
      `prime import: ${buf} is contiguous for only ${hex(contiguous)} of ${hex(buf.size)} bytes in the D.V of ${ddev.dev.name} (${sgt.nents} segments): the display cannot scan it out`,
    );
  }
  return new DrmGemObject(ddev, buf.size, sgt.sgl[0]!.dmaAddress, null, { attach, sgt });
}

/**
 * @internal DRM_IOCTL_PRIME_FD_TO_HANDLE (`drm_gem_prime_fd_to_handle`): `handle` of the calling
 * file for the dma-buf at `fd` — the handle it already has for that dma-buf, or a new one of its
 * own object (a dma-buf of this device) or of a new import. EBADF for an fd that is not open,
 * EINVAL for one that is not a dma-buf or a buffer the display cannot reach contiguously.
 */
export function drmPrimeFdToHandleIoctl(file: DrmFile, arg: unknown): number {
  const what = "PRIME_FD_TO_HANDLE";
  const a = struct<DrmPrimeHandle>(arg, what);
  const fd = s32(a, "fd", what);
  const buf = dmaBufGet(file.dev.kernel, fd);
  try {
    const known = file._prime.byBuf.get(buf);
    if (known !== undefined) {
      a.handle = known;
      return 0;
    }
    const obj = drmGemPrimeImport(file.dev, buf);
    if (obj._dmaBuf) {
      if (obj._dmaBuf !== buf) throw new KernelBug(`${what}: ${obj} is already exported as another dma-buf`);
    } else {
      obj._dmaBuf = buf;
      getDmaBuf(buf);
    }
    const handle = drmGemHandleCreate(file, obj);
    obj.put(); // the handle holds it
    addBufHandle(file, buf, handle);
    a.handle = handle;
    file.dev.kernel.trace.emit("drm_prime_import", {
      dev: file.dev.name,
      ino: buf.ino,
      handle,
      obj: obj.name,
      daddr: obj.dmaAddr,
    });
    return 0;
  } finally {
    dmaBufPut(buf);
  }
}
