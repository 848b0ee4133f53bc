/**
 * swiotlb (kernel/dma/swiotlb.c): a pool of low memory reserved at boot, in 2 KiB slots grouped
 * in 128-slot segments, through which dma-direct bounces streaming mappings a device cannot reach
 * (a 24-bit ISA-style master, a 32-bit master and memory above 4 GiB) or every mapping of a device
 * when forced. A bounce is a CPU copy through the cache model (`cpu.copy` between kernel
 * addresses) followed by the bounce buffer's own cache maintenance for the device: the original
 * is copied in at every map whatever the direction (so a partial device write exposes no stale
 * data), copied back at unmap and sync for the CPU when the device may have written it (FROM_DEVICE,
 * BIDIRECTIONAL), and copied in again at sync for the device (TO_DEVICE, BIDIRECTIONAL). A full
 * pool fails the mapping (`DMA_MAPPING_ERROR` and a `swiotlb_warn`), never corrupts.
 *
 * @module
 */
import {
  alignUp,
  type Device,
  defineSlot,
  type FaultSite,
  faultSite,
  hex,
  type Kernel,
  KernelError,
  PAGE_SIZE,
  type Tracepoint,
} from "@umm/kernel-core";
import { type Mm, mmOf } from "@umm/mm-core";
import { archSyncDmaForCpu, archSyncDmaForDevice, cpuOrNull, dmaCapable, physToDma } from "./arch.js";
import {
  DMA_ATTR_NO_WARN,
  DMA_ATTR_SKIP_CPU_SYNC,
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  type DmaDataDirection,
  IO_TLB_DEFAULT_SIZE,
  IO_TLB_SEGSIZE,
  IO_TLB_SIZE,
} from "./types.js";
import "./trace.js";

/** Options of `swiotlbInit`. */
export interface SwiotlbOpts {
  /** bytes of bounce pool, rounded up to whole 256 KiB segments (default 64 MiB) */
  readonly size?: number;
  /** the pool must end at or below this physical address (e.g. start of RAM + 16 MiB) */
  readonly belowPhys?: number;
  /** `swiotlb=force`: every streaming mapping of a direct device bounces */
  readonly force?: boolean;
}

/** swiotlb's debugfs counters (`/sys/kernel/debug/swiotlb/`). */
export interface SwiotlbStats {
  /** slots in the pool */
  readonly io_tlb_nslabs: number;
  /** slots in use */
  readonly io_tlb_used: number;
  /** most slots ever in use at once */
  readonly io_tlb_used_hiwater: number;
}

const INVALID = -1;

interface Pool {
  readonly kernel: Kernel;
  readonly mm: Mm;
  /** physical start and end of the pool */
  readonly start: number;
  readonly end: number;
  readonly nslabs: number;
  readonly force: boolean;
  /** per slot: the original physical address it bounces, or INVALID */
  readonly origAddr: Float64Array;
  /** per slot: bytes of the allocation from this slot on */
  readonly allocSize: Float64Array;
  /** per slot: free slots from here to the end of the segment (0: in use) */
  readonly list: Int32Array;
  /** per slot: 1 for the first slot of an allocation */
  readonly head: Uint8Array;
  index: number;
  used: number;
  hiwater: number;
  /** the "swiotlb" fault-injection site */
  readonly fault: FaultSite;
  readonly tp: { bounced: Tracepoint<"swiotlb_bounced">; warn: Tracepoint<"swiotlb_warn"> };
}

const SWIOTLB = defineSlot<Pool>("swiotlb");

/**
 * `swiotlb_init`: reserves the bounce pool from memblock, before `mm.memblockFreeAll()`, in lowmem
 * (below `belowPhys` when given), page-aligned, bottom-up. Returns the pool's physical start.
 * EINVAL for a bad size; ENOMEM when memblock has no room there; EBUSY when the kernel has a pool
 * or boot finished (memblock retired).
 */
export function swiotlbInit(kernel: Kernel, opts: SwiotlbOpts = {}): number {
  const mm = mmOf(kernel);
  if (kernel.trySlot(SWIOTLB)) throw new KernelError("EBUSY", `swiotlb: kernel "${kernel.name}" has a pool`);
  const req = opts.size ?? IO_TLB_DEFAULT_SIZE;
  if (!Number.isSafeInteger(req) || req <= 0) throw new KernelError("EINVAL", `swiotlb: size ${String(req)}`);
  if (mm.memblock.retired) throw new KernelError("EBUSY", "swiotlb: memblock is retired (boot finished)");
  const size = alignUp(req, IO_TLB_SIZE * IO_TLB_SEGSIZE);
  const end = Math.min(opts.belowPhys ?? Number.MAX_SAFE_INTEGER, mm.kspace.lowmemEnd);
  const start = mm.memblock.alloc(size, PAGE_SIZE, { end, bottomUp: true, name: "swiotlb" });
  if (start === null) {
    throw new KernelError(
      "ENOMEM",
      `swiotlb: no ${hex(size)} bytes of lowmem below ${hex(end)} for the bounce pool`,
    );
  }
  const nslabs = size / IO_TLB_SIZE;
  const list = new Int32Array(nslabs);
  for (let i = 0; i < nslabs; i++) list[i] = IO_TLB_SEGSIZE - (i % IO_TLB_SEGSIZE);
  const pool: Pool = {
    kernel,
    mm,
    start,
    end: start + size,
    nslabs,
    force: opts.force ?? false,
    origAddr: new Float64Array(nslabs).fill(INVALID),
    allocSize: new Float64Array(nslabs),
    list,
    head: new Uint8Array(nslabs),
    index: 0,
    used: 0,
    hiwater: 0,
    fault: faultSite(kernel, "swiotlb"),
    tp: {
      bounced: kernel.trace.tracepoint("swiotlb_bounced"),
      warn: kernel.trace.tracepoint("swiotlb_warn"),
    },
  };
  kernel.setSlot(SWIOTLB, pool);
  return start;
}

/** The pool of `kernel`, or undefined. @internal */
export function swiotlbPool(kernel: Kernel): Pool | undefined {
  return kernel.trySlot(SWIOTLB);
}

/** `is_swiotlb_active`: whether `dev`'s kernel has a bounce pool. */
export function isSwiotlbActive(dev: Device): boolean {
  return swiotlbPool(dev.kernel) !== undefined;
}

/** `is_swiotlb_force_bounce`: whether every streaming mapping of a direct device bounces. */
export function isSwiotlbForceBounce(dev: Device): boolean {
  return swiotlbPool(dev.kernel)?.force ?? false;
}

/** `is_swiotlb_buffer`: whether physical address `paddr` lies in the bounce pool. */
export function isSwiotlbBuffer(dev: Device, paddr: number): boolean {
  const p = swiotlbPool(dev.kernel);
  return p !== undefined && paddr >= p.start && paddr < p.end;
}

/** `swiotlb_max_mapping_size`: 128 slots of 2 KiB = 256 KiB. */
export function swiotlbMaxMappingSize(_dev: Device): number {
  return IO_TLB_SIZE * IO_TLB_SEGSIZE;
}

/** The debugfs counters of `kernel`'s pool (all 0 without one). */
export function swiotlbStats(kernel: Kernel): SwiotlbStats {
  const p = swiotlbPool(kernel);
  return {
    io_tlb_nslabs: p?.nslabs ?? 0,
    io_tlb_used: p?.used ?? 0,
    io_tlb_used_hiwater: p?.hiwater ?? 0,
  };
}

/** The pool's physical range, or null. */
export function swiotlbRange(kernel: Kernel): { start: number; end: number } | null {
  const p = swiotlbPool(kernel);
  return p ? { start: p.start, end: p.end } : null;
}

function warn(p: Pool, dev: Device, message: string): void {
  if (p.tp.warn.enabled) p.tp.warn.emit({ device: dev.name, message });
}

const nrSlots = (size: number): number => Math.ceil(size / IO_TLB_SIZE);

/** `swiotlb_search_pool_area`: the first slot of a free run, or -1. */
function findSlots(p: Pool, dev: Device, origAddr: number, allocSize: number): number {
  if (p.fault.armed && p.fault.shouldFail()) return -1;
  const boundaryMask = dev.dmaParms.segmentBoundaryMask || 0xffffffff;
  const tblDmaAddr = physToDma(dev, p.start) % (boundaryMask + 1);
  const maxSlots = (boundaryMask + 1) / IO_TLB_SIZE;
  // allocations of a page or more keep the original's bit 11 (page-aligned when it is)
  const alignMask = allocSize >= PAGE_SIZE ? PAGE_SIZE - IO_TLB_SIZE : 0;
  const stride = alignMask ? 2 : 1;
  const nslots = nrSlots(allocSize);
  if (nslots > IO_TLB_SEGSIZE) return -1;
  const shift = Math.floor(tblDmaAddr / IO_TLB_SIZE);
  let index = p.index >= p.nslabs ? 0 : p.index;
  let i = 0;
  while (i < p.nslabs) {
    const slot = index;
    const slotAddr = tblDmaAddr + slot * IO_TLB_SIZE;
    if (alignMask && (slotAddr & alignMask) !== (origAddr & alignMask)) {
      index = index + 1 >= p.nslabs ? 0 : index + 1;
      i++;
      continue;
    }
    const off = (shift + slot) % maxSlots;
    const spansBoundary = off + nslots > maxSlots;
    if (!spansBoundary && p.list[slot]! >= nslots) {
      for (let k = slot; k < slot + nslots; k++) {
        p.list[k] = 0;
        p.allocSize[k] = allocSize - (k - slot) * IO_TLB_SIZE;
      }
      let count = 0;
      for (let k = slot - 1; k >= 0 && k % IO_TLB_SEGSIZE !== IO_TLB_SEGSIZE - 1 && p.list[k]! > 0; k--) {
        p.list[k] = ++count;
      }
      p.head[slot] = 1;
      p.index = slot + nslots >= p.nslabs ? 0 : slot + nslots;
      p.used += nslots;
      if (p.used > p.hiwater) p.hiwater = p.used;
      return slot;
    }
    index = index + stride >= p.nslabs ? 0 : index + stride;
    i += stride;
  }
  return -1;
}

function releaseSlots(p: Pool, index: number): void {
  const nslots = nrSlots(p.allocSize[index]!);
  const segEnd = (Math.floor(index / IO_TLB_SEGSIZE) + 1) * IO_TLB_SEGSIZE;
  let count = index + nslots < segEnd ? p.list[index + nslots]! : 0;
  for (let k = index + nslots - 1; k >= index; k--) {
    p.list[k] = ++count;
    p.origAddr[k] = INVALID;
    p.allocSize[k] = 0;
  }
  p.head[index] = 0;
  for (let k = index - 1; k >= 0 && k % IO_TLB_SEGSIZE !== IO_TLB_SEGSIZE - 1 && p.list[k]! > 0; k--) {
    p.list[k] = ++count;
  }
  p.used -= nslots;
}

/** A kernel address for `len` bytes of physical memory at `pa`, and how to let it go. */
function kaddrOf(mm: Mm, pa: number, len: number): { va: number; done: () => void } {
  const k = mm.kspace;
  if (pa + len <= k.lowmemEnd) return { va: k.physToVirt(pa), done: () => {} };
  // highmem: kmap the pages for the copy
  const first = Math.floor(pa / PAGE_SIZE);
  const last = Math.floor((pa + len - 1) / PAGE_SIZE);
  const pfns = Int32Array.from({ length: last - first + 1 }, (_, i) => first + i);
  const base = k.vmap(pfns, "cacheable", "kmap:swiotlb");
  return { va: base + (pa - first * PAGE_SIZE), done: () => k.vunmap(base) };
}

/** `swiotlb_bounce`: copies between the original and the bounce buffer at `tlbAddr`. */
function bounce(p: Pool, dev: Device, tlbAddr: number, size: number, toDevice: boolean): void {
  const index = Math.floor((tlbAddr - p.start) / IO_TLB_SIZE);
  let orig = p.origAddr[index]!;
  let allocSize = p.allocSize[index]!;
  if (orig === INVALID) return;
  const tlbOffset = tlbAddr % IO_TLB_SIZE;
  orig += tlbOffset;
  allocSize -= tlbOffset;
  if (size > allocSize) {
    warn(p, dev, `Buffer overflow detected. Allocation size: ${allocSize}. Mapping size: ${size}.`);
    size = allocSize;
  }
  if (size <= 0) return;
  const mm = p.mm;
  const cpu = cpuOrNull(mm);
  if (!cpu) {
    if (toDevice) mm.phys.copy(tlbAddr, orig, size);
    else mm.phys.copy(orig, tlbAddr, size);
    return;
  }
  const o = kaddrOf(mm, orig, size);
  try {
    const t = mm.kspace.physToVirt(tlbAddr);
    if (toDevice) cpu.copy(mm.kspace, t, mm.kspace, o.va, size);
    else cpu.copy(mm.kspace, o.va, mm.kspace, t, size);
  } finally {
    o.done();
  }
}

/**
 * `swiotlb_map`: bounces `[paddr, paddr + size)` for `dev`: slots found (honouring the device's
 * segment boundary), the original copied in, the bounce address checked against the mask, the
 * bounce buffer's cache maintained for the device. Returns the bus address, or
 * `DMA_MAPPING_ERROR` (and a `swiotlb_warn`) when no pool, no room or no reachable slot.
 * @internal
 */
export function swiotlbMap(
  dev: Device,
  paddr: number,
  size: number,
  dir: DmaDataDirection,
  attrs: number,
): number {
  const p = swiotlbPool(dev.kernel);
  if (!p) return DMA_MAPPING_ERROR;
  if (p.tp.bounced.enabled) {
    p.tp.bounced.emit({
      dev_name: dev.name,
      dma_mask: dev.dmaMask ?? 0,
      dev_addr: physToDma(dev, paddr),
      size,
      force: p.force,
    });
  }
  if (nrSlots(size) > IO_TLB_SEGSIZE) {
    if (!(attrs & DMA_ATTR_NO_WARN)) {
      warn(
        p,
        dev,
        `swiotlb: mapping of ${size} bytes exceeds swiotlb_max_mapping_size ${IO_TLB_SIZE * IO_TLB_SEGSIZE}`,
      );
    }
    return DMA_MAPPING_ERROR;
  }
  const index = findSlots(p, dev, paddr, size);
  if (index < 0) {
    if (!(attrs & DMA_ATTR_NO_WARN)) {
      warn(
        p,
        dev,
        `swiotlb buffer is full (sz: ${size} bytes), total ${p.nslabs} (slots), used ${p.used} (slots)`,
      );
    }
    return DMA_MAPPING_ERROR;
  }
  const n = nrSlots(size);
  for (let k = 0; k < n; k++) p.origAddr[index + k] = paddr + k * IO_TLB_SIZE;
  const tlbAddr = p.start + index * IO_TLB_SIZE;
  bounce(p, dev, tlbAddr, size, true);
  const daddr = physToDma(dev, tlbAddr);
  if (!dmaCapable(dev, daddr, size)) {
    releaseSlots(p, index);
    warn(
      p,
      dev,
      `swiotlb addr ${hex(Math.max(daddr, 0))}+${size} overflow (mask ${hex(dev.dmaMask ?? 0)}, bus limit 0).`,
    );
    return DMA_MAPPING_ERROR;
  }
  if (!dev.dmaCoherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC))
    archSyncDmaForDevice(dev.kernel, tlbAddr, size, dir);
  return daddr;
}

/** EINVAL unless `tlbAddr` lies in a live bounce buffer (and starts it, for an unmap). */
function checkLive(p: Pool, dev: Device, tlbAddr: number, what: string, head: boolean): number {
  const index = Math.floor((tlbAddr - p.start) / IO_TLB_SIZE);
  if (p.origAddr[index] === INVALID || (head && (!p.head[index] || tlbAddr % IO_TLB_SIZE !== 0))) {
    throw new KernelError(
      "EINVAL",
      `${what}(${dev.name}): ${hex(tlbAddr)} is not ${head ? "the start of " : "in "}a live swiotlb bounce buffer`,
    );
  }
  return index;
}

/**
 * `swiotlb_tbl_unmap_single` after dma-direct's sync for the CPU: copies back for FROM_DEVICE /
 * BIDIRECTIONAL (unless SKIP_CPU_SYNC) and frees the slots. EINVAL when `tlbAddr` does not start a
 * live bounce buffer. @internal
 */
export function swiotlbUnmap(
  dev: Device,
  tlbAddr: number,
  size: number,
  dir: DmaDataDirection,
  attrs: number,
): void {
  const p = swiotlbPool(dev.kernel)!;
  const index = checkLive(p, dev, tlbAddr, "swiotlb_tbl_unmap_single", true);
  if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC)) {
    if (!dev.dmaCoherent) archSyncDmaForCpu(dev.kernel, tlbAddr, size, dir);
    if (dir === DMA_FROM_DEVICE || dir === DMA_BIDIRECTIONAL) bounce(p, dev, tlbAddr, size, false);
  }
  releaseSlots(p, index);
}

/**
 * dma-direct's sync for the CPU of a bounce buffer: the architecture's maintenance of the bounce
 * buffer, then `swiotlb_sync_single_for_cpu` copies it back for FROM_DEVICE / BIDIRECTIONAL.
 * EINVAL outside a live bounce buffer (nothing done). @internal
 */
export function swiotlbSyncForCpu(dev: Device, tlbAddr: number, size: number, dir: DmaDataDirection): void {
  const p = swiotlbPool(dev.kernel)!;
  checkLive(p, dev, tlbAddr, "swiotlb_sync_single_for_cpu", false);
  if (!dev.dmaCoherent) archSyncDmaForCpu(dev.kernel, tlbAddr, size, dir);
  if (dir === DMA_FROM_DEVICE || dir === DMA_BIDIRECTIONAL) bounce(p, dev, tlbAddr, size, false);
}

/**
 * dma-direct's sync for the device of a bounce buffer: `swiotlb_sync_single_for_device` copies the
 * original in for TO_DEVICE / BIDIRECTIONAL, then the architecture maintains the bounce buffer.
 * EINVAL outside a live bounce buffer (nothing done). @internal
 */
export function swiotlbSyncForDevice(
  dev: Device,
  tlbAddr: number,
  size: number,
  dir: DmaDataDirection,
): void {
  const p = swiotlbPool(dev.kernel)!;
  checkLive(p, dev, tlbAddr, "swiotlb_sync_single_for_device", false);
  if (dir === DMA_TO_DEVICE || dir === DMA_BIDIRECTIONAL) bounce(p, dev, tlbAddr, size, true);
  if (!dev.dmaCoherent) archSyncDmaForDevice(dev.kernel, tlbAddr, size, dir);
}
