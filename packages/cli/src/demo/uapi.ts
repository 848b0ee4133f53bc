/**
 * What the demo's programs call, as a C program would through libv4l2 / libdrm: thin wrappers
 * over `Process.ioctl` with the kernel's uapi structs (field names from the headers).
 *
 * @module
 */
import { KernelError } from "@umm/kernel-core";
import { O_RDWR, type Process } from "@umm/kernel-process";
import {
  V4L2_CAP_VIDEO_CAPTURE_MPLANE,
  V4L2_CAP_VIDEO_M2M_MPLANE,
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  type V4l2Buffer,
  type V4l2Capability,
  type V4l2Format,
  VIDIOC_DQBUF,
  VIDIOC_EXPBUF,
  VIDIOC_QBUF,
  VIDIOC_QUERYCAP,
  VIDIOC_REQBUFS,
  VIDIOC_S_FMT,
  v4l2Buffer,
  v4l2Planes,
} from "@umm/v4l2-videobuf";

/** The V4L2 driver name of the FIMC (camera interface and scaler). */
export const FIMC_DRIVER_NAME = "exynos4-fimc";

/**
 * The first of `paths` (video nodes) whose `VIDIOC_QUERYCAP` says it is a FIMC camera interface
 * (`kind` "capture": multi-planar capture, not mem-to-mem) or a FIMC scaler ("m2m"), as a program
 * looking through /dev/video* does; ENODEV when none is.
 */
export function findVideoNode(p: Process, paths: readonly string[], kind: "capture" | "m2m"): string {
  for (const path of paths) {
    const fd = p.open(path, O_RDWR);
    const cap: V4l2Capability = {
      driver: "",
      card: "",
      bus_info: "",
      version: 0,
      capabilities: 0,
      device_caps: 0,
    };
    try {
      p.ioctl(fd, VIDIOC_QUERYCAP, cap);
    } finally {
      p.close(fd);
    }
    if (cap.driver !== FIMC_DRIVER_NAME) continue;
    const m2m = (cap.device_caps & V4L2_CAP_VIDEO_M2M_MPLANE) !== 0;
    const capture = (cap.device_caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE) !== 0;
    if (kind === "m2m" ? m2m : capture && !m2m) return path;
  }
  throw new KernelError(
    "ENODEV",
    `no FIMC ${kind === "m2m" ? "scaler" : "camera"} among ${paths.join(", ")}`,
  );
}

/** `VIDIOC_S_FMT` of a multi-planar type; returns the format the driver chose. */
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

/** `VIDIOC_REQBUFS`; returns the count granted. */
export function reqbufs(p: Process, fd: number, type: number, memory: number, count: number): number {
  const r = { count, type, memory, capabilities: 0, flags: 0 };
  p.ioctl(fd, VIDIOC_REQBUFS, r);
  return r.count;
}

/** A one-plane multi-planar `struct v4l2_buffer`. */
export function mbuf(type: number, memory: number, index = 0): V4l2Buffer {
  return v4l2Buffer({ type, memory, index, length: 1, m: { planes: v4l2Planes(1) } });
}

/** `VIDIOC_QBUF` of an MMAP buffer. */
export function qbufMmap(p: Process, fd: number, type: number, index: number): void {
  p.ioctl(fd, VIDIOC_QBUF, mbuf(type, V4L2_MEMORY_MMAP, index));
}

/** `VIDIOC_QBUF` of a one-plane DMABUF buffer (`bytesused` 0: the whole dma-buf). */
export function qbufDmabuf(
  p: Process,
  fd: number,
  type: number,
  index: number,
  dmabuf: number,
  bytesused = 0,
): void {
  const b = mbuf(type, V4L2_MEMORY_DMABUF, index);
  const pl = b.m.planes![0]!;
  pl.m = { fd: dmabuf };
  pl.bytesused = bytesused;
  pl.length = bytesused;
  p.ioctl(fd, VIDIOC_QBUF, b);
}

/**
 * A blocking `VIDIOC_DQBUF`: settles when the driver returns a buffer (whoever drives the
 * virtual clock makes that happen).
 */
export async function dqbuf(p: Process, fd: number, type: number, memory: number): Promise<V4l2Buffer> {
  const b = mbuf(type, memory);
  await p.ioctl(fd, VIDIOC_DQBUF, b);
  return b;
}

/** `VIDIOC_EXPBUF` of plane 0; returns the dma-buf fd. */
export function expbuf(p: Process, fd: number, type: number, index: number, flags: number): number {
  const e = { type, index, plane: 0, flags, fd: -1 };
  p.ioctl(fd, VIDIOC_EXPBUF, e);
  return e.fd;
}

/** Little-endian u32 fields as message bytes. */
export function packU32(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const dv = new DataView(out.buffer);
  values.forEach((v, i) => {
    dv.setUint32(i * 4, v >>> 0, true);
  });
  return out;
}

/** The little-endian u32 fields of a message. */
export function unpackU32(bytes: Uint8Array): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let o = 0; o + 4 <= bytes.byteLength; o += 4) out.push(dv.getUint32(o, true));
  return out;
}
