/**
 * sync_file (drivers/dma-buf/sync_file.c): a fence wrapped in a file, so that user space can pass
 * "this job is done" between processes and drivers as an fd — poll it (POLLIN once the fence
 * signalled), merge two into one (SYNC_IOC_MERGE), list what is inside (SYNC_IOC_FILE_INFO), or
 * hand it to a driver (`syncFileGetFence`), e.g. dma-buf's DMA_BUF_IOCTL_IMPORT_SYNC_FILE.
 *
 * @module
 */
import { type Kernel, KernelError, WaitQueue } from "@umm/kernel-core";
import {
  anonInodeGetfile,
  currentProcess,
  type File,
  type FileOps,
  O_CLOEXEC,
  O_RDONLY,
  POLLIN,
  type PollTable,
} from "@umm/kernel-process";
import { type DmaFence, dmaFenceAddCallback, dmaFenceGetStatus, dmaFenceIsSignaled } from "./fence.js";
import { dmaFenceUnwrap, dmaFenceUnwrapMerge } from "./fence-container.js";
import { userNumber, userObject } from "./uaccess.js";
import { SYNC_IOC_FILE_INFO, SYNC_IOC_MERGE, SYNC_IOC_SET_DEADLINE, type SyncFenceInfo } from "./uapi.js";

/** Longest sync_file or fence name kept, NUL excluded (`char name[32]`). */
const NAME_MAX = 31;

/** A sync_file: one fence behind a file. */
export class SyncFile {
  readonly kernel: Kernel;
  /** the fence it stands for (an array for a merge of several) */
  readonly fence: DmaFence;
  /** the anon-inode file ("anon_inode:sync_file"); its reference belongs to the creator */
  readonly file: File;
  /** @internal the name given by SYNC_IOC_MERGE ("" when none) */
  _userName = "";
  /** @internal woken when the fence signals, for poll */
  readonly _wq: WaitQueue;
  /** @internal the poll callback is installed */
  _pollEnabled = false;

  /** @internal use `syncFileCreate` */
  constructor(fence: DmaFence) {
    this.kernel = fence.kernel;
    this.fence = fence;
    this._wq = new WaitQueue(fence.kernel.clock);
    this.file = anonInodeGetfile(fence.kernel, "sync_file", SYNC_FILE_FOPS, this, O_RDONLY);
  }
}

function syncFileOf(file: File): SyncFile {
  return file.privateData as SyncFile;
}

function clip(s: string): string {
  const bytes = new TextEncoder().encode(s);
  if (bytes.length <= NAME_MAX) return s;
  return new TextDecoder().decode(bytes.subarray(0, NAME_MAX)).replace(/\uFFFD$/, "");
}

/**
 * `sync_file_get_name`: the name given at merge, else
 * `"<driver>-<timeline><context>-<seqno>"` of its fence (at most 31 bytes).
 */
export function syncFileGetName(sf: SyncFile): string {
  if (sf._userName) return sf._userName;
  const f = sf.fence;
  return clip(`${f.ops.getDriverName(f)}-${f.ops.getTimelineName(f)}${f.context}-${f.seqno}`);
}

/**
 * `sync_file_create`: a new sync_file for `fence`; the caller owns the file's one reference
 * (install it with `Process.fdInstall`, or `fput` it).
 */
export function syncFileCreate(fence: DmaFence): SyncFile {
  return new SyncFile(fence);
}

/** True when `file` is a sync_file. */
export function isSyncFile(file: File): boolean {
  return file.ops === SYNC_FILE_FOPS;
}

/**
 * `sync_file_get_fence(fd)`: the fence of the sync_file at fd `fd` of the current process, or
 * null (the kernel's NULL) when the fd is not open, is not a sync_file, or no process is current.
 */
export function syncFileGetFence(kernel: Kernel, fd: number): DmaFence | null {
  const proc = currentProcess(kernel);
  const file = proc?.fds.get(fd);
  if (!file || !isSyncFile(file)) return null;
  return syncFileOf(file).fence;
}

function fenceInfo(f: DmaFence): SyncFenceInfo {
  const status = dmaFenceGetStatus(f);
  return {
    obj_name: clip(f.ops.getTimelineName(f)),
    driver_name: clip(f.ops.getDriverName(f)),
    status,
    flags: 0,
    timestamp_ns: dmaFenceIsSignaled(f) ? (f.timestamp ?? 0) : 0,
  };
}

function ioctlMerge(sf: SyncFile, arg: unknown): number {
  const what = "SYNC_IOC_MERGE";
  const proc = currentProcess(sf.kernel);
  if (!proc) throw new KernelError("ESRCH", `${what}: no process is current to receive the fd`);
  if (proc.fds.free < 1) throw new KernelError("EMFILE", `${what}: no free fd`);
  const data = userObject(arg, what);
  const flags = userNumber(data, "flags", what);
  const pad = userNumber(data, "pad", what);
  const fd2 = userNumber(data, "fd2", what);
  const name = data.name ?? "";
  if (typeof name !== "string") throw new KernelError("EFAULT", `${what}: name is not a string`);
  if (flags !== 0 || pad !== 0) {
    throw new KernelError("EINVAL", `${what}: flags ${flags} and pad ${pad} must be 0`);
  }
  const file2 = proc.fds.get(fd2);
  if (!file2 || !isSyncFile(file2)) {
    throw new KernelError("ENOENT", `${what}: fd2 ${fd2} is not a sync_file`);
  }
  const merged = syncFileCreate(dmaFenceUnwrapMerge(sf.kernel, sf.fence, syncFileOf(file2).fence));
  merged._userName = clip(name);
  const fd = proc.fdInstall(merged.file, O_CLOEXEC);
  data.fence = fd;
  return 0;
}

function ioctlFileInfo(sf: SyncFile, arg: unknown): number {
  const what = "SYNC_IOC_FILE_INFO";
  const info = userObject(arg, what);
  const flags = userNumber(info, "flags", what);
  const pad = userNumber(info, "pad", what);
  const room = userNumber(info, "num_fences", what);
  if (flags !== 0 || pad !== 0) {
    throw new KernelError("EINVAL", `${what}: flags ${flags} and pad ${pad} must be 0`);
  }
  const fences = dmaFenceUnwrap(sf.fence);
  let status: number;
  if (room === 0) {
    status = dmaFenceGetStatus(sf.fence);
  } else {
    if (room < fences.length) {
      throw new KernelError("EINVAL", `${what}: room for ${room} fences, ${fences.length} to report`);
    }
    const out = info.sync_fence_info;
    if (!Array.isArray(out)) {
      throw new KernelError("EFAULT", `${what}: sync_fence_info is not an array to fill`);
    }
    status = 1;
    out.length = 0;
    for (const f of fences) {
      const fi = fenceInfo(f);
      status = Math.min(status, fi.status);
      out.push(fi);
    }
  }
  info.name = syncFileGetName(sf);
  info.status = status;
  info.num_fences = fences.length;
  return 0;
}

function ioctlSetDeadline(_sf: SyncFile, arg: unknown): number {
  const what = "SYNC_IOC_SET_DEADLINE";
  const d = userObject(arg, what);
  userNumber(d, "deadline_ns", what);
  if (userNumber(d, "pad", what) !== 0) throw new KernelError("EINVAL", `${what}: pad must be 0`);
  // dma_fence_set_deadline only calls ops->set_deadline, which no umm fence driver has
  return 0;
}

/** The file operations of a sync_file. */
const SYNC_FILE_FOPS: FileOps = Object.freeze({
  poll: (file: File, pt: PollTable | null): number => {
    const sf = syncFileOf(file);
    pt?.wait(sf._wq);
    if (pt && !sf._pollEnabled) {
      sf._pollEnabled = true;
      if (dmaFenceAddCallback(sf.fence, () => sf._wq.wakeUp()) < 0) sf._wq.wakeUp();
    }
    return dmaFenceIsSignaled(sf.fence) ? POLLIN : 0;
  },
  ioctl: (file: File, cmd: number, arg: unknown): number => {
    const sf = syncFileOf(file);
    switch (cmd) {
      case SYNC_IOC_MERGE:
        return ioctlMerge(sf, arg);
      case SYNC_IOC_FILE_INFO:
        return ioctlFileInfo(sf, arg);
      case SYNC_IOC_SET_DEADLINE:
        return ioctlSetDeadline(sf, arg);
      default:
        throw new KernelError("ENOTTY", `sync_file: unknown ioctl ${cmd.toString(16)}`);
    }
  },
});
