/**
 * dma-buf interop, both ways:
 *
 * - **Export** (umm; UMP's successors went this way): a UMP buffer as a dma-buf whose pages are
 *   its blocks. The dma-buf holds one kernel reference on the UMP buffer until it is released.
 *   Attachments map the blocks for their device (`dmaMapSgtable`: through its IOMMU or
 *   directly); CPU access is synced only for a cached buffer (an uncached one never needs it,
 *   as UMP's msync) — its attachments, and the whole buffer in the CPU cache, since another
 *   export's devices are not among them; mmap and vmap use the buffer's memory type.
 * - **Import** (Samsung's `UMP_IOC_DMABUF_IMPORT`, `ump_dmabuf_import_wrapper`): a dma-buf fd
 *   becomes a UMP buffer over the buffer's pages — attach, map, and
 *   `ump_dd_handle_create_from_phys_blocks` over the scatterlist — held by the importing session.
 *   Samsung never detaches, unmaps or puts the dma-buf (a leak, with a `struct device` on the
 *   stack as the importer); umm keeps the attachment, mapping and reference for the UMP
 *   buffer's life and gives them back at its last reference, and starts the buffer cached when
 *   the kernel maps the pages cacheable (so its user mappings alias nothing).
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
  DMA_BIDIRECTIONAL,
  dmaMapSgtable,
  dmaSyncSgtableForCpu,
  dmaSyncSgtableForDevice,
  dmaUnmapSgtable,
  SgTable,
  sgPhys,
} from "@umm/dma-mapping-arm";
import { Device, DMA_BIT_MASK, type Kernel, KernelError, kassert, PAGE_SIZE } from "@umm/kernel-core";
import { type MmapContext, O_ACCMODE, O_CLOEXEC, O_RDWR } from "@umm/kernel-process";
import { createFromBlocks, idText, type UmpDdHandle } from "./kernel-api.js";
import {
  cpuFor,
  currentUid,
  maintainRange,
  mayImport,
  memGet,
  memPut,
  pfnsOf,
  traceDenied,
  UmpDdMem,
  type UmpSession,
  type UmpState,
  umpState,
} from "./state.js";
import type { UmpDdPhysicalBlock, UmpUkDmaBufExport, UmpUkDmaBufImport } from "./types.js";

/** The exporter name of UMP's dma-bufs (fdinfo, debugfs). */
export const UMP_DMA_BUF_EXP_NAME = "ump";

interface ExportPriv {
  readonly st: UmpState;
  readonly mem: UmpDdMem;
  readonly pfns: Int32Array;
  readonly attachments: Set<ExportAttachment>;
}

interface ExportAttachment {
  readonly dev: Device;
  readonly table: SgTable;
  mapped: boolean;
}

function privOf(buf: DmaBuf): ExportPriv {
  return buf.priv as ExportPriv;
}

const UMP_DMA_BUF_OPS: DmaBufOps = Object.freeze({
  attach: (buf: DmaBuf, att: DmaBufAttachment) => {
    const p = privOf(buf);
    // one scatterlist entry per UMP block, in buffer order
    const table = new SgTable(p.mem.blocks.map((b) => ({ pfn: b.addr / PAGE_SIZE, length: b.size })));
    const a: ExportAttachment = { dev: att.dev, table, mapped: false };
    att.priv = a;
    p.attachments.add(a);
  },
  detach: (buf: DmaBuf, att: DmaBufAttachment) => {
    privOf(buf).attachments.delete(att.priv as ExportAttachment);
  },
  mapDmaBuf: (att, dir) => {
    const a = att.priv as ExportAttachment;
    dmaMapSgtable(att.dev, a.table, dir);
    a.mapped = true;
    return a.table;
  },
  unmapDmaBuf: (att, sgt, dir) => {
    (att.priv as ExportAttachment).mapped = false;
    dmaUnmapSgtable(att.dev, sgt, dir);
  },
  release: (buf: DmaBuf) => {
    const p = privOf(buf);
    memPut(p.st, p.mem, "kernel");
  },
  // A UMP buffer may be exported more than once, and the devices of one export are not
  // attachments of another: beyond its own attachments (whose syncs also bounce through
  // swiotlb), CPU access maintains the whole buffer in the CPU cache, as UMP's own msync does.
  beginCpuAccess: (buf: DmaBuf, dir) => {
    const p = privOf(buf);
    if (!p.mem.isCached) return;
    for (const a of p.attachments) if (a.mapped) dmaSyncSgtableForCpu(a.dev, a.table, dir);
    const cpu = cpuFor(p.st);
    if (cpu) maintainRange(cpu, p.mem, "flush", 0, p.mem.size);
  },
  endCpuAccess: (buf: DmaBuf, dir) => {
    const p = privOf(buf);
    if (!p.mem.isCached) return;
    const cpu = cpuFor(p.st);
    if (cpu) maintainRange(cpu, p.mem, "clean", 0, p.mem.size);
    for (const a of p.attachments) if (a.mapped) dmaSyncSgtableForDevice(a.dev, a.table, dir);
  },
  mmap: (buf: DmaBuf, vma: MmapContext) => {
    const p = privOf(buf);
    const n = vma.length / PAGE_SIZE;
    // remap_pfn_range of the blocks, as /dev/ump maps them; the UMP reference keeps them
    vma.setPages(p.pfns.subarray(vma.pgoff, vma.pgoff + n), { refs: false });
    vma.setMemtype(p.mem.isCached ? "cacheable" : "writecombine");
  },
  vmap: (buf: DmaBuf) => {
    const p = privOf(buf);
    return p.st.mm.kspace.vmap(p.pfns, p.mem.isCached ? "cacheable" : "writecombine", `dma-buf:${p.mem}`);
  },
  vunmap: (buf: DmaBuf, kaddr: number) => {
    privOf(buf).st.mm.kspace.vunmap(kaddr);
  },
} satisfies DmaBufOps);

/**
 * umm: exports the buffer as a dma-buf (`flags`: its file's access mode, default O_RDWR). The
 * dma-buf takes a reference on the UMP buffer and drops it when it is released; the caller
 * owns the dma-buf's one reference (`dmaBufFd` it or `dmaBufPut` it). EINVAL for a size-0
 * buffer; a null or released handle is a `KernelBug`.
 */
export function umpDdDmaBufExport(h: UmpDdHandle, flags: number = O_RDWR): DmaBuf {
  kassert(h instanceof UmpDdMem && !h.released, "ump_dd_dmabuf_export: invalid or released handle");
  const st = umpState(h.kernel);
  if (h.nrBlocks === 0) {
    throw new KernelError("EINVAL", `ump_dd_dmabuf_export: ${h} has no memory to export`);
  }
  const priv: ExportPriv = { st, mem: h, pfns: Int32Array.from(pfnsOf(h.blocks)), attachments: new Set() };
  const buf = dmaBufExport(st.kernel, {
    expName: UMP_DMA_BUF_EXP_NAME,
    ops: UMP_DMA_BUF_OPS,
    size: h.size,
    flags: flags & O_ACCMODE,
    priv,
  });
  memGet(h, "kernel");
  return buf;
}

/** The device UMP attaches to imported dma-bufs with (a 32-bit master without an IOMMU). */
function importer(st: UmpState): Device {
  st.dmaBufDevice ??= new Device(st.kernel, { name: "ump", dmaMask: DMA_BIT_MASK(32) });
  return st.dmaBufDevice;
}

/**
 * umm: a UMP buffer over the pages of `buf` (Samsung's DMABUF_IMPORT without the session): the
 * caller gets one kernel reference. UMP attaches to `buf` with its own device, maps it
 * bidirectionally and takes a dma-buf reference, all given back at the UMP buffer's last
 * reference. Null when a scatterlist entry is not 4 KiB-aligned (or the ID table is full);
 * the dma-buf core's errors (EBUSY, EAGAIN, ENOMEM) are thrown, with nothing left attached.
 */
export function umpDdHandleCreateFromDmaBuf(kernel: Kernel, buf: DmaBuf): UmpDdHandle | null {
  return importDmaBuf(umpState(kernel), buf, false);
}

/** @internal the import; `refGiven`: the caller's dma-buf reference moves to the UMP buffer */
function importDmaBuf(st: UmpState, buf: DmaBuf, refGiven: boolean): UmpDdMem | null {
  const dev = importer(st);
  if (!refGiven) getDmaBuf(buf);
  let att: DmaBufAttachment | null = null;
  let sgt: SgTable;
  try {
    att = dmaBufAttach(buf, dev);
    sgt = dmaBufMapAttachment(att, DMA_BIDIRECTIONAL);
  } catch (e) {
    if (att) dmaBufDetach(buf, att);
    dmaBufPut(buf);
    throw e;
  }
  const blocks: UmpDdPhysicalBlock[] = [];
  for (let i = 0; i < sgt.origNents; i++) {
    const s = sgt.sgl[i]!;
    blocks.push({ addr: sgPhys(s), size: s.length });
  }
  // cached unless the kernel maps a page with another memory type
  const ks = st.mm.kspace;
  const aligned = blocks.every((b) => b.addr % PAGE_SIZE === 0 && b.size % PAGE_SIZE === 0);
  const cached =
    aligned && pfnsOf(blocks).every((pfn) => (ks.linearMemtype(pfn) ?? "cacheable") === "cacheable");
  const a = att;
  const undo = (): void => {
    dmaBufUnmapAttachment(a, sgt, DMA_BIDIRECTIONAL);
    dmaBufDetach(buf, a);
    dmaBufPut(buf);
  };
  const mem = createFromBlocks(st, blocks, { cached, release: undo }, "dmabuf");
  if (!mem) undo();
  return mem;
}

/**
 * @internal `UMP_IOC_DMABUF_IMPORT`: the current process's dma-buf fd becomes a UMP buffer held
 * by session `s`; out `secure_id` and `size`. EBADF / EINVAL from `dma_buf_get`; EFAULT when the
 * buffer cannot be described in UMP blocks (Samsung: "Failed to create ump handle"); the table
 * full is EFAULT too.
 */
export function ioctlDmaBufImport(st: UmpState, s: UmpSession, a: UmpUkDmaBufImport, fd: number): number {
  const buf = dmaBufGet(st.kernel, fd);
  const mem = importDmaBuf(st, buf, true);
  if (!mem) throw new KernelError("EFAULT", `UMP_IOC_DMABUF_IMPORT: fd ${fd}: failed to create ump handle`);
  mem._move("kernel", "session");
  s.memoryList.unshift(mem);
  a.secure_id = mem.secureId;
  a.size = mem.size;
  return 0;
}

/**
 * @internal umm's `UMP_IOC_DMABUF_EXPORT`: a new dma-buf fd of `secure_id` in the current process
 * (O_CLOEXEC from `flags`, access mode O_RDWR). EINVAL for flags other than O_CLOEXEC, EFAULT for
 * an unknown ID, EPERM without import rights, EINVAL for a size-0 buffer, EMFILE when the fd
 * table is full (nothing left behind).
 */
export function ioctlDmaBufExport(st: UmpState, a: UmpUkDmaBufExport, id: number, flags: number): number {
  if (flags & ~O_CLOEXEC) {
    throw new KernelError("EINVAL", `UMP_IOC_DMABUF_EXPORT: flags ${flags} has bits other than O_CLOEXEC`);
  }
  const mem = st.ids.get(id);
  if (!mem) throw new KernelError("EFAULT", `UMP_IOC_DMABUF_EXPORT: ${idText(id)} is not allocated`);
  const uid = currentUid(st.kernel);
  if (!mayImport(st, mem, uid)) {
    traceDenied(st, mem, uid);
    throw new KernelError("EPERM", `UMP_IOC_DMABUF_EXPORT: uid ${uid} may not import ${idText(id)}`);
  }
  const buf = umpDdDmaBufExport(mem);
  try {
    a.fd = dmaBufFd(buf, flags & O_CLOEXEC);
  } catch (e) {
    dmaBufPut(buf);
    throw e;
  }
  return 0;
}
