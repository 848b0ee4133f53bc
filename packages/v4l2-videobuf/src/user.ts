/**
 * User-space calls on a multi-planar video node, as an application makes them through libv4l2:
 * each `v4l2<Ioctl>` fills the uapi struct of its ioctl (field names from videodev2.h), calls
 * `Process.ioctl` and returns what the program reads back; a rejected ioctl throws its
 * `KernelError` unchanged. `v4l2MmapPlanes` maps a buffer's planes, `v4l2MplaneBuffer` makes
 * the struct. Programs (the `umm demo` camera and compositor) and tests use them so that a
 * buffer flow reads as the ioctl sequence it is.
 *
 * ```ts
 * v4l2SFmt(app, fd, CAP, V4L2_PIX_FMT_NV12M, 640, 480);
 * const n = v4l2Reqbufs(app, fd, CAP, V4L2_MEMORY_MMAP, 4);
 * for (let i = 0; i < n; i++) {
 *   maps.push(v4l2MmapPlanes(app, fd, v4l2Querybuf(app, fd, CAP, V4L2_MEMORY_MMAP, i, 2)));
 *   v4l2QbufMmap(app, fd, CAP, i, 2);
 * }
 * app.ioctl(fd, VIDIOC_STREAMON, CAP);
 * const b = await kernel.clock.runUntil(v4l2Dqbuf(app, fd, CAP, V4L2_MEMORY_MMAP, 2));
 * ```
 *
 * @module
 */
import { O_RDWR, type Process } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import {
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  type V4l2Buffer,
  type V4l2ExportBuffer,
  type V4l2Format,
  type V4l2RequestBuffers,
  VIDIOC_DQBUF,
  VIDIOC_EXPBUF,
  VIDIOC_G_FMT,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_REQBUFS,
  VIDIOC_S_FMT,
  v4l2Buffer,
  v4l2Planes,
} from "./uapi.js";

/**
 * `VIDIOC_S_FMT` of a multi-planar `type` with `pixelformat` at `width` × `height` (the other
 * fields zero: the driver fills planes, sizes and strides); returns the format the driver chose.
 */
export function v4l2SFmt(
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

/** `VIDIOC_G_FMT` of `type`: the node's current format. */
export function v4l2GFmt(p: Process, fd: number, type: number): V4l2Format {
  const f: V4l2Format = { type, fmt: {} };
  p.ioctl(fd, VIDIOC_G_FMT, f);
  return f;
}

/** `VIDIOC_REQBUFS` of `count` buffers of `memory` (0 frees them); returns the count granted. */
export function v4l2Reqbufs(p: Process, fd: number, type: number, memory: number, count: number): number {
  const r: V4l2RequestBuffers = { count, type, memory, capabilities: 0, flags: 0 };
  p.ioctl(fd, VIDIOC_REQBUFS, r);
  return r.count;
}

/**
 * A zeroed multi-planar `struct v4l2_buffer` with a planes array of `planes` elements (and
 * `length` = `planes`, as the uapi wants), then the fields of `init` (`index`, `flags`, ...).
 */
export function v4l2MplaneBuffer(
  type: number,
  memory: number,
  planes = 1,
  init: Partial<V4l2Buffer> = {},
): V4l2Buffer {
  return v4l2Buffer({ type, memory, length: planes, m: { planes: v4l2Planes(planes) }, ...init });
}

/** `VIDIOC_QUERYBUF` of buffer `index`: plane lengths and mmap offsets (`m.planes[i].m.mem_offset`). */
export function v4l2Querybuf(
  p: Process,
  fd: number,
  type: number,
  memory: number,
  index: number,
  planes = 1,
): V4l2Buffer {
  const b = v4l2MplaneBuffer(type, memory, planes, { index });
  p.ioctl(fd, VIDIOC_QUERYBUF, b);
  return b;
}

/**
 * `mmap(MAP_SHARED)` of every plane of MMAP buffer `b` (as `v4l2Querybuf` returned it), each at
 * its offset cookie with `prot`; returns the planes' user addresses, in plane order.
 */
export function v4l2MmapPlanes(
  p: Process,
  fd: number,
  b: V4l2Buffer,
  prot = PROT_READ | PROT_WRITE,
): number[] {
  return b.m.planes!.map((pl) =>
    p.mmap({ fd, length: pl.length, prot, flags: MAP_SHARED, offset: pl.m.mem_offset }),
  );
}

/**
 * `VIDIOC_QBUF` of MMAP buffer `index` with `planes` planes; `bytesused[i]` is the payload of
 * plane `i` on an OUTPUT queue (absent: 0, which vb2 takes as the whole plane).
 */
export function v4l2QbufMmap(
  p: Process,
  fd: number,
  type: number,
  index: number,
  planes = 1,
  bytesused: readonly number[] = [],
): void {
  const b = v4l2MplaneBuffer(type, V4L2_MEMORY_MMAP, planes, { index });
  bytesused.forEach((n, i) => {
    b.m.planes![i]!.bytesused = n;
  });
  p.ioctl(fd, VIDIOC_QBUF, b);
}

/**
 * `VIDIOC_QBUF` of DMABUF buffer `index`, plane `i` being the dma-buf `fds[i]`. Each plane's
 * `bytesused` and `length` are `bytesused[i]`; absent or 0, the kernel takes the dma-buf's size.
 */
export function v4l2QbufDmabuf(
  p: Process,
  fd: number,
  type: number,
  index: number,
  fds: readonly number[],
  bytesused: readonly number[] = [],
): void {
  const b = v4l2MplaneBuffer(type, V4L2_MEMORY_DMABUF, fds.length, { index });
  fds.forEach((dmabuf, i) => {
    const pl = b.m.planes![i]!;
    pl.m = { fd: dmabuf };
    pl.bytesused = bytesused[i] ?? 0;
    pl.length = bytesused[i] ?? 0;
  });
  p.ioctl(fd, VIDIOC_QBUF, b);
}

/**
 * `VIDIOC_DQBUF` of a buffer of `memory` with `planes` planes: settles with the buffer the
 * driver returned (index, sequence, timestamp, flags, planes' `bytesused`). On a blocking file it
 * waits for a frame, so whoever drives the virtual clock makes it settle (a test:
 * `kernel.clock.runUntil(v4l2Dqbuf(...))`); on an O_NONBLOCK file with nothing done it rejects
 * with EAGAIN.
 */
export async function v4l2Dqbuf(
  p: Process,
  fd: number,
  type: number,
  memory: number,
  planes = 1,
): Promise<V4l2Buffer> {
  const b = v4l2MplaneBuffer(type, memory, planes);
  await p.ioctl(fd, VIDIOC_DQBUF, b);
  return b;
}

/**
 * `VIDIOC_EXPBUF` of `plane` of MMAP buffer `index`; returns the new dma-buf fd, opened with
 * `flags` (the access mode, and O_CLOEXEC for the fd).
 */
export function v4l2Expbuf(
  p: Process,
  fd: number,
  type: number,
  index: number,
  plane = 0,
  flags = O_RDWR,
): number {
  const e: V4l2ExportBuffer = { type, index, plane, flags, fd: -1 };
  p.ioctl(fd, VIDIOC_EXPBUF, e);
  return e.fd;
}
