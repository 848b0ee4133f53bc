/**
 * A process's fd table (fs/file.c `struct fdtable`): fd numbers to files, with the close-on-exec
 * bit per fd. New fds take the lowest free number, up to a limit (RLIMIT_NOFILE).
 *
 * The table's reads are public; changes go through `Process` system calls.
 *
 * @module
 */
import { KernelError } from "@umm/kernel-core";
import type { File } from "./file.js";
import { NR_OPEN_DEFAULT } from "./types.js";

/** The fd table of one process. */
export class FdTable {
  /** the highest fd + 1 (RLIMIT_NOFILE) */
  readonly limit: number;
  readonly #files: (File | null)[] = [];
  readonly #cloexec: boolean[] = [];
  /** lowest fd that may be free (the kernel's `next_fd`) */
  #next = 0;
  #count = 0;

  /** A table allowing fds `0 .. limit - 1`. */
  constructor(limit = NR_OPEN_DEFAULT) {
    this.limit = limit;
  }

  /** The file behind `fd`, or undefined (no reference taken). */
  get(fd: number): File | undefined {
    return this.#files[fd] ?? undefined;
  }

  /** True when `fd` is open. */
  has(fd: number): boolean {
    return (this.#files[fd] ?? null) !== null;
  }

  /** Open fds. */
  get count(): number {
    return this.#count;
  }

  /** Free fd numbers below the limit. */
  get free(): number {
    return this.limit - this.#count;
  }

  /** The close-on-exec bit of `fd` (false for a closed fd). */
  cloexec(fd: number): boolean {
    return this.has(fd) && this.#cloexec[fd] === true;
  }

  /** Open fds, ascending. */
  fds(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.#files.length; i++) if (this.#files[i]) out.push(i);
    return out;
  }

  /** The open fds whose file is `file` (how a process reaches it). */
  fdsOf(file: File): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.#files.length; i++) if (this.#files[i] === file) out.push(i);
    return out;
  }

  /** @internal the lowest free fd at or above `from`; EMFILE when none is left */
  _alloc(from = 0): number {
    let fd = Math.max(from, this.#next);
    const f = this.#files;
    while (fd < f.length && f[fd]) fd++;
    if (fd >= this.limit) {
      throw new KernelError("EMFILE", `all ${this.limit} fds are in use (RLIMIT_NOFILE)`);
    }
    return fd;
  }

  /** @internal installs `file` (its reference moves to the table) at the free `fd` */
  _install(fd: number, file: File, cloexec: boolean): void {
    while (this.#files.length <= fd) {
      this.#files.push(null);
      this.#cloexec.push(false);
    }
    this.#files[fd] = file;
    this.#cloexec[fd] = cloexec;
    this.#count++;
    if (fd === this.#next) this.#next = fd + 1;
  }

  /** @internal removes `fd` and returns its file (whose reference the caller now owns) */
  _remove(fd: number): File | null {
    const file = this.#files[fd] ?? null;
    if (!file) return null;
    this.#files[fd] = null;
    this.#cloexec[fd] = false;
    this.#count--;
    if (fd < this.#next) this.#next = fd;
    return file;
  }

  /** @internal sets the close-on-exec bit of open `fd` */
  _setCloexec(fd: number, on: boolean): void {
    this.#cloexec[fd] = on;
  }
}
