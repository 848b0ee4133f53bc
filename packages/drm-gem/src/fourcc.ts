/**
 * Pixel formats (include/uapi/drm/drm_fourcc.h, drivers/gpu/drm/drm_fourcc.c): fourcc codes and
 * the per-format layout `framebuffer_check` and the scanout need — planes, bytes per pixel of
 * each plane, chroma subsampling.
 *
 * @module
 */

/** `fourcc_code(a, b, c, d)`: the little-endian 32-bit code of four characters. */
export function fourccCode(code: string): number {
  if (code.length !== 4) throw new RangeError(`fourcc ${JSON.stringify(code)} is not 4 characters`);
  return (
    (code.charCodeAt(0) |
      (code.charCodeAt(1) << 8) |
      (code.charCodeAt(2) << 16) |
      (code.charCodeAt(3) << 24)) >>>
    0
  );
}

/** The four characters of a fourcc code (`drm_get_format_name` without the endianness suffix). */
export function fourccName(format: number): string {
  const f = format >>> 0;
  const ch = (s: number): string => {
    const c = (f >>> s) & 0xff;
    return c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "?";
  };
  return `${ch(0)}${ch(8)}${ch(16)}${ch(24)}`;
}

/** `DRM_FORMAT_XRGB8888`: [31:0] x:R:G:B 8:8:8:8 little endian, one plane. */
export const DRM_FORMAT_XRGB8888 = fourccCode("XR24");
/** `DRM_FORMAT_ARGB8888`: [31:0] A:R:G:B 8:8:8:8 little endian, one plane. */
export const DRM_FORMAT_ARGB8888 = fourccCode("AR24");
/** `DRM_FORMAT_XBGR8888`: [31:0] x:B:G:R 8:8:8:8 little endian, one plane. */
export const DRM_FORMAT_XBGR8888 = fourccCode("XB24");
/** `DRM_FORMAT_RGB565`: [15:0] R:G:B 5:6:5 little endian, one plane. */
export const DRM_FORMAT_RGB565 = fourccCode("RG16");
/** `DRM_FORMAT_NV12`: Y plane + interleaved CbCr plane, 2×2 subsampled. */
export const DRM_FORMAT_NV12 = fourccCode("NV12");
/** `DRM_FORMAT_NV21`: Y plane + interleaved CrCb plane, 2×2 subsampled. */
export const DRM_FORMAT_NV21 = fourccCode("NV21");
/** `DRM_FORMAT_YUV420`: three planes Y, Cb, Cr, 2×2 subsampled. */
export const DRM_FORMAT_YUV420 = fourccCode("YU12");
/** `DRM_FORMAT_YUYV`: packed Y0 Cb Y1 Cr, one plane, 2 bytes per pixel. */
export const DRM_FORMAT_YUYV = fourccCode("YUYV");
/** `DRM_FORMAT_INVALID` */
export const DRM_FORMAT_INVALID = 0;
/** `DRM_FORMAT_MOD_LINEAR`: the only layout this model scans out. */
export const DRM_FORMAT_MOD_LINEAR = 0;

/** `struct drm_format_info`: the layout of one format. */
export interface DrmFormatInfo {
  /** the fourcc */
  readonly format: number;
  /** its four characters, e.g. "XR24" */
  readonly name: string;
  /** colour depth for the legacy ADDFB (0 for YUV formats) */
  readonly depth: number;
  /** planes, 1..3 */
  readonly numPlanes: number;
  /** bytes per pixel of each plane (for a subsampled plane: per sample of that plane) */
  readonly cpp: readonly number[];
  /** horizontal subsampling of planes 1.. */
  readonly hsub: number;
  /** vertical subsampling of planes 1.. */
  readonly vsub: number;
  /** a YUV format */
  readonly isYuv: boolean;
}

function info(
  format: number,
  depth: number,
  cpp: number[],
  hsub = 1,
  vsub = 1,
  isYuv = false,
): DrmFormatInfo {
  return Object.freeze({
    format,
    name: fourccName(format),
    depth,
    numPlanes: cpp.length,
    cpp: Object.freeze(cpp),
    hsub,
    vsub,
    isYuv,
  });
}

const FORMATS: ReadonlyMap<number, DrmFormatInfo> = new Map(
  [
    info(DRM_FORMAT_XRGB8888, 24, [4]),
    info(DRM_FORMAT_ARGB8888, 32, [4]),
    info(DRM_FORMAT_XBGR8888, 24, [4]),
    info(DRM_FORMAT_RGB565, 16, [2]),
    info(DRM_FORMAT_NV12, 0, [1, 2], 2, 2, true),
    info(DRM_FORMAT_NV21, 0, [1, 2], 2, 2, true),
    info(DRM_FORMAT_YUV420, 0, [1, 1, 1], 2, 2, true),
    info(DRM_FORMAT_YUYV, 0, [2], 1, 1, true),
  ].map((i) => [i.format, i]),
);

/** `drm_format_info(format)`: the layout of a known format, or undefined. */
export function drmFormatInfo(format: number): DrmFormatInfo | undefined {
  return FORMATS.get(format >>> 0);
}

/** `drm_format_info_plane_width`: pixels (samples) per row of `plane` for a `width`-pixel image. */
export function drmFormatPlaneWidth(info: DrmFormatInfo, width: number, plane: number): number {
  return plane === 0 ? width : Math.ceil(width / info.hsub);
}

/** `drm_format_info_plane_height`: rows of `plane` for a `height`-line image. */
export function drmFormatPlaneHeight(info: DrmFormatInfo, height: number, plane: number): number {
  return plane === 0 ? height : Math.ceil(height / info.vsub);
}

/** `drm_format_info_min_pitch`: the smallest pitch (bytes) of `plane` for `width` pixels. */
export function drmFormatMinPitch(info: DrmFormatInfo, plane: number, width: number): number {
  return drmFormatPlaneWidth(info, width, plane) * (info.cpp[plane] ?? 0);
}
