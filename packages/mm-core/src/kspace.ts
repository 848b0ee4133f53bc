/**
 * The kernel's address space (K.V), as on ARM32: the linear map `K.V = P.A - PHYS_OFFSET +
 * PAGE_OFFSET` covering lowmem, cacheable unless remapped (`__dma_remap`, set_memory_wc) or
 * removed (no-map regions, highmem); above it the vmalloc area, where `vmap` and `vmalloc` place
 * non-contiguous pages at contiguous kernel addresses.
 *
 * @module
 */
import { hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import type { Mm } from "./mm.js";
import type { RunList } from "./runs.js";
import { AddressSpace, type Vma } from "./space.js";
import {
  __GFP_HIGHMEM,
  GFP_KERNEL,
  MEMTYPES,
  type MemType,
  MT_CACHEABLE,
  MT_NONE,
  memtypeIndex,
  PROT_READ,
  PROT_WRITE,
} from "./types.js";

/** Start of the kernel linear map (3G/1G split). */
export const PAGE_OFFSET = 0xc0000000;
/** The vmalloc area. */
export const VMALLOC_START = 0xf0000000;
export const VMALLOC_END = 0xff800000;
/** Default lowmem size: what fits below the vmalloc area (ARM's 760 MiB). */
export const DEFAULT_LOWMEM_SIZE = 0xef800000 - PAGE_OFFSET;

/** The kernel address space. */
export class KernelSpace extends AddressSpace {
  /** physical address mapped at PAGE_OFFSET (start of RAM) */
  readonly physOffset: number;
  /** one past the last physical address of lowmem */
  readonly lowmemEnd: number;
  /** memory type of each frame in the linear map (MT_NONE: not mapped) */
  readonly linearMt: Uint8Array;
  readonly #base: number;

  constructor(mm: Mm, lowmemSize: number) {
    super(mm, "kernel", VMALLOC_START, VMALLOC_END);
    this.physOffset = mm.phys.start;
    this.lowmemEnd = Math.min(mm.phys.end, mm.phys.start + lowmemSize);
    this.#base = mm.frames.basePfn;
    this.linearMt = new Uint8Array(mm.frames.count).fill(MT_NONE);
    for (const b of mm.phys.banks) {
      const from = Math.max(b.start, this.physOffset);
      const to = Math.min(b.end, this.lowmemEnd);
      if (to > from)
        this.linearMt.fill(MT_CACHEABLE, from / PAGE_SIZE - this.#base, to / PAGE_SIZE - this.#base);
    }
  }

  /** True when `kaddr` lies in the linear map's virtual range. */
  isLinear(kaddr: number): boolean {
    return kaddr >= PAGE_OFFSET && kaddr < PAGE_OFFSET + (this.lowmemEnd - this.physOffset);
  }

  /** `__pa` / `virt_to_phys` of a linear-map address (EINVAL otherwise). */
  virtToPhys(kaddr: number): number {
    if (!this.isLinear(kaddr))
      throw new KernelError("EINVAL", `virt_to_phys: ${hex(kaddr)} is not a linear-map address`);
    return kaddr - PAGE_OFFSET + this.physOffset;
  }

  /** `__va` / `phys_to_virt` of lowmem (EINVAL for highmem or holes). */
  physToVirt(paddr: number): number {
    if (paddr < this.physOffset || paddr >= this.lowmemEnd || !this.mm.phys.isRam(paddr)) {
      throw new KernelError("EINVAL", `phys_to_virt: ${hex(paddr)} is not lowmem RAM`);
    }
    return paddr - this.physOffset + PAGE_OFFSET;
  }

  /** Memory type of `pfn` in the linear map, or undefined when not linearly mapped. */
  linearMemtype(pfn: number): MemType | undefined {
    const mt = this.linearMt[pfn - this.#base];
    return mt === undefined || mt === MT_NONE ? undefined : MEMTYPES[mt];
  }

  /**
   * Changes the linear map's memory type for `count` pages from `pfn` (`__dma_remap`,
   * `set_memory_wc`), or removes them from it (`null`). Observers see the old mapping go and the
   * new one come. EINVAL for pages outside lowmem.
   */
  setLinearMemtype(pfn: number, count: number, memtype: MemType | null): void {
    const first = pfn - this.#base;
    for (let k = 0; k < count; k++) {
      const pa = (pfn + k) * PAGE_SIZE;
      if (pa < this.physOffset || pa >= this.lowmemEnd) {
        throw new KernelError("EINVAL", `linear map: pfn ${hex(pfn + k)} is not lowmem`);
      }
    }
    const mt = memtype === null ? MT_NONE : memtypeIndex(memtype);
    const site = { space: "kernel", name: "linear map" };
    let k = 0;
    while (k < count) {
      const old = this.linearMt[first + k]!;
      let n = 1;
      while (k + n < count && this.linearMt[first + k + n] === old) n++;
      if (old !== mt) {
        if (old !== MT_NONE) this.mm._notifyMap(pfn + k, n, old, -1, site);
        this.linearMt.fill(mt, first + k, first + k + n);
        if (mt !== MT_NONE) this.mm._notifyMap(pfn + k, n, mt, 1, site);
      }
      k += n;
    }
  }

  override translateRange(va: number, len: number, write: boolean, out: RunList): RunList {
    if (!this.isLinear(va)) return super.translateRange(va, len, write, out);
    out.clear();
    const end = va + len;
    if (!this.isLinear(end - 1)) {
      throw new KernelError("EFAULT", `kernel: [${hex(va)}, ${hex(end)}) runs past the linear map`);
    }
    let pa = va - PAGE_OFFSET + this.physOffset;
    const endPa = pa + len;
    const lm = this.linearMt;
    const base = this.#base;
    const lastPage = Math.floor((endPa - 1) / PAGE_SIZE) - base;
    while (pa < endPa) {
      // one run of pages with the same memory type: a single push
      let i = Math.floor(pa / PAGE_SIZE) - base;
      const mt = lm[i]!;
      if (mt === MT_NONE) {
        throw new KernelError(
          "EFAULT",
          `kernel: ${hex(pa - this.physOffset + PAGE_OFFSET)} is not mapped (no-map or hole)`,
        );
      }
      while (i < lastPage && lm[i + 1] === mt) i++;
      const runEnd = Math.min(endPa, (i + base + 1) * PAGE_SIZE);
      out.push(pa, runEnd - pa, mt);
      pa = runEnd;
    }
    return out;
  }

  /**
   * `vmap`: maps `pfns` contiguously in the vmalloc area with `memtype` and returns the kernel
   * address. Takes no page references (as the kernel's vmap). ENOMEM when the area is full.
   */
  vmap(pfns: ArrayLike<number>, memtype: MemType = "cacheable", name = "vmap"): number {
    const vma = this.mmap({
      length: pfns.length * PAGE_SIZE,
      prot: PROT_READ | PROT_WRITE,
      memtype,
      backing: { kind: "pages", pfns, refs: false },
      name,
    });
    return vma.start;
  }

  /** `vunmap`: EINVAL unless `kaddr` is the start of a vmap/vmalloc mapping. */
  vunmap(kaddr: number): void {
    const vma = this.#vmapAt(kaddr, "vunmap");
    this.munmap(vma.start, vma.size);
  }

  #vmapAt(kaddr: number, what: string): Vma {
    const vma = this.findVma(kaddr);
    if (!vma || vma.start !== kaddr)
      throw new KernelError("EINVAL", `${what}: ${hex(kaddr)} is not the start of a mapping`);
    return vma;
  }

  /**
   * `vmalloc`: allocates `size` bytes of (possibly highmem) pages and maps them contiguously;
   * returns the kernel address. ENOMEM when pages run out (nothing stays allocated).
   */
  vmalloc(size: number, memtype: MemType = "cacheable", tag = "vmalloc"): number {
    if (!Number.isSafeInteger(size) || size <= 0)
      throw new KernelError("EINVAL", `vmalloc: size ${size} must be positive`);
    const pages = Math.ceil(size / PAGE_SIZE);
    const pfns = new Int32Array(pages);
    let n = 0;
    for (; n < pages; n++) {
      const pfn = this.mm.buddy.allocPages(0, GFP_KERNEL | __GFP_HIGHMEM, { tag });
      if (pfn === null) break;
      pfns[n] = pfn;
    }
    if (n < pages) {
      for (let k = 0; k < n; k++) this.mm.buddy.putPage(pfns[k]!);
      throw new KernelError("ENOMEM", `vmalloc: only ${n} of ${pages} pages available`);
    }
    // the VMA takes a reference per page; drop the allocation's so that vfree frees them
    const vma = this.mmap({
      length: pages * PAGE_SIZE,
      prot: PROT_READ | PROT_WRITE,
      memtype,
      backing: { kind: "pages", pfns },
      name: tag,
    });
    for (let k = 0; k < pages; k++) this.mm.buddy.putPage(pfns[k]!);
    return vma.start;
  }

  /** `vfree`: unmaps and frees a `vmalloc` area (EINVAL for anything else). */
  vfree(kaddr: number): void {
    const vma = this.#vmapAt(kaddr, "vfree");
    if (!vma.refs) throw new KernelError("EINVAL", `vfree: ${hex(kaddr)} is a vmap, not a vmalloc area`);
    this.munmap(vma.start, vma.size);
  }
}
