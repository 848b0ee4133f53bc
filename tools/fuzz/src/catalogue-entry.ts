/**
 * What the catalogue's entry lists share: the one-line entry constructor and the argument
 * builders more than one list uses. Each builder returns a valid argument; an entry passes the
 * one field it makes bad as an override, so that the difference stays in the entry.
 *
 * @module
 */
import { DRM_FORMAT_XRGB8888 } from "@umm/drm-gem";
import { PAGE_SIZE } from "@umm/kernel-core";
import { UMP_MSYNC_CLEAN, umpDeviceFd } from "@umm/ump";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  v4l2Buffer,
} from "@umm/v4l2-videobuf";
import type { BadClass, BadInput } from "./catalogue.js";
import type { Testbed } from "./testbed.js";

/** One entry: the interface, the class, the bad argument in words, the errno, the call. */
export const e = (
  api: string,
  cls: BadClass,
  what: string,
  errno: BadInput["errno"],
  call: (t: Testbed) => unknown,
): BadInput => ({ api, cls, what, errno, call });

export const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;

/** The UMP device fd of process a (or b). */
export const ump = (t: Testbed, p: "a" | "b" = "a") => umpDeviceFd(t[p]);

/** A valid `ump_msync` on the testbed's UMP buffer: a page, cleaned. */
export const msync = (t: Testbed, o: Record<string, number> = {}) => ({
  mapping: 0,
  address: 0,
  size: PAGE_SIZE,
  op: UMP_MSYNC_CLEAN,
  cookie: 0,
  secure_id: t.umpId,
  is_cached: 0,
  ...o,
});

/** A valid `v4l2_buffer` for buffer 1 of the MMAP capture queue. */
export const buf = (o: Record<string, unknown> = {}) =>
  v4l2Buffer({ index: 1, type: CAP, memory: V4L2_MEMORY_MMAP, ...o } as never);

/** A valid `v4l2_buffer` for buffer 0 of a DMABUF capture queue, importing `fd`. */
export const dmabufBuf = (fd: number, o: Record<string, unknown> = {}) =>
  v4l2Buffer({ index: 0, type: CAP, memory: V4L2_MEMORY_DMABUF, m: { fd }, ...o } as never);

/** A valid `drm_mode_fb_cmd2`: 64×32 XRGB8888 on a's dumb buffer. */
export const addfb = (t: Testbed, o: Record<string, unknown> = {}) => ({
  fb_id: 0,
  width: 64,
  height: 32,
  pixel_format: DRM_FORMAT_XRGB8888,
  handles: [t.dumb.handle],
  pitches: [256],
  ...o,
});
