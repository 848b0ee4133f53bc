/**
 * memfd (mm/memfd.c) over shmem (mm/shmem.c): `memfd_create` makes an anonymous file whose
 * contents live in pages of RAM, sized with `ftruncate`, read and written with read/write or a
 * mapping, passed between processes as an fd, and optionally sealed (`fcntl(F_ADD_SEALS)`) so
 * that its size or contents can no longer change — which is what lets udmabuf hand its pages to
 * devices.
 *
 * Pages are allocated on first use (a write, a mapping, a pin), zeroed, from lowmem and not
 * movable; the file holds one reference on each until it shrinks or is released, and every
 * mapping or pin holds its own, so a page outlives the file while a mapping or a pin needs it.
 * Reads and writes by the kernel go through the kernel linear map, and so through the CPU cache
 * when the kernel has a CPU model, exactly as user accesses through a cacheable mapping do.
 *
 * Differences from Linux, each for want of a page-fault model: a mapping must lie inside the
 * file (Linux maps beyond the end and raises SIGBUS on access); a MAP_PRIVATE mapping opened for
 * writing gets a private copy of the pages at mmap time (Linux copies each page at its first
 * write); shrinking the file does not unmap pages that mappings still hold (Linux zaps them);
 * `mprotect` can add PROT_WRITE to a shared mapping of a write-sealed file (Linux clears
 * VM_MAYWRITE). Hugetlbfs (MFD_HUGETLB) is not modelled: ENOSYS, as a kernel without it.
 *
 * @module
 */
import { tryCpuOf } from "@umm/arch-arm";
import { hex, type Kernel, KernelBug, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { __GFP_ZERO, GFP_USER, type Mm, mmOf, PROT_WRITE, type Vma } from "@umm/mm-core";
import { File } from "./file.js";
import type { FileOps, MmapContext } from "./ops.js";
import type { Process } from "./process.js";
import { O_APPEND, O_CLOEXEC, O_RDWR, SEEK_CUR, SEEK_END, SEEK_SET } from "./types.js";

// ---- uapi (include/uapi/linux/memfd.h, include/uapi/linux/fcntl.h) ----

/** `memfd_create` flag: close the fd on exec. */
export const MFD_CLOEXEC = 0x0001;
/** `memfd_create` flag: seals may be added (otherwise the file starts with F_SEAL_SEAL). */
export const MFD_ALLOW_SEALING = 0x0002;
/** `memfd_create` flag: back the file with huge pages (hugetlbfs; not modelled: ENOSYS). */
export const MFD_HUGETLB = 0x0004;
/** `memfd_create` flag: not executable, sealed so (F_SEAL_EXEC), sealing allowed. */
export const MFD_NOEXEC_SEAL = 0x0008;
/** `memfd_create` flag: executable (the default while `vm.memfd_noexec` is 0). */
export const MFD_EXEC = 0x0010;
/** Every `memfd_create` flag. */
export const MFD_ALL_FLAGS = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;
/** Shift of the huge page size encoded in the flags with MFD_HUGETLB. */
export const MFD_HUGE_SHIFT = 26;
/** Mask of the huge page size field (after the shift). */
export const MFD_HUGE_MASK = 0x3f;
/** Longest name `memfd_create` takes, in bytes without the NUL (NAME_MAX − strlen("memfd:")). */
export const MFD_NAME_MAX_LEN = 249;

/** Seal: no further seals may be added. */
export const F_SEAL_SEAL = 0x0001;
/** Seal: the file may not shrink. */
export const F_SEAL_SHRINK = 0x0002;
/** Seal: the file may not grow. */
export const F_SEAL_GROW = 0x0004;
/** Seal: the contents may not change (no writes, no shared writable mappings). */
export const F_SEAL_WRITE = 0x0008;
/** Seal: no new writes or shared writable mappings; existing writable mappings keep working. */
export const F_SEAL_FUTURE_WRITE = 0x0010;
/** Seal: the exec bits may not change (implies the write seals on an executable file). */
export const F_SEAL_EXEC = 0x0020;
/** Every seal. */
export const F_ALL_SEALS =
  F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;

/** `fcntl` command: the fd flags (FD_CLOEXEC). */
export const F_GETFD = 1;
/** `fcntl` command: set the fd flags. */
export const F_SETFD = 2;
/** `fcntl` command: the file status flags. */
export const F_GETFL = 3;
/** `fcntl` command: set O_APPEND / O_NONBLOCK. */
export const F_SETFL = 4;
/** `fcntl` command: add seals (`F_LINUX_SPECIFIC_BASE + 9`). */
export const F_ADD_SEALS = 1033;
/** `fcntl` command: the seals (`F_LINUX_SPECIFIC_BASE + 10`). */
export const F_GET_SEALS = 1034;

// ---- the shmem inode ----

/** @internal the shmem inode behind a memfd */
class Shmem {
  readonly kernel: Kernel;
  readonly mm: Mm;
  readonly name: string;
  /** i_size, bytes */
  size = 0;
  seals: number;
  /** permission bits; 0o777 unless MFD_NOEXEC_SEAL */
  readonly mode: number;
  /** page index → pfn of the pages the file holds (one reference each) */
  readonly pages = new Map<number, number>();
  /** shared writable mappings (`i_mmap_writable`) */
  writableMaps = 0;

  constructor(kernel: Kernel, name: string, seals: number, mode: number) {
    this.kernel = kernel;
    this.mm = mmOf(kernel);
    this.name = name;
    this.seals = seals;
    this.mode = mode;
  }

  get tag(): string {
    return `memfd:${this.name}`;
  }

  /** Allocates the missing pages of `[first, first + count)`; all or nothing (ENOMEM). */
  populate(first: number, count: number): void {
    const fresh: number[] = [];
    for (let i = first; i < first + count; i++) {
      if (this.pages.has(i)) continue;
      const pfn = this.mm.buddy.allocPages(0, GFP_USER | __GFP_ZERO, { tag: this.tag });
      if (pfn === null) {
        for (const k of fresh) this.mm.buddy.putPage(this.pages.get(k)!);
        for (const k of fresh) this.pages.delete(k);
        throw new KernelError(
          "ENOMEM",
          `${this.tag}: out of memory after ${fresh.length} new pages of [${first}, +${count})`,
        );
      }
      this.pages.set(i, pfn);
      fresh.push(i);
    }
  }

  /** Kernel store of `src[srcOff, +n)` at byte `pos` (inside one populated page). */
  store(pos: number, src: Uint8Array, srcOff: number, n: number): void {
    const pa = this.pages.get(Math.floor(pos / PAGE_SIZE))! * PAGE_SIZE + (pos % PAGE_SIZE);
    const cpu = this.mm.hooks.cache ? tryCpuOf(this.kernel) : undefined;
    if (cpu) cpu.write(this.mm.kspace, this.mm.kspace.physToVirt(pa), src, srcOff, n);
    else this.mm.phys.write(pa, src, srcOff, n);
  }

  /** Kernel load of `n` bytes at `pos` (inside one page; a hole reads as zeros). */
  load(pos: number, dst: Uint8Array, dstOff: number, n: number): void {
    const pfn = this.pages.get(Math.floor(pos / PAGE_SIZE));
    if (pfn === undefined) {
      dst.fill(0, dstOff, dstOff + n);
      return;
    }
    const pa = pfn * PAGE_SIZE + (pos % PAGE_SIZE);
    const cpu = this.mm.hooks.cache ? tryCpuOf(this.kernel) : undefined;
    if (cpu) cpu.read(this.mm.kspace, this.mm.kspace.physToVirt(pa), dst, dstOff, n);
    else this.mm.phys.read(pa, dst, dstOff, n);
  }

  /** `shmem_setattr(ATTR_SIZE)`: EPERM against F_SEAL_SHRINK / F_SEAL_GROW. */
  setSize(length: number): void {
    if (length < this.size && this.seals & F_SEAL_SHRINK) {
      throw new KernelError("EPERM", `ftruncate: ${this.tag} is sealed against shrinking (F_SEAL_SHRINK)`);
    }
    if (length > this.size && this.seals & F_SEAL_GROW) {
      throw new KernelError("EPERM", `ftruncate: ${this.tag} is sealed against growing (F_SEAL_GROW)`);
    }
    if (length < this.size) {
      const keep = Math.ceil(length / PAGE_SIZE);
      for (const [i, pfn] of [...this.pages]) {
        if (i < keep) continue;
        this.pages.delete(i);
        this.mm.buddy.putPage(pfn);
      }
      // truncate_inode_pages_range zeroes what is left of the last page beyond the new end
      const tail = length % PAGE_SIZE;
      if (tail !== 0 && this.pages.has(keep - 1))
        this.store(length, new Uint8Array(PAGE_SIZE - tail), 0, PAGE_SIZE - tail);
    }
    this.size = length;
  }

  /** Pages whose references come from somewhere other than the file and its mappings. */
  extraRefs(): number {
    const f = this.mm.frames;
    let n = 0;
    for (const pfn of this.pages.values()) {
      const i = f.index(pfn);
      if (f.pincount[i]! > 0 || f.refcount[i]! - f.mapcount[i]! > 1) n++;
    }
    return n;
  }

  release(): void {
    for (const pfn of this.pages.values()) this.mm.buddy.putPage(pfn);
    this.pages.clear();
  }
}

function shmemOf(file: File): Shmem {
  return file.privateData as Shmem;
}

const WRITE_SEALS = F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;

/** Splits `[pos, pos + len)` into chunks that end at page boundaries (generic_perform_write). */
function* chunks(pos: number, len: number): Generator<{ pos: number; n: number }> {
  const end = pos + len;
  while (pos < end) {
    const n = Math.min(PAGE_SIZE - (pos % PAGE_SIZE), end - pos);
    yield { pos, n };
    pos += n;
  }
}

function shmemMmap(file: File, ctx: MmapContext): void {
  const sh = shmemOf(file);
  const first = ctx.pgoff;
  const count = ctx.length / PAGE_SIZE;
  const writable = (ctx.prot & PROT_WRITE) !== 0;
  if (ctx.shared && writable && sh.seals & WRITE_SEALS) {
    throw new KernelError(
      "EPERM",
      `mmap: ${sh.tag} is write-sealed; a shared writable mapping is not allowed`,
    );
  }
  const filePages = Math.ceil(sh.size / PAGE_SIZE);
  if (first + count > filePages) {
    throw new KernelError(
      "EINVAL",
      `mmap: pages [${first}, +${count}) of ${sh.tag} reach beyond its ${filePages} page(s) ` +
        "(Linux would map them and raise SIGBUS on access)",
    );
  }
  sh.populate(first, count);
  const pfns = Array.from({ length: count }, (_, i) => sh.pages.get(first + i)!);
  ctx.setName(`/${sh.tag}`);
  if (ctx.shared || !writable) {
    ctx.setPages(pfns);
    if (ctx.shared && writable) {
      sh.writableMaps++;
      ctx.setOps({
        open: () => {
          sh.writableMaps++;
        },
        close: () => {
          sh.writableMaps--;
        },
      });
    }
    return;
  }
  // MAP_PRIVATE for writing: a private copy now (no copy-on-write fault model)
  const buddy = sh.mm.buddy;
  const copies: number[] = [];
  for (let i = 0; i < count; i++) {
    const pfn = buddy.allocPages(0, GFP_USER, { tag: `${sh.tag} (private)` });
    if (pfn === null) {
      for (const p of copies) buddy.putPage(p);
      throw new KernelError("ENOMEM", `mmap: no page for a private copy of ${sh.tag}`);
    }
    copies.push(pfn);
  }
  const page = new Uint8Array(PAGE_SIZE);
  const cpu = sh.mm.hooks.cache ? tryCpuOf(sh.kernel) : undefined;
  const ks = sh.mm.kspace;
  for (let i = 0; i < count; i++) {
    sh.load((first + i) * PAGE_SIZE, page, 0, PAGE_SIZE);
    const pa = copies[i]! * PAGE_SIZE;
    if (cpu) cpu.write(ks, ks.physToVirt(pa), page);
    else sh.mm.phys.write(pa, page);
  }
  // the mapping owns the copies: each piece frees its pages when it goes
  ctx.setPages(copies, { refs: false });
  ctx.setOps({
    close: (vma: Vma) => {
      for (const pfn of vma.pfns ?? []) buddy.putPage(pfn);
    },
  });
}

/** The file operations of a memfd (`shmem_file_operations`). */
const SHMEM_FOPS: FileOps = Object.freeze({
  release: (file: File) => shmemOf(file).release(),
  read: (file: File, len: number): Uint8Array => {
    const sh = shmemOf(file);
    const n = Math.max(0, Math.min(len, sh.size - file.pos));
    const out = new Uint8Array(n);
    let off = 0;
    for (const c of chunks(file.pos, n)) {
      sh.load(c.pos, out, off, c.n);
      off += c.n;
    }
    file.pos += n;
    return out;
  },
  write: (file: File, data: Uint8Array): number => {
    const sh = shmemOf(file);
    if (data.length === 0) return 0;
    if (sh.seals & WRITE_SEALS) {
      throw new KernelError("EPERM", `write: ${sh.tag} is sealed against writes`);
    }
    const pos = file.flags & O_APPEND ? sh.size : file.pos;
    // with F_SEAL_GROW the write stops at the first page chunk that would grow the file
    let len = 0;
    for (const c of chunks(pos, data.length)) {
      if (sh.seals & F_SEAL_GROW && c.pos + c.n > sh.size) break;
      len += c.n;
    }
    if (len === 0) throw new KernelError("EPERM", `write: ${sh.tag} is sealed against growing (F_SEAL_GROW)`);
    const firstPage = Math.floor(pos / PAGE_SIZE);
    sh.populate(firstPage, Math.floor((pos + len - 1) / PAGE_SIZE) - firstPage + 1);
    let off = 0;
    for (const c of chunks(pos, len)) {
      sh.store(c.pos, data, off, c.n);
      off += c.n;
    }
    sh.size = Math.max(sh.size, pos + len);
    file.pos = pos + len;
    return len;
  },
  llseek: (file: File, offset: number, whence: number): number => {
    const sh = shmemOf(file);
    const base =
      whence === SEEK_SET ? 0 : whence === SEEK_CUR ? file.pos : whence === SEEK_END ? sh.size : NaN;
    const p = base + offset;
    if (!(p >= 0)) throw new KernelError("EINVAL", `lseek: position ${p} of ${sh.tag} is negative`);
    file.pos = p;
    return p;
  },
  mmap: shmemMmap,
});

/** `shmem_file`: true when `file` is a memfd (shmem) file. */
export function shmemFile(file: File): boolean {
  return file.ops === SHMEM_FOPS;
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

/**
 * `memfd_create(2)` in process `proc`: a new, empty memfd named `name`; returns its fd. Without
 * MFD_ALLOW_SEALING (or MFD_NOEXEC_SEAL) the file is born with F_SEAL_SEAL, so no seal can be
 * added. EINVAL for unknown flags, MFD_EXEC with MFD_NOEXEC_SEAL, or a name over
 * MFD_NAME_MAX_LEN bytes; EFAULT for a name that is not a string; EMFILE when the fd table is
 * full; ENOSYS for MFD_HUGETLB (hugetlbfs is not modelled); ESRCH when `proc` has exited.
 */
export function memfdCreate(proc: Process, name: string, flags = 0): number {
  if (proc.state !== "running") throw new KernelError("ESRCH", `memfd_create: pid ${proc.pid} has exited`);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) {
    throw new KernelError("EINVAL", `memfd_create: flags ${String(flags)} is not a 32-bit value`);
  }
  const allowed = flags & MFD_HUGETLB ? MFD_ALL_FLAGS | (MFD_HUGE_MASK << MFD_HUGE_SHIFT) : MFD_ALL_FLAGS;
  if ((flags & ~allowed) >>> 0 !== 0) {
    throw new KernelError("EINVAL", `memfd_create: flags ${hex(flags)} has unknown bits`);
  }
  if (flags & MFD_EXEC && flags & MFD_NOEXEC_SEAL) {
    throw new KernelError("EINVAL", "memfd_create: MFD_EXEC and MFD_NOEXEC_SEAL together");
  }
  if (typeof name !== "string") throw new KernelError("EFAULT", "memfd_create: name is not a string");
  if (utf8Length(name) > MFD_NAME_MAX_LEN) {
    throw new KernelError(
      "EINVAL",
      `memfd_create: name of ${utf8Length(name)} bytes exceeds MFD_NAME_MAX_LEN (${MFD_NAME_MAX_LEN})`,
    );
  }
  if (proc.fds.free < 1) {
    throw new KernelError("EMFILE", `memfd_create: all ${proc.fds.limit} fds of pid ${proc.pid} are in use`);
  }
  if (flags & MFD_HUGETLB) {
    throw new KernelError("ENOSYS", "memfd_create: MFD_HUGETLB needs hugetlbfs, which is not modelled");
  }
  let seals = F_SEAL_SEAL;
  let mode = 0o777;
  if (flags & MFD_NOEXEC_SEAL) {
    mode = 0o666;
    seals = F_SEAL_EXEC;
  } else if (flags & MFD_ALLOW_SEALING) {
    seals = 0;
  }
  const sh = new Shmem(proc.kernel, name, seals, mode);
  const file = new File(proc.kernel, {
    ops: SHMEM_FOPS,
    flags: O_RDWR,
    path: `/memfd:${name} (deleted)`,
    privateData: sh,
  });
  try {
    return proc.fdInstall(file, flags & MFD_CLOEXEC ? O_CLOEXEC : 0);
  } catch (e) {
    file.put();
    throw e;
  }
}

/**
 * `memfd_fcntl(file, cmd, arg)`: F_GET_SEALS returns the seals; F_ADD_SEALS adds `arg` and
 * returns 0. EINVAL for another command, a file that is not a memfd or unknown seal bits; EPERM
 * when the file was not opened for writing or carries F_SEAL_SEAL; EBUSY when F_SEAL_WRITE meets
 * a shared writable mapping or pages held by someone else (pinned for DMA, say — the kernel
 * waits a while for them first). F_SEAL_EXEC on an executable file adds the write seals too.
 */
export function memfdFcntl(file: File, cmd: number, arg = 0): number {
  if (cmd !== F_ADD_SEALS && cmd !== F_GET_SEALS) {
    throw new KernelError("EINVAL", `memfd_fcntl: cmd ${cmd} is neither F_ADD_SEALS nor F_GET_SEALS`);
  }
  if (cmd === F_GET_SEALS) {
    if (!shmemFile(file)) throw new KernelError("EINVAL", `F_GET_SEALS: ${file.path} is not a memfd`);
    return shmemOf(file).seals;
  }
  if (!file.writable) throw new KernelError("EPERM", `F_ADD_SEALS: ${file.path} is not open for writing`);
  if (!Number.isInteger(arg) || arg < 0 || arg > F_ALL_SEALS || (arg & ~F_ALL_SEALS) !== 0) {
    throw new KernelError("EINVAL", `F_ADD_SEALS: seals ${hex(Number(arg))} has unknown bits`);
  }
  if (!shmemFile(file)) throw new KernelError("EINVAL", `F_ADD_SEALS: ${file.path} is not a memfd`);
  const sh = shmemOf(file);
  if (sh.seals & F_SEAL_SEAL) throw new KernelError("EPERM", `F_ADD_SEALS: ${sh.tag} carries F_SEAL_SEAL`);
  let seals = arg;
  if (seals & F_SEAL_WRITE && !(sh.seals & F_SEAL_WRITE)) {
    if (sh.writableMaps > 0) {
      throw new KernelError(
        "EBUSY",
        `F_ADD_SEALS: ${sh.tag} has ${sh.writableMaps} shared writable mapping(s); F_SEAL_WRITE refused`,
      );
    }
    const busy = sh.extraRefs();
    if (busy > 0) {
      throw new KernelError(
        "EBUSY",
        `F_ADD_SEALS: ${busy} page(s) of ${sh.tag} are pinned or referenced elsewhere; F_SEAL_WRITE refused`,
      );
    }
  }
  if (seals & F_SEAL_EXEC && sh.mode & 0o111)
    seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
  sh.seals |= seals;
  return 0;
}

/**
 * `fcntl(2)` in process `proc`: F_GETFD / F_SETFD / F_GETFL / F_SETFL (as the `Process` calls of
 * those names) and the memfd seals, F_ADD_SEALS / F_GET_SEALS (see `memfdFcntl`). Returns what
 * the command returns. EBADF for a closed fd, EINVAL for another command, ESRCH after exit.
 */
export function fcntl(proc: Process, fd: number, cmd: number, arg = 0): number {
  switch (cmd) {
    case F_GETFD:
      return proc.getFdFlags(fd);
    case F_SETFD:
      proc.setFdFlags(fd, arg);
      return 0;
    case F_GETFL:
      return proc.getFileFlags(fd);
    case F_SETFL:
      proc.setFileFlags(fd, arg);
      return 0;
    case F_ADD_SEALS:
    case F_GET_SEALS: {
      const file = proc.fget(fd);
      try {
        return proc.kernel.withCurrent(proc, () => memfdFcntl(file, cmd, arg));
      } finally {
        file.put();
      }
    }
    default:
      proc.fget(fd).put(); // EBADF first, as the kernel checks the fd before the command
      throw new KernelError("EINVAL", `fcntl: cmd ${cmd} is not modelled or unknown`);
  }
}

/**
 * `ftruncate(2)` in process `proc`: sets the size of the memfd at `fd` to `length` bytes.
 * Growing adds holes (read as zeros, allocated on use); shrinking frees the pages past the end
 * (pages a mapping or a pin still holds live on until it goes) and zeroes the rest of the last
 * page. EINVAL for a negative length, a file that is not a memfd or not open for writing; EBADF;
 * EPERM against F_SEAL_SHRINK / F_SEAL_GROW; ESRCH after exit.
 */
export function ftruncate(proc: Process, fd: number, length: number): void {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new KernelError("EINVAL", `ftruncate: length ${String(length)} is not a size in bytes`);
  }
  const file = proc.fget(fd);
  try {
    if (!shmemFile(file))
      throw new KernelError("EINVAL", `ftruncate: fd ${fd} (${file.path}) is not a memfd`);
    if (!file.writable) throw new KernelError("EINVAL", `ftruncate: fd ${fd} is not open for writing`);
    proc.kernel.withCurrent(proc, () => shmemOf(file).setSize(length));
  } finally {
    file.put();
  }
}

/** Pages of a memfd held for a device (`memfd_pin_folios` and its `unpin_folios`). */
export interface MemfdPinnedPages {
  /** the pinned pages, one pfn per page of the range */
  readonly pfns: Int32Array;
  /** True once `release` ran. */
  readonly released: boolean;
  /** Unpins every page (a second call is a `KernelBug`). */
  release(): void;
}

/**
 * `memfd_pin_folios`: pins `count` pages of the memfd `file` from page `pgoff` (allocating
 * holes), each with a reference and a pin, so they stay put — and outlive the file — until
 * `release`. EINVAL for a file that is not a memfd, a bad range or one reaching past the end of
 * the file; ENOMEM when pages run out (nothing stays allocated or pinned).
 */
export function memfdPinPages(file: File, pgoff: number, count: number): MemfdPinnedPages {
  if (!shmemFile(file)) throw new KernelError("EINVAL", `memfd_pin_folios: ${file.path} is not a memfd`);
  if (!Number.isSafeInteger(pgoff) || pgoff < 0 || !Number.isSafeInteger(count) || count < 1) {
    throw new KernelError("EINVAL", `memfd_pin_folios: range [${pgoff}, +${count}) pages`);
  }
  const sh = shmemOf(file);
  const filePages = Math.ceil(sh.size / PAGE_SIZE);
  if (pgoff + count > filePages) {
    throw new KernelError(
      "EINVAL",
      `memfd_pin_folios: pages [${pgoff}, +${count}) reach beyond the ${filePages} page(s) of ${sh.tag}`,
    );
  }
  sh.populate(pgoff, count);
  const mm = sh.mm;
  const f = mm.frames;
  const pfns = Int32Array.from({ length: count }, (_, i) => sh.pages.get(pgoff + i)!);
  for (const pfn of pfns) {
    mm.buddy.getPage(pfn);
    f.pincount[f.index(pfn)]!++;
  }
  let released = false;
  return {
    pfns,
    get released() {
      return released;
    },
    release() {
      if (released) throw new KernelBug(`unpin_folios: pages of ${sh.tag} unpinned twice`);
      released = true;
      for (const pfn of pfns) {
        f.pincount[f.index(pfn)]!--;
        mm.buddy.putPage(pfn);
      }
    },
  };
}
