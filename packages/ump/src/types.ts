/**
 * The constants and plain types of UMP with the names and values of ARM's headers: `ump.h`,
 * `ump_ref_drv.h` (user space), `ump_uk_types.h` and `ump_ioctl.h` (the user/kernel interface),
 * `ump_kernel_interface.h` and `ump_kernel_interface_ref_drv.h` (the kernel API).
 *
 * @module
 */
import { _IOR, _IOW, _IOWR } from "@umm/kernel-process";

// ---- user space (ump.h, ump_ref_drv.h) -----------------------------------------------------------

/** `ump_secure_id`: a system-wide 32-bit name of a UMP buffer. */
export type UmpSecureId = number;

/** `UMP_INVALID_SECURE_ID` = `(ump_secure_id)-1`: never issued. */
export const UMP_INVALID_SECURE_ID = 0xffffffff;

/** `ump_result`: success. */
export const UMP_OK = 0;
/** `ump_result`: failure. */
export const UMP_ERROR = 1;
/** `ump_result` (`UMP_OK` or `UMP_ERROR`). */
export type UmpResult = typeof UMP_OK | typeof UMP_ERROR;

/** `UMP_REF_DRV_CONSTRAINT_NONE`: any memory, uncached. */
export const UMP_REF_DRV_CONSTRAINT_NONE = 0;
/**
 * `UMP_REF_DRV_CONSTRAINT_PHYSICALLY_LINEAR`: one physically contiguous block. ARM's header says
 * it "is not supported": the dedicated and OS backends ignore it, the VCM backend rejects it.
 */
export const UMP_REF_DRV_CONSTRAINT_PHYSICALLY_LINEAR = 1;
/** `UMP_REF_DRV_CONSTRAINT_USE_CACHE`: map the buffer cacheable (API version 2). */
export const UMP_REF_DRV_CONSTRAINT_USE_CACHE = 4;

/** `UMP_MSYNC_CLEAN`: write dirty lines of the range back to memory. */
export const UMP_MSYNC_CLEAN = 0;
/** `UMP_MSYNC_CLEAN_AND_INVALIDATE`: write back, then drop the lines. */
export const UMP_MSYNC_CLEAN_AND_INVALIDATE = 1;
/** `UMP_MSYNC_INVALIDATE` (API > 2): drop the lines without writing back. */
export const UMP_MSYNC_INVALIDATE = 2;
/** `_UMP_UK_MSYNC_FLUSH_L1` (kernel-internal): flush the level-1 cache only. */
export const _UMP_UK_MSYNC_FLUSH_L1 = 3;
/** `UMP_MSYNC_READOUT_CACHE_ENABLED`: only report whether the buffer is cached. */
export const UMP_MSYNC_READOUT_CACHE_ENABLED = 128;

/** `UMP_READ`: a lock for reading. */
export const UMP_READ = 1;
/** `UMP_READ_WRITE`: a lock for reading and writing. */
export const UMP_READ_WRITE = 3;
/** `UMP_NOT_LOCKED` (kernel): no lock recorded. */
export const UMP_NOT_LOCKED = 0;

/** `UMP_USED_BY_CPU`: the CPU owns the buffer (the initial state). */
export const UMP_USED_BY_CPU = 0;
/** `UMP_USED_BY_MALI`: the Mali GPU owns the buffer. */
export const UMP_USED_BY_MALI = 1;
/** `UMP_USED_BY_UNKNOWN_DEVICE`: some other device owns the buffer. */
export const UMP_USED_BY_UNKNOWN_DEVICE = 100;

/** `UMP_CACHE_OP_START`: begin a batch of cache operations (level-1 flushes are deferred). */
export const UMP_CACHE_OP_START = 0;
/** `UMP_CACHE_OP_FINISH`: end a batch; the level-1 cache is flushed. */
export const UMP_CACHE_OP_FINISH = 1;

// ---- kernel API (ump_kernel_interface.h) ------------------------------------------------------

/** `ump_dd_status_code`: success. */
export const UMP_DD_SUCCESS = 0;
/** `ump_dd_status_code`: invalid argument. */
export const UMP_DD_INVALID = 1;
/** `ump_dd_status_code`. */
export type UmpDdStatusCode = typeof UMP_DD_SUCCESS | typeof UMP_DD_INVALID;

/** `ump_dd_physical_block`: one physically contiguous piece of a buffer, in bytes. */
export interface UmpDdPhysicalBlock {
  /** physical address, 4 KiB-aligned */
  addr: number;
  /** bytes, a multiple of 4 KiB */
  size: number;
}

// ---- the user/kernel interface (ump_uk_types.h, ump_ioctl.h) ------------------------------------

/** `MAKE_VERSION_ID(x)`: the version twice, in the high and the low half. */
export function MAKE_VERSION_ID(x: number): number {
  return ((x << 16) | x) >>> 0;
}
/** `GET_VERSION(x)`. */
export function GET_VERSION(x: number): number {
  return (x >>> 16) & 0xffff;
}
/** `IS_VERSION_ID(x)`: both halves agree. */
export function IS_VERSION_ID(x: number): boolean {
  return (x & 0xffff) === ((x >>> 16) & 0xffff);
}
/** `UMP_IOCTL_API_VERSION` = `MAKE_VERSION_ID(2)` (0x00020002): cached UMP. */
export const UMP_IOCTL_API_VERSION = MAKE_VERSION_ID(2);
/** The legacy API version `MAKE_VERSION_ID(1)` (0x00010001): no cached UMP, no msync. */
export const UMP_IOCTL_API_VERSION_1 = MAKE_VERSION_ID(1);

/** `UMP_IOCTL_NR`: the ioctl type (magic) of /dev/ump. */
export const UMP_IOCTL_NR = 0x90;

/** `_ump_uk_api_version_s` (after `ctx`): in the client's version, out the driver's. */
export interface UmpUkApiVersion {
  version: number;
  compatible: number;
}
/** `_ump_uk_allocate_s`: out `secure_id`, in/out `size`, in `constraints`. */
export interface UmpUkAllocate {
  secure_id: number;
  size: number;
  constraints: number;
}
/** `_ump_uk_release_s`. */
export interface UmpUkRelease {
  secure_id: number;
}
/** `_ump_uk_size_get_s`: in `secure_id`, out `size`. */
export interface UmpUkSizeGet {
  secure_id: number;
  size: number;
}
/** `_ump_uk_msync_s`: `mapping` and `address` are user addresses; out `is_cached`. */
export interface UmpUkMsync {
  mapping: number;
  address: number;
  size: number;
  op: number;
  cookie: number;
  secure_id: number;
  is_cached: number;
}
/** `_ump_uk_cache_operations_control_s`. */
export interface UmpUkCacheOperationsControl {
  op: number;
}
/** `_ump_uk_switch_hw_usage_s`. */
export interface UmpUkSwitchHwUsage {
  secure_id: number;
  new_user: number;
}
/** `_ump_uk_lock_s`. */
export interface UmpUkLock {
  secure_id: number;
  lock_usage: number;
}
/** `_ump_uk_unlock_s`. */
export interface UmpUkUnlock {
  secure_id: number;
}
/** umm's `UMP_IOC_GRANT` / `UMP_IOC_REVOKE`: let `uid` import `secure_id` (or stop letting it). */
export interface UmpUkGrant {
  secure_id: number;
  uid: number;
}

/** Samsung's `struct ump_uk_dmabuf` (UMP_IOC_DMABUF_IMPORT): in `fd`, out `size`, `secure_id`. */
export interface UmpUkDmaBufImport {
  fd: number;
  size: number;
  secure_id: number;
}
/** umm's UMP_IOC_DMABUF_EXPORT: in `secure_id` and `flags` (O_CLOEXEC), out `fd`. */
export interface UmpUkDmaBufExport {
  secure_id: number;
  flags: number;
  fd: number;
}

// Struct sizes as on 32-bit ARM (every struct starts with `void *ctx`).
const PTR = 4;

/** `_IOR(0x90, 1, _ump_uk_api_version_s)`. */
export const UMP_IOC_QUERY_API_VERSION = _IOR(UMP_IOCTL_NR, 1, PTR + 8);
/** `_IOWR(0x90, 2, _ump_uk_allocate_s)`. */
export const UMP_IOC_ALLOCATE = _IOWR(UMP_IOCTL_NR, 2, PTR + 12);
/** `_IOR(0x90, 3, _ump_uk_release_s)` (ARM's direction, though the driver only reads it). */
export const UMP_IOC_RELEASE = _IOR(UMP_IOCTL_NR, 3, PTR + 4);
/** `_IOWR(0x90, 4, _ump_uk_size_get_s)`. */
export const UMP_IOC_SIZE_GET = _IOWR(UMP_IOCTL_NR, 4, PTR + 8);
/** `_IOW(0x90, 7, _ump_uk_msync_s)` (5 and 6, MAP_MEM/UNMAP_MEM, are unused on Linux). */
export const UMP_IOC_MSYNC = _IOW(UMP_IOCTL_NR, 7, PTR + 28);
/** `_IOW(0x90, 8, _ump_uk_cache_operations_control_s)`. */
export const UMP_IOC_CACHE_OPERATIONS_CONTROL = _IOW(UMP_IOCTL_NR, 8, PTR + 4);
/** `_IOW(0x90, 9, _ump_uk_switch_hw_usage_s)`. */
export const UMP_IOC_SWITCH_HW_USAGE = _IOW(UMP_IOCTL_NR, 9, PTR + 8);
/** `_IOW(0x90, 10, _ump_uk_lock_s)`. */
export const UMP_IOC_LOCK = _IOW(UMP_IOCTL_NR, 10, PTR + 8);
/** `_IOW(0x90, 11, _ump_uk_unlock_s)`. */
export const UMP_IOC_UNLOCK = _IOW(UMP_IOCTL_NR, 11, PTR + 4);
/** umm: `_IOW(0x90, 12, { u32 secure_id, u32 uid })` — the owner lets `uid` import the buffer. */
export const UMP_IOC_GRANT = _IOW(UMP_IOCTL_NR, 12, PTR + 8);
/** umm: `_IOW(0x90, 13, { u32 secure_id, u32 uid })` — the owner withdraws a grant. */
export const UMP_IOC_REVOKE = _IOW(UMP_IOCTL_NR, 13, PTR + 8);
/**
 * Samsung's `_IOW(0x90, _UMP_IOC_DMABUF_IMPORT, struct ump_uk_dmabuf)`. Samsung's number
 * depends on which of ION/DMA_SHARED_BUFFER are configured (it shifts ARM's 8..11); umm gives it
 * 14 so ARM's numbers stay put.
 */
export const UMP_IOC_DMABUF_IMPORT = _IOW(UMP_IOCTL_NR, 14, PTR + 12);
/** umm: `_IOWR(0x90, 15, { u32 secure_id, u32 flags, s32 fd })` — a dma-buf fd of a UMP buffer. */
export const UMP_IOC_DMABUF_EXPORT = _IOWR(UMP_IOCTL_NR, 15, PTR + 12);

/** Names of the ioctl commands (messages and traces). */
export const UMP_IOC_NAMES: ReadonlyMap<number, string> = new Map([
  [UMP_IOC_QUERY_API_VERSION, "UMP_IOC_QUERY_API_VERSION"],
  [UMP_IOC_ALLOCATE, "UMP_IOC_ALLOCATE"],
  [UMP_IOC_RELEASE, "UMP_IOC_RELEASE"],
  [UMP_IOC_SIZE_GET, "UMP_IOC_SIZE_GET"],
  [UMP_IOC_MSYNC, "UMP_IOC_MSYNC"],
  [UMP_IOC_CACHE_OPERATIONS_CONTROL, "UMP_IOC_CACHE_OPERATIONS_CONTROL"],
  [UMP_IOC_SWITCH_HW_USAGE, "UMP_IOC_SWITCH_HW_USAGE"],
  [UMP_IOC_LOCK, "UMP_IOC_LOCK"],
  [UMP_IOC_UNLOCK, "UMP_IOC_UNLOCK"],
  [UMP_IOC_GRANT, "UMP_IOC_GRANT"],
  [UMP_IOC_REVOKE, "UMP_IOC_REVOKE"],
  [UMP_IOC_DMABUF_IMPORT, "UMP_IOC_DMABUF_IMPORT"],
  [UMP_IOC_DMABUF_EXPORT, "UMP_IOC_DMABUF_EXPORT"],
]);

/** `UMP_BLOCK_SIZE`: the dedicated backend's unit, 256 KiB. */
export const UMP_BLOCK_SIZE = 256 * 1024;
/** `UMP_SECURE_ID_TABLE_ENTRIES_INITIAL`: the descriptor table starts with 128 entries. */
export const UMP_SECURE_ID_TABLE_ENTRIES_INITIAL = 128;
/** `UMP_SECURE_ID_TABLE_ENTRIES_MAXIMUM`: and doubles up to 4096 (entry 0 reserved). */
export const UMP_SECURE_ID_TABLE_ENTRIES_MAXIMUM = 4096;
/** The VCM backend's device for constraint 0 (`UMP_REF_DRV_UK_VCM_DEV_G2D`), by name: G2D. */
export const UMP_VCM_DEFAULT_DEVICE = "G2D";

/** The backends umm ships, by ARM's `ump_backend` module parameter value order. */
export type UmpBackendName = "dedicated" | "os" | "vcm";
