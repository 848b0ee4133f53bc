/**
 * copy_from_user / copy_to_user for the JS objects that stand for uapi structs in `ioctl`: a
 * missing numeric field reads as 0, a value that is not a number (or bigint, for u64 fields) is a
 * copy fault (EFAULT), and a struct may also be given as raw little-endian bytes (`Uint8Array`)
 * when a caller needs the exact byte-size semantics of a versioned struct (dma-heap's
 * `_IOC_SIZE` rule).
 *
 * @module
 */
import { KernelError } from "@umm/kernel-core";

/** A numeric field of a uapi struct: its byte offset and width. */
export interface UField {
  readonly name: string;
  readonly offset: number;
  readonly size: 4 | 8;
}

const TWO32 = 2 ** 32;

/** @internal the object behind an ioctl argument, or EFAULT */
export function userObject(arg: unknown, what: string): Record<string, unknown> {
  if (typeof arg !== "object" || arg === null) {
    throw new KernelError("EFAULT", `${what}: the argument is not a struct (bad user pointer)`);
  }
  return arg as Record<string, unknown>;
}

/** @internal field `name` of `obj` as a number (missing: 0); EFAULT for anything else */
export function userNumber(obj: Record<string, unknown>, name: string, what: string): number {
  const v = obj[name];
  if (v === undefined) return 0;
  if (typeof v === "bigint") return Number(BigInt.asUintN(64, v));
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new KernelError("EFAULT", `${what}: field ${name} (${String(v)}) is not a number`);
  }
  return v;
}

/** @internal true when integer `v` (as a u64) has a bit outside the 32-bit `mask` */
export function bitsOutside(v: number, mask: number): boolean {
  if (!Number.isInteger(v) || v < 0 || v >= TWO32) return true;
  return (v & ~mask) >>> 0 !== 0;
}

function toU64Parts(v: unknown): [number, number] {
  if (typeof v === "bigint") {
    const u = BigInt.asUintN(64, v);
    return [Number(u & 0xffffffffn), Number(u >> 32n)];
  }
  const n = typeof v === "number" && Number.isFinite(v) ? Math.trunc(v) : 0;
  const lo = ((n % TWO32) + TWO32) % TWO32;
  const hi = ((Math.floor(n / TWO32) % TWO32) + TWO32) % TWO32;
  return [lo, hi];
}

/** @internal encodes `obj`'s fields into `len` little-endian bytes (EFAULT for non-numbers) */
export function encodeStruct(
  obj: Record<string, unknown>,
  layout: readonly UField[],
  len: number,
  what: string,
): Uint8Array {
  const bytes = new Uint8Array(len);
  const full = new DataView(new ArrayBuffer(Math.max(len, ...layout.map((f) => f.offset + f.size))));
  for (const f of layout) {
    const v = obj[f.name];
    if (v !== undefined && typeof v !== "number" && typeof v !== "bigint") {
      throw new KernelError("EFAULT", `${what}: field ${f.name} (${String(v)}) is not a number`);
    }
    const [lo, hi] = toU64Parts(v ?? 0);
    full.setUint32(f.offset, lo, true);
    if (f.size === 8) full.setUint32(f.offset + 4, hi, true);
  }
  bytes.set(new Uint8Array(full.buffer, 0, len));
  return bytes;
}

/** @internal decodes the fields of `layout` from `bytes` (u64 values above 2^53 lose precision) */
export function decodeStruct(bytes: Uint8Array, layout: readonly UField[]): Record<string, number> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, number> = {};
  for (const f of layout) {
    if (f.offset + f.size > bytes.length) {
      out[f.name] = 0;
      continue;
    }
    const lo = dv.getUint32(f.offset, true);
    out[f.name] = f.size === 8 ? dv.getUint32(f.offset + 4, true) * TWO32 + lo : lo;
  }
  return out;
}

/** @internal writes `values` into `bytes` at the offsets of `layout` */
export function writeStruct(
  bytes: Uint8Array,
  layout: readonly UField[],
  values: Record<string, number>,
): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const f of layout) {
    if (f.offset + f.size > bytes.length) continue;
    const [lo, hi] = toU64Parts(values[f.name] ?? 0);
    dv.setUint32(f.offset, lo, true);
    if (f.size === 8) dv.setUint32(f.offset + 4, hi, true);
  }
}

/**
 * @internal `copy_from_user(kdata, arg, inSize)`: the first `inSize` bytes of the user struct
 * (raw bytes, or an object encoded by `layout`). EFAULT when raw bytes are fewer than `inSize`.
 */
export function copyStructFromUser(
  arg: unknown,
  layout: readonly UField[],
  inSize: number,
  what: string,
): Uint8Array {
  if (arg instanceof Uint8Array) {
    if (arg.length < inSize) {
      throw new KernelError("EFAULT", `${what}: ${inSize} bytes to read, the user buffer has ${arg.length}`);
    }
    return arg.slice(0, inSize);
  }
  return encodeStruct(userObject(arg, what), layout, inSize, what);
}

/**
 * @internal `copy_to_user(arg, kdata, outSize)`: the first `outSize` bytes of `kdata` land in the
 * user struct; for an object, every field those bytes touch is rewritten (bytes of a field
 * beyond `outSize` keep the user's value). EFAULT when raw bytes are fewer than `outSize`.
 */
export function copyStructToUser(
  arg: unknown,
  layout: readonly UField[],
  kdata: Uint8Array,
  outSize: number,
  what: string,
): void {
  if (outSize === 0) return;
  if (arg instanceof Uint8Array) {
    if (arg.length < outSize) {
      throw new KernelError(
        "EFAULT",
        `${what}: ${outSize} bytes to write, the user buffer has ${arg.length}`,
      );
    }
    arg.set(kdata.subarray(0, outSize));
    return;
  }
  const obj = userObject(arg, what);
  const span = Math.max(...layout.map((f) => f.offset + f.size));
  const merged = encodeStruct(obj, layout, span, what);
  merged.set(kdata.subarray(0, Math.min(outSize, span)));
  const values = decodeStruct(merged, layout);
  for (const f of layout) if (f.offset < outSize) obj[f.name] = values[f.name];
}
