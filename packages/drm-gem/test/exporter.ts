// A V4L2-like exporter for tests, written with dma-buf's core the way videobuf2-dma-contig and
// -dma-sg export their buffers: a capture device allocates a buffer (one coherent DMA range, or
// pages scattered in physical memory that its SysMMU makes contiguous for it), "captures" a frame
// into it by DMA, and exports it as a dma-buf (VIDIOC_EXPBUF) whose map op maps the pages for the
// importing device.
import { type DmaBuf, type DmaBufAttachment, type DmaBufOps, dmaBufExport, dmaBufFd } from "@umm/dma-buf";
import {
  DMA_BIDIRECTIONAL,
  type DmaCpuAddr,
  type DmaDataDirection,
  dmaAllocAttrs,
  dmaFreeAttrs,
  dmaGetSgtable,
  dmaMapSgtable,
  dmaUnmapSgtable,
  type SgTable,
  sgAllocTableFromPages,
} from "@umm/dma-mapping-arm";
import { type Device, PAGE_SIZE } from "@umm/kernel-core";
import { O_CLOEXEC, O_RDWR, type Process } from "@umm/kernel-process";
import { type DmaPort, GFP_KERNEL, type Mm } from "@umm/mm-core";

/** One capture buffer. */
export interface CamBuf {
  readonly size: number;
  /** the camera's own device address of the buffer (one contiguous range for the camera) */
  readonly camAddr: number;
  /** the dma-buf (VIDIOC_EXPBUF), holding the buffer until released */
  readonly dmabuf: DmaBuf;
  /** the exporter freed the memory */
  released: boolean;
  /** devices that mapped the buffer (importers), in order */
  readonly mappedBy: string[];
}

interface Backing {
  readonly cam: TestCamera;
  buf: CamBuf | null;
  /** a coherent allocation of the camera, or scattered pages */
  readonly coherent: { cpuAddr: DmaCpuAddr; dmaAddr: number } | null;
  readonly pfns: number[];
  /** the camera's own mapping of scattered pages */
  readonly camSgt: SgTable | null;
}

const OPS: DmaBufOps = Object.freeze({
  mapDmaBuf: (att: DmaBufAttachment, dir: DmaDataDirection): SgTable => {
    const b = att.dmabuf.priv as Backing;
    const sgt = b.coherent
      ? dmaGetSgtable(b.cam.dev, b.coherent.cpuAddr, b.coherent.dmaAddr, b.buf!.size)
      : sgAllocTableFromPages(b.pfns, 0, b.buf!.size);
    dmaMapSgtable(att.dev, sgt, dir);
    b.buf!.mappedBy.push(att.dev.name);
    return sgt;
  },
  unmapDmaBuf: (att: DmaBufAttachment, sgt: SgTable, dir: DmaDataDirection): void => {
    dmaUnmapSgtable(att.dev, sgt, dir);
  },
  release: (dmabuf: DmaBuf): void => {
    const b = dmabuf.priv as Backing;
    b.cam.free(b);
  },
});

/** A capture device exporting its buffers as dma-bufs. */
export class TestCamera {
  readonly dev: Device;
  readonly port: DmaPort;
  readonly mm: Mm;
  /** buffers alive */
  live = 0;

  constructor(mm: Mm, dev: Device, port: DmaPort) {
    this.mm = mm;
    this.dev = dev;
    this.port = port;
  }

  /**
   * A buffer of `size` bytes: `contiguous` from the camera's coherent allocator (CMA for a direct
   * camera), else single pages in reverse physical order (the camera must be behind an IOMMU).
   */
  alloc(size: number, layout: "contiguous" | "scattered" = "contiguous"): CamBuf {
    const sz = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    let coherent: Backing["coherent"] = null;
    let pfns: number[] = [];
    let camSgt: SgTable | null = null;
    let camAddr: number;
    if (layout === "contiguous") {
      coherent = dmaAllocAttrs(this.dev, sz)!;
      if (!coherent) throw new Error("camera: out of memory");
      camAddr = coherent.dmaAddr;
    } else {
      for (let i = 0; i < sz / PAGE_SIZE; i++)
        pfns.push(this.mm.buddy.allocPages(0, GFP_KERNEL, { tag: "cam" })!);
      // in reverse physical order: no two neighbours in the list are adjacent in memory
      pfns = pfns.reverse();
      camSgt = sgAllocTableFromPages(pfns, 0, sz);
      dmaMapSgtable(this.dev, camSgt, DMA_BIDIRECTIONAL);
      camAddr = camSgt.sgl[0]!.dmaAddress;
    }
    const backing: Backing = { cam: this, buf: null, coherent, pfns, camSgt };
    const dmabuf = dmaBufExport(this.dev.kernel, {
      expName: "test-camera",
      ops: OPS,
      size: sz,
      flags: O_RDWR,
      priv: backing,
    });
    const buf: CamBuf = { size: sz, camAddr, dmabuf, released: false, mappedBy: [] };
    backing.buf = buf;
    this.live++;
    return buf;
  }

  /** The camera writes `bytes` into the buffer by DMA (a captured frame). */
  capture(buf: CamBuf, bytes: Uint8Array): void {
    this.port.write(buf.camAddr, bytes);
  }

  /** VIDIOC_EXPBUF: a new fd of the buffer in `proc` (the caller's reference becomes the fd's). */
  expbuf(proc: Process, buf: CamBuf): number {
    buf.dmabuf.file.get();
    return proc.kernel.withCurrent(proc, () => dmaBufFd(buf.dmabuf, O_CLOEXEC));
  }

  /** @internal the dma-buf's release */
  free(b: Backing): void {
    const buf = b.buf!;
    if (b.coherent) dmaFreeAttrs(this.dev, buf.size, b.coherent.cpuAddr, b.coherent.dmaAddr);
    else {
      dmaUnmapSgtable(this.dev, b.camSgt!, DMA_BIDIRECTIONAL);
      for (const pfn of b.pfns) this.mm.buddy.freePages(pfn, 0);
    }
    buf.released = true;
    this.live--;
  }
}
