import { createKernel, Device, DMA_BIT_MASK, type Kernel, SZ_1M } from "@umm/kernel-core";
import { type AddressSpace, DmaPort, GFP_KERNEL, type Mm, mmInit } from "@umm/mm-core";
import { type Cpu, type CpuOpts, cpuInit } from "../src/index.js";

export { pattern } from "@umm/kernel-core/testing";

/** Start of DRAM in every test. */
export const DRAM = 0x40000000;

/** A kernel with `size` bytes of DRAM at 0x40000000, booted, and its CPU. */
export function boot(opts: { cpu?: CpuOpts; size?: number; seed?: number; noMap?: [number, number] } = {}): {
  kernel: Kernel;
  mm: Mm;
  cpu: Cpu;
} {
  const kernel = createKernel({ seed: opts.seed ?? 1 });
  const mm = mmInit(kernel, { banks: [{ start: DRAM, size: opts.size ?? 16 * SZ_1M }] });
  if (opts.noMap) mm.memblockRemove(opts.noMap[0], opts.noMap[1], "carve-out");
  mm.memblockFreeAll();
  const cpu = cpuInit(kernel, opts.cpu);
  return { kernel, mm, cpu };
}

/** A device with a DMA port that sees physical memory directly. */
export function device(kernel: Kernel, mm: Mm, name: string): { dev: Device; port: DmaPort } {
  const dev = new Device(kernel, { name, dmaMask: DMA_BIT_MASK(32) });
  return { dev, port: new DmaPort(mm, dev) };
}

/** 2^order contiguous lowmem pages tagged `tag`: their P.A and their linear-map K.V. */
export function buffer(mm: Mm, order: number, tag: string): { pa: number; va: number; pfn: number } {
  const pfn = mm.buddy.allocPages(order, GFP_KERNEL, { tag });
  if (pfn === null) throw new Error("out of memory");
  const pa = pfn * 4096;
  return { pa, va: mm.kspace.physToVirt(pa), pfn };
}

/** `len` bytes of `mm.phys` at `pa` (a copy). */
export function mem(mm: Mm, pa: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  mm.phys.read(pa, out);
  return out;
}

/** What device `port` reads at `pa`. */
export function devRead(port: DmaPort, pa: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  port.read(pa, out);
  return out;
}

/** What the CPU reads at `va` of `space`. */
export function cpuRead(cpu: Cpu, va: number, len: number, space: AddressSpace = cpu.mm.kspace): Uint8Array {
  const out = new Uint8Array(len);
  cpu.read(space, va, out);
  return out;
}
