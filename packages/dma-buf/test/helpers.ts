import { type Cpu, cpuOf } from "@umm/arch-arm";
import type { SgTable } from "@umm/dma-mapping-arm";
import { bootDma, dmaDirectDevice, dmaIommuMaster } from "@umm/dma-mapping-arm/testing";
import {
  type Bus,
  type Device,
  type Kernel,
  KernelError,
  SZ_1M,
  SZ_256M,
  type TraceEventName,
  TraceRecorder,
} from "@umm/kernel-core";
import {
  _IOW,
  _IOWR,
  type Chrdev,
  type File,
  type Process,
  registerChrdev,
  spawn,
} from "@umm/kernel-process";
import { type CmaRegion, cmaDebugfs, dmaContiguousDefaultArea } from "@umm/mm-cma";
import type { DmaPort, Mm } from "@umm/mm-core";
import {
  EXYNOS_SYSMMU_DRIVER,
  EXYNOS4210_SYSMMUS,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";
import { expect } from "vitest";
import {
  addDefaultCmaHeap,
  type DmaBuf,
  type DmaBufAttachment,
  type DmaHeap,
  dmaBufAttach,
  dmaBufDetach,
  dmaBufGet,
  dmaBufMapAttachment,
  dmaBufPut,
  dmaBufStats,
  dmaBufUnmapAttachment,
  systemHeapCreate,
  udmabufDevInit,
} from "../src/index.js";

export {
  DMA_RIG_DRAM as DRAM,
  DMA_RIG_IOVA_BASE as IOVA_BASE,
  dmaDirectDevice as directDevice,
} from "@umm/dma-mapping-arm/testing";
export { pattern } from "@umm/kernel-core/testing";

/** A booted test kernel with CMA, a CPU, the heaps and /dev/udmabuf. */
export interface Rig {
  readonly kernel: Kernel;
  readonly mm: Mm;
  readonly cpu: Cpu;
  readonly platform: Bus;
  readonly cma: CmaRegion;
  readonly system: DmaHeap;
  readonly cmaHeap: DmaHeap;
}

/** Options of `boot`. */
export interface BootOpts {
  /** DRAM bytes (default 128 MiB) */
  readonly size?: number;
  /** default CMA area in MiB (default 32) */
  readonly cmaMiB?: number;
  /** bytes of lowmem (default: all of a small board) */
  readonly lowmemSize?: number;
  /** strict coherency checker: a hazard throws EIO */
  readonly strict?: boolean;
}

/** `bootDma` with the SysMMU driver (128 MiB, 32 MiB of CMA by default), then the heaps and udmabuf. */
export function boot(opts: BootOpts = {}): Rig {
  const { kernel, mm, cpu, platform } = bootDma({
    ...opts,
    size: opts.size ?? 128 * SZ_1M,
    cmaMiB: opts.cmaMiB ?? 32,
    platformDrivers: [EXYNOS_SYSMMU_DRIVER],
  });
  const system = systemHeapCreate(kernel);
  const cmaHeap = addDefaultCmaHeap(kernel)!;
  udmabufDevInit(kernel);
  return { kernel, mm, cpu, platform, cma: dmaContiguousDefaultArea(kernel)!, system, cmaHeap };
}

/** Pages in use in the CMA area (debugfs `used`). */
export function cmaUsed(r: Rig): number {
  return cmaDebugfs(r.cma).used;
}

let nextSysmmu = 2;

/** A master behind its own Exynos4210 SysMMU with a 256 MiB arm_iommu mapping at IOVA_BASE. */
export function sysmmuDevice(r: Rig, name: string): { dev: Device; port: DmaPort } {
  const inst = EXYNOS4210_SYSMMUS[nextSysmmu++ % EXYNOS4210_SYSMMUS.length]!;
  const { dev } = dmaIommuMaster(r, name, sysmmuPlatformDevice(r.kernel, inst), SZ_256M);
  return { dev, port: sysmmuDmaPort(dev) };
}

/** Reads `len` bytes at byte `offset` of the buffer a device mapped as `sgt`, by DMA. */
export function dmaRead(port: DmaPort, sgt: SgTable, offset: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let done = 0;
  let skip = offset;
  for (const seg of sgt.dmaSegments()) {
    if (done === len) break;
    if (skip >= seg.dmaLength) {
      skip -= seg.dmaLength;
      continue;
    }
    const n = Math.min(seg.dmaLength - skip, len - done);
    port.read(seg.dmaAddress + skip, out, done, n);
    done += n;
    skip = 0;
  }
  return out;
}

/** Writes `data` at byte `offset` of the buffer a device mapped as `sgt`, by DMA. */
export function dmaWrite(port: DmaPort, sgt: SgTable, offset: number, data: Uint8Array): void {
  let done = 0;
  let skip = offset;
  for (const seg of sgt.dmaSegments()) {
    if (done === data.length) break;
    if (skip >= seg.dmaLength) {
      skip -= seg.dmaLength;
      continue;
    }
    const n = Math.min(seg.dmaLength - skip, data.length - done);
    port.write(seg.dmaAddress + skip, data, done, n);
    done += n;
    skip = 0;
  }
}

/** IMPORT: take a dma-buf fd, attach the device and map it (a V4L2 QBUF of a DMABUF, say). */
export const IMP_IMPORT = _IOW("i", 1, 8);
/** READ: the device reads `{ offset, len }` of the imported buffer into `data`. */
export const IMP_READ = _IOWR("i", 2, 16);
/** WRITE: the device writes `data` at `offset`. */
export const IMP_WRITE = _IOW("i", 3, 16);

/** An importing driver: one device, a node, and per open file at most one imported buffer. */
export interface Importer {
  readonly dev: Device;
  readonly port: DmaPort;
  readonly cdev: Chrdev;
  readonly path: string;
}

interface ImportState {
  buf: DmaBuf | null;
  att: DmaBufAttachment | null;
  sgt: SgTable | null;
  dir: 0 | 1 | 2;
}

/** Registers /dev/<name>: a driver that imports dma-bufs for `dev` and moves bytes by DMA. */
export function importer(r: Rig, name: string, kind: "direct" | "sysmmu"): Importer {
  const { dev, port } = kind === "direct" ? dmaDirectDevice(r, name) : sysmmuDevice(r, name);
  const path = `/dev/${name}`;
  const drop = (st: ImportState) => {
    if (st.sgt) dmaBufUnmapAttachment(st.att!, st.sgt, st.dir);
    if (st.att) dmaBufDetach(st.buf!, st.att);
    if (st.buf) dmaBufPut(st.buf);
    st.buf = null;
    st.att = null;
    st.sgt = null;
  };
  const cdev = registerChrdev(r.kernel, path, {
    ops: {
      open: (file: File) => {
        file.privateData = { buf: null, att: null, sgt: null, dir: 0 } satisfies ImportState;
      },
      release: (file: File) => drop(file.privateData as ImportState),
      ioctl: (file: File, cmd: number, arg: unknown) => {
        const st = file.privateData as ImportState;
        const a = arg as { fd: number; dir?: 0 | 1 | 2; offset: number; len: number; data: Uint8Array };
        switch (cmd) {
          case IMP_IMPORT: {
            drop(st);
            const buf = dmaBufGet(r.kernel, a.fd);
            try {
              st.dir = a.dir ?? 0;
              st.att = dmaBufAttach(buf, dev);
              st.buf = buf;
              st.sgt = dmaBufMapAttachment(st.att, st.dir);
            } catch (e) {
              if (st.att) dmaBufDetach(buf, st.att);
              st.att = null;
              st.buf = null;
              dmaBufPut(buf);
              throw e;
            }
            return 0;
          }
          case IMP_READ:
            if (!st.sgt) throw new KernelError("EINVAL", "nothing imported");
            a.data = dmaRead(port, st.sgt, a.offset, a.len);
            return 0;
          case IMP_WRITE:
            if (!st.sgt) throw new KernelError("EINVAL", "nothing imported");
            dmaWrite(port, st.sgt, a.offset, a.data);
            return 0;
          default:
            throw new KernelError("ENOTTY", `importer: ioctl ${cmd}`);
        }
      },
    },
  });
  return { dev, port, cdev, path };
}

/** Records of `names` from now on. */
export function record(kernel: Kernel, names?: TraceEventName[]): TraceRecorder {
  return new TraceRecorder(kernel.trace, names ? { events: names } : {});
}

/** A new process. */
export function proc(r: Rig, comm: string): Process {
  return spawn(r.kernel, { comm });
}

/** No live dma-buf in `r` (every buffer released). */
export function expectNoBuffers(r: Rig): void {
  expect(dmaBufStats(r.kernel)).toEqual([]);
}

/** The kernel's CPU coherency reports, by kind. */
export function hazards(r: Rig): Record<string, number> {
  return cpuOf(r.kernel).checker.counts() as unknown as Record<string, number>;
}
