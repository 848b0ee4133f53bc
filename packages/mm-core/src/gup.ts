/**
 * User-page lookup (mm/gup.c): resolve a user range to its pages and hold them — with a plain
 * reference (`get_user_pages`) or a pin (`pin_user_pages`, FOLL_PIN) — so that neither munmap
 * nor migration can take them while a device uses them. VM_PFNMAP ranges have no pages and are
 * refused (EFAULT); `followPfn` reads their pfn instead.
 *
 * @module
 */
import { hex, KernelBug, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { RunList } from "./runs.js";
import type { AddressSpace } from "./space.js";
import { PROT_READ, PROT_WRITE } from "./types.js";

/** Pages held for a user range. */
export interface UserPages {
  readonly space: AddressSpace;
  readonly uaddr: number;
  readonly size: number;
  /** offset of `uaddr` in its first page */
  readonly offset: number;
  /** one pfn per page touched by the range */
  readonly pfns: Int32Array;
  readonly pinned: boolean;
  readonly write: boolean;
  /** True once released. */
  readonly released: boolean;
  /** The physical runs of `[uaddr, uaddr + size)`. */
  runs(out?: RunList): RunList;
  /** True when the range is physically contiguous. */
  contiguous(): boolean;
  /** `unpin_user_pages` / `put_page` on each page; a second release is a `KernelBug`. */
  release(): void;
}

function lookup(space: AddressSpace, uaddr: number, size: number, write: boolean, what: string): Int32Array {
  if (!Number.isSafeInteger(uaddr) || uaddr < 0)
    throw new KernelError("EINVAL", `${what}: bad address ${uaddr}`);
  if (!Number.isSafeInteger(size) || size <= 0)
    throw new KernelError("EINVAL", `${what}: size ${size} must be positive`);
  const first = Math.floor(uaddr / PAGE_SIZE);
  const last = Math.floor((uaddr + size - 1) / PAGE_SIZE);
  const pfns = new Int32Array(last - first + 1);
  const need = write ? PROT_WRITE : PROT_READ;
  for (let k = 0; k < pfns.length; k++) {
    const va = (first + k) * PAGE_SIZE;
    const vma = space.findVma(va);
    if (!vma)
      throw new KernelError("EFAULT", `${what}: ${hex(Math.max(va, uaddr))} is not mapped in ${space.name}`);
    if (vma.pfnmap) {
      throw new KernelError(
        "EFAULT",
        `${what}: ${hex(Math.max(va, uaddr))} is in a VM_PFNMAP mapping (${vma.name}): no pages to take`,
      );
    }
    if ((vma.prot & need) === 0) {
      throw new KernelError(
        "EFAULT",
        `${what}: ${vma.name} at ${hex(va)} does not allow ${write ? "writes" : "reads"}`,
      );
    }
    pfns[k] = vma.pfnAt(va);
  }
  return pfns;
}

function hold(space: AddressSpace, uaddr: number, size: number, write: boolean, pin: boolean): UserPages {
  const what = pin ? "pin_user_pages" : "get_user_pages";
  const pfns = lookup(space, uaddr, size, write, what);
  const mm = space.mm;
  const f = mm.frames;
  for (const pfn of pfns) {
    mm.buddy.getPage(pfn);
    if (pin) f.pincount[pfn - f.basePfn]!++;
  }
  mm._traceGup(space, uaddr, size, pfns.length, pin, true);
  let released = false;
  return {
    space,
    uaddr,
    size,
    offset: uaddr % PAGE_SIZE,
    pfns,
    pinned: pin,
    write,
    get released() {
      return released;
    },
    runs(out = new RunList()) {
      out.clear();
      let left = size;
      let off = uaddr % PAGE_SIZE;
      for (const pfn of pfns) {
        const n = Math.min(PAGE_SIZE - off, left);
        out.push(pfn * PAGE_SIZE + off, n);
        left -= n;
        off = 0;
      }
      return out;
    },
    contiguous() {
      for (let k = 1; k < pfns.length; k++) if (pfns[k] !== pfns[k - 1]! + 1) return false;
      return true;
    },
    release() {
      if (released) throw new KernelBug(`${what}: pages of ${hex(uaddr)} released twice`);
      released = true;
      for (const pfn of pfns) {
        if (pin) f.pincount[pfn - f.basePfn]!--;
        mm.buddy.putPage(pfn);
      }
      mm._traceGup(space, uaddr, size, pfns.length, pin, false);
    },
  };
}

/**
 * `get_user_pages`: takes a reference on every page of `[uaddr, uaddr + size)`. EFAULT when any
 * part is unmapped, VM_PFNMAP, or (with `write`) read-only; EINVAL for a zero size.
 */
export function getUserPages(
  space: AddressSpace,
  uaddr: number,
  size: number,
  opts: { write?: boolean } = {},
): UserPages {
  return hold(space, uaddr, size, opts.write ?? false, false);
}

/** `pin_user_pages` (FOLL_PIN | FOLL_LONGTERM): as `getUserPages`, and the pages count as pinned. */
export function pinUserPages(
  space: AddressSpace,
  uaddr: number,
  size: number,
  opts: { write?: boolean } = {},
): UserPages {
  return hold(space, uaddr, size, opts.write ?? false, true);
}

/**
 * `follow_pfn`: the pfn mapped at `uaddr` in a VM_PFNMAP mapping. EFAULT when unmapped, EINVAL
 * when the mapping has pages (use getUserPages).
 */
export function followPfn(space: AddressSpace, uaddr: number): number {
  const vma = space.findVma(uaddr);
  if (!vma) throw new KernelError("EFAULT", `follow_pfn: ${hex(uaddr)} is not mapped in ${space.name}`);
  if (!vma.pfnmap)
    throw new KernelError("EINVAL", `follow_pfn: ${vma.name} at ${hex(uaddr)} is not a VM_PFNMAP mapping`);
  return vma.pfnAt(uaddr);
}
