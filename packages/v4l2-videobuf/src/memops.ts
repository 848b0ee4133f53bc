/**
 * What the memory back ends share (drivers/media/common/videobuf2/videobuf2-memops.c and
 * frame_vector.c): pinning a user range of the current process (`vb2_create_framevec`), the
 * vm operations that keep a buffer alive while user space maps it (`vb2_common_vm_ops`), and
 * `dma_get_cache_alignment`.
 *
 * @module
 */
import { tryCpuOf } from "@umm/arch-arm";
import { hex, type Kernel, KernelError } from "@umm/kernel-core";
import { currentProcess } from "@umm/kernel-process";
import { pinUserPages, type UserPages, type VmaOps } from "@umm/mm-core";

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
