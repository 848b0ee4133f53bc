/**
 * The architecture side of DMA (arch/arm/mm/dma-mapping.c, include/linux/dma-direct.h): bus
 * addresses, `dma_capable`, ARM32's cache maintenance for streaming DMA by physical range, and the
 * helpers coherent allocations share — clearing a new buffer and giving it a kernel mapping with
 * no cacheable alias.
 *
 * @module
 */
import { type Cpu, cpuOf } from "@umm/arch-arm";
import { type Device, hex, type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { type Mm, mmOf } from "@umm/mm-core";
import { DMA_FROM_DEVICE, DMA_TO_DEVICE, type DmaDataDirection } from "./types.js";

/**
 * The kernel's CPU with its cache model, or null when the kernel has none (tests without a cache
 * model: then memory and caches agree and no maintenance is needed).
 */
export function cpuOrNull(mm: Mm): Cpu | null {
  if (!mm.hooks.cache) return null;
  try {
    return cpuOf(mm.kernel);
  } catch {
    return null;
  }
}

/** `phys_to_dma`: the bus address of `paddr` for `dev` (P.A − dmaPfnOffset pages). */
export function physToDma(dev: Device, paddr: number): number {
  return paddr - dev.dmaPfnOffset * PAGE_SIZE;
}

/** `dma_to_phys`: the physical address of bus address `daddr` for `dev`. */
export function dmaToPhys(dev: Device, daddr: number): number {
  return daddr + dev.dmaPfnOffset * PAGE_SIZE;
}

/**
 * `dma_capable(dev, addr, size)`: whether the device reaches `[daddr, daddr + size)` with its DMA
 * mask (no mask: nothing).
 */
export function dmaCapable(dev: Device, daddr: number, size: number): boolean {
  const mask = dev.dmaMask;
  if (mask === null || daddr < 0) return false;
  return daddr + Math.max(size, 1) - 1 <= mask;
}

/**
 * ARM32 `arch_sync_dma_for_device` (`__dma_page_cpu_to_dev`): before the device accesses
 * `[paddr, paddr + size)`, invalidate it when the device will write it (DMA_FROM_DEVICE), else
 * clean it (DMA_TO_DEVICE, DMA_BIDIRECTIONAL). Nothing when the kernel has no CPU model.
 */
export function archSyncDmaForDevice(
  kernel: Kernel,
  paddr: number,
  size: number,
  dir: DmaDataDirection,
): void {
  const cpu = cpuOrNull(mmOf(kernel));
  if (!cpu || size <= 0) return;
  if (dir === DMA_FROM_DEVICE) cpu.invalidatePhys(paddr, size);
  else cpu.cleanPhys(paddr, size);
}

/**
 * ARM32 `arch_sync_dma_for_cpu` (`__dma_page_dev_to_cpu`): after the device accessed the range,
 * invalidate it unless the device only read it (DMA_TO_DEVICE: nothing). Nothing without a CPU.
 */
export function archSyncDmaForCpu(kernel: Kernel, paddr: number, size: number, dir: DmaDataDirection): void {
  if (dir === DMA_TO_DEVICE || size <= 0) return;
  const cpu = cpuOrNull(mmOf(kernel));
  if (cpu) cpu.invalidatePhys(paddr, size);
}

/** EINVAL unless `[paddr, paddr + size)` is all RAM. @internal */
export function checkRam(mm: Mm, paddr: number, size: number, what: string): void {
  if (!Number.isSafeInteger(paddr) || paddr < 0 || !mm.phys.isRam(paddr, Math.max(size, 1))) {
    throw new KernelError("EINVAL", `${what}: physical range [${hex(paddr)}, +${hex(size)}) is not RAM`);
  }
}

/** Runs of consecutive pfns in `pfns`. @internal */
export function pfnRuns(pfns: ArrayLike<number>): { pfn: number; count: number }[] {
  const out: { pfn: number; count: number }[] = [];
  let i = 0;
  while (i < pfns.length) {
    let n = 1;
    while (i + n < pfns.length && pfns[i + n] === pfns[i]! + n) n++;
    out.push({ pfn: pfns[i]!, count: n });
    i += n;
  }
  return out;
}

/**
 * `__dma_clear_buffer`: zeroes new buffer pages and leaves none of their lines in the CPU cache
 * (memset, then `dmac_flush_range` + `outer_flush_range`): a flush drops whatever the previous
 * owner left, then memory is written. @internal
 */
export function clearPages(mm: Mm, runs: readonly { pfn: number; count: number }[]): void {
  const cpu = cpuOrNull(mm);
  for (const r of runs) {
    const pa = r.pfn * PAGE_SIZE;
    const len = r.count * PAGE_SIZE;
    cpu?.flushPhys(pa, len);
    mm.phys.fill(pa, 0, len);
  }
}

/** What `kernelMap` did, to be undone by `kernelUnmap`. @internal */
export interface KernelMapping {
  /** the kernel address, or null under DMA_ATTR_NO_KERNEL_MAPPING */
  readonly cpuAddr: number | null;
  readonly linearRuns: readonly { pfn: number; count: number }[];
  readonly vmapAddr: number | null;
}

/**
 * Gives new buffer pages their kernel mapping with no cacheable alias: for a non-cacheable
 * `memtype`, every lowmem run's linear-map entries are remapped to it (`__dma_remap`) — or
 * removed from the linear map when there is to be no kernel mapping — and then, when a kernel
 * address is wanted, the buffer is its linear address (one contiguous lowmem run, unless `vmap`
 * is asked) or a new vmap with `memtype` (highmem, scattered pages). The pages' lines must be out
 * of the cache already (`clearPages`). ENOMEM when the vmalloc area is full (nothing changed).
 * @internal
 */
export function kernelMap(
  mm: Mm,
  pfns: Int32Array,
  memtype: "cacheable" | "uncached" | "writecombine",
  wantVaddr: boolean,
  forceVmap: boolean,
  name: string,
): KernelMapping {
  const k = mm.kspace;
  const lowEnd = k.lowmemEnd / PAGE_SIZE;
  const runs = pfnRuns(pfns);
  const linearRuns: { pfn: number; count: number }[] = [];
  if (memtype !== "cacheable") {
    for (const r of runs) {
      const n = Math.min(r.pfn + r.count, lowEnd) - r.pfn;
      if (n > 0) linearRuns.push({ pfn: r.pfn, count: n });
    }
    for (const r of linearRuns) k.setLinearMemtype(r.pfn, r.count, wantVaddr ? memtype : null);
  }
  if (!wantVaddr) return { cpuAddr: null, linearRuns, vmapAddr: null };
  const first = runs[0]!;
  if (!forceVmap && runs.length === 1 && first.pfn + first.count <= lowEnd) {
    return { cpuAddr: k.physToVirt(first.pfn * PAGE_SIZE), linearRuns, vmapAddr: null };
  }
  let vmapAddr: number;
  try {
    vmapAddr = k.vmap(pfns, memtype, name);
  } catch (e) {
    for (const r of linearRuns) k.setLinearMemtype(r.pfn, r.count, "cacheable");
    throw e;
  }
  return { cpuAddr: vmapAddr, linearRuns, vmapAddr };
}

/** Undoes `kernelMap`: the vmap goes, then the linear map is cacheable again. @internal */
export function kernelUnmap(mm: Mm, m: Pick<KernelMapping, "linearRuns" | "vmapAddr">): void {
  if (m.vmapAddr !== null) mm.kspace.vunmap(m.vmapAddr);
  for (const r of m.linearRuns) mm.kspace.setLinearMemtype(r.pfn, r.count, "cacheable");
}
