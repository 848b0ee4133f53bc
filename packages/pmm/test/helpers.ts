import {
  DMA_BIT_MASK,
  type Kernel,
  SZ_1M,
  SZ_4M,
  SZ_16M,
  type TraceEventName,
  TraceRecorder,
} from "@umm/kernel-core";
import { registerChrdev } from "@umm/kernel-process";
import { GFP_KERNEL, type Mm } from "@umm/mm-core";
import { bootPmm } from "../src/testing.js";
import {
  PMM_MAGIC,
  PMM_MEM_DMA24,
  PMM_MEM_GENERAL,
  type PmmAreaInfo,
  type PmmMemTypeDesc,
} from "../src/types.js";

export { pattern } from "@umm/kernel-core/testing";

export const DRAM = 0x40000000;
/** dma_pfn_offset that makes bus address 0 the start of DRAM */
export const RAM_PFN_OFFSET = DRAM / 4096;

/** The platform table of a board with a 24-bit DMA pool (4 MiB below 16 MiB of bus space). */
export const TYPES_24: readonly PmmMemTypeDesc[] = [
  { type: PMM_MEM_GENERAL, name: "general" },
  {
    type: PMM_MEM_DMA24,
    name: "dma24",
    size: SZ_4M,
    busLimit: DMA_BIT_MASK(24),
    boundary: SZ_16M,
    dmaPfnOffset: RAM_PFN_OFFSET,
  },
];

/** A booted 128 MiB board with `pmm=32M` and a CPU cache model. */
export function board(opts: Parameters<typeof bootPmm>[0] = {}) {
  return bootPmm({ cpu: true, ...opts });
}

/** A `pmm_area_info` request. */
export function areaInfo(size: number, o: Partial<PmmAreaInfo> = {}): PmmAreaInfo {
  return { magic: PMM_MAGIC, size, type: PMM_MEM_GENERAL, flags: 0, alignment: 0, ...o };
}

/** Records of `names` from now on. */
export function record(kernel: Kernel, names?: TraceEventName[]): TraceRecorder {
  return new TraceRecorder(kernel.trace, names ? { events: names } : {});
}

/**
 * A device node that maps driver pages (`vm_insert_pages`, not VM_PFNMAP): `scattered` pages
 * are every other page of an allocation, so one mapping of them is not physically contiguous.
 * Returns the node's path.
 */
export function pagesDevice(kernel: Kernel, mm: Mm, path: string, pages: number, scattered: boolean): string {
  const order = Math.ceil(Math.log2(scattered ? pages * 2 : pages));
  const base = mm.buddy.allocPages(order, GFP_KERNEL, { tag: path })!;
  const pfns = Array.from({ length: pages }, (_, k) => base + (scattered ? 2 * k : k));
  registerChrdev(kernel, path, {
    ops: { mmap: (_f, ctx) => ctx.setPages(pfns.slice(0, ctx.length / 4096)) },
  });
  return path;
}

export { SZ_1M };
