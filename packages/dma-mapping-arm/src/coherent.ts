/**
 * Per-device coherent pools (kernel/dma/coherent.c): memory a board set aside for one device —
 * typically a device-tree `shared-dma-pool` node with `no-map`, which is outside the linear map
 * — mapped once write-combining (`memremap(MEMREMAP_WC)`) and carved into naturally aligned
 * power-of-two page blocks (`bitmap_find_free_region`). `dmaAllocAttrs` tries the device's pool
 * first and takes its answer, even an empty one.
 *
 * @module
 */
import { type Device, getOrder, hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import type { MmapContext } from "@umm/kernel-process";
import type { ReservedMem } from "@umm/mm-cma";
import { bitmapClear, bitmapFindNextZeroArea, bitmapSet, bitmapWeight } from "@umm/mm-cma";
import { PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { physToDma } from "./arch.js";
import { type DmaState, devDma, dmaState } from "./state.js";

/** A device's coherent pool (`struct dma_coherent_mem`). */
export interface DmaCoherentMem {
  /** the device it serves */
  readonly dev: Device;
  /** kernel address of the pool's write-combining mapping (`virt_base`) */
  readonly virtBase: number;
  /** bus address of the first byte (`device_base`) */
  readonly deviceBase: number;
  /** first page frame (`pfn_base`) */
  readonly pfnBase: number;
  /** pages */
  readonly pages: number;
  /** allocated pages (bitmap weight) */
  readonly used: number;
}

interface PoolImpl extends DmaCoherentMem {
  readonly bitmap: Uint32Array;
  /** live allocations: first page → order */
  readonly live: Map<number, number>;
}

function checkPoolRange(st: DmaState, dev: Device, paddr: number, size: number): void {
  const what = `dma_declare_coherent_memory(${dev.name})`;
  if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE) {
    throw new KernelError("EINVAL", `${what}: size ${hex(size)} is not a positive multiple of a page`);
  }
  if (!Number.isSafeInteger(paddr) || paddr < 0 || paddr % PAGE_SIZE) {
    throw new KernelError("EINVAL", `${what}: paddr ${hex(paddr)} is not page-aligned`);
  }
  if (!st.mm.phys.isRam(paddr, size)) {
    throw new KernelError("EINVAL", `${what}: [${hex(paddr)}, +${hex(size)}) is not RAM`);
  }
  const k = st.mm.kspace;
  for (let p = paddr / PAGE_SIZE; p < (paddr + size) / PAGE_SIZE; p++) {
    if (k.linearMemtype(p) !== undefined) {
      throw new KernelError(
        "EINVAL",
        `${what}: pfn ${hex(p)} is in the kernel linear map; ARM can only remap no-map memory ("regions without no-map are not yet supported")`,
      );
    }
  }
}

function declare(dev: Device, paddr: number, deviceBase: number, size: number): DmaCoherentMem {
  const st = dmaState(dev.kernel);
  const d = devDma(st, dev);
  if (d.pool)
    throw new KernelError("EBUSY", `${dev.name} already has a coherent pool at ${hex(d.pool.virtBase)}`);
  checkPoolRange(st, dev, paddr, size);
  if (!Number.isSafeInteger(deviceBase) || deviceBase < 0) {
    throw new KernelError("EINVAL", `dma_declare_coherent_memory(${dev.name}): daddr ${String(deviceBase)}`);
  }
  const pages = size / PAGE_SIZE;
  const vma = st.mm.kspace.mmap({
    length: size,
    prot: PROT_READ | PROT_WRITE,
    memtype: "writecombine",
    backing: { kind: "pfn", pfn: paddr / PAGE_SIZE },
    name: `dma-coherent:${dev.name}`,
  });
  const bitmap = new Uint32Array(Math.ceil(pages / 32));
  const pool: PoolImpl = {
    dev,
    virtBase: vma.start,
    deviceBase,
    pfnBase: paddr / PAGE_SIZE,
    pages,
    bitmap,
    live: new Map(),
    get used() {
      return bitmapWeight(bitmap, pages);
    },
  };
  d.pool = pool;
  return pool;
}

/**
 * `dma_declare_coherent_memory(dev, phys_addr, device_addr, size)`: `size` bytes of memory at
 * `paddr`, seen by the device at `daddr`, become `dev`'s coherent pool, mapped write-combining in
 * the vmalloc area. The memory must be RAM outside the linear map (a `no-map` region): EINVAL
 * otherwise, or for a size or address that is not page-aligned; EBUSY when `dev` has a pool.
 */
export function dmaDeclareCoherentMemory(
  dev: Device,
  paddr: number,
  daddr: number,
  size: number,
): DmaCoherentMem {
  return declare(dev, paddr, daddr, size);
}

/**
 * `rmem_dma_device_init`: gives `dev` the coherent pool of a device-tree `shared-dma-pool` `no-map`
 * node (`ofReservedMemSetup` → kind "dma-pool"), at the bus address its `dmaPfnOffset` gives.
 * EINVAL for another kind of node; otherwise errors as `dmaDeclareCoherentMemory`.
 */
export function rmemDmaDeviceInit(dev: Device, rmem: ReservedMem): DmaCoherentMem {
  if (rmem.kind !== "dma-pool") {
    throw new KernelError("EINVAL", `reserved-memory '${rmem.name}' is a ${rmem.kind} node, not a dma pool`);
  }
  return declare(dev, rmem.base, physToDma(dev, rmem.base), rmem.size);
}

/**
 * `dma_release_coherent_memory`: `dev` gives its pool up (the mapping goes; the memory stays
 * reserved). ENOENT without a pool; EBUSY while allocations from it are live.
 */
export function dmaReleaseCoherentMemory(dev: Device): void {
  const st = dmaState(dev.kernel);
  const d = devDma(st, dev);
  const pool = d.pool as PoolImpl | null;
  if (!pool) throw new KernelError("ENOENT", `${dev.name} has no coherent pool`);
  if (pool.live.size > 0) {
    throw new KernelError(
      "EBUSY",
      `${dev.name}: ${pool.live.size} allocation(s) from the coherent pool are live`,
    );
  }
  st.mm.kspace.munmap(pool.virtBase, pool.pages * PAGE_SIZE);
  d.pool = null;
}

/** `dev_get_coherent_memory`: the device's pool, or null. */
export function devGetCoherentMemory(dev: Device): DmaCoherentMem | null {
  return dmaState(dev.kernel).devs.get(dev)?.pool ?? null;
}

/**
 * `dma_alloc_from_dev_coherent`: undefined when `dev` has no pool; else the pool's answer — a
 * zeroed block of 2^get_order(size) pages, or null when the pool has no room. @internal
 */
export function allocFromDevCoherent(
  st: DmaState,
  dev: Device,
  size: number,
): { cpuAddr: number; dmaAddr: number } | null | undefined {
  const pool = st.devs.get(dev)?.pool as PoolImpl | null | undefined;
  if (!pool) return undefined;
  const order = getOrder(size);
  const n = 2 ** order;
  const pageno = bitmapFindNextZeroArea(pool.bitmap, pool.pages, 0, n, n - 1);
  if (pageno + n > pool.pages) return null;
  bitmapSet(pool.bitmap, pageno, n);
  pool.live.set(pageno, order);
  // never cached (no linear mapping, write-combining kernel mapping): memory is written directly
  st.mm.phys.fill((pool.pfnBase + pageno) * PAGE_SIZE, 0, size);
  return { cpuAddr: pool.virtBase + pageno * PAGE_SIZE, dmaAddr: pool.deviceBase + pageno * PAGE_SIZE };
}

function poolOf(st: DmaState, dev: Device, cpuAddr: unknown, size: number): PoolImpl | null {
  const pool = st.devs.get(dev)?.pool as PoolImpl | null | undefined;
  if (!pool || typeof cpuAddr !== "number") return null;
  const end = pool.virtBase + pool.pages * PAGE_SIZE;
  return cpuAddr >= pool.virtBase && cpuAddr + Math.max(size, 1) <= end ? pool : null;
}

/**
 * `dma_release_from_dev_coherent`: false when `cpuAddr` is not in `dev`'s pool; else frees the
 * block (EINVAL when it is not the start of a live block or `size` is not its size). @internal
 */
export function releaseFromDevCoherent(st: DmaState, dev: Device, size: number, cpuAddr: unknown): boolean {
  const pool = poolOf(st, dev, cpuAddr, size);
  if (!pool) return false;
  const off = (cpuAddr as number) - pool.virtBase;
  const pageno = off / PAGE_SIZE;
  const order = pool.live.get(pageno);
  if (!Number.isInteger(pageno) || order === undefined) {
    throw new KernelError(
      "EINVAL",
      `dma_free: ${hex(cpuAddr as number)} is not a live block of ${dev.name}'s coherent pool`,
    );
  }
  if (getOrder(size) !== order) {
    throw new KernelError(
      "EINVAL",
      `dma_free: size ${hex(size)} is not the size of the block at ${hex(cpuAddr as number)} (order ${order})`,
    );
  }
  bitmapClear(pool.bitmap, pageno, 2 ** order);
  pool.live.delete(pageno);
  return true;
}

/**
 * `dma_mmap_from_dev_coherent`: false when `cpuAddr` is not in `dev`'s pool; else maps the pool
 * pages (ENXIO when the VMA does not fit the buffer). @internal
 */
export function mmapFromDevCoherent(
  st: DmaState,
  dev: Device,
  ctx: MmapContext,
  cpuAddr: unknown,
  size: number,
  memtype: "cacheable" | "uncached" | "writecombine",
): boolean {
  const pool = poolOf(st, dev, cpuAddr, size);
  if (!pool) return false;
  const start = ((cpuAddr as number) - pool.virtBase) / PAGE_SIZE;
  const count = Math.ceil(size / PAGE_SIZE);
  const userCount = ctx.length / PAGE_SIZE;
  if (ctx.pgoff >= count || userCount > count - ctx.pgoff) {
    throw new KernelError(
      "ENXIO",
      `dma_mmap: ${userCount} page(s) from pgoff ${ctx.pgoff} do not fit a ${count}-page buffer`,
    );
  }
  ctx.setMemtype(memtype);
  ctx.setPfnRange(pool.pfnBase + Math.floor(start) + ctx.pgoff);
  return true;
}
