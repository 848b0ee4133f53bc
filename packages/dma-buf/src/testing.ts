/**
 * The conformance suite every dma-buf exporter runs (`describeDmaBufExporter`): attach, map for
 * each device, bytes written by a process through its mapping reach every device after
 * DMA_BUF_IOCTL_SYNC END and bytes a device writes reach the process after SYNC START, vmap sees
 * the same bytes, several devices map at once, and the memory comes back at release — with no
 * coherency hazard when the kernel has a CPU model.
 *
 * ```ts
 * describeDmaBufExporter("system heap", () => ({ kernel, make, devices, inUse }));
 * ```
 * @module
 */
import { tryCpuOf } from "@umm/arch-arm";
import { DMA_BIDIRECTIONAL, type SgTable } from "@umm/dma-mapping-arm";
import { type Device, type Kernel, PAGE_SIZE } from "@umm/kernel-core";
import { spawn } from "@umm/kernel-process";
import { type DmaPort, MAP_SHARED, mmOf, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  type DmaBuf,
  dmaBufAttach,
  dmaBufDetach,
  dmaBufFd,
  dmaBufMapAttachment,
  dmaBufPut,
  dmaBufUnmapAttachment,
  dmaBufVmap,
  dmaBufVunmap,
} from "./dma-buf.js";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
} from "./uapi.js";

/** What an exporter's test hands the suite, fresh for every case. */
export interface DmaBufExporterFixture {
  readonly kernel: Kernel;
  /** a new buffer (at least one page) whose one reference the suite owns */
  readonly make: () => DmaBuf;
  /** devices that may import it, each with the DMA port it reaches memory through */
  readonly devices: readonly { readonly dev: Device; readonly port: DmaPort }[];
  /** memory in use by the exporter (pages, bytes, ...): back to its start value after release */
  readonly inUse?: () => number;
}

function segRun(
  sgt: SgTable,
  offset: number,
  len: number,
  fn: (daddr: number, at: number, n: number) => void,
): void {
  let done = 0;
  let skip = offset;
  for (const seg of sgt.dmaSegments()) {
    if (done === len) return;
    if (skip >= seg.dmaLength) {
      skip -= seg.dmaLength;
      continue;
    }
    const n = Math.min(seg.dmaLength - skip, len - done);
    fn(seg.dmaAddress + skip, done, n);
    done += n;
    skip = 0;
  }
  expect(done).toBe(len);
}

function bytes(len: number, seed: number): Uint8Array {
  const a = new Uint8Array(len);
  for (let i = 0; i < len; i++) a[i] = (i * 31 + seed) & 0xff;
  return a;
}

/**
 * Registers a vitest `describe` block that checks an exporter's `DmaBufOps` against the
 * dma-buf contract. `setup` runs for every case and returns a fresh fixture.
 */
export function describeDmaBufExporter(name: string, setup: () => DmaBufExporterFixture): void {
  describe(`dma-buf exporter conformance: ${name}`, () => {
    it("every device attaches and maps the whole buffer, again after an unmap", () => {
      const fx = setup();
      const buf = fx.make();
      for (const { dev } of fx.devices) {
        const att = dmaBufAttach(buf, dev);
        for (let round = 0; round < 2; round++) {
          const sgt = dmaBufMapAttachment(att, DMA_BIDIRECTIONAL);
          expect(sgt.nents).toBeGreaterThan(0);
          const total = sgt.dmaSegments().reduce((s, x) => s + x.dmaLength, 0);
          expect(total).toBeGreaterThanOrEqual(buf.size);
          dmaBufUnmapAttachment(att, sgt, DMA_BIDIRECTIONAL);
        }
        dmaBufDetach(buf, att);
      }
      dmaBufPut(buf);
      expect(buf.released).toBe(true);
    });

    it("a process's writes reach every mapped device after SYNC END; a device's writes reach it after SYNC START", () => {
      const fx = setup();
      const buf = fx.make();
      if (!buf.ops.mmap) return;
      const proc = spawn(fx.kernel, { comm: "conformance" });
      const fd = fx.kernel.withCurrent(proc, () => dmaBufFd(buf, 0));
      const maps = fx.devices.map(({ dev, port }) => {
        const att = dmaBufAttach(buf, dev);
        return { att, port, sgt: dmaBufMapAttachment(att, DMA_BIDIRECTIONAL) };
      });
      const size = Math.floor(buf.size / PAGE_SIZE) * PAGE_SIZE;
      const va = proc.mmap({ fd, length: size, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
      const cpuBytes = bytes(size, 1);
      proc.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE });
      proc.memWrite(va, cpuBytes);
      proc.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE });
      for (const m of maps) {
        const got = new Uint8Array(size);
        segRun(m.sgt, 0, size, (daddr, at, n) => m.port.read(daddr, got, at, n));
        expect(Buffer.compare(got, cpuBytes)).toBe(0);
      }
      maps.forEach((m, i) => {
        const devBytes = bytes(PAGE_SIZE, 100 + i);
        const at = (i * PAGE_SIZE) % size;
        segRun(m.sgt, at, PAGE_SIZE, (daddr, off, n) => m.port.write(daddr, devBytes, off, n));
        proc.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ });
        expect(Buffer.compare(proc.memRead(va + at, PAGE_SIZE), devBytes)).toBe(0);
        proc.ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ });
      });
      for (const m of maps) dmaBufDetach(buf, m.att);
      const cpu = tryCpuOf(fx.kernel);
      if (cpu) expect(cpu.checker.total).toBe(0);
      proc.exit(0);
      expect(buf.released).toBe(true);
    });

    it("vmap, when offered, shows the buffer's bytes and is counted", () => {
      const fx = setup();
      const buf = fx.make();
      if (!buf.ops.vmap) {
        dmaBufPut(buf);
        return;
      }
      const mm = mmOf(fx.kernel);
      const kaddr = dmaBufVmap(buf);
      expect(dmaBufVmap(buf)).toBe(kaddr);
      const data = bytes(64, 7);
      const cpu = tryCpuOf(fx.kernel);
      const got = new Uint8Array(64);
      if (cpu) {
        cpu.write(mm.kspace, kaddr + buf.size - 64, data);
        cpu.read(mm.kspace, kaddr + buf.size - 64, got);
      } else {
        mm.phys.write(mm.kspace.translate(kaddr + buf.size - 64), data);
        mm.phys.read(mm.kspace.translate(kaddr + buf.size - 64), got);
      }
      expect(got).toEqual(data);
      dmaBufVunmap(buf, kaddr);
      dmaBufVunmap(buf, kaddr);
      dmaBufPut(buf);
    });

    it("gives its memory back when the last reference goes", () => {
      const fx = setup();
      const before = fx.inUse?.();
      const buf = fx.make();
      const { dev } = fx.devices[0]!;
      const att = dmaBufAttach(buf, dev);
      dmaBufMapAttachment(att, DMA_BIDIRECTIONAL);
      dmaBufDetach(buf, att);
      expect(buf.released).toBe(false);
      dmaBufPut(buf);
      expect(buf.released).toBe(true);
      if (fx.inUse) expect(fx.inUse()).toBe(before);
    });
  });
}
