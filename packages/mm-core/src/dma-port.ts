/**
 * DMA ports: each device's view of the bus. A device reads and writes device addresses (D.V);
 * through an IOMMU a `Translator` resolves them, otherwise they are physical addresses limited by
 * the device's DMA mask (an access beyond it, or to no RAM, is a bus error: EIO and an event).
 * Device accesses bypass the CPU cache. A faulting transfer moves no byte: the whole range is
 * translated before anything is copied. A device with a `dmaPfnOffset` (DT `dma-ranges`) sees
 * physical memory shifted: bus address + offset is the physical address.
 *
 * @module
 */
import { hex, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import type { Mm } from "./mm.js";
import type { Translator } from "./ops.js";
import { RunList } from "./runs.js";

/** The device side of a port: an id, a name and a DMA mask (a kernel-core `Device` fits). */
export interface DmaPortOwner {
  readonly id: number;
  readonly name: string;
  readonly dmaMask: number | null;
  /** `dma_pfn_offset`: without an IOMMU, bus address + offset × 4 KiB is the physical address */
  readonly dmaPfnOffset?: number;
}

/** One device's bus master interface. */
export class DmaPort {
  readonly mm: Mm;
  readonly dev: DmaPortOwner;
  /** the IOMMU in front of the device, or null for direct P.A access */
  translator: Translator | null;
  /** bytes this port read / wrote */
  bytesRead = 0;
  bytesWritten = 0;
  readonly #runs = new RunList(256);

  constructor(mm: Mm, dev: DmaPortOwner, translator: Translator | null = null) {
    this.mm = mm;
    this.dev = dev;
    this.translator = translator;
  }

  #resolve(daddr: number, len: number, write: boolean): RunList {
    const runs = this.#runs.clear();
    if (!Number.isSafeInteger(daddr) || daddr < 0 || !Number.isSafeInteger(len) || len < 0) {
      throw new KernelError("EINVAL", `${this.dev.name}: bad DMA range daddr ${daddr} length ${len}`);
    }
    if (len === 0) return runs;
    if (this.translator) {
      this.translator.translate(daddr, len, write, runs);
      return runs;
    }
    const mask = this.dev.dmaMask;
    const paddr = daddr + (this.dev.dmaPfnOffset ?? 0) * PAGE_SIZE;
    if (mask === null || daddr + len - 1 > mask || !this.mm.phys.isRam(paddr, len)) {
      this.mm._traceBusError(this.dev, daddr, len, write);
      const why =
        mask === null
          ? "the device has no DMA mask"
          : daddr + len - 1 > mask
            ? `beyond the DMA mask ${hex(mask)}`
            : "not RAM";
      throw new KernelError(
        "EIO",
        `${this.dev.name}: bus error at [${hex(daddr)}, ${hex(daddr + len)}): ${why}`,
      );
    }
    runs.push(paddr, len);
    return runs;
  }

  /** Device reads `len` bytes at `daddr` into `dst` from `dstOff`. */
  read(daddr: number, dst: Uint8Array, dstOff = 0, len = dst.length - dstOff): void {
    const runs = this.#resolve(daddr, len, false);
    const obs = this.mm.hooks.dma;
    const phys = this.mm.phys;
    let d = dstOff;
    for (let r = 0; r < runs.count; r++) {
      const pa = runs.paddr[r]!;
      const n = runs.len[r]!;
      for (let o = 0; o < obs.length; o++) obs[o]!.onDmaRead(this.dev, pa, n);
      phys.read(pa, dst, d, n);
      d += n;
    }
    this.bytesRead += len;
    this.mm._traceDma(this.dev, daddr, len, false);
  }

  /** Device writes `len` bytes of `src` from `srcOff` to `daddr`. */
  write(daddr: number, src: Uint8Array, srcOff = 0, len = src.length - srcOff): void {
    const runs = this.#resolve(daddr, len, true);
    const obs = this.mm.hooks.dma;
    const phys = this.mm.phys;
    let s = srcOff;
    for (let r = 0; r < runs.count; r++) {
      const pa = runs.paddr[r]!;
      const n = runs.len[r]!;
      phys.write(pa, src, s, n);
      for (let o = 0; o < obs.length; o++) obs[o]!.onDmaWrite(this.dev, pa, n);
      s += n;
    }
    this.bytesWritten += len;
    this.mm._traceDma(this.dev, daddr, len, true);
  }

  /** Device fills `len` bytes at `daddr` with `value`. */
  fill(daddr: number, value: number, len: number): void {
    const runs = this.#resolve(daddr, len, true);
    const obs = this.mm.hooks.dma;
    for (let r = 0; r < runs.count; r++) {
      this.mm.phys.fill(runs.paddr[r]!, value, runs.len[r]!);
      for (let o = 0; o < obs.length; o++) obs[o]!.onDmaWrite(this.dev, runs.paddr[r]!, runs.len[r]!);
    }
    this.bytesWritten += len;
    this.mm._traceDma(this.dev, daddr, len, true);
  }

  /** A DMA-engine copy inside the device's address space: reads `len` bytes, then writes them. */
  copy(dstDaddr: number, srcDaddr: number, len: number): void {
    const tmp = new Uint8Array(len);
    this.read(srcDaddr, tmp);
    this.write(dstDaddr, tmp);
  }

  /** The physical runs `[daddr, daddr + len)` resolves to (no access, no observers). */
  resolve(daddr: number, len: number, write = false): { paddr: number; len: number }[] {
    return this.#resolve(daddr, len, write)
      .toArray()
      .map(({ paddr, len: l }) => ({ paddr, len: l }));
  }
}

const ports = new WeakMap<object, DmaPort[]>();

/**
 * Wires `port` as bus-master port `index` of `dev` (board assembly does this: a master behind a
 * SysMMU gets a port whose translator is that SysMMU; the MFC has two ports). EBUSY when the slot
 * is taken; EINVAL for a port that belongs to another device.
 */
export function devDmaPortSet(dev: DmaPortOwner, port: DmaPort, index = 0): void {
  if (!Number.isInteger(index) || index < 0)
    throw new KernelError("EINVAL", `dma port index ${index} is not a slot number`);
  if (port.dev !== dev) {
    throw new KernelError("EINVAL", `dma port of ${port.dev.name} cannot be port ${index} of ${dev.name}`);
  }
  let list = ports.get(dev);
  if (!list) {
    list = [];
    ports.set(dev, list);
  }
  if (list[index]) throw new KernelError("EBUSY", `${dev.name} already has dma port ${index}`);
  list[index] = port;
}

/** Removes `dev`'s ports (teardown). */
export function devDmaPortsClear(dev: DmaPortOwner): void {
  ports.delete(dev);
}

/**
 * Bus-master port `index` of `dev`, as the board wired it: what a hardware model reads and writes
 * through. ENODEV when the board gave the device no such port.
 */
export function devDmaPort(dev: DmaPortOwner, index = 0): DmaPort {
  const p = ports.get(dev)?.[index];
  if (!p) throw new KernelError("ENODEV", `${dev.name} has no dma port ${index} (the board wires ports)`);
  return p;
}

/** Every port of `dev`, in index order (empty when none). */
export function devDmaPorts(dev: DmaPortOwner): readonly DmaPort[] {
  return (ports.get(dev) ?? []).filter((p) => p !== undefined);
}
