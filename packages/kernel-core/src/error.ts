/**
 * How umm fails: `KernelError` for a rejected call (an errno and a message naming the argument),
 * `KernelBug` for a state that cannot happen (the kernel's BUG()).
 *
 * umm throws where the kernel returns `-errno`: an ignored return value is silent in TypeScript,
 * an exception is not. A call that throws `KernelError` has changed nothing.
 *
 * @module
 */
import { ERRNO, type ErrnoName, isErrnoName } from "./errno.js";

/** Options of a `KernelError`. */
export interface KernelErrorOpts {
  /** the lower-level error this one was raised for */
  readonly cause?: unknown;
}

/**
 * A rejected kernel-level call: carries the errno name (`errno`), its Linux number (`code`) and a
 * message that says which argument was wrong and how. `message` reads `"EINVAL: <detail>"`.
 *
 * @example
 * ```ts
 * throw new KernelError("EINVAL", `iova ${hex(iova)} is not aligned to 4 KiB`);
 * ```
 */
export class KernelError extends Error {
  /** errno name, e.g. "EINVAL" */
  readonly errno: ErrnoName;
  /** Linux errno number, positive (22 for EINVAL) */
  readonly code: number;
  /** the message without the "ERRNO: " prefix */
  readonly detail: string;

  constructor(errno: ErrnoName, detail: string, opts: KernelErrorOpts = {}) {
    if (!isErrnoName(errno)) throw new KernelBug(`KernelError: unknown errno name ${JSON.stringify(errno)}`);
    super(`${errno}: ${detail}`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "KernelError";
    this.errno = errno;
    this.code = ERRNO[errno];
    this.detail = detail;
  }

  /** The kernel's return convention: `-code` (e.g. -22). */
  get negative(): number {
    return -this.code;
  }
}

/** An impossible state: the kernel would BUG(). Never part of an API contract. */
export class KernelBug extends Error {
  constructor(message: string, opts: KernelErrorOpts = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "KernelBug";
  }
}

/** True when `e` is a `KernelError`, and of errno `errno` when one is given. */
export function isKernelError(e: unknown, errno?: ErrnoName): e is KernelError {
  return e instanceof KernelError && (errno === undefined || e.errno === errno);
}

/** Throws a `KernelError` (an expression-friendly `throw`). */
export function kfail(errno: ErrnoName, detail: string, opts?: KernelErrorOpts): never {
  throw new KernelError(errno, detail, opts);
}

/** Throws `KernelBug` when `cond` is false (BUG_ON with the sense inverted, like assert). */
export function kassert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new KernelBug(message);
}

/** Formats a number as lower-case hex with a 0x prefix (addresses in messages). */
export function hex(n: number | bigint): string {
  return n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`;
}
