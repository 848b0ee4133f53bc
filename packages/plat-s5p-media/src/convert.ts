/**
 * The FIMC scaler and colour-space converter's arithmetic: NV12 in, XRGB8888 out (little-endian
 * 32-bit words x:R:G:B, bytes B, G, R, X in memory — V4L2's XRGB32 and DRM's XRGB8888), X = 0xff.
 *
 * Colour: BT.601 limited range (Y 16..235, C 16..240) in 8-bit fixed point, the coefficients of
 * the CLI's `nv12ToRgba`:
 *
 *     R = (298 (Y − 16) + 409 (Cr − 128) + 128) >> 8
 *     G = (298 (Y − 16) − 100 (Cb − 128) − 208 (Cr − 128) + 128) >> 8
 *     B = (298 (Y − 16) + 516 (Cb − 128) + 128) >> 8,  each clamped to 0..255.
 *
 * Scaling: at 1:1 each 2×2 block of pixels takes its one CbCr pair (exactly `nv12ToRgba`).
 * Otherwise bilinear, separately on the Y plane and on the CbCr plane: destination pixel (dx, dy)
 * samples the source at ((dx + ½)·sw/dw − ½, (dy + ½)·sh/dh − ½) (edges clamped), and the
 * chroma plane at the same point in its own half-resolution grid, with weights in 1/256 steps:
 * `v = ((a·(256−fx) + b·fx)·(256−fy) + (c·(256−fx) + d·fx)·fy + 32768) >> 16`.
 *
 * Integer arithmetic, lookup tables per term, one pass writing 32-bit words.
 *
 * @module
 */
import { KernelError } from "@umm/kernel-core";

/** An NV12 image as two byte planes. */
export interface Nv12Image {
  /** the Y plane */
  readonly y: Uint8Array;
  /** bytes from one Y line to the next */
  readonly yPitch: number;
  /** the interleaved CbCr plane (Cb first) */
  readonly uv: Uint8Array;
  /** bytes from one CbCr line to the next */
  readonly uvPitch: number;
  /** pixels */
  readonly width: number;
  readonly height: number;
}

/** An XRGB8888 destination: 32-bit words, `pitch` words a line. */
export interface XrgbImage {
  readonly data: Uint32Array;
  /** words (pixels) from one line to the next */
  readonly pitch: number;
  readonly width: number;
  readonly height: number;
}

interface Tables {
  /** 298 (Y − 16) + 128 + CLAMP_OFF·256 (the clamp tables' offset folded in) */
  ly: Int32Array;
  /** 409 (Cr − 128) */
  rv: Int32Array;
  /** −100 (Cb − 128) */
  gu: Int32Array;
  /** −208 (Cr − 128) */
  gv: Int32Array;
  /** 516 (Cb − 128) */
  bu: Int32Array;
  /** clamp(i − CLAMP_OFF) << 16, << 8, and | 0xff000000 (X) */
  cr: Int32Array;
  cg: Int32Array;
  cb: Int32Array;
}

const CLAMP_OFF = 512;
let tables: Tables | null = null;

function tbl(): Tables {
  if (tables) return tables;
  const ly = new Int32Array(256);
  const rv = new Int32Array(256);
  const gu = new Int32Array(256);
  const gv = new Int32Array(256);
  const bu = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    ly[i] = 298 * (i - 16) + 128 + CLAMP_OFF * 256;
    rv[i] = 409 * (i - 128);
    gu[i] = -100 * (i - 128);
    gv[i] = -208 * (i - 128);
    bu[i] = 516 * (i - 128);
  }
  const cr = new Int32Array(2 * CLAMP_OFF + 256);
  const cg = new Int32Array(cr.length);
  const cb = new Int32Array(cr.length);
  for (let i = 0; i < cr.length; i++) {
    const v = Math.min(255, Math.max(0, i - CLAMP_OFF));
    cr[i] = v << 16;
    cg[i] = v << 8;
    cb[i] = v | 0xff000000;
  }
  tables = { ly, rv, gu, gv, bu, cr, cg, cb };
  return tables;
}

/** One pixel's XRGB word from Y, Cb, Cr (the formula above; exported for tests and reports). */
export function ycbcrToXrgb(y: number, cb: number, cr: number): number {
  const t = tbl();
  const l = t.ly[y]!;
  return (
    (t.cr[(l + t.rv[cr]!) >> 8]! | t.cg[(l + t.gu[cb]! + t.gv[cr]!) >> 8]! | t.cb[(l + t.bu[cb]!) >> 8]!) >>>
    0
  );
}

function checkImages(src: Nv12Image, dst: XrgbImage): void {
  const { width: sw, height: sh } = src;
  if (!Number.isInteger(sw) || !Number.isInteger(sh) || sw < 2 || sh < 2) {
    throw new KernelError("EINVAL", `nv12 source ${sw}x${sh} is not at least 2x2`);
  }
  if (!Number.isInteger(dst.width) || !Number.isInteger(dst.height) || dst.width < 1 || dst.height < 1) {
    throw new KernelError("EINVAL", `xrgb destination ${dst.width}x${dst.height} is empty`);
  }
  const cw = Math.ceil(sw / 2);
  if (src.yPitch < sw || src.y.length < src.yPitch * (sh - 1) + sw) {
    throw new KernelError("EINVAL", `nv12 source: Y plane of ${src.y.length} bytes, pitch ${src.yPitch}`);
  }
  if (src.uvPitch < cw * 2 || src.uv.length < src.uvPitch * (Math.ceil(sh / 2) - 1) + cw * 2) {
    throw new KernelError(
      "EINVAL",
      `nv12 source: CbCr plane of ${src.uv.length} bytes, pitch ${src.uvPitch}`,
    );
  }
  if (dst.pitch < dst.width || dst.data.length < dst.pitch * (dst.height - 1) + dst.width) {
    throw new KernelError("EINVAL", `xrgb destination: ${dst.data.length} words, pitch ${dst.pitch}`);
  }
}

/** 16-bit loads read byte x in their low half (every host umm runs on; checked once). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Scratch flags of the lines that changed since `prev` (grown as needed). */
let changed = new Uint8Array(0);
/** Axes by (destination, source, kind): the same sizes come frame after frame. */
const axes = new Map<string, Axis>();

/** A Buffer view of a typed array (memcmp through `Buffer.compare`, no per-line allocation). */
function bufOf(a: Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Lines `a` and `b` of one plane hold the same `len` bytes. */
function sameLine(buf: Buffer, pitch: number, len: number, a: number, b: number): boolean {
  return a === b || buf.compare(buf, a * pitch, a * pitch + len, b * pitch, b * pitch + len) === 0;
}

/**
 * Scales and converts `src` into `dst` (the filter and coefficients of the module comment).
 *
 * Lines are not recomputed when their result is known: a destination line whose source lines
 * hold the same bytes as the previous destination line's (with the same weights where it
 * matters) is a copy of that line; and when `prev` is given — the source whose conversion `dst`
 * holds now, with the same sizes and pitches — a destination line whose source lines did not
 * change since `prev` is left as it is. Both are bit-exact (lines are compared with memcmp), and
 * make flat or still content cost little more than the comparisons. EINVAL for planes too small
 * for their sizes, an empty image, or a `prev` of another size.
 */
export function nv12ToXrgb(src: Nv12Image, dst: XrgbImage, prev: Nv12Image | null = null): void {
  checkImages(src, dst);
  const sw = src.width;
  const sh = src.height;
  const dw = dst.width;
  const dh = dst.height;
  if (
    prev &&
    (prev.width !== sw || prev.height !== sh || prev.yPitch !== src.yPitch || prev.uvPitch !== src.uvPitch)
  ) {
    throw new KernelError(
      "EINVAL",
      `nv12 previous source ${prev.width}x${prev.height} is not the source's size`,
    );
  }
  const cw2 = Math.ceil(sw / 2) * 2;
  const ch = Math.ceil(sh / 2);
  const Yb = bufOf(src.y);
  const Cb = bufOf(src.uv);
  const yp = src.yPitch;
  const cp = src.uvPitch;
  // lines of the source that differ from `prev` (all, without one)
  let yNew: Uint8Array | null = null;
  let cNew: Uint8Array | null = null;
  if (prev) {
    if (changed.length < sh + ch) changed = new Uint8Array(sh + ch);
    yNew = changed.subarray(0, sh);
    cNew = changed.subarray(sh, sh + ch);
    const Py = bufOf(prev.y);
    const Pc = bufOf(prev.uv);
    for (let r = 0; r < sh; r++)
      yNew[r] = Yb.compare(Py, r * yp, r * yp + sw, r * yp, r * yp + sw) === 0 ? 0 : 1;
    for (let r = 0; r < ch; r++)
      cNew[r] = Cb.compare(Pc, r * cp, r * cp + cw2, r * cp, r * cp + cw2) === 0 ? 0 : 1;
  }
  const oneToOne = sw === dw && sh === dh;
  // at 1:1, line d takes Y line d and CbCr line d / 2, unweighted
  const ly = oneToOne ? exactAxis(dh, 0) : axis(dh, sh);
  const cy = oneToOne ? exactAxis(dh, 1) : axis(dh, ch);
  const lx = oneToOne ? null : axis(dw, sw);
  const cx = oneToOne ? null : axis(dw, Math.ceil(sw / 2));
  if (axes.size > 64) axes.clear();
  const out = dst.data;
  const dp = dst.pitch;
  for (let d = 0; d < dh; d++) {
    const y0 = ly.i0[d]!;
    const y1 = ly.i1[d]!;
    const fy = ly.f[d]!;
    const c0 = cy.i0[d]!;
    const c1 = cy.i1[d]!;
    const fc = cy.f[d]!;
    if (yNew && cNew && !yNew[y0] && !yNew[y1] && !cNew[c0] && !cNew[c1]) continue;
    if (d > 0) {
      const py0 = ly.i0[d - 1]!;
      const py1 = ly.i1[d - 1]!;
      const pc0 = cy.i0[d - 1]!;
      const pc1 = cy.i1[d - 1]!;
      if (
        sameLine(Yb, yp, sw, y0, py0) &&
        sameLine(Yb, yp, sw, y1, py1) &&
        (fy === ly.f[d - 1]! || sameLine(Yb, yp, sw, y0, y1)) &&
        sameLine(Cb, cp, cw2, c0, pc0) &&
        sameLine(Cb, cp, cw2, c1, pc1) &&
        (fc === cy.f[d - 1]! || sameLine(Cb, cp, cw2, c0, c1))
      ) {
        out.copyWithin(d * dp, (d - 1) * dp, (d - 1) * dp + dw);
        continue;
      }
    }
    if (oneToOne) lineExact(src, y0, c0, out, d * dp, dw);
    else lineBilinear(src, y0, y1, fy, c0, c1, fc, lx!, cx!, out, d * dp, dw);
  }
}

/** One line at 1:1: each pixel pair takes its CbCr pair. */
function lineExact(src: Nv12Image, y: number, c: number, out: Uint32Array, d: number, w: number): void {
  const { ly, rv, gu, gv, bu, cr, cg, cb } = tbl();
  const Y = src.y;
  const UV = src.uv;
  const r = y * src.yPitch;
  const cRow = c * src.uvPitch;
  const wEven = w & ~1;
  if (!LITTLE_ENDIAN || ((Y.byteOffset + r) | (UV.byteOffset + cRow)) & 1) {
    lineExactBytes(src, r, cRow, out, d, wEven);
  } else {
    // pixel pairs as 16-bit words: a pair equal to the one before it (same two Y, same CbCr)
    // repeats its two output words
    const Y16 = new Uint16Array(Y.buffer, Y.byteOffset + r, wEven >> 1);
    const C16 = new Uint16Array(UV.buffer, UV.byteOffset + cRow, wEven >> 1);
    let py = -1;
    let pc = -1;
    let wa = 0;
    let wb = 0;
    for (let i = 0, x = 0; x < wEven; i++, x += 2) {
      const yy = Y16[i]!;
      const cc = C16[i]!;
      if (yy !== py || cc !== pc) {
        const u = cc & 255;
        const v = cc >> 8;
        const tr = rv[v]!;
        const tg = gu[u]! + gv[v]!;
        const tb = bu[u]!;
        let l = ly[yy & 255]!;
        wa = cr[(l + tr) >> 8]! | cg[(l + tg) >> 8]! | cb[(l + tb) >> 8]!;
        l = ly[yy >> 8]!;
        wb = cr[(l + tr) >> 8]! | cg[(l + tg) >> 8]! | cb[(l + tb) >> 8]!;
        py = yy;
        pc = cc;
      }
      out[d + x] = wa;
      out[d + x + 1] = wb;
    }
  }
  if (wEven < w) out[d + wEven] = ycbcrToXrgb(Y[r + wEven]!, UV[cRow + wEven]!, UV[cRow + wEven + 1]!);
}

/** `lineExact` for lines that do not start on an even byte. */
function lineExactBytes(
  src: Nv12Image,
  r: number,
  cRow: number,
  out: Uint32Array,
  d: number,
  wEven: number,
): void {
  const { ly, rv, gu, gv, bu, cr, cg, cb } = tbl();
  const Y = src.y;
  const UV = src.uv;
  for (let x = 0; x < wEven; x += 2) {
    const u = UV[cRow + x]!;
    const v = UV[cRow + x + 1]!;
    const tr = rv[v]!;
    const tg = gu[u]! + gv[v]!;
    const tb = bu[u]!;
    let l = ly[Y[r + x]!]!;
    out[d + x] = cr[(l + tr) >> 8]! | cg[(l + tg) >> 8]! | cb[(l + tb) >> 8]!;
    l = ly[Y[r + x + 1]!]!;
    out[d + x + 1] = cr[(l + tr) >> 8]! | cg[(l + tg) >> 8]! | cb[(l + tb) >> 8]!;
  }
}

/** Per destination coordinate: the two source samples and the weight of the second (0..255). */
interface Axis {
  i0: Int32Array;
  i1: Int32Array;
  f: Int32Array;
}

function axis(dstN: number, srcN: number): Axis {
  const k = `${dstN}/${srcN}`;
  const hit = axes.get(k);
  if (hit) return hit;
  const i0 = new Int32Array(dstN);
  const i1 = new Int32Array(dstN);
  const f = new Int32Array(dstN);
  for (let d = 0; d < dstN; d++) {
    // (d + 1/2) * srcN / dstN - 1/2, in 1/256
    let p = Math.floor(((2 * d + 1) * srcN * 256) / (2 * dstN)) - 128;
    if (p < 0) p = 0;
    const a = p >> 8;
    if (a >= srcN - 1) {
      i0[d] = srcN - 1;
      i1[d] = srcN - 1;
      f[d] = 0;
    } else {
      i0[d] = a;
      i1[d] = a + 1;
      f[d] = p & 255;
    }
  }
  const a = { i0, i1, f };
  axes.set(k, a);
  return a;
}

/** The unweighted axis of a 1:1 conversion: destination `d` takes source `d >> shift`. */
function exactAxis(n: number, shift: number): Axis {
  const k = `${n}>>${shift}`;
  const hit = axes.get(k);
  if (hit) return hit;
  const i0 = new Int32Array(n);
  for (let d = 0; d < n; d++) i0[d] = d >> shift;
  const a = { i0, i1: i0, f: new Int32Array(n) };
  axes.set(k, a);
  return a;
}

/** One line, bilinear in Y and in CbCr. */
function lineBilinear(
  src: Nv12Image,
  y0: number,
  y1: number,
  fy: number,
  c0: number,
  c1: number,
  fcy: number,
  lx: Axis,
  cx: Axis,
  out: Uint32Array,
  d: number,
  dw: number,
): void {
  const { ly, rv, gu, gv, bu, cr, cg, cb } = tbl();
  const Y = src.y;
  const UV = src.uv;
  const ya = y0 * src.yPitch;
  const yb = y1 * src.yPitch;
  const gy = 256 - fy;
  const ca = c0 * src.uvPitch;
  const cbRow = c1 * src.uvPitch;
  const gcy = 256 - fcy;
  const lx0 = lx.i0;
  const lx1 = lx.i1;
  const lfx = lx.f;
  const cx0 = cx.i0;
  const cx1 = cx.i1;
  const cfx = cx.f;
  for (let dx = 0; dx < dw; dx++) {
    const x0 = lx0[dx]!;
    const x1 = lx1[dx]!;
    const fx = lfx[dx]!;
    const gx = 256 - fx;
    const top = Y[ya + x0]! * gx + Y[ya + x1]! * fx;
    const bot = Y[yb + x0]! * gx + Y[yb + x1]! * fx;
    const yy = (top * gy + bot * fy + 32768) >> 16;
    const u0 = cx0[dx]! << 1;
    const u1 = cx1[dx]! << 1;
    const fu = cfx[dx]!;
    const gu0 = 256 - fu;
    const u =
      ((UV[ca + u0]! * gu0 + UV[ca + u1]! * fu) * gcy +
        (UV[cbRow + u0]! * gu0 + UV[cbRow + u1]! * fu) * fcy +
        32768) >>
      16;
    const v =
      ((UV[ca + u0 + 1]! * gu0 + UV[ca + u1 + 1]! * fu) * gcy +
        (UV[cbRow + u0 + 1]! * gu0 + UV[cbRow + u1 + 1]! * fu) * fcy +
        32768) >>
      16;
    const l = ly[yy]!;
    out[d + dx] = cr[(l + rv[v]!) >> 8]! | cg[(l + gu[u]! + gv[v]!) >> 8]! | cb[(l + bu[u]!) >> 8]!;
  }
}

/** The scaler's largest downscale factor in each direction (FIMC: 1/16 down, 4× up). */
export const FIMC_MAX_DOWNSCALE = 16;
/** The scaler's largest upscale factor in each direction. */
export const FIMC_MAX_UPSCALE = 4;

/**
 * Checks a scaling from `sw`×`sh` to `dw`×`dh` against the FIMC's limits (`fimc_check_scaler_ratio`).
 * Returns a reason it is refused, or null.
 */
export function fimcScalerRatioError(sw: number, sh: number, dw: number, dh: number): string | null {
  if (dw * FIMC_MAX_DOWNSCALE < sw || dh * FIMC_MAX_DOWNSCALE < sh) {
    return `${sw}x${sh} -> ${dw}x${dh} scales down more than 1/${FIMC_MAX_DOWNSCALE}`;
  }
  if (dw > sw * FIMC_MAX_UPSCALE || dh > sh * FIMC_MAX_UPSCALE) {
    return `${sw}x${sh} -> ${dw}x${dh} scales up more than ${FIMC_MAX_UPSCALE}x`;
  }
  return null;
}
