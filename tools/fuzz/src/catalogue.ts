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
  DRM_FORMAT_XRGB8888,
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
  UMP_MSYNC_CLEAN,
  UMP_USED_BY_MALI,
  umpDeviceFd,
} from "@umm/ump";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_MEMORY_DMABUF,
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

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;
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
const reqbufs = (o: Record<string, number> = {}) => ({
  count: 2,
  type: CAP,
  memory: V4L2_MEMORY_MMAP,
  capabilities: 0,
  flags: 0,
  ...o,
});
const ump = (tb: Testbed, p: "a" | "b" = "a") => umpDeviceFd(tb[p]);

/** The hand-written entries: argument fields, states, handles, kernel entry points. */
const HAND: readonly BadInput[] = [
  // ---- process system calls (kernel-process) ----
  {
    api: "open",
    cls: "unknown flags",
    what: "access mode 3",
    errno: "EINVAL",
    call: (t) => t.a.open("/dev/pmm", 3),
  },
  {
    api: "open",
    cls: "wrong fd",
    what: "a path no device is registered at",
    errno: "ENOENT",
    call: (t) => t.a.open("/dev/nothing", O_RDWR),
  },
  {
    api: "open",
    cls: "foreign handle",
    what: "the 0444 heap node for writing",
    errno: "EACCES",
    call: (t) => t.b.open("/dev/dma_heap/system", O_RDWR),
  },
  {
    api: "close",
    cls: "wrong fd",
    what: "an fd that is not open",
    errno: "EBADF",
    call: (t) => t.a.close(99),
  },
  { api: "close", cls: "negative", what: "fd -1", errno: "EBADF", call: (t) => t.a.close(-1) },
  {
    api: "close",
    cls: "foreign handle",
    what: "another process's fd number",
    errno: "EBADF",
    call: (t) => t.b.close(t.fd.udmabuf),
  },
  { api: "dup", cls: "wrong fd", what: "an fd that is not open", errno: "EBADF", call: (t) => t.a.dup(77) },
  {
    api: "ioctl",
    cls: "wrong fd",
    what: "an fd that is not open",
    errno: "EBADF",
    call: (t) => t.a.ioctl(77, DMA_BUF_IOCTL_SYNC, { flags: 0 }),
  },
  {
    api: "mmap",
    cls: "wrong fd",
    what: "an fd that is not open",
    errno: "EBADF",
    call: (t) => t.a.mmap({ fd: 77, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED }),
  },
  {
    api: "mmap",
    cls: "zero",
    what: "length 0",
    errno: "EINVAL",
    call: (t) => t.a.mmap({ fd: t.fd.sys, length: 0, prot: PROT_READ, flags: MAP_SHARED }),
  },
  {
    api: "mmap",
    cls: "negative",
    what: "length -4096",
    errno: "EINVAL",
    call: (t) => t.a.mmap({ fd: t.fd.sys, length: -PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED }),
  },
  {
    api: "mmap",
    cls: "unaligned",
    what: "offset 100",
    errno: "EINVAL",
    call: (t) =>
      t.a.mmap({ fd: t.fd.sys, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED, offset: 100 }),
  },
  {
    api: "mmap",
    cls: "unknown flags",
    what: "prot 0x80",
    errno: "EINVAL",
    call: (t) => t.a.mmap({ fd: t.fd.sys, length: PAGE_SIZE, prot: 0x80, flags: MAP_SHARED }),
  },
  {
    api: "mmap",
    cls: "unknown flags",
    what: "neither MAP_SHARED nor MAP_PRIVATE",
    errno: "EINVAL",
    call: (t) => t.a.mmap({ fd: t.fd.sys, length: PAGE_SIZE, prot: PROT_READ, flags: 0 }),
  },
  {
    api: "mmap",
    cls: "overflow",
    what: "a dma-buf mapping past its end",
    errno: "EINVAL",
    call: (t) => t.a.mmap({ fd: t.fd.sys, length: 4 * PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED }),
  },
  {
    api: "mmap",
    cls: "foreign handle",
    what: "shared+writable on a read-only file",
    errno: "EACCES",
    call: (t) =>
      t.a.mmap({ fd: t.fd.heapSys, length: PAGE_SIZE, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED }),
  },
  {
    api: "munmap",
    cls: "unaligned",
    what: "address not page-aligned",
    errno: "EINVAL",
    call: (t) => t.a.munmap(t.va.sys + 1, PAGE_SIZE),
  },
  {
    api: "sendmsg",
    cls: "wrong fd",
    what: "an SCM_RIGHTS list with an fd that is not open",
    errno: "EBADF",
    call: (t) => t.a.sendmsg(t.fd.sockPeer, { data: new Uint8Array([1]), fds: [t.fd.cma, 77] }),
  },
  {
    api: "sendmsg",
    cls: "wrong fd",
    what: "a dma-buf fd as the socket",
    errno: "ENOTSOCK",
    call: (t) => t.a.sendmsg(t.fd.sys, { data: new Uint8Array([1]) }),
  },
  {
    api: "recvmsg",
    cls: "wrong state",
    what: "nothing queued",
    errno: "EAGAIN",
    call: (t) => t.a.recvmsg(t.fd.sock),
  },
  {
    api: "read",
    cls: "wrong fd",
    what: "read of a dma-buf (no read op)",
    errno: "EINVAL",
    call: (t) => t.a.read(t.fd.sys, 16),
  },

  // ---- dma-heap ----
  {
    api: "DMA_HEAP_IOCTL_ALLOC",
    cls: "zero",
    what: "len 0",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ len: 0 })),
  },
  {
    api: "DMA_HEAP_IOCTL_ALLOC",
    cls: "negative",
    what: "len -4096 (4 GiB - 4 KiB as a 32-bit size_t: more than RAM)",
    errno: "ENOMEM",
    call: (t) => t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ len: -PAGE_SIZE })),
  },
  {
    api: "DMA_HEAP_IOCTL_ALLOC",
    cls: "overflow",
    what: "len 2^53",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ len: 2 ** 53 })),
  },
  {
    api: "DMA_HEAP_IOCTL_ALLOC",
    cls: "overflow",
    what: "len 2 GiB (more than RAM)",
    errno: "ENOMEM",
    call: (t) => t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ len: 2 * SZ_1G })),
  },
  {
    api: "DMA_HEAP_IOCTL_ALLOC",
    cls: "unknown flags",
    what: "fd_flags 0x80000000",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ fd_flags: 0x80000000 })),
  },
  {
    api: "DMA_HEAP_IOCTL_ALLOC",
    cls: "unknown flags",
    what: "heap_flags 1",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ heap_flags: 1 })),
  },
  {
    api: "DMA_HEAP_IOCTL_ALLOC",
    cls: "wrong fd",
    what: "fd field not 0 on input",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, heapReq({ fd: 5 })),
  },
  {
    api: "DMA_HEAP_IOCTL_ALLOC",
    cls: "not a struct",
    what: "a string argument",
    errno: "EFAULT",
    call: (t) => t.a.ioctl(t.fd.heapSys, DMA_HEAP_IOCTL_ALLOC, "len=4096"),
  },
  {
    api: "DMA_HEAP_IOCTL_ALLOC",
    cls: "wrong size field",
    what: "_IOC_SIZE 0: nothing copied in, len 0",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.heapSys, _IOWR("H", 0, 0), heapReq()),
  },
  {
    api: "DMA_HEAP_IOCTL_ALLOC",
    cls: "wrong fd",
    what: "on a dma-buf fd",
    errno: "ENOTTY",
    call: (t) => t.a.ioctl(t.fd.sys, DMA_HEAP_IOCTL_ALLOC, heapReq()),
  },

  // ---- dma-buf ----
  {
    api: "DMA_BUF_IOCTL_SYNC",
    cls: "unknown flags",
    what: "flags 0x100",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_SYNC, { flags: 0x100 | DMA_BUF_SYNC_WRITE }),
  },
  {
    api: "DMA_BUF_IOCTL_SYNC",
    cls: "zero",
    what: "neither READ nor WRITE",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END }),
  },
  {
    api: "DMA_BUF_IOCTL_SYNC",
    cls: "negative",
    what: "flags -1",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_SYNC, { flags: -1 }),
  },
  {
    api: "DMA_BUF_IOCTL_SYNC",
    cls: "not a struct",
    what: "null",
    errno: "EFAULT",
    call: (t) => t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_SYNC, null),
  },
  {
    api: "DMA_BUF_IOCTL_SYNC",
    cls: "wrong size field",
    what: "_IOC_SIZE 16",
    errno: "ENOTTY",
    call: (t) => t.a.ioctl(t.fd.sys, _IOWR("b", 0, 16), { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE }),
  },
  {
    api: "DMA_BUF_IOCTL_SYNC",
    cls: "wrong fd",
    what: "on a PMM file",
    errno: "ENOTTY",
    call: (t) => t.a.ioctl(t.fd.pmm, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE }),
  },
  {
    api: "DMA_BUF_SET_NAME",
    cls: "overflow",
    what: "a 40-byte name",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.sys, DMA_BUF_SET_NAME, "x".repeat(40)),
  },
  {
    api: "DMA_BUF_SET_NAME",
    cls: "not a struct",
    what: "a number instead of a string",
    errno: "EFAULT",
    call: (t) => t.a.ioctl(t.fd.sys, DMA_BUF_SET_NAME, 5),
  },
  {
    api: "DMA_BUF_IOCTL_EXPORT_SYNC_FILE",
    cls: "unknown flags",
    what: "flags 0x10",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, { flags: 0x10, fd: -1 }),
  },
  {
    api: "DMA_BUF_IOCTL_IMPORT_SYNC_FILE",
    cls: "wrong fd",
    what: "an fd that is not a sync_file",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.sys, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, { flags: DMA_BUF_SYNC_WRITE, fd: t.fd.cma }),
  },
  {
    api: "SYNC_IOC_MERGE",
    cls: "wrong fd",
    what: "on a dma-buf",
    errno: "ENOTTY",
    call: (t) =>
      t.a.ioctl(t.fd.sys, SYNC_IOC_MERGE, { name: "x", fd2: t.fd.cma, fence: 0, flags: 0, pad: 0 }),
  },
  {
    api: "dma-buf ioctl",
    cls: "wrong size field",
    what: "an unknown command",
    errno: "ENOTTY",
    call: (t) => t.a.ioctl(t.fd.sys, _IOWR("b", 9, 8), {}),
  },
  {
    api: "dmaBufGet",
    cls: "wrong fd",
    what: "an fd that is not open",
    errno: "EBADF",
    call: (t) => t.machine.kernel.withCurrent(t.a, () => dmaBufGet(t.machine.kernel, 77)),
  },
  {
    api: "dmaBufGet",
    cls: "wrong fd",
    what: "a PMM file",
    errno: "EINVAL",
    call: (t) => t.machine.kernel.withCurrent(t.a, () => dmaBufGet(t.machine.kernel, t.fd.pmm)),
  },
  {
    api: "dmaBufGet",
    cls: "foreign handle",
    what: "another process's fd number",
    errno: "EBADF",
    call: (t) => t.machine.kernel.withCurrent(t.b, () => dmaBufGet(t.machine.kernel, t.fd.udmabuf)),
  },
  {
    api: "dmaBufAttach",
    cls: "zero",
    what: "no device",
    errno: "EINVAL",
    call: (t) => dmaBufAttach(t.dmabuf, null as never),
  },
  {
    api: "dmaBufMapAttachment",
    cls: "wrong state",
    what: "a second mapping of one attachment",
    errno: "EBUSY",
    call: (t) => dmaBufMapAttachment(t.att, DMA_BIDIRECTIONAL),
  },
  {
    api: "dmaBufUnmapAttachment",
    cls: "foreign handle",
    what: "a table that is not the live mapping",
    errno: "EINVAL",
    call: (t) =>
      dmaBufUnmapAttachment(t.att, new SgTable(t.sgt.sgl.map((s) => ({ ...s }))), DMA_BIDIRECTIONAL),
  },

  // ---- udmabuf ----
  {
    api: "UDMABUF_CREATE",
    cls: "wrong fd",
    what: "memfd not open",
    errno: "EBADFD",
    call: (t) =>
      t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: 77, flags: 0, offset: 0, size: PAGE_SIZE }),
  },
  {
    api: "UDMABUF_CREATE",
    cls: "wrong fd",
    what: "a dma-buf as the memfd",
    errno: "EBADFD",
    call: (t) =>
      t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: t.fd.sys, flags: 0, offset: 0, size: PAGE_SIZE }),
  },
  {
    api: "UDMABUF_CREATE",
    cls: "unaligned",
    what: "offset 100",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, {
        memfd: t.fd.memfd,
        flags: 0,
        offset: 100,
        size: PAGE_SIZE,
      }),
  },
  {
    api: "UDMABUF_CREATE",
    cls: "unaligned",
    what: "size 100",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: t.fd.memfd, flags: 0, offset: 0, size: 100 }),
  },
  {
    api: "UDMABUF_CREATE",
    cls: "zero",
    what: "size 0",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: t.fd.memfd, flags: 0, offset: 0, size: 0 }),
  },
  {
    api: "UDMABUF_CREATE",
    cls: "overflow",
    what: "a range past the memfd's end",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, {
        memfd: t.fd.memfd,
        flags: 0,
        offset: 2 * PAGE_SIZE,
        size: 4 * PAGE_SIZE,
      }),
  },
  {
    api: "UDMABUF_CREATE",
    cls: "overflow",
    what: "size above the 64 MiB limit",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: t.fd.memfd, flags: 0, offset: 0, size: 128 << 20 }),
  },
  {
    api: "UDMABUF_CREATE",
    cls: "negative",
    what: "offset -4096",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, {
        memfd: t.fd.memfd,
        flags: 0,
        offset: -PAGE_SIZE,
        size: PAGE_SIZE,
      }),
  },
  {
    api: "UDMABUF_CREATE",
    cls: "unknown flags",
    what: "flags 2",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, { memfd: t.fd.memfd, flags: 2, offset: 0, size: PAGE_SIZE }),
  },
  {
    api: "UDMABUF_CREATE_LIST",
    cls: "wrong size field",
    what: "count 2 with one item",
    errno: "EFAULT",
    call: (t) =>
      t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE_LIST, {
        flags: 0,
        count: 2,
        list: [{ memfd: t.fd.memfd, offset: 0, size: PAGE_SIZE }],
      }),
  },
  {
    api: "UDMABUF_CREATE_LIST",
    cls: "zero",
    what: "count 0",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE_LIST, { flags: 0, count: 0, list: [] }),
  },

  // ---- UMP (/dev/ump) ----
  {
    api: "UMP_IOC_ALLOCATE",
    cls: "overflow",
    what: "1 GiB (more than the carve-out)",
    errno: "ENOTTY",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_ALLOCATE, { secure_id: 0, size: SZ_1G, constraints: 0 }),
  },
  {
    api: "UMP_IOC_ALLOCATE",
    cls: "negative",
    what: "size -1",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_ALLOCATE, { secure_id: 0, size: -1, constraints: 0 }),
  },
  {
    api: "UMP_IOC_ALLOCATE",
    cls: "overflow",
    what: "size 2^32 (not a u32)",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_ALLOCATE, { secure_id: 0, size: SZ_4G, constraints: 0 }),
  },
  {
    api: "UMP_IOC_ALLOCATE",
    cls: "not a struct",
    what: "null",
    errno: "ENOTTY",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_ALLOCATE, null),
  },
  {
    api: "UMP_IOC_ALLOCATE",
    cls: "not a struct",
    what: "a number",
    errno: "EFAULT",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_ALLOCATE, 7),
  },
  {
    api: "UMP_IOC_RELEASE",
    cls: "foreign handle",
    what: "an ID this session does not hold",
    errno: "ENOTTY",
    call: (t) => t.b.ioctl(ump(t, "b"), UMP_IOC_RELEASE, { secure_id: t.umpId }),
  },
  {
    api: "UMP_IOC_SIZE_GET",
    cls: "foreign handle",
    what: "an ID uid 2000 may not import",
    errno: "EPERM",
    call: (t) => t.b.ioctl(ump(t, "b"), UMP_IOC_SIZE_GET, { secure_id: t.umpId, size: 0 }),
  },
  {
    api: "UMP_IOC_SIZE_GET",
    cls: "wrong fd",
    what: "an unknown ID",
    errno: "EFAULT",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_SIZE_GET, { secure_id: (t.umpId ^ 0x5a5a5a5a) >>> 0, size: 0 }),
  },
  {
    api: "UMP_IOC_MSYNC",
    cls: "foreign handle",
    what: "another uid's buffer",
    errno: "EPERM",
    call: (t) =>
      t.b.ioctl(ump(t, "b"), UMP_IOC_MSYNC, {
        mapping: 0,
        address: 0,
        size: PAGE_SIZE,
        op: UMP_MSYNC_CLEAN,
        cookie: 0,
        secure_id: t.umpId,
        is_cached: 0,
      }),
  },
  {
    api: "UMP_IOC_SWITCH_HW_USAGE",
    cls: "foreign handle",
    what: "another uid's buffer",
    errno: "EPERM",
    call: (t) =>
      t.b.ioctl(ump(t, "b"), UMP_IOC_SWITCH_HW_USAGE, { secure_id: t.umpId, new_user: UMP_USED_BY_MALI }),
  },
  {
    api: "UMP_IOC_LOCK",
    cls: "foreign handle",
    what: "another uid's buffer",
    errno: "EPERM",
    call: (t) => t.b.ioctl(ump(t, "b"), UMP_IOC_LOCK, { secure_id: t.umpId, lock_usage: 1 }),
  },
  {
    api: "UMP_IOC_UNLOCK",
    cls: "foreign handle",
    what: "another uid's buffer",
    errno: "EPERM",
    call: (t) => t.b.ioctl(ump(t, "b"), UMP_IOC_UNLOCK, { secure_id: t.umpId }),
  },
  {
    api: "UMP_IOC_GRANT",
    cls: "foreign handle",
    what: "by a uid that does not own the buffer",
    errno: "EPERM",
    call: (t) => t.b.ioctl(ump(t, "b"), UMP_IOC_GRANT, { secure_id: t.umpId, uid: 2000 }),
  },
  {
    api: "UMP_IOC_GRANT",
    cls: "wrong fd",
    what: "an unknown ID",
    errno: "ENOENT",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_GRANT, { secure_id: (t.umpId ^ 1) >>> 0, uid: 2000 }),
  },
  {
    api: "UMP_IOC_GRANT",
    cls: "negative",
    what: "uid -1",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_GRANT, { secure_id: t.umpId, uid: -1 }),
  },
  {
    api: "UMP_IOC_REVOKE",
    cls: "foreign handle",
    what: "by a uid that does not own the buffer",
    errno: "EPERM",
    call: (t) => t.b.ioctl(ump(t, "b"), UMP_IOC_REVOKE, { secure_id: t.umpId, uid: 1000 }),
  },
  {
    api: "UMP_IOC_DMABUF_IMPORT",
    cls: "wrong fd",
    what: "a PMM file",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_DMABUF_IMPORT, { fd: t.fd.pmm, size: 0, secure_id: 0 }),
  },
  {
    api: "UMP_IOC_DMABUF_IMPORT",
    cls: "wrong fd",
    what: "an fd that is not open",
    errno: "EBADF",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_DMABUF_IMPORT, { fd: 77, size: 0, secure_id: 0 }),
  },
  {
    api: "UMP_IOC_DMABUF_EXPORT",
    cls: "foreign handle",
    what: "another uid's buffer",
    errno: "EPERM",
    call: (t) => t.b.ioctl(ump(t, "b"), UMP_IOC_DMABUF_EXPORT, { secure_id: t.umpId, flags: 0, fd: 0 }),
  },
  {
    api: "UMP_IOC_DMABUF_EXPORT",
    cls: "unknown flags",
    what: "flags 0x40000000",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_DMABUF_EXPORT, { secure_id: t.umpId, flags: 0x40000000, fd: 0 }),
  },
  {
    api: "ump ioctl",
    cls: "wrong size field",
    what: "an unknown command",
    errno: "EFAULT",
    call: (t) => t.a.ioctl(ump(t), _IOWR(UMP_IOCTL_NR, 30, 12), {}),
  },
  {
    api: "mmap /dev/ump",
    cls: "foreign handle",
    what: "pgoff = another uid's secure ID",
    errno: "EPERM",
    call: (t) =>
      t.b.mmap({
        fd: ump(t, "b"),
        length: 256 * 1024,
        prot: PROT_READ,
        flags: MAP_SHARED,
        offset: t.umpId * PAGE_SIZE,
      }),
  },
  {
    api: "mmap /dev/ump",
    cls: "wrong size field",
    what: "length other than the buffer's size",
    errno: "EFAULT",
    call: (t) =>
      t.a.mmap({
        fd: ump(t),
        length: PAGE_SIZE,
        prot: PROT_READ,
        flags: MAP_SHARED,
        offset: t.umpId * PAGE_SIZE,
      }),
  },

  // ---- PMM (/dev/pmm) ----
  {
    api: "IOCTL_PMM_ALLOC",
    cls: "wrong state",
    what: "a file that already has an area",
    errno: "EBADFD",
    call: (t) => t.a.ioctl(t.fd.pmm, IOCTL_PMM_ALLOC, pmmInfo()),
  },
  {
    api: "IOCTL_PMM_ALLOC",
    cls: "wrong size field",
    what: "a bad magic",
    errno: "ENOTTY",
    call: (t) => t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, pmmInfo({ magic: 0x12345678 })),
  },
  {
    api: "IOCTL_PMM_ALLOC",
    cls: "zero",
    what: "size 0",
    errno: "ENOMEM",
    call: (t) => t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, pmmInfo({ size: 0 })),
  },
  {
    api: "IOCTL_PMM_ALLOC",
    cls: "unaligned",
    what: "alignment 3 (not a power of two)",
    errno: "ENOMEM",
    call: (t) => t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, pmmInfo({ alignment: 3 })),
  },
  {
    api: "IOCTL_PMM_ALLOC",
    cls: "overflow",
    what: "size 1 GiB",
    errno: "ENOMEM",
    call: (t) => t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, pmmInfo({ size: SZ_1G })),
  },
  {
    api: "IOCTL_PMM_ALLOC",
    cls: "unknown flags",
    what: "type 0x80 (no such pool)",
    errno: "ENOMEM",
    call: (t) => t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, pmmInfo({ type: 0x80 })),
  },
  {
    api: "IOCTL_PMM_ALLOC",
    cls: "not a struct",
    what: "null",
    errno: "EINVAL",
    call: (t) => t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, null),
  },
  {
    api: "IOCTL_PMM_ALLOC",
    cls: "not a struct",
    what: "a string",
    errno: "EFAULT",
    call: (t) => t.b.ioctl(t.fd.bPmm, IOCTL_PMM_ALLOC, "size"),
  },
  {
    api: "IOCTL_PMM_SHMGET",
    cls: "wrong state",
    what: "a file without an area",
    errno: "EBADFD",
    call: (t) => t.b.ioctl(t.fd.bPmm, IOCTL_PMM_SHMGET, { magic: PMM_MAGIC, key: 0x42, shmflg: 0o644 }),
  },
  {
    api: "mmap /dev/pmm",
    cls: "wrong state",
    what: "a file without an area",
    errno: "EBADFD",
    call: (t) => t.b.mmap({ fd: t.fd.bPmm, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED }),
  },
  {
    api: "mmap /dev/pmm",
    cls: "overflow",
    what: "past the area",
    errno: "ENOSPC",
    call: (t) => t.a.mmap({ fd: t.fd.pmm, length: 3 * PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED }),
  },
  {
    api: "pmm ioctl",
    cls: "wrong size field",
    what: "an unknown command",
    errno: "ENOTTY",
    call: (t) => t.a.ioctl(t.fd.pmm, _IOWR("p", 9, 20), pmmInfo()),
  },
  {
    api: "pmmGet",
    cls: "foreign handle",
    what: "an address that is not an area start",
    errno: "ENOENT",
    call: (t) => pmmGet(t.machine.kernel, 0x40001000),
  },
  {
    api: "pmmPut",
    cls: "foreign handle",
    what: "an address that is not an area start",
    errno: "ENOENT",
    call: (t) => pmmPut(t.machine.kernel, 0x40001000),
  },
  {
    api: "upbufBegin",
    cls: "zero",
    what: "size 0",
    errno: "EINVAL",
    call: (t) => upbufBegin(t.a, t.va.pmm, 0),
  },
  {
    api: "upbufBegin",
    cls: "negative",
    what: "size -4096",
    errno: "EINVAL",
    call: (t) => upbufBegin(t.a, t.va.pmm, -PAGE_SIZE),
  },
  {
    api: "upbufBegin",
    cls: "unknown flags",
    what: "flags 0x10000",
    errno: "EINVAL",
    call: (t) => upbufBegin(t.a, t.va.pmm, PAGE_SIZE, 0x10000),
  },
  {
    api: "upbufBegin",
    cls: "wrong fd",
    what: "an unmapped user address",
    errno: "EFAULT",
    call: (t) => upbufBegin(t.a, 0x1000, PAGE_SIZE),
  },
  {
    api: "upbufBegin",
    cls: "foreign handle",
    what: "another process's mapping address",
    errno: "EFAULT",
    call: (t) => upbufBegin(t.b, t.va.pmm, PAGE_SIZE),
  },
  {
    api: "shmget",
    cls: "wrong fd",
    what: "an unknown key",
    errno: "ENOENT",
    call: (t) => shmget(t.b, 0x4242, PAGE_SIZE, 0),
  },
  {
    api: "shmat",
    cls: "wrong fd",
    what: "a bad segment id",
    errno: "EINVAL",
    call: (t) => shmat(t.b, 12345),
  },
  {
    api: "shmctl",
    cls: "wrong fd",
    what: "a bad segment id",
    errno: "EINVAL",
    call: (t) => shmctl(t.b, 12345, IPC_STAT),
  },

  // ---- V4L2 (the capture node; a owns the queue) ----
  {
    api: "VIDIOC_REQBUFS",
    cls: "unknown flags",
    what: "buffer type 99",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.video, VIDIOC_REQBUFS, reqbufs({ type: 99 })),
  },
  {
    api: "VIDIOC_REQBUFS",
    cls: "unknown flags",
    what: "memory 7",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.video, VIDIOC_REQBUFS, reqbufs({ memory: 7 })),
  },
  {
    api: "VIDIOC_REQBUFS",
    cls: "wrong fd",
    what: "an output type on a capture node",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.video, VIDIOC_REQBUFS, reqbufs({ type: V4L2_BUF_TYPE_VIDEO_OUTPUT })),
  },
  {
    api: "VIDIOC_REQBUFS",
    cls: "foreign handle",
    what: "from a file that does not own the queue",
    errno: "EBUSY",
    call: (t) => t.b.ioctl(t.fd.bVideo, VIDIOC_REQBUFS, reqbufs()),
  },
  {
    api: "VIDIOC_QUERYBUF",
    cls: "overflow",
    what: "index 5 of 2",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.video, VIDIOC_QUERYBUF, v4l2Buffer({ index: 5, type: CAP, memory: V4L2_MEMORY_MMAP })),
  },
  {
    api: "VIDIOC_QUERYBUF",
    cls: "negative",
    what: "index -1",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.video, VIDIOC_QUERYBUF, v4l2Buffer({ index: -1, type: CAP, memory: V4L2_MEMORY_MMAP })),
  },
  {
    api: "VIDIOC_QBUF",
    cls: "wrong state",
    what: "a buffer already queued",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.video, VIDIOC_QBUF, v4l2Buffer({ index: 0, type: CAP, memory: V4L2_MEMORY_MMAP })),
  },
  {
    api: "VIDIOC_QBUF",
    cls: "overflow",
    what: "index 2 of 2",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.video, VIDIOC_QBUF, v4l2Buffer({ index: 2, type: CAP, memory: V4L2_MEMORY_MMAP })),
  },
  {
    api: "VIDIOC_QBUF",
    cls: "wrong fd",
    what: "DMABUF memory on an MMAP queue",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(
        t.fd.video,
        VIDIOC_QBUF,
        v4l2Buffer({ index: 1, type: CAP, memory: V4L2_MEMORY_DMABUF, m: { fd: t.fd.cma } }),
      ),
  },
  {
    api: "VIDIOC_QBUF",
    cls: "foreign handle",
    what: "from a file that does not own the queue",
    errno: "EBUSY",
    call: (t) =>
      t.b.ioctl(t.fd.bVideo, VIDIOC_QBUF, v4l2Buffer({ index: 1, type: CAP, memory: V4L2_MEMORY_MMAP })),
  },
  {
    api: "VIDIOC_QBUF",
    cls: "not a struct",
    what: "a number",
    errno: "EFAULT",
    call: (t) => t.a.ioctl(t.fd.video, VIDIOC_QBUF, 3),
  },
  {
    api: "VIDIOC_QBUF",
    cls: "wrong size field",
    what: "_IOC_SIZE 10",
    errno: "ENOTTY",
    call: (t) =>
      t.a.ioctl(
        t.fd.video,
        _IOWR("V", 15, 10),
        v4l2Buffer({ index: 1, type: CAP, memory: V4L2_MEMORY_MMAP }),
      ),
  },
  {
    api: "VIDIOC_DQBUF",
    cls: "wrong state",
    what: "not streaming",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.video, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: V4L2_MEMORY_MMAP })),
  },
  {
    api: "VIDIOC_EXPBUF",
    cls: "overflow",
    what: "index 9",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.video, VIDIOC_EXPBUF, { type: CAP, index: 9, plane: 0, flags: O_RDWR, fd: 0 }),
  },
  {
    api: "VIDIOC_EXPBUF",
    cls: "unknown flags",
    what: "flags 0x4",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.video, VIDIOC_EXPBUF, {
        type: CAP,
        index: 1,
        plane: 0,
        flags: 0x4 | O_RDWR | 0x8000000,
        fd: 0,
      }),
  },
  {
    api: "VIDIOC_EXPBUF",
    cls: "overflow",
    what: "plane 3 of 1",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.video, VIDIOC_EXPBUF, { type: CAP, index: 1, plane: 3, flags: O_RDWR, fd: 0 }),
  },
  {
    api: "VIDIOC_STREAMON",
    cls: "unknown flags",
    what: "buffer type 99",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.video, VIDIOC_STREAMON, 99),
  },
  {
    api: "VIDIOC_STREAMON",
    cls: "foreign handle",
    what: "from a file that does not own the queue",
    errno: "EBUSY",
    call: (t) => t.b.ioctl(t.fd.bVideo, VIDIOC_STREAMON, CAP),
  },
  {
    api: "VIDIOC_STREAMOFF",
    cls: "foreign handle",
    what: "from a file that does not own the queue",
    errno: "EBUSY",
    call: (t) => t.b.ioctl(t.fd.bVideo, VIDIOC_STREAMOFF, CAP),
  },
  {
    api: "VIDIOC_S_FMT",
    cls: "wrong state",
    what: "with buffers allocated",
    errno: "EBUSY",
    call: (t) =>
      t.a.ioctl(t.fd.video, VIDIOC_S_FMT, {
        type: CAP,
        fmt: {
          pix: { width: 32, height: 32, pixelformat: 0x59455247, field: 1, bytesperline: 0, sizeimage: 0 },
        },
      }),
  },
  {
    api: "mmap /dev/video",
    cls: "unaligned",
    what: "an offset cookie of no buffer",
    errno: "EINVAL",
    call: (t) =>
      t.a.mmap({ fd: t.fd.video, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED, offset: 7 << 15 }),
  },
  {
    api: "video ioctl",
    cls: "wrong size field",
    what: "an unknown command",
    errno: "ENOTTY",
    call: (t) => t.a.ioctl(t.fd.video, _IOWR("V", 250, 8), {}),
  },

  {
    api: "VIDIOC_QUERYCAP",
    cls: "not a struct",
    what: "a number",
    errno: "EFAULT",
    call: (t) => t.a.ioctl(t.fd.video, VIDIOC_QUERYCAP, 1),
  },
  {
    api: "VIDIOC_ENUM_FMT",
    cls: "overflow",
    what: "index 99",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.video, VIDIOC_ENUM_FMT, {
        index: 99,
        type: CAP,
        flags: 0,
        description: "",
        pixelformat: 0,
        mbus_code: 0,
      }),
  },
  {
    api: "VIDIOC_ENUM_FMT",
    cls: "negative",
    what: "index -1",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.video, VIDIOC_ENUM_FMT, {
        index: -1,
        type: CAP,
        flags: 0,
        description: "",
        pixelformat: 0,
        mbus_code: 0,
      }),
  },
  {
    api: "VIDIOC_G_FMT",
    cls: "unknown flags",
    what: "buffer type 99",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.video, VIDIOC_G_FMT, { type: 99 }),
  },
  {
    api: "VIDIOC_TRY_FMT",
    cls: "wrong fd",
    what: "an output type on a capture node",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.video, VIDIOC_TRY_FMT, {
        type: V4L2_BUF_TYPE_VIDEO_OUTPUT,
        fmt: { pix: { width: 64, height: 32, pixelformat: 0, field: 1, bytesperline: 0, sizeimage: 0 } },
      }),
  },
  {
    api: "VIDIOC_CREATE_BUFS",
    cls: "unknown flags",
    what: "memory 7",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.video, VIDIOC_CREATE_BUFS, {
        index: 0,
        count: 1,
        memory: 7,
        format: { type: CAP },
        capabilities: 0,
        flags: 0,
        max_num_buffers: 0,
      }),
  },
  {
    api: "VIDIOC_CREATE_BUFS",
    cls: "foreign handle",
    what: "from a file that does not own the queue",
    errno: "EBUSY",
    call: (t) =>
      t.b.ioctl(t.fd.bVideo, VIDIOC_CREATE_BUFS, {
        index: 0,
        count: 1,
        memory: V4L2_MEMORY_MMAP,
        format: { type: CAP },
        capabilities: 0,
        flags: 0,
        max_num_buffers: 0,
      }),
  },
  {
    api: "VIDIOC_PREPARE_BUF",
    cls: "wrong state",
    what: "a queued buffer",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(
        t.fd.video,
        VIDIOC_PREPARE_BUF,
        v4l2Buffer({ index: 0, type: CAP, memory: V4L2_MEMORY_MMAP }),
      ),
  },
  {
    api: "VIDIOC_PREPARE_BUF",
    cls: "overflow",
    what: "index 31",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(
        t.fd.video,
        VIDIOC_PREPARE_BUF,
        v4l2Buffer({ index: 31, type: CAP, memory: V4L2_MEMORY_MMAP }),
      ),
  },
  {
    api: "VIDIOC_REMOVE_BUFS",
    cls: "wrong state",
    what: "a queued buffer",
    errno: "EBUSY",
    call: (t) => t.a.ioctl(t.fd.video, VIDIOC_REMOVE_BUFS, { index: 0, count: 1, type: CAP }),
  },
  {
    api: "VIDIOC_REMOVE_BUFS",
    cls: "overflow",
    what: "a range past the last buffer",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.video, VIDIOC_REMOVE_BUFS, { index: 1, count: 40, type: CAP }),
  },

  // ---- DRM (a is the master of the card, with a dumb buffer and a framebuffer) ----
  {
    api: "DRM_IOCTL_MODE_CREATE_DUMB",
    cls: "zero",
    what: "width 0",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_CREATE_DUMB, {
        height: 32,
        width: 0,
        bpp: 32,
        flags: 0,
        handle: 0,
        pitch: 0,
        size: 0,
      }),
  },
  {
    api: "DRM_IOCTL_MODE_CREATE_DUMB",
    cls: "overflow",
    what: "65536 × 65536 × 32 bpp (32-bit overflow)",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_CREATE_DUMB, {
        height: 65536,
        width: 65536,
        bpp: 32,
        flags: 0,
        handle: 0,
        pitch: 0,
        size: 0,
      }),
  },
  {
    api: "DRM_IOCTL_MODE_CREATE_DUMB",
    cls: "negative",
    what: "width -1",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_CREATE_DUMB, {
        height: 32,
        width: -1,
        bpp: 32,
        flags: 0,
        handle: 0,
        pitch: 0,
        size: 0,
      }),
  },
  {
    api: "DRM_IOCTL_MODE_CREATE_DUMB",
    cls: "not a struct",
    what: "null",
    errno: "EFAULT",
    call: (t) => t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_CREATE_DUMB, null),
  },
  {
    api: "DRM_IOCTL_MODE_MAP_DUMB",
    cls: "foreign handle",
    what: "a handle of another file",
    errno: "ENOENT",
    call: (t) => t.b.ioctl(t.fd.bCard, DRM_IOCTL_MODE_MAP_DUMB, { handle: t.dumb.handle, pad: 0, offset: 0 }),
  },
  {
    api: "DRM_IOCTL_MODE_DESTROY_DUMB",
    cls: "foreign handle",
    what: "a handle of another file",
    errno: "EINVAL",
    call: (t) => t.b.ioctl(t.fd.bCard, DRM_IOCTL_MODE_DESTROY_DUMB, { handle: t.dumb.handle }),
  },
  {
    api: "DRM_IOCTL_GEM_CLOSE",
    cls: "wrong fd",
    what: "handle 99",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.card, DRM_IOCTL_GEM_CLOSE, { handle: 99, pad: 0 }),
  },
  {
    api: "DRM_IOCTL_PRIME_FD_TO_HANDLE",
    cls: "wrong fd",
    what: "an fd that is not open",
    errno: "EBADF",
    call: (t) => t.a.ioctl(t.fd.card, DRM_IOCTL_PRIME_FD_TO_HANDLE, { fd: 77, flags: 0, handle: 0 }),
  },
  {
    api: "DRM_IOCTL_PRIME_FD_TO_HANDLE",
    cls: "wrong fd",
    what: "a PMM file",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.card, DRM_IOCTL_PRIME_FD_TO_HANDLE, { fd: t.fd.pmm, flags: 0, handle: 0 }),
  },
  {
    api: "DRM_IOCTL_PRIME_HANDLE_TO_FD",
    cls: "foreign handle",
    what: "a handle of another file",
    errno: "ENOENT",
    call: (t) =>
      t.b.ioctl(t.fd.bCard, DRM_IOCTL_PRIME_HANDLE_TO_FD, { handle: t.dumb.handle, flags: 0, fd: -1 }),
  },
  {
    api: "DRM_IOCTL_PRIME_HANDLE_TO_FD",
    cls: "unknown flags",
    what: "flags 0x4",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.card, DRM_IOCTL_PRIME_HANDLE_TO_FD, { handle: t.dumb.handle, flags: 0x4, fd: -1 }),
  },
  {
    api: "DRM_IOCTL_MODE_ADDFB2",
    cls: "unknown flags",
    what: "an unknown pixel format",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_ADDFB2, {
        fb_id: 0,
        width: 64,
        height: 32,
        pixel_format: 0x12345678,
        handles: [t.dumb.handle],
        pitches: [256],
      }),
  },
  {
    api: "DRM_IOCTL_MODE_ADDFB2",
    cls: "wrong size field",
    what: "a pitch below width × cpp",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_ADDFB2, {
        fb_id: 0,
        width: 64,
        height: 32,
        pixel_format: DRM_FORMAT_XRGB8888,
        handles: [t.dumb.handle],
        pitches: [100],
      }),
  },
  {
    api: "DRM_IOCTL_MODE_ADDFB2",
    cls: "overflow",
    what: "a plane past its object",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_ADDFB2, {
        fb_id: 0,
        width: 64,
        height: 64,
        pixel_format: DRM_FORMAT_XRGB8888,
        handles: [t.dumb.handle],
        pitches: [256],
      }),
  },
  {
    api: "DRM_IOCTL_MODE_ADDFB2",
    cls: "foreign handle",
    what: "a handle of another file",
    errno: "ENOENT",
    call: (t) =>
      t.b.ioctl(t.fd.bCard, DRM_IOCTL_MODE_ADDFB2, {
        fb_id: 0,
        width: 64,
        height: 32,
        pixel_format: DRM_FORMAT_XRGB8888,
        handles: [t.dumb.handle],
        pitches: [256],
      }),
  },
  {
    api: "DRM_IOCTL_MODE_RMFB",
    cls: "foreign handle",
    what: "a framebuffer another file made",
    errno: "ENOENT",
    call: (t) => t.b.ioctl(t.fd.bCard, DRM_IOCTL_MODE_RMFB, t.dumb.fb),
  },
  {
    api: "DRM_IOCTL_MODE_SETCRTC",
    cls: "foreign handle",
    what: "by a client that is not the master",
    errno: "EACCES",
    call: (t) =>
      t.b.ioctl(t.fd.bCard, DRM_IOCTL_MODE_SETCRTC, {
        crtc_id: t.drm.crtc.id,
        fb_id: 0,
        x: 0,
        y: 0,
        mode_valid: 0,
      }),
  },
  {
    api: "DRM_IOCTL_MODE_SETCRTC",
    cls: "wrong fd",
    what: "an unknown CRTC id",
    errno: "ENOENT",
    call: (t) =>
      t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_SETCRTC, { crtc_id: 9999, fb_id: 0, x: 0, y: 0, mode_valid: 0 }),
  },
  {
    api: "DRM_IOCTL_MODE_PAGE_FLIP",
    cls: "wrong state",
    what: "the CRTC is off",
    errno: "EBUSY",
    call: (t) =>
      t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_PAGE_FLIP, { crtc_id: t.drm.crtc.id, fb_id: t.dumb.fb, flags: 0 }),
  },
  {
    api: "DRM_IOCTL_MODE_PAGE_FLIP",
    cls: "unknown flags",
    what: "flags 0x80000",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_PAGE_FLIP, {
        crtc_id: t.drm.crtc.id,
        fb_id: t.dumb.fb,
        flags: 0x80000,
      }),
  },
  {
    api: "DRM_IOCTL_MODE_GETCRTC",
    cls: "wrong fd",
    what: "an unknown CRTC id",
    errno: "ENOENT",
    call: (t) =>
      t.a.ioctl(t.fd.card, DRM_IOCTL_MODE_GETCRTC, { crtc_id: 9999, fb_id: 0, x: 0, y: 0, mode_valid: 0 }),
  },
  {
    api: "DRM_IOCTL_SET_MASTER",
    cls: "foreign handle",
    what: "by a client that never was the master",
    errno: "EACCES",
    call: (t) => t.b.ioctl(t.fd.bCard, DRM_IOCTL_SET_MASTER),
  },
  {
    api: "mmap /dev/dri/card",
    cls: "foreign handle",
    what: "another file's object offset",
    errno: "EACCES",
    call: (t) =>
      t.b.mmap({ fd: t.fd.bCard, length: 8192, prot: PROT_READ, flags: MAP_SHARED, offset: t.dumb.offset }),
  },
  {
    api: "drm ioctl",
    cls: "wrong size field",
    what: "a number DRM does not serve",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.card, _IOWR("d", 0xfe, 8), {}),
  },

  // ---- sync_file, the remaining dma-buf and UMP ioctls ----
  {
    api: "SYNC_IOC_MERGE",
    cls: "wrong fd",
    what: "fd2 that is not a sync_file",
    errno: "ENOENT",
    call: (t) =>
      t.a.ioctl(t.fd.syncFile, SYNC_IOC_MERGE, { name: "m", fd2: t.fd.cma, fence: -1, flags: 0, pad: 0 }),
  },
  {
    api: "SYNC_IOC_MERGE",
    cls: "unknown flags",
    what: "flags 1",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.syncFile, SYNC_IOC_MERGE, {
        name: "m",
        fd2: t.fd.syncFile,
        fence: -1,
        flags: 1,
        pad: 0,
      }),
  },
  {
    api: "SYNC_IOC_FILE_INFO",
    cls: "unknown flags",
    what: "flags 1",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.syncFile, SYNC_IOC_FILE_INFO, {
        name: "",
        status: 0,
        flags: 1,
        num_fences: 0,
        pad: 0,
        sync_fence_info: [],
      }),
  },
  {
    api: "SYNC_IOC_SET_DEADLINE",
    cls: "wrong size field",
    what: "pad set",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.syncFile, SYNC_IOC_SET_DEADLINE, { deadline_ns: 1, pad: 1 }),
  },
  {
    api: "DMA_BUF_SET_NAME_B",
    cls: "overflow",
    what: "a 40-byte name",
    errno: "EINVAL",
    call: (t) => t.a.ioctl(t.fd.sys, DMA_BUF_SET_NAME_B, "y".repeat(40)),
  },
  {
    api: "UDMABUF_CREATE",
    cls: "wrong state",
    what: "a memfd without F_SEAL_SHRINK",
    errno: "EINVAL",
    call: (t) =>
      t.a.ioctl(t.fd.udmabufDev, UDMABUF_CREATE, {
        memfd: t.fd.memfdUnsealed,
        flags: 0,
        offset: 0,
        size: PAGE_SIZE,
      }),
  },
  {
    api: "UMP_IOC_QUERY_API_VERSION",
    cls: "not a struct",
    what: "a number",
    errno: "EFAULT",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_QUERY_API_VERSION, 1),
  },
  {
    api: "UMP_IOC_CACHE_OPERATIONS_CONTROL",
    cls: "not a struct",
    what: "a number",
    errno: "EFAULT",
    call: (t) => t.a.ioctl(ump(t), UMP_IOC_CACHE_OPERATIONS_CONTROL, 1),
  },

  // ---- kernel entry points: mm-core, mm-cma ----
  {
    api: "allocPages",
    cls: "overflow",
    what: "order 11",
    errno: "EINVAL",
    call: (t) => t.machine.mm.buddy.allocPages(11, GFP_KERNEL),
  },
  {
    api: "allocPages",
    cls: "negative",
    what: "order -1",
    errno: "EINVAL",
    call: (t) => t.machine.mm.buddy.allocPages(-1, GFP_KERNEL),
  },
  {
    api: "allocPages",
    cls: "unaligned",
    what: "order 1.5",
    errno: "EINVAL",
    call: (t) => t.machine.mm.buddy.allocPages(1.5, GFP_KERNEL),
  },
  {
    api: "getUserPages",
    cls: "wrong fd",
    what: "an unmapped range",
    errno: "EFAULT",
    call: (t) => getUserPages(t.a.space, 0x1000, PAGE_SIZE),
  },
  {
    api: "cmaAlloc (2010)",
    cls: "zero",
    what: "size 0",
    errno: "EINVAL",
    call: (t) => cmaAlloc(t.coherent.dev, null, 0, PAGE_SIZE),
  },
  {
    api: "cmaAlloc (2010)",
    cls: "unaligned",
    what: "alignment 3 bytes",
    errno: "EINVAL",
    call: (t) => cmaAlloc(t.coherent.dev, null, PAGE_SIZE, 3),
  },
  {
    api: "cmaAlloc (2010)",
    cls: "overflow",
    what: "more than every region",
    errno: "ENOMEM",
    call: (t) => cmaAlloc(t.coherent.dev, null, SZ_1G, PAGE_SIZE),
  },
  {
    api: "cmaAlloc (merged)",
    cls: "negative",
    what: "count -1",
    errno: "EINVAL",
    call: (t) => cmaAlloc(dmaContiguousDefaultArea(t.machine.kernel)!, -1, 0),
  },
  {
    api: "cmaAlloc (merged)",
    cls: "overflow",
    what: "align order 31",
    errno: "EINVAL",
    call: (t) => cmaAlloc(dmaContiguousDefaultArea(t.machine.kernel)!, 1, 31),
  },
  {
    api: "cmaFree",
    cls: "foreign handle",
    what: "an address that is not a chunk start",
    errno: "ENOENT",
    call: (t) => cmaFree(t.machine.kernel, 0x4e001000),
  },
  {
    api: "cmaAllocFrom",
    cls: "wrong fd",
    what: "a region list naming no region (every listed region failed)",
    errno: "ENOMEM",
    call: (t) => cmaAllocFrom(t.machine.kernel, "nosuch", PAGE_SIZE, PAGE_SIZE),
  },

  // ---- iommu-core ----
  {
    api: "iommuMap",
    cls: "unaligned",
    what: "iova 0x...100",
    errno: "EINVAL",
    call: (t) =>
      iommuMap(t.machine.iommuMapping("rotator")!.domain, 0x30000100, 0x40000000, PAGE_SIZE, IOMMU_READ),
  },
  {
    api: "iommuMap",
    cls: "unaligned",
    what: "paddr not page-aligned",
    errno: "EINVAL",
    call: (t) =>
      iommuMap(t.machine.iommuMapping("rotator")!.domain, 0x30000000, 0x40000010, PAGE_SIZE, IOMMU_READ),
  },
  {
    api: "iommuMap",
    cls: "zero",
    what: "size 0",
    errno: "EINVAL",
    call: (t) => iommuMap(t.machine.iommuMapping("rotator")!.domain, 0x30000000, 0x40000000, 0, IOMMU_READ),
  },
  {
    api: "iommuMap",
    cls: "negative",
    what: "size -4096",
    errno: "EINVAL",
    call: (t) =>
      iommuMap(t.machine.iommuMapping("rotator")!.domain, 0x30000000, 0x40000000, -PAGE_SIZE, IOMMU_READ),
  },
  {
    api: "iommuMap",
    cls: "overflow",
    what: "a range past 4 GiB",
    errno: "EINVAL",
    call: (t) =>
      iommuMap(t.machine.iommuMapping("rotator")!.domain, 0xfffff000, 0x40000000, 2 * PAGE_SIZE, IOMMU_READ),
  },
  {
    api: "iommuMap",
    cls: "foreign handle",
    what: "over a live attachment's mapping",
    errno: "EADDRINUSE",
    call: (t) =>
      iommuMap(
        t.machine.iommuMapping("rotator")!.domain,
        t.sgt.sgl[0]!.dmaAddress,
        0x40000000,
        PAGE_SIZE,
        IOMMU_READ,
      ),
  },
  {
    api: "iommuAttachDevice",
    cls: "foreign handle",
    what: "another master's domain while attached",
    errno: "EBUSY",
    call: (t) => iommuAttachDevice(t.machine.iommuMapping("rotator")!.domain, t.machine.devices.get("jpeg")!),
  },
  {
    api: "iommuDetachDevice",
    cls: "foreign handle",
    what: "a domain the master is not attached to",
    errno: "EINVAL",
    call: (t) => iommuDetachDevice(t.machine.iommuMapping("jpeg")!.domain, t.machine.devices.get("rotator")!),
  },
  {
    api: "iommuDomainFree",
    cls: "wrong state",
    what: "a domain a master is attached to",
    errno: "EBUSY",
    call: (t) => iommuDomainFree(t.machine.iommuMapping("rotator")!.domain),
  },

  // ---- dma-mapping-arm ----
  {
    api: "dmaMapSingle",
    cls: "zero",
    what: "size 0",
    errno: "EINVAL",
    call: (t) => dmaMapSingle(t.coherent.dev, 0xc0001000, 0, DMA_TO_DEVICE),
  },
  {
    api: "dmaMapSingle",
    cls: "wrong fd",
    what: "a kernel address outside the linear map",
    errno: "EINVAL",
    call: (t) => dmaMapSingle(t.coherent.dev, 0x1000, PAGE_SIZE, DMA_TO_DEVICE),
  },
  {
    api: "dmaUnmapSingle",
    cls: "foreign handle",
    what: "a bus address that is not a live mapping",
    errno: "EINVAL",
    call: (t) => dmaUnmapSingle(t.coherent.dev, 0x3ff00000, PAGE_SIZE, DMA_TO_DEVICE),
  },
  {
    api: "dmaSyncSingleForCpu",
    cls: "foreign handle",
    what: "a bus address that is not a live mapping",
    errno: "EINVAL",
    call: (t) => dmaSyncSingleForCpu(t.coherent.dev, 0x3ff00000, PAGE_SIZE, DMA_TO_DEVICE),
  },
  {
    api: "dmaFreeCoherent",
    cls: "wrong size field",
    what: "size other than the buffer's",
    errno: "EINVAL",
    call: (t) => dmaFreeCoherent(t.coherent.dev, PAGE_SIZE, t.coherent.cpuAddr, t.coherent.dmaAddr),
  },
  {
    api: "dmaFreeCoherent",
    cls: "foreign handle",
    what: "another device's buffer",
    errno: "EINVAL",
    call: (t) =>
      dmaFreeCoherent(
        t.machine.devices.get("jpeg")!,
        t.coherent.size,
        t.coherent.cpuAddr,
        t.coherent.dmaAddr,
      ),
  },
  {
    api: "dmaAllocCoherent",
    cls: "negative",
    what: "size -4096",
    errno: "EINVAL",
    call: (t) => dmaAllocCoherent(t.coherent.dev, -PAGE_SIZE),
  },
  {
    api: "dmaSetMask",
    cls: "wrong size field",
    what: "a mask that is not a number",
    errno: "EINVAL",
    call: (t) => dmaSetMask(t.coherent.dev, "x" as never),
  },
  {
    api: "dmaSetMaxSegSize",
    cls: "overflow",
    what: "2^32",
    errno: "EINVAL",
    call: (t) => dmaSetMaxSegSize(t.coherent.dev, SZ_4G),
  },
  {
    api: "dmaSetSegBoundary",
    cls: "unaligned",
    what: "a boundary that is not 2^n − 1",
    errno: "EINVAL",
    call: (t) => dmaSetSegBoundary(t.coherent.dev, 0x1234),
  },
  {
    api: "armIommuAttachDevice",
    cls: "wrong state",
    what: "a master attached elsewhere",
    errno: "EBUSY",
    call: (t) => armIommuAttachDevice(t.coherent.dev, t.machine.iommuMapping("jpeg")!),
  },

  // ---- the machine, the fault-injection switch, device ports ----
  {
    api: "Machine.dmaPort",
    cls: "wrong fd",
    what: "a device the board does not have",
    errno: "ENODEV",
    call: (t) => t.machine.dmaPort("nosuch"),
  },
  {
    api: "Machine.dmaPort",
    cls: "overflow",
    what: "port 3 of rotator's one",
    errno: "ENXIO",
    call: (t) => t.machine.dmaPort("rotator", 3),
  },
  {
    api: "faultInjectSet",
    cls: "overflow",
    what: "probability 101",
    errno: "EINVAL",
    call: (t) => faultInjectSet(t.machine.kernel, "page", { probability: 101 }),
  },
  {
    api: "faultInjectSet",
    cls: "negative",
    what: "failNth -1",
    errno: "EINVAL",
    call: (t) => faultInjectSet(t.machine.kernel, "cma", { failNth: -1 }),
  },
  {
    api: "DmaPort.write",
    cls: "foreign handle",
    what: "D.V of another master's mapping",
    errno: "EFAULT",
    call: (t) => t.machine.dmaPort("jpeg").write(t.sgt.sgl[0]!.dmaAddress, new Uint8Array([1])),
  },
  {
    api: "DmaPort.read",
    cls: "overflow",
    what: "past the end of a live mapping",
    errno: "EFAULT",
    call: (t) =>
      t.machine.dmaPort("rotator").read(t.sgt.sgl[0]!.dmaAddress + 3 * PAGE_SIZE, new Uint8Array(4)),
  },
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
