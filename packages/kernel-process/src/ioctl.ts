/**
 * ioctl command numbers, encoded as include/uapi/asm-generic/ioctl.h does (ARM uses the generic
 * layout): bits 0-7 the number, 8-15 the type (a "magic" character), 16-29 the size of the
 * argument struct in bytes, 30-31 the direction as seen from user space (`_IOC_WRITE`: user
 * writes, the kernel reads; `_IOC_READ`: the kernel writes back).
 *
 * Results are unsigned 32-bit numbers: `_IOWR("V", 15, 88) === 0xc058560f` (VIDIOC_QBUF).
 *
 * @module
 */
import { hex, KernelError } from "@umm/kernel-core";

/** Bits of the number field. */
export const _IOC_NRBITS = 8;
/** Bits of the type field. */
export const _IOC_TYPEBITS = 8;
/** Bits of the size field. */
export const _IOC_SIZEBITS = 14;
/** Bits of the direction field. */
export const _IOC_DIRBITS = 2;

/** Mask of the number field (after shifting). */
export const _IOC_NRMASK = (1 << _IOC_NRBITS) - 1;
/** Mask of the type field (after shifting). */
export const _IOC_TYPEMASK = (1 << _IOC_TYPEBITS) - 1;
/** Mask of the size field (after shifting). */
export const _IOC_SIZEMASK = (1 << _IOC_SIZEBITS) - 1;
/** Mask of the direction field (after shifting). */
export const _IOC_DIRMASK = (1 << _IOC_DIRBITS) - 1;

/** Shift of the number field. */
export const _IOC_NRSHIFT = 0;
/** Shift of the type field. */
export const _IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS;
/** Shift of the size field. */
export const _IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS;
/** Shift of the direction field. */
export const _IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS;

/** No data transferred. */
export const _IOC_NONE = 0;
/** User space writes, the kernel reads the argument. */
export const _IOC_WRITE = 1;
/** The kernel writes the argument back to user space. */
export const _IOC_READ = 2;

/** `IOC_IN`: the direction bits of a write command. */
export const IOC_IN = (_IOC_WRITE << _IOC_DIRSHIFT) >>> 0;
/** `IOC_OUT`: the direction bits of a read command. */
export const IOC_OUT = (_IOC_READ << _IOC_DIRSHIFT) >>> 0;
/** `IOC_INOUT`: the direction bits of a read-write command. */
export const IOC_INOUT = ((_IOC_WRITE | _IOC_READ) << _IOC_DIRSHIFT) >>> 0;
/** `IOCSIZE_MASK`: the size bits in place. */
export const IOCSIZE_MASK = (_IOC_SIZEMASK << _IOC_SIZESHIFT) >>> 0;
/** `IOCSIZE_SHIFT`. */
export const IOCSIZE_SHIFT = _IOC_SIZESHIFT;

function field(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new KernelError("EINVAL", `_IOC: ${name} ${v} is not an integer in [0, ${max}]`);
  }
  return v;
}

function typeCode(type: string | number): number {
  if (typeof type === "string") {
    if (type.length !== 1) {
      throw new KernelError("EINVAL", `_IOC: type ${JSON.stringify(type)} is not a single character`);
    }
    return field("type", type.charCodeAt(0), _IOC_TYPEMASK);
  }
  return field("type", type, _IOC_TYPEMASK);
}

/**
 * `_IOC(dir, type, nr, size)`: an ioctl command number. `type` is the magic character (or its
 * code), `size` the argument struct's size in bytes. EINVAL when a field does not fit its bits.
 */
export function _IOC(dir: number, type: string | number, nr: number, size: number): number {
  const d = field("dir", dir, _IOC_DIRMASK);
  const t = typeCode(type);
  const n = field("nr", nr, _IOC_NRMASK);
  const s = field("size", size, _IOC_SIZEMASK);
  return ((d << _IOC_DIRSHIFT) | (t << _IOC_TYPESHIFT) | (n << _IOC_NRSHIFT) | (s << _IOC_SIZESHIFT)) >>> 0;
}

/** `_IO(type, nr)`: a command without an argument. */
export function _IO(type: string | number, nr: number): number {
  return _IOC(_IOC_NONE, type, nr, 0);
}

/** `_IOR(type, nr, size)`: the kernel writes a `size`-byte struct back. */
export function _IOR(type: string | number, nr: number, size: number): number {
  return _IOC(_IOC_READ, type, nr, size);
}

/** `_IOW(type, nr, size)`: the kernel reads a `size`-byte struct. */
export function _IOW(type: string | number, nr: number, size: number): number {
  return _IOC(_IOC_WRITE, type, nr, size);
}

/** `_IOWR(type, nr, size)`: the kernel reads and writes back a `size`-byte struct. */
export function _IOWR(type: string | number, nr: number, size: number): number {
  return _IOC(_IOC_READ | _IOC_WRITE, type, nr, size);
}

/** `_IOC_DIR(cmd)`: the direction bits (`_IOC_NONE`, `_IOC_WRITE`, `_IOC_READ` or both). */
export function _IOC_DIR(cmd: number): number {
  return (cmd >>> _IOC_DIRSHIFT) & _IOC_DIRMASK;
}

/** `_IOC_TYPE(cmd)`: the type (magic) as a number; `String.fromCharCode` gives the character. */
export function _IOC_TYPE(cmd: number): number {
  return (cmd >>> _IOC_TYPESHIFT) & _IOC_TYPEMASK;
}

/** `_IOC_NR(cmd)`: the command number within its type. */
export function _IOC_NR(cmd: number): number {
  return (cmd >>> _IOC_NRSHIFT) & _IOC_NRMASK;
}

/** `_IOC_SIZE(cmd)`: the argument size in bytes. */
export function _IOC_SIZE(cmd: number): number {
  return (cmd >>> _IOC_SIZESHIFT) & _IOC_SIZEMASK;
}

/** A command in the form strace prints: `_IOWR('V', 0xf, 0x58)`. */
export function formatIoctl(cmd: number): string {
  const dir = ["_IO", "_IOW", "_IOR", "_IOWR"][_IOC_DIR(cmd)]!;
  const t = _IOC_TYPE(cmd);
  const type = t >= 0x20 && t < 0x7f ? `'${String.fromCharCode(t)}'` : hex(t);
  const nr = hex(_IOC_NR(cmd));
  return dir === "_IO" ? `${dir}(${type}, ${nr})` : `${dir}(${type}, ${nr}, ${hex(_IOC_SIZE(cmd))})`;
}
