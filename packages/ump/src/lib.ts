/**
 * libump (`ump.h`, `ump_ref_drv.h`; `ump_frontend.c`, `ump_ref_drv.c`, `ump_arch.c`,
 * `ump_uku.c`): the user-space library, running as a given process. It keeps ARM's API and
 * return conventions — `UMP_OK` / `UMP_ERROR`, `UMP_INVALID_MEMORY_HANDLE` (null) for a failed
 * allocation or import, `umpCpuMsyncNow` returning `is_cached`, and 1 ("always success") from the
 * API > 2 calls — so kernel errors never escape it. Misuse that ARM only catches with
 * `UMP_DEBUG_ASSERT` (a released handle, a read past the end) is a `KernelBug`.
 *
 * A handle maps the whole buffer once, at creation; that mapping is the handle's only kernel
 * reference, and the handle's own reference count (`umpReferenceAdd/Release`) decides when it
 * goes.
 *
 * @module
 */
import { isKernelError, KernelBug, kassert, PAGE_SIZE } from "@umm/kernel-core";
import { O_CLOEXEC, O_RDWR, type Process } from "@umm/kernel-process";
import { MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import {
  GET_VERSION,
  IS_VERSION_ID,
  UMP_ERROR,
  UMP_INVALID_SECURE_ID,
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
  UMP_IOCTL_API_VERSION,
  UMP_IOCTL_API_VERSION_1,
  UMP_MSYNC_READOUT_CACHE_ENABLED,
  UMP_OK,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  type UmpResult,
  type UmpSecureId,
  type UmpUkAllocate,
  type UmpUkMsync,
} from "./types.js";

/** The device node libump opens (`LINUX_UMP_DEVICE_NAME`). */
export const UMP_DEVICE_NAME = "/dev/ump";

/** `UMP_INVALID_MEMORY_HANDLE` = `(ump_handle)0`. */
export const UMP_INVALID_MEMORY_HANDLE = null;

/** libump's per-process state (`ump_uk_ctx`, `ump_ref_count`, `ump_ioctl_api_version_used`). */
interface LibState {
  fd: number;
  refCount: number;
  apiVersion: number;
}

// Each process has its own copy of the library; the key is the process, not a global.
const libs = new WeakMap<Process, LibState>();

/** `struct ump_mem`: a user handle. Read its fields; change it only through the API. */
export class UmpMem {
  /** the process whose library made it */
  readonly proc: Process;
  /** `secure_id` */
  readonly secureId: UmpSecureId;
  /** `mapped_mem`: user address of the mapping of the whole buffer */
  readonly mappedMem: number;
  /** `size`: bytes */
  readonly size: number;
  /** `cookie` (not used by the Linux port; kept as ARM's) */
  readonly cookie: number;
  #cached: number;
  #refCount = 1;

  /** @internal made by the allocation and import functions */
  constructor(proc: Process, secureId: number, mappedMem: number, size: number, cached: number) {
    this.proc = proc;
    this.secureId = secureId;
    this.mappedMem = mappedMem;
    this.size = size;
    this.cookie = 0;
    this.#cached = cached;
  }

  /** `is_cached`, as last read out of the kernel (1 or 0). */
  get isCached(): number {
    return this.#cached;
  }

  /** The handle's own (user-space) reference count; 0 once released. */
  get refCount(): number {
    return this.#refCount;
  }

  /** @internal */
  _setCached(c: number): void {
    this.#cached = c;
  }

  /** @internal */
  _ref(delta: 1 | -1): number {
    this.#refCount += delta;
    return this.#refCount;
  }
}

/** `ump_handle`: a `UmpMem`, or `UMP_INVALID_MEMORY_HANDLE` (null). */
export type UmpHandle = UmpMem;

function check(h: UmpHandle | null, what: string): UmpMem {
  if (!(h instanceof UmpMem)) throw new KernelBug(`${what}: UMP_DEBUG_ASSERT: handle is invalid`);
  if (h.refCount <= 0)
    throw new KernelBug(`${what}: UMP_DEBUG_ASSERT: reference count too low (handle released)`);
  return h;
}

/** Runs a system call the way libump does: a kernel error is a return code, nothing else. */
function sys<T>(fn: () => T): { ok: true; v: T } | { ok: false } {
  try {
    return { ok: true, v: fn() };
  } catch (e) {
    if (isKernelError(e)) return { ok: false };
    throw e;
  }
}

function ioctl(proc: Process, cmd: number, arg: object): boolean {
  const lib = libs.get(proc);
  if (!lib || lib.refCount === 0) return false;
  return sys(() => proc.ioctl(lib.fd, cmd, arg)).ok;
}

/**
 * `ump_open`: the first call in a process opens `/dev/ump` and agrees on the API version
 * (QUERY_API_VERSION with v2; a v1 driver is used in v1 mode: no cache, msync a no-op); later
 * calls only count. `UMP_ERROR` when the device cannot be opened or speaks another version.
 */
export function umpOpen(proc: Process): UmpResult {
  const lib = libs.get(proc);
  if (lib && lib.refCount > 0) {
    lib.refCount++;
    return UMP_OK;
  }
  const opened = sys(() => proc.open(UMP_DEVICE_NAME, O_RDWR));
  if (!opened.ok) return UMP_ERROR;
  const fd = opened.v;
  const q = { version: UMP_IOCTL_API_VERSION, compatible: 0 };
  const asked = sys(() => proc.ioctl(fd, UMP_IOC_QUERY_API_VERSION, q));
  let apiVersion = UMP_IOCTL_API_VERSION;
  if (!asked.ok || !q.compatible) {
    // IS_API_MATCH(MAKE_VERSION_ID(1), version): an old driver, used without cache support
    if (
      asked.ok &&
      IS_VERSION_ID(q.version) &&
      GET_VERSION(q.version) === GET_VERSION(UMP_IOCTL_API_VERSION_1)
    ) {
      apiVersion = UMP_IOCTL_API_VERSION_1;
    } else {
      sys(() => proc.close(fd));
      return UMP_ERROR;
    }
  }
  libs.set(proc, { fd, refCount: 1, apiVersion });
  return UMP_OK;
}

/** `ump_close`: pairs with a successful `umpOpen`; the last closes the device. */
export function umpClose(proc: Process): void {
  const lib = libs.get(proc);
  kassert(lib && lib.refCount > 0, "ump_close: UMP_DEBUG_ASSERT: reference count invalid (not open)");
  lib.refCount--;
  if (lib.refCount === 0) {
    sys(() => proc.close(lib.fd));
    libs.delete(proc);
  }
}

/** How many `umpOpen`s of `proc` are not yet closed (0: the device is closed). */
export function umpOpenCount(proc: Process): number {
  return libs.get(proc)?.refCount ?? 0;
}

/** The fd libump holds on `/dev/ump` in `proc`, or -1 while closed. */
export function umpDeviceFd(proc: Process): number {
  const lib = libs.get(proc);
  return lib && lib.refCount > 0 ? lib.fd : -1;
}

/** `ump_arch_map`: MAP_PRIVATE asks the driver for a cached mapping. */
function archMap(proc: Process, id: number, size: number, cached: boolean): number | null {
  const lib = libs.get(proc);
  if (!lib) return null;
  const r = sys(() =>
    proc.mmap({
      fd: lib.fd,
      length: size,
      prot: PROT_READ | PROT_WRITE,
      flags: cached ? MAP_PRIVATE : MAP_SHARED,
      offset: id * PAGE_SIZE,
    }),
  );
  return r.ok ? r.v : null;
}

/**
 * `ump_ref_drv_allocate`: a new buffer of at least `size` bytes (page-aligned; 0 is one page),
 * mapped into `proc`; `UMP_REF_DRV_CONSTRAINT_USE_CACHE` maps it cached. The sequence of §1.4:
 * ALLOCATE (the session's reference), mmap (the mapping's), RELEASE (the session's goes), msync
 * READOUT — so the mapping is the handle's only kernel reference. `UMP_INVALID_MEMORY_HANDLE`
 * on any failure, with everything undone.
 */
export function umpRefDrvAllocate(proc: Process, size: number, constraints: number): UmpHandle | null {
  const a: UmpUkAllocate = { secure_id: 0, size, constraints };
  if (!ioctl(proc, UMP_IOC_ALLOCATE, a)) return null;
  const cached = (constraints & UMP_REF_DRV_CONSTRAINT_USE_CACHE) !== 0;
  const mapping = archMap(proc, a.secure_id, a.size, cached);
  if (mapping === null) {
    // ARM releases twice on this path (a double release); once is right
    ioctl(proc, UMP_IOC_RELEASE, { secure_id: a.secure_id });
    return null;
  }
  const mem = new UmpMem(proc, a.secure_id, mapping, a.size, 1);
  ioctl(proc, UMP_IOC_RELEASE, { secure_id: a.secure_id });
  umpCpuMsyncNow(mem, UMP_MSYNC_READOUT_CACHE_ENABLED, null, 0);
  return mem;
}

/**
 * `ump_handle_create_from_secure_id`: a new handle on an existing buffer (one per call, no
 * de-duplication): SIZE_GET, then an uncached-request mapping of exactly that size (which the
 * driver refuses if the ID now names a buffer of another size), then READOUT.
 * `UMP_INVALID_MEMORY_HANDLE` for `UMP_INVALID_SECURE_ID`, an unknown ID, or (umm) one this
 * process's uid may not import.
 */
export function umpHandleCreateFromSecureId(proc: Process, secureId: UmpSecureId): UmpHandle | null {
  if (secureId === UMP_INVALID_SECURE_ID) return null;
  const q = { secure_id: secureId, size: 0 };
  if (!ioctl(proc, UMP_IOC_SIZE_GET, q) || q.size === 0) return null;
  const mapping = archMap(proc, secureId, q.size, false);
  if (mapping === null) return null;
  const mem = new UmpMem(proc, secureId, mapping, q.size, 1);
  umpCpuMsyncNow(mem, UMP_MSYNC_READOUT_CACHE_ENABLED, null, 0);
  return mem;
}

/** `ump_secure_id_get`. */
export function umpSecureIdGet(h: UmpHandle): UmpSecureId {
  return check(h, "ump_secure_id_get").secureId;
}

/** `ump_size_get`: bytes. */
export function umpSizeGet(h: UmpHandle): number {
  return check(h, "ump_size_get").size;
}

/**
 * `ump_read`: copies `length` bytes at `offset` of the buffer into `dst` (from index 0), through
 * the process's mapping and so through the CPU cache when the mapping is cached. A range past
 * the end is a `KernelBug` (ARM's debug assert).
 */
export function umpRead(dst: Uint8Array, h: UmpHandle, offset: number, length: number): void {
  const m = check(h, "ump_read");
  kassert(
    offset >= 0 && length >= 0 && offset + length <= m.size && length <= dst.length,
    `ump_read: UMP_DEBUG_ASSERT: read of [${offset}, +${length}) beyond the buffer (${m.size}) or dst (${dst.length})`,
  );
  if (length === 0) return;
  dst.set(m.proc.memRead(m.mappedMem + offset, length));
}

/** `ump_write`: copies `length` bytes of `src` (from index 0) to `offset` of the buffer. */
export function umpWrite(h: UmpHandle, offset: number, src: Uint8Array, length: number): void {
  const m = check(h, "ump_write");
  kassert(
    offset >= 0 && length >= 0 && offset + length <= m.size && length <= src.length,
    `ump_write: UMP_DEBUG_ASSERT: write of [${offset}, +${length}) beyond the buffer (${m.size}) or src (${src.length})`,
  );
  if (length === 0) return;
  m.proc.memWrite(m.mappedMem + offset, src.subarray(0, length));
}

/** `ump_mapped_pointer_get`: the user address of the handle's mapping. */
export function umpMappedPointerGet(h: UmpHandle): number {
  return check(h, "ump_mapped_pointer_get").mappedMem;
}

/** `ump_mapped_pointer_release`: does nothing, as in the reference library. */
export function umpMappedPointerRelease(h: UmpHandle): void {
  check(h, "ump_mapped_pointer_release");
}

/** `ump_reference_add`: one more user reference on the handle. */
export function umpReferenceAdd(h: UmpHandle): void {
  check(h, "ump_reference_add")._ref(1);
}

/**
 * `ump_reference_release`: drops a user reference; the last unmaps the buffer, which drops the
 * handle's kernel reference (and frees the buffer if it was the last anywhere). Using the
 * handle afterwards is a `KernelBug` (undefined behaviour in C).
 */
export function umpReferenceRelease(h: UmpHandle): void {
  const m = check(h, "ump_reference_release");
  if (m._ref(-1) > 0) return;
  sys(() => m.proc.munmap(m.mappedMem, m.size));
}

/**
 * `ump_cpu_msync_now`: cache maintenance of `[address, address + size)` of the buffer (`address`
 * null or 0: the mapping's start; `size` 0: the whole buffer; clamped to the end). An uncached
 * handle returns 0 without asking the kernel; `UMP_MSYNC_READOUT_CACHE_ENABLED` only asks.
 * Returns the kernel's `is_cached` (1/0), which the handle keeps. In v1 mode: 0, no call.
 */
export function umpCpuMsyncNow(h: UmpHandle, op: number, address: number | null, size: number): number {
  const m = check(h, "ump_cpu_msync_now");
  if (op !== UMP_MSYNC_READOUT_CACHE_ENABLED && m.isCached === 0) return 0;
  const addr = address ? address : m.mappedMem;
  const offset = addr - m.mappedMem;
  let len = size === 0 ? m.size : size;
  kassert(
    len >= 0 && len <= m.size,
    `ump_cpu_msync_now: UMP_DEBUG_ASSERT: size ${len} of a ${m.size}-byte handle`,
  );
  if (offset + len > m.size) len = m.size - offset;
  const lib = libs.get(m.proc);
  let cached = 0;
  if (lib && lib.refCount > 0 && lib.apiVersion === UMP_IOCTL_API_VERSION) {
    const a: UmpUkMsync = {
      mapping: m.mappedMem,
      address: addr,
      size: len,
      op,
      cookie: m.cookie,
      secure_id: m.secureId,
      is_cached: 0,
    };
    ioctl(m.proc, UMP_IOC_MSYNC, a);
    cached = a.is_cached;
  }
  m._setCached(cached);
  return cached;
}

/**
 * `ump_cache_operations_control`: `UMP_CACHE_OP_START` defers level-1 flushes of
 * `umpSwitchHwUsage` in this process's session, `UMP_CACHE_OP_FINISH` flushes. Returns 1.
 */
export function umpCacheOperationsControl(proc: Process, op: number): number {
  ioctl(proc, UMP_IOC_CACHE_OPERATIONS_CONTROL, { op });
  return 1;
}

/**
 * `ump_switch_hw_usage`: tells the driver who uses the buffer next (UMP_USED_BY_*); on a cached
 * buffer CPU → device cleans and invalidates it, device → CPU invalidates it (§1.7). Returns 1.
 */
export function umpSwitchHwUsage(h: UmpHandle, newUser: number): number {
  const m = check(h, "ump_switch_hw_usage");
  return umpSwitchHwUsageSecureId(m.proc, m.secureId, newUser);
}

/** `ump_switch_hw_usage_secure_id`: as `umpSwitchHwUsage` by ID. Returns 1. */
export function umpSwitchHwUsageSecureId(proc: Process, secureId: UmpSecureId, newUser: number): number {
  ioctl(proc, UMP_IOC_SWITCH_HW_USAGE, { secure_id: secureId, new_user: newUser });
  return 1;
}

/** `ump_lock`: records `lockUsage` (UMP_READ, UMP_READ_WRITE); never blocks. Returns 1. */
export function umpLock(h: UmpHandle, lockUsage: number): number {
  const m = check(h, "ump_lock");
  return umpLockSecureId(m.proc, m.secureId, lockUsage);
}

/** `ump_lock_secure_id`. Returns 1. */
export function umpLockSecureId(proc: Process, secureId: UmpSecureId, lockUsage: number): number {
  ioctl(proc, UMP_IOC_LOCK, { secure_id: secureId, lock_usage: lockUsage });
  return 1;
}

/** `ump_unlock`. Returns 1. */
export function umpUnlock(h: UmpHandle): number {
  const m = check(h, "ump_unlock");
  return umpUnlockSecureId(m.proc, m.secureId);
}

/** `ump_unlock_secure_id`. Returns 1. */
export function umpUnlockSecureId(proc: Process, secureId: UmpSecureId): number {
  ioctl(proc, UMP_IOC_UNLOCK, { secure_id: secureId });
  return 1;
}

/**
 * umm: lets processes of `uid` import the handle's buffer (UMP_IOC_GRANT). `UMP_ERROR` when
 * this process's uid does not own it.
 */
export function umpGrant(h: UmpHandle, uid: number): UmpResult {
  const m = check(h, "ump_grant");
  return ioctl(m.proc, UMP_IOC_GRANT, { secure_id: m.secureId, uid }) ? UMP_OK : UMP_ERROR;
}

/** umm: withdraws a grant (UMP_IOC_REVOKE); handles already made stay valid. */
export function umpRevoke(h: UmpHandle, uid: number): UmpResult {
  const m = check(h, "ump_revoke");
  return ioctl(m.proc, UMP_IOC_REVOKE, { secure_id: m.secureId, uid }) ? UMP_OK : UMP_ERROR;
}

/**
 * Samsung's dma-buf import as a handle: UMP_IOC_DMABUF_IMPORT of this process's dma-buf `fd`
 * (the session's reference), then the sequence of `umpRefDrvAllocate` — mmap (cached when the
 * imported buffer is), RELEASE, READOUT — so the mapping is the handle's only kernel reference.
 * `UMP_INVALID_MEMORY_HANDLE` on any failure (not a dma-buf, pages UMP cannot describe, ...).
 */
export function umpDmaBufImport(proc: Process, fd: number): UmpHandle | null {
  const a = { fd, size: 0, secure_id: 0 };
  if (!ioctl(proc, UMP_IOC_DMABUF_IMPORT, a)) return null;
  const probe = {
    mapping: 0,
    address: 0,
    size: 0,
    op: UMP_MSYNC_READOUT_CACHE_ENABLED,
    cookie: 0,
    secure_id: a.secure_id,
    is_cached: 0,
  };
  ioctl(proc, UMP_IOC_MSYNC, probe);
  const mapping = archMap(proc, a.secure_id, a.size, probe.is_cached === 1);
  if (mapping === null) {
    ioctl(proc, UMP_IOC_RELEASE, { secure_id: a.secure_id });
    return null;
  }
  const mem = new UmpMem(proc, a.secure_id, mapping, a.size, 1);
  ioctl(proc, UMP_IOC_RELEASE, { secure_id: a.secure_id });
  umpCpuMsyncNow(mem, UMP_MSYNC_READOUT_CACHE_ENABLED, null, 0);
  return mem;
}

/**
 * umm: a dma-buf fd of the handle's buffer in its process (UMP_IOC_DMABUF_EXPORT), with
 * FD_CLOEXEC when `cloexec`; -1 on failure. The dma-buf holds the buffer until it is released.
 */
export function umpDmaBufExport(h: UmpHandle, cloexec = false): number {
  const m = check(h, "ump_dmabuf_export");
  const a = { secure_id: m.secureId, flags: cloexec ? O_CLOEXEC : 0, fd: -1 };
  return ioctl(m.proc, UMP_IOC_DMABUF_EXPORT, a) ? a.fd : -1;
}
