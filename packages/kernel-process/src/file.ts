/**
 * Open files (`struct file`, fs/file_table.c): the driver's ops, the open flags, the driver's
 * private data and a reference count. Every fd, every mapping (VMA) and every SCM_RIGHTS copy in
 * flight holds one reference; when the last goes, the driver's `release` runs exactly once.
 *
 * @module
 */
import { isKernelError, type Kernel, KernelError, Kref } from "@umm/kernel-core";
import type { VmaFileRef } from "@umm/mm-core";
import type { Chrdev, ChrdevImpl } from "./chrdev.js";
import type { FileOps } from "./ops.js";
import { type ProcLayer, procLayer, procWarn } from "./state.js";
import { O_ACCMODE, O_CLOEXEC, O_RDONLY, O_RDWR, O_WRONLY } from "./types.js";

/** What a new `File` is made of. */
export interface FileInit {
  /** the driver's operations */
  readonly ops: FileOps;
  /** O_* flags; the access mode (O_RDONLY, O_WRONLY, O_RDWR) decides what the file permits */
  readonly flags?: number;
  /** shown in reports and traces: "/dev/video0", "anon_inode:dmabuf", "socket:[3]" */
  readonly path: string;
  /** `private_data` to start with */
  readonly privateData?: unknown;
  /** the character device the file was opened through, if any */
  readonly cdev?: Chrdev | null;
  /**
   * false while a driver's `open` has not yet succeeded: a put then frees the file without
   * calling `release` (default true)
   * @internal
   */
  readonly opened?: boolean;
}

/**
 * An open file. It is also mm-core's `VmaFileRef`: a mapping of the file holds a reference, so
 * the file outlives the fd that mapped it until the mapping goes.
 */
export class File implements VmaFileRef {
  /** the kernel this file lives in */
  readonly kernel: Kernel;
  /** the driver's operations (`f_op`) */
  readonly ops: FileOps;
  /** O_* status flags (access mode, O_NONBLOCK, O_APPEND, ...); O_CLOEXEC belongs to the fd */
  flags: number;
  /** the driver's data (`file->private_data`) */
  privateData: unknown;
  /** what opened it: "/dev/video0", "anon_inode:dmabuf", "socket:[3]" */
  readonly path: string;
  /** the character device this file was opened through, or null */
  readonly cdev: Chrdev | null;
  /** the file position (`f_pos`), kept by the driver's read, write and llseek */
  pos = 0;
  readonly #kref: Kref;
  readonly #st: ProcLayer;
  #opened: boolean;
  #inflight = 0;

  /**
   * A new file with one reference, which the creator owns (usually handed to `fdInstall`).
   * Prefer `anonInodeGetfile` for driver-made files. EINVAL for an access mode that is none of
   * O_RDONLY, O_WRONLY, O_RDWR.
   */
  constructor(kernel: Kernel, init: FileInit) {
    const flags = init.flags ?? O_RDWR;
    if ((flags & O_ACCMODE) === O_ACCMODE) {
      throw new KernelError(
        "EINVAL",
        `flags ${flags.toString(8)}: access mode 3 is not O_RDONLY/O_WRONLY/O_RDWR`,
      );
    }
    this.kernel = kernel;
    this.ops = init.ops;
    this.flags = flags & ~O_CLOEXEC;
    this.privateData = init.privateData;
    this.path = init.path;
    this.cdev = init.cdev ?? null;
    this.#opened = init.opened ?? true;
    this.#st = procLayer(kernel);
    this.#kref = new Kref(() => this.#release(), `file ${init.path}`);
    this.#st.files.add(this);
  }

  /** References held now (fds, mappings, in-flight copies, kernel users); 0 once released. */
  get refcount(): number {
    return this.#kref.count;
  }

  /** True once the last reference went. */
  get released(): boolean {
    return this.#kref.released;
  }

  /** How many references are SCM_RIGHTS copies in flight (sent, not yet received). */
  get inflight(): number {
    return this.#inflight;
  }

  /** FMODE_READ: opened O_RDONLY or O_RDWR. */
  get readable(): boolean {
    const m = this.flags & O_ACCMODE;
    return m === O_RDONLY || m === O_RDWR;
  }

  /** FMODE_WRITE: opened O_WRONLY or O_RDWR. */
  get writable(): boolean {
    const m = this.flags & O_ACCMODE;
    return m === O_WRONLY || m === O_RDWR;
  }

  /** `get_file`: takes a reference (a `KernelBug` after release). */
  get(): void {
    this.#kref.get();
  }

  /**
   * `fput`: drops a reference; the last one runs the driver's `release`. A put after release is
   * a `KernelBug`.
   */
  put(): void {
    if (this.#kref.put()) return;
    const gc = this.#st.gc;
    if (gc && this.#inflight > 0 && this.#kref.count === this.#inflight) gc(this);
  }

  /** @internal the driver's open succeeded: from now on the last put calls `release` */
  _opened(): void {
    this.#opened = true;
  }

  /** @internal the socket layer counts copies in flight */
  _inflightAdd(n: number): void {
    this.#inflight += n;
  }

  #release(): void {
    const st = this.#st;
    st.files.delete(this);
    if (!this.#opened) return;
    if (this.cdev) (this.cdev as ChrdevImpl).openCount--;
    try {
      this.ops.release?.(this);
    } catch (e) {
      if (!isKernelError(e)) throw e;
      procWarn(st, `release of ${this.path} failed: ${e.message}`);
    } finally {
      if (st.tp.release.enabled) st.tp.release.emit({ path: this.path });
    }
  }
}

/** `fput`: drops one reference to `file` (see `File.put`). */
export function fput(file: File): void {
  file.put();
}

/**
 * `anon_inode_getfile`: a file no path names (dma-buf, sync files, event fds), path
 * `anon_inode:<name>`, with one reference the caller owns — install it with
 * `Process.fdInstall`, or `fput` it. EINVAL for a bad access mode.
 */
export function anonInodeGetfile(
  kernel: Kernel,
  name: string,
  ops: FileOps,
  privateData: unknown,
  flags: number = O_RDWR,
): File {
  return new File(kernel, { ops, flags, path: `anon_inode:${name}`, privateData });
}

/** Every file alive in `kernel` (held by an fd, a mapping, a message in flight or a kernel user). */
export function openFiles(kernel: Kernel): readonly File[] {
  return [...procLayer(kernel).files];
}
