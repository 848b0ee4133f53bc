/**
 * What the memory back ends share (drivers/media/common/videobuf2/videobuf2-memops.c and
 * frame_vector.c): pinning a user range of the current process (`vb2_create_framevec`), the
 * vm operations that keep a buffer alive while user space maps it (`vb2_common_vm_ops`) and the
 * `mmap` steps every back end takes, the tag their allocations carry, and
 * `dma_get_cache_alignment`.
 *
 * @module
 */
import { tryCpuOf } from "@umm/arch-arm";
import { hex, type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { currentProcess, type MmapContext } from "@umm/kernel-process";
import { pinUserPages, type UserPages, type VmaOps } from "@umm/mm-core";
import type { Vb2Buffer } from "./core.js";

/** `ARCH_DMA_MINALIGN` of an ARMv7 kernel (`L1_CACHE_SHIFT` 6). */
export const ARCH_DMA_MINALIGN = 64;

/**
 * `dma_get_cache_alignment`: the alignment user buffers need for reliable non-coherent DMA
 * (no cache line shared with other data): ARCH_DMA_MINALIGN, or the CPU's line if larger.
 */
export function dmaGetCacheAlignment(kernel: Kernel): number {
  return Math.max(ARCH_DMA_MINALIGN, tryCpuOf(kernel)?.lineSize ?? 0);
}

/**
 * `vb2_create_framevec` (`get_vaddr_frames` → `pin_user_pages_fast(FOLL_LONGTERM)`): pins the
 * pages of `[uaddr, uaddr + size)` in the current process, for writing when the device will
 * write. EFAULT outside a process, for an unmapped, VM_PFNMAP or (with `write`) read-only range.
 */
export function vb2CreateFramevec(kernel: Kernel, uaddr: number, size: number, write: boolean): UserPages {
  const proc = currentProcess(kernel);
  if (!proc) {
    throw new KernelError("EFAULT", `user pointer ${hex(uaddr)}: no user address space (no current process)`);
  }
  try {
    return pinUserPages(proc.space, uaddr, size, { write });
  } catch (e) {
    if (e instanceof KernelError && e.errno !== "EFAULT") throw e;
    throw new KernelError("EFAULT", `user pointer ${hex(uaddr)} size ${hex(size)}: cannot pin the pages`, {
      cause: e,
    });
  }
}

/** `vb2_destroy_framevec`: unpins what `vb2CreateFramevec` pinned. */
export function vb2DestroyFramevec(vec: UserPages): void {
  vec.release();
}

/** `struct vb2_vmarea_handler`: what a user mapping of a buffer holds. */
export interface Vb2VmareaHandler {
  /** takes a user (a mapping appeared) */
  get(): void;
  /** drops a user (a mapping went); the last one frees the memory */
  put(): void;
}

/**
 * `vb2_common_vm_ops`: a mapping piece made by a split takes a user (`open`); each piece that
 * goes drops one (`close`). The back end's `mmap` takes the first user itself.
 */
export function vb2CommonVmOps(handler: Vb2VmareaHandler): VmaOps {
  return Object.freeze({
    open: () => handler.get(),
    close: () => handler.put(),
  });
}

/**
 * The tag a back end gives the allocations, user mappings and syncs of `vb`
 * (`vb2:<queue>:<index>`), so that reports and the DMA-API debug name the buffer.
 */
export function vb2Tag(vb: Vb2Buffer): string {
  return `vb2:${vb.queue.name}:${vb.index}`;
}

/** A back end's plane that counts its users (the allocation, each user mapping, each export). */
export interface Vb2Users {
  /** the buffer the plane belongs to */
  readonly vb: Vb2Buffer;
  /** users; the last `put` frees the memory */
  refcount: number;
}

/**
 * The end of every back end's `mmap`: the new user mapping of `buf` takes a user, and each piece
 * a split makes takes another, dropped through `put` when it goes (`vb2_common_vm_ops`); the
 * mapping is named after the buffer.
 */
export function vb2MmapHold(ctx: MmapContext, buf: Vb2Users, put: () => void): void {
  ctx.setOps(vb2CommonVmOps({ get: () => buf.refcount++, put }));
  ctx.setName(`vb2 ${vb2Tag(buf.vb)}`);
  buf.refcount++;
}

/**
 * Maps the pages `pfns` of a page-backed plane (dma-sg, vmalloc) cacheable into `ctx`, from page
 * `ctx.pgoff` on. EINVAL (`name` says which back end) when the mapping runs past the plane.
 */
export function vb2MmapPages(name: string, ctx: MmapContext, pfns: Int32Array): void {
  const n = ctx.length / PAGE_SIZE;
  if (ctx.pgoff + n > pfns.length) {
    throw new KernelError(
      "EINVAL",
      `${name}: mapping of ${n} pages from page ${ctx.pgoff} exceeds the buffer`,
    );
  }
  ctx.setPages(pfns.subarray(ctx.pgoff, ctx.pgoff + n));
  ctx.setMemtype("cacheable");
}
