/**
 * Out-fences (drivers/gpu/drm/drm_atomic_uapi.c `setup_out_fence` / `complete_signaling`): the
 * fence of a page flip handed to user space as a sync_file fd (O_CLOEXEC), which polls readable
 * once the flip completed at its vblank — what the atomic ioctl's OUT_FENCE_PTR gives, offered
 * here on the legacy PAGE_FLIP with `DRM_MODE_PAGE_FLIP_OUT_FENCE`.
 *
 * @module
 */
import { type DmaFence, syncFileCreate } from "@umm/dma-buf";
import { KernelError } from "@umm/kernel-core";
import { currentProcess, O_CLOEXEC } from "@umm/kernel-process";
import type { DrmFile } from "./device.js";

/**
 * @internal a sync_file of `fence` installed at the lowest free fd of the calling process.
 * ESRCH outside a process; EMFILE when its fd table is full (nothing is installed then).
 */
export function drmOutFenceInstall(file: DrmFile, fence: DmaFence): number {
  const proc = currentProcess(file.dev.kernel);
  if (!proc) throw new KernelError("ESRCH", "page flip out-fence: no process is current to receive the fd");
  const sf = syncFileCreate(fence);
  try {
    return proc.fdInstall(sf.file, O_CLOEXEC);
  } catch (e) {
    sf.file.put();
    throw e;
  }
}
