/**
 * What the demo's programs need besides the V4L2 calls of `@umm/v4l2-videobuf` (`v4l2SFmt`,
 * `v4l2QbufMmap`, ...): finding the FIMC nodes among /dev/video* as a program does, and the u32
 * messages the camera and the compositor exchange.
 *
 * @module
 */
import { KernelError } from "@umm/kernel-core";
import { O_RDWR, type Process } from "@umm/kernel-process";
import {
  V4L2_CAP_VIDEO_CAPTURE_MPLANE,
  V4L2_CAP_VIDEO_M2M_MPLANE,
  type V4l2Capability,
  VIDIOC_QUERYCAP,
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
