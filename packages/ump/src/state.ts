/**
 * The state of UMP in one kernel (ARM's global `struct ump_dev device`: the secure-ID table, the
 * backend) in a kernel slot, the memory descriptor `ump_dd_mem` behind every handle, sessions
 * and mappings, and the reference accounting they share.
 *
 * @module
 */
import { type Cpu, cpuOf } from "@umm/arch-arm";
import {
  type Device,
  defineSlot,
  hex,
  type Kernel,
  KernelBug,
  KernelError,
  kassert,
  PAGE_SIZE,
  type Tracepoint,
} from "@umm/kernel-core";
import { type Chrdev, currentProcess, type File } from "@umm/kernel-process";
import type { Mm } from "@umm/mm-core";
import type { DescriptorMapping, SecureIdTable } from "./ids.js";
import type { UmpBackendAllocation, UmpMemoryBackend } from "./ops.js";
import "./trace.js";
import { UMP_NOT_LOCKED, UMP_USED_BY_CPU, type UmpDdPhysicalBlock } from "./types.js";

/** Who holds a reference on a buffer: the kinds of §1.9's ref-count invariant. */
export type RefKind = "session" | "map" | "kernel";

/**
 * `ump_dd_mem`: one UMP buffer, what a kernel `ump_dd_handle` points at. Its secure ID lives in
 * the table while any reference does; the last `release` frees the ID and gives the memory back.
 */
export class UmpDdMem {
  /** the kernel this buffer lives in */
  readonly kernel: Kernel;
  /** `secure_id` */
  readonly secureId: number;
  /** `size_bytes`: the sum of the blocks' sizes */
  readonly size: number;
  /** `block_array` (a copy; the descriptor's own is not reachable) */
  readonly #blocks: readonly UmpDdPhysicalBlock[];
  /** the backend's name, or "phys_blocks" for driver memory */
  readonly backend: string;
  /** uid of the process that created it (0 for the kernel) */
  readonly ownerUid: number;
  readonly #grants = new Set<number>();
  /** @internal the backend allocation (null for driver memory) */
  readonly _alloc: UmpBackendAllocation | null;
  /** @internal what frees the memory at the last reference */
  readonly _releaseFn: () => void;
  #cached: boolean;
  #hwDevice = UMP_USED_BY_CPU;
  #lockUsage = UMP_NOT_LOCKED;
  readonly #refs = { session: 0, map: 0, kernel: 0 };
  #released = false;

  /** @internal created by the allocation paths; the caller accounts the first reference */
  constructor(
    kernel: Kernel,
    init: {
      secureId: number;
      blocks: readonly UmpDdPhysicalBlock[];
      size: number;
      cached: boolean;
      backend: string;
      ownerUid: number;
      alloc: UmpBackendAllocation | null;
      release: () => void;
    },
  ) {
    this.kernel = kernel;
    this.secureId = init.secureId;
    this.#blocks = init.blocks.map((b) => Object.freeze({ addr: b.addr, size: b.size }));
    this.size = init.size;
    this.#cached = init.cached;
    this.backend = init.backend;
    this.ownerUid = init.ownerUid;
    this._alloc = init.alloc;
    this._releaseFn = init.release;
  }

  /** uids granted import rights besides the owner (umm). */
  get grants(): ReadonlySet<number> {
    return this.#grants;
  }

  /** @internal */
  _grant(uid: number, add: boolean): void {
    if (add) this.#grants.add(uid);
    else this.#grants.delete(uid);
  }

  /** `nr_blocks`. */
  get nrBlocks(): number {
    return this.#blocks.length;
  }

  /** The physical blocks (frozen copies). */
  get blocks(): readonly UmpDdPhysicalBlock[] {
    return this.#blocks;
  }

  /** `is_cached`: once true, it stays true. */
  get isCached(): boolean {
    return this.#cached;
  }

  /** `hw_device`: the last user set by `UMP_IOC_SWITCH_HW_USAGE` (UMP_USED_BY_*). */
  get hwDevice(): number {
    return this.#hwDevice;
  }

  /** `lock_usage`: UMP_NOT_LOCKED, UMP_READ or UMP_READ_WRITE (recorded only; nothing waits). */
  get lockUsage(): number {
    return this.#lockUsage;
  }

  /** `ref_count`: every reference (session allocations, mappings, kernel handles). */
  get refCount(): number {
    return this.#refs.session + this.#refs.map + this.#refs.kernel;
  }

  /** References taken through the kernel API (`umpDdHandleCreateFromSecureId`, `umpDdReferenceAdd`, creation from blocks). */
  get kernelRefs(): number {
    return this.#refs.kernel;
  }

  /** True once the last reference went (the handle is dangling). */
  get released(): boolean {
    return this.#released;
  }

  /** @internal */
  _setCached(): void {
    this.#cached = true;
  }

  /** @internal */
  _setHwDevice(user: number): void {
    this.#hwDevice = user;
  }

  /** @internal */
  _setLockUsage(usage: number): void {
    this.#lockUsage = usage;
  }

  /** @internal */
  _refs(kind: RefKind): number {
    return this.#refs[kind];
  }

  /** @internal */
  _get(kind: RefKind): void {
    if (this.#released) throw new KernelBug(`ump: secure ID ${hex(this.secureId)}: get after release`);
    this.#refs[kind]++;
  }

  /** @internal returns true when this was the last reference */
  _put(kind: RefKind): boolean {
    if (this.#released) throw new KernelBug(`ump: secure ID ${hex(this.secureId)}: put after release`);
    kassert(this.#refs[kind] > 0, `ump: secure ID ${hex(this.secureId)}: no ${kind} reference to drop`);
    this.#refs[kind]--;
    if (this.refCount > 0) return false;
    this.#released = true;
    return true;
  }

  /** @internal moves one reference from `from` to `to` (an import attached to a session) */
  _move(from: RefKind, to: RefKind): void {
    kassert(this.#refs[from] > 0, `ump: secure ID ${hex(this.secureId)}: no ${from} reference to move`);
    this.#refs[from]--;
    this.#refs[to]++;
  }

  /** "ump:<id in hex>" for messages. */
  toString(): string {
    return `ump:${hex(this.secureId)}`;
  }
}

/** A live mapping of a buffer (`ump_memory_allocation` on the session's mappings list). */
export interface UmpMapping {
  readonly session: UmpSession;
  readonly mem: UmpDdMem;
  /** the session's cookie for it (`map_id`) */
  readonly cookie: number;
  /** bytes mapped (the buffer's size) */
  readonly size: number;
  /** mapped cacheable (else write-combined) */
  readonly cached: boolean;
  /** the process that mapped it */
  readonly pid: number;
  /** VMA pieces still alive (`ump_vma_usage_tracker.references`; splits add, closes drop) */
  vmaRefs: number;
  /** unmapped: its reference dropped */
  gone: boolean;
}

/** One open file of /dev/ump (`struct ump_session_data`). */
export interface UmpSession {
  /** a serial number for reports */
  readonly id: number;
  readonly file: File;
  /** `api_version`: v1 until QUERY_API_VERSION says otherwise */
  apiVersion: number;
  /** `list_head_session_memory_list`: buffers this session holds a reference on, newest first */
  readonly memoryList: UmpDdMem[];
  /** `list_head_session_memory_mappings_list`, by cookie */
  readonly mappings: Map<number, UmpMapping>;
  /** `cookies_map` */
  readonly cookies: DescriptorMapping<UmpMapping>;
  /** `cache_operations_ongoing` (START minus FINISH; ARM lets it go negative) */
  cacheOperationsOngoing: number;
  /** `has_pending_level1_cache_flush` */
  pendingL1Flush: number;
  /** released: the file's last reference went */
  closed: boolean;
}

/** Options fixed at `umpInit`. */
export interface UmpConfig {
  /** ARM's sequential IDs in [1, 4095] and no access control */
  readonly compat: boolean;
  /** the driver's API version: 2 (cached UMP) or 1 (legacy: no cache, no msync) */
  readonly apiVersion: 1 | 2;
  /** the device node */
  readonly path: string;
}

/** The UMP state of one kernel. */
export interface UmpState {
  readonly kernel: Kernel;
  readonly mm: Mm;
  readonly config: UmpConfig;
  /** `device.secure_id_map` */
  readonly ids: SecureIdTable<UmpDdMem>;
  /** `device.backend` */
  readonly backend: UmpMemoryBackend;
  /** /dev/ump */
  cdev: Chrdev | null;
  /** open sessions */
  readonly sessions: Set<UmpSession>;
  /** the device UMP attaches to imported dma-bufs with (made at the first import) */
  dmaBufDevice: Device | null;
  nextSessionId: number;
  readonly tp: {
    readonly alloc: Tracepoint<"ump_alloc">;
    readonly release: Tracepoint<"ump_release">;
    readonly map: Tracepoint<"ump_map">;
    readonly unmap: Tracepoint<"ump_unmap">;
    readonly msync: Tracepoint<"ump_msync">;
    readonly switchHwUsage: Tracepoint<"ump_switch_hw_usage">;
    readonly denied: Tracepoint<"ump_denied">;
    readonly warn: Tracepoint<"ump_warn">;
  };
}

const UMP = defineSlot<UmpState>("ump");

/** @internal stores the state (`umpInit`) */
export function setUmpState(kernel: Kernel, st: UmpState): void {
  kernel.setSlot(UMP, st);
}

/** @internal removes it (`umpExit`) */
export function clearUmpState(kernel: Kernel): void {
  kernel.clearSlot(UMP);
}

/** @internal the state, or ENODEV when UMP is not loaded */
export function umpState(kernel: Kernel): UmpState {
  const st = kernel.trySlot(UMP);
  if (!st) throw new KernelError("ENODEV", `ump: not initialised on kernel "${kernel.name}" (umpInit)`);
  return st;
}

/** @internal the state or undefined */
export function tryUmpState(kernel: Kernel): UmpState | undefined {
  return kernel.trySlot(UMP);
}

/** @internal a warning event (the driver's MSG_ERR) */
export function umpWarn(st: UmpState, message: string): void {
  if (st.tp.warn.enabled) st.tp.warn.emit({ message });
}

/** @internal the uid of the task current now (0 in kernel context: the kernel is trusted) */
export function currentUid(kernel: Kernel): number {
  return currentProcess(kernel)?.uid ?? 0;
}

/** @internal the pid current now (0 in kernel context) */
export function currentPid(kernel: Kernel): number {
  return kernel.current.pid;
}

/**
 * @internal umm's access check: compatibility mode lets everyone in (as ARM); otherwise root,
 * the owner and uids the owner granted.
 */
export function mayImport(st: UmpState, mem: UmpDdMem, uid: number): boolean {
  return st.config.compat || uid === 0 || uid === mem.ownerUid || mem.grants.has(uid);
}

/** @internal emits `ump_denied` */
export function traceDenied(st: UmpState, mem: UmpDdMem, uid: number): void {
  if (st.tp.denied.enabled) st.tp.denied.emit({ secure_id: mem.secureId, uid });
}

/** @internal takes a reference of `kind` */
export function memGet(mem: UmpDdMem, kind: RefKind): void {
  mem._get(kind);
}

/**
 * @internal `ump_dd_reference_release` for one reference of `kind`: at the last, the ID leaves
 * the table and the memory goes back (`release_func`).
 */
export function memPut(st: UmpState, mem: UmpDdMem, kind: RefKind): void {
  if (!mem._put(kind)) return;
  st.ids.free(mem.secureId);
  mem._releaseFn();
  if (st.tp.release.enabled) st.tp.release.emit({ secure_id: mem.secureId });
}

/** @internal the kernel's CPU, or null when it has none (then there is no cache to maintain) */
export function cpuFor(st: UmpState): Cpu | null {
  if (!st.mm.hooks.cache) return null;
  try {
    return cpuOf(st.kernel);
  } catch (e) {
    if (e instanceof KernelBug) return null;
    throw e;
  }
}

/** @internal every page frame of `blocks`, in buffer order */
export function pfnsOf(blocks: readonly UmpDdPhysicalBlock[]): number[] {
  const out: number[] = [];
  for (const b of blocks) {
    const first = b.addr / PAGE_SIZE;
    for (let k = 0; k < b.size / PAGE_SIZE; k++) out.push(first + k);
  }
  return out;
}

/**
 * @internal cache maintenance of `[offset, offset + size)` of a buffer, block by block in
 * physical addresses (`_ump_osk_msync`'s level-2 loop; the level-1 flush by virtual address is
 * folded into the same single cache level arch-arm models).
 */
export function maintainRange(
  cpu: Cpu,
  mem: UmpDdMem,
  op: "clean" | "flush" | "invalidate",
  offset: number,
  size: number,
): void {
  for (const b of mem.blocks) {
    if (size === 0) break;
    if (offset >= b.size) {
      offset -= b.size;
      continue;
    }
    const n = Math.min(size, b.size - offset);
    const pa = b.addr + offset;
    if (op === "clean") cpu.cleanPhys(pa, n);
    else if (op === "flush") cpu.flushPhys(pa, n);
    else cpu.invalidatePhys(pa, n);
    size -= n;
    offset = 0;
  }
}
