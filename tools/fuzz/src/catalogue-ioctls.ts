/**
 * Every ioctl of the stack's character devices and files — dma-buf, sync_file, dma-heap,
 * udmabuf, UMP, PMM, DRM, V4L2 — with where the testbed issues it, and the catalogue entries that
 * follow from how each subsystem dispatches, generated for every one of them:
 *
 * - **wrong fd**: an fd that is not open (EBADF, `fdget` in `ioctl(2)`), and a memfd, a file with
 *   no `unlocked_ioctl` at all (ENOTTY, `vfs_ioctl`);
 * - **wrong size field**: the command with an `_IOC_SIZE` no command has. Subsystems that switch on
 *   the whole command (dma-buf, sync_file, udmabuf, PMM, V4L2's `v4l2_is_known_ioctl`) do not know
 *   it: ENOTTY; UMP's `ump_file_ioctl` answers an unknown command with EFAULT. dma-heap and DRM
 *   index their tables by `_IOC_NR` and copy `_IOC_SIZE` bytes, zero-filling the rest: there the
 *   size is an argument like any other, and the hand-written entries (or `NOT_APPLICABLE`) say
 *   what a short struct does;
 * - **not a struct**: a number where the struct's user pointer goes (EFAULT, `copy_from_user`),
 *   for every command whose argument is a struct.
 *
 * @module
 */
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SET_NAME_A,
  DMA_BUF_SET_NAME_B,
  DMA_HEAP_IOCTL_ALLOC,
  SYNC_IOC_FILE_INFO,
  SYNC_IOC_MERGE,
  SYNC_IOC_SET_DEADLINE,
  UDMABUF_CREATE,
  UDMABUF_CREATE_LIST,
} from "@umm/dma-buf";
import {
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
} from "@umm/drm-gem";
import {
  _IOC,
  _IOC_DIR,
  _IOC_NR,
  _IOC_SIZE,
  _IOC_SIZEMASK,
  _IOC_TYPE,
  type Process,
} from "@umm/kernel-process";
import { IOCTL_PMM_ALLOC, IOCTL_PMM_SHMGET } from "@umm/pmm";
import { UMP_IOC_NAMES, umpDeviceFd } from "@umm/ump";
import {
  VIDIOC_CREATE_BUFS,
  VIDIOC_CREATE_BUFS32,
  VIDIOC_DQBUF,
  VIDIOC_DQBUF32,
  VIDIOC_ENUM_FMT,
  VIDIOC_EXPBUF,
  VIDIOC_G_FMT,
  VIDIOC_G_FMT32,
  VIDIOC_PREPARE_BUF,
  VIDIOC_PREPARE_BUF32,
  VIDIOC_QBUF,
  VIDIOC_QBUF32,
  VIDIOC_QUERYBUF,
  VIDIOC_QUERYBUF32,
  VIDIOC_QUERYCAP,
  VIDIOC_REMOVE_BUFS,
  VIDIOC_REQBUFS,
  VIDIOC_S_FMT,
  VIDIOC_S_FMT32,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  VIDIOC_TRY_FMT,
  VIDIOC_TRY_FMT32,
} from "@umm/v4l2-videobuf";
import type { BadInput } from "./catalogue.js";
import type { Testbed } from "./testbed.js";

/** How a subsystem dispatches its commands (see the module comment). */
export type Dispatch = "exact" | "ump" | "by-number";

/** What an ioctl's argument is. */
export type ArgKind = "struct" | "int" | "string" | "none";

/** One ioctl: its name, command, subsystem and where the testbed issues it. */
export interface IoctlInfo {
  readonly name: string;
  readonly cmd: number;
  readonly subsystem: string;
  readonly dispatch: Dispatch;
  readonly arg: ArgKind;
  /** the process and fd the catalogue issues it on */
  readonly on: (tb: Testbed) => readonly [Process, number];
  /** a compat alias (VIDIOC_*32): the same handler as the native command after translation */
  readonly aliasOf?: string;
}

const onSys = (t: Testbed) => [t.a, t.fd.sys] as const;
const onSync = (t: Testbed) => [t.a, t.fd.syncFile] as const;
const onHeap = (t: Testbed) => [t.a, t.fd.heapSys] as const;
const onUdmabuf = (t: Testbed) => [t.a, t.fd.udmabufDev] as const;
const onUmp = (t: Testbed) => [t.a, umpDeviceFd(t.a)] as const;
/** IOCTL_PMM_ALLOC on a file that has no area yet (a second one is EBADFD before anything) */
const onPmmEmpty = (t: Testbed) => [t.b, t.fd.bPmm] as const;
const onPmm = (t: Testbed) => [t.a, t.fd.pmm] as const;
const onCard = (t: Testbed) => [t.a, t.fd.card] as const;
const onVideo = (t: Testbed) => [t.a, t.fd.video] as const;

type Row = readonly [string, number, ArgKind, string?];

function group(
  subsystem: string,
  dispatch: Dispatch,
  on: IoctlInfo["on"],
  rows: readonly Row[],
): IoctlInfo[] {
  return rows.map(([name, cmd, arg, aliasOf]) => ({
    name,
    cmd,
    subsystem,
    dispatch,
    arg,
    on,
    ...(aliasOf ? { aliasOf } : {}),
  }));
}

/** Every ioctl the uapi modules export, by subsystem. */
export const IOCTLS: readonly IoctlInfo[] = [
  ...group("dma-buf", "exact", onSys, [
    ["DMA_BUF_IOCTL_SYNC", DMA_BUF_IOCTL_SYNC, "struct"],
    ["DMA_BUF_SET_NAME_A", DMA_BUF_SET_NAME_A, "string"],
    ["DMA_BUF_SET_NAME_B", DMA_BUF_SET_NAME_B, "string"],
    ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE", DMA_BUF_IOCTL_EXPORT_SYNC_FILE, "struct"],
    ["DMA_BUF_IOCTL_IMPORT_SYNC_FILE", DMA_BUF_IOCTL_IMPORT_SYNC_FILE, "struct"],
  ]),
  ...group("sync_file", "exact", onSync, [
    ["SYNC_IOC_MERGE", SYNC_IOC_MERGE, "struct"],
    ["SYNC_IOC_FILE_INFO", SYNC_IOC_FILE_INFO, "struct"],
    ["SYNC_IOC_SET_DEADLINE", SYNC_IOC_SET_DEADLINE, "struct"],
  ]),
  ...group("dma-heap", "by-number", onHeap, [["DMA_HEAP_IOCTL_ALLOC", DMA_HEAP_IOCTL_ALLOC, "struct"]]),
  ...group("udmabuf", "exact", onUdmabuf, [
    ["UDMABUF_CREATE", UDMABUF_CREATE, "struct"],
    ["UDMABUF_CREATE_LIST", UDMABUF_CREATE_LIST, "struct"],
  ]),
  // UMP's uapi names its commands itself; every one takes a struct
  ...group(
    "ump",
    "ump",
    onUmp,
    [...UMP_IOC_NAMES].map(([cmd, name]): Row => [name, cmd, "struct"]),
  ),
  ...group("pmm", "exact", onPmmEmpty, [["IOCTL_PMM_ALLOC", IOCTL_PMM_ALLOC, "struct"]]),
  ...group("pmm", "exact", onPmm, [["IOCTL_PMM_SHMGET", IOCTL_PMM_SHMGET, "struct"]]),
  ...group("drm", "by-number", onCard, [
    ["DRM_IOCTL_VERSION", DRM_IOCTL_VERSION, "struct"],
    ["DRM_IOCTL_GET_CAP", DRM_IOCTL_GET_CAP, "struct"],
    ["DRM_IOCTL_SET_MASTER", DRM_IOCTL_SET_MASTER, "none"],
    ["DRM_IOCTL_DROP_MASTER", DRM_IOCTL_DROP_MASTER, "none"],
    ["DRM_IOCTL_GEM_CLOSE", DRM_IOCTL_GEM_CLOSE, "struct"],
    ["DRM_IOCTL_PRIME_HANDLE_TO_FD", DRM_IOCTL_PRIME_HANDLE_TO_FD, "struct"],
    ["DRM_IOCTL_PRIME_FD_TO_HANDLE", DRM_IOCTL_PRIME_FD_TO_HANDLE, "struct"],
    ["DRM_IOCTL_WAIT_VBLANK", DRM_IOCTL_WAIT_VBLANK, "struct"],
    ["DRM_IOCTL_MODE_GETRESOURCES", DRM_IOCTL_MODE_GETRESOURCES, "struct"],
    ["DRM_IOCTL_MODE_GETCRTC", DRM_IOCTL_MODE_GETCRTC, "struct"],
    ["DRM_IOCTL_MODE_SETCRTC", DRM_IOCTL_MODE_SETCRTC, "struct"],
    ["DRM_IOCTL_MODE_GETENCODER", DRM_IOCTL_MODE_GETENCODER, "struct"],
    ["DRM_IOCTL_MODE_GETCONNECTOR", DRM_IOCTL_MODE_GETCONNECTOR, "struct"],
    ["DRM_IOCTL_MODE_RMFB", DRM_IOCTL_MODE_RMFB, "int"],
    ["DRM_IOCTL_MODE_PAGE_FLIP", DRM_IOCTL_MODE_PAGE_FLIP, "struct"],
    ["DRM_IOCTL_MODE_CREATE_DUMB", DRM_IOCTL_MODE_CREATE_DUMB, "struct"],
    ["DRM_IOCTL_MODE_MAP_DUMB", DRM_IOCTL_MODE_MAP_DUMB, "struct"],
    ["DRM_IOCTL_MODE_DESTROY_DUMB", DRM_IOCTL_MODE_DESTROY_DUMB, "struct"],
    ["DRM_IOCTL_MODE_GETPLANERESOURCES", DRM_IOCTL_MODE_GETPLANERESOURCES, "struct"],
    ["DRM_IOCTL_MODE_GETPLANE", DRM_IOCTL_MODE_GETPLANE, "struct"],
    ["DRM_IOCTL_MODE_ADDFB2", DRM_IOCTL_MODE_ADDFB2, "struct"],
  ]),
  ...group("v4l2", "exact", onVideo, [
    ["VIDIOC_QUERYCAP", VIDIOC_QUERYCAP, "struct"],
    ["VIDIOC_ENUM_FMT", VIDIOC_ENUM_FMT, "struct"],
    ["VIDIOC_G_FMT", VIDIOC_G_FMT, "struct"],
    ["VIDIOC_S_FMT", VIDIOC_S_FMT, "struct"],
    ["VIDIOC_TRY_FMT", VIDIOC_TRY_FMT, "struct"],
    ["VIDIOC_REQBUFS", VIDIOC_REQBUFS, "struct"],
    ["VIDIOC_QUERYBUF", VIDIOC_QUERYBUF, "struct"],
    ["VIDIOC_QBUF", VIDIOC_QBUF, "struct"],
    ["VIDIOC_DQBUF", VIDIOC_DQBUF, "struct"],
    ["VIDIOC_EXPBUF", VIDIOC_EXPBUF, "struct"],
    ["VIDIOC_STREAMON", VIDIOC_STREAMON, "int"],
    ["VIDIOC_STREAMOFF", VIDIOC_STREAMOFF, "int"],
    ["VIDIOC_CREATE_BUFS", VIDIOC_CREATE_BUFS, "struct"],
    ["VIDIOC_PREPARE_BUF", VIDIOC_PREPARE_BUF, "struct"],
    ["VIDIOC_REMOVE_BUFS", VIDIOC_REMOVE_BUFS, "struct"],
    ["VIDIOC_G_FMT32", VIDIOC_G_FMT32, "struct", "VIDIOC_G_FMT"],
    ["VIDIOC_S_FMT32", VIDIOC_S_FMT32, "struct", "VIDIOC_S_FMT"],
    ["VIDIOC_TRY_FMT32", VIDIOC_TRY_FMT32, "struct", "VIDIOC_TRY_FMT"],
    ["VIDIOC_QUERYBUF32", VIDIOC_QUERYBUF32, "struct", "VIDIOC_QUERYBUF"],
    ["VIDIOC_QBUF32", VIDIOC_QBUF32, "struct", "VIDIOC_QBUF"],
    ["VIDIOC_DQBUF32", VIDIOC_DQBUF32, "struct", "VIDIOC_DQBUF"],
    ["VIDIOC_CREATE_BUFS32", VIDIOC_CREATE_BUFS32, "struct", "VIDIOC_CREATE_BUFS"],
    ["VIDIOC_PREPARE_BUF32", VIDIOC_PREPARE_BUF32, "struct", "VIDIOC_PREPARE_BUF"],
  ]),
];

const KNOWN_CMDS: ReadonlySet<number> = new Set(IOCTLS.map((i) => i.cmd));

/** `cmd` with an `_IOC_SIZE` that no known command has (the nearest above, else below). */
export function strangeSize(cmd: number): number {
  const size = _IOC_SIZE(cmd);
  for (let d = 4; d < 64; d += 4) {
    for (const s of [size + d, size - d]) {
      if (s < 1 || s > _IOC_SIZEMASK) continue;
      const c = _IOC(_IOC_DIR(cmd), _IOC_TYPE(cmd), _IOC_NR(cmd), s);
      if (!KNOWN_CMDS.has(c)) return c;
    }
  }
  throw new Error(`no free size near ${_IOC_SIZE(cmd)}`);
}

/** The generated entries (see the module comment). */
export function genericIoctlEntries(): BadInput[] {
  const out: BadInput[] = [];
  for (const io of IOCTLS) {
    const api = io.name;
    out.push({
      api,
      cls: "wrong fd",
      what: "an fd that is not open",
      errno: "EBADF",
      call: (t) => io.on(t)[0].ioctl(77, io.cmd, {}),
    });
    out.push({
      api,
      cls: "wrong fd",
      what: "a memfd (no ioctl at all)",
      errno: "ENOTTY",
      call: (t) => t.a.ioctl(t.fd.memfdUnsealed, io.cmd, {}),
    });
    if (io.dispatch !== "by-number") {
      const bad = strangeSize(io.cmd);
      out.push({
        api,
        cls: "wrong size field",
        what: `_IOC_SIZE ${_IOC_SIZE(bad)} instead of ${_IOC_SIZE(io.cmd)}`,
        errno: io.dispatch === "ump" ? "EFAULT" : "ENOTTY",
        call: (t) => {
          const [p, fd] = io.on(t);
          return p.ioctl(fd, bad, {});
        },
      });
    }
    if (io.arg === "struct") {
      out.push({
        api,
        cls: "not a struct",
        what: "a number where the user pointer goes",
        errno: "EFAULT",
        call: (t) => {
          const [p, fd] = io.on(t);
          return p.ioctl(fd, io.cmd, 7);
        },
      });
    }
  }
  return out;
}
