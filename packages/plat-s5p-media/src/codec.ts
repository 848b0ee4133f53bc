/**
 * UMMV, the MFC model's bitstream: a simple lossless video codec of umm's own — not H.264, not
 * any standard — so that an encode → decode round trip is bit-exact and every byte of it moves by
 * DMA. One frame per buffer:
 *
 * ```
 * offset size  field (little-endian)
 *  0     4     magic "UMMV"
 *  4     1     version (1)
 *  5     1     frame type: 0 = I (intra), 1 = P (predicted from the previous frame)
 *  6     2     reserved, 0
 *  8     2     width (pixels, even)
 * 10     2     height (lines, even)
 * 12     4     frame number
 * 16     4     bytes of the coded Y plane
 * 20     4     bytes of the coded CbCr plane
 * 24     4     FNV-1a 32 of the raw frame (Y plane then CbCr plane): the decoder checks it
 * 28     4     reserved, 0
 * 32     …     coded Y plane, then coded CbCr plane
 * ```
 *
 * Each plane (Y: width × height; CbCr: width × height / 2, interleaved) becomes a residual stream
 * byte by byte, modulo 256: an I frame predicts each sample of the first line from its left
 * neighbour of the same component (1 byte back in Y, 2 in CbCr; the first from 128) and every
 * other sample from the one above it; a P frame predicts each sample from the same sample of the
 * previous frame. The residuals are run-length coded: a token byte t < 0x80 is followed by t + 1
 * literal bytes; 0x80 ≤ t < 0xff by one byte repeated t − 0x80 + 3 times (3..129); t = 0xff by a
 * 24-bit little-endian count (≥ 3) and the byte repeated that many times.
 *
 * @module
 */
import { KernelError } from "@umm/kernel-core";

/** "UMMV" as a little-endian 32-bit word. */
export const UMMV_MAGIC = 0x564d4d55;
/** The format version this codec writes and reads. */
export const UMMV_VERSION = 1;
/** Bytes of the frame header. */
export const UMMV_HEADER_SIZE = 32;
/** Frame type I: intra, decodes on its own. */
export const UMMV_FRAME_I = 0;
/** Frame type P: predicted from the previous frame. */
export const UMMV_FRAME_P = 1;

/** A parsed UMMV frame header. */
export interface UmmvHeader {
  /** `UMMV_FRAME_I` or `UMMV_FRAME_P` */
  readonly type: number;
  readonly width: number;
  readonly height: number;
  readonly frameNum: number;
  /** bytes of the coded planes */
  readonly ySize: number;
  readonly uvSize: number;
  /** FNV-1a 32 of the raw frame */
  readonly checksum: number;
}

/** A raw NV12 frame in two tightly packed planes. */
export interface RawFrame {
  /** width × height bytes */
  readonly y: Uint8Array;
  /** width × height / 2 bytes */
  readonly uv: Uint8Array;
}

/** The most bytes one coded frame of `width` × `height` can take (header + worst-case RLE: a
 * token per 128 literals). */
export function ummvMaxFrameSize(width: number, height: number): number {
  const ys = width * height;
  const uvs = ys / 2;
  return UMMV_HEADER_SIZE + ys + Math.ceil(ys / 128) + uvs + Math.ceil(uvs / 128);
}

/** FNV-1a 32 over `a` then `b`. */
export function fnv1a32(a: Uint8Array, b?: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < a.length; i++) h = Math.imul(h ^ a[i]!, 0x01000193);
  if (b) for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

function checkDims(width: number, height: number, what: string): void {
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    width < 2 ||
    height < 2 ||
    width % 2 ||
    height % 2
  ) {
    throw new KernelError("EINVAL", `${what}: ${width}x${height} is not an even size of at least 2x2`);
  }
  if (width > 0xffff || height > 0xffff)
    throw new KernelError("EINVAL", `${what}: ${width}x${height} is too large`);
}

/** Intra residuals of one plane: `step` = bytes between samples of one component. */
function intraResidual(p: Uint8Array, r: Uint8Array, pitch: number, rows: number, step: number): void {
  for (let x = 0; x < step; x++) r[x] = (p[x]! - 128) & 255;
  for (let x = step; x < pitch; x++) r[x] = (p[x]! - p[x - step]!) & 255;
  const n = pitch * rows;
  for (let i = pitch; i < n; i++) r[i] = (p[i]! - p[i - pitch]!) & 255;
}

function intraReconstruct(r: Uint8Array, pitch: number, rows: number, step: number): void {
  for (let x = 0; x < step; x++) r[x] = (r[x]! + 128) & 255;
  for (let x = step; x < pitch; x++) r[x] = (r[x]! + r[x - step]!) & 255;
  const n = pitch * rows;
  for (let i = pitch; i < n; i++) r[i] = (r[i]! + r[i - pitch]!) & 255;
}

/** RLE of `r` into `out` from `at`; returns the end offset. */
function rleEncode(r: Uint8Array, out: Uint8Array, at: number): number {
  const n = r.length;
  let o = at;
  let i = 0;
  let litStart = 0;
  const flush = (end: number): void => {
    let s = litStart;
    while (s < end) {
      const len = Math.min(128, end - s);
      out[o++] = len - 1;
      out.set(r.subarray(s, s + len), o);
      o += len;
      s += len;
    }
  };
  while (i < n) {
    const v = r[i]!;
    let j = i + 1;
    const lim = Math.min(n, i + 0xffffff);
    while (j < lim && r[j] === v) j++;
    const len = j - i;
    if (len >= 3) {
      flush(i);
      if (len <= 129) out[o++] = 0x80 + (len - 3);
      else {
        out[o++] = 0xff;
        out[o++] = len & 255;
        out[o++] = (len >> 8) & 255;
        out[o++] = len >> 16;
      }
      out[o++] = v;
      i = j;
      litStart = i;
    } else {
      i = j;
    }
  }
  flush(n);
  return o;
}

/** Decodes RLE from `src[at, end)` into exactly `r.length` bytes. EINVAL for a bad stream. */
function rleDecode(src: Uint8Array, at: number, end: number, r: Uint8Array): void {
  let o = 0;
  let i = at;
  const n = r.length;
  while (o < n) {
    if (i >= end) throw new KernelError("EINVAL", `UMMV: coded plane ends after ${o} of ${n} samples`);
    const t = src[i++]!;
    if (t < 0x80) {
      const len = t + 1;
      if (o + len > n || i + len > end)
        throw new KernelError("EINVAL", "UMMV: a literal run overflows the plane");
      r.set(src.subarray(i, i + len), o);
      i += len;
      o += len;
    } else {
      let len = t - 0x80 + 3;
      if (t === 0xff) {
        if (i + 3 > end) throw new KernelError("EINVAL", "UMMV: a long run's count is cut off");
        len = src[i]! | (src[i + 1]! << 8) | (src[i + 2]! << 16);
        i += 3;
        if (len < 3) throw new KernelError("EINVAL", `UMMV: a long run of ${len}`);
      }
      if (o + len > n || i >= end) throw new KernelError("EINVAL", "UMMV: a repeat run overflows the plane");
      r.fill(src[i++]!, o, o + len);
      o += len;
    }
  }
  if (i !== end) throw new KernelError("EINVAL", `UMMV: ${end - i} bytes left over after a coded plane`);
}

/** Scratch buffers of one codec instance (reused from frame to frame). */
export class UmmvScratch {
  #buf = new Uint8Array(0);
  /** A scratch array of at least `n` bytes (a view of the first `n`). */
  get(n: number): Uint8Array {
    if (this.#buf.length < n) this.#buf = new Uint8Array(n);
    return this.#buf.subarray(0, n);
  }
}

/**
 * Encodes one frame into `out` (at least `ummvMaxFrameSize` bytes): an I frame when `ref` is
 * null, else a P frame against `ref`. Returns the bytes written. EINVAL for bad sizes.
 */
export function ummvEncode(
  frame: RawFrame,
  width: number,
  height: number,
  frameNum: number,
  ref: RawFrame | null,
  out: Uint8Array,
  scratch: UmmvScratch = new UmmvScratch(),
): number {
  checkDims(width, height, "ummv_encode");
  const ys = width * height;
  const uvs = ys / 2;
  if (frame.y.length < ys || frame.uv.length < uvs)
    throw new KernelError("EINVAL", "ummv_encode: short planes");
  if (ref && (ref.y.length < ys || ref.uv.length < uvs))
    throw new KernelError("EINVAL", "ummv_encode: short reference");
  if (out.length < ummvMaxFrameSize(width, height))
    throw new KernelError(
      "ENOSPC",
      `ummv_encode: ${out.length} bytes cannot hold a ${width}x${height} frame`,
    );
  const r = scratch.get(ys);
  const y = frame.y.subarray(0, ys);
  const uv = frame.uv.subarray(0, uvs);
  let o = UMMV_HEADER_SIZE;
  const planes: [Uint8Array, Uint8Array | undefined, number, number][] = [
    [y, ref?.y, height, 1],
    [uv, ref?.uv, height / 2, 2],
  ];
  const sizes: number[] = [];
  for (const [p, rp, rows, step] of planes) {
    const rr = r.subarray(0, p.length);
    if (rp) for (let i = 0; i < p.length; i++) rr[i] = (p[i]! - rp[i]!) & 255;
    else intraResidual(p, rr, width, rows, step);
    const start = o;
    o = rleEncode(rr, out, o);
    sizes.push(o - start);
  }
  const dv = new DataView(out.buffer, out.byteOffset, UMMV_HEADER_SIZE);
  dv.setUint32(0, UMMV_MAGIC, true);
  dv.setUint8(4, UMMV_VERSION);
  dv.setUint8(5, ref ? UMMV_FRAME_P : UMMV_FRAME_I);
  dv.setUint16(6, 0, true);
  dv.setUint16(8, width, true);
  dv.setUint16(10, height, true);
  dv.setUint32(12, frameNum >>> 0, true);
  dv.setUint32(16, sizes[0]!, true);
  dv.setUint32(20, sizes[1]!, true);
  dv.setUint32(24, fnv1a32(y, uv), true);
  dv.setUint32(28, 0, true);
  return o;
}

/** Reads a frame header. EINVAL when `bits` is too short or not a UMMV version-1 frame. */
export function ummvParseHeader(bits: Uint8Array): UmmvHeader {
  if (bits.length < UMMV_HEADER_SIZE) {
    throw new KernelError("EINVAL", `UMMV: ${bits.length} bytes is shorter than a frame header`);
  }
  const dv = new DataView(bits.buffer, bits.byteOffset, UMMV_HEADER_SIZE);
  if (dv.getUint32(0, true) !== UMMV_MAGIC)
    throw new KernelError("EINVAL", "UMMV: no frame header (bad magic)");
  const version = dv.getUint8(4);
  if (version !== UMMV_VERSION)
    throw new KernelError("EINVAL", `UMMV: version ${version} is not ${UMMV_VERSION}`);
  const type = dv.getUint8(5);
  if (type !== UMMV_FRAME_I && type !== UMMV_FRAME_P)
    throw new KernelError("EINVAL", `UMMV: frame type ${type}`);
  const width = dv.getUint16(8, true);
  const height = dv.getUint16(10, true);
  checkDims(width, height, "UMMV header");
  return {
    type,
    width,
    height,
    frameNum: dv.getUint32(12, true),
    ySize: dv.getUint32(16, true),
    uvSize: dv.getUint32(20, true),
    checksum: dv.getUint32(24, true),
  };
}

/**
 * Decodes one frame of `bits` (exactly the frame's bytes, or more) into `out`; a P frame needs
 * the previous decoded frame as `ref`. Returns the header. EINVAL for a corrupt stream (bad
 * header, runs past the planes, a checksum that does not match) or a P frame without reference.
 */
export function ummvDecode(bits: Uint8Array, ref: RawFrame | null, out: RawFrame): UmmvHeader {
  const h = ummvParseHeader(bits);
  const ys = h.width * h.height;
  const uvs = ys / 2;
  const end = UMMV_HEADER_SIZE + h.ySize + h.uvSize;
  if (end > bits.length) {
    throw new KernelError("EINVAL", `UMMV: frame of ${end} bytes, only ${bits.length} given`);
  }
  if (out.y.length < ys || out.uv.length < uvs) {
    throw new KernelError("EINVAL", `UMMV: output planes too small for ${h.width}x${h.height}`);
  }
  if (h.type === UMMV_FRAME_P && (!ref || ref.y.length < ys || ref.uv.length < uvs)) {
    throw new KernelError("EINVAL", `UMMV: P frame ${h.frameNum} without a ${h.width}x${h.height} reference`);
  }
  const y = out.y.subarray(0, ys);
  const uv = out.uv.subarray(0, uvs);
  rleDecode(bits, UMMV_HEADER_SIZE, UMMV_HEADER_SIZE + h.ySize, y);
  rleDecode(bits, UMMV_HEADER_SIZE + h.ySize, end, uv);
  if (h.type === UMMV_FRAME_P) {
    const ry = ref!.y;
    const ruv = ref!.uv;
    for (let i = 0; i < ys; i++) y[i] = (y[i]! + ry[i]!) & 255;
    for (let i = 0; i < uvs; i++) uv[i] = (uv[i]! + ruv[i]!) & 255;
  } else {
    intraReconstruct(y, h.width, h.height, 1);
    intraReconstruct(uv, h.width, h.height / 2, 2);
  }
  const sum = fnv1a32(y, uv);
  if (sum !== h.checksum) {
    throw new KernelError(
      "EINVAL",
      `UMMV: frame ${h.frameNum} decodes to checksum 0x${sum.toString(16)}, the header says 0x${h.checksum.toString(16)}`,
    );
  }
  return h;
}
