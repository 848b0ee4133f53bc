/**
 * Character devices (fs/char_dev.c with the /dev node a udev rule would make): a driver
 * registers its `FileOps` under a path with an owner and mode bits; processes `open` it.
 *
 * Unregistering removes the path at once: later opens fail with ENOENT, while files already
 * open keep their ops and work until their last reference goes (as a removed cdev's open files
 * do).
 *
 * @module
 */
import { type Kernel, KernelError } from "@umm/kernel-core";
import type { FileOps } from "./ops.js";
import { procLayer } from "./state.js";

/** Options of `registerChrdev`. */
export interface ChrdevOpts {
  /** the driver's file operations */
  readonly ops: FileOps;
  /** permission bits of the node (default 0o666) */
  readonly mode?: number;
  /** owner of the node (default 0, root) */
  readonly uid?: number;
  /** group of the node (default 0) */
  readonly gid?: number;
  /** the driver's device data; each open file's `privateData` starts as this */
  readonly privateData?: unknown;
}

/** A registered character device node: the handle its driver keeps. */
export interface Chrdev {
  /** the kernel it is registered in */
  readonly kernel: Kernel;
  /** e.g. "/dev/video0" */
  readonly path: string;
  /** the driver's file operations, which every file opened through the node uses */
  readonly ops: FileOps;
  /** permission bits, e.g. 0o660 */
  readonly mode: number;
  /** owner */
  readonly uid: number;
  /** group */
  readonly gid: number;
  /** the driver's device data (each open file's `privateData` starts as this) */
  readonly privateData: unknown;
  /** True until `unregister`. */
  readonly registered: boolean;
  /** Files opened through this node that are still alive. */
  readonly openCount: number;
  /**
   * Removes the node: later opens fail with ENOENT; open files keep working. ENOENT when already
   * unregistered.
   */
  unregister(): void;
}

/** @internal the mutable side of a Chrdev */
export interface ChrdevImpl extends Chrdev {
  registered: boolean;
  openCount: number;
}

/** @internal checks a path argument: absolute, no empty name */
export function checkPath(what: string, path: string): void {
  if (typeof path !== "string" || !path.startsWith("/") || path.length < 2 || path.endsWith("/")) {
    throw new KernelError("EINVAL", `${what}: path ${JSON.stringify(path)} is not an absolute file name`);
  }
}

function checkId(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new KernelError("EINVAL", `registerChrdev: ${what} ${v} is not a valid id`);
  }
}

/**
 * `cdev_add` + the /dev node: makes `path` open `opts.ops`. EINVAL for a path that is not
 * absolute, mode bits outside 0o777 or a bad uid/gid; EEXIST when the path is taken (by another
 * device or a bound Unix socket).
 */
export function registerChrdev(kernel: Kernel, path: string, opts: ChrdevOpts): Chrdev {
  checkPath("registerChrdev", path);
  const mode = opts.mode ?? 0o666;
  const uid = opts.uid ?? 0;
  const gid = opts.gid ?? 0;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new KernelError("EINVAL", `registerChrdev: mode ${mode.toString(8)} is not within 0777`);
  }
  checkId("uid", uid);
  checkId("gid", gid);
  if (typeof opts.ops !== "object" || opts.ops === null) {
    throw new KernelError("EINVAL", `registerChrdev: ops of ${path} is not a FileOps table`);
  }
  const st = procLayer(kernel);
  if (st.paths.has(path)) throw new KernelError("EEXIST", `registerChrdev: ${path} already exists`);
  const cdev: ChrdevImpl = {
    kernel,
    path,
    ops: opts.ops,
    mode,
    uid,
    gid,
    privateData: opts.privateData,
    registered: true,
    openCount: 0,
    unregister() {
      if (!cdev.registered) throw new KernelError("ENOENT", `unregister: ${path} is not registered`);
      cdev.registered = false;
      st.paths.delete(path);
    },
  };
  st.paths.set(path, { kind: "chrdev", cdev });
  return cdev;
}

/** The character device registered at `path` in `kernel`, or undefined. */
export function findChrdev(kernel: Kernel, path: string): Chrdev | undefined {
  const e = procLayer(kernel).paths.get(path);
  return e?.kind === "chrdev" ? e.cdev : undefined;
}

/**
 * `generic_permission` for a node: may `uid`/`gid` open it for `want` (4 read, 2 write, a sum)?
 * Owner bits for the owner, group bits for the group, other bits for everyone else; uid 0 may
 * do anything.
 */
export function chrdevPermits(cdev: Chrdev, uid: number, gid: number, want: number): boolean {
  if (uid === 0) return true;
  const bits = uid === cdev.uid ? cdev.mode >> 6 : gid === cdev.gid ? cdev.mode >> 3 : cdev.mode;
  return (bits & want & 7) === (want & 7);
}
