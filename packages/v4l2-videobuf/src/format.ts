/**
 * Image formats for G/S/TRY_FMT and ENUM_FMT: the layout of the pixel formats umm's drivers
 * use (v4l2-common.c's `v4l2_format_info` and `v4l2_fill_pixfmt[_mp]`), and a format store a
 * driver keeps per queue type. Enough for capture and mem2mem drivers: width, height, pixel
 * format (NV12 and the two-plane NV12M among them), bytes per line and image size per plane.
 *
 * @module
 */
import { KernelError } from "@umm/kernel-core";
import {
  fourccToString,
  V4L2_FIELD_NONE,
  V4L2_PIX_FMT_GREY,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_NV12M,
  V4L2_PIX_FMT_NV21,
  V4L2_PIX_FMT_NV21M,
  V4L2_PIX_FMT_RGB24,
  V4L2_PIX_FMT_RGB565,
  V4L2_PIX_FMT_XRGB32,
  V4L2_PIX_FMT_YUYV,
  V4L2_TYPE_IS_MULTIPLANAR,
  type V4l2Format,
  type V4l2PixFormat,
  type V4l2PixFormatMplane,
} from "./uapi.js";

/** `struct v4l2_format_info`, reduced: how a pixel format lays out in memory. */
export interface V4l2FormatInfo {
  /** the fourcc */
  readonly format: number;
  /** shown by ENUM_FMT */
  readonly description: string;
  /** memory planes (1, or 2 for the "M" formats) */
  readonly memPlanes: number;
  /** colour components (planes of the image) */
  readonly compPlanes: number;
  /** bytes per pixel of each component plane */
  readonly bpp: readonly number[];
  /** horizontal subsampling of the chroma planes */
  readonly hdiv: number;
  /** vertical subsampling of the chroma planes */
  readonly vdiv: number;
}

const INFOS: readonly V4l2FormatInfo[] = [
  {
    format: V4L2_PIX_FMT_NV12,
    description: "Y/UV 4:2:0",
    memPlanes: 1,
    compPlanes: 2,
    bpp: [1, 2],
    hdiv: 2,
    vdiv: 2,
  },
  {
    format: V4L2_PIX_FMT_NV21,
    description: "Y/VU 4:2:0",
    memPlanes: 1,
    compPlanes: 2,
    bpp: [1, 2],
    hdiv: 2,
    vdiv: 2,
  },
  {
    format: V4L2_PIX_FMT_NV12M,
    description: "Y/UV 4:2:0 (N-C)",
    memPlanes: 2,
    compPlanes: 2,
    bpp: [1, 2],
    hdiv: 2,
    vdiv: 2,
  },
  {
    format: V4L2_PIX_FMT_NV21M,
    description: "Y/VU 4:2:0 (N-C)",
    memPlanes: 2,
    compPlanes: 2,
    bpp: [1, 2],
    hdiv: 2,
    vdiv: 2,
  },
  {
    format: V4L2_PIX_FMT_YUYV,
    description: "YUYV 4:2:2",
    memPlanes: 1,
    compPlanes: 1,
    bpp: [2],
    hdiv: 1,
    vdiv: 1,
  },
  {
    format: V4L2_PIX_FMT_GREY,
    description: "8-bit Greyscale",
    memPlanes: 1,
    compPlanes: 1,
    bpp: [1],
    hdiv: 1,
    vdiv: 1,
  },
  {
    format: V4L2_PIX_FMT_RGB565,
    description: "16-bit RGB 5-6-5",
    memPlanes: 1,
    compPlanes: 1,
    bpp: [2],
    hdiv: 1,
    vdiv: 1,
  },
  {
    format: V4L2_PIX_FMT_RGB24,
    description: "24-bit RGB 8-8-8",
    memPlanes: 1,
    compPlanes: 1,
    bpp: [3],
    hdiv: 1,
    vdiv: 1,
  },
  {
    format: V4L2_PIX_FMT_XRGB32,
    description: "32-bit BGRX 8-8-8-8",
    memPlanes: 1,
    compPlanes: 1,
    bpp: [4],
    hdiv: 1,
    vdiv: 1,
  },
];

/** `v4l2_format_info`: the layout of `fourcc`, or undefined for a format umm does not know. */
export function v4l2FormatInfo(fourcc: number): V4l2FormatInfo | undefined {
  return INFOS.find((i) => i.format === fourcc);
}

/** Bytes per line and image size of each component plane of a `width` × `height` image. */
function planeSizes(info: V4l2FormatInfo, width: number, height: number): { bpl: number; size: number }[] {
  const out: { bpl: number; size: number }[] = [];
  for (let i = 0; i < info.compPlanes; i++) {
    const hdiv = i === 0 ? 1 : info.hdiv;
    const vdiv = i === 0 ? 1 : info.vdiv;
    const bpl = Math.ceil(width / hdiv) * info.bpp[i]!;
    out.push({ bpl, size: bpl * Math.ceil(height / vdiv) });
  }
  return out;
}

/**
 * `v4l2_fill_pixfmt`: a single-planar format of `fourcc` at `width` × `height` (all component
 * planes in one memory plane). EINVAL for an unknown format or one with several memory planes.
 */
export function v4l2FillPixFormat(fourcc: number, width: number, height: number): V4l2PixFormat {
  const info = v4l2FormatInfo(fourcc);
  if (info?.memPlanes !== 1) {
    throw new KernelError("EINVAL", `pixel format ${fourccToString(fourcc)} has no single-planar layout`);
  }
  const planes = planeSizes(info, width, height);
  return {
    width,
    height,
    pixelformat: fourcc,
    field: V4L2_FIELD_NONE,
    bytesperline: planes[0]!.bpl,
    sizeimage: planes.reduce((n, p) => n + p.size, 0),
    colorspace: 0,
    priv: 0,
    flags: 0,
    ycbcr_enc: 0,
    quantization: 0,
    xfer_func: 0,
  };
}

/**
 * `v4l2_fill_pixfmt_mp`: a multi-planar format: one memory plane per component plane for the
 * "M" formats (NV12M: Y and CbCr), else one memory plane holding all. EINVAL for an unknown
 * format.
 */
export function v4l2FillPixFormatMplane(fourcc: number, width: number, height: number): V4l2PixFormatMplane {
  const info = v4l2FormatInfo(fourcc);
  if (!info) throw new KernelError("EINVAL", `pixel format ${fourccToString(fourcc)} is unknown`);
  const planes = planeSizes(info, width, height);
  const plane_fmt =
    info.memPlanes === 1
      ? [{ bytesperline: planes[0]!.bpl, sizeimage: planes.reduce((n, p) => n + p.size, 0) }]
      : planes.map((p) => ({ bytesperline: p.bpl, sizeimage: p.size }));
  return {
    width,
    height,
    pixelformat: fourcc,
    field: V4L2_FIELD_NONE,
    colorspace: 0,
    plane_fmt,
    num_planes: plane_fmt.length,
    flags: 0,
    ycbcr_enc: 0,
    quantization: 0,
    xfer_func: 0,
  };
}

/** What a queue type of a device accepts in S_FMT / TRY_FMT. */
export interface V4l2FormatCaps {
  /** the pixel formats, in ENUM_FMT order; the first is the default */
  readonly pixelformats: readonly number[];
  /** size limits (defaults 16..8192) */
  readonly minWidth?: number;
  readonly maxWidth?: number;
  readonly minHeight?: number;
  readonly maxHeight?: number;
  /** width and height are rounded to multiples of these (default 2) */
  readonly widthAlign?: number;
  readonly heightAlign?: number;
  /** the format before any S_FMT (default 640×480 of the first pixel format) */
  readonly defaultWidth?: number;
  readonly defaultHeight?: number;
}

function clampAlign(v: number, min: number, max: number, align: number): number {
  const c = Math.min(Math.max(Number.isFinite(v) ? Math.round(v) : min, min), max);
  return Math.max(min, Math.round(c / align) * align);
}

/**
 * TRY_FMT as drivers do it: the nearest format `caps` allow — an unsupported pixel format
 * becomes the first supported, width and height are clamped and aligned, field is NONE, and
 * bytesperline/sizeimage are computed. For a multi-planar `type` the result is `fmt.pix_mp`,
 * else `fmt.pix`. Never fails for a buffer type the caller supports.
 */
export function v4l2TryFormat(caps: V4l2FormatCaps, f: V4l2Format): V4l2Format {
  const mp = V4L2_TYPE_IS_MULTIPLANAR(f.type);
  const want = mp ? f.fmt?.pix_mp : f.fmt?.pix;
  const usable = caps.pixelformats.filter((p) => {
    const info = v4l2FormatInfo(p);
    return info && (mp || info.memPlanes === 1);
  });
  let fourcc = want?.pixelformat ?? 0;
  if (!usable.includes(fourcc)) fourcc = usable[0]!;
  const wa = caps.widthAlign ?? 2;
  const ha = caps.heightAlign ?? 2;
  const width = clampAlign(want?.width ?? 0, caps.minWidth ?? 16, caps.maxWidth ?? 8192, wa);
  const height = clampAlign(want?.height ?? 0, caps.minHeight ?? 16, caps.maxHeight ?? 8192, ha);
  return mp
    ? { type: f.type, fmt: { pix_mp: v4l2FillPixFormatMplane(fourcc, width, height) } }
    : { type: f.type, fmt: { pix: v4l2FillPixFormat(fourcc, width, height) } };
}

/** The format of `type` before any S_FMT. */
export function v4l2DefaultFormat(caps: V4l2FormatCaps, type: number): V4l2Format {
  const mp = V4L2_TYPE_IS_MULTIPLANAR(type);
  const w = caps.defaultWidth ?? 640;
  const h = caps.defaultHeight ?? 480;
  const fourcc = caps.pixelformats[0] ?? 0;
  const base = mp
    ? { type, fmt: { pix_mp: { ...v4l2FillPixFormatMplane(fourcc, w, h) } } }
    : { type, fmt: { pix: { ...v4l2FillPixFormat(fourcc, w, h) } } };
  return v4l2TryFormat(caps, base);
}

/**
 * The plane sizes a format gives (`sizeimage` of each memory plane): what a driver's
 * `queueSetup` answers for REQBUFS.
 */
export function v4l2FormatPlaneSizes(f: V4l2Format): number[] {
  if (V4L2_TYPE_IS_MULTIPLANAR(f.type)) {
    const mp = f.fmt.pix_mp!;
    return mp.plane_fmt.slice(0, mp.num_planes).map((p) => p.sizeimage);
  }
  return [f.fmt.pix!.sizeimage];
}

/** A deep copy of a format (for handing to user space or storing). */
export function v4l2CopyFormat(f: V4l2Format): V4l2Format {
  return structuredClone(f);
}
