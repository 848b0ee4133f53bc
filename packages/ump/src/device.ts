/**
 * `/dev/ump` (`ump_kernel_linux.c`, `ump_ukk_ref_wrappers.c`, `ump_kernel_common.c`,
 * `ump_kernel_api.c`, `ump_osk_low_level_mem.c`): one session per open file, the ioctls of
 * §1.6 and mmap by secure ID.
 *
 * Errors are ARM's `map_errcode` of the `_mali_osk_errcode_t` each path returns, in the lineage
 * of Samsung's smdk4412 copy of the r3p driver: `_MALI_OSK_ERR_FAULT` → EFAULT,
 * `_INVALID_FUNC` → ENOTTY, `_INVALID_ARGS` → EINVAL, `_NOMEM` → ENOMEM, `_ITEM_NOT_FOUND` →
 * ENOENT, anything else → EFAULT; an unknown command is EFAULT. umm adds EPERM for a secure ID
 * the caller may not import and EINVAL for a struct field that is not a 32-bit number.
 *
 * @module
 */
import { hex, KernelError } from "@umm/kernel-core";
import type { File, FileOps, MmapContext } from "@umm/kernel-process";
import type { Vma } from "@umm/mm-core";
import { ioctlDmaBufExport, ioctlDmaBufImport } from "./dmabuf.js";
import { DescriptorMapping } from "./ids.js";
import { checkUid, createMem, idText } from "./kernel-api.js";
import {
  cpuFor,
  currentPid,
  currentUid,
  maintainRange,
  mayImport,
  memGet,
  memPut,
  pfnsOf,
  traceDenied,
  type UmpDdMem,
  type UmpMapping,
  type UmpSession,
  type UmpState,
  umpWarn,
} from "./state.js";
import {
  _UMP_UK_MSYNC_FLUSH_L1,
  UMP_CACHE_OP_FINISH,
  UMP_CACHE_OP_START,
  UMP_IOC_ALLOCATE,
  UMP_IOC_CACHE_OPERATIONS_CONTROL,
  UMP_IOC_DMABUF_EXPORT,
  UMP_IOC_DMABUF_IMPORT,
  UMP_IOC_GRANT,
  UMP_IOC_LOCK,
  UMP_IOC_MSYNC,
  UMP_IOC_NAMES,
  UMP_IOC_QUERY_API_VERSION,
  UMP_IOC_RELEASE,
  UMP_IOC_REVOKE,
  UMP_IOC_SIZE_GET,
  UMP_IOC_SWITCH_HW_USAGE,
  UMP_IOC_UNLOCK,
  UMP_IOCTL_API_VERSION,
  UMP_IOCTL_API_VERSION_1,
  UMP_MSYNC_CLEAN,
  UMP_MSYNC_CLEAN_AND_INVALIDATE,
  UMP_MSYNC_INVALIDATE,
  UMP_MSYNC_READOUT_CACHE_ENABLED,
  UMP_NOT_LOCKED,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  UMP_SECURE_ID_TABLE_ENTRIES_INITIAL,
  UMP_SECURE_ID_TABLE_ENTRIES_MAXIMUM,
  UMP_USED_BY_CPU,
  type UmpUkAllocate,
  type UmpUkApiVersion,
  type UmpUkCacheOperationsControl,
  type UmpUkDmaBufExport,
  type UmpUkDmaBufImport,
  type UmpUkGrant,
  type UmpUkLock,
  type UmpUkMsync,
  type UmpUkRelease,
  type UmpUkSizeGet,
  type UmpUkSwitchHwUsage,
  type UmpUkUnlock,
} from "./types.js";

/** `_mali_osk_errcode_t` values the driver returns. */
type OskErr = "FAULT" | "INVALID_FUNC" | "INVALID_ARGS" | "NOMEM" | "ITEM_NOT_FOUND" | "OTHER";

/** `map_errcode` (Samsung's ump_kernel_linux.c). */
function oskFail(err: OskErr, detail: string): never {
  const errno =
    err === "INVALID_FUNC"
      ? "ENOTTY"
      : err === "INVALID_ARGS"
        ? "EINVAL"
        : err === "NOMEM"
          ? "ENOMEM"
          : err === "ITEM_NOT_FOUND"
            ? "ENOENT"
            : "EFAULT";
  throw new KernelError(errno, `${detail} (_MALI_OSK_ERR_${err === "OTHER" ? "FAULT" : err})`);
}

/** The ioctl argument as a struct: NULL → ENOTTY (the wrappers' check), not a struct → EFAULT. */
function struct<T>(arg: unknown, what: string): T {
  if (arg === null || arg === undefined) throw new KernelError("ENOTTY", `${what}: NULL parameter`);
  if (typeof arg !== "object")
    throw new KernelError("EFAULT", `${what}: argument is not a struct (copy_from_user)`);
  return arg as T;
}

/** An input field of a struct: a u32. */
function u32(s: object, field: string, what: string): number {
  const v = (s as Record<string, unknown>)[field];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new KernelError("EINVAL", `${what}: ${field} ${String(v)} is not a 32-bit unsigned number`);
  }
  return v;
}

/** An input field of a struct: an int (an fd). */
function i32(s: object, field: string, what: string): number {
  const v = (s as Record<string, unknown>)[field];
  if (typeof v !== "number" || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
    throw new KernelError("EINVAL", `${what}: ${field} ${String(v)} is not a 32-bit int`);
  }
  return v;
}

const MSYNC_OP_NAMES: Record<number, string> = {
  [UMP_MSYNC_CLEAN]: "clean",
  [UMP_MSYNC_CLEAN_AND_INVALIDATE]: "clean_and_invalidate",
  [UMP_MSYNC_INVALIDATE]: "invalidate",
  [_UMP_UK_MSYNC_FLUSH_L1]: "flush_l1",
  [UMP_MSYNC_READOUT_CACHE_ENABLED]: "readout",
};

/** @internal the FileOps of /dev/ump for state `st` */
export function umpFileOps(st: UmpState): FileOps {
  return Object.freeze({
    open: (file: File) => {
      // _ump_ukk_open: a session with empty lists, API v1 until QUERY_API_VERSION
      const s: UmpSession = {
        id: st.nextSessionId++,
        file,
        apiVersion: UMP_IOCTL_API_VERSION_1,
        memoryList: [],
        mappings: new Map(),
        cookies: new DescriptorMapping<UmpMapping>(
          UMP_SECURE_ID_TABLE_ENTRIES_INITIAL,
          UMP_SECURE_ID_TABLE_ENTRIES_MAXIMUM,
        ),
        cacheOperationsOngoing: 0,
        pendingL1Flush: 0,
        closed: false,
      };
      file.privateData = s;
      st.sessions.add(s);
    },
    release: (file: File) => closeSession(st, file.privateData as UmpSession),
    ioctl: (file: File, cmd: number, arg: unknown) => ioctl(st, file, cmd, arg),
    mmap: (file: File, ctx: MmapContext) => mmap(st, file, ctx),
  } satisfies FileOps);
}

/** `_ump_ukk_close`: unmaps what is still mapped, then drops every allocation reference. */
function closeSession(st: UmpState, s: UmpSession): void {
  if (!s || s.closed) return;
  // a mapping holds a file reference, so none is left by the time release runs; ARM handles
  // the case anyway, and so does umm
  for (const m of [...s.mappings.values()]) unmapMem(st, m);
  while (s.memoryList.length > 0) {
    const mem = s.memoryList.shift()!;
    memPut(st, mem, "session");
  }
  s.closed = true;
  st.sessions.delete(s);
}

function ioctl(st: UmpState, file: File, cmd: number, arg: unknown): number {
  const s = file.privateData as UmpSession | null;
  if (!s) throw new KernelError("ENOTTY", "ump ioctl: no session data attached to file object");
  const name = UMP_IOC_NAMES.get(cmd) ?? `ioctl ${hex(cmd)}`;
  const legacy = st.config.apiVersion === 1;
  switch (cmd) {
    case UMP_IOC_QUERY_API_VERSION:
      return queryApiVersion(st, s, struct<UmpUkApiVersion>(arg, name));
    case UMP_IOC_ALLOCATE:
      return allocate(st, s, struct<UmpUkAllocate>(arg, name));
    case UMP_IOC_RELEASE:
      return release(st, s, struct<UmpUkRelease>(arg, name));
    case UMP_IOC_SIZE_GET:
      return sizeGet(st, struct<UmpUkSizeGet>(arg, name));
    case UMP_IOC_GRANT:
    case UMP_IOC_REVOKE:
      return grant(st, struct<UmpUkGrant>(arg, name), cmd === UMP_IOC_GRANT, name);
    case UMP_IOC_DMABUF_IMPORT: {
      const a = struct<UmpUkDmaBufImport>(arg, name);
      return ioctlDmaBufImport(st, s, a, i32(a, "fd", name));
    }
    case UMP_IOC_DMABUF_EXPORT: {
      const a = struct<UmpUkDmaBufExport>(arg, name);
      return ioctlDmaBufExport(st, a, u32(a, "secure_id", name), u32(a, "flags", name));
    }
  }
  if (!legacy) {
    switch (cmd) {
      case UMP_IOC_MSYNC:
        return msync(st, struct<UmpUkMsync>(arg, name));
      case UMP_IOC_CACHE_OPERATIONS_CONTROL:
        return cacheOperationsControl(st, s, struct<UmpUkCacheOperationsControl>(arg, name));
      case UMP_IOC_SWITCH_HW_USAGE:
        return switchHwUsage(st, s, struct<UmpUkSwitchHwUsage>(arg, name));
      case UMP_IOC_LOCK:
      case UMP_IOC_UNLOCK:
        return lock(st, struct<UmpUkLock | UmpUkUnlock>(arg, name), cmd === UMP_IOC_LOCK, name);
    }
  }
  // Samsung's ump_file_ioctl: "No handler for IOCTL" → -EFAULT (not -ENOTTY)
  throw new KernelError("EFAULT", `ump ioctl: no handler for cmd ${hex(cmd)}`);
}

/** `_ump_uku_get_api_version`: accepts the driver's version or v1. */
function queryApiVersion(st: UmpState, s: UmpSession, a: UmpUkApiVersion): number {
  const version = u32(a, "version", "UMP_IOC_QUERY_API_VERSION");
  const own = st.config.apiVersion === 2 ? UMP_IOCTL_API_VERSION : UMP_IOCTL_API_VERSION_1;
  if (version === own || version === UMP_IOCTL_API_VERSION_1) {
    a.compatible = 1;
    s.apiVersion = version;
  } else {
    a.compatible = 0;
    a.version = own;
  }
  return 0;
}

/** `_ump_ukk_allocate`. */
function allocate(st: UmpState, s: UmpSession, a: UmpUkAllocate): number {
  const what = "UMP_IOC_ALLOCATE";
  const requested = u32(a, "size", what);
  const constraints = u32(a, "constraints", what);
  if (st.ids.full) {
    // the table is full: ARM returns -_MALI_OSK_ERR_INVALID_FUNC, which map_errcode's default
    // turns into -EFAULT
    oskFail("OTHER", `${what}: no secure ID left (${st.ids.size} live)`);
  }
  // size 0 is one page ("emulate what malloc does"); then PAGE_ALIGN
  const size = Math.ceil(Math.max(requested, 1) / 4096) * 4096;
  const cached = st.config.apiVersion === 2 && (constraints & UMP_REF_DRV_CONSTRAINT_USE_CACHE) !== 0;
  let alloc: ReturnType<typeof st.backend.allocate>;
  try {
    alloc = st.backend.allocate({ size, constraints, cached });
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    // backend failure is _MALI_OSK_ERR_INVALID_FUNC: -ENOTTY, ARM's quirk
    oskFail(
      "INVALID_FUNC",
      `${what}: backend ${st.backend.name} failed for ${hex(size)} bytes: ${e.message}`,
    );
  }
  if (!alloc) {
    oskFail("INVALID_FUNC", `${what}: no ${st.backend.name} memory left for ${hex(size)} bytes`);
  }
  const backend = st.backend;
  const got = alloc;
  const mem = createMem(
    st,
    {
      blocks: got.blocks,
      size: got.size,
      cached: got.cached,
      backend: backend.name,
      alloc: got,
      release: () => backend.release(got),
    },
    "session",
  );
  s.memoryList.unshift(mem);
  a.secure_id = mem.secureId;
  a.size = mem.size;
  return 0;
}

/** `_ump_ukk_release`: only an allocation reference this session holds. */
function release(st: UmpState, s: UmpSession, a: UmpUkRelease): number {
  const id = u32(a, "secure_id", "UMP_IOC_RELEASE");
  const i = s.memoryList.findIndex((m) => m.secureId === id);
  if (i < 0) oskFail("INVALID_FUNC", `UMP_IOC_RELEASE: ${idText(id)} does not belong to this session`);
  const [mem] = s.memoryList.splice(i, 1);
  memPut(st, mem!, "session");
  return 0;
}

/** Looks `id` up for a caller that wants to use it; EPERM (umm) when it may not. */
function importable(st: UmpState, id: number, what: string): UmpDdMem | null {
  const mem = st.ids.get(id);
  if (!mem) return null;
  const uid = currentUid(st.kernel);
  if (!mayImport(st, mem, uid)) {
    traceDenied(st, mem, uid);
    throw new KernelError(
      "EPERM",
      `${what}: uid ${uid} may not import ${idText(id)} (owner uid ${mem.ownerUid})`,
    );
  }
  return mem;
}

/** `_ump_ukk_size_get`: no ownership check in ARM; umm checks import rights. */
function sizeGet(st: UmpState, a: UmpUkSizeGet): number {
  const id = u32(a, "secure_id", "UMP_IOC_SIZE_GET");
  const mem = importable(st, id, "UMP_IOC_SIZE_GET");
  if (!mem) oskFail("FAULT", `UMP_IOC_SIZE_GET: ${idText(id)} is not allocated`);
  a.size = mem.size;
  return 0;
}

/** umm's UMP_IOC_GRANT / UMP_IOC_REVOKE: only the owner (or root) shares a buffer further. */
function grant(st: UmpState, a: UmpUkGrant, add: boolean, what: string): number {
  const id = u32(a, "secure_id", what);
  const uid = u32(a, "uid", what);
  checkUid(uid, what);
  const mem = st.ids.get(id);
  if (!mem) oskFail("ITEM_NOT_FOUND", `${what}: ${idText(id)} is not allocated`);
  const caller = currentUid(st.kernel);
  if (caller !== 0 && caller !== mem.ownerUid) {
    traceDenied(st, mem, caller);
    throw new KernelError(
      "EPERM",
      `${what}: uid ${caller} does not own ${idText(id)} (owner uid ${mem.ownerUid})`,
    );
  }
  mem._grant(uid, add);
  return 0;
}

/** `_ump_ukk_msync`: an unknown ID is silently ignored. */
function msync(st: UmpState, a: UmpUkMsync): number {
  const what = "UMP_IOC_MSYNC";
  const id = u32(a, "secure_id", what);
  const op = u32(a, "op", what);
  const mapping = u32(a, "mapping", what);
  const address = u32(a, "address", what);
  const size = u32(a, "size", what);
  const mem = importable(st, id, what);
  if (!mem) {
    umpWarn(st, `${what}: failed to look up ${idText(id)}`);
    return 0;
  }
  if (st.tp.msync.enabled) st.tp.msync.emit({ secure_id: id, op: MSYNC_OP_NAMES[op] ?? String(op) });
  a.is_cached = mem.isCached ? 1 : 0;
  if (op === UMP_MSYNC_READOUT_CACHE_ENABLED || !mem.isCached) return 0;
  // offset and size are u32 arithmetic in the driver: an address below the mapping wraps
  const offset = address ? (address - mapping) >>> 0 : 0;
  const len = size ? size : mem.size - offset;
  if (offset + len > mem.size || len < 0) {
    umpWarn(
      st,
      `${what}: trying to flush more than the entire UMP allocation: offset ${offset} + size ${len} > ${mem.size}`,
    );
    return 0;
  }
  const cpu = cpuFor(st);
  if (!cpu) return 0;
  if (op === UMP_MSYNC_CLEAN) maintainRange(cpu, mem, "clean", offset, len);
  else if (op === UMP_MSYNC_CLEAN_AND_INVALIDATE) maintainRange(cpu, mem, "flush", offset, len);
  else if (op === UMP_MSYNC_INVALIDATE) maintainRange(cpu, mem, "invalidate", offset, len);
  // other ops: only ARM's level-1 flush by VA, which the single modelled level folds away
  return 0;
}

/** `_ump_ukk_cache_operations_control`. */
function cacheOperationsControl(st: UmpState, s: UmpSession, a: UmpUkCacheOperationsControl): number {
  const op = u32(a, "op", "UMP_IOC_CACHE_OPERATIONS_CONTROL");
  if (op === UMP_CACHE_OP_START) {
    s.cacheOperationsOngoing++;
  } else if (op === UMP_CACHE_OP_FINISH) {
    s.cacheOperationsOngoing--;
    // "to be on the safe side: always flush l1 cache when cache operations are done"
    flushL1(st, s);
  } else {
    umpWarn(st, `UMP_IOC_CACHE_OPERATIONS_CONTROL: illegal op ${op}`);
  }
  return 0;
}

/**
 * `level1_cache_flush_all`: writes the level-1 data cache into the level-2 cache. arch-arm
 * models the two as one level, so nothing observable changes; the event records it.
 */
function flushL1(st: UmpState, s: UmpSession): void {
  s.pendingL1Flush = 0;
  if (st.tp.msync.enabled) st.tp.msync.emit({ secure_id: 0, op: "flush_l1" });
}

/** `_ump_ukk_switch_hw_usage`: §1.7's state machine. */
function switchHwUsage(st: UmpState, s: UmpSession, a: UmpUkSwitchHwUsage): number {
  const what = "UMP_IOC_SWITCH_HW_USAGE";
  const id = u32(a, "secure_id", what);
  const to = u32(a, "new_user", what);
  const mem = importable(st, id, what);
  if (!mem) {
    umpWarn(st, `${what}: failed to look up ${idText(id)}`);
    return 0;
  }
  const from = mem.hwDevice;
  mem._setHwDevice(to);
  if (st.tp.switchHwUsage.enabled) st.tp.switchHwUsage.emit({ secure_id: id, from, to });
  if (!mem.isCached || from === to) return 0;
  if (from !== UMP_USED_BY_CPU && to !== UMP_USED_BY_CPU) return 0;
  // device → CPU: invalidate; CPU → device: clean and invalidate; the whole buffer
  const op = from !== UMP_USED_BY_CPU ? "invalidate" : "flush";
  if (s.cacheOperationsOngoing) s.pendingL1Flush++;
  else flushL1(st, s);
  const cpu = cpuFor(st);
  if (cpu) maintainRange(cpu, mem, op, 0, mem.size);
  return 0;
}

/**
 * `_ump_ukk_lock` / `_ump_ukk_unlock`: record the lock usage on the buffer and nothing more. That
 * is the whole of ARM's implementation (its source marks the missing lock as a TODO it never
 * did): no caller blocks; the usage is readable as the descriptor's `lockUsage`.
 */
function lock(st: UmpState, a: UmpUkLock | UmpUkUnlock, take: boolean, what: string): number {
  const id = u32(a, "secure_id", what);
  const usage = take ? u32(a, "lock_usage", what) : UMP_NOT_LOCKED;
  const mem = importable(st, id, what);
  if (!mem) {
    umpWarn(st, `${what}: failed to look up ${idText(id)}`);
    return 0;
  }
  mem._setLockUsage(usage);
  return 0;
}

/**
 * `ump_file_mmap` + `_ump_ukk_map_mem`: maps the buffer whose secure ID is the page offset;
 * the length must be its size. MAP_PRIVATE asks for a cached mapping and makes an uncached
 * buffer cached for good. The mapping holds a reference until its last piece is unmapped.
 */
function mmap(st: UmpState, file: File, ctx: MmapContext): void {
  const s = file.privateData as UmpSession | null;
  if (!s) throw new KernelError("EFAULT", "ump mmap: called without any session data available");
  const id = ctx.pgoff;
  const mem = id <= 0xffffffff ? importable(st, id, "ump mmap") : null;
  if (!mem) oskFail("FAULT", `ump mmap: trying to map unknown ${idText(id)}`);
  if (mem.size !== ctx.length) {
    oskFail(
      "FAULT",
      `ump mmap: trying to map too much or little of ${idText(id)}: virtual size ${hex(ctx.length)}, UMP size ${hex(mem.size)}`,
    );
  }
  if (s.cookies.full) oskFail("NOMEM", `ump mmap: no cookie left in this session for ${idText(id)}`);
  // !(vm_flags & VM_SHARED): "Forcing the CPU to use cache" (a v1 driver has no cached UMP)
  const wantCached = !ctx.shared && st.config.apiVersion === 2;
  const pid = currentPid(st.kernel);
  const pfns = pfnsOf(mem.blocks);
  const cached = mem.isCached || wantCached;
  // everything checked: commit
  ctx.setPages(pfns, { refs: false });
  ctx.setMemtype(cached ? "cacheable" : "writecombine");
  ctx.setName(`ump:${hex(id)}`);
  if (!mem.isCached && wantCached) {
    // "mapping UMP secure_id as cached, while it was allocated uncached": for good
    mem._setCached();
    if (mem._alloc) st.backend.setCached?.(mem._alloc);
  }
  memGet(mem, "map");
  const cookie = s.cookies.allocate(undefined as unknown as UmpMapping);
  const mapping: UmpMapping = {
    session: s,
    mem,
    cookie,
    size: mem.size,
    cached,
    pid,
    vmaRefs: 1,
    gone: false,
  };
  s.cookies.set(cookie, mapping);
  s.mappings.set(cookie, mapping);
  // VM_DONTCOPY: a child of fork() would not inherit the mapping (umm has no fork); the VMA
  // is forced VM_SHARED, which changes nothing here (umm never copies on write)
  ctx.setPrivate(mapping);
  ctx.setOps({
    open: () => {
      mapping.vmaRefs++;
    },
    close: (_vma: Vma) => {
      mapping.vmaRefs--;
      if (mapping.vmaRefs === 0) unmapMem(st, mapping);
    },
  });
  if (st.tp.map.enabled) st.tp.map.emit({ secure_id: id, pid });
}

/** `_ump_ukk_unmap_mem`: the mapping's reference goes. */
function unmapMem(st: UmpState, m: UmpMapping): void {
  if (m.gone) return;
  m.gone = true;
  m.session.mappings.delete(m.cookie);
  m.session.cookies.free(m.cookie);
  if (st.tp.unmap.enabled) st.tp.unmap.emit({ secure_id: m.mem.secureId, pid: m.pid });
  memPut(st, m.mem, "map");
}
