/**
 * vb2-vmalloc (drivers/media/common/videobuf2/videobuf2-vmalloc.c): buffers in the kernel's
 * vmalloc area, for drivers that move data with the CPU (USB cameras, test pattern generators).
 * No device, no DMA mapping, no cache maintenance: the kernel and user mappings are both
 * cacheable views of the same pages through the same (physically tagged) cache. USERPTR pages are
 * pinned and mapped into the kernel with `vm_map_ram`.
 *
 * @module
 */
import { tryCpuOf } from "@umm/arch-arm";
import { type DmaBuf, dmaBufVmap, dmaBufVunmap } from "@umm/dma-buf";
import type { DmaBufOps } from "@umm/dma-buf/ops";
import { SgTable } from "@umm/dma-mapping-arm";
import { type Device, type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import type { MmapContext } from "@umm/kernel-process";
import { mmOf, type UserPages } from "@umm/mm-core";
import type { Vb2Buffer } from "./core.js";
import {
  vb2CheckExportable,
  vb2DmabufCheckSize,
  vb2ExportAttachOps,
  vb2ExportDmabuf,
} from "./dmabuf-memops.js";
import { vb2CreateFramevec, vb2DestroyFramevec, vb2MmapHold, vb2MmapPages, vb2Tag } from "./memops.js";
import type { Vb2MemOps, Vb2MemPriv } from "./ops.js";

/** `struct vb2_vmalloc_buf`: one plane of vmalloc memory. */
export class Vb2VmallocBuf {
  /** the kernel */
  readonly kernel: Kernel;
  /** the buffer */
  readonly vb: Vb2Buffer;
  /** "mmap" (vmalloc_user), "userptr" (pinned, vm_map_ram) or "dmabuf" (vmapped import) */
  readonly kind: "mmap" | "userptr" | "dmabuf";
  /** bytes */
  readonly size: number;
  /** kernel virtual address of the data (null for an unmapped import) */
  vaddr: number | null;
  /** the pages (MMAP, USERPTR) */
  readonly pfns: Int32Array;
  /** MMAP: users (allocation, mappings, exports) */
  refcount = 1;
  /** USERPTR: the pinned pages */
  vec: UserPages | null = null;
  /** DMABUF: the imported dma-buf (vmapped while mapped) */
  dbuf: DmaBuf | null = null;

  /** @internal */
  constructor(
    kernel: Kernel,
    vb: Vb2Buffer,
    kind: Vb2VmallocBuf["kind"],
    size: number,
    vaddr: number | null,
    pfns: Int32Array,
  ) {
    this.kernel = kernel;
    this.vb = vb;
    this.kind = kind;
    this.size = size;
    this.vaddr = vaddr;
    this.pfns = pfns;
  }
}

function asBuf(priv: Vb2MemPriv): Vb2VmallocBuf {
  if (!(priv instanceof Vb2VmallocBuf)) throw new KernelError("EINVAL", "vmalloc: not a vmalloc buffer");
  return priv;
}

function alloc(vb: Vb2Buffer, _dev: Device | null, size: number): Vb2MemPriv {
  const kernel = vb.queue.kernel;
  const mm = mmOf(kernel);
  const kaddr = mm.kspace.vmalloc(size, "cacheable", vb2Tag(vb));
  // vmalloc_user: zeroed, as the CPU sees it
  const cpu = tryCpuOf(kernel);
  const vma = mm.kspace.findVma(kaddr)!;
  const pfns = Int32Array.from({ length: size / PAGE_SIZE }, (_, i) => vma.pfnAt(kaddr + i * PAGE_SIZE));
  if (cpu) cpu.fill(mm.kspace, kaddr, 0, size);
  else for (const pfn of pfns) mm.phys.fill(pfn * PAGE_SIZE, 0, PAGE_SIZE);
  return new Vb2VmallocBuf(kernel, vb, "mmap", size, kaddr, pfns);
}

function put(buf: Vb2VmallocBuf): void {
  if (buf.refcount <= 0) throw new KernelError("EINVAL", "vmalloc: put of a freed buffer");
  if (--buf.refcount > 0) return;
  if (buf.vaddr !== null) mmOf(buf.kernel).kspace.vfree(buf.vaddr);
  buf.vaddr = null;
}

function mmap(priv: Vb2MemPriv, ctx: MmapContext): void {
  const buf = asBuf(priv);
  if (buf.kind !== "mmap") throw new KernelError("EINVAL", "vmalloc: no buffer to map");
  vb2MmapPages("vmalloc", ctx, buf.pfns);
  vb2MmapHold(ctx, buf, () => put(buf));
}

function getUserptr(vb: Vb2Buffer, _dev: Device | null, uaddr: number, size: number): Vb2MemPriv {
  if (!size) throw new KernelError("EINVAL", "vmalloc: user pointer size is zero");
  const kernel = vb.queue.kernel;
  const dir = vb.queue.dmaDir;
  const vec = vb2CreateFramevec(kernel, uaddr, size, dir === 2 || dir === 0);
  let kaddr: number;
  try {
    kaddr = mmOf(kernel).kspace.vmap(vec.pfns, "cacheable", `vb2 ${vb2Tag(vb)}`);
  } catch (e) {
    vb2DestroyFramevec(vec);
    throw e;
  }
  const buf = new Vb2VmallocBuf(kernel, vb, "userptr", size, kaddr + (uaddr % PAGE_SIZE), vec.pfns);
  buf.vec = vec;
  return buf;
}

function putUserptr(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  if (buf.vaddr !== null) mmOf(buf.kernel).kspace.vunmap(buf.vaddr - (buf.vaddr % PAGE_SIZE));
  buf.vaddr = null;
  if (buf.vec) vb2DestroyFramevec(buf.vec);
  buf.vec = null;
}

// ---- DMABUF import: the CPU reaches the buffer through dma_buf_vmap --------------------------

function attachDmabuf(vb: Vb2Buffer, _dev: Device | null, dbuf: DmaBuf, size: number): Vb2MemPriv {
  vb2DmabufCheckSize("vmalloc", vb, dbuf, size);
  const buf = new Vb2VmallocBuf(vb.queue.kernel, vb, "dmabuf", size, null, new Int32Array(0));
  buf.dbuf = dbuf;
  return buf;
}

function mapDmabuf(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  if (!buf.dbuf || buf.vaddr !== null) return;
  try {
    buf.vaddr = dmaBufVmap(buf.dbuf);
  } catch (e) {
    throw new KernelError("EFAULT", "vmalloc: the dma-buf cannot be mapped in the kernel", { cause: e });
  }
}

function unmapDmabuf(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  if (buf.dbuf && buf.vaddr !== null) dmaBufVunmap(buf.dbuf, buf.vaddr);
  buf.vaddr = null;
}

function detachDmabuf(priv: Vb2MemPriv): void {
  const buf = asBuf(priv);
  unmapDmabuf(buf);
  buf.dbuf = null;
}

// ---- export ------------------------------------------------------------------------------------

/** `vb2_vmalloc_dmabuf_ops`: an exported vmalloc buffer (one sg entry per page). */
const VMALLOC_DMABUF_OPS: DmaBufOps = {
  ...vb2ExportAttachOps(
    "videobuf2_vmalloc",
    (buf: Vb2VmallocBuf) =>
      new SgTable(Array.from(buf.pfns, (pfn) => ({ pfn, offset: 0, length: PAGE_SIZE }))),
  ),
  release: (dbuf) => put(dbuf.priv as Vb2VmallocBuf),
  vmap: (dbuf) => (dbuf.priv as Vb2VmallocBuf).vaddr!,
  mmap: (dbuf, vma) => mmap(dbuf.priv as Vb2VmallocBuf, vma),
};
Object.freeze(VMALLOC_DMABUF_OPS);

function getDmabuf(vb: Vb2Buffer, priv: Vb2MemPriv, flags: number): DmaBuf {
  const buf = asBuf(priv);
  vb2CheckExportable("vmalloc", vb, buf);
  return vb2ExportDmabuf(buf.kernel, buf, "videobuf2_vmalloc", VMALLOC_DMABUF_OPS, flags);
}

/** `vb2_vmalloc_memops`: the vmalloc back end (no device needed). */
export const vb2VmallocMemops: Vb2MemOps = Object.freeze({
  name: "vmalloc",
  alloc,
  put: (priv: Vb2MemPriv) => put(asBuf(priv)),
  mmap,
  getUserptr,
  putUserptr,
  attachDmabuf,
  detachDmabuf,
  mapDmabuf,
  unmapDmabuf,
  getDmabuf,
  vaddr: (_vb: Vb2Buffer, priv: Vb2MemPriv) => asBuf(priv).vaddr,
  numUsers: (priv: Vb2MemPriv) => asBuf(priv).refcount,
});
