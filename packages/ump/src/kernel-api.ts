/**
 * The UMP kernel API (`ump_kernel_interface.h`, `ump_kernel_api.c`, `ump_kernel_ref_drv.c`): what
 * other drivers — the Mali GPU driver, a display or video driver — call to find a buffer by
 * secure ID, read its physical blocks to program their own MMU, hold it, and share memory they
 * allocated themselves.
 *
 * `ump_dd_handle` is the buffer's descriptor (`UmpDdHandle`); `UMP_DD_HANDLE_INVALID` is null.
 * These functions keep ARM's sentinels (`UMP_DD_HANDLE_INVALID`, `UMP_DD_INVALID`); a null or
 * released handle where ARM only DEBUG_ASSERTs is a `KernelBug`.
 *
 * @module
 */
import { hex, type Kernel, KernelBug, KernelError, kassert, PAGE_SIZE } from "@umm/kernel-core";
import type { UmpBackendAllocation } from "./ops.js";
import {
  currentUid,
  mayImport,
  memGet,
  memPut,
  type RefKind,
  traceDenied,
  UmpDdMem,
  type UmpState,
  umpState,
} from "./state.js";
import {
  UMP_DD_INVALID,
  UMP_DD_SUCCESS,
  type UmpDdPhysicalBlock,
  type UmpDdStatusCode,
  type UmpSecureId,
} from "./types.js";

/** `ump_dd_handle`: a UMP buffer as the kernel API sees it. */
export type UmpDdHandle = UmpDdMem;

/** `UMP_DD_HANDLE_INVALID`. */
export const UMP_DD_HANDLE_INVALID = null;

function live(h: UmpDdHandle | null, what: string): UmpDdMem {
  if (!(h instanceof UmpDdMem)) throw new KernelBug(`${what}: invalid handle (DEBUG_ASSERT_POINTER)`);
  if (h.released) throw new KernelBug(`${what}: ${h} was released (use after free)`);
  return h;
}

/**
 * @internal makes a descriptor with a fresh secure ID and one reference of `kind`, emits
 * `ump_alloc`. The caller checked that the table has room.
 */
export function createMem(
  st: UmpState,
  init: {
    blocks: readonly UmpDdPhysicalBlock[];
    size: number;
    cached: boolean;
    backend: string;
    alloc: UmpBackendAllocation | null;
    release: () => void;
  },
  kind: RefKind,
): UmpDdMem {
  kassert(!st.ids.full, "ump: createMem with a full secure-ID table");
  const ownerUid = currentUid(st.kernel);
  const mem = st.ids.allocate((secureId) => new UmpDdMem(st.kernel, { ...init, secureId, ownerUid }));
  memGet(mem, kind);
  if (st.tp.alloc.enabled) {
    st.tp.alloc.emit({ secure_id: mem.secureId, size: mem.size, backend: mem.backend, cached: mem.isCached });
  }
  return mem;
}

/** `ump_dd_secure_id_get`: the buffer's secure ID. */
export function umpDdSecureIdGet(h: UmpDdHandle): UmpSecureId {
  return live(h, "ump_dd_secure_id_get").secureId;
}

/**
 * `ump_dd_handle_create_from_secure_id`: the buffer named `secureId` with a new reference the
 * caller must release (`umpDdReferenceRelease`), or `UMP_DD_HANDLE_INVALID` when no buffer has
 * that ID — or (umm) when the task current now is a process whose uid may not import it
 * (an `ump_denied` event). In kernel context (no process) every ID resolves.
 */
export function umpDdHandleCreateFromSecureId(kernel: Kernel, secureId: UmpSecureId): UmpDdHandle | null {
  const st = umpState(kernel);
  const mem = lookup(st, secureId);
  if (!mem) return null;
  memGet(mem, "kernel");
  return mem;
}

/**
 * Samsung's `ump_dd_handle_get`: the buffer named `secureId` **without** taking a reference
 * (valid only while someone else holds one), or `UMP_DD_HANDLE_INVALID` (unknown, or denied as
 * `umpDdHandleCreateFromSecureId`).
 */
export function umpDdHandleGet(kernel: Kernel, secureId: UmpSecureId): UmpDdHandle | null {
  return lookup(umpState(kernel), secureId);
}

function lookup(st: UmpState, secureId: number): UmpDdMem | null {
  const mem = Number.isInteger(secureId) ? st.ids.get(secureId) : undefined;
  if (!mem) return null;
  const uid = currentUid(st.kernel);
  if (!mayImport(st, mem, uid)) {
    traceDenied(st, mem, uid);
    return null;
  }
  return mem;
}

/** `ump_dd_phys_block_count_get`: `nr_blocks`. */
export function umpDdPhysBlockCountGet(h: UmpDdHandle): number {
  return live(h, "ump_dd_phys_block_count_get").nrBlocks;
}

/**
 * `ump_dd_phys_blocks_get`: copies every block into `blocks` (its length becomes `numBlocks`).
 * `UMP_DD_INVALID` when `blocks` is null or `numBlocks` is not exactly the block count.
 */
export function umpDdPhysBlocksGet(
  h: UmpDdHandle,
  blocks: UmpDdPhysicalBlock[] | null,
  numBlocks: number,
): UmpDdStatusCode {
  const mem = live(h, "ump_dd_phys_blocks_get");
  if (blocks === null || numBlocks !== mem.nrBlocks) return UMP_DD_INVALID;
  blocks.length = numBlocks;
  mem.blocks.forEach((b, i) => {
    blocks[i] = { addr: b.addr, size: b.size };
  });
  return UMP_DD_SUCCESS;
}

/**
 * `ump_dd_phys_block_get`: copies block `index` into `block`. `UMP_DD_INVALID` when `block` is
 * null or `index` is not below the block count.
 */
export function umpDdPhysBlockGet(
  h: UmpDdHandle,
  index: number,
  block: UmpDdPhysicalBlock | null,
): UmpDdStatusCode {
  const mem = live(h, "ump_dd_phys_block_get");
  if (block === null || !Number.isInteger(index) || index < 0 || index >= mem.nrBlocks) return UMP_DD_INVALID;
  const b = mem.blocks[index]!;
  block.addr = b.addr;
  block.size = b.size;
  return UMP_DD_SUCCESS;
}

/** `ump_dd_size_get`: `size_bytes`. */
export function umpDdSizeGet(h: UmpDdHandle): number {
  return live(h, "ump_dd_size_get").size;
}

/** `ump_dd_reference_add`: one more reference for the caller. */
export function umpDdReferenceAdd(h: UmpDdHandle): void {
  memGet(live(h, "ump_dd_reference_add"), "kernel");
}

/**
 * `ump_dd_reference_release`: drops one of the caller's references; at the last reference of
 * any kind the secure ID is freed (and may be issued again) and the memory goes back to its
 * backend. Releasing a reference the kernel API never gave (one that belongs to a session or a
 * mapping) is a `KernelBug`.
 */
export function umpDdReferenceRelease(h: UmpDdHandle): void {
  const mem = live(h, "ump_dd_reference_release");
  if (mem.kernelRefs === 0) {
    throw new KernelBug(
      `ump_dd_reference_release: ${mem} holds no kernel-API reference (the other ${mem.refCount} belong to sessions and mappings)`,
    );
  }
  memPut(umpState(mem.kernel), mem, "kernel");
}

/** Options of `umpDdHandleCreateFromPhysBlocks` (umm). */
export interface UmpPhysBlocksOpts {
  /**
   * Called once when the buffer's last reference goes, so the driver knows when it may free
   * the memory (ARM has no such hook; UMP API v2 added `final_release_func`).
   */
  readonly release?: () => void;
  /**
   * Start the buffer cached (default false, ARM's "forced to be Uncached"): for memory the kernel
   * maps cacheable, so that user mappings do not alias it with another memory type.
   */
  readonly cached?: boolean;
}

/**
 * `ump_dd_handle_create_from_phys_blocks`: shares memory a driver allocated (from CMA, a
 * carve-out, ...) under a new secure ID, with one reference the caller owns (no session holds
 * it). Size is the sum of the blocks (0 blocks: size 0); the buffer starts uncached, used by the
 * CPU, unlocked, owned by the current process's uid (0 in kernel context). Returns
 * `UMP_DD_HANDLE_INVALID` when a block's address or size is not 4 KiB-aligned, (umm) a block is
 * not RAM, or the ID table is full. The memory is mapped write-combined into user space: the
 * driver must not leave a cacheable kernel mapping of it (remap or use no-map memory).
 */
export function umpDdHandleCreateFromPhysBlocks(
  kernel: Kernel,
  blocks: readonly UmpDdPhysicalBlock[],
  opts: UmpPhysBlocksOpts = {},
): UmpDdHandle | null {
  return createFromBlocks(umpState(kernel), blocks, opts, "phys_blocks");
}

/** @internal the checks and creation of `umpDdHandleCreateFromPhysBlocks` (one kernel reference) */
export function createFromBlocks(
  st: UmpState,
  blocks: readonly UmpDdPhysicalBlock[],
  opts: UmpPhysBlocksOpts,
  backend: string,
): UmpDdMem | null {
  if (!Array.isArray(blocks)) return null;
  let size = 0;
  for (const b of blocks) {
    if (
      !b ||
      !Number.isSafeInteger(b.addr) ||
      !Number.isSafeInteger(b.size) ||
      b.addr < 0 ||
      b.size < 0 ||
      b.addr % PAGE_SIZE !== 0 ||
      b.size % PAGE_SIZE !== 0
    ) {
      return null;
    }
    if (b.size > 0 && !st.mm.phys.isRam(b.addr, b.size)) return null;
    size += b.size;
  }
  if (st.ids.full) return null;
  const release = opts.release;
  return createMem(
    st,
    { blocks, size, cached: opts.cached === true, backend, alloc: null, release: () => release?.() },
    "kernel",
  );
}

/**
 * umm: lets processes of `uid` import the buffer (`SIZE_GET`, `mmap`, handles, sync calls).
 * Kernel callers may grant any buffer. Granting the owner or root changes nothing. EINVAL for a
 * uid that is not a 32-bit id.
 */
export function umpDdGrant(h: UmpDdHandle, uid: number): void {
  const mem = live(h, "ump_dd_grant");
  checkUid(uid, "ump_dd_grant");
  mem._grant(uid, true);
}

/** umm: withdraws a grant; mappings and handles made under it stay valid. EINVAL as `umpDdGrant`. */
export function umpDdRevoke(h: UmpDdHandle, uid: number): void {
  const mem = live(h, "ump_dd_revoke");
  checkUid(uid, "ump_dd_revoke");
  mem._grant(uid, false);
}

/** @internal */
export function checkUid(uid: number, what: string): void {
  if (!Number.isInteger(uid) || uid < 0 || uid > 0xffffffff) {
    throw new KernelError("EINVAL", `${what}: uid ${String(uid)} is not a 32-bit id`);
  }
}

/** `_ump_ukk_report_memory_usage` (debugfs `ump/memory_usage`): bytes the backend has in use. */
export function umpMemoryUsage(kernel: Kernel): number {
  return umpState(kernel).backend.stat();
}

/** The backend's name and numbers (free blocks, pages allocated, ...). */
export function umpBackendInfo(kernel: Kernel): { name: string } & Readonly<Record<string, number | string>> {
  const b = umpState(kernel).backend;
  return { ...(b.info?.() ?? {}), name: b.name, bytesInUse: b.stat() };
}

/** Every live buffer (reports and tests), by ascending secure ID. */
export function umpLiveHandles(kernel: Kernel): UmpDdHandle[] {
  return umpState(kernel)
    .ids.entries()
    .sort((a, b) => a[0] - b[0])
    .map(([, m]) => m);
}

/** @internal message helper */
export function idText(id: number): string {
  return `secure ID ${id} (${hex(id)})`;
}
