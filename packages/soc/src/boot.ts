/**
 * `bootBoard`: a board description turned into a booted machine — the assembly of every layer
 * below, in the order an ARM kernel boots (`setup_arch` → `mm_init` → initcalls → drivers):
 *
 * 1. validate everything (`validateBoard`, then what only booting needs); nothing exists yet;
 * 2. `createKernel({ seed })`; the event counters and the optional recorder start listening;
 * 3. memblock phase: `mmInit` (banks, lowmem); `cmaInit` with the board's command line (`cma=`,
 *    `cma.map=`); fixed ranges first — the UMP carve-out (`umpReserve`, no-map), `reg`
 *    `/reserved-memory` nodes, placed 2010 regions, a placed merged `cma=` — then dynamic ones:
 *    swiotlb (bottom-up, inside every sub-32-bit direct master's window), the other 2010
 *    regions, `size` nodes, a merged `cma=`, the `pmm=` pool;
 * 4. `mm.memblockFreeAll()`, `cmaInitReservedAreas` (areas activated, 2010 regions registered;
 *    the 2010 map came with `cma.map=`);
 * 5. `cpuInit` (the board's cache, `cache` / `strictCoherency` options), the process layer,
 *    DMA-API debug when asked;
 * 6. the platform bus: the SysMMU driver and devices (each must probe), then every board
 *    device: registered, its `memory-region` CMA node as its CMA area, a no-map pool as its
 *    coherent pool (direct masters only), its `iommus` as fwspec, probed through iommu-core and
 *    attached to an ARM IOMMU mapping of its own; DMA ports through its SysMMUs or direct;
 * 7. dma-heaps (`system`, the default CMA area's), `/dev/udmabuf`, PMM (`/dev/pmm`), the S5P VCM
 *    contexts of the SysMMU masters, UMP (`/dev/ump`: the carve-out and/or VCM);
 * 8. the platform drivers (`SOC_PLATFORM_DRIVERS`, or `BootOpts.drivers`).
 *
 * A failure after step 2 (which a valid description does not cause) shuts the half-built kernel
 * down before the error propagates.
 *
 * @module
 */
import { cpuInit } from "@umm/arch-arm";
import { addDefaultCmaHeap, dmaHeaps, systemHeapCreate, udmabufDevInit } from "@umm/dma-buf";
import {
  armIommuAttachDevice,
  armIommuCreateMapping,
  type DmaDebugOpts,
  type DmaIommuMapping,
  dmaDebugInit,
  IO_TLB_SEGSIZE,
  IO_TLB_SIZE,
  rmemDmaDeviceInit,
  swiotlbInit,
} from "@umm/dma-mapping-arm";
import { iommuFwspecInit, iommuProbeDevice } from "@umm/iommu-core";
import {
  busRegister,
  createKernel,
  Device,
  type DeviceDriver,
  deviceRegister,
  driverRegister,
  hex,
  type Kernel,
  KernelError,
  PAGE_SIZE,
  type Seed,
  SZ_1G,
  SZ_4G,
  SZ_4M,
  SZ_128M,
  TraceRecorder,
  type TraceRecorderOpts,
} from "@umm/kernel-core";
import { processes } from "@umm/kernel-process";
import {
  type CmaRegion,
  cmaEarlyRegionReserve,
  cmaEarlyRegions,
  cmaEarlyRegionsReserve,
  cmaInit,
  cmaInitReservedAreas,
  cmaRegions,
  dmaContiguousDefaultArea,
  dmaContiguousReserve,
  ofReservedMemDeviceInit,
  ofReservedMemSetup,
  parseCmaCmdline,
  type ReservedMem,
} from "@umm/mm-cma";
import { DmaPort, devDmaPortSet, mmInit } from "@umm/mm-core";
import { VCM_DEV_NAMES, type Vcm, vcmCreateUnified } from "@umm/mm-vcm";
import {
  EXYNOS_SYSMMU_DRIVER,
  exynosSysmmuOf,
  sysmmuDmaPorts,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";
import { pmmInfo, pmmInit, pmmReserve } from "@umm/pmm";
import {
  UMP_BLOCK_SIZE,
  type UmpDriver,
  type UmpMemoryBackend,
  umpDedicatedBackend,
  umpInit,
  umpReserve,
  umpVcmBackend,
} from "@umm/ump";
import {
  type BoardDescription,
  type BoardDevice,
  boardCmdline,
  boardDeviceOpts,
  boardSysmmuInstance,
  boardSysmmuOpts,
  type CacheMode,
  deepFreeze,
  validateBoard,
} from "./board.js";
import { SOC_PLATFORM_DRIVERS } from "./drivers.js";
import { heldPagesByOwner, Machine } from "./machine.js";
import { MachineCounters } from "./stats.js";
import { socUmpBackend } from "./ump-backend.js";

/** Options of `bootBoard`. */
export interface BootOpts {
  /** seed of every random choice (kernel-core's PRNG; default 0) */
  readonly seed?: Seed;
  /** the CPU cache model, overriding the board's `cache.mode` ("ideal" never evicts, "sized" does) */
  readonly cache?: CacheMode;
  /** a coherency hazard also throws `KernelError("EIO")` from the access (arch-arm strict mode) */
  readonly strictCoherency?: boolean;
  /** turn DMA-API debug on (`true`: default options) */
  readonly dmaDebug?: boolean | DmaDebugOpts;
  /** record every trace event from the first one (`Machine.recorder`; `true`: default capacity) */
  readonly trace?: boolean | TraceRecorderOpts;
  /** the platform drivers to register after the devices (default `SOC_PLATFORM_DRIVERS`) */
  readonly drivers?: readonly DeviceDriver[];
  /** the IOVA window of every SysMMU master's ARM IOMMU mapping (default `SOC_IOMMU_WINDOW`) */
  readonly iommuWindow?: { readonly base: number; readonly size: number };
  /** bytes of swiotlb bounce pool for boards with sub-32-bit direct masters (default `SOC_SWIOTLB_SIZE`) */
  readonly swiotlbSize?: number;
}

/**
 * The IOVA window each SysMMU master's ARM IOMMU mapping gets: 1 GiB from 0x20000000 (where
 * exynos drivers put theirs), one window per master, so the same D.V means different memory on
 * different masters.
 */
export const SOC_IOMMU_WINDOW: { readonly base: number; readonly size: number } = Object.freeze({
  base: 0x20000000,
  size: SZ_1G,
});

/** The swiotlb pool of a board with sub-32-bit direct masters: 4 MiB (it must fit in a 16 MiB window). */
export const SOC_SWIOTLB_SIZE = SZ_4M;

/** Bytes of each SysMMU master's S5P VCM context (UMP's VCM backend): 128 MiB. */
export const SOC_VCM_CONTEXT_SIZE = SZ_128M;

/** Device names the machine itself registers, which board devices may not take. */
const RESERVED_DEVICE_NAMES = new Set(["udmabuf"]);

function bad(detail: string): never {
  throw new KernelError("EINVAL", detail);
}

const isInt = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x);
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;

function checkOpts(opts: BootOpts): void {
  if (!isObj(opts)) bad("bootBoard: opts is not an object");
  const seed: unknown = opts.seed;
  if (
    seed !== undefined &&
    typeof seed !== "string" &&
    !(typeof seed === "number" && Number.isFinite(seed))
  ) {
    bad(`bootBoard: seed ${String(seed)} is not a number or a string`);
  }
  if (opts.cache !== undefined && opts.cache !== "ideal" && opts.cache !== "sized") {
    bad(`bootBoard: cache ${JSON.stringify(opts.cache)} is not "ideal" or "sized"`);
  }
  if (opts.strictCoherency !== undefined && typeof opts.strictCoherency !== "boolean") {
    bad("bootBoard: strictCoherency is not a boolean");
  }
  const dd: unknown = opts.dmaDebug;
  if (dd !== undefined && typeof dd !== "boolean") {
    if (!isObj(dd)) bad("bootBoard: dmaDebug is neither a boolean nor DMA-API debug options");
    for (const k of ["strict", "allErrors"] as const)
      if (dd[k] !== undefined && typeof dd[k] !== "boolean") bad(`bootBoard: dmaDebug.${k} is not a boolean`);
    if (dd.numErrors !== undefined && (!isInt(dd.numErrors) || dd.numErrors < 0))
      bad(`bootBoard: dmaDebug.numErrors ${String(dd.numErrors)} is not a count`);
    if (dd.entries !== undefined && (!isInt(dd.entries) || dd.entries < 1))
      bad(`bootBoard: dmaDebug.entries ${String(dd.entries)} is not a positive count`);
    if (dd.driverFilter !== undefined && typeof dd.driverFilter !== "string")
      bad("bootBoard: dmaDebug.driverFilter is not a string");
  }
  const tr: unknown = opts.trace;
  if (tr !== undefined && typeof tr !== "boolean") {
    if (!isObj(tr)) bad("bootBoard: trace is neither a boolean nor TraceRecorder options");
    if (tr.capacity !== undefined && (!isInt(tr.capacity) || tr.capacity < 1))
      bad(`bootBoard: trace.capacity ${String(tr.capacity)} is not a positive integer`);
    if (
      tr.events !== undefined &&
      !(Array.isArray(tr.events) && tr.events.every((e) => typeof e === "string"))
    )
      bad("bootBoard: trace.events is not a list of event names");
  }
  if (opts.drivers !== undefined) {
    if (!Array.isArray(opts.drivers)) bad("bootBoard: drivers is not a list");
    const names = new Set<string>();
    for (const d of opts.drivers as unknown[]) {
      if (!isObj(d) || typeof d.name !== "string" || d.name === "" || typeof d.probe !== "function") {
        bad("bootBoard: drivers: an entry is not a DeviceDriver (name, probe)");
      }
      if (d.name === EXYNOS_SYSMMU_DRIVER.name || names.has(d.name))
        bad(`bootBoard: drivers: "${d.name}" is registered twice`);
      names.add(d.name);
    }
  }
  const w = opts.iommuWindow;
  if (w !== undefined) {
    if (!isObj(w) || !isInt(w.base) || !isInt(w.size)) bad("bootBoard: iommuWindow is not { base, size }");
    if (w.base % PAGE_SIZE || w.size < PAGE_SIZE || w.size % PAGE_SIZE || w.base + w.size > SZ_4G) {
      bad(
        `bootBoard: iommuWindow [${hex(w.base)}, +${hex(w.size)}) is not a page-aligned window of at least 4 KiB below 4 GiB`,
      );
    }
  }
  const s = opts.swiotlbSize;
  if (s !== undefined && (!isInt(s) || s <= 0 || s % (IO_TLB_SIZE * IO_TLB_SEGSIZE))) {
    bad(`bootBoard: swiotlbSize ${String(s)} is not a positive multiple of 256 KiB`);
  }
}

/** A direct master that cannot reach all of DRAM, and the physical window it reaches. */
interface Window {
  readonly dev: BoardDevice;
  readonly lo: number;
  readonly hi: number;
}

/** The direct masters whose streaming mask leaves part of DRAM out (they need swiotlb). */
function boundedMasters(b: BoardDescription): Window[] {
  const ramLo = Math.min(...b.banks.map((x) => x.start));
  const ramHi = Math.max(...b.banks.map((x) => x.start + x.size));
  const out: Window[] = [];
  for (const d of b.devices) {
    if (d.iommus.length > 0) continue;
    const lo = (d.dmaPfnOffset ?? 0) * PAGE_SIZE;
    const hi = lo + 2 ** d.dmaMaskBits;
    if (lo > ramLo || hi < ramHi) out.push({ dev: d, lo, hi });
  }
  return out;
}

/** The fixed ranges a board claims at boot: `reg` nodes, the UMP carve-out, placed `cma=` regions. */
function fixedClaims(b: BoardDescription): { base: number; size: number }[] {
  const out = b.reservedMemory.filter((n) => n.reg).map((n) => ({ base: n.reg!.base, size: n.reg!.size }));
  if (b.ump) out.push({ base: b.ump.base, size: b.ump.size });
  const cmd = parseCmaCmdline(boardCmdline(b));
  for (const r of cmd.regions ?? []) if (r.start) out.push({ base: r.start, size: r.size });
  if (cmd.merged?.fixed) out.push({ base: cmd.merged.base, size: cmd.merged.size });
  return out;
}

/** The largest run of DRAM in [lo, hi) that no fixed range claims. */
function largestFreeRun(b: BoardDescription, lo: number, hi: number): number {
  const claims = fixedClaims(b).sort((x, y) => x.base - y.base);
  let best = 0;
  for (const bank of b.banks) {
    let cur = Math.max(bank.start, lo);
    const end = Math.min(bank.start + bank.size, hi);
    for (const c of claims) {
      if (c.base + c.size <= cur || c.base >= end) continue;
      best = Math.max(best, c.base - cur);
      cur = Math.max(cur, c.base + c.size);
    }
    best = Math.max(best, end - cur);
  }
  return best;
}

/** What only booting needs beyond `validateBoard`. */
function checkBootable(b: BoardDescription, opts: BootOpts): void {
  for (const d of b.devices) {
    if (RESERVED_DEVICE_NAMES.has(d.name))
      bad(`device "${d.name}": the machine registers a device of that name itself`);
  }
  if (b.ump && b.ump.size % UMP_BLOCK_SIZE) {
    bad(`ump: the carve-out size ${hex(b.ump.size)} is not a multiple of UMP's 256 KiB blocks`);
  }
  const bounded = boundedMasters(b);
  if (bounded.length > 0) {
    const size = opts.swiotlbSize ?? SOC_SWIOTLB_SIZE;
    const ramLo = Math.min(...b.banks.map((x) => x.start));
    const lo = Math.max(...bounded.map((w) => w.lo));
    const hi = Math.min(...bounded.map((w) => w.hi), ramLo + b.lowmemSize);
    if (largestFreeRun(b, lo, hi) < size) {
      const who = bounded.map((w) => `${w.dev.name} [${hex(w.lo)}, ${hex(w.hi)})`).join(", ");
      bad(
        `swiotlb: the ${hex(size)}-byte bounce pool fits in no free lowmem every sub-32-bit master reaches (${who})`,
      );
    }
  }
}

/** The VCM device id a SysMMU serves ("MFC_L" and "MFC_R" are both the MFC's), or -1. */
function vcmIdOf(sysmmu: string): number {
  return VCM_DEV_NAMES.indexOf(sysmmu.replace(/_[LR]$/, ""));
}

/**
 * Boots a board: validates `desc` (and the options) as a whole — a bad description throws its
 * `KernelError` (EINVAL; ENOSPC for too many `cma=` regions) before any kernel exists — then
 * builds the machine in the kernel's boot order (see the module comment) and returns it.
 *
 * Masters behind System MMUs reach memory only through their own IOMMU domain (an ARM IOMMU
 * mapping over `opts.iommuWindow`, one per master; the MFC's two SysMMUs share it); direct
 * masters reach physical memory under their masks, with CMA, their coherent pools and, for
 * sub-32-bit ones, swiotlb bounce buffers.
 */
export function bootBoard(desc: BoardDescription, opts: BootOpts = {}): Machine {
  checkOpts(opts);
  validateBoard(desc);
  checkBootable(desc, opts);
  const board = deepFreeze(structuredClone(desc)) as BoardDescription;
  const kernel = createKernel({ seed: opts.seed ?? 0, name: board.name });
  const recorder = opts.trace ? new TraceRecorder(kernel.trace, opts.trace === true ? {} : opts.trace) : null;
  const counters = new MachineCounters(kernel);
  try {
    return build(kernel, board, opts, recorder, counters);
  } catch (e) {
    try {
      kernel.shutdown();
    } catch {
      // the boot error is the one to report
    }
    recorder?.stop();
    counters.stop();
    throw e;
  }
}

function build(
  kernel: Kernel,
  board: BoardDescription,
  opts: BootOpts,
  recorder: TraceRecorder | null,
  counters: MachineCounters,
): Machine {
  // ---- memblock phase ----
  const mm = mmInit(kernel, {
    banks: board.banks.map(({ name, start, size }) => ({ name, start, size })),
    lowmemSize: board.lowmemSize,
  });
  const cmdline = boardCmdline(board);
  cmaInit(kernel, { cmdline, sizeMbytes: 0 });
  const merged = parseCmaCmdline(cmdline).merged;
  const rmem = new Map<string, ReservedMem>();
  // fixed ranges first
  if (board.ump) umpReserve(kernel, { base: board.ump.base, size: board.ump.size });
  for (const n of board.reservedMemory) if (n.reg) rmem.set(n.name, ofReservedMemSetup(kernel, n));
  for (const r of cmaEarlyRegions(kernel)) if (r.base && !r.reserved) cmaEarlyRegionReserve(r);
  if (merged?.fixed && merged.size > 0) dmaContiguousReserve(kernel, mm.kspace.lowmemEnd);
  // then dynamic ones, the most constrained first
  const bounded = boundedMasters(board);
  if (bounded.length > 0) {
    const below = Math.min(...bounded.map((w) => w.hi));
    const start = swiotlbInit(kernel, { size: opts.swiotlbSize ?? SOC_SWIOTLB_SIZE, belowPhys: below });
    for (const w of bounded) {
      if (start < w.lo) {
        throw new KernelError(
          "ENOMEM",
          `swiotlb: the bounce pool at ${hex(start)} is below ${w.dev.name}'s window [${hex(w.lo)}, ${hex(w.hi)})`,
        );
      }
    }
  }
  cmaEarlyRegionsReserve(kernel);
  const unplaced = cmaEarlyRegions(kernel).filter((r) => !r.reserved);
  if (unplaced.length > 0) {
    throw new KernelError(
      "ENOMEM",
      `cma=: no room for region(s) ${unplaced.map((r) => `"${r.label}" (${hex(r.size)} bytes)`).join(", ")}`,
    );
  }
  for (const n of board.reservedMemory) if (!n.reg) rmem.set(n.name, ofReservedMemSetup(kernel, n));
  if (merged && !merged.fixed && merged.size > 0) dmaContiguousReserve(kernel, mm.kspace.lowmemEnd);
  const pmm = board.cmdline.pmm !== undefined;
  if (pmm) pmmReserve(kernel, { cmdline });

  // ---- the page allocator, CMA activation ----
  mm.memblockFreeAll();
  cmaInitReservedAreas(kernel);
  const bootFreePages = mm.buddy.nrFreePages;
  const bootHeld = heldPagesByOwner(mm);

  // ---- CPU, processes, DMA-API debug ----
  const cpu = cpuInit(kernel, {
    mode: opts.cache ?? board.cache.mode,
    lineSize: board.cache.lineSize,
    l1Size: board.cache.l1Size,
    l2Size: board.cache.l2Size,
    strict: opts.strictCoherency ?? false,
  });
  processes(kernel); // the process layer (kernel-process creates it on first use)
  if (opts.dmaDebug) dmaDebugInit(kernel, opts.dmaDebug === true ? {} : opts.dmaDebug);

  // ---- the platform bus: SysMMUs, then the masters ----
  const platform = busRegister(kernel, "platform");
  const sysmmus = new Map<string, Device>();
  if (board.sysmmus.length > 0) {
    driverRegister(platform, EXYNOS_SYSMMU_DRIVER);
    for (const s of board.sysmmus) {
      const dev = sysmmuPlatformDevice(kernel, boardSysmmuInstance(s), boardSysmmuOpts(s));
      deviceRegister(dev, platform);
      if (!exynosSysmmuOf(dev))
        throw new KernelError("ENODEV", `SysMMU "${s.name}" (${dev.name}) did not probe`);
      sysmmus.set(s.name, dev);
    }
  }
  const window = opts.iommuWindow ?? SOC_IOMMU_WINDOW;
  const devices = new Map<string, Device>();
  const ports = new Map<string, readonly DmaPort[]>();
  const mappings = new Map<string, DmaIommuMapping>();
  const coherentPools = new Map<string, string>();
  const cmaAreas = new Map<string, CmaRegion>();
  for (const d of board.devices) {
    const dev = new Device(kernel, boardDeviceOpts(d));
    deviceRegister(dev, platform);
    devices.set(d.name, dev);
    for (const name of d.memoryRegions) {
      const rm = rmem.get(name)!;
      if (rm.kind === "cma" && !cmaAreas.has(d.name)) {
        ofReservedMemDeviceInit(dev, rm);
        cmaAreas.set(d.name, rm.cma);
      } else if (rm.kind === "dma-pool" && d.iommus.length === 0 && !coherentPools.has(d.name)) {
        rmemDmaDeviceInit(dev, rm);
        coherentPools.set(d.name, name);
      }
    }
    if (d.iommus.length > 0) {
      for (const s of d.iommus) iommuFwspecInit(dev, sysmmus.get(s)!);
      iommuProbeDevice(dev);
      const m = armIommuCreateMapping(dev, window.base, window.size);
      mappings.set(d.name, m);
      armIommuAttachDevice(dev, m);
      ports.set(d.name, Object.freeze(sysmmuDmaPorts(dev)));
    } else {
      ports.set(d.name, Object.freeze([new DmaPort(mm, dev)]));
    }
    // drivers find their hardware's bus-master ports through mm-core's registry
    ports.get(d.name)!.forEach((port, i) => {
      devDmaPortSet(dev, port, i);
    });
  }

  // ---- buffer-sharing devices ----
  systemHeapCreate(kernel);
  const defaultArea = dmaContiguousDefaultArea(kernel);
  addDefaultCmaHeap(kernel);
  udmabufDevInit(kernel);
  if (pmm) {
    pmmInit(kernel);
    if (pmmInfo(kernel).types.every((t) => t.size === 0)) {
      throw new KernelError("ENOMEM", `pmm=${board.cmdline.pmm}: no room for the PMM pool in lowmem`);
    }
  }
  const vcms: Vcm[] = [];
  const seen = new Set<number>();
  for (const s of board.sysmmus) {
    const id = vcmIdOf(s.name);
    const served = board.devices.some((d) => d.iommus.includes(s.name));
    if (id < 0 || !served || seen.has(id)) continue;
    seen.add(id);
    vcms.push(vcmCreateUnified(kernel, SOC_VCM_CONTEXT_SIZE, id, null));
  }
  let ump: UmpDriver | null = null;
  {
    const dedicated: UmpMemoryBackend | null = board.ump
      ? umpDedicatedBackend(mm, board.ump.base, board.ump.size)
      : null;
    const vcm: UmpMemoryBackend | null = vcms.length > 0 ? umpVcmBackend(kernel) : null;
    const backend = dedicated && vcm ? socUmpBackend(dedicated, vcm) : (dedicated ?? vcm);
    ump = umpInit(kernel, backend ? { backend } : { backend: "os" });
  }
  const fixedDevPaths = [
    ...dmaHeaps(kernel).map((h) => `/dev/dma_heap/${h}`),
    "/dev/udmabuf",
    ...(pmm ? ["/dev/pmm"] : []),
    ump.path,
  ];

  // ---- names for reports, the end of boot ----
  const names = new Map<CmaRegion, string>();
  for (const rm of rmem.values()) if (rm.kind === "dma-pool") names.set(rm.region, rm.name);
  if (pmm) {
    for (const t of pmmInfo(kernel).types) {
      const r = cmaRegions(kernel).find((x) => x.name === null && x.base === t.base && t.size > 0);
      if (r) names.set(r, `pmm:${t.name}`);
    }
  }
  counters.bootDone(names);

  // ---- the drivers ----
  for (const drv of opts.drivers ?? SOC_PLATFORM_DRIVERS) driverRegister(platform, drv);

  return new Machine({
    kernel,
    mm,
    cpu,
    board,
    platform,
    devices,
    sysmmus,
    reservedMem: rmem,
    ports,
    mappings,
    coherentPools,
    cmaAreas,
    defaultArea,
    vcms,
    ump,
    pmm,
    fixedDevPaths,
    recorder,
    counters,
    bootFreePages,
    bootHeld,
  });
}
