// A driver that exports one DMA buffer to user space through mmap (Arnd's item 7).
import type { Device } from "@umm/kernel-core";
import { O_RDWR, type Process, registerChrdev, spawn } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE, type Vma } from "@umm/mm-core";
import { type DmaCpuAddr, dmaMmapAttrs } from "../src/index.js";
import type { Rig } from "./helpers.js";

let n = 0;

/** A /dev node whose mmap is `dma_mmap_attrs` of the buffer, opened and mapped by a new process. */
export function mapToUser(
  r: Rig,
  dev: Device,
  buf: { cpuAddr: DmaCpuAddr; dmaAddr: number },
  size: number,
  attrs = 0,
  map: { length?: number; offset?: number } = {},
): { proc: Process; va: number; vma: Vma; fd: number } {
  const path = `/dev/dmabuf${n++}`;
  registerChrdev(r.kernel, path, {
    ops: { mmap: (_file, ctx) => dmaMmapAttrs(dev, ctx, buf.cpuAddr, buf.dmaAddr, size, attrs) },
  });
  const proc = spawn(r.kernel, { comm: "app" });
  const fd = proc.open(path, O_RDWR);
  const va = proc.mmap({
    fd,
    length: map.length ?? size,
    prot: PROT_READ | PROT_WRITE,
    flags: MAP_SHARED,
    offset: map.offset ?? 0,
  });
  return { proc, va, fd, vma: proc.space.findVma(va)! };
}

/** Opens the node of the last `mapToUser` again and tries another mapping (for ENXIO checks). */
export function tryMap(proc: Process, fd: number, length: number, offset: number): number {
  return proc.mmap({ fd, length, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED, offset });
}
