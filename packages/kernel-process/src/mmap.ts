/**
 * mmap dispatch (mm/mmap.c `do_mmap` for a file, `mmap_region`, `call_mmap`): the core checks the
 * arguments and the file's access mode, picks the address, lets the driver choose the backing
 * through an `MmapContext`, then maps it with the file as the VMA's `vm_file`.
 *
 * @module
 */
import { hex, KernelBug, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import {
  type AddressSpace,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MEMTYPES,
  type MemType,
  memtypeIndex,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  Vma,
  type VmaBacking,
  type VmaOps,
} from "@umm/mm-core";
import type { File } from "./file.js";
import type { MmapContext } from "./ops.js";

/** Arguments of `Process.mmap` (the mmap(2) parameters). */
export interface MmapArgs {
  /** the file to map; ignored with MAP_ANONYMOUS (pass -1) */
  readonly fd?: number;
  /** with MAP_FIXED, exactly there; otherwise a hint (default: the kernel picks) */
  readonly addr?: number;
  /** bytes, > 0; rounded up to whole pages */
  readonly length: number;
  /** PROT_READ | PROT_WRITE | PROT_EXEC, or PROT_NONE */
  readonly prot: number;
  /** exactly one of MAP_SHARED and MAP_PRIVATE, plus MAP_ANONYMOUS, MAP_FIXED, ... */
  readonly flags: number;
  /** offset into the file in bytes, page-aligned (default 0) */
  readonly offset?: number;
}

const PROT_ALL = PROT_READ | PROT_WRITE | PROT_EXEC;

/** @internal checks what mmap(2) checks before it looks at the file */
export function checkMmapArgs(a: MmapArgs): void {
  const offset = a.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % PAGE_SIZE !== 0) {
    throw new KernelError("EINVAL", `mmap: offset ${hex(offset)} is not a page-aligned file offset`);
  }
  if (!Number.isSafeInteger(a.length) || a.length <= 0) {
    throw new KernelError("EINVAL", `mmap: length ${a.length} must be a positive number of bytes`);
  }
  if (!Number.isInteger(a.prot) || (a.prot & ~PROT_ALL) !== 0) {
    throw new KernelError("EINVAL", `mmap: prot ${hex(a.prot)} has bits other than PROT_READ|WRITE|EXEC`);
  }
  const type = a.flags & (MAP_SHARED | MAP_PRIVATE);
  if (type !== MAP_SHARED && type !== MAP_PRIVATE) {
    throw new KernelError(
      "EINVAL",
      `mmap: flags ${hex(a.flags)} must hold exactly one of MAP_SHARED and MAP_PRIVATE`,
    );
  }
  if (a.flags & MAP_FIXED) {
    if (a.addr === undefined || !Number.isSafeInteger(a.addr) || a.addr % PAGE_SIZE !== 0) {
      throw new KernelError("EINVAL", `mmap: MAP_FIXED address ${String(a.addr)} is not page-aligned`);
    }
  }
}

/** @internal the address a mapping of `length` bytes will get (`get_unmapped_area`) */
export function pickAddress(space: AddressSpace, a: MmapArgs, length: number): number {
  if (a.flags & MAP_FIXED) {
    const addr = a.addr!;
    if (addr < space.lo || addr + length > space.hi) {
      throw new KernelError("EINVAL", `mmap: [${hex(addr)}, +${hex(length)}) is outside ${space.name}`);
    }
    return addr;
  }
  return space.getUnmappedArea(length, a.addr);
}

/** @internal an anonymous mapping */
export function mmapAnon(space: AddressSpace, a: MmapArgs, name = "[anon]"): Vma {
  const length = Math.ceil(a.length / PAGE_SIZE) * PAGE_SIZE;
  const addr = pickAddress(space, a, length);
  return space.mmap({
    addr,
    fixed: true,
    length,
    prot: a.prot,
    shared: (a.flags & MAP_SHARED) !== 0,
    backing: { kind: "anon" },
    name,
  });
}

class Ctx implements MmapContext {
  readonly file: File;
  readonly length: number;
  readonly prot: number;
  readonly flags: number;
  readonly pgoff: number;
  readonly shared: boolean;
  readonly #space: AddressSpace;
  backing: VmaBacking | null = null;
  memtype: MemType = "cacheable";
  ops: VmaOps | undefined = undefined;
  priv: unknown = undefined;
  name: string;

  constructor(space: AddressSpace, file: File, a: MmapArgs, length: number) {
    this.#space = space;
    this.file = file;
    this.length = length;
    this.prot = a.prot;
    this.flags = a.flags;
    this.pgoff = (a.offset ?? 0) / PAGE_SIZE;
    this.shared = (a.flags & MAP_SHARED) !== 0;
    this.name = file.path;
  }

  setPages(pfns: ArrayLike<number>, opts: { readonly refs?: boolean } = {}): void {
    const pages = this.length / PAGE_SIZE;
    if (!pfns || pfns.length !== pages) {
      throw new KernelError(
        "EINVAL",
        `mmap ${this.file.path}: ${pfns?.length} pfns given for ${pages} pages`,
      );
    }
    const frames = this.#space.mm.frames;
    for (let i = 0; i < pages; i++) {
      const pfn = pfns[i]!;
      if (!Number.isInteger(pfn))
        throw new KernelError("EINVAL", `mmap ${this.file.path}: pfn ${pfn} of page ${i}`);
      frames.index(pfn);
    }
    this.backing = { kind: "pages", pfns: Int32Array.from(pfns), refs: opts.refs !== false };
  }

  setPfnRange(pfn: number): void {
    if (!Number.isInteger(pfn) || pfn < 0 || !this.#space.mm.phys.isRam(pfn * PAGE_SIZE, this.length)) {
      throw new KernelError(
        "EINVAL",
        `mmap ${this.file.path}: pfn range [${hex(pfn)}, +${this.length / PAGE_SIZE}) is not RAM`,
      );
    }
    this.backing = { kind: "pfn", pfn };
  }

  setMemtype(memtype: MemType): void {
    if (!MEMTYPES.includes(memtype)) {
      throw new KernelError(
        "EINVAL",
        `mmap ${this.file.path}: memtype ${JSON.stringify(memtype)} is unknown`,
      );
    }
    this.memtype = memtype;
  }

  setOps(ops: VmaOps): void {
    this.ops = ops;
  }

  setPrivate(data: unknown): void {
    this.priv = data;
  }

  setName(name: string): void {
    this.name = name;
  }
}

/**
 * @internal maps `file` (checked by the caller: open, readable, has an mmap op) into `space`.
 * The driver chooses the backing; the new VMA takes its own reference to the file.
 */
export function mmapFile(space: AddressSpace, file: File, a: MmapArgs): Vma {
  const length = Math.ceil(a.length / PAGE_SIZE) * PAGE_SIZE;
  const addr = pickAddress(space, a, length);
  const ctx = new Ctx(space, file, a, length);
  file.ops.mmap!(file, ctx);
  const backing = ctx.backing;
  if (!backing) {
    throw new KernelBug(`mmap op of ${file.path} chose no backing (call ctx.setPages or ctx.setPfnRange)`);
  }
  file.get();
  try {
    return space.mmap({
      addr,
      fixed: true,
      length,
      prot: a.prot,
      memtype: ctx.memtype,
      shared: ctx.shared,
      backing,
      name: ctx.name,
      file,
      pgoff: ctx.pgoff,
      ...(ctx.ops ? { ops: ctx.ops } : {}),
      privateData: ctx.priv,
    });
  } catch (e) {
    // the driver's mmap ran and may hold references for this mapping: as Linux does since 6.12
    // (vma_close on the error path of __mmap_region), let it drop them through vm_ops->close
    if (ctx.ops?.close) {
      const dead = new Vma(space, {
        start: addr,
        end: addr + length,
        prot: a.prot,
        memtype: memtypeIndex(ctx.memtype),
        shared: ctx.shared,
        kind: backing.kind,
        pfns: null,
        basePfn: backing.kind === "pfn" ? backing.pfn : 0,
        refs: false,
        pgoff: ctx.pgoff,
        name: ctx.name,
        ops: ctx.ops,
        file,
        privateData: ctx.priv,
      });
      ctx.ops.close(dead);
    }
    file.put();
    throw e;
  }
}
