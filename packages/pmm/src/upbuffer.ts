/**
 * UPBuffer (`include/linux/s3c/upbuffer.h`, `drivers/s3cmm/upbuffer.c`): a driver that was handed
 * a user pointer translates it to one physically contiguous range and locks that memory for a
 * "transaction", so that nothing — not munmap, not close, not the process exiting — frees it
 * while the device still uses it. `upbufBegin` (the RFC's `upbuf_prepare`) runs in the owning
 * process and tries, in order:
 *
 * 1. **pfnmap** — the range lies in one VM_PFNMAP mapping that has a file (/dev/pmm, a frame
 *    buffer): take a reference on the file (the transaction lock: the file's release, which
 *    frees the PMM area, cannot run) and read the physical range from the mapping; a mapping
 *    that is not cacheable makes the transaction UPBUF_NO_CACHE;
 * 2. **pinned** — the range lies in one ordinary mapping: pin its pages (`pin_user_pages`) and
 *    keep them only if they are physically contiguous;
 * 3. **shadow** — otherwise (scattered pages, a range across mappings, or memory the device
 *    cannot reach): UPBUF_NO_SHADOW fails with EINVAL; else a bounce buffer is allocated from
 *    the PMM pools (any type, lowest bit first; for a device, one it can reach) and the data
 *    moves by CPU copies through the cache at sync time.
 *
 * Then per job: `upbufSync(buf, UPBUF_PREPARE_*)` → DMA → `upbufSync(buf, UPBUF_FINISH_TO_USER)`,
 * and finally `upbufEnd` (the RFC's `upbuf_release`).
 *
 * @module
 */
import {
  type Device,
  defineSlot,
  hex,
  type Kernel,
  KernelBug,
  KernelError,
  PAGE_SIZE,
  type Tracepoint,
} from "@umm/kernel-core";
import type { Process } from "@umm/kernel-process";
import {
  type AddressSpace,
  isCacheable,
  PROT_WRITE,
  pinUserPages,
  RunList,
  type UserPages,
  type Vma,
  type VmaFileRef,
} from "@umm/mm-core";
import { allocArea, areaPut, cpuFor } from "./core.js";
import type { PmmArea, PmmState } from "./state.js";
import { tryPmmState } from "./state.js";
import "./trace.js";
import {
  PMM_MEM_ANY,
  UPBUF_ANY,
  UPBUF_DIRECTIONS,
  UPBUF_FINISH_TO_USER,
  UPBUF_MAP_KERNEL,
  UPBUF_MAP_KERNEL_DONE,
  UPBUF_NO_CACHE,
  UPBUF_NO_SHADOW,
  UPBUF_PREPARE_FROM_USER,
  UPBUF_PREPARE_MODIFY_USER,
  UPBUF_PREPARE_TO_USER,
  UPBUF_USER_FLAGS,
  type UpbufMode,
} from "./types.js";

interface UpbufLayer {
  readonly kernel: Kernel;
  readonly live: Set<Upbuf>;
  readonly tp: {
    readonly prepare: Tracepoint<"upbuf_prepare">;
    readonly release: Tracepoint<"upbuf_release">;
    readonly sync: Tracepoint<"upbuf_sync">;
    readonly warn: Tracepoint<"pmm_warn">;
  };
}

const UPBUF = defineSlot<UpbufLayer>("upbuf");

function layer(kernel: Kernel): UpbufLayer {
  const have = kernel.trySlot(UPBUF);
  if (have) return have;
  const t = kernel.trace;
  const l: UpbufLayer = {
    kernel,
    live: new Set(),
    tp: {
      prepare: t.tracepoint("upbuf_prepare"),
      release: t.tracepoint("upbuf_release"),
      sync: t.tracepoint("upbuf_sync"),
      warn: t.tracepoint("pmm_warn"),
    },
  };
  kernel.setSlot(UPBUF, l);
  kernel.onShutdown("upbuf", () => {
    for (const b of l.live) {
      if (l.tp.warn.enabled) {
        l.tp.warn.emit({
          message: `leak: ${b.mode} transaction of pid ${b.pid} over [${hex(b.uaddr)}, +${hex(b.size)}) (paddr ${hex(b.paddr)}) never ended`,
        });
      }
    }
  });
  return l;
}

/** `struct upbuf_private`: how the transaction holds the memory. */
interface UpbufPriv {
  readonly layer: UpbufLayer;
  readonly proc: Process;
  readonly space: AddressSpace;
  /** pfnmap: the file reference taken (the transaction lock) */
  readonly file: VmaFileRef | null;
  /** pinned: the pinned pages */
  readonly pages: UserPages | null;
  /** shadow: the bounce area and the PMM state it came from */
  readonly shadow: { readonly st: PmmState; readonly area: PmmArea } | null;
  /** kernel address of the vmap made for UPBUF_MAP_KERNEL (0: none) */
  readonly vmapped: number;
}

/**
 * `struct upbuf`: one transaction. `paddr` is the physical address of the first byte (for a
 * shadow, of the bounce copy), `daddr` the bus address the device must be given (`paddr` less
 * its `dmaPfnOffset`), `vaddr` the kernel address with UPBUF_MAP_KERNEL (else 0). Every field
 * reads 0 once the transaction ended (the RFC zeroes the struct).
 */
export class Upbuf {
  #size: number;
  #paddr: number;
  #daddr: number;
  #vaddr: number;
  #flags: number;
  #priv: UpbufPriv | null;
  /** how the memory is reached */
  readonly mode: UpbufMode;
  /** the user address and the owning process's pid */
  readonly uaddr: number;
  readonly pid: number;
  /** the device the transaction was prepared for, or null */
  readonly dev: Device | null;

  /** @internal use `upbufBegin` */
  constructor(
    init: {
      size: number;
      paddr: number;
      daddr: number;
      vaddr: number;
      flags: number;
      mode: UpbufMode;
      uaddr: number;
      dev: Device | null;
    },
    priv: UpbufPriv,
  ) {
    this.#size = init.size;
    this.#paddr = init.paddr;
    this.#daddr = init.daddr;
    this.#vaddr = init.vaddr;
    this.#flags = init.flags;
    this.mode = init.mode;
    this.uaddr = init.uaddr;
    this.pid = priv.proc.pid;
    this.dev = init.dev;
    this.#priv = priv;
  }

  /** Bytes of the transaction (0 once ended). */
  get size(): number {
    return this.#size;
  }

  /** Physical address of the first byte (0 once ended). */
  get paddr(): number {
    return this.#paddr;
  }

  /** Bus address of the first byte for `dev` (`paddr` without a device; 0 once ended). */
  get daddr(): number {
    return this.#daddr;
  }

  /** Kernel virtual address with UPBUF_MAP_KERNEL, else 0. */
  get vaddr(): number {
    return this.#vaddr;
  }

  /** UPBUF_* flags: the caller's, plus UPBUF_NO_CACHE and UPBUF_MAP_KERNEL_DONE as they apply. */
  get flags(): number {
    return this.#flags;
  }

  /** True once `upbufEnd` ran. */
  get released(): boolean {
    return this.#priv === null;
  }

  /** @internal */
  _priv(what: string): UpbufPriv {
    if (!this.#priv) throw new KernelError("EINVAL", `${what}: the transaction has ended`);
    return this.#priv;
  }

  /** @internal ends the transaction's fields (`memset(buf, 0)`) */
  _zero(): UpbufPriv {
    const p = this.#priv;
    if (!p) throw new KernelBug(`upbuf_release: transaction of ${hex(this.uaddr)} released twice`);
    this.#priv = null;
    this.#size = 0;
    this.#paddr = 0;
    this.#daddr = 0;
    this.#vaddr = 0;
    this.#flags = 0;
    return p;
  }
}

/** True when `dev` can reach `[paddr, paddr + size)` as one DMA segment. */
function reachable(dev: Device | null, paddr: number, size: number): boolean {
  if (!dev) return true;
  const bus = paddr - dev.dmaPfnOffset * PAGE_SIZE;
  const mask = dev.dmaMask;
  if (mask === null || bus < 0 || bus + size - 1 > mask) return false;
  const b = dev.dmaParms.segmentBoundaryMask + 1;
  return Math.floor(bus / b) === Math.floor((bus + size - 1) / b);
}

/** EFAULT unless every byte of `[uaddr, uaddr + size)` is mapped; the first VMA. */
function mappedRange(space: AddressSpace, uaddr: number, size: number): Vma {
  const first = space.findVma(uaddr);
  if (!first) throw new KernelError("EFAULT", `upbuf_prepare: ${hex(uaddr)} is not mapped in ${space.name}`);
  let p = first.end;
  while (p < uaddr + size) {
    const v = space.findVma(p);
    if (!v) throw new KernelError("EFAULT", `upbuf_prepare: ${hex(p)} is not mapped in ${space.name}`);
    p = v.end;
  }
  return first;
}

function pinContiguous(space: AddressSpace, vma: Vma, uaddr: number, size: number): UserPages | null {
  let pages: UserPages;
  try {
    pages = pinUserPages(space, uaddr, size, { write: (vma.prot & PROT_WRITE) !== 0 });
  } catch (e) {
    if (e instanceof KernelError && e.errno === "EFAULT") return null;
    throw e;
  }
  if (pages.contiguous()) return pages;
  pages.release();
  return null;
}

/**
 * `upbuf_prepare(buf, uaddr, size, flags)` for a device `dev` (optional): begins a transaction
 * over `[uaddr, uaddr + size)` of process `proc` (see the module doc for the three ways). With a
 * device, memory it cannot reach — bus address (phys − `dmaPfnOffset` × 4 KiB) beyond its DMA
 * mask, or a range across its segment boundary — is bounced through a shadow from a pool type
 * it can reach. `flags`: UPBUF_NO_SHADOW, UPBUF_MAP_KERNEL. Errors: ESRCH for a dead process;
 * EINVAL for a size that is not positive, unknown flags, a device without a DMA mask, or
 * UPBUF_NO_SHADOW when only a shadow would do; EFAULT when part of the range is unmapped;
 * ENOMEM when no pool has room for the shadow (or no PMM) or the kernel mapping fails. Nothing
 * is held when it throws.
 */
export function upbufBegin(
  proc: Process,
  uaddr: number,
  size: number,
  flags: number = UPBUF_ANY,
  dev: Device | null = null,
): Upbuf {
  const what = "upbuf_prepare";
  if (proc.state !== "running") throw new KernelError("ESRCH", `${what}: pid ${proc.pid} has exited`);
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new KernelError("EINVAL", `${what}: size ${size} must be a positive number of bytes`);
  }
  if (!Number.isSafeInteger(uaddr) || uaddr < 0) {
    throw new KernelError("EFAULT", `${what}: ${String(uaddr)} is not a user address`);
  }
  if (!Number.isInteger(flags) || (flags & ~UPBUF_USER_FLAGS) !== 0) {
    throw new KernelError("EINVAL", `${what}: flags ${hex(flags)} has bits other than NO_SHADOW|MAP_KERNEL`);
  }
  if (dev && dev.dmaMask === null)
    throw new KernelError("EINVAL", `${what}: device ${dev.name} has no DMA mask`);
  const kernel = proc.kernel;
  const l = layer(kernel);
  const space = proc.space;
  return kernel.withCurrent(proc, () => {
    const first = mappedRange(space, uaddr, size);
    const oneVma = uaddr + size <= first.end;
    const offset = uaddr % PAGE_SIZE;
    let why: string;
    let mode: UpbufMode | null = null;
    let paddr = 0;
    let file: VmaFileRef | null = null;
    let pages: UserPages | null = null;
    let noCache = false;
    if (!oneVma) why = "the range spans several mappings";
    else if (first.pfnmap && first.file) {
      paddr = first.basePfn * PAGE_SIZE + (uaddr - first.start);
      if (reachable(dev, paddr, size)) {
        first.file.get();
        file = first.file;
        mode = "pfnmap";
        noCache = !isCacheable(first.memtype);
      }
      why = `${dev?.name} cannot reach [${hex(paddr)}, +${hex(size)})`;
    } else {
      pages = pinContiguous(space, first, uaddr, size);
      why = first.pfnmap ? "a VM_PFNMAP mapping without a file" : "the pages are not physically contiguous";
      if (pages) {
        paddr = pages.pfns[0]! * PAGE_SIZE + offset;
        if (reachable(dev, paddr, size)) {
          mode = "pinned";
          noCache = !isCacheable(first.memtype);
        } else {
          why = `${dev?.name} cannot reach [${hex(paddr)}, +${hex(size)})`;
          pages.release();
          pages = null;
        }
      }
    }
    let shadow: UpbufPriv["shadow"] = null;
    if (mode === null) {
      if (flags & UPBUF_NO_SHADOW) {
        throw new KernelError(
          "EINVAL",
          `${what}: [${hex(uaddr)}, +${hex(size)}): ${why}, and UPBUF_NO_SHADOW`,
        );
      }
      const st = tryPmmState(kernel);
      const area =
        st?.initialised === true
          ? allocArea(st, offset + size, PMM_MEM_ANY, 0, 0, {
              owner: `upbuf:shadow:${proc.comm}`,
              requested: offset + size,
              ...(dev ? { accept: (s: number) => reachable(dev, s + offset, size) } : {}),
            })
          : null;
      if (!st || !area) {
        throw new KernelError(
          "ENOMEM",
          `${what}: [${hex(uaddr)}, +${hex(size)}): ${why}, and no PMM pool${dev ? ` ${dev.name} can reach` : ""} has ${hex(offset + size)} bytes for a shadow`,
        );
      }
      shadow = { st, area };
      paddr = area.start + offset;
      mode = "shadow";
    }
    let vaddr = 0;
    let vmapped = 0;
    let outFlags = flags | (noCache ? UPBUF_NO_CACHE : 0);
    if (flags & UPBUF_MAP_KERNEL) {
      const ks = space.mm.kspace;
      if (mode === "shadow") vaddr = ks.physToVirt(paddr);
      else {
        const first4k = Math.floor(paddr / PAGE_SIZE);
        const n = Math.floor((paddr + size - 1) / PAGE_SIZE) - first4k + 1;
        const pfns = Array.from({ length: n }, (_, k) => first4k + k);
        try {
          vmapped = ks.vmap(pfns, noCache ? first.memtypeName : "cacheable", `upbuf:${proc.comm}`);
        } catch (e) {
          file?.put();
          pages?.release();
          throw e;
        }
        vaddr = vmapped + offset;
        outFlags |= UPBUF_MAP_KERNEL_DONE;
      }
    }
    const buf = new Upbuf(
      {
        size,
        paddr,
        daddr: dev ? paddr - dev.dmaPfnOffset * PAGE_SIZE : paddr,
        vaddr,
        flags: outFlags,
        mode,
        uaddr,
        dev,
      },
      { layer: l, proc, space, file, pages, shadow, vmapped },
    );
    l.live.add(buf);
    if (l.tp.prepare.enabled) l.tp.prepare.emit({ pid: proc.pid, uaddr, size, mode, paddr });
    return buf;
  });
}

const scratch = new RunList();

/** Copies `len` bytes between two virtual ranges: through the CPU when there is one. */
function vcopy(
  kernel: Kernel,
  dst: AddressSpace,
  dva: number,
  src: AddressSpace,
  sva: number,
  len: number,
): void {
  const cpu = cpuFor(kernel);
  if (cpu) {
    cpu.copy(dst, dva, src, sva, len);
    return;
  }
  const phys = dst.mm.phys;
  const bytes = new Uint8Array(len);
  const d = new RunList();
  dst.translateRange(dva, len, true, d); // both translated before a byte moves
  src.translateRange(sva, len, false, scratch);
  let off = 0;
  for (let i = 0; i < scratch.count; i++) {
    phys.read(scratch.paddr[i]!, bytes, off, scratch.len[i]!);
    off += scratch.len[i]!;
  }
  off = 0;
  for (let i = 0; i < d.count; i++) {
    phys.write(d.paddr[i]!, bytes, off, d.len[i]!);
    off += d.len[i]!;
  }
}

/**
 * `upbuf_sync_range(buf, dir, offset, size)`: cache maintenance (and, for a shadow, copying)
 * for `[offset, offset + size)` of the transaction before (`UPBUF_PREPARE_*`) or after
 * (`UPBUF_FINISH_TO_USER`) a device transfer; `offset == 0 && size == 0` means the whole
 * buffer. Direct transactions: FROM_USER cleans, TO_USER invalidates, MODIFY cleans and
 * invalidates, FINISH_TO_USER marks the pinned pages dirty (umm has no page-cache writeback, so
 * only the trace shows it). Shadow: FROM_USER and MODIFY copy from the user then flush the
 * shadow, TO_USER invalidates it, FINISH_TO_USER copies to the user. UPBUF_NO_CACHE
 * transactions do nothing. EINVAL for an unknown direction, a range outside the buffer or an
 * ended transaction; EFAULT when a shadow copy meets user memory that is gone or not
 * permitted (nothing moves).
 */
export function upbufSyncRange(buf: Upbuf, dir: number, offset: number, size: number): void {
  const what = "upbuf_sync";
  const p = buf._priv(what);
  if (!Number.isInteger(dir) || dir < UPBUF_PREPARE_FROM_USER || dir > UPBUF_FINISH_TO_USER) {
    throw new KernelError("EINVAL", `${what}: unknown direction ${dir}`);
  }
  const off = offset;
  let len = size;
  if (off === 0 && len === 0) len = buf.size;
  else if (
    !Number.isSafeInteger(off) ||
    !Number.isSafeInteger(len) ||
    off < 0 ||
    len <= 0 ||
    off + len > buf.size
  ) {
    throw new KernelError(
      "EINVAL",
      `${what}: [${hex(Number(offset))}, +${hex(Number(size))}) is outside the ${hex(buf.size)}-byte buffer`,
    );
  }
  const l = p.layer;
  const pa = buf.paddr + off;
  const noop = (buf.flags & UPBUF_NO_CACHE) !== 0;
  if (l.tp.sync.enabled) {
    l.tp.sync.emit({ dir: UPBUF_DIRECTIONS[dir]!, mode: buf.mode, paddr: pa, size: len, noop });
  }
  if (noop) return;
  const kernel = l.kernel;
  const cpu = cpuFor(kernel);
  if (p.shadow) {
    const ks = p.space.mm.kspace;
    const kva = ks.physToVirt(pa);
    const uva = buf.uaddr + off;
    if (dir === UPBUF_PREPARE_FROM_USER || dir === UPBUF_PREPARE_MODIFY_USER) {
      if (p.space.destroyed) throw new KernelError("EFAULT", `${what}: pid ${buf.pid}'s memory is gone`);
      kernel.withCurrent(p.proc, () => vcopy(kernel, ks, kva, p.space, uva, len));
      cpu?.flushPhys(pa, len);
    } else if (dir === UPBUF_PREPARE_TO_USER) {
      cpu?.invalidatePhys(pa, len);
    } else {
      if (p.space.destroyed) throw new KernelError("EFAULT", `${what}: pid ${buf.pid}'s memory is gone`);
      kernel.withCurrent(p.proc, () => vcopy(kernel, p.space, uva, ks, kva, len));
    }
    return;
  }
  if (dir === UPBUF_PREPARE_FROM_USER) cpu?.cleanPhys(pa, len);
  else if (dir === UPBUF_PREPARE_TO_USER) cpu?.invalidatePhys(pa, len);
  else if (dir === UPBUF_PREPARE_MODIFY_USER) cpu?.flushPhys(pa, len);
  // UPBUF_FINISH_TO_USER: set_page_dirty on pinned pages; nothing to maintain
}

/** `upbuf_sync(buf, dir)`: `upbufSyncRange` over the whole buffer. */
export function upbufSync(buf: Upbuf, dir: number): void {
  upbufSyncRange(buf, dir, 0, 0);
}

/**
 * `upbuf_release(buf)`: ends the transaction — unmaps the kernel mapping, then drops the file
 * reference (which may release a /dev/pmm file and free its area), unpins the pages (which may
 * free pages the process already unmapped) or frees the shadow. Every field of `buf` reads 0
 * afterwards. Ending a transaction twice is a `KernelBug`.
 */
export function upbufEnd(buf: Upbuf): void {
  const mode = buf.mode;
  const size = buf.size;
  const paddr = buf.paddr;
  const p = buf._zero();
  const l = p.layer;
  l.live.delete(buf);
  if (l.tp.release.enabled) l.tp.release.emit({ pid: buf.pid, uaddr: buf.uaddr, size, mode, paddr });
  if (p.vmapped) p.space.mm.kspace.vunmap(p.vmapped);
  if (p.file) p.file.put();
  if (p.pages) p.pages.release();
  if (p.shadow) areaPut(p.shadow.st, p.shadow.area);
}

/** Transactions not yet ended in `kernel` (reports, leak checks). */
export function upbufLive(kernel: Kernel): readonly Upbuf[] {
  const l = kernel.trySlot(UPBUF);
  return l ? [...l.live] : [];
}
