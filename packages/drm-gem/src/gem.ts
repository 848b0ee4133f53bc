/**
 * GEM objects (drivers/gpu/drm/drm_gem.c, drm_gem_dma_helper.c, drm_vma_manager.c): buffers of a
 * DRM device, named per open file by handles. An object is reference counted: all of a file's
 * handles together hold one reference while any exists (`handle_count`), and so does every
 * framebuffer that scans it out, every user mapping, every dma-buf it is exported as and the
 * import it wraps. Its memory goes when the last of them does.
 *
 * Objects of the DMA helper are one `dma_alloc_wc` buffer of the display device: contiguous in
 * its D.V (a CMA range, or pages behind its IOMMU), mapped write-combining in the kernel and in
 * processes. A process maps an object by mmap(2) of the card fd at the object's fake offset
 * (`MODE_MAP_DUMB`); only files holding a handle of the object may.
 *
 * @module
 */
import {
  DMA_ATTR_NO_WARN,
  DMA_ATTR_WRITE_COMBINE,
  type DmaCpuAddr,
  dmaAllocAttrs,
  dmaFreeAttrs,
  dmaMmapAttrs,
} from "@umm/dma-mapping-arm";
import { hex, KernelBug, KernelError, Kref, PAGE_SIZE } from "@umm/kernel-core";
import type { MmapContext } from "@umm/kernel-process";
import { __GFP_NOWARN, GFP_KERNEL } from "@umm/mm-core";
import { struct, u32 } from "./args.js";
import type { DrmDevice, DrmFile } from "./device.js";
import {
  type DrmImportAttach,
  type DrmPrimeBuf,
  drmGemExportedDmaBufFree,
  drmPrimeGemDestroy,
  drmPrimeRemoveHandle,
} from "./prime.js";
import type { DrmGemClose } from "./types.js";

/** `DRM_FILE_PAGE_OFFSET_START` on 32-bit: fake mmap offsets start at this page. */
export const DRM_FILE_PAGE_OFFSET_START = (0xfffffff >>> 12) + 16;
/** `DRM_FILE_PAGE_OFFSET_SIZE` on 32-bit: pages of fake offset space. */
export const DRM_FILE_PAGE_OFFSET_SIZE = (0xfffffff >>> 12) * 16;

/** A node of the fake offset space (`struct drm_vma_offset_node`). */
export interface DrmVmaNode {
  /** first page (`vm_pgoff` of a mapping of the object's start) */
  readonly start: number;
  /** pages */
  readonly pages: number;
}

/**
 * @internal `drm_vma_offset_manager`: best-fit ranges of page offsets in
 * [DRM_FILE_PAGE_OFFSET_START, + DRM_FILE_PAGE_OFFSET_SIZE), like `drm_mm` with INSERT_BEST.
 */
export class VmaOffsetManager {
  /** allocated nodes sorted by start */
  readonly #nodes: { start: number; pages: number; obj: DrmGemObject }[] = [];

  /** Allocates `pages` pages for `obj`; ENOSPC when no hole is large enough. */
  add(obj: DrmGemObject, pages: number): DrmVmaNode {
    const lo = DRM_FILE_PAGE_OFFSET_START;
    const hi = lo + DRM_FILE_PAGE_OFFSET_SIZE;
    let best = -1;
    let bestSize = Number.POSITIVE_INFINITY;
    let bestIdx = 0;
    let prevEnd = lo;
    for (let i = 0; i <= this.#nodes.length; i++) {
      const next = i < this.#nodes.length ? this.#nodes[i]!.start : hi;
      const hole = next - prevEnd;
      if (hole >= pages && hole < bestSize) {
        best = prevEnd;
        bestSize = hole;
        bestIdx = i;
      }
      if (i < this.#nodes.length) prevEnd = this.#nodes[i]!.start + this.#nodes[i]!.pages;
    }
    if (best < 0)
      throw new KernelError("ENOSPC", `drm_vma_offset_add: no ${pages}-page hole in the offset space`);
    const node = { start: best, pages, obj };
    this.#nodes.splice(bestIdx, 0, node);
    return { start: best, pages };
  }

  /** Frees the node starting at `start`. */
  remove(start: number): void {
    const i = this.#nodes.findIndex((n) => n.start === start);
    if (i < 0) throw new KernelBug(`drm_vma_offset_remove: no node at page ${hex(start)}`);
    this.#nodes.splice(i, 1);
  }

  /**
   * `drm_vma_offset_lookup_locked`: the object whose node contains pages [start, start + pages),
   * or undefined.
   */
  lookup(start: number, pages: number): { obj: DrmGemObject; start: number; pages: number } | undefined {
    let lo = 0;
    let hi = this.#nodes.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const n = this.#nodes[mid]!;
      if (start < n.start) hi = mid - 1;
      else if (start >= n.start + n.pages) lo = mid + 1;
      else return start + pages <= n.start + n.pages ? n : undefined;
    }
    return undefined;
  }

  /** Nodes allocated. */
  get size(): number {
    return this.#nodes.length;
  }
}

/** A GEM object of the DMA helper (`struct drm_gem_dma_object`). */
export class DrmGemObject {
  /** the device */
  readonly dev: DrmDevice;
  /** a number unique among the device's objects (trace events, messages) */
  readonly name: number;
  /** bytes (page-aligned) */
  readonly size: number;
  /** the buffer's device address in the display's D.V (`dma_addr`) */
  readonly dmaAddr: number;
  /** the kernel's write-combining mapping (`vaddr`); null for an import */
  readonly vaddr: DmaCpuAddr | null;
  /** all handles of all files (`handle_count`); together they hold one reference */
  handleCount = 0;
  /** @internal `dma_buf`: the dma-buf this object is exported as (or was imported from), while handles exist */
  _dmaBuf: DrmPrimeBuf | null = null;
  /** @internal `import_attach` */
  readonly _importAttach: DrmImportAttach | null;
  /** @internal `vma_node` */
  _vmaNode: DrmVmaNode | null = null;
  /** @internal `drm_vma_node_allow` counts per file */
  readonly _allowed = new Map<DrmFile, number>();
  readonly #kref: Kref;

  /** @internal use `drmGemDmaCreate` or PRIME import */
  constructor(
    dev: DrmDevice,
    size: number,
    dmaAddr: number,
    vaddr: DmaCpuAddr | null,
    importAttach: DrmImportAttach | null,
  ) {
    this.dev = dev;
    this.name = dev._nextObj++;
    this.size = size;
    this.dmaAddr = dmaAddr;
    this.vaddr = vaddr;
    this._importAttach = importAttach;
    this.#kref = new Kref(() => this.#free(), `GEM object ${this.name} of ${dev.name}`);
    dev._objects.add(this);
  }

  /** References held (handles count once, plus fbs, mappings, dma-bufs, kernel users); 0 once freed. */
  get refcount(): number {
    return this.#kref.count;
  }

  /** True once the memory is released. */
  get freed(): boolean {
    return this.#kref.released;
  }

  /** True for an object made by PRIME import of another exporter's dma-buf. */
  get imported(): boolean {
    return this._importAttach !== null;
  }

  /** The fake mmap offset in bytes (`drm_vma_node_offset_addr`), or null before MAP_DUMB. */
  get mmapOffset(): number | null {
    return this._vmaNode ? this._vmaNode.start * PAGE_SIZE : null;
  }

  /** `drm_gem_object_get` */
  get(): void {
    this.#kref.get();
  }

  /** `drm_gem_object_put`: the last reference frees the object. */
  put(): void {
    this.#kref.put();
  }

  #free(): void {
    const dev = this.dev;
    if (this.handleCount !== 0)
      throw new KernelBug(`GEM object ${this.name} freed with ${this.handleCount} handles`);
    if (this._vmaNode) {
      dev._offsets.remove(this._vmaNode.start);
      this._vmaNode = null;
    }
    if (this._importAttach) {
      drmPrimeGemDestroy(this, this._importAttach);
    } else {
      dmaFreeAttrs(dev.dev, this.size, this.vaddr, this.dmaAddr, DMA_ATTR_WRITE_COMBINE | DMA_ATTR_NO_WARN);
    }
    dev._objects.delete(this);
    const tp = dev._tp.gemFree;
    if (tp.enabled) tp.emit({ dev: dev.name, obj: this.name, size: this.size, imported: this.imported });
  }

  /** For messages. */
  toString(): string {
    return `GEM object ${this.name} (${hex(this.size)} bytes at ${hex(this.dmaAddr)})`;
  }
}

/**
 * `drm_gem_dma_create`: a new object of `size` bytes (rounded up to pages) backed by
 * `dma_alloc_wc` for the display device, with one reference the caller owns. EINVAL for a size
 * that is not positive; ENOMEM when the allocation fails.
 */
export function drmGemDmaCreate(ddev: DrmDevice, size: number): DrmGemObject {
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new KernelError("EINVAL", `drm_gem_dma_create: size ${size} must be a positive number of bytes`);
  }
  const sz = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
  const buf = dmaAllocAttrs(
    ddev.dev,
    sz,
    GFP_KERNEL | __GFP_NOWARN,
    DMA_ATTR_WRITE_COMBINE | DMA_ATTR_NO_WARN,
    `drm:${ddev.name}`,
  );
  if (!buf) {
    throw new KernelError("ENOMEM", `drm_gem_dma_create: failed to allocate buffer with size ${sz}`);
  }
  return new DrmGemObject(ddev, sz, buf.dmaAddr, buf.cpuAddr, null);
}

/** @internal `idr_alloc(&file->object_idr, obj, 1, 0)`: the lowest free handle */
function allocHandle(file: DrmFile): number {
  let h = 1;
  while (file._handles.has(h)) h++;
  return h;
}

/**
 * `drm_gem_handle_create`: a new handle of `file` for `obj` (the handles take their reference
 * on the first one; the caller keeps its own). The file may now mmap the object.
 */
export function drmGemHandleCreate(file: DrmFile, obj: DrmGemObject): number {
  if (obj.freed) throw new KernelBug(`drm_gem_handle_create: ${obj} was freed`);
  if (obj.handleCount++ === 0) obj.get();
  const handle = allocHandle(file);
  file._handles.set(handle, obj);
  obj._allowed.set(file, (obj._allowed.get(file) ?? 0) + 1);
  return handle;
}

/**
 * `drm_gem_object_lookup`: the object of `handle` with a new reference the caller must `put`,
 * or null when `file` has no such handle.
 */
export function drmGemObjectLookup(file: DrmFile, handle: number): DrmGemObject | null {
  const obj = file._handles.get(handle);
  if (!obj) return null;
  obj.get();
  return obj;
}

/** `drm_gem_object_handle_put_unlocked`: one handle fewer; the last frees the exported dma-buf. */
function handlePut(obj: DrmGemObject): void {
  if (obj.handleCount <= 0) throw new KernelBug(`${obj}: handle_count underflow`);
  if (--obj.handleCount === 0) {
    drmGemExportedDmaBufFree(obj);
    obj.put();
  }
}

/** `drm_gem_object_release_handle` for `handle` of `file` (already removed from the table). */
function releaseHandle(file: DrmFile, handle: number, obj: DrmGemObject): void {
  drmPrimeRemoveHandle(file, handle);
  const n = (obj._allowed.get(file) ?? 0) - 1;
  if (n > 0) obj._allowed.set(file, n);
  else obj._allowed.delete(file);
  handlePut(obj);
}

/**
 * `drm_gem_handle_delete`: drops `handle` of `file`. EINVAL when the file has no such handle
 * (the kernel's answer to GEM_CLOSE and DESTROY_DUMB of a bad handle).
 */
export function drmGemHandleDelete(file: DrmFile, handle: number): void {
  const obj = file._handles.get(handle);
  if (!obj) throw new KernelError("EINVAL", `gem close: handle ${handle} is not a GEM handle of this file`);
  file._handles.delete(handle);
  releaseHandle(file, handle, obj);
}

/** @internal `drm_gem_release`: every handle of a closing file */
export function drmGemReleaseFile(file: DrmFile): void {
  for (const [handle, obj] of [...file._handles]) {
    file._handles.delete(handle);
    releaseHandle(file, handle, obj);
  }
}

/** @internal `drm_gem_create_mmap_offset`: the object's fake offset (made once) */
export function drmGemCreateMmapOffset(obj: DrmGemObject): number {
  if (!obj._vmaNode) obj._vmaNode = obj.dev._offsets.add(obj, obj.size / PAGE_SIZE);
  return obj._vmaNode.start * PAGE_SIZE;
}

/** @internal DRM_IOCTL_GEM_CLOSE: EINVAL for a handle the file does not have. */
export function drmGemCloseIoctl(file: DrmFile, arg: unknown): number {
  const a = struct<DrmGemClose>(arg, "GEM_CLOSE");
  drmGemHandleDelete(file, u32(a, "handle", "GEM_CLOSE"));
  return 0;
}

/**
 * @internal `drm_gem_mmap` + `drm_gem_dma_mmap`: maps the object whose fake offset range holds
 * the mapping. ENODEV once the device is unregistered; EINVAL when no object's range holds it (or
 * it is longer than the object); EACCES when the file holds no handle of the object. The mapping is write-combining and holds a
 * reference to the object until it is unmapped.
 */
export function drmGemMmap(file: DrmFile, ctx: MmapContext): void {
  if (!file.dev._registered) throw new KernelError("ENODEV", `drm mmap: ${file.dev.path} was unregistered`);
  const pages = ctx.length / PAGE_SIZE;
  const node = file.dev._offsets.lookup(ctx.pgoff, pages);
  if (!node) {
    throw new KernelError(
      "EINVAL",
      `drm mmap: offset ${hex(ctx.pgoff * PAGE_SIZE)} + ${hex(ctx.length)} is not inside a GEM object's mmap range`,
    );
  }
  const obj = node.obj;
  if (!obj._allowed.has(file)) {
    throw new KernelError(
      "EACCES",
      `drm mmap: this file holds no handle of GEM object ${obj.name} at offset ${hex(node.start * PAGE_SIZE)}`,
    );
  }
  if (obj.vaddr === null) {
    throw new KernelError(
      "EINVAL",
      `drm mmap: GEM object ${obj.name} is an import (map the dma-buf instead)`,
    );
  }
  // the DMA helper maps the whole buffer: vm_pgoff becomes relative to the object
  const inner: MmapContext = {
    file: ctx.file,
    length: ctx.length,
    prot: ctx.prot,
    flags: ctx.flags,
    pgoff: ctx.pgoff - node.start,
    shared: ctx.shared,
    setPages: (pfns, o) => ctx.setPages(pfns, o),
    setPfnRange: (pfn) => ctx.setPfnRange(pfn),
    setMemtype: (m) => ctx.setMemtype(m),
    setOps: (o) => ctx.setOps(o),
    setPrivate: (d) => ctx.setPrivate(d),
    setName: (n) => ctx.setName(n),
  };
  dmaMmapAttrs(obj.dev.dev, inner, obj.vaddr, obj.dmaAddr, obj.size, DMA_ATTR_WRITE_COMBINE);
  ctx.setName(`${file.dev.path}:gem${obj.name}`);
  ctx.setPrivate(obj);
  // drm_gem_vm_open / drm_gem_vm_close: every VMA (and piece of one) holds the object
  ctx.setOps({ open: () => obj.get(), close: () => obj.put() });
  obj.get();
}
