/**
 * udmabuf (drivers/dma-buf/udmabuf.c): turns pages of memfds that user space already filled into
 * a dma-buf, without a copy. `/dev/udmabuf` takes UDMABUF_CREATE (one memfd range) or
 * UDMABUF_CREATE_LIST (up to 1024 ranges); each memfd must be sealed against shrinking
 * (F_SEAL_SHRINK) and must not be write-sealed, so that its pages can neither go away nor be
 * frozen under a device. The pages are pinned for the buffer's life; the ioctl returns the new
 * dma-buf fd.
 *
 * As upstream, the buffer has no attach op: each mapping builds a one-entry-per-page scatterlist
 * for the importing device. CPU access (DMA_BUF_IOCTL_SYNC) is synced against udmabuf's own misc
 * device, mapped at the first begin_cpu_access, which on this SoC cleans and invalidates the same
 * physical lines any importer reads.
 *
 * @module
 */
import {
  DMA_BIDIRECTIONAL,
  type DmaDataDirection,
  dmaMapSgtable,
  dmaSyncSgtableForCpu,
  dmaSyncSgtableForDevice,
  dmaUnmapSgtable,
  SgTable,
} from "@umm/dma-mapping-arm";
import {
  Device,
  DMA_BIT_MASK,
  deviceRegister,
  type Kernel,
  KernelError,
  PAGE_SIZE,
  SZ_1M,
} from "@umm/kernel-core";
import {
  type Chrdev,
  currentProcess,
  F_GET_SEALS,
  F_SEAL_FUTURE_WRITE,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  type File,
  type FileOps,
  type MemfdPinnedPages,
  type MmapContext,
  memfdFcntl,
  memfdPinPages,
  O_CLOEXEC,
  O_RDWR,
  registerChrdev,
  shmemFile,
} from "@umm/kernel-process";
import { mmOf } from "@umm/mm-core";
import { type DmaBuf, dmaBufExport, dmaBufFd, dmaBufPut } from "./dma-buf.js";
import type { DmaBufOps } from "./ops.js";
import { userNumber, userObject } from "./uaccess.js";
import { UDMABUF_CREATE, UDMABUF_CREATE_LIST, UDMABUF_FLAGS_CLOEXEC } from "./uapi.js";

/** Seals a memfd must have (`SEALS_WANTED`). */
export const UDMABUF_SEALS_WANTED = F_SEAL_SHRINK;
/** Seals a memfd must not have (`SEALS_DENIED`). */
export const UDMABUF_SEALS_DENIED = F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;

/** Options of `udmabufDevInit` (the module parameters). */
export interface UdmabufOpts {
  /** most items of UDMABUF_CREATE_LIST (`list_limit`, default 1024) */
  readonly listLimit?: number;
  /** most MiB one buffer may hold (`size_limit_mb`, default 64) */
  readonly sizeLimitMb?: number;
  /** permission bits of /dev/udmabuf (default 0o660) */
  readonly mode?: number;
}

/** The udmabuf misc device. */
interface UdmabufDev {
  readonly kernel: Kernel;
  /** `udmabuf_misc.this_device`: what CPU-access syncs go through */
  readonly device: Device;
  readonly listLimit: number;
  readonly sizeLimitMb: number;
}

/** `struct udmabuf` */
interface Udmabuf {
  readonly dev: UdmabufDev;
  readonly pfns: Int32Array;
  readonly pins: MemfdPinnedPages[];
  /** the misc device's mapping, made at the first begin_cpu_access */
  sg: SgTable | null;
}

function ubufOf(buf: DmaBuf): Udmabuf {
  return buf.priv as Udmabuf;
}

/** `get_sg_table`: one entry per page, mapped for `dev`. */
function getSgTable(dev: Device, ubuf: Udmabuf, dir: DmaDataDirection): SgTable {
  const sgt = new SgTable(Array.from(ubuf.pfns, (pfn) => ({ pfn, length: PAGE_SIZE })));
  dmaMapSgtable(dev, sgt, dir);
  return sgt;
}

const UDMABUF_OPS: DmaBufOps = Object.freeze({
  mapDmaBuf: (att, dir) => getSgTable(att.dev, ubufOf(att.dmabuf), dir),
  unmapDmaBuf: (att, sgt, dir) => dmaUnmapSgtable(att.dev, sgt, dir),
  release: (buf: DmaBuf) => {
    const ubuf = ubufOf(buf);
    if (ubuf.sg) dmaUnmapSgtable(ubuf.dev.device, ubuf.sg, DMA_BIDIRECTIONAL);
    ubuf.sg = null;
    for (const p of ubuf.pins) p.release();
  },
  mmap: (buf: DmaBuf, vma: MmapContext) => {
    if (!vma.shared) throw new KernelError("EINVAL", "mmap: udmabuf buffers need MAP_SHARED");
    const n = vma.length / PAGE_SIZE;
    // VM_PFNMAP: the pins keep the pages, the mapping takes no references
    vma.setPages(ubufOf(buf).pfns.subarray(vma.pgoff, vma.pgoff + n), { refs: false });
  },
  vmap: (buf: DmaBuf) => mmOf(buf.kernel).kspace.vmap(ubufOf(buf).pfns, "cacheable", "udmabuf"),
  vunmap: (buf: DmaBuf, kaddr: number) => mmOf(buf.kernel).kspace.vunmap(kaddr),
  beginCpuAccess: (buf: DmaBuf, dir) => {
    const ubuf = ubufOf(buf);
    if (!ubuf.sg) ubuf.sg = getSgTable(ubuf.dev.device, ubuf, dir);
    else dmaSyncSgtableForCpu(ubuf.dev.device, ubuf.sg, dir);
  },
  endCpuAccess: (buf: DmaBuf, dir) => {
    const ubuf = ubufOf(buf);
    if (!ubuf.sg) throw new KernelError("EINVAL", "udmabuf: end_cpu_access without a begin_cpu_access first");
    dmaSyncSgtableForDevice(ubuf.dev.device, ubuf.sg, dir);
  },
} satisfies DmaBufOps);

interface CreateItem {
  readonly memfd: number;
  readonly offset: number;
  readonly size: number;
}

const isPageAligned = (v: number) => Number.isSafeInteger(v) && v >= 0 && v % PAGE_SIZE === 0;

/** `check_memfd_seals`: EBADFD for a file that is not a memfd, EINVAL for the wrong seals. */
function checkMemfdSeals(file: File, memfd: number): void {
  if (!shmemFile(file)) throw new KernelError("EBADFD", `udmabuf: fd ${memfd} (${file.path}) is not a memfd`);
  const seals = memfdFcntl(file, F_GET_SEALS);
  if ((seals & UDMABUF_SEALS_WANTED) !== UDMABUF_SEALS_WANTED || (seals & UDMABUF_SEALS_DENIED) !== 0) {
    throw new KernelError(
      "EINVAL",
      `udmabuf: memfd ${memfd} has seals ${seals}: F_SEAL_SHRINK is required, F_SEAL_WRITE and F_SEAL_FUTURE_WRITE are refused`,
    );
  }
}

/** `udmabuf_create`: checks every item, pins every range, exports, returns the fd. */
function udmabufCreate(dev: UdmabufDev, flags: number, list: readonly CreateItem[]): number {
  const what = "udmabuf_create";
  if (flags & ~UDMABUF_FLAGS_CLOEXEC) {
    throw new KernelError("EINVAL", `${what}: flags ${flags} has bits other than UDMABUF_FLAGS_CLOEXEC`);
  }
  const pglimit = (dev.sizeLimitMb * SZ_1M) / PAGE_SIZE;
  let pgcnt = 0;
  for (const [i, it] of list.entries()) {
    if (!isPageAligned(it.offset))
      throw new KernelError("EINVAL", `${what}: item ${i}: offset ${it.offset} is not page-aligned`);
    if (!isPageAligned(it.size))
      throw new KernelError("EINVAL", `${what}: item ${i}: size ${it.size} is not page-aligned`);
    pgcnt += it.size / PAGE_SIZE;
    if (pgcnt > pglimit) {
      throw new KernelError(
        "EINVAL",
        `${what}: ${pgcnt} pages exceed size_limit_mb (${dev.sizeLimitMb} MiB)`,
      );
    }
  }
  if (pgcnt === 0) throw new KernelError("EINVAL", `${what}: a buffer of 0 pages`);
  const proc = currentProcess(dev.kernel);
  if (!proc) throw new KernelError("ESRCH", `${what}: no process is current`);
  const pins: MemfdPinnedPages[] = [];
  try {
    for (const it of list) {
      const file = proc.fds.get(it.memfd);
      if (!file) throw new KernelError("EBADFD", `${what}: memfd ${it.memfd} is not an open fd`);
      checkMemfdSeals(file, it.memfd);
      pins.push(memfdPinPages(file, it.offset / PAGE_SIZE, it.size / PAGE_SIZE));
    }
  } catch (e) {
    for (const p of pins) p.release();
    throw e;
  }
  const pfns = new Int32Array(pgcnt);
  let k = 0;
  for (const p of pins) {
    pfns.set(p.pfns, k);
    k += p.pfns.length;
  }
  const ubuf: Udmabuf = { dev, pfns, pins, sg: null };
  const buf = dmaBufExport(dev.kernel, {
    expName: "udmabuf",
    ops: UDMABUF_OPS,
    size: pgcnt * PAGE_SIZE,
    flags: O_RDWR,
    priv: ubuf,
  });
  try {
    return dmaBufFd(buf, flags & UDMABUF_FLAGS_CLOEXEC ? O_CLOEXEC : 0);
  } catch (e) {
    dmaBufPut(buf);
    throw e;
  }
}

function item(obj: Record<string, unknown>, what: string): CreateItem {
  return {
    memfd: userNumber(obj, "memfd", what) >>> 0,
    offset: userNumber(obj, "offset", what),
    size: userNumber(obj, "size", what),
  };
}

function udmabufIoctl(file: File, cmd: number, arg: unknown): number {
  const dev = file.privateData as UdmabufDev;
  switch (cmd) {
    case UDMABUF_CREATE: {
      const what = "UDMABUF_CREATE";
      const c = userObject(arg, what);
      return udmabufCreate(dev, userNumber(c, "flags", what), [item(c, what)]);
    }
    case UDMABUF_CREATE_LIST: {
      const what = "UDMABUF_CREATE_LIST";
      const head = userObject(arg, what);
      const count = userNumber(head, "count", what) >>> 0;
      if (count > dev.listLimit) {
        throw new KernelError("EINVAL", `${what}: count ${count} exceeds list_limit (${dev.listLimit})`);
      }
      const list = head.list;
      if (!Array.isArray(list) || list.length < count) {
        throw new KernelError("EFAULT", `${what}: the list holds fewer than ${count} items`);
      }
      const items = list.slice(0, count).map((x) => item(userObject(x, what), what));
      return udmabufCreate(dev, userNumber(head, "flags", what), items);
    }
    default:
      throw new KernelError("ENOTTY", `udmabuf: unknown ioctl ${cmd.toString(16)}`);
  }
}

const UDMABUF_FOPS: FileOps = Object.freeze({ ioctl: udmabufIoctl });

/**
 * `udmabuf_dev_init`: registers the misc device "udmabuf" (a direct device with a 32-bit DMA
 * mask, through which CPU-access syncs go) and its node /dev/udmabuf. EEXIST when either exists
 * already; EINVAL for a non-positive limit.
 */
export function udmabufDevInit(kernel: Kernel, opts: UdmabufOpts = {}): Chrdev {
  const listLimit = opts.listLimit ?? 1024;
  const sizeLimitMb = opts.sizeLimitMb ?? 64;
  if (!Number.isInteger(listLimit) || listLimit < 1 || !Number.isInteger(sizeLimitMb) || sizeLimitMb < 1) {
    throw new KernelError(
      "EINVAL",
      `udmabuf: list_limit ${listLimit} and size_limit_mb ${sizeLimitMb} must be >= 1`,
    );
  }
  const device = new Device(kernel, {
    name: "udmabuf",
    dmaMask: DMA_BIT_MASK(32),
    coherentDmaMask: DMA_BIT_MASK(32),
  });
  const dev: UdmabufDev = { kernel, device, listLimit, sizeLimitMb };
  const cdev = registerChrdev(kernel, "/dev/udmabuf", {
    ops: UDMABUF_FOPS,
    mode: opts.mode ?? 0o660,
    privateData: dev,
  });
  try {
    deviceRegister(device);
  } catch (e) {
    cdev.unregister();
    throw e;
  }
  return cdev;
}
