/**
 * The seam drivers fill: `FileOps` (include/linux/fs.h `struct file_operations`), the
 * `MmapContext` a driver's `mmap` receives, and the `PollTable` its `poll` registers wait queues
 * with.
 *
 * The core validates every system call before it reaches a driver: the fd exists, the file was
 * opened with the access the call needs, the mmap arguments are sane. A driver may assume valid
 * input and only decides what its device does. A member a driver leaves out gives the error
 * Linux gives for a missing op (read/write EINVAL, ioctl ENOTTY, mmap ENODEV, llseek ESPIPE).
 *
 * @module
 */

import type { WaitQueue } from "@umm/kernel-core";
import type { MemType, VmaOps } from "@umm/mm-core";
import type { Chrdev } from "./chrdev.js";
import type { File } from "./file.js";

/**
 * What a driver does for each file operation. Every member is optional. Errors are thrown as
 * `KernelError` with the errno the driver's kernel counterpart returns; a thrown error reaches
 * the calling process unchanged.
 */
export interface FileOps {
  /**
   * A process opened the character device `cdev` (`open` of `struct file_operations`).
   * `file.privateData` starts as `cdev.privateData` (as misc_open sets it) and the driver may
   * replace it. Throwing fails the open: no fd is installed and `release` is not called.
   */
  readonly open?: (file: File, cdev: Chrdev) => void;
  /**
   * The last reference to `file` is gone (every fd closed, every mapping unmapped, every
   * in-flight SCM_RIGHTS copy received or dropped): free what the open made. Called exactly
   * once. A `KernelError` thrown here is reported as a `proc_warn` event and otherwise ignored
   * (the kernel ignores release's return value).
   */
  readonly release?: (file: File) => void;
  /**
   * `read(2)`: up to `len` bytes (`len` > 0) from the file's position, which the driver keeps in
   * `file.pos`. An empty result is end of file. With O_NONBLOCK in `file.flags` and nothing to
   * read, throw EAGAIN. Only called when the file was opened for reading.
   */
  readonly read?: (file: File, len: number) => Uint8Array;
  /**
   * `write(2)`: takes bytes of `data` and returns how many it took. Only called when the file
   * was opened for writing.
   */
  readonly write?: (file: File, data: Uint8Array) => number;
  /**
   * `unlocked_ioctl`: runs command `cmd` (an unsigned 32-bit number, see `_IOC`) with `arg`, a
   * JS object standing for the uapi struct (out fields are written into it) or a number. Returns
   * the syscall's non-negative result, or a promise of it for a call that blocks (it settles on
   * virtual time). Unknown commands throw ENOTTY. The file holds a reference while the call is
   * in progress, so a concurrent `close` cannot release it under the driver.
   */
  readonly ioctl?: (file: File, cmd: number, arg: unknown) => number | Promise<number>;
  /**
   * `mmap`: chooses what the new mapping maps by calling `ctx` (`setPages` or `setPfnRange`, and
   * optionally `setMemtype`, `setOps`, `setPrivate`, `setName`). It must choose a backing.
   * Throwing rejects the mmap and nothing is mapped. The VMA holds a reference to `file` for as
   * long as it exists; the driver's `ctx.setOps` close hook says when a mapping goes.
   */
  readonly mmap?: (file: File, ctx: MmapContext) => void;
  /**
   * `poll`: the POLL* bits that hold now (POLLIN, POLLOUT, POLLPRI, POLLERR, POLLHUP, ...).
   * When `pt` is given, register with `pt.wait(wq)` every wait queue whose wake-up may change
   * the answer (`poll_wait`); a file without a `poll` op reports DEFAULT_POLLMASK and never
   * wakes a poller.
   */
  readonly poll?: (file: File, pt: PollTable | null) => number;
  /**
   * `llseek`: moves `file.pos` by `offset` from `whence` (SEEK_SET, SEEK_CUR, SEEK_END) and
   * returns the new position; EINVAL for a position the device cannot take.
   */
  readonly llseek?: (file: File, offset: number, whence: number) => number;
}

/**
 * What the core hands a driver's `mmap` (the `vm_area_struct` being set up). The geometry is
 * fixed; the driver chooses the backing and attributes with the setters. Setters validate their
 * argument and throw EINVAL (nothing is mapped then).
 */
export interface MmapContext {
  /** the file being mapped */
  readonly file: File;
  /** bytes of the mapping, rounded up to whole pages (`vm_end - vm_start`) */
  readonly length: number;
  /** PROT_* bits asked for */
  readonly prot: number;
  /** MAP_* flags as passed to mmap */
  readonly flags: number;
  /** the offset into the file, in pages (`vm_pgoff`) */
  readonly pgoff: number;
  /** MAP_SHARED (true) or MAP_PRIVATE (false) */
  readonly shared: boolean;
  /**
   * `vm_insert_pages`: map these pages, one pfn per page of `length`. The mapping holds a page
   * reference on each (so the driver may free them while mapped) unless `refs` is false.
   */
  setPages(pfns: ArrayLike<number>, opts?: { readonly refs?: boolean }): void;
  /** `remap_pfn_range`: map the physical range starting at `pfn` (VM_PFNMAP, no page references). */
  setPfnRange(pfn: number): void;
  /** The memory type (`pgprot_writecombine`, `pgprot_noncached`, ...); default "cacheable". */
  setMemtype(memtype: MemType): void;
  /** `vma->vm_ops`: told when the mapping is split (open) or goes away (close). */
  setOps(ops: VmaOps): void;
  /** `vma->vm_private_data`. */
  setPrivate(data: unknown): void;
  /** The VMA's name in reports (default: the file's path). */
  setName(name: string): void;
}

/**
 * `poll_table`: a `poll` op registers the wait queues a poller should sleep on. The core wakes
 * the poller when any of them is woken, then asks every file again.
 */
export interface PollTable {
  /** `poll_wait`: the poller sleeps on `wq` too. */
  wait(wq: WaitQueue): void;
}
