/**
 * ioctl dispatch (drivers/gpu/drm/drm_ioctl.c): the command's number selects the handler (the
 * kernel ignores the type and size bits, copying what both sides agree on); `drm_ioctl_permit`
 * refuses master-only commands to other clients with EACCES; an unknown number is EINVAL. Also
 * the core's own ioctls: VERSION, GET_CAP, SET_MASTER, DROP_MASTER.
 *
 * @module
 */
import { hex, KernelError } from "@umm/kernel-core";
import { _IOC_NR, currentProcess } from "@umm/kernel-process";
import { struct, u64 } from "./args.js";
import type { DrmFile } from "./device.js";
import { drmModeCreateDumbIoctl, drmModeDestroyDumbIoctl, drmModeMapDumbIoctl } from "./dumb.js";
import { drmModeAddfb2Ioctl, drmModeRmfbIoctl } from "./framebuffer.js";
import { drmGemCloseIoctl } from "./gem.js";
import {
  drmModeGetconnectorIoctl,
  drmModeGetcrtcIoctl,
  drmModeGetencoderIoctl,
  drmModeGetplaneIoctl,
  drmModeGetplaneResourcesIoctl,
  drmModeGetresourcesIoctl,
  drmModePageFlipIoctl,
  drmModeSetcrtcIoctl,
} from "./kms.js";
import { drmPrimeFdToHandleIoctl, drmPrimeHandleToFdIoctl } from "./prime.js";
import {
  DRM_CAP_ADDFB2_MODIFIERS,
  DRM_CAP_ASYNC_PAGE_FLIP,
  DRM_CAP_CRTC_IN_VBLANK_EVENT,
  DRM_CAP_CURSOR_HEIGHT,
  DRM_CAP_CURSOR_WIDTH,
  DRM_CAP_DUMB_BUFFER,
  DRM_CAP_DUMB_PREFER_SHADOW,
  DRM_CAP_DUMB_PREFERRED_DEPTH,
  DRM_CAP_PAGE_FLIP_TARGET,
  DRM_CAP_PRIME,
  DRM_CAP_SYNCOBJ,
  DRM_CAP_TIMESTAMP_MONOTONIC,
  DRM_CAP_VBLANK_HIGH_CRTC,
  DRM_IOCTL_DROP_MASTER,
  DRM_IOCTL_GEM_CLOSE,
  DRM_IOCTL_GET_CAP,
  DRM_IOCTL_MODE_ADDFB2,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_DESTROY_DUMB,
  DRM_IOCTL_MODE_GETCONNECTOR,
  DRM_IOCTL_MODE_GETCRTC,
  DRM_IOCTL_MODE_GETENCODER,
  DRM_IOCTL_MODE_GETPLANE,
  DRM_IOCTL_MODE_GETPLANERESOURCES,
  DRM_IOCTL_MODE_GETRESOURCES,
  DRM_IOCTL_MODE_MAP_DUMB,
  DRM_IOCTL_MODE_PAGE_FLIP,
  DRM_IOCTL_MODE_RMFB,
  DRM_IOCTL_MODE_SETCRTC,
  DRM_IOCTL_PRIME_FD_TO_HANDLE,
  DRM_IOCTL_PRIME_HANDLE_TO_FD,
  DRM_IOCTL_SET_MASTER,
  DRM_IOCTL_VERSION,
  DRM_IOCTL_WAIT_VBLANK,
  DRM_PRIME_CAP_EXPORT,
  DRM_PRIME_CAP_IMPORT,
  type DrmGetCap,
  type DrmVersion,
} from "./types.js";
import { drmWaitVblankIoctl } from "./vblank.js";

/** `DRM_MASTER`: only the current master may call it. */
const DRM_MASTER = 1 << 1;

type Handler = (file: DrmFile, arg: unknown) => number | Promise<number>;

interface IoctlDesc {
  readonly name: string;
  readonly flags: number;
  readonly fn: Handler;
}

function isRoot(file: DrmFile): boolean {
  return (currentProcess(file.dev.kernel)?.uid ?? 0) === 0;
}

/** `drm_version`: the driver's identity. */
function versionIoctl(file: DrmFile, arg: unknown): number {
  const a = struct<DrmVersion>(arg, "VERSION");
  const d = file.dev.driver;
  const [major, minor, patch] = d.version ?? [1, 0, 0];
  a.version_major = major;
  a.version_minor = minor;
  a.version_patchlevel = patch;
  a.name = file.dev.name;
  a.date = d.date ?? "20110530";
  a.desc = d.desc ?? `${file.dev.name} on ${file.dev.dev.name}`;
  return 0;
}

/** `drm_getcap`: EINVAL for an unknown capability. */
function getCapIoctl(_file: DrmFile, arg: unknown): number {
  const what = "GET_CAP";
  const a = struct<DrmGetCap>(arg, what);
  const cap = u64(a, "capability", what);
  const values: Record<number, number> = {
    [DRM_CAP_TIMESTAMP_MONOTONIC]: 1,
    [DRM_CAP_PRIME]: DRM_PRIME_CAP_IMPORT | DRM_PRIME_CAP_EXPORT,
    [DRM_CAP_SYNCOBJ]: 0,
    [DRM_CAP_DUMB_BUFFER]: 1,
    [DRM_CAP_VBLANK_HIGH_CRTC]: 1,
    [DRM_CAP_DUMB_PREFERRED_DEPTH]: 24,
    [DRM_CAP_DUMB_PREFER_SHADOW]: 0,
    [DRM_CAP_ASYNC_PAGE_FLIP]: 0,
    [DRM_CAP_PAGE_FLIP_TARGET]: 0,
    [DRM_CAP_CURSOR_WIDTH]: 64,
    [DRM_CAP_CURSOR_HEIGHT]: 64,
    [DRM_CAP_ADDFB2_MODIFIERS]: 0,
    [DRM_CAP_CRTC_IN_VBLANK_EVENT]: 1,
  };
  const v = values[cap];
  if (v === undefined) throw new KernelError("EINVAL", `${what}: capability ${hex(cap)} is unknown`);
  a.value = v;
  return 0;
}

/** `drm_master_check_perm`: a former master of the same process, or root. */
function checkMasterPerm(file: DrmFile, what: string): void {
  const pid = file.dev.kernel.current.pid;
  if (file._wasMaster && file.pid === pid) return;
  if (!isRoot(file)) {
    throw new KernelError(
      "EACCES",
      `${what}: this file was never the master of pid ${pid}, and the caller is not root`,
    );
  }
}

/**
 * `drm_setmaster_ioctl`: EACCES without the right (checked first, as the kernel does), then 0 for
 * the master itself, EBUSY while another file is master.
 */
function setMasterIoctl(file: DrmFile): number {
  const dev = file.dev;
  checkMasterPerm(file, "SET_MASTER");
  if (dev._master === file) return 0;
  if (dev._master) throw new KernelError("EBUSY", "SET_MASTER: another file is the DRM master");
  dev._master = file;
  file._wasMaster = true;
  return 0;
}

/** `drm_dropmaster_ioctl`: EINVAL when the file is not the master. */
function dropMasterIoctl(file: DrmFile): number {
  checkMasterPerm(file, "DROP_MASTER");
  if (file.dev._master !== file)
    throw new KernelError("EINVAL", "DROP_MASTER: this file is not the DRM master");
  file.dev._master = null;
  return 0;
}

const TABLE = new Map<number, IoctlDesc>(
  (
    [
      [DRM_IOCTL_VERSION, "VERSION", 0, versionIoctl],
      [DRM_IOCTL_GEM_CLOSE, "GEM_CLOSE", 0, drmGemCloseIoctl],
      [DRM_IOCTL_GET_CAP, "GET_CAP", 0, getCapIoctl],
      [DRM_IOCTL_SET_MASTER, "SET_MASTER", 0, setMasterIoctl],
      [DRM_IOCTL_DROP_MASTER, "DROP_MASTER", 0, dropMasterIoctl],
      [DRM_IOCTL_PRIME_HANDLE_TO_FD, "PRIME_HANDLE_TO_FD", 0, drmPrimeHandleToFdIoctl],
      [DRM_IOCTL_PRIME_FD_TO_HANDLE, "PRIME_FD_TO_HANDLE", 0, drmPrimeFdToHandleIoctl],
      [DRM_IOCTL_WAIT_VBLANK, "WAIT_VBLANK", 0, drmWaitVblankIoctl],
      [DRM_IOCTL_MODE_GETRESOURCES, "MODE_GETRESOURCES", 0, drmModeGetresourcesIoctl],
      [DRM_IOCTL_MODE_GETCRTC, "MODE_GETCRTC", 0, drmModeGetcrtcIoctl],
      [DRM_IOCTL_MODE_SETCRTC, "MODE_SETCRTC", DRM_MASTER, drmModeSetcrtcIoctl],
      [DRM_IOCTL_MODE_GETENCODER, "MODE_GETENCODER", 0, drmModeGetencoderIoctl],
      [DRM_IOCTL_MODE_GETCONNECTOR, "MODE_GETCONNECTOR", 0, drmModeGetconnectorIoctl],
      [DRM_IOCTL_MODE_RMFB, "MODE_RMFB", 0, drmModeRmfbIoctl],
      [DRM_IOCTL_MODE_PAGE_FLIP, "MODE_PAGE_FLIP", DRM_MASTER, drmModePageFlipIoctl],
      [DRM_IOCTL_MODE_CREATE_DUMB, "MODE_CREATE_DUMB", 0, drmModeCreateDumbIoctl],
      [DRM_IOCTL_MODE_MAP_DUMB, "MODE_MAP_DUMB", 0, drmModeMapDumbIoctl],
      [DRM_IOCTL_MODE_DESTROY_DUMB, "MODE_DESTROY_DUMB", 0, drmModeDestroyDumbIoctl],
      [DRM_IOCTL_MODE_GETPLANERESOURCES, "MODE_GETPLANERESOURCES", 0, drmModeGetplaneResourcesIoctl],
      [DRM_IOCTL_MODE_GETPLANE, "MODE_GETPLANE", 0, drmModeGetplaneIoctl],
      [DRM_IOCTL_MODE_ADDFB2, "MODE_ADDFB2", 0, drmModeAddfb2Ioctl],
    ] as const
  ).map(([cmd, name, flags, fn]) => [_IOC_NR(cmd), { name, flags, fn: fn as Handler }]),
);

/** The name of a DRM ioctl command ("MODE_ADDFB2"), or undefined. */
export function drmIoctlName(cmd: number): string | undefined {
  return TABLE.get(_IOC_NR(cmd))?.name;
}

/**
 * @internal `drm_ioctl`: dispatches `cmd` by its number. ENODEV once the device is unregistered
 * (unplugged); EINVAL for a number the core does not serve; EACCES for a master-only command
 * from a client that is not the master.
 */
export function drmIoctl(file: DrmFile, cmd: number, arg: unknown): number | Promise<number> {
  if (!file.dev._registered) throw new KernelError("ENODEV", `drm ioctl: ${file.dev.path} was unregistered`);
  const desc = TABLE.get(_IOC_NR(cmd));
  if (!desc)
    throw new KernelError("EINVAL", `drm ioctl ${hex(cmd)} (nr ${hex(_IOC_NR(cmd))}) is not a DRM ioctl`);
  if (desc.flags & DRM_MASTER && file.dev._master !== file) {
    throw new KernelError(
      "EACCES",
      `DRM_IOCTL_${desc.name}: only the DRM master may call it, and this file is not the master`,
    );
  }
  return desc.fn(file, arg);
}
