/**
 * The MFC platform driver (s5p-mfc/s5p_mfc.c, s5p_mfc_ctrl.c, s5p_mfc_opr_v5.c): the codec's
 * memory behaviour as the 2010 CMA series described it. The MFC asks the contiguous memory
 * allocator for three kinds of memory by type letter — "f" for its firmware, "a" and "b" for
 * buffers in two different memory banks — and the board's `cma.map=` says which region serves
 * each (`mfc/f=mfc_fw;mfc/a=mfc_b1;mfc/b=mfc_b2`). Bank A (firmware, instance contexts) is
 * reached through port 0 (MFC_L), bank B (decoded/reference picture buffers) through port 1
 * (MFC_R). Each chunk is mapped for the MFC with `dma_map_page` (an IOVA range in the domain both
 * SysMMUs share, or the bus address of a direct MFC) and synced through the DMA API.
 *
 * Without a map rule for a kind, the MFC falls back to its `memory-region`s (the mainline
 * binding: the first for the left port — firmware and bank A — the second for the right port,
 * bank B), allocating from the named region. Probe allocates the firmware buffer, loads the
 * firmware into it with the CPU, maps it (the map cleans the CPU's dirty lines), boots the MFC
 * from it and registers the decoder and encoder video nodes (`mfc-v4l2.ts`), which share the
 * MFC through one mem2mem job queue.
 *
 * @module
 */
import { tryCpuOf } from "@umm/arch-arm";
import {
  DMA_TO_DEVICE,
  type DmaDataDirection,
  dmaMapPage,
  dmaMappingError,
  dmaUnmapPage,
} from "@umm/dma-mapping-arm";
import {
  alignUp,
  type Device,
  type DeviceDriver,
  devGetDrvdata,
  devSetDrvdata,
  hex,
  isKernelError,
  type Kernel,
  KernelError,
  PAGE_SIZE,
} from "@umm/kernel-core";
import {
  type CmaRegion,
  cmaAlloc,
  cmaAllocFromRegion,
  cmaFree,
  cmaInfo,
  cmaRegionFind,
  cmaRegions,
} from "@umm/mm-cma";
import { devDmaPort, devDmaPorts, mmOf } from "@umm/mm-core";
import { type V4l2M2mDev, v4l2M2mInit } from "@umm/v4l2-videobuf";
import { mediaDmaSetup, propStrings } from "./common.js";
import { MFC_FW_SIZE, MfcHw, mfcFirmwareImage } from "./mfc-hw.js";
import { MfcDecoder, MfcEncoder, mfcDeviceRun, mfcJobAbort } from "./mfc-v4l2.js";

/** The compatible strings the MFC driver binds. */
export const MFC_COMPATIBLE: readonly string[] = Object.freeze(["samsung,mfc-v5"]);

/** The memory kinds of the 2010 CMA map: firmware, bank A, bank B. */
export type MfcKind = "f" | "a" | "b";

/** Bytes of the firmware buffer (s5p-mfc v5 allocates more than the image). */
export const MFC_FW_BUF_SIZE = 512 * 1024;
/** Alignment of the firmware buffer (s5p-mfc's 128 KiB base alignment). */
export const MFC_FW_BUF_ALIGN = 128 * 1024;

/** One chunk of MFC memory: where it is, and where the MFC sees it. */
export interface MfcBuf {
  /** the kind it came from */
  readonly kind: MfcKind;
  /** physical start and bytes (page multiple) */
  readonly paddr: number;
  readonly size: number;
  /** the MFC's device address */
  readonly daddr: number;
  /** the mapping's direction */
  readonly dir: DmaDataDirection;
  /** what it is for ("firmware", "context", "dpb") */
  readonly what: string;
}

/** A probed MFC. */
export class Mfc {
  /** the kernel */
  readonly kernel: Kernel;
  /** the MFC's device */
  readonly dev: Device;
  /** the hardware */
  readonly hw: MfcHw;
  /** the job queue the decoder and encoder share */
  readonly m2m: V4l2M2mDev;
  /** where each kind comes from: "map" (the 2010 CMA map) or a `memory-region` name */
  readonly sources: Readonly<Record<MfcKind, string>>;
  /** the firmware buffer */
  fw: MfcBuf | null = null;
  /** the decoder node */
  decoder: MfcDecoder | null = null;
  /** the encoder node */
  encoder: MfcEncoder | null = null;
  /** live chunks (firmware, contexts, DPBs) */
  readonly bufs = new Set<MfcBuf>();
  readonly #regions: Readonly<Record<MfcKind, CmaRegion | null>>;

  /** @internal probe makes it */
  constructor(
    dev: Device,
    hw: MfcHw,
    sources: Record<MfcKind, string>,
    regions: Record<MfcKind, CmaRegion | null>,
  ) {
    this.kernel = dev.kernel;
    this.dev = dev;
    this.hw = hw;
    this.sources = Object.freeze(sources);
    this.#regions = Object.freeze(regions);
    this.m2m = v4l2M2mInit(
      this.kernel,
      { deviceRun: (priv) => mfcDeviceRun(this, priv), jobAbort: (priv) => mfcJobAbort(this, priv) },
      `${dev.name}-m2m`,
    );
  }

  /**
   * A chunk of `size` bytes of `kind` memory, aligned to `align`, mapped for the MFC in `dir`.
   * ENOMEM when the kind's regions have no room or the mapping fails (nothing is left held).
   */
  alloc(kind: MfcKind, size: number, align: number, dir: DmaDataDirection, what: string): MfcBuf {
    const bytes = alignUp(size, PAGE_SIZE);
    return this.mapChunk(kind, this.allocPhys(kind, bytes, align), bytes, dir, what);
  }

  /** @internal a chunk of `kind` memory, not mapped yet: its physical start (ENOMEM) */
  allocPhys(kind: MfcKind, bytes: number, align: number): number {
    const region = this.#regions[kind];
    return region ? cmaAllocFromRegion(region, bytes, align) : cmaAlloc(this.dev, kind, bytes, align);
  }

  /** @internal maps a chunk `allocPhys` gave (freeing it when the map fails) */
  mapChunk(kind: MfcKind, paddr: number, bytes: number, dir: DmaDataDirection, what: string): MfcBuf {
    let daddr: number;
    try {
      daddr = dmaMapPage(this.dev, paddr / PAGE_SIZE, 0, bytes, dir, 0, `${this.dev.name}:${what}`);
    } catch (e) {
      cmaFree(this.kernel, paddr);
      throw e;
    }
    if (dmaMappingError(this.dev, daddr)) {
      cmaFree(this.kernel, paddr);
      throw new KernelError("ENOMEM", `${this.dev.name}: cannot map the ${what} buffer at ${hex(paddr)}`);
    }
    const buf: MfcBuf = { kind, paddr, size: bytes, daddr, dir, what };
    this.bufs.add(buf);
    return buf;
  }

  /** Unmaps and frees a chunk. EINVAL for one that is not live. */
  free(buf: MfcBuf): void {
    if (!this.bufs.delete(buf))
      throw new KernelError("EINVAL", `${this.dev.name}: ${buf.what} buffer is not live`);
    dmaUnmapPage(this.dev, buf.daddr, buf.size, buf.dir, 0, `${this.dev.name}:${buf.what}`);
    cmaFree(this.kernel, buf.paddr);
  }
}

/** The MFC bound to `dev`, or null. */
export function mfcOf(dev: Device): Mfc | null {
  const d = devGetDrvdata<unknown>(dev);
  return d instanceof Mfc ? d : null;
}

/** Where a kind comes from: the CMA map when it has a rule with regions, else a memory-region. */
function resolveKind(
  dev: Device,
  kind: MfcKind,
  regionNames: readonly string[],
): { source: string; region: CmaRegion | null } {
  try {
    if (cmaInfo(dev, kind).count > 0) return { source: "map", region: null };
  } catch (e) {
    if (!isKernelError(e, "ENOENT")) throw e;
  }
  const name = kind === "b" ? (regionNames[1] ?? regionNames[0]) : regionNames[0];
  if (name === undefined) {
    throw new KernelError(
      "ENODEV",
      `${dev.name}: no memory of kind "${kind}": cma.map= has no rule ${dev.name}/${kind}=... and the device has no memory-region`,
    );
  }
  const region = regionByName(dev, name);
  if (!region) {
    throw new KernelError(
      "EINVAL",
      `${dev.name}: kind "${kind}" needs memory-region "${name}", which is not a registered CMA region`,
    );
  }
  return { source: name, region };
}

/**
 * The CMA region of a `memory-region` name: the region of that name, else (a no-map pool is a
 * private, unnamed region) the region starting at the node name's unit address ("name@4a000000").
 * mm-cma has no `of_reserved_mem_lookup`; this is its stand-in.
 */
function regionByName(dev: Device, name: string): CmaRegion | null {
  const byName = cmaRegionFind(dev.kernel, name);
  if (byName) return byName;
  const at = /@([0-9a-f]+)$/i.exec(name);
  if (!at) return null;
  const base = Number.parseInt(at[1]!, 16);
  return cmaRegions(dev.kernel).find((r) => r.base === base) ?? null;
}

/**
 * `s5p_mfc_load_firmware` + `s5p_mfc_init_hw`: the CPU copies the image into the firmware
 * chunk through the kernel's cacheable linear map, `dma_map_page(DMA_TO_DEVICE)` cleans those
 * lines to memory, and the MFC boots from what it reads through port 0.
 */
function loadFirmware(mfc: Mfc): void {
  const img = mfcFirmwareImage();
  const paddr = mfc.allocPhys("f", MFC_FW_BUF_SIZE, MFC_FW_BUF_ALIGN);
  const mm = mmOf(mfc.kernel);
  const cpu = tryCpuOf(mfc.kernel);
  try {
    if (cpu) cpu.write(mm.kspace, mm.kspace.physToVirt(paddr), img);
    else mm.phys.write(paddr, img);
  } catch (e) {
    cmaFree(mfc.kernel, paddr);
    throw e;
  }
  mfc.fw = mfc.mapChunk("f", paddr, MFC_FW_BUF_SIZE, DMA_TO_DEVICE, "firmware");
  mfc.hw.boot(mfc.fw.daddr, MFC_FW_SIZE);
}

/**
 * The MFC platform driver. Probe: DMA setup; ports 0 and 1 as the board wired them (ENODEV
 * without port 0; port 1 defaults to port 0); `memory-region` (EINVAL unless a list of at most
 * two names); the three kinds resolved (ENODEV when one has neither a map rule nor a
 * memory-region, EINVAL when the memory-region it needs names no registered CMA region); the
 * firmware allocated (ENOMEM), loaded and booted (EIO when the MFC reads a bad image); the
 * decoder and encoder nodes. Remove undoes it all; open files keep their contexts
 * until closed (their jobs end with ERROR).
 */
export const MFC_DRIVER: DeviceDriver = Object.freeze({
  name: "s5p-mfc",
  compatible: MFC_COMPATIBLE,
  probe(dev: Device): void {
    const left = devDmaPort(dev, 0);
    const right = devDmaPorts(dev)[1] ?? left;
    const regionNames = propStrings(dev, "memory-region");
    if (regionNames.length > 2) {
      throw new KernelError(
        "EINVAL",
        `${dev.name}: memory-region lists ${regionNames.length} regions, at most 2`,
      );
    }
    const f = resolveKind(dev, "f", regionNames);
    const a = resolveKind(dev, "a", regionNames);
    const b = resolveKind(dev, "b", regionNames);
    mediaDmaSetup(dev, "always");
    const hw = new MfcHw(dev, left, right);
    const mfc = new Mfc(
      dev,
      hw,
      { f: f.source, a: a.source, b: b.source },
      { f: f.region, a: a.region, b: b.region },
    );
    try {
      loadFirmware(mfc);
      mfc.decoder = new MfcDecoder(mfc);
      mfc.encoder = new MfcEncoder(mfc);
    } catch (e) {
      mfc.decoder?.remove();
      hw.halt();
      if (mfc.fw) mfc.free(mfc.fw);
      mfc.fw = null;
      throw e;
    }
    devSetDrvdata(dev, mfc);
  },
  remove(dev: Device): void {
    const mfc = mfcOf(dev);
    if (!mfc) return;
    mfc.decoder?.remove();
    mfc.encoder?.remove();
    mfc.hw.halt();
    if (mfc.fw) mfc.free(mfc.fw);
    mfc.fw = null;
  },
});
