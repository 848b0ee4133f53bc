/**
 * Pixels to PNG: a small PNG encoder (8-bit RGBA, deflate from node:zlib) and the colour
 * conversions that turn simulated frame buffers (DRM XRGB8888, V4L2 NV12) into RGBA.
 *
 * @module
 */
import { deflateSync } from "node:zlib";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 (ISO-HDLC, the polynomial PNG and zlib use) of `bytes`, continuing from `crc` when given.
 * Returns an unsigned 32-bit value.
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** The eight bytes every PNG file starts with. */
export const PNG_SIGNATURE: Uint8Array = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

function checkDims(fn: string, width: number, height: number): void {
  for (const [k, v] of [
    ["width", width],
    ["height", height],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0 || v > 0x7fffffff) {
      throw new Error(`${fn}: ${k} ${v} must be a positive integer`);
    }
  }
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Options of `encodePng`. */
export interface EncodePngOpts {
  /** zlib compression level 0..9 (default 6) */
  readonly level?: number;
}

/**
 * Encodes `width`×`height` pixels of 8-bit RGBA (`rgba`, row-major, 4 bytes a pixel, no padding)
 * as a PNG file: signature, IHDR (colour type 6), one IDAT (zlib, each row with filter 0) and IEND.
 * Throws an `Error` when the sizes do not match.
 */
export function encodePng(
  rgba: Uint8Array,
  width: number,
  height: number,
  opts: EncodePngOpts = {},
): Uint8Array {
  checkDims("encodePng", width, height);
  const stride = width * 4;
  if (rgba.length !== stride * height) {
    throw new Error(
      `encodePng: rgba has ${rgba.length} bytes, ${width}x${height} RGBA needs ${stride * height}`,
    );
  }
  const level = opts.level ?? 6;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new Error(`encodePng: level ${level} must be an integer 0..9`);
  }
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: RGBA
  ihdr[10] = 0; // compression: deflate
  ihdr[11] = 0; // filter method 0
  ihdr[12] = 0; // no interlace
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    // filter type byte 0 (None) stays 0
    raw.set(rgba.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const idat = new Uint8Array(deflateSync(raw, { level }));
  const parts = [PNG_SIGNATURE, chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Converts a DRM `XRGB8888` buffer (little-endian 32-bit words x:R:G:B, so bytes B, G, R, X in
 * memory) of `width`×`height` pixels with `pitch` bytes a line into tightly packed RGBA with
 * alpha 255.
 */
export function xrgb8888ToRgba(
  buf: Uint8Array,
  width: number,
  height: number,
  pitch = width * 4,
): Uint8Array {
  checkDims("xrgb8888ToRgba", width, height);
  if (!Number.isInteger(pitch) || pitch < width * 4) {
    throw new Error(`xrgb8888ToRgba: pitch ${pitch} is less than width*4 = ${width * 4}`);
  }
  const need = pitch * (height - 1) + width * 4;
  if (buf.length < need) {
    throw new Error(
      `xrgb8888ToRgba: buffer has ${buf.length} bytes, ${width}x${height} pitch ${pitch} needs ${need}`,
    );
  }
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    let s = y * pitch;
    let d = y * width * 4;
    for (let x = 0; x < width; x++, s += 4, d += 4) {
      out[d] = buf[s + 2]!;
      out[d + 1] = buf[s + 1]!;
      out[d + 2] = buf[s]!;
      out[d + 3] = 255;
    }
  }
  return out;
}

/** Layout of an NV12 buffer for `nv12ToRgba`. */
export interface Nv12Layout {
  /** bytes a line of the Y plane (default width) */
  readonly pitch?: number;
  /** offset of the interleaved CbCr plane from the start of `buf` (default pitch*height) */
  readonly uvOffset?: number;
  /** bytes a line of the CbCr plane (default the Y pitch) */
  readonly uvPitch?: number;
}

const clamp8 = (v: number): number => Math.min(Math.max(v, 0), 255);

/**
 * Converts an NV12 frame (a Y plane, then a half-height plane of interleaved Cb, Cr samples, one
 * pair per 2×2 pixels) to RGBA with BT.601 limited-range coefficients (Y 16..235, C 16..240), in
 * the usual 8-bit fixed point: R = (298(Y−16) + 409(Cr−128) + 128) >> 8, G = (298(Y−16) −
 * 100(Cb−128) − 208(Cr−128) + 128) >> 8, B = (298(Y−16) + 516(Cb−128) + 128) >> 8, clamped.
 * Odd widths and heights use the chroma of the pixel pair/line above (ceil(w/2) pairs a line).
 */
export function nv12ToRgba(
  buf: Uint8Array,
  width: number,
  height: number,
  layout: Nv12Layout = {},
): Uint8Array {
  checkDims("nv12ToRgba", width, height);
  const pitch = layout.pitch ?? width;
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const uvPitch = layout.uvPitch ?? pitch;
  const uvOffset = layout.uvOffset ?? pitch * height;
  if (!Number.isInteger(pitch) || pitch < width) {
    throw new Error(`nv12ToRgba: pitch ${pitch} is less than width ${width}`);
  }
  if (!Number.isInteger(uvPitch) || uvPitch < cw * 2) {
    throw new Error(`nv12ToRgba: uvPitch ${uvPitch} is less than ${cw * 2} (two bytes a pixel pair)`);
  }
  if (!Number.isInteger(uvOffset) || uvOffset < pitch * (height - 1) + width) {
    throw new Error(`nv12ToRgba: uvOffset ${uvOffset} overlaps the Y plane`);
  }
  const need = uvOffset + uvPitch * (ch - 1) + cw * 2;
  if (buf.length < need) {
    throw new Error(`nv12ToRgba: buffer has ${buf.length} bytes, ${width}x${height} NV12 needs ${need}`);
  }
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const yRow = y * pitch;
    const cRow = uvOffset + (y >> 1) * uvPitch;
    let d = y * width * 4;
    for (let x = 0; x < width; x++, d += 4) {
      const c = 298 * (buf[yRow + x]! - 16);
      const ci = cRow + (x >> 1) * 2;
      const u = buf[ci]! - 128;
      const v = buf[ci + 1]! - 128;
      out[d] = clamp8((c + 409 * v + 128) >> 8);
      out[d + 1] = clamp8((c - 100 * u - 208 * v + 128) >> 8);
      out[d + 2] = clamp8((c + 516 * u + 128) >> 8);
      out[d + 3] = 255;
    }
  }
  return out;
}
