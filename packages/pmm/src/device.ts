/**
 * `/dev/pmm` (`CONFIG_PMM_DEVICE`, a misc device): one area per open file
 * (`file->private_data`). `IOCTL_PMM_ALLOC` makes it, `mmap` maps it (`remap_pfn_range`,
 * VM_PFNMAP, write-combined for PMM_NO_CACHE), `IOCTL_PMM_SHMGET` shares it as a SysV segment,
 * and the file's `release` — when its last reference goes: every fd closed, every mapping gone,
 * every UPBuffer transaction that locked the file ended — drops the area's reference.
 *
 * @module
 */
import { hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { currentProcess, type File, type FileOps, type MmapContext } from "@umm/kernel-process";
import { allocArea, areaPut, fillInfo } from "./core.js";
import { shmCreate } from "./shm.js";
import type { PmmArea, PmmState } from "./state.js";
import {
  IOCTL_PMM_ALLOC,
  IOCTL_PMM_SHMGET,
  PMM_MAGIC,
  PMM_NO_CACHE,
  type PmmAreaInfo,
  type PmmShmInfo,
} from "./types.js";

/** `arg == 0` (a null pointer): the RFC's first check. */
function isNull(arg: unknown): boolean {
  return arg === null || arg === undefined || arg === 0;
}

function areaOf(file: File): PmmArea | null {
  return (file.privateData as PmmArea | null) ?? null;
}

function ioctlAlloc(st: PmmState, file: File, arg: unknown): number {
  if (isNull(arg)) throw new KernelError("EINVAL", "IOCTL_PMM_ALLOC: arg is NULL");
  const have = areaOf(file);
  if (have) {
    throw new KernelError("EBADFD", `IOCTL_PMM_ALLOC: this file already has the area at ${hex(have.start)}`);
  }
  if (typeof arg !== "object") {
    throw new KernelError("EFAULT", `IOCTL_PMM_ALLOC: arg ${String(arg)} is not a readable pmm_area_info`);
  }
  const info = arg as PmmAreaInfo;
  if (info.magic >>> 0 !== PMM_MAGIC) {
    throw new KernelError("ENOTTY", `IOCTL_PMM_ALLOC: magic ${hex(info.magic >>> 0)} is not PMM_MAGIC`);
  }
  const type = (info.type >>> 0) & st.userMask;
  const area = allocArea(st, info.size, type, info.flags >>> 0, info.alignment);
  if (!area) {
    throw new KernelError(
      "ENOMEM",
      `IOCTL_PMM_ALLOC: no area of ${hex(Number(info.size))} bytes aligned to ${hex(Number(info.alignment))} in types ${hex(type)} (asked ${hex(info.type >>> 0)}, user types ${hex(st.userMask)})`,
    );
  }
  file.privateData = area;
  fillInfo(info, area);
  return 0;
}

function ioctlShmget(st: PmmState, file: File, arg: unknown): number {
  if (isNull(arg)) throw new KernelError("EINVAL", "IOCTL_PMM_SHMGET: arg is NULL");
  const area = areaOf(file);
  if (!area)
    throw new KernelError("EBADFD", "IOCTL_PMM_SHMGET: this file has no area (IOCTL_PMM_ALLOC first)");
  if (typeof arg !== "object") {
    throw new KernelError("EFAULT", `IOCTL_PMM_SHMGET: arg ${String(arg)} is not a readable pmm_shm_info`);
  }
  const info = arg as PmmShmInfo;
  if (info.magic >>> 0 !== PMM_MAGIC) {
    throw new KernelError("ENOTTY", `IOCTL_PMM_SHMGET: magic ${hex(info.magic >>> 0)} is not PMM_MAGIC`);
  }
  if (!st.shm) throw new KernelError("ENOSYS", "IOCTL_PMM_SHMGET: PMM was built without CONFIG_PMM_SHM");
  const proc = currentProcess(st.kernel);
  if (!proc) throw new KernelError("EINVAL", "IOCTL_PMM_SHMGET: called outside any process");
  return shmCreate(st, st.shm, proc, area, info.key, info.shmflg);
}

function mmap(file: File, ctx: MmapContext): void {
  const area = areaOf(file);
  if (!area) throw new KernelError("EBADFD", "mmap /dev/pmm: this file has no area (IOCTL_PMM_ALLOC first)");
  const offset = ctx.pgoff * PAGE_SIZE;
  const length = ctx.length;
  if (offset >= area.size || length > area.size || offset + length > area.size) {
    throw new KernelError(
      "ENOSPC",
      `mmap /dev/pmm: [${hex(offset)}, +${hex(length)}) does not fit the area's ${hex(area.size)} bytes`,
    );
  }
  if (area.flags & PMM_NO_CACHE) ctx.setMemtype("writecombine");
  ctx.setPfnRange(area.start / PAGE_SIZE + ctx.pgoff);
}

/** @internal the file operations of /dev/pmm over `st` */
export function pmmFileOps(st: PmmState): FileOps {
  return Object.freeze({
    open(file: File) {
      file.privateData = null;
    },
    ioctl(file: File, cmd: number, arg: unknown): number {
      if (cmd === IOCTL_PMM_ALLOC) return ioctlAlloc(st, file, arg);
      if (cmd === IOCTL_PMM_SHMGET) return ioctlShmget(st, file, arg);
      throw new KernelError("ENOTTY", `/dev/pmm: unknown ioctl ${hex(cmd)}`);
    },
    mmap,
    release(file: File) {
      const area = areaOf(file);
      file.privateData = null;
      if (area) areaPut(st, area);
    },
  } satisfies FileOps);
}
