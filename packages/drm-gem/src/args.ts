/**
 * @internal Reading ioctl arguments the way `copy_from_user` + the uapi types do: the argument
 * must be an object (EFAULT otherwise), a field is a u32 / s32 / u64 (EINVAL naming the field
 * otherwise); absent optional fields read as 0, as in a zeroed struct.
 *
 * @module
 */
import { KernelError } from "@umm/kernel-core";

/** The argument as a struct; EFAULT for anything else (a bad user pointer). */
export function struct<T extends object>(arg: unknown, what: string): T {
  if (arg === null || typeof arg !== "object") {
    throw new KernelError("EFAULT", `${what}: the argument is not a struct (copy_from_user failed)`);
  }
  return arg as T;
}

function field(s: object, name: string): unknown {
  return (s as Record<string, unknown>)[name];
}

/** A u32 field (absent and `optional`: 0). EINVAL naming the field otherwise. */
export function u32(s: object, name: string, what: string, optional = false): number {
  const v = field(s, name);
  if (v === undefined && optional) return 0;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new KernelError("EINVAL", `${what}: ${name} ${String(v)} is not a 32-bit unsigned number`);
  }
  return v;
}

/** An s32 field; -1 may be written 0xffffffff. EINVAL naming the field otherwise. */
export function s32(s: object, name: string, what: string, optional = false): number {
  const v = field(s, name);
  if (v === undefined && optional) return 0;
  if (typeof v !== "number" || !Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) {
    throw new KernelError("EINVAL", `${what}: ${name} ${String(v)} is not a 32-bit number`);
  }
  return v | 0;
}

/** A u64 field as a safe integer (absent and `optional`: 0). */
export function u64(s: object, name: string, what: string, optional = false): number {
  const v = field(s, name);
  if (v === undefined && optional) return 0;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new KernelError("EINVAL", `${what}: ${name} ${String(v)} is not a 64-bit unsigned number`);
  }
  return v;
}

/** A `u32 name[4]` array field: missing entries read as 0. */
export function u32x4(s: object, name: string, what: string, optional = false): number[] {
  const v = field(s, name);
  if (v === undefined && optional) return [0, 0, 0, 0];
  if (!Array.isArray(v) || v.length > 4) {
    throw new KernelError("EINVAL", `${what}: ${name} must be an array of at most 4 numbers`);
  }
  const out = [0, 0, 0, 0];
  for (let i = 0; i < v.length; i++) {
    const x = v[i] as unknown;
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > 0xffffffff) {
      throw new KernelError("EINVAL", `${what}: ${name}[${i}] ${String(x)} is not a 32-bit unsigned number`);
    }
    out[i] = x;
  }
  return out;
}

/** A `u64 name[4]` array field as safe integers; missing entries read as 0. */
export function u64x4(s: object, name: string, what: string): number[] {
  const v = field(s, name);
  if (v === undefined) return [0, 0, 0, 0];
  if (!Array.isArray(v) || v.length > 4) {
    throw new KernelError("EINVAL", `${what}: ${name} must be an array of at most 4 numbers`);
  }
  const out = [0, 0, 0, 0];
  for (let i = 0; i < v.length; i++) {
    const x = v[i] as unknown;
    if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0) {
      throw new KernelError("EINVAL", `${what}: ${name}[${i}] ${String(x)} is not a 64-bit unsigned number`);
    }
    out[i] = x;
  }
  return out;
}

/** Writes an array-valued out field: fills the caller's array in place, or sets a new one. */
export function putArray<T>(s: object, name: string, values: readonly T[]): void {
  const cur = field(s, name);
  if (Array.isArray(cur)) {
    cur.length = 0;
    cur.push(...values);
  } else {
    (s as Record<string, unknown>)[name] = [...values];
  }
}
