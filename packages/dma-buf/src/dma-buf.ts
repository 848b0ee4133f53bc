/**
 * The dma-buf core (drivers/dma-buf/dma-buf.c): a buffer the kernel knows, referred to by a file.
 * An exporter wraps its memory with `dmaBufExport`; the file is what user space holds (`dmaBufFd`)
 * and passes to other processes over Unix sockets; an importer takes a reference from an fd
 * (`dmaBufGet`), attaches its device and maps the buffer into that device's address space
 * (`dmaBufAttach`, `dmaBufMapAttachment`); the CPU brackets its accesses with
 * `dmaBufBeginCpuAccess` / `dmaBufEndCpuAccess` (user space: DMA_BUF_IOCTL_SYNC), which is where
 * the exporter does the cache maintenance a non-coherent SoC needs. The buffer is released when
 * its last reference goes: every fd, every mapping of the file and every kernel reference.
 *
 * There is no way to find a buffer by name or inode: whoever did not receive an fd or a reference
 * cannot reach it. The list of live buffers exists only for debugfs (`dmaBufDebugfsBufinfo`) and
 * leak reports.
 *
 * @module
 */
import {
  checkDmaDirection,
  DMA_BIDIRECTIONAL,
  DMA_DIRECTION_TRACE,
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
  type DmaDataDirection,
  type SgTable,
} from "@umm/dma-mapping-arm";
import {
  type Device,
  hex,
  type Kernel,
  KernelBug,
  KernelError,
  PAGE_SIZE,
  WaitQueue,
} from "@umm/kernel-core";
import {
  anonInodeGetfile,
  currentProcess,
  type File,
  type FileOps,
  fget,
  type MmapContext,
  O_ACCMODE,
  O_CLOEXEC,
  O_NONBLOCK,
  POLLIN,
  POLLOUT,
  type PollTable,
  SEEK_END,
  SEEK_SET,
} from "@umm/kernel-process";
import type { VmaOps } from "@umm/mm-core";
import { type DmaFence, dmaFenceAddCallback, dmaFenceGetStub, dmaFenceIsSignaled } from "./fence.js";
import { dmaFenceUnwrap } from "./fence-container.js";
import type { DmaBufImporterOps, DmaBufOps } from "./ops.js";
import {
  DMA_RESV_USAGE_KERNEL,
  DMA_RESV_USAGE_READ,
  DMA_RESV_USAGE_WRITE,
  type DmaResv,
  dmaResvAddFence,
  dmaResvGetFences,
  dmaResvGetSingleton,
  dmaResvInit,
  dmaResvIterFences,
  dmaResvLock,
  dmaResvReserveFences,
  dmaResvTestSignaled,
  dmaResvUnlock,
  dmaResvUsageRw,
  dmaResvWaitTimeout,
} from "./resv.js";
import { type DmaBufState, dmaBufState, dmaBufWarn } from "./state.js";
import { syncFileCreate, syncFileGetFence } from "./sync-file.js";
import { bitsOutside, userNumber, userObject } from "./uaccess.js";
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_NAME_LEN,
  DMA_BUF_SET_NAME_A,
  DMA_BUF_SET_NAME_B,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_VALID_FLAGS_MASK,
  DMA_BUF_SYNC_WRITE,
} from "./uapi.js";

/** What `dmaBufExport` needs (`struct dma_buf_export_info`). */
export interface DmaBufExportInfo {
  /** the exporter's name, shown in fdinfo and debugfs (`exp_name`, e.g. the heap's name) */
  readonly expName: string;
  /** the exporter's operations */
  readonly ops: DmaBufOps;
  /** bytes */
  readonly size: number;
  /** O_* flags of the file: its access mode and O_NONBLOCK are kept */
  readonly flags: number;
  /** the exporter's buffer state (`priv`); must not be null */
  readonly priv: unknown;
  /** a reservation object to share; by default the buffer gets its own */
  readonly resv?: DmaResv;
}

/** A dma-buf (`struct dma_buf`). */
export class DmaBuf {
  /** the kernel it lives in */
  readonly kernel: Kernel;
  /** bytes */
  readonly size: number;
  /** the exporter's operations */
  readonly ops: DmaBufOps;
  /** the exporter's buffer state */
  readonly priv: unknown;
  /** the exporter's name */
  readonly expName: string;
  /** the fences of this buffer (its own, or the one given at export) */
  readonly resv: DmaResv;
  /** inode number, unique in the kernel (fdinfo, debugfs, traces) */
  readonly ino: number;
  /** the file ("anon_inode:dmabuf"): every fd, mapping and kernel reference holds it */
  readonly file: File;
  /** @internal the name set by DMA_BUF_SET_NAME */
  _name: string | null = null;
  /** @internal */
  readonly _attachments: DmaBufAttachment[] = [];
  /** @internal vmap users */
  _vmapCount = 0;
  /** @internal the vmap address while `_vmapCount > 0` */
  _vaddr = 0;
  /** @internal */
  _released = false;
  /** @internal pollers sleep here; woken by the fence callbacks poll installs */
  readonly _pollWq: WaitQueue;
  /** @internal fences whose signal already wakes `_pollWq` */
  readonly _pollHooked = new WeakSet<DmaFence>();

  /** @internal use `dmaBufExport` */
  constructor(kernel: Kernel, info: DmaBufExportInfo, ino: number, file: File) {
    this.kernel = kernel;
    this.size = info.size;
    this.ops = info.ops;
    this.priv = info.priv;
    this.expName = info.expName;
    this.resv = info.resv ?? dmaResvInit(kernel);
    this.ino = ino;
    this.file = file;
    this._pollWq = new WaitQueue(kernel.clock);
  }

  /** The name user space gave with DMA_BUF_SET_NAME, or null. */
  get name(): string | null {
    return this._name;
  }

  /** The devices attached now. */
  get attachments(): readonly DmaBufAttachment[] {
    return this._attachments;
  }

  /** How many vmap users the buffer has. */
  get vmapCount(): number {
    return this._vmapCount;
  }

  /** True once released (the last reference went). */
  get released(): boolean {
    return this._released;
  }

  toString(): string {
    return `dma-buf ino ${this.ino} (${this.expName}, ${this.size} bytes)`;
  }
}

/** A device's attachment to a buffer (`struct dma_buf_attachment`). */
export class DmaBufAttachment {
  /** the buffer */
  readonly dmabuf: DmaBuf;
  /** the attached device */
  readonly dev: Device;
  /** the exporter's per-attachment state, set by its `attach` op */
  priv: unknown = null;
  /** a dynamic importer's ops, or null for a static importer */
  readonly importerOps: DmaBufImporterOps | null;
  /** the dynamic importer's data */
  readonly importerPriv: unknown;
  /** the importer may reach other devices' memory directly */
  readonly peer2peer: boolean;
  /** @internal the live mapping */
  _sgt: SgTable | null = null;
  /** @internal its direction */
  _dir: DmaDataDirection = DMA_BIDIRECTIONAL;
  /** @internal the core pinned for the mapping */
  _pinnedForMap = false;
  /** @internal */
  _detached = false;

  /** @internal use `dmaBufAttach` / `dmaBufDynamicAttach` */
  constructor(dmabuf: DmaBuf, dev: Device, importerOps: DmaBufImporterOps | null, importerPriv: unknown) {
    this.dmabuf = dmabuf;
    this.dev = dev;
    this.importerOps = importerOps;
    this.importerPriv = importerPriv;
    this.peer2peer = importerOps?.allowPeer2peer === true;
  }

  /** The live mapping (what `dmaBufMapAttachment` returned), or null. */
  get sgt(): SgTable | null {
    return this._sgt;
  }

  /** `dma_buf_attachment_is_dynamic`. */
  get dynamic(): boolean {
    return this.importerOps !== null;
  }

  /** True once detached. */
  get detached(): boolean {
    return this._detached;
  }
}

function dirName(dir: number): string {
  return DMA_DIRECTION_TRACE[dir] ?? String(dir);
}

function stateOf(buf: DmaBuf): DmaBufState {
  return dmaBufState(buf.kernel);
}

function checkLive(buf: DmaBuf, what: string): void {
  if (!(buf instanceof DmaBuf)) throw new KernelError("EINVAL", `${what}: not a dma-buf`);
  if (buf._released) throw new KernelBug(`${what}: ${buf} was already released (use after free)`);
}

// ---- export, fds, references ----

/**
 * `dma_buf_export`: wraps the exporter's memory in a new dma-buf with one reference (its file's),
 * which the caller owns: give it to user space with `dmaBufFd` or drop it with `dmaBufPut`.
 * EINVAL (the kernel WARNs too) when `ops` lacks `mapDmaBuf`, `unmapDmaBuf` or `release`, has
 * exactly one of `pin` / `unpin`, `priv` is null, the size is not a byte count, the flags'
 * access mode is 3 or `expName` is not a string.
 */
export function dmaBufExport(kernel: Kernel, info: DmaBufExportInfo): DmaBuf {
  const what = "dma_buf_export";
  const ops = info?.ops;
  if (!ops || typeof ops.mapDmaBuf !== "function" || typeof ops.unmapDmaBuf !== "function") {
    throw new KernelError("EINVAL", `${what}: ops must have mapDmaBuf and unmapDmaBuf`);
  }
  if (typeof ops.release !== "function") throw new KernelError("EINVAL", `${what}: ops must have release`);
  if (!ops.pin !== !ops.unpin)
    throw new KernelError("EINVAL", `${what}: ops has pin or unpin without the other`);
  if (info.priv === null || info.priv === undefined) throw new KernelError("EINVAL", `${what}: priv is null`);
  if (!Number.isSafeInteger(info.size) || info.size < 0) {
    throw new KernelError("EINVAL", `${what}: size ${String(info.size)} is not a byte count`);
  }
  if (!Number.isInteger(info.flags) || (info.flags & O_ACCMODE) === O_ACCMODE) {
    throw new KernelError("EINVAL", `${what}: flags ${String(info.flags)} have no valid access mode`);
  }
  if (typeof info.expName !== "string") throw new KernelError("EINVAL", `${what}: expName is not a string`);
  const st = dmaBufState(kernel);
  const file = anonInodeGetfile(kernel, "dmabuf", DMA_BUF_FOPS, null, info.flags & (O_ACCMODE | O_NONBLOCK));
  const buf = new DmaBuf(kernel, info, st.nextIno++, file);
  file.privateData = buf;
  st.bufs.add(buf);
  if (st.tp.export.enabled) st.tp.export.emit({ exp_name: buf.expName, size: buf.size, ino: buf.ino });
  return buf;
}

/**
 * `dma_buf_fd`: gives the buffer the lowest free fd of the current process; the caller's
 * reference moves to the fd. `flags` may hold O_CLOEXEC (other bits are ignored, as
 * `get_unused_fd_flags` does). EINVAL for something that is not a dma-buf; ESRCH when no
 * process is current; EMFILE when the fd table is full (the caller keeps its reference).
 */
export function dmaBufFd(buf: DmaBuf, flags = 0): number {
  checkLive(buf, "dma_buf_fd");
  if (!Number.isInteger(flags)) throw new KernelError("EINVAL", `dma_buf_fd: flags ${String(flags)}`);
  const proc = currentProcess(buf.kernel);
  if (!proc) throw new KernelError("ESRCH", `dma_buf_fd: no process is current to receive ${buf}`);
  const fd = proc.fdInstall(buf.file, flags & O_CLOEXEC);
  const tp = stateOf(buf).tp.fd;
  if (tp.enabled) tp.emit({ ino: buf.ino, fd, pid: proc.pid });
  return fd;
}

/**
 * `dma_buf_get`: the buffer behind fd `fd` of the current process, with a new reference the
 * caller must drop with `dmaBufPut`. EBADF when the fd is not open (or no process is current),
 * EINVAL when its file is not a dma-buf.
 */
export function dmaBufGet(kernel: Kernel, fd: number): DmaBuf {
  const file = fget(kernel, fd);
  if (file.ops !== DMA_BUF_FOPS) {
    file.put();
    throw new KernelError("EINVAL", `dma_buf_get: fd ${fd} (${file.path}) is not a dma-buf`);
  }
  const buf = file.privateData as DmaBuf;
  const tp = stateOf(buf).tp.get;
  if (tp.enabled) tp.emit({ ino: buf.ino, fd, pid: kernel.current.pid });
  return buf;
}

/** `get_dma_buf`: one more reference (a `KernelBug` after release). */
export function getDmaBuf(buf: DmaBuf): void {
  checkLive(buf, "get_dma_buf");
  buf.file.get();
}

/**
 * `dma_buf_put`: drops a reference; the last one (no fd, no mapping, no other kernel reference
 * left) releases the buffer. A put after release is a `KernelBug`.
 */
export function dmaBufPut(buf: DmaBuf): void {
  checkLive(buf, "dma_buf_put");
  const tp = stateOf(buf).tp.put;
  if (tp.enabled) tp.emit({ ino: buf.ino, exp_name: buf.expName });
  buf.file.put();
}

/** `is_dma_buf_file`: true when `file` is a dma-buf's file. */
export function isDmaBufFile(file: File): boolean {
  return file.ops === DMA_BUF_FOPS;
}

/** The dma-buf behind `file`, or null when it is not a dma-buf's file (no reference taken). */
export function dmaBufFromFile(file: File): DmaBuf | null {
  return isDmaBufFile(file) ? (file.privateData as DmaBuf) : null;
}

function dmaBufRelease(buf: DmaBuf): void {
  const st = stateOf(buf);
  if (buf._vmapCount > 0) {
    throw new KernelBug(`dma_buf_release: ${buf} is still vmapped ${buf._vmapCount} time(s)`);
  }
  buf._released = true;
  st.bufs.delete(buf);
  try {
    buf.ops.release(buf);
  } finally {
    if (buf._attachments.length > 0) {
      dmaBufWarn(
        st,
        `dma_buf_release: ${buf} released with ${buf._attachments.length} attachment(s) left: ` +
          buf._attachments.map((a) => a.dev.name).join(", "),
      );
    }
    if (st.tp.release.enabled) st.tp.release.emit({ ino: buf.ino, exp_name: buf.expName });
  }
}

// ---- attachments ----

/**
 * `dma_buf_dynamic_attach`: attaches `dev` to `buf`. With `importerOps` the importer is dynamic:
 * its mappings are not pinned and it hears `moveNotify`. The exporter's `attach` may refuse
 * (EBUSY, ...); nothing is attached then. EINVAL for a missing buffer or device, or importer ops
 * without `moveNotify`. The attachment holds no reference: the importer keeps one (`dmaBufGet`)
 * until it detaches.
 */
export function dmaBufDynamicAttach(
  buf: DmaBuf,
  dev: Device,
  importerOps: DmaBufImporterOps | null,
  importerPriv: unknown = null,
): DmaBufAttachment {
  const what = "dma_buf_dynamic_attach";
  if (!buf || !dev) throw new KernelError("EINVAL", `${what}: buffer or device missing`);
  checkLive(buf, what);
  if (importerOps && typeof importerOps.moveNotify !== "function") {
    throw new KernelError("EINVAL", `${what}: importer ops of ${dev.name} have no moveNotify`);
  }
  const att = new DmaBufAttachment(buf, dev, importerOps, importerPriv);
  buf.ops.attach?.(buf, att);
  buf._attachments.push(att);
  const tp = stateOf(buf).tp.attach;
  if (tp.enabled) tp.emit({ ino: buf.ino, device: dev.name, dynamic: importerOps !== null });
  return att;
}

/** `dma_buf_attach`: a static attachment of `dev` (see `dmaBufDynamicAttach`). */
export function dmaBufAttach(buf: DmaBuf, dev: Device): DmaBufAttachment {
  return dmaBufDynamicAttach(buf, dev, null, null);
}

function checkAttachment(buf: DmaBuf, att: DmaBufAttachment, what: string): void {
  checkLive(buf, what);
  if (!(att instanceof DmaBufAttachment) || att.dmabuf !== buf) {
    throw new KernelError("EINVAL", `${what}: the attachment is not one of ${buf}`);
  }
  if (att._detached) throw new KernelBug(`${what}: the attachment of ${att.dev.name} was already detached`);
}

function unmapInner(att: DmaBufAttachment): void {
  const buf = att.dmabuf;
  const sgt = att._sgt!;
  const dir = att._dir;
  buf.ops.unmapDmaBuf(att, sgt, dir);
  att._sgt = null;
  if (att._pinnedForMap) {
    att._pinnedForMap = false;
    buf.ops.unpin?.(att);
  }
  const tp = stateOf(buf).tp.unmap;
  if (tp.enabled) tp.emit({ ino: buf.ino, device: att.dev.name, dir: dirName(dir) });
}

/**
 * `dma_buf_detach`: undoes the attachment; a mapping still live is unmapped first (as the kernel
 * does for a cached mapping). EINVAL for an attachment of another buffer; detaching twice is a
 * `KernelBug`.
 */
export function dmaBufDetach(buf: DmaBuf, att: DmaBufAttachment): void {
  checkAttachment(buf, att, "dma_buf_detach");
  if (att._sgt) unmapInner(att);
  buf._attachments.splice(buf._attachments.indexOf(att), 1);
  att._detached = true;
  buf.ops.detach?.(buf, att);
  const tp = stateOf(buf).tp.detach;
  if (tp.enabled) tp.emit({ ino: buf.ino, device: att.dev.name });
}

/**
 * `dma_buf_pin`: a dynamic importer keeps the storage in place until `dmaBufUnpin`. EINVAL for a
 * static attachment (the kernel WARNs); nothing happens when the exporter cannot move anything.
 */
export function dmaBufPin(att: DmaBufAttachment): void {
  checkAttachment(att.dmabuf, att, "dma_buf_pin");
  if (!att.dynamic) throw new KernelError("EINVAL", `dma_buf_pin: ${att.dev.name} is a static importer`);
  att.dmabuf.ops.pin?.(att);
}

/** `dma_buf_unpin`: undoes one `dmaBufPin`. EINVAL for a static attachment. */
export function dmaBufUnpin(att: DmaBufAttachment): void {
  checkAttachment(att.dmabuf, att, "dma_buf_unpin");
  if (!att.dynamic) throw new KernelError("EINVAL", `dma_buf_unpin: ${att.dev.name} is a static importer`);
  att.dmabuf.ops.unpin?.(att);
}

/** `dma_buf_move_notify`: tells every dynamic importer that the storage is about to move. */
export function dmaBufMoveNotify(buf: DmaBuf): void {
  checkLive(buf, "dma_buf_move_notify");
  for (const att of [...buf._attachments]) att.importerOps?.moveNotify(att);
}

/**
 * `dma_buf_map_attachment`: maps the buffer for the attached device in direction `dir` through the
 * exporter (on this SoC: `dmaMapSgtable` through the device's IOMMU or directly) and returns the
 * scatterlist of the device's addresses. For a static importer of an exporter that can move
 * storage, the storage is pinned for the mapping's life. EBUSY when the attachment is mapped
 * already (unmap first: one mapping per attachment); EAGAIN when a static importer would have to
 * wait for KERNEL-usage fences (wait with `dmaResvWaitTimeout`, then retry); ENOMEM when the
 * exporter returns no table; or what the exporter throws (nothing stays mapped or pinned). A bad
 * direction is a `KernelBug`.
 */
export function dmaBufMapAttachment(att: DmaBufAttachment, dir: DmaDataDirection): SgTable {
  const what = "dma_buf_map_attachment";
  checkAttachment(att?.dmabuf, att, what);
  checkDmaDirection(dir, what);
  const buf = att.dmabuf;
  if (att._sgt) {
    throw new KernelError("EBUSY", `${what}: the attachment of ${att.dev.name} to ${buf} is already mapped`);
  }
  if (!att.dynamic && !dmaResvTestSignaled(buf.resv, DMA_RESV_USAGE_KERNEL)) {
    throw new KernelError(
      "EAGAIN",
      `${what}: ${buf} has unsignalled KERNEL fences a static importer must wait for first`,
    );
  }
  const pin = !att.dynamic && buf.ops.pin !== undefined;
  if (pin) buf.ops.pin!(att);
  let sgt: SgTable | null;
  try {
    sgt = buf.ops.mapDmaBuf(att, dir);
    if (!sgt)
      throw new KernelError("ENOMEM", `${what}: ${buf.expName} returned no table for ${att.dev.name}`);
  } catch (e) {
    if (pin) buf.ops.unpin!(att);
    throw e;
  }
  att._sgt = sgt;
  att._dir = dir;
  att._pinnedForMap = pin;
  const tp = stateOf(buf).tp.map;
  if (tp.enabled) tp.emit({ ino: buf.ino, device: att.dev.name, nents: sgt.nents, dir: dirName(dir) });
  return sgt;
}

/**
 * `dma_buf_unmap_attachment`: undoes `dmaBufMapAttachment`. EINVAL when `sgt` is not the
 * attachment's live mapping or `dir` is not the direction it was mapped with.
 */
export function dmaBufUnmapAttachment(att: DmaBufAttachment, sgt: SgTable, dir: DmaDataDirection): void {
  const what = "dma_buf_unmap_attachment";
  checkAttachment(att?.dmabuf, att, what);
  checkDmaDirection(dir, what);
  if (!att._sgt || att._sgt !== sgt) {
    throw new KernelError("EINVAL", `${what}: the table is not the live mapping of ${att.dev.name}`);
  }
  if (att._dir !== dir) {
    throw new KernelError(
      "EINVAL",
      `${what}: mapped ${dirName(att._dir)}, unmapped ${dirName(dir)} (${att.dev.name})`,
    );
  }
  unmapInner(att);
}

// ---- CPU access ----

/** @internal the exporter hook, then a promise for the implicit fences (null: nothing to wait) */
function beginCpuAccess(buf: DmaBuf, dir: DmaDataDirection): Promise<void> | null {
  const what = "dma_buf_begin_cpu_access";
  checkLive(buf, what);
  checkDmaDirection(dir, what);
  const st = stateOf(buf);
  if (st.tp.begin.enabled) st.tp.begin.emit({ ino: buf.ino, dir: dirName(dir) });
  buf.ops.beginCpuAccess?.(buf, dir);
  const usage = dmaResvUsageRw(dir === DMA_BIDIRECTIONAL || dir === DMA_TO_DEVICE);
  if (dmaResvTestSignaled(buf.resv, usage)) return null;
  return dmaResvWaitTimeout(buf.resv, usage).then(() => undefined);
}

/**
 * `dma_buf_begin_cpu_access`: the CPU is about to access the buffer in direction `dir`
 * (DMA_FROM_DEVICE: read, DMA_TO_DEVICE: write, DMA_BIDIRECTIONAL: both). The exporter's hook
 * runs at once (the heaps sync every current device mapping for the CPU); then the promise waits
 * for the implicit fences: a write waits for every READ-usage fence (readers and writers), a read
 * for the WRITE-usage ones. What the exporter throws is thrown at once; a bad direction is a
 * `KernelBug`.
 */
export function dmaBufBeginCpuAccess(buf: DmaBuf, dir: DmaDataDirection): Promise<void> {
  return beginCpuAccess(buf, dir) ?? Promise.resolve();
}

/**
 * `dma_buf_end_cpu_access`: the CPU access in direction `dir` is over; the exporter's hook makes
 * CPU writes visible to devices (the heaps sync every current device mapping for the device).
 * What the exporter throws is thrown; a bad direction is a `KernelBug`.
 */
export function dmaBufEndCpuAccess(buf: DmaBuf, dir: DmaDataDirection): void {
  const what = "dma_buf_end_cpu_access";
  checkLive(buf, what);
  checkDmaDirection(dir, what);
  const st = stateOf(buf);
  if (st.tp.end.enabled) st.tp.end.emit({ ino: buf.ino, dir: dirName(dir) });
  buf.ops.endCpuAccess?.(buf, dir);
}

// ---- mmap, vmap ----

function traceMmap(buf: DmaBuf, pgoff: number, length: number): void {
  const tp = stateOf(buf).tp.mmap;
  if (tp.enabled) tp.emit({ ino: buf.ino, pid: buf.kernel.current.pid, pgoff, length });
}

/** The VMA an exporter sees when a driver forwards its mmap (`dma_buf_mmap`). */
class ForwardedVma implements MmapContext {
  readonly file: File;
  readonly length: number;
  readonly prot: number;
  readonly flags: number;
  readonly pgoff: number;
  readonly shared: boolean;
  readonly #inner: MmapContext;
  exporterOps: VmaOps | null = null;

  constructor(inner: MmapContext, buf: DmaBuf, pgoff: number) {
    this.#inner = inner;
    this.file = buf.file;
    this.length = inner.length;
    this.prot = inner.prot;
    this.flags = inner.flags;
    this.pgoff = pgoff;
    this.shared = inner.shared;
  }

  setPages(pfns: ArrayLike<number>, opts?: { readonly refs?: boolean }): void {
    this.#inner.setPages(pfns, opts);
  }

  setPfnRange(pfn: number): void {
    this.#inner.setPfnRange(pfn);
  }

  setMemtype(memtype: Parameters<MmapContext["setMemtype"]>[0]): void {
    this.#inner.setMemtype(memtype);
  }

  setOps(ops: VmaOps): void {
    this.exporterOps = ops;
  }

  setPrivate(data: unknown): void {
    this.#inner.setPrivate(data);
  }

  setName(name: string): void {
    this.#inner.setName(name);
  }
}

/**
 * `dma_buf_mmap`: a driver forwards the mmap of its own file (`vma`) to the buffer, from page
 * `pgoff` of the buffer. The mapping then holds a reference to the buffer (the kernel's
 * `vma_set_file`) until it goes. EINVAL when the exporter has no mmap or the range passes the
 * end of the buffer; EOVERFLOW when `pgoff` + the mapping's pages overflows; or what the
 * exporter throws.
 */
export function dmaBufMmap(buf: DmaBuf, vma: MmapContext, pgoff: number): void {
  const what = "dma_buf_mmap";
  checkLive(buf, what);
  if (!buf.ops.mmap) throw new KernelError("EINVAL", `${what}: ${buf.expName} has no mmap`);
  const pages = vma.length / PAGE_SIZE;
  if (!Number.isSafeInteger(pgoff) || pgoff < 0 || pgoff + pages > 0xffffffff) {
    throw new KernelError("EOVERFLOW", `${what}: pgoff ${String(pgoff)} + ${pages} pages overflows`);
  }
  if (pgoff + pages > Math.floor(buf.size / PAGE_SIZE)) {
    throw new KernelError(
      "EINVAL",
      `${what}: pages [${pgoff}, +${pages}) pass the end of ${buf} (${Math.floor(buf.size / PAGE_SIZE)} pages)`,
    );
  }
  const fwd = new ForwardedVma(vma, buf, pgoff);
  buf.ops.mmap(buf, fwd);
  const exp = fwd.exporterOps;
  buf.file.get();
  vma.setOps({
    open: (v) => {
      buf.file.get();
      exp?.open?.(v);
    },
    close: (v) => {
      exp?.close?.(v);
      buf.file.put();
    },
  });
  traceMmap(buf, pgoff, vma.length);
}

/**
 * `dma_buf_vmap`: maps the whole buffer contiguously in the kernel and returns its address. The
 * mapping is counted: the exporter maps at the first call, and every call returns the same
 * address until as many `dmaBufVunmap`. EINVAL when the exporter has no vmap, or what it throws.
 */
export function dmaBufVmap(buf: DmaBuf): number {
  const what = "dma_buf_vmap";
  checkLive(buf, what);
  if (!buf.ops.vmap) throw new KernelError("EINVAL", `${what}: ${buf.expName} has no vmap`);
  if (buf._vmapCount > 0) {
    buf._vmapCount++;
    return buf._vaddr;
  }
  const kaddr = buf.ops.vmap(buf);
  buf._vaddr = kaddr;
  buf._vmapCount = 1;
  const tp = stateOf(buf).tp.vmap;
  if (tp.enabled) tp.emit({ ino: buf.ino, kaddr });
  return kaddr;
}

/**
 * `dma_buf_vunmap`: drops one vmap user; the last one unmaps. A `KernelBug` (the kernel's BUG_ON)
 * when the buffer is not vmapped or `kaddr` is not its address.
 */
export function dmaBufVunmap(buf: DmaBuf, kaddr: number): void {
  const what = "dma_buf_vunmap";
  checkLive(buf, what);
  if (buf._vmapCount === 0) throw new KernelBug(`${what}: ${buf} is not vmapped`);
  if (kaddr !== buf._vaddr) {
    throw new KernelBug(`${what}: ${hex(kaddr)} is not the vmap address ${hex(buf._vaddr)} of ${buf}`);
  }
  if (--buf._vmapCount > 0) return;
  buf.ops.vunmap?.(buf, kaddr);
  buf._vaddr = 0;
  const tp = stateOf(buf).tp.vunmap;
  if (tp.enabled) tp.emit({ ino: buf.ino, kaddr });
}

// ---- the file: the uapi ----

function bufOf(file: File): DmaBuf {
  return file.privateData as DmaBuf;
}

function dmaBufUserMmap(file: File, ctx: MmapContext): void {
  const buf = bufOf(file);
  if (!buf.ops.mmap) throw new KernelError("EINVAL", `mmap: ${buf.expName} buffers cannot be mapped`);
  const pages = ctx.length / PAGE_SIZE;
  if (ctx.pgoff + pages > Math.floor(buf.size / PAGE_SIZE)) {
    throw new KernelError(
      "EINVAL",
      `mmap: pages [${ctx.pgoff}, +${pages}) pass the end of ${buf} (${Math.floor(buf.size / PAGE_SIZE)} pages)`,
    );
  }
  buf.ops.mmap(buf, ctx);
  traceMmap(buf, ctx.pgoff, ctx.length);
}

function dmaBufPoll(file: File, pt: PollTable | null): number {
  const buf = bufOf(file);
  if (pt) {
    pt.wait(buf._pollWq);
    for (const f of dmaResvGetFences(buf.resv, DMA_RESV_USAGE_READ)) {
      if (buf._pollHooked.has(f)) continue;
      buf._pollHooked.add(f);
      dmaFenceAddCallback(f, () => buf._pollWq.wakeUp());
    }
  }
  let mask = 0;
  if (dmaResvTestSignaled(buf.resv, DMA_RESV_USAGE_WRITE)) mask |= POLLIN;
  if (dmaResvTestSignaled(buf.resv, DMA_RESV_USAGE_READ)) mask |= POLLOUT;
  return mask;
}

function checkSyncFlags(flags: number, what: string): void {
  if (bitsOutside(flags, DMA_BUF_SYNC_RW) || (flags & DMA_BUF_SYNC_RW) === 0) {
    throw new KernelError("EINVAL", `${what}: flags ${hex(flags)} must be READ, WRITE or both`);
  }
}

function ioctlSync(buf: DmaBuf, arg: unknown): number | Promise<number> {
  const what = "DMA_BUF_IOCTL_SYNC";
  const flags = userNumber(userObject(arg, what), "flags", what);
  if (bitsOutside(flags, DMA_BUF_SYNC_VALID_FLAGS_MASK)) {
    throw new KernelError(
      "EINVAL",
      `${what}: flags ${hex(flags)} has bits outside ${hex(DMA_BUF_SYNC_VALID_FLAGS_MASK)}`,
    );
  }
  let dir: DmaDataDirection;
  switch (flags & DMA_BUF_SYNC_RW) {
    case DMA_BUF_SYNC_READ:
      dir = DMA_FROM_DEVICE;
      break;
    case DMA_BUF_SYNC_WRITE:
      dir = DMA_TO_DEVICE;
      break;
    case DMA_BUF_SYNC_RW:
      dir = DMA_BIDIRECTIONAL;
      break;
    default:
      throw new KernelError("EINVAL", `${what}: flags ${hex(flags)} ask for neither READ nor WRITE`);
  }
  if (flags & DMA_BUF_SYNC_END) {
    dmaBufEndCpuAccess(buf, dir);
    return 0;
  }
  const wait = beginCpuAccess(buf, dir);
  return wait ? wait.then(() => 0) : 0;
}

function ioctlSetName(buf: DmaBuf, arg: unknown): number {
  if (typeof arg !== "string") throw new KernelError("EFAULT", "DMA_BUF_SET_NAME: the name is not a string");
  const len = new TextEncoder().encode(arg).length;
  if (len + 1 > DMA_BUF_NAME_LEN) {
    throw new KernelError(
      "EINVAL",
      `DMA_BUF_SET_NAME: name of ${len} bytes does not fit DMA_BUF_NAME_LEN (${DMA_BUF_NAME_LEN}, NUL included)`,
    );
  }
  buf._name = arg;
  return 0;
}

function ioctlExportSyncFile(buf: DmaBuf, arg: unknown): number {
  const what = "DMA_BUF_IOCTL_EXPORT_SYNC_FILE";
  const data = userObject(arg, what);
  const flags = userNumber(data, "flags", what);
  checkSyncFlags(flags, what);
  const proc = currentProcess(buf.kernel);
  if (!proc) throw new KernelError("ESRCH", `${what}: no process is current to receive the fd`);
  if (proc.fds.free < 1) throw new KernelError("EMFILE", `${what}: no free fd`);
  const usage = dmaResvUsageRw((flags & DMA_BUF_SYNC_WRITE) !== 0);
  const fence = dmaResvGetSingleton(buf.resv, usage) ?? dmaFenceGetStub(buf.kernel);
  const sf = syncFileCreate(fence);
  data.fd = proc.fdInstall(sf.file, O_CLOEXEC);
  return 0;
}

function ioctlImportSyncFile(buf: DmaBuf, arg: unknown): number {
  const what = "DMA_BUF_IOCTL_IMPORT_SYNC_FILE";
  const data = userObject(arg, what);
  const flags = userNumber(data, "flags", what);
  const fd = userNumber(data, "fd", what);
  checkSyncFlags(flags, what);
  const fence = syncFileGetFence(buf.kernel, fd);
  if (!fence) throw new KernelError("EINVAL", `${what}: fd ${fd} is not a sync_file`);
  const usage = flags & DMA_BUF_SYNC_WRITE ? DMA_RESV_USAGE_WRITE : DMA_RESV_USAGE_READ;
  const leaves = dmaFenceUnwrap(fence);
  if (leaves.length === 0) return 0;
  dmaResvLock(buf.resv);
  try {
    dmaResvReserveFences(buf.resv, leaves.length);
    for (const f of leaves) dmaResvAddFence(buf.resv, f, usage);
  } finally {
    dmaResvUnlock(buf.resv);
  }
  return 0;
}

/** The file operations of a dma-buf (`dma_buf_fops`): the uapi. */
const DMA_BUF_FOPS: FileOps = Object.freeze({
  release: (file: File) => dmaBufRelease(bufOf(file)),
  mmap: dmaBufUserMmap,
  poll: dmaBufPoll,
  llseek: (file: File, offset: number, whence: number): number => {
    const buf = bufOf(file);
    if (whence !== SEEK_END && whence !== SEEK_SET) {
      throw new KernelError("EINVAL", `lseek: dma-buf supports only SEEK_SET and SEEK_END, not ${whence}`);
    }
    if (offset !== 0) throw new KernelError("EINVAL", `lseek: dma-buf offset ${offset} must be 0`);
    return whence === SEEK_END ? buf.size : 0;
  },
  ioctl: (file: File, cmd: number, arg: unknown): number | Promise<number> => {
    const buf = bufOf(file);
    switch (cmd) {
      case DMA_BUF_IOCTL_SYNC:
        return ioctlSync(buf, arg);
      case DMA_BUF_SET_NAME_A:
      case DMA_BUF_SET_NAME_B:
        return ioctlSetName(buf, arg);
      case DMA_BUF_IOCTL_EXPORT_SYNC_FILE:
        return ioctlExportSyncFile(buf, arg);
      case DMA_BUF_IOCTL_IMPORT_SYNC_FILE:
        return ioctlImportSyncFile(buf, arg);
      default:
        throw new KernelError("ENOTTY", `dma-buf: unknown ioctl ${hex(cmd)}`);
    }
  },
});

// ---- fdinfo, debugfs ----

/**
 * The dma-buf part of `/proc/<pid>/fdinfo/<fd>` (`dma_buf_show_fdinfo`): `size`, `count` (file
 * references), `exp_name`, `name`. EINVAL when `file` is not a dma-buf.
 */
export function dmaBufShowFdinfo(file: File): string {
  const buf = dmaBufFromFile(file);
  if (!buf) throw new KernelError("EINVAL", `fdinfo: ${file.path} is not a dma-buf`);
  return `size:\t${buf.size}\ncount:\t${file.refcount}\nexp_name:\t${buf.expName}\nname:\t${buf._name ?? ""}\n`;
}

/** One live buffer as debugfs shows it. */
export interface DmaBufInfo {
  readonly ino: number;
  readonly size: number;
  readonly expName: string;
  readonly name: string | null;
  /** file references: fds, mappings, kernel users */
  readonly count: number;
  /** file status flags */
  readonly flags: number;
  /** names of the attached devices */
  readonly attachments: readonly string[];
  /** the fences: usage name, driver, timeline, seqno, signalled */
  readonly fences: readonly {
    usage: string;
    driver: string;
    timeline: string;
    seqno: number;
    signaled: boolean;
  }[];
}

const USAGE_NAMES = ["kernel", "write", "read", "bookkeep"];

/** Every live buffer of `kernel` as data (what `dmaBufDebugfsBufinfo` prints); no handles. */
export function dmaBufStats(kernel: Kernel): DmaBufInfo[] {
  return [...dmaBufState(kernel).bufs].map((b) => ({
    ino: b.ino,
    size: b.size,
    expName: b.expName,
    name: b._name,
    count: b.file.refcount,
    flags: b.file.flags,
    attachments: b._attachments.map((a) => a.dev.name),
    fences: [...dmaResvIterFences(b.resv, 3)].map(({ fence, usage }) => ({
      usage: USAGE_NAMES[usage]!,
      driver: fence.ops.getDriverName(fence),
      timeline: fence.ops.getTimelineName(fence),
      seqno: fence.seqno,
      signaled: dmaFenceIsSignaled(fence),
    })),
  }));
}

/** The text of debugfs `dma_buf/bufinfo` (`dma_buf_debug_show`). */
export function dmaBufDebugfsBufinfo(kernel: Kernel): string {
  const p8 = (n: number) => String(n).padStart(8, "0");
  const x8 = (n: number) => n.toString(16).padStart(8, "0");
  let out = "\nDma-buf Objects:\n";
  out += `${"size".padEnd(8)}\t${"flags".padEnd(8)}\t${"mode".padEnd(8)}\t${"count".padEnd(8)}\texp_name\t${"ino".padEnd(8)}\tname\n`;
  let total = 0;
  const infos = dmaBufStats(kernel);
  for (const b of infos) {
    const mode = (b.flags & O_ACCMODE) === 0 ? 1 : (b.flags & O_ACCMODE) === 1 ? 2 : 3;
    out += `${p8(b.size)}\t${x8(b.flags)}\t${x8(mode)}\t${p8(b.count)}\t${b.expName}\t${p8(b.ino)}\t${b.name ?? "<none>"}\n`;
    for (const f of b.fences) {
      out += `\t${f.usage} fence: ${f.driver} ${f.timeline} seq ${f.seqno} ${f.signaled ? "" : "un"}signalled\n`;
    }
    out += "\tAttached Devices:\n";
    for (const a of b.attachments) out += `\t${a}\n`;
    out += `Total ${b.attachments.length} devices attached\n\n`;
    total += b.size;
  }
  out += `\nTotal ${infos.length} objects, ${total} bytes\n`;
  return out;
}
