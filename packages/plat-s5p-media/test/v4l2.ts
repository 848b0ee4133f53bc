// User-space helpers for the multi-planar V4L2 nodes: what an application's ioctl calls look like.
import type { Kernel } from "@umm/kernel-core";
import type { Process } from "@umm/kernel-process";
import {
  type V4l2Buffer,
  type V4l2Format,
  VIDIOC_DQBUF,
  VIDIOC_EXPBUF,
  VIDIOC_G_FMT,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_REQBUFS,
  VIDIOC_S_FMT,
  v4l2Buffer,
  v4l2Planes,
} from "@umm/v4l2-videobuf";

/** S_FMT of a multi-planar type; returns the format the driver chose. */
export function sFmt(
  p: Process,
  fd: number,
  type: number,
  pixelformat: number,
  width: number,
  height: number,
): V4l2Format {
  const f: V4l2Format = {
    type,
    fmt: {
      pix_mp: {
        width,
        height,
        pixelformat,
        field: 0,
        colorspace: 0,
        plane_fmt: [],
        num_planes: 0,
        flags: 0,
        ycbcr_enc: 0,
        quantization: 0,
        xfer_func: 0,
      },
    },
  };
  p.ioctl(fd, VIDIOC_S_FMT, f);
  return f;
}

/** G_FMT of a type. */
export function gFmt(p: Process, fd: number, type: number): V4l2Format {
  const f: V4l2Format = { type, fmt: {} };
  p.ioctl(fd, VIDIOC_G_FMT, f);
  return f;
}

/** REQBUFS; returns the count granted. */
export function reqbufs(p: Process, fd: number, type: number, memory: number, count: number): number {
  const r = { count, type, memory, capabilities: 0, flags: 0 };
  p.ioctl(fd, VIDIOC_REQBUFS, r);
  return r.count;
}

/** A multi-planar buffer struct of `n` planes. */
export function mbuf(type: number, memory: number, n: number, init: Partial<V4l2Buffer> = {}): V4l2Buffer {
  return v4l2Buffer({ type, memory, length: n, m: { planes: v4l2Planes(n) }, ...init });
}

/** QUERYBUF. */
export function querybuf(
  p: Process,
  fd: number,
  type: number,
  memory: number,
  index: number,
  n: number,
): V4l2Buffer {
  const b = mbuf(type, memory, n, { index });
  p.ioctl(fd, VIDIOC_QUERYBUF, b);
  return b;
}

/** QBUF of an MMAP buffer. */
export function qbufMmap(
  p: Process,
  fd: number,
  type: number,
  index: number,
  n: number,
  bytesused: number[] = [],
): void {
  const b = mbuf(type, 1, n, { index });
  bytesused.forEach((u, i) => {
    b.m.planes![i]!.bytesused = u;
  });
  p.ioctl(fd, VIDIOC_QBUF, b);
}

/** QBUF of a DMABUF buffer (one fd per plane); each plane's `length` is its `bytesused` (or 0: the dma-buf's size). */
export function qbufDmabuf(
  p: Process,
  fd: number,
  type: number,
  index: number,
  fds: readonly number[],
  bytesused: number[] = [],
): void {
  const b = mbuf(type, 4, fds.length, { index });
  fds.forEach((f, i) => {
    const pl = b.m.planes![i]!;
    pl.m = { fd: f };
    pl.bytesused = bytesused[i] ?? 0;
    pl.length = bytesused[i] ?? 0;
  });
  p.ioctl(fd, VIDIOC_QBUF, b);
}

/** A blocking DQBUF driven on virtual time. */
export async function dqbuf(
  k: Kernel,
  p: Process,
  fd: number,
  type: number,
  memory: number,
  n: number,
): Promise<V4l2Buffer> {
  const b = mbuf(type, memory, n);
  await k.clock.runUntil(Promise.resolve(p.ioctl(fd, VIDIOC_DQBUF, b)));
  return b;
}

/** EXPBUF of one plane; returns the dma-buf fd. */
export function expbuf(p: Process, fd: number, type: number, index: number, plane = 0): number {
  const e = { type, index, plane, flags: 0o2, fd: -1 };
  p.ioctl(fd, VIDIOC_EXPBUF, e);
  return e.fd;
}
