/**
 * The bad-input catalogue: every ioctl and public entry point with each class of bad argument —
 * wrong fd, wrong size field, unaligned, overflow, negative, unknown flags, foreign handle (and
 * zero sizes, non-structs, wrong states where an interface has them). Each entry names the errno
 * the kernel (or the package's documented contract) answers with; `runCatalogue` calls each on a
 * populated testbed and checks the errno and that an exact snapshot of every allocator and
 * reference count is identical before and after.
 *
 * @module
 */
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SET_NAME,
  DMA_BUF_SET_NAME_B,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
  DMA_HEAP_IOCTL_ALLOC,
  dmaBufAttach,
  dmaBufGet,
  dmaBufMapAttachment,
  dmaBufUnmapAttachment,
  SYNC_IOC_FILE_INFO,
  SYNC_IOC_MERGE,
  SYNC_IOC_SET_DEADLINE,
  UDMABUF_CREATE,
  UDMABUF_CREATE_LIST,
} from "@umm/dma-buf";
import {
  armIommuAttachDevice,
  DMA_BIDIRECTIONAL,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  dmaAllocCoherent,
  dmaFreeCoherent,
  dmaMapSingle,
  dmaSetMask,
  dmaSetMaxSegSize,
  dmaSetSegBoundary,
  dmaSyncSingleForCpu,
  dmaUnmapSingle,
  SgTable,
} from "@umm/dma-mapping-arm";
import {
  DRM_IOCTL_GEM_CLOSE,
  DRM_IOCTL_MODE_ADDFB2,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_DESTROY_DUMB,
  DRM_IOCTL_MODE_GETCRTC,
  DRM_IOCTL_MODE_MAP_DUMB,
  DRM_IOCTL_MODE_PAGE_FLIP,
  DRM_IOCTL_MODE_RMFB,
  DRM_IOCTL_MODE_SETCRTC,
  DRM_IOCTL_PRIME_FD_TO_HANDLE,
  DRM_IOCTL_PRIME_HANDLE_TO_FD,
  DRM_IOCTL_SET_MASTER,
} from "@umm/drm-gem";
import { IOMMU_READ, iommuAttachDevice, iommuDetachDevice, iommuDomainFree, iommuMap } from "@umm/iommu-core";
import { type ErrnoName, faultInjectSet, isKernelError, PAGE_SIZE, SZ_1G, SZ_4G } from "@umm/kernel-core";
import { _IOWR, O_RDWR } from "@umm/kernel-process";
import { cmaAlloc, cmaAllocFrom, cmaFree, dmaContiguousDefaultArea } from "@umm/mm-cma";
import { GFP_KERNEL, getUserPages, MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import {
  IOCTL_PMM_ALLOC,
  IOCTL_PMM_SHMGET,
  IPC_STAT,
  PMM_MAGIC,
  PMM_MEM_GENERAL,
  pmmGet,
  pmmPut,
  shmat,
  shmctl,
  shmget,
  upbufBegin,
} from "@umm/pmm";
import {
  UMP_IOC_ALLOCATE,
  UMP_IOC_CACHE_OPERATIONS_CONTROL,
  UMP_IOC_DMABUF_EXPORT,
  UMP_IOC_DMABUF_IMPORT,
  UMP_IOC_GRANT,
  UMP_IOC_LOCK,
  UMP_IOC_MSYNC,
  UMP_IOC_QUERY_API_VERSION,
  UMP_IOC_RELEASE,
  UMP_IOC_REVOKE,
  UMP_IOC_SIZE_GET,
  UMP_IOC_SWITCH_HW_USAGE,
  UMP_IOC_UNLOCK,
  UMP_IOCTL_NR,
  UMP_USED_BY_MALI,
} from "@umm/ump";
import {
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_MEMORY_MMAP,
  VIDIOC_CREATE_BUFS,
  VIDIOC_DQBUF,
  VIDIOC_ENUM_FMT,
  VIDIOC_EXPBUF,
  VIDIOC_G_FMT,
  VIDIOC_PREPARE_BUF,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_QUERYCAP,
  VIDIOC_REMOVE_BUFS,
  VIDIOC_REQBUFS,
  VIDIOC_S_FMT,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  VIDIOC_TRY_FMT,
  v4l2Buffer,
} from "@umm/v4l2-videobuf";
import { addfb, buf, CAP, dmabufBuf, e, msync, ump } from "./catalogue-entry.js";
import { FIELD_ENTRIES } from "./catalogue-fields.js";
import { genericIoctlEntries } from "./catalogue-ioctls.js";
import { KERNEL_ENTRIES } from "./catalogue-kernel.js";
import { captureState, diffStates, type StateDiff } from "./snapshot.js";
import type { Testbed } from "./testbed.js";

/** The classes of bad argument. */
export type BadClass =
  | "wrong fd"
  | "wrong size field"
  | "unaligned"
  | "overflow"
  | "negative"
  | "unknown flags"
  | "foreign handle"
  | "zero"
  | "not a struct"
  | "wrong state";

/** One catalogue entry: an interface, a bad argument, and the errno it must get. */
export interface BadInput {
  /** the ioctl or entry point */
  readonly api: string;
  readonly cls: BadClass;
  /** the bad argument, in words */
  readonly what: string;
  /**
   * What the call must do: throw this errno; "sentinel": return the API's failure value (null,
   * false, 0, DMA_MAPPING_ERROR) where the kernel has one; "accepted": return normally (the
   * kernel ignores the argument, or only WARNs); "KernelBug": the kernel's BUG. In every case
   * nothing may change.
   */
  readonly errno: ErrnoName | "accepted" | "sentinel" | "KernelBug";
  /**
   * "canonical": compare canonical snapshots — for an allocation that fails part way and gives
   * back what it took: the pages return, but the free lists' order differs and pageblocks it
   * stole for its migrate type stay stolen (steal_suitable_fallback), as in the kernel
   */
  readonly compare?: "canonical";
  readonly call: (tb: Testbed) => unknown;
}

const heapReq = (o: Record<string, number> = {}) => ({
  len: PAGE_SIZE,
  fd: 0,
  fd_flags: O_RDWR,
  heap_flags: 0,
  ...o,
});
const pmmInfo = (o: Record<string, number> = {}) => ({
  magic: PMM_MAGIC,
  size: PAGE_SIZE,
  type: PMM_MEM_GENERAL,
  flags: 0,
  alignment: 0,
  ...o,
});
const dumbReq = (o: Record<string, number> = {}) => ({
  height: 32,
  width: 64,
  bpp: 32,
  flags: 0,
  handle: 0,
  pitch: 0,
  size: 0,
  ...o,
});
const reqbufs = (o: Record<string, number> = {}) => ({
  count: 2,
  type: CAP,
  memory: V4L2_MEMORY_MMAP,
  capabilities: 0,
  flags: 0,
  ...o,
});

/** The hand-written entries: argument fields, states, handles, kernel entry points. */
const HAND: readonly BadInput[] = [
  // ---- process system calls (kernel-process) ----
  e("open", "unknown flags", "access mode 3", "EINVAL", (t) => t.a.open("/dev/pmm", 3)),
  e("open", "wrong fd", "a path no device is registered at", "ENOENT", (t) =>
    t.a.open("/dev/nothing", O_RDWR),
  ),
  e("open", "foreign handle", "the 0444 heap node for writing", "EACCES", (t) =>
    t.b.open("/dev/dma_heap/system", O_RDWR),
  ),
  e("close", "wrong fd", "an fd that is not open", "EBADF", (t) => t.a.close(99)),
  e("close", "negative", "fd -1", "EBADF", (t) => t.a.close(-1)),
  e("close", "foreign handle", "another process's fd number", "EBADF", (t) => t.b.close(t.fd.udmabuf)),
  e("dup", "wrong fd", "an fd that is not open", "EBADF", (t) => t.a.dup(77)),
  e("ioctl", "wrong fd", "an fd that is not open", "EBADF", (t) =>
    t.a.ioctl(77, DMA_BUF_IOCTL_SYNC, { flags: 0 }),
  ),
  e("mmap", "wrong fd", "an fd that is not open", "EBADF", (t) =>
    t.a.mmap({ fd: 77, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED }),
  ),
  e("mmap", "zero", "length 0", "EINVAL", (t) =>
    t.a.mmap({ fd: t.fd.sys, length: 0, prot: PROT_READ, flags: MAP_SHARED }),
  ),
  e("mmap", "negative", "length -4096", "EINVAL", (t) =>
    t.a.mmap({ fd: t.fd.sys, length: -PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED }),
  ),
  e("mmap", "unaligned", "offset 100", "EINVAL", (t) =>
    t.a.mmap({ fd: t.fd.sys, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED, offset: 100 }),
  ),
  e("mmap", "unknown flags", "prot 0x80", "EINVAL", (t) =>
    t.a.mmap({ fd: t.fd.sys, length: PAGE_SIZE, prot: 0x80, flags: MAP_SHARED }),
  ),
  e("mmap", "unknown flags", "neither MAP_SHARED nor MAP_PRIVATE", "EINVAL", (t) =>
    t.a.mmap({ fd: t.fd.sys, length: PAGE_SIZE, prot: PROT_READ, flags: 0 }),
  ),
  e("mmap", "overflow", "a dma-buf mapping past its end", "EINVAL", (t) =>
    t.a.mmap({ fd: t.fd.sys, length: 4 * PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED }),
  ),
  e("mmap", "foreign handle", "shared+writable on a read-only file", "EACCES", (t) =>
    t.a.mmap({ fd: t.fd.heapSys, length: PAGE_SIZE, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED }),
  ),
  e("munmap", "unaligned", "address not page-aligned", "EINVAL", (t) => t.a.munmap(t.va.sys + 1, PAGE_SIZE)),
  e("sendmsg", "wrong fd", "an SCM_RIGHTS list with an fd that is not open", "EBADF", (t) =>
    t.a.sendmsg(t.fd.sockPeer, { data: new Uint8Array([1]), fds: [t.fd.cma, 77] }),
  ),
  e("sendmsg", "wrong fd", "a dma-buf fd as the socket", "ENOTSOCK", (t) =>
    t.a.sendmsg(t.fd.sys, { data: new Uint8Array([1]) }),
  ),
  e("recvmsg", "wrong state", "nothing queued", "EAGAIN", (t) => t.a.recvmsg(t.fd.sock)),
  e("read", "wrong fd", "read of a dma-buf (no read op)", "EINVAL", (t) => t.a.read(t.fd.sys, 16)),

  // ---- dma-heap ----
  e("DMA_HEAP_IOCTL_ALLOC", "zero", "len 0", "EINVAL", (t) =>
    t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ len: 0 })),
  ),
  e(
    "DMA_HEAP_IOCTL_ALLOC",
    "negative",
    "len -4096 (4 GiB - 4 KiB as a 32-bit size_t: more than RAM)",
    "ENOMEM",
    (t) => t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ len: -PAGE_SIZE })),
  ),
  e("DMA_HEAP_IOCTL_ALLOC", "overflow", "len 2^53", "EINVAL", (t) =>
    t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ len: 2 ** 53 })),
  ),
  e("DMA_HEAP_IOCTL_ALLOC", "overflow", "len 2 GiB (more than RAM)", "ENOMEM", (t) =>
    t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ len: 2 * SZ_1G })),
  ),
  e("DMA_HEAP_IOCTL_ALLOC", "unknown flags", "fd_flags 0x80000000", "EINVAL", (t) =>
    t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ fd_flags: 0x80000000 })),
  ),
  e("DMA_HEAP_IOCTL_ALLOC", "unknown flags", "heap_flags 1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ heap_flags: 1 })),
  ),
  e("DMA_HEAP_IOCTL_ALLOC", "wrong fd", "fd field not 0 on input", "EINVAL", (t) =>
    t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ fd: 5 })),
  ),
  e("DMA_HEAP_IOCTL_ALLOC", "not a struct", "a string argument", "EFAULT", (t) =>
    t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, "len=4096"),
  ),
  e("DMA_HEAP_IOCTL_ALLOC", "wrong size field", "_IOC_SIZE 0: nothing copied in, len 0", "EINVAL", (t) =>
    t.a.ioctl(t.fd.heapSys, _IOWR("H", 0, 0), heapReq()),
  ),
  e("DMA_HEAP_IOCTL_ALLOC", "wrong fd", "on a dma-buf fd", "ENOTTY", (t) =>
    t.a.ioctl(t.fd.sys, DMA_HEAP_IOCTL_ALLOC, heapReq()),
  ),

  // ---- dma-buf ----
  e("DMA_BUF_IOCTL_SYNC", "unknown flags", "flags 0x100", "EINVAL", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_SYNC, { flags: 0x100 | DMA_BUF_SYNC_WRITE }),
  ),
  e("DMA_BUF_IOCTL_SYNC", "zero", "neither READ nor WRITE", "EINVAL", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END }),
  ),
  e("DMA_BUF_IOCTL_SYNC", "negative", "flags -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_SYNC, { flags: -1 }),
  ),
  e("DMA_BUF_IOCTL_SYNC", "not a struct", "null", "EFAULT", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_SYNC, null),
  ),
  e("DMA_BUF_IOCTL_SYNC", "wrong size field", "_IOC_SIZE 16", "ENOTTY", (t) =>
    t.a.ioctl(t.fd.sys, _IOWR("b", 0, 16), { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE }),
  ),
  e("DMA_BUF_IOCTL_SYNC", "wrong fd", "on a PMM file", "ENOTTY", (t) =>
    t.a.ioctl(t.fd.pmm, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE }),
  ),
  e("DMA_BUF_SET_NAME", "overflow", "a 40-byte name", "EINVAL", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_SET_NAME, "x".repeat(40)),
  ),
  e("DMA_BUF_SET_NAME", "not a struct", "a number instead of a string", "EFAULT", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_SET_NAME, 5),
  ),
  e("DMA_BUF_IOCTL_EXPORT_SYNC_FILE", "unknown flags", "flags 0x10", "EINVAL", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, { flags: 0x10, fd: -1 }),
  ),
  e("DMA_BUF_IOCTL_IMPORT_SYNC_FILE", "wrong fd", "an fd that is not a sync_file", "EINVAL", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, { flags: DMA_BUF_SYNC_WRITE, fd: t.fd.cma }),
  ),
  e("SYNC_IOC_MERGE", "wrong fd", "on a dma-buf", "ENOTTY", (t) =>
    t.a.ioctl(t.fd.sys, SYNC_IOC_MERGE, { name: "x", fd2: t.fd.cma, fence: 0, flags: 0, pad: 0 }),
  ),
  e("dma-buf ioctl", "wrong size field", "an unknown command", "ENOTTY", (t) =>
    t.a.ioctl(t.fd.sys, _IOWR("b", 9, 8), {}),
  ),
  e("dmaBufGet", "wrong fd", "an fd that is not open", "EBADF", (t) =>
    t.machine.kernel.withCurrent(t.a, () => dmaBufGet(t.machine.kernel, 77)),
  ),
  e("dmaBufGet", "wrong fd", "a PMM file", "EINVAL", (t) =>
    t.machine.kernel.withCurrent(t.a, () => dmaBufGet(t.machine.kernel, t.fd.pmm)),
  ),
  e("dmaBufGet", "foreign handle", "another process's fd number", "EBADF", (t) =>
    t.machine.kernel.withCurrent(t.b, () => dmaBufGet(t.machine.kernel, t.fd.udmabuf)),
  ),
  e("dmaBufAttach", "zero", "no device", "EINVAL", (t) => dmaBufAttach(t.dmabuf, null as never)),
  e("dmaBufMapAttachment", "wrong state", "a second mapping of one attachment", "EBUSY", (t) =>
    dmaBufMapAttachment(t.att, DMA_BIDIRECTIONAL),
  ),
  e("dmaBufUnmapAttachment", "foreign handle", "a table that is not the live mapping", "EINVAL", (t) =>
    dmaBufUnmapAttachment(t.att, new SgTable(t.sgt.sgl.map((s) => ({ ...s }))), DMA_BIDIRECTIONAL),
  ),

  // ---- udmabuf ----
  e("UDMABUF_CREATE", "wrong fd", "memfd not open", "EBADFD", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: 77, flags: 0, offset: 0, size: PAGE_SIZE }),
  ),
  e("UDMABUF_CREATE", "wrong fd", "a dma-buf as the memfd", "EBADFD", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: t.fd.sys, flags: 0, offset: 0, size: PAGE_SIZE }),
  ),
  e("UDMABUF_CREATE", "unaligned", "offset 100", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, {
      memfd: t.fd.memfd,
      flags: 0,
      offset: 100,
      size: PAGE_SIZE,
    }),
  ),
  e("UDMABUF_CREATE", "unaligned", "size 100", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: t.fd.memfd, flags: 0, offset: 0, size: 100 }),
  ),
  e("UDMABUF_CREATE", "zero", "size 0", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: t.fd.memfd, flags: 0, offset: 0, size: 0 }),
  ),
  e("UDMABUF_CREATE", "overflow", "a range past the memfd's end", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, {
      memfd: t.fd.memfd,
      flags: 0,
      offset: 2 * PAGE_SIZE,
      size: 4 * PAGE_SIZE,
    }),
  ),
  e("UDMABUF_CREATE", "overflow", "size above the 64 MiB limit", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: t.fd.memfd, flags: 0, offset: 0, size: 128 << 20 }),
  ),
  e("UDMABUF_CREATE", "negative", "offset -4096", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, {
      memfd: t.fd.memfd,
      flags: 0,
      offset: -PAGE_SIZE,
      size: PAGE_SIZE,
    }),
  ),
  e("UDMABUF_CREATE", "unknown flags", "flags 2", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: t.fd.memfd, flags: 2, offset: 0, size: PAGE_SIZE }),
  ),
  e("UDMABUF_CREATE_LIST", "wrong size field", "count 2 with one item", "EFAULT", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE_LIST, {
      flags: 0,
      count: 2,
      list: [{ memfd: t.fd.memfd, offset: 0, size: PAGE_SIZE }],
    }),
  ),
  e("UDMABUF_CREATE_LIST", "zero", "count 0", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE_LIST, { flags: 0, count: 0, list: [] }),
  ),

  // ---- UMP (/dev/ump) ----
  e("UMP_IOC_ALLOCATE", "overflow", "1 GiB (more than the carve-out)", "ENOTTY", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_ALLOCATE, { secure_id: 0, size: SZ_1G, constraints: 0 }),
  ),
  e("UMP_IOC_ALLOCATE", "negative", "size -1", "EINVAL", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_ALLOCATE, { secure_id: 0, size: -1, constraints: 0 }),
  ),
  e("UMP_IOC_ALLOCATE", "overflow", "size 2^32 (not a u32)", "EINVAL", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_ALLOCATE, { secure_id: 0, size: SZ_4G, constraints: 0 }),
  ),
  e("UMP_IOC_ALLOCATE", "not a struct", "null", "ENOTTY", (t) => t.a.ioctl(ump(t), UMP_IOC_ALLOCATE, null)),
  e("UMP_IOC_ALLOCATE", "not a struct", "a number", "EFAULT", (t) => t.a.ioctl(ump(t), UMP_IOC_ALLOCATE, 7)),
  e("UMP_IOC_RELEASE", "foreign handle", "an ID this session does not hold", "ENOTTY", (t) =>
    t.b.ioctl(ump(t, "b"), UMP_IOC_RELEASE, { secure_id: t.umpId }),
  ),
  e("UMP_IOC_SIZE_GET", "foreign handle", "an ID uid 2000 may not import", "EPERM", (t) =>
    t.b.ioctl(ump(t, "b"), UMP_IOC_SIZE_GET, { secure_id: t.umpId, size: 0 }),
  ),
  e("UMP_IOC_SIZE_GET", "wrong fd", "an unknown ID", "EFAULT", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_SIZE_GET, { secure_id: (t.umpId ^ 0x5a5a5a5a) >>> 0, size: 0 }),
  ),
  e("UMP_IOC_MSYNC", "foreign handle", "another uid's buffer", "EPERM", (t) =>
    t.b.ioctl(ump(t, "b"), UMP_IOC_MSYNC, msync(t)),
  ),
  e("UMP_IOC_SWITCH_HW_USAGE", "foreign handle", "another uid's buffer", "EPERM", (t) =>
    t.b.ioctl(ump(t, "b"), UMP_IOC_SWITCH_HW_USAGE, { secure_id: t.umpId, new_user: UMP_USED_BY_MALI }),
  ),
  e("UMP_IOC_LOCK", "foreign handle", "another uid's buffer", "EPERM", (t) =>
    t.b.ioctl(ump(t, "b"), UMP_IOC_LOCK, { secure_id: t.umpId, lock_usage: 1 }),
  ),
  e("UMP_IOC_UNLOCK", "foreign handle", "another uid's buffer", "EPERM", (t) =>
    t.b.ioctl(ump(t, "b"), UMP_IOC_UNLOCK, { secure_id: t.umpId }),
  ),
  e("UMP_IOC_GRANT", "foreign handle", "by a uid that does not own the buffer", "EPERM", (t) =>
    t.b.ioctl(ump(t, "b"), UMP_IOC_GRANT, { secure_id: t.umpId, uid: 2000 }),
  ),
  e("UMP_IOC_GRANT", "wrong fd", "an unknown ID", "ENOENT", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_GRANT, { secure_id: (t.umpId ^ 1) >>> 0, uid: 2000 }),
  ),
  e("UMP_IOC_GRANT", "negative", "uid -1", "EINVAL", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_GRANT, { secure_id: t.umpId, uid: -1 }),
  ),
  e("UMP_IOC_REVOKE", "foreign handle", "by a uid that does not own the buffer", "EPERM", (t) =>
    t.b.ioctl(ump(t, "b"), UMP_IOC_REVOKE, { secure_id: t.umpId, uid: 1000 }),
  ),
  e("UMP_IOC_DMABUF_IMPORT", "wrong fd", "a PMM file", "EINVAL", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_DMABUF_IMPORT, { fd: t.fd.pmm, size: 0, secure_id: 0 }),
  ),
  e("UMP_IOC_DMABUF_IMPORT", "wrong fd", "an fd that is not open", "EBADF", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_DMABUF_IMPORT, { fd: 77, size: 0, secure_id: 0 }),
  ),
  e("UMP_IOC_DMABUF_EXPORT", "foreign handle", "another uid's buffer", "EPERM", (t) =>
    t.b.ioctl(ump(t, "b"), UMP_IOC_DMABUF_EXPORT, { secure_id: t.umpId, flags: 0, fd: 0 }),
  ),
  e("UMP_IOC_DMABUF_EXPORT", "unknown flags", "flags 0x40000000", "EINVAL", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_DMABUF_EXPORT, { secure_id: t.umpId, flags: 0x40000000, fd: 0 }),
  ),
  e("ump ioctl", "wrong size field", "an unknown command", "EFAULT", (t) =>
    t.a.ioctl(ump(t), _IOWR(UMP_IOCTL_NR, 30, 12), {}),
  ),
  e("mmap /dev/ump", "foreign handle", "pgoff = another uid's secure ID", "EPERM", (t) =>
    t.b.mmap({
      fd: ump(t, "b"),
      length: 256 * 1024,
      prot: PROT_READ,
      flags: MAP_SHARED,
      offset: t.umpId * PAGE_SIZE,
    }),
  ),
  e("mmap /dev/ump", "wrong size field", "length other than the buffer's size", "EFAULT", (t) =>
    t.a.mmap({
      fd: ump(t),
      length: PAGE_SIZE,
      prot: PROT_READ,
      flags: MAP_SHARED,
      offset: t.umpId * PAGE_SIZE,
    }),
  ),

  // ---- PMM (/dev/pmm) ----
  e("IOCTL_PMM_ALLOC", "wrong state", "a file that already has an area", "EBADFD", (t) =>
    t.a.ioctl(t.fd.pmm, IOCTL_PMM_ALLOC, pmmInfo()),
  ),
  e("IOCTL_PMM_ALLOC", "wrong size field", "a bad magic", "ENOTTY", (t) =>
    t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, pmmInfo({ magic: 0x12345678 })),
  ),
  e("IOCTL_PMM_ALLOC", "zero", "size 0", "ENOMEM", (t) =>
    t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, pmmInfo({ size: 0 })),
  ),
  e("IOCTL_PMM_ALLOC", "unaligned", "alignment 3 (not a power of two)", "ENOMEM", (t) =>
    t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, pmmInfo({ alignment: 3 })),
  ),
  e("IOCTL_PMM_ALLOC", "overflow", "size 1 GiB", "ENOMEM", (t) =>
    t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, pmmInfo({ size: SZ_1G })),
  ),
  e("IOCTL_PMM_ALLOC", "unknown flags", "type 0x80 (no such pool)", "ENOMEM", (t) =>
    t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, pmmInfo({ type: 0x80 })),
  ),
  e("IOCTL_PMM_ALLOC", "not a struct", "null", "EINVAL", (t) => t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, null)),
  e("IOCTL_PMM_ALLOC", "not a struct", "a string", "EFAULT", (t) =>
    t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, "size"),
  ),
  e("IOCTL_PMM_SHMGET", "wrong state", "a file without an area", "EBADFD", (t) =>
    t.b.ioctl(t.fd.bPmm, IOCTL_PMM_SHMGET, { magic: PMM_MAGIC, key: 0x42, shmflg: 0o644 }),
  ),
  e("mmap /dev/pmm", "wrong state", "a file without an area", "EBADFD", (t) =>
    t.b.mmap({ fd: t.fd.bPmm, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED }),
  ),
  e("mmap /dev/pmm", "overflow", "past the area", "ENOSPC", (t) =>
    t.a.mmap({ fd: t.fd.pmm, length: 3 * PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED }),
  ),
  e("pmm ioctl", "wrong size field", "an unknown command", "ENOTTY", (t) =>
    t.a.ioctl(t.fd.pmm, _IOWR("p", 9, 20), pmmInfo()),
  ),
  e("pmmGet", "foreign handle", "an address that is not an area start", "ENOENT", (t) =>
    pmmGet(t.machine.kernel, 0x40001000),
  ),
  e("pmmPut", "foreign handle", "an address that is not an area start", "ENOENT", (t) =>
    pmmPut(t.machine.kernel, 0x40001000),
  ),
  e("upbufBegin", "zero", "size 0", "EINVAL", (t) => upbufBegin(t.a, t.va.pmm, 0)),
  e("upbufBegin", "negative", "size -4096", "EINVAL", (t) => upbufBegin(t.a, t.va.pmm, -PAGE_SIZE)),
  e("upbufBegin", "unknown flags", "flags 0x10000", "EINVAL", (t) =>
    upbufBegin(t.a, t.va.pmm, PAGE_SIZE, 0x10000),
  ),
  e("upbufBegin", "wrong fd", "an unmapped user address", "EFAULT", (t) =>
    upbufBegin(t.a, 0x1000, PAGE_SIZE),
  ),
  e("upbufBegin", "foreign handle", "another process's mapping address", "EFAULT", (t) =>
    upbufBegin(t.b, t.va.pmm, PAGE_SIZE),
  ),
  e("shmget", "wrong fd", "an unknown key", "ENOENT", (t) => shmget(t.b, 0x4242, PAGE_SIZE, 0)),
  e("shmat", "wrong fd", "a bad segment id", "EINVAL", (t) => shmat(t.b, 12345)),
  e("shmctl", "wrong fd", "a bad segment id", "EINVAL", (t) => shmctl(t.b, 12345, IPC_STAT)),

  // ---- V4L2 (the capture node; a owns the queue) ----
  e("VIDIOC_REQBUFS", "unknown flags", "buffer type 99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_REQBUFS, reqbufs({ type: 99 })),
  ),
  e("VIDIOC_REQBUFS", "unknown flags", "memory 7", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_REQBUFS, reqbufs({ memory: 7 })),
  ),
  e("VIDIOC_REQBUFS", "wrong fd", "an output type on a capture node", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_REQBUFS, reqbufs({ type: V4L2_BUF_TYPE_VIDEO_OUTPUT })),
  ),
  e("VIDIOC_REQBUFS", "foreign handle", "from a file that does not own the queue", "EBUSY", (t) =>
    t.b.ioctl(t.fd.bVideo, VIDIOC_REQBUFS, reqbufs()),
  ),
  e("VIDIOC_QUERYBUF", "overflow", "index 5 of 2", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_QUERYBUF, buf({ index: 5 })),
  ),
  e("VIDIOC_QUERYBUF", "negative", "index -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_QUERYBUF, buf({ index: -1 })),
  ),
  e("VIDIOC_QBUF", "wrong state", "a buffer already queued", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_QBUF, buf({ index: 0 })),
  ),
  e("VIDIOC_QBUF", "overflow", "index 2 of 2", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_QBUF, buf({ index: 2 })),
  ),
  e("VIDIOC_QBUF", "wrong fd", "DMABUF memory on an MMAP queue", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_QBUF, dmabufBuf(t.fd.cma, { index: 1 })),
  ),
  e("VIDIOC_QBUF", "foreign handle", "from a file that does not own the queue", "EBUSY", (t) =>
    t.b.ioctl(t.fd.bVideo, VIDIOC_QBUF, buf()),
  ),
  e("VIDIOC_QBUF", "not a struct", "a number", "EFAULT", (t) => t.a.ioctl(t.fd.video, VIDIOC_QBUF, 3)),
  e("VIDIOC_QBUF", "wrong size field", "_IOC_SIZE 10", "ENOTTY", (t) =>
    t.a.ioctl(t.fd.video, _IOWR("V", 15, 10), buf()),
  ),
  e("VIDIOC_DQBUF", "wrong state", "not streaming", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: V4L2_MEMORY_MMAP })),
  ),
  e("VIDIOC_EXPBUF", "overflow", "index 9", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_EXPBUF, { type: CAP, index: 9, plane: 0, flags: O_RDWR, fd: 0 }),
  ),
  e("VIDIOC_EXPBUF", "unknown flags", "flags 0x4", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_EXPBUF, {
      type: CAP,
      index: 1,
      plane: 0,
      flags: 0x4 | O_RDWR | 0x8000000,
      fd: 0,
    }),
  ),
  e("VIDIOC_EXPBUF", "overflow", "plane 3 of 1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_EXPBUF, { type: CAP, index: 1, plane: 3, flags: O_RDWR, fd: 0 }),
  ),
  e("VIDIOC_STREAMON", "unknown flags", "buffer type 99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_STREAMON, 99),
  ),
  e("VIDIOC_STREAMON", "foreign handle", "from a file that does not own the queue", "EBUSY", (t) =>
    t.b.ioctl(t.fd.bVideo, VIDIOC_STREAMON, CAP),
  ),
  e("VIDIOC_STREAMOFF", "foreign handle", "from a file that does not own the queue", "EBUSY", (t) =>
    t.b.ioctl(t.fd.bVideo, VIDIOC_STREAMOFF, CAP),
  ),
  e("VIDIOC_S_FMT", "wrong state", "with buffers allocated", "EBUSY", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_S_FMT, {
      type: CAP,
      fmt: {
        pix: { width: 32, height: 32, pixelformat: 0x59455247, field: 1, bytesperline: 0, sizeimage: 0 },
      },
    }),
  ),
  e("mmap /dev/video", "unaligned", "an offset cookie of no buffer", "EINVAL", (t) =>
    t.a.mmap({ fd: t.fd.video, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED, offset: 7 << 15 }),
  ),
  e("video ioctl", "wrong size field", "an unknown command", "ENOTTY", (t) =>
    t.a.ioctl(t.fd.video, _IOWR("V", 250, 8), {}),
  ),

  e("VIDIOC_QUERYCAP", "not a struct", "a number", "EFAULT", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_QUERYCAP, 1),
  ),
  e("VIDIOC_ENUM_FMT", "overflow", "index 99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_ENUM_FMT, {
      index: 99,
      type: CAP,
      flags: 0,
      description: "",
      pixelformat: 0,
      mbus_code: 0,
    }),
  ),
  e("VIDIOC_ENUM_FMT", "negative", "index -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_ENUM_FMT, {
      index: -1,
      type: CAP,
      flags: 0,
      description: "",
      pixelformat: 0,
      mbus_code: 0,
    }),
  ),
  e("VIDIOC_G_FMT", "unknown flags", "buffer type 99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_G_FMT, { type: 99 }),
  ),
  e("VIDIOC_TRY_FMT", "wrong fd", "an output type on a capture node", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_TRY_FMT, {
      type: V4L2_BUF_TYPE_VIDEO_OUTPUT,
      fmt: { pix: { width: 64, height: 32, pixelformat: 0, field: 1, bytesperline: 0, sizeimage: 0 } },
    }),
  ),
  e("VIDIOC_CREATE_BUFS", "unknown flags", "memory 7", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_CREATE_BUFS, {
      index: 0,
      count: 1,
      memory: 7,
      format: { type: CAP },
      capabilities: 0,
      flags: 0,
      max_num_buffers: 0,
    }),
  ),
  e("VIDIOC_CREATE_BUFS", "foreign handle", "from a file that does not own the queue", "EBUSY", (t) =>
    t.b.ioctl(t.fd.bVideo, VIDIOC_CREATE_BUFS, {
      index: 0,
      count: 1,
      memory: V4L2_MEMORY_MMAP,
      format: { type: CAP },
      capabilities: 0,
      flags: 0,
      max_num_buffers: 0,
    }),
  ),
  e("VIDIOC_PREPARE_BUF", "wrong state", "a queued buffer", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_PREPARE_BUF, buf({ index: 0 })),
  ),
  e("VIDIOC_PREPARE_BUF", "overflow", "index 31", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_PREPARE_BUF, buf({ index: 31 })),
  ),
  e("VIDIOC_REMOVE_BUFS", "wrong state", "a queued buffer", "EBUSY", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_REMOVE_BUFS, { index: 0, count: 1, type: CAP }),
  ),
  e("VIDIOC_REMOVE_BUFS", "overflow", "a range past the last buffer", "EINVAL", (t) =>
    t.a.ioctl(t.fd.video, VIDIOC_REMOVE_BUFS, { index: 1, count: 40, type: CAP }),
  ),

  // ---- DRM (a is the master of the card, with a dumb buffer and a framebuffer) ----
  e("DRM_IOCTL_MODE_CREATE_DUMB", "zero", "width 0", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_CREATE_DUMB, dumbReq({ width: 0 })),
  ),
  e("DRM_IOCTL_MODE_CREATE_DUMB", "overflow", "65536 × 65536 × 32 bpp (32-bit overflow)", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_CREATE_DUMB, dumbReq({ height: 65536, width: 65536 })),
  ),
  e("DRM_IOCTL_MODE_CREATE_DUMB", "negative", "width -1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_CREATE_DUMB, dumbReq({ width: -1 })),
  ),
  e("DRM_IOCTL_MODE_CREATE_DUMB", "not a struct", "null", "EFAULT", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_CREATE_DUMB, null),
  ),
  e("DRM_IOCTL_MODE_MAP_DUMB", "foreign handle", "a handle of another file", "ENOENT", (t) =>
    t.b.ioctl(t.fd.bCard, DRM_IOCTL_MODE_MAP_DUMB, { handle: t.dumb.handle, pad: 0, offset: 0 }),
  ),
  e("DRM_IOCTL_MODE_DESTROY_DUMB", "foreign handle", "a handle of another file", "EINVAL", (t) =>
    t.b.ioctl(t.fd.bCard, DRM_IOCTL_MODE_DESTROY_DUMB, { handle: t.dumb.handle }),
  ),
  e("DRM_IOCTL_GEM_CLOSE", "wrong fd", "handle 99", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_GEM_CLOSE, { handle: 99, pad: 0 }),
  ),
  e("DRM_IOCTL_PRIME_FD_TO_HANDLE", "wrong fd", "an fd that is not open", "EBADF", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_PRIME_FD_TO_HANDLE, { fd: 77, flags: 0, handle: 0 }),
  ),
  e("DRM_IOCTL_PRIME_FD_TO_HANDLE", "wrong fd", "a PMM file", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_PRIME_FD_TO_HANDLE, { fd: t.fd.pmm, flags: 0, handle: 0 }),
  ),
  e("DRM_IOCTL_PRIME_HANDLE_TO_FD", "foreign handle", "a handle of another file", "ENOENT", (t) =>
    t.b.ioctl(t.fd.bCard, DRM_IOCTL_PRIME_HANDLE_TO_FD, { handle: t.dumb.handle, flags: 0, fd: -1 }),
  ),
  e("DRM_IOCTL_PRIME_HANDLE_TO_FD", "unknown flags", "flags 0x4", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_PRIME_HANDLE_TO_FD, { handle: t.dumb.handle, flags: 0x4, fd: -1 }),
  ),
  e("DRM_IOCTL_MODE_ADDFB2", "unknown flags", "an unknown pixel format", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_ADDFB2, addfb(t, { pixel_format: 0x12345678 })),
  ),
  e("DRM_IOCTL_MODE_ADDFB2", "wrong size field", "a pitch below width × cpp", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_ADDFB2, addfb(t, { pitches: [100] })),
  ),
  e("DRM_IOCTL_MODE_ADDFB2", "overflow", "a plane past its object", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_ADDFB2, addfb(t, { height: 64 })),
  ),
  e("DRM_IOCTL_MODE_ADDFB2", "foreign handle", "a handle of another file", "ENOENT", (t) =>
    t.b.ioctl(t.fd.bCard, DRM_IOCTL_MODE_ADDFB2, addfb(t)),
  ),
  e("DRM_IOCTL_MODE_RMFB", "foreign handle", "a framebuffer another file made", "ENOENT", (t) =>
    t.b.ioctl(t.fd.bCard, DRM_IOCTL_MODE_RMFB, t.dumb.fb),
  ),
  e("DRM_IOCTL_MODE_SETCRTC", "foreign handle", "by a client that is not the master", "EACCES", (t) =>
    t.b.ioctl(t.fd.bCard, DRM_IOCTL_MODE_SETCRTC, {
      crtc_id: t.drm.crtc.id,
      fb_id: 0,
      x: 0,
      y: 0,
      mode_valid: 0,
    }),
  ),
  e("DRM_IOCTL_MODE_SETCRTC", "wrong fd", "an unknown CRTC id", "ENOENT", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_SETCRTC, { crtc_id: 9999, fb_id: 0, x: 0, y: 0, mode_valid: 0 }),
  ),
  e("DRM_IOCTL_MODE_PAGE_FLIP", "wrong state", "the CRTC is off", "EBUSY", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_PAGE_FLIP, { crtc_id: t.drm.crtc.id, fb_id: t.dumb.fb, flags: 0 }),
  ),
  e("DRM_IOCTL_MODE_PAGE_FLIP", "unknown flags", "flags 0x80000", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_PAGE_FLIP, {
      crtc_id: t.drm.crtc.id,
      fb_id: t.dumb.fb,
      flags: 0x80000,
    }),
  ),
  e("DRM_IOCTL_MODE_GETCRTC", "wrong fd", "an unknown CRTC id", "ENOENT", (t) =>
    t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_GETCRTC, { crtc_id: 9999, fb_id: 0, x: 0, y: 0, mode_valid: 0 }),
  ),
  e("DRM_IOCTL_SET_MASTER", "foreign handle", "by a client that never was the master", "EACCES", (t) =>
    t.b.ioctl(t.fd.bCard, DRM_IOCTL_SET_MASTER),
  ),
  e("mmap /dev/dri/card", "foreign handle", "another file's object offset", "EACCES", (t) =>
    t.b.mmap({ fd: t.fd.bCard, length: 8192, prot: PROT_READ, flags: MAP_SHARED, offset: t.dumb.offset }),
  ),
  e("drm ioctl", "wrong size field", "a number DRM does not serve", "EINVAL", (t) =>
    t.a.ioctl(t.fd.card, _IOWR("d", 0xfe, 8), {}),
  ),

  // ---- sync_file, the remaining dma-buf and UMP ioctls ----
  e("SYNC_IOC_MERGE", "wrong fd", "fd2 that is not a sync_file", "ENOENT", (t) =>
    t.a.ioctl(t.fd.syncFile, SYNC_IOC_MERGE, { name: "m", fd2: t.fd.cma, fence: -1, flags: 0, pad: 0 }),
  ),
  e("SYNC_IOC_MERGE", "unknown flags", "flags 1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.syncFile, SYNC_IOC_MERGE, {
      name: "m",
      fd2: t.fd.syncFile,
      fence: -1,
      flags: 1,
      pad: 0,
    }),
  ),
  e("SYNC_IOC_FILE_INFO", "unknown flags", "flags 1", "EINVAL", (t) =>
    t.a.ioctl(t.fd.syncFile, SYNC_IOC_FILE_INFO, {
      name: "",
      status: 0,
      flags: 1,
      num_fences: 0,
      pad: 0,
      sync_fence_info: [],
    }),
  ),
  e("SYNC_IOC_SET_DEADLINE", "wrong size field", "pad set", "EINVAL", (t) =>
    t.a.ioctl(t.fd.syncFile, SYNC_IOC_SET_DEADLINE, { deadline_ns: 1, pad: 1 }),
  ),
  e("DMA_BUF_SET_NAME_B", "overflow", "a 40-byte name", "EINVAL", (t) =>
    t.a.ioctl(t.fd.sys, DMA_BUF_SET_NAME_B, "y".repeat(40)),
  ),
  e("UDMABUF_CREATE", "wrong state", "a memfd without F_SEAL_SHRINK", "EINVAL", (t) =>
    t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, {
      memfd: t.fd.memfdUnsealed,
      flags: 0,
      offset: 0,
      size: PAGE_SIZE,
    }),
  ),
  e("UMP_IOC_QUERY_API_VERSION", "not a struct", "a number", "EFAULT", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_QUERY_API_VERSION, 1),
  ),
  e("UMP_IOC_CACHE_OPERATIONS_CONTROL", "not a struct", "a number", "EFAULT", (t) =>
    t.a.ioctl(ump(t), UMP_IOC_CACHE_OPERATIONS_CONTROL, 1),
  ),

  // ---- kernel entry points: mm-core, mm-cma ----
  e("allocPages", "overflow", "order 11", "EINVAL", (t) => t.machine.mm.buddy.allocPages(11, GFP_KERNEL)),
  e("allocPages", "negative", "order -1", "EINVAL", (t) => t.machine.mm.buddy.allocPages(-1, GFP_KERNEL)),
  e("allocPages", "unaligned", "order 1.5", "EINVAL", (t) => t.machine.mm.buddy.allocPages(1.5, GFP_KERNEL)),
  e("getUserPages", "wrong fd", "an unmapped range", "EFAULT", (t) =>
    getUserPages(t.a.space, 0x1000, PAGE_SIZE),
  ),
  e("cmaAlloc (2010)", "zero", "size 0", "EINVAL", (t) => cmaAlloc(t.coherent.dev, null, 0, PAGE_SIZE)),
  e("cmaAlloc (2010)", "unaligned", "alignment 3 bytes", "EINVAL", (t) =>
    cmaAlloc(t.coherent.dev, null, PAGE_SIZE, 3),
  ),
  e("cmaAlloc (2010)", "overflow", "more than every region", "ENOMEM", (t) =>
    cmaAlloc(t.coherent.dev, null, SZ_1G, PAGE_SIZE),
  ),
  e("cmaAlloc (merged)", "negative", "count -1", "EINVAL", (t) =>
    cmaAlloc(dmaContiguousDefaultArea(t.machine.kernel)!, -1, 0),
  ),
  e("cmaAlloc (merged)", "overflow", "align order 31", "EINVAL", (t) =>
    cmaAlloc(dmaContiguousDefaultArea(t.machine.kernel)!, 1, 31),
  ),
  e("cmaFree", "foreign handle", "an address that is not a chunk start", "ENOENT", (t) =>
    cmaFree(t.machine.kernel, 0x4e001000),
  ),
  e(
    "cmaAllocFrom",
    "wrong fd",
    "a region list naming no region (every listed region failed)",
    "ENOMEM",
    (t) => cmaAllocFrom(t.machine.kernel, "nosuch", PAGE_SIZE, PAGE_SIZE),
  ),

  // ---- iommu-core ----
  e("iommuMap", "unaligned", "iova 0x...100", "EINVAL", (t) =>
    iommuMap(t.machine.iommuMapping("rotator")!.domain, 0x30000100, 0x40000000, PAGE_SIZE, IOMMU_READ),
  ),
  e("iommuMap", "unaligned", "paddr not page-aligned", "EINVAL", (t) =>
    iommuMap(t.machine.iommuMapping("rotator")!.domain, 0x30000000, 0x40000010, PAGE_SIZE, IOMMU_READ),
  ),
  e("iommuMap", "zero", "size 0", "EINVAL", (t) =>
    iommuMap(t.machine.iommuMapping("rotator")!.domain, 0x30000000, 0x40000000, 0, IOMMU_READ),
  ),
  e("iommuMap", "negative", "size -4096", "EINVAL", (t) =>
    iommuMap(t.machine.iommuMapping("rotator")!.domain, 0x30000000, 0x40000000, -PAGE_SIZE, IOMMU_READ),
  ),
  e("iommuMap", "overflow", "a range past 4 GiB", "EINVAL", (t) =>
    iommuMap(t.machine.iommuMapping("rotator")!.domain, 0xfffff000, 0x40000000, 2 * PAGE_SIZE, IOMMU_READ),
  ),
  e("iommuMap", "foreign handle", "over a live attachment's mapping", "EADDRINUSE", (t) =>
    iommuMap(
      t.machine.iommuMapping("rotator")!.domain,
      t.sgt.sgl[0]!.dmaAddress,
      0x40000000,
      PAGE_SIZE,
      IOMMU_READ,
    ),
  ),
  e("iommuAttachDevice", "foreign handle", "another master's domain while attached", "EBUSY", (t) =>
    iommuAttachDevice(t.machine.iommuMapping("rotator")!.domain, t.machine.devices.get("jpeg")!),
  ),
  e("iommuDetachDevice", "foreign handle", "a domain the master is not attached to", "EINVAL", (t) =>
    iommuDetachDevice(t.machine.iommuMapping("jpeg")!.domain, t.machine.devices.get("rotator")!),
  ),
  e("iommuDomainFree", "wrong state", "a domain a master is attached to", "EBUSY", (t) =>
    iommuDomainFree(t.machine.iommuMapping("rotator")!.domain),
  ),

  // ---- dma-mapping-arm ----
  e("dmaMapSingle", "zero", "size 0", "EINVAL", (t) =>
    dmaMapSingle(t.coherent.dev, 0xc0001000, 0, DMA_TO_DEVICE),
  ),
  e("dmaMapSingle", "wrong fd", "a kernel address outside the linear map", "EINVAL", (t) =>
    dmaMapSingle(t.coherent.dev, 0x1000, PAGE_SIZE, DMA_TO_DEVICE),
  ),
  e("dmaUnmapSingle", "foreign handle", "a bus address that is not a live mapping", "EINVAL", (t) =>
    dmaUnmapSingle(t.coherent.dev, 0x3ff00000, PAGE_SIZE, DMA_TO_DEVICE),
  ),
  e("dmaSyncSingleForCpu", "foreign handle", "a bus address that is not a live mapping", "EINVAL", (t) =>
    dmaSyncSingleForCpu(t.coherent.dev, 0x3ff00000, PAGE_SIZE, DMA_TO_DEVICE),
  ),
  e("dmaFreeCoherent", "wrong size field", "size other than the buffer's", "EINVAL", (t) =>
    dmaFreeCoherent(t.coherent.dev, PAGE_SIZE, t.coherent.cpuAddr, t.coherent.dmaAddr),
  ),
  e("dmaFreeCoherent", "foreign handle", "another device's buffer", "EINVAL", (t) =>
    dmaFreeCoherent(t.machine.devices.get("jpeg")!, t.coherent.size, t.coherent.cpuAddr, t.coherent.dmaAddr),
  ),
  e("dmaAllocCoherent", "negative", "size -4096", "EINVAL", (t) =>
    dmaAllocCoherent(t.coherent.dev, -PAGE_SIZE),
  ),
  e("dmaSetMask", "wrong size field", "a mask that is not a number", "EINVAL", (t) =>
    dmaSetMask(t.coherent.dev, "x" as never),
  ),
  e("dmaSetMaxSegSize", "overflow", "2^32", "EINVAL", (t) => dmaSetMaxSegSize(t.coherent.dev, SZ_4G)),
  e("dmaSetSegBoundary", "unaligned", "a boundary that is not 2^n − 1", "EINVAL", (t) =>
    dmaSetSegBoundary(t.coherent.dev, 0x1234),
  ),
  e("armIommuAttachDevice", "wrong state", "a master attached elsewhere", "EBUSY", (t) =>
    armIommuAttachDevice(t.coherent.dev, t.machine.iommuMapping("jpeg")!),
  ),

  // ---- the machine, the fault-injection switch, device ports ----
  e("Machine.dmaPort", "wrong fd", "a device the board does not have", "ENODEV", (t) =>
    t.machine.dmaPort("nosuch"),
  ),
  e("Machine.dmaPort", "overflow", "port 3 of rotator's one", "ENXIO", (t) =>
    t.machine.dmaPort("rotator", 3),
  ),
  e("faultInjectSet", "overflow", "probability 101", "EINVAL", (t) =>
    faultInjectSet(t.machine.kernel, "page", { probability: 101 }),
  ),
  e("faultInjectSet", "negative", "failNth -1", "EINVAL", (t) =>
    faultInjectSet(t.machine.kernel, "cma", { failNth: -1 }),
  ),
  e("DmaPort.write", "foreign handle", "D.V of another master's mapping", "EFAULT", (t) =>
    t.machine.dmaPort("jpeg").write(t.sgt.sgl[0]!.dmaAddress, new Uint8Array([1])),
  ),
  e("DmaPort.read", "overflow", "past the end of a live mapping", "EFAULT", (t) =>
    t.machine.dmaPort("rotator").read(t.sgt.sgl[0]!.dmaAddress + 3 * PAGE_SIZE, new Uint8Array(4)),
  ),
];

/** The catalogue: the hand-written entries, then those generated for every ioctl. */
export const CATALOGUE: readonly BadInput[] = [
  ...HAND,
  ...FIELD_ENTRIES,
  ...KERNEL_ENTRIES,
  ...genericIoctlEntries(),
];

/** What one catalogue entry did. */
export interface CatalogueResult {
  readonly entry: BadInput;
  /** the errno it got, or "returned <value>", or "threw <name>: <message>" */
  readonly got: string;
  /** what changed (empty when nothing did) */
  readonly diffs: readonly StateDiff[];
  readonly ok: boolean;
}

/** Runs every entry on `tb` (see the module comment); the testbed's state carries over (it must not change). */
export function runCatalogue(tb: Testbed, entries: readonly BadInput[] = CATALOGUE): CatalogueResult[] {
  const out: CatalogueResult[] = [];
  const snap = () => captureState(tb.machine, { extra: tb.extra });
  const canon = () => captureState(tb.machine, { mode: "canonical", extra: tb.extra });
  let before = snap();
  const basePfn = tb.machine.mm.frames.basePfn;
  for (const entry of entries) {
    const beforeCanon = entry.compare === "canonical" ? canon() : null;
    let got: string;
    let sentinel = false;
    try {
      const r = entry.call(tb);
      sentinel = r === null || r === false || r === 0 || r === DMA_MAPPING_ERROR;
      got = `returned ${typeof r === "object" && r !== null ? r.constructor.name : String(r)}`;
    } catch (e) {
      got = isKernelError(e) ? e.errno : `threw ${(e as Error).name}: ${(e as Error).message}`;
    }
    const after = snap();
    const diffs = beforeCanon
      ? diffStates(beforeCanon, canon(), basePfn)
      : diffStates(before, after, basePfn);
    const want =
      entry.errno === "accepted"
        ? got.startsWith("returned ")
        : entry.errno === "sentinel"
          ? sentinel
          : entry.errno === "KernelBug"
            ? got.startsWith("threw KernelBug")
            : got === entry.errno;
    out.push({ entry, got, diffs, ok: want && diffs.length === 0 });
    before = after;
  }
  return out;
}
