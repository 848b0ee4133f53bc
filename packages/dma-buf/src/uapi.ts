/**
 * The user-space ABI: include/uapi/linux/dma-buf.h, dma-heap.h, udmabuf.h and sync_file.h —
 * ioctl numbers with Linux's values (ARM32: pointers are 4 bytes) and the structs the ioctls take,
 * as the JS objects a process passes to `ioctl` (out fields are written into them).
 *
 * @module
 */
import { _IOW, _IOWR, O_ACCMODE, O_CLOEXEC } from "@umm/kernel-process";

// ---- dma-buf.h ----

/** `DMA_BUF_SYNC_READ`: the CPU will read the buffer. */
export const DMA_BUF_SYNC_READ = 1 << 0;
/** `DMA_BUF_SYNC_WRITE`: the CPU will write the buffer. */
export const DMA_BUF_SYNC_WRITE = 2 << 0;
/** `DMA_BUF_SYNC_RW`: both. */
export const DMA_BUF_SYNC_RW = DMA_BUF_SYNC_READ | DMA_BUF_SYNC_WRITE;
/** `DMA_BUF_SYNC_START`: the CPU access begins (0: the absence of END). */
export const DMA_BUF_SYNC_START = 0 << 2;
/** `DMA_BUF_SYNC_END`: the CPU access ends. */
export const DMA_BUF_SYNC_END = 1 << 2;
/** Every flag `DMA_BUF_IOCTL_SYNC` accepts. */
export const DMA_BUF_SYNC_VALID_FLAGS_MASK = DMA_BUF_SYNC_RW | DMA_BUF_SYNC_END;
/** Longest buffer name, NUL included. */
export const DMA_BUF_NAME_LEN = 32;
/** The ioctl type of dma-buf files. */
export const DMA_BUF_BASE = "b";

/** `struct dma_buf_sync` (8 bytes). */
export interface DmaBufSync {
  /** DMA_BUF_SYNC_* bits */
  flags: number;
}

/** `struct dma_buf_export_sync_file` / `dma_buf_import_sync_file` (8 bytes). */
export interface DmaBufSyncFileArg {
  /** DMA_BUF_SYNC_READ and/or DMA_BUF_SYNC_WRITE */
  flags: number;
  /** the sync_file fd: out for export, in for import */
  fd: number;
}

/** `DMA_BUF_IOCTL_SYNC = _IOW('b', 0, struct dma_buf_sync)`: bracket CPU access. */
export const DMA_BUF_IOCTL_SYNC = _IOW(DMA_BUF_BASE, 0, 8);
/** `DMA_BUF_SET_NAME_A = _IOW('b', 1, __u32)`: name the buffer (32-bit pointer). */
export const DMA_BUF_SET_NAME_A = _IOW(DMA_BUF_BASE, 1, 4);
/** `DMA_BUF_SET_NAME_B = _IOW('b', 1, __u64)`: name the buffer (64-bit pointer). */
export const DMA_BUF_SET_NAME_B = _IOW(DMA_BUF_BASE, 1, 8);
/** `DMA_BUF_SET_NAME = _IOW('b', 1, const char *)`: on ARM32 the same number as `_A`. */
export const DMA_BUF_SET_NAME = DMA_BUF_SET_NAME_A;
/** `DMA_BUF_IOCTL_EXPORT_SYNC_FILE = _IOWR('b', 2, struct dma_buf_export_sync_file)`. */
export const DMA_BUF_IOCTL_EXPORT_SYNC_FILE = _IOWR(DMA_BUF_BASE, 2, 8);
/** `DMA_BUF_IOCTL_IMPORT_SYNC_FILE = _IOW('b', 3, struct dma_buf_import_sync_file)`. */
export const DMA_BUF_IOCTL_IMPORT_SYNC_FILE = _IOW(DMA_BUF_BASE, 3, 8);

// ---- dma-heap.h ----

/** The ioctl type of heap devices. */
export const DMA_HEAP_IOC_MAGIC = "H";
/** `fd_flags` a heap allocation accepts. */
export const DMA_HEAP_VALID_FD_FLAGS = O_CLOEXEC | O_ACCMODE;
/** `heap_flags` a heap allocation accepts: none are defined yet. */
export const DMA_HEAP_VALID_HEAP_FLAGS = 0;
/** `sizeof(struct dma_heap_allocation_data)`. */
export const DMA_HEAP_ALLOCATION_DATA_SIZE = 24;

/** `struct dma_heap_allocation_data` (24 bytes: len @0, fd @8, fd_flags @12, heap_flags @16). */
export interface DmaHeapAllocationData {
  /** bytes to allocate (rounded up to pages) */
  len: number | bigint;
  /** out: the dma-buf fd; must be 0 on the way in */
  fd: number;
  /** O_CLOEXEC and the access mode of the new file */
  fd_flags: number;
  /** heap-specific flags; none are defined */
  heap_flags: number | bigint;
}

/** `DMA_HEAP_IOCTL_ALLOC = _IOWR('H', 0x0, struct dma_heap_allocation_data)`. */
export const DMA_HEAP_IOCTL_ALLOC = _IOWR(DMA_HEAP_IOC_MAGIC, 0, DMA_HEAP_ALLOCATION_DATA_SIZE);

// ---- udmabuf.h ----

/** `UDMABUF_FLAGS_CLOEXEC`: the new dma-buf fd is close-on-exec. */
export const UDMABUF_FLAGS_CLOEXEC = 0x01;

/** `struct udmabuf_create` (24 bytes). */
export interface UdmabufCreate {
  /** a memfd sealed with F_SEAL_SHRINK and without the write seals */
  memfd: number;
  /** UDMABUF_FLAGS_* */
  flags: number;
  /** page-aligned byte offset into the memfd */
  offset: number;
  /** page-aligned bytes */
  size: number;
}

/** `struct udmabuf_create_item` (24 bytes). */
export interface UdmabufCreateItem {
  memfd: number;
  __pad?: number;
  offset: number;
  size: number;
}

/** `struct udmabuf_create_list` (8 bytes) followed by `count` items. */
export interface UdmabufCreateList {
  flags: number;
  count: number;
  list: readonly UdmabufCreateItem[];
}

/** `UDMABUF_CREATE = _IOW('u', 0x42, struct udmabuf_create)`. */
export const UDMABUF_CREATE = _IOW("u", 0x42, 24);
/** `UDMABUF_CREATE_LIST = _IOW('u', 0x43, struct udmabuf_create_list)`. */
export const UDMABUF_CREATE_LIST = _IOW("u", 0x43, 8);

// ---- sync_file.h ----

/** The ioctl type of sync files. */
export const SYNC_IOC_MAGIC = ">";

/** `struct sync_merge_data` (48 bytes). */
export interface SyncMergeData {
  /** the new sync_file's name (at most 31 bytes are kept) */
  name: string;
  /** the sync_file fd to merge with */
  fd2: number;
  /** out: the new sync_file fd */
  fence: number;
  /** must be 0 */
  flags: number;
  /** must be 0 */
  pad: number;
}

/** `struct sync_fence_info` (80 bytes). */
export interface SyncFenceInfo {
  /** the timeline name */
  obj_name: string;
  driver_name: string;
  /** 0 active, 1 signaled, < 0 error */
  status: number;
  flags: number;
  /** signal time in ns, 0 while active */
  timestamp_ns: number;
}

/** `struct sync_file_info` (56 bytes). */
export interface SyncFileInfo {
  /** out */
  name: string;
  /** out: 1 signaled, 0 active, < 0 error */
  status: number;
  /** must be 0 */
  flags: number;
  /** in: room in `sync_fence_info` (0: just count); out: the number of fences */
  num_fences: number;
  /** must be 0 */
  pad: number;
  /** out: one entry per fence when `num_fences` was large enough */
  sync_fence_info: SyncFenceInfo[] | null;
}

/** `struct sync_set_deadline` (16 bytes). */
export interface SyncSetDeadline {
  deadline_ns: number;
  /** must be 0 */
  pad: number;
}

/** `SYNC_IOC_MERGE = _IOWR('>', 3, struct sync_merge_data)`. */
export const SYNC_IOC_MERGE = _IOWR(SYNC_IOC_MAGIC, 3, 48);
/** `SYNC_IOC_FILE_INFO = _IOWR('>', 4, struct sync_file_info)`. */
export const SYNC_IOC_FILE_INFO = _IOWR(SYNC_IOC_MAGIC, 4, 56);
/** `SYNC_IOC_SET_DEADLINE = _IOW('>', 5, struct sync_set_deadline)`. */
export const SYNC_IOC_SET_DEADLINE = _IOW(SYNC_IOC_MAGIC, 5, 16);
