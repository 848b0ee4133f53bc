/**
 * Constants and plain types of PMM and UPBuffer, as `include/linux/s3c/pmm.h`,
 * `include/linux/s3c/upbuffer.h` and the platform header `mach/pmm-plat.h` spell them, plus the
 * SysV IPC constants the `ipc/shm.c` patch uses.
 *
 * @module
 */
import { _IOR, _IOWR } from "@umm/kernel-process";

// ---- pmm.h ----------------------------------------------------------------------------------

/** `PMM_MAGIC = ('p'<<24)|('M'<<16)|('m'<<8)|0x42`: every `pmm_area_info` / `pmm_shm_info` starts with it. */
export const PMM_MAGIC = ((0x70 << 24) | (0x4d << 16) | (0x6d << 8) | 0x42) >>> 0;

/** Area flag: map the buffer write-combined (`pgprot_writecombine`) instead of cacheable. */
export const PMM_NO_CACHE = 1 << 0;
/** The flags user space may ask for; other bits of `pmm_area_info.flags` are ignored. */
export const PMM_KNOWN_FLAGS = PMM_NO_CACHE;
/**
 * Internal item flag: the item (area or hole) ends at the end of its pool. The ioctl returns
 * the raw area flags, so this bit can reach user space, as in the RFC.
 */
export const PMM_ITEM_LAST = 1 << 30;
/** Internal item flag: the item is a hole (free space). */
export const PMM_HOLE = 0x80000000;

/** Memory type bit of the general pool (`pmm=`), the only type of the S3C6410 board. */
export const PMM_MEM_GENERAL = 1 << 0;
/**
 * Memory type bit umm's example boards give a pool for 24-bit DMA clients (below 16 MiB of bus
 * address, never across a 16 MiB boundary). Any single bit can name a type: the platform table
 * passed to `pmmReserve` decides.
 */
export const PMM_MEM_DMA24 = 1 << 1;
/** Every type (`PMM_MEM_ANY`): the kernel API masks it with the types the platform defines. */
export const PMM_MEM_ANY = 0xffffffff;
/** Most memory types a platform may define (`PMM_MEMORY_TYPES` is 1..32). */
export const PMM_MEMORY_TYPES_MAX = 32;
/** Largest `pmm=` size the RFC accepts ("refusing to allocate more then 1GiB"). */
export const PMM_MAX_SIZE = 0x40000000;

/** `sizeof(struct pmm_area_info)` on 32-bit ARM: five 4-byte fields. */
export const PMM_AREA_INFO_SIZE = 20;
/** `sizeof(struct pmm_shm_info)` on 32-bit ARM: three 4-byte fields. */
export const PMM_SHM_INFO_SIZE = 12;

/** `IOCTL_PMM_ALLOC = _IOWR('p', 0, struct pmm_area_info)`: allocates the fd's area. */
export const IOCTL_PMM_ALLOC = _IOWR("p", 0, PMM_AREA_INFO_SIZE);
/**
 * `IOCTL_PMM_SHMGET = _IOR('p', 0, struct pmm_shm_info)`: shares the fd's area as a SysV
 * segment. Same type and number as IOCTL_PMM_ALLOC; the direction and size tell them apart.
 */
export const IOCTL_PMM_SHMGET = _IOR("p", 0, PMM_SHM_INFO_SIZE);

/**
 * `struct pmm_area_info`: in — `magic`, `size` (bytes), `type` (bitmask of acceptable memory
 * types), `flags` (PMM_NO_CACHE), `alignment` (a power of two or 0); out (on success only) —
 * the page-aligned size, the type the area came from, the raw area flags and the actual
 * alignment (the lowest set bit of the physical start).
 */
export interface PmmAreaInfo {
  magic: number;
  size: number;
  type: number;
  flags: number;
  alignment: number;
}

/** `struct pmm_shm_info`: `magic`, the SysV `key` and `shmflg` (permission bits). */
export interface PmmShmInfo {
  magic: number;
  key: number;
  shmflg: number;
}

/**
 * One memory type of the platform table (`mach/pmm-plat.h`, extended): a pool reserved at boot
 * for one type bit, with the bus constraints of the devices it serves.
 */
export interface PmmMemTypeDesc {
  /** the type's bit: exactly one bit set, `1 << n` with n < 32 */
  readonly type: number;
  /** shown in reports and owner tags, e.g. "general", "dma24" */
  readonly name: string;
  /** bytes (page-aligned up); PMM_MEM_GENERAL takes `pmm=` instead when it is given */
  readonly size?: number;
  /** a fixed physical base (page-aligned); default: memblock chooses inside the constraints */
  readonly base?: number;
  /** highest bus address the pool may reach (inclusive), e.g. DMA_BIT_MASK(24) */
  readonly busLimit?: number;
  /** the pool lies inside one `boundary`-aligned window of bus space (a power of two), e.g. 16 MiB */
  readonly boundary?: number;
  /** `dma_pfn_offset` of the devices the pool serves: bus address = phys − offset × 4 KiB */
  readonly dmaPfnOffset?: number;
  /** user space may allocate it through /dev/pmm (`PMM_USER_MEMORY_TYPES_MASK`); default true */
  readonly user?: boolean;
}

// ---- upbuffer.h ------------------------------------------------------------------------------

/** `UPBUF_ANY`: any way to reach the memory (direct or a shadow copy). */
export const UPBUF_ANY = 0;
/** `UPBUF_NO_SHADOW`: fail with EINVAL instead of bouncing through a shadow buffer. */
export const UPBUF_NO_SHADOW = 1 << 1;
/** `UPBUF_MAP_KERNEL`: also map the memory into the kernel (`upbuf.vaddr`). */
export const UPBUF_MAP_KERNEL = 1 << 2;
/** Private: the kernel mapping was made (`upbuf_release` must undo it). */
export const UPBUF_MAP_KERNEL_DONE = 1 << 16;
/** Private: the memory is not cacheable, so every sync is a no-op. */
export const UPBUF_NO_CACHE = 1 << 17;
/** The flags a driver may pass to `upbufBegin`. */
export const UPBUF_USER_FLAGS = UPBUF_NO_SHADOW | UPBUF_MAP_KERNEL;

/** `UPBUF_PREPARE_FROM_USER`: the device will read the buffer. */
export const UPBUF_PREPARE_FROM_USER = 0;
/** `UPBUF_PREPARE_TO_USER`: the device will write the buffer. */
export const UPBUF_PREPARE_TO_USER = 1;
/** `UPBUF_PREPARE_MODIFY_USER`: the device will read and write the buffer. */
export const UPBUF_PREPARE_MODIFY_USER = 2;
/** `UPBUF_FINISH_TO_USER`: the device has written the buffer; hand the bytes to the user. */
export const UPBUF_FINISH_TO_USER = 3;
/** Names of the directions, indexed by value (trace events, messages). */
export const UPBUF_DIRECTIONS: readonly string[] = [
  "PREPARE_FROM_USER",
  "PREPARE_TO_USER",
  "PREPARE_MODIFY_USER",
  "FINISH_TO_USER",
];

/** How a transaction reaches the user's memory. */
export type UpbufMode = "pfnmap" | "pinned" | "shadow";

// ---- SysV IPC (include/uapi/linux/ipc.h, shm.h) ----------------------------------------------

/** `IPC_PRIVATE`: a key no one else can look up. */
export const IPC_PRIVATE = 0;
/** `IPC_CREAT` (0o1000). */
export const IPC_CREAT = 0o1000;
/** `IPC_EXCL` (0o2000). */
export const IPC_EXCL = 0o2000;
/** `shmctl` command: mark the segment for destruction. */
export const IPC_RMID = 0;
/** `shmctl` command: read the segment's `shmid_ds`. */
export const IPC_STAT = 2;
/** `shmat` flag: attach read-only. */
export const SHM_RDONLY = 0o10000;
/** `shmat` flag: round the attach address down to SHMLBA. */
export const SHM_RND = 0o20000;
/** Mode bit `shmctl(IPC_STAT)` shows once a segment is marked for destruction. */
export const SHM_DEST = 0o1000;
/** `SHMLBA` on ARM: attach addresses are multiples of 4 pages (VIPT cache colouring). */
export const SHMLBA = 4 * 4096;
/** `SHMMAX` of 2009 kernels: the largest segment, 32 MiB. */
export const SHMMAX_DEFAULT = 0x2000000;
/** `SHMMNI`: most segments. */
export const SHMMNI_DEFAULT = 4096;
/** `SHMALL` of 2009 kernels: most pages in all segments (SHMMAX / PAGE_SIZE × SHMMNI / 16). */
export const SHMALL_DEFAULT = (SHMMAX_DEFAULT / 4096) * (SHMMNI_DEFAULT / 16);
/** `IPCMNI`: ids are `seq × IPCMNI + index`. */
export const IPCMNI = 32768;

/** `struct shmid_ds`, as `shmctl(IPC_STAT)` fills it. */
export interface ShmidDs {
  /** the key (IPC_PRIVATE once marked for destruction) */
  readonly key: number;
  /** owner and group */
  readonly uid: number;
  readonly gid: number;
  /** creator and creator's group */
  readonly cuid: number;
  readonly cgid: number;
  /** permission bits, plus SHM_DEST when marked for destruction */
  readonly mode: number;
  /** segment size in bytes (the PMM area's size) */
  readonly size: number;
  /** number of current attaches (mappings) */
  readonly nattch: number;
  /** pid of the creator and of the last shmat/shmdt */
  readonly cpid: number;
  readonly lpid: number;
  /** virtual-time stamps (ns) of the last attach, detach and change */
  readonly atime: number;
  readonly dtime: number;
  readonly ctime: number;
}
