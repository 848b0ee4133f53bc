/**
 * A booted machine (what `bootBoard` returns): the kernel and its memory, CPU, devices, DMA
 * ports, processes, /dev, the event bus, counters built from events, and `shutdown()`, which
 * tears everything down and reports whatever is still held.
 *
 * @module
 */
import { type Cpu, HAZARD_KINDS } from "@umm/arch-arm";
import { dmaBufStats } from "@umm/dma-buf";
import {
  armIommuDetachDevice,
  armIommuReleaseMapping,
  type DmaIommuMapping,
  devGetCoherentMemory,
  dmaReleaseCoherentMemory,
  swiotlbStats,
  toDmaIommuMapping,
} from "@umm/dma-mapping-arm";
import { iommuReleaseDevice } from "@umm/iommu-core";
import {
  type Bus,
  type Device,
  deviceUnregister,
  hex,
  isKernelError,
  type Kernel,
  KernelError,
  PAGE_SIZE,
  type TraceBus,
  type TraceRecorder,
} from "@umm/kernel-core";
import {
  findChrdev,
  openFiles,
  type Process,
  processes,
  SHUTDOWN_EXIT_CODE,
  spawn,
} from "@umm/kernel-process";
import { type CmaRegion, cmaRegions, devSetCmaArea, type ReservedMem } from "@umm/mm-cma";
import { type DmaPort, type Mm, PG_reserved } from "@umm/mm-core";
import { s5pVcmExit, type Vcm, vcmDestroy, vcmLeaks } from "@umm/mm-vcm";
import { type FimdFrame, fimdLastFrame } from "@umm/plat-s5p-media";
import { exynosIommuState, exynosSysmmuOf, exynosSysmmuSkipTlbInvalidations } from "@umm/plat-s5p-sysmmu";
import { pmmInfo, upbufLive } from "@umm/pmm";
import { type UmpDriver, umpExit, umpLiveHandles } from "@umm/ump";
import type { BoardDescription } from "./board.js";
import { MachineCounters, type MachineStats } from "./stats.js";

/** One thing `Machine.shutdown()` found still held. */
export interface ShutdownLeak {
  /**
   * what kind of thing: "open file", "process", "cma", "buddy", "pinned pages", "dma-buf",
   * "ump", "pmm", "upbuf", "vcm", "iommu mapping", "iommu domain", "iommu", "coherent pool",
   * "swiotlb", "shutdown"
   */
  readonly what: string;
  /** which one and how much, in words (`common: 16 pages in use, 0 at boot`) */
  readonly detail: string;
}

/** What `Machine.shutdown()` reports. */
export interface ShutdownReport {
  /** everything still held after the teardown; empty when nothing leaked */
  readonly leaks: readonly ShutdownLeak[];
  /** the packages' own warnings during the teardown (`*_warn` events: leak reports, WARNs), in order */
  readonly warnings: readonly string[];
}

/** Debug switches of a master's System MMUs (`Machine.sysmmuDebug`); absent fields stay as they are. */
export interface SysmmuDebugOpts {
  /**
   * The TLB sanitizer: every translation the TLB answers is checked against a fresh walk of the
   * page table; one that differs (an entry nobody invalidated) is a `sysmmu_stale_tlb` event.
   */
  readonly tlbSanitizer?: boolean;
  /**
   * A driver bug on purpose: the exynos-iommu driver leaves out the TLB invalidation of its next
   * this many unmap callbacks on each of the SysMMUs (0 turns it off).
   */
  readonly skipTlbInvalidations?: number;
}

/** A board device as the machine set it up (`Machine.describe()`). */
export interface MachineDeviceSummary {
  /** the board's name for it */
  readonly name: string;
  /** its compatible strings */
  readonly compatible: readonly string[];
  /** its System MMUs by board name, in port order ([] for direct DMA) */
  readonly sysmmus: readonly string[];
  /** DMA ports (one per SysMMU, else one) */
  readonly ports: number;
  /** its own CMA area, or null (the default area serves it) */
  readonly cmaArea: string | null;
  /** its coherent pool's reserved-memory node, or null */
  readonly coherentPool: string | null;
  /** streaming and coherent masks, `dmaPfnOffset` */
  readonly dmaMask: number | null;
  /** the coherent DMA mask */
  readonly coherentDmaMask: number;
  /** `dma_pfn_offset` in pages */
  readonly dmaPfnOffset: number;
  /** the bound driver, or null */
  readonly driver: string | null;
}

/**
 * The shape of a machine: devices, SysMMUs, CMA regions, /dev paths (plain data, in a canonical
 * order, so that two machines of one board compare equal whatever order their description
 * listed things in).
 */
export interface MachineSummary {
  /** the board's name */
  readonly board: string;
  /** board devices, by name */
  readonly devices: readonly MachineDeviceSummary[];
  /** SysMMU names, sorted */
  readonly sysmmus: readonly string[];
  /** CMA regions and areas by base address: name, base, size, origin */
  readonly cma: readonly { name: string; base: number; size: number; origin: string }[];
  /** the default CMA area's name, or null */
  readonly defaultCmaArea: string | null;
  /** registered /dev paths, sorted */
  readonly devPaths: readonly string[];
}

/** @internal everything `bootBoard` built, handed to the `Machine` */
export interface MachineParts {
  /** the kernel */
  readonly kernel: Kernel;
  /** its memory management */
  readonly mm: Mm;
  /** its CPU */
  readonly cpu: Cpu;
  /** the frozen description */
  readonly board: BoardDescription;
  /** the "platform" bus */
  readonly platform: Bus;
  /** board devices by board name */
  readonly devices: ReadonlyMap<string, Device>;
  /** SysMMU platform devices by SysMMU name */
  readonly sysmmus: ReadonlyMap<string, Device>;
  /** reserved-memory nodes by node name */
  readonly reservedMem: ReadonlyMap<string, ReservedMem>;
  /** DMA ports by board device name */
  readonly ports: ReadonlyMap<string, readonly DmaPort[]>;
  /** the ARM IOMMU mapping of each SysMMU master (the creator's reference) */
  readonly mappings: ReadonlyMap<string, DmaIommuMapping>;
  /** the reserved-memory node of each master's coherent pool */
  readonly coherentPools: ReadonlyMap<string, string>;
  /** the CMA area of each master that has one of its own */
  readonly cmaAreas: ReadonlyMap<string, CmaRegion>;
  /** the default CMA area, or null */
  readonly defaultArea: CmaRegion | null;
  /** the S5P VCM contexts made for UMP */
  readonly vcms: readonly Vcm[];
  /** UMP as loaded */
  readonly ump: UmpDriver | null;
  /** whether PMM was set up (`pmm=`) */
  readonly pmm: boolean;
  /** the /dev paths the machine registered itself */
  readonly fixedDevPaths: readonly string[];
  /** the recorder `BootOpts.trace` asked for */
  readonly recorder: TraceRecorder | null;
  /** the event counters */
  readonly counters: MachineCounters;
  /** free buddy pages once the page allocator and the CMA areas were up */
  readonly bootFreePages: number;
  /** pages held (refcount > 0, not reserved) at that point, by owner tag */
  readonly bootHeld: ReadonlyMap<string, number>;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Numbered /dev families probed for `devPaths` (drivers register the next free number). */
const DEV_FAMILIES: readonly (readonly [string, number])[] = [
  ["/dev/video", 0],
  ["/dev/v4l-subdev", 0],
  ["/dev/media", 0],
  ["/dev/dri/card", 0],
  ["/dev/dri/renderD", 128],
  ["/dev/fb", 0],
];
const DEV_FAMILY_SPAN = 64;

/** Pages with a reference that are not reserved, counted by owner tag. */
export function heldPagesByOwner(mm: Mm): Map<string, number> {
  const f = mm.frames;
  const out = new Map<string, number>();
  for (let i = 0; i < f.count; i++) {
    if (f.refcount[i]! <= 0 || f.flags[i]! & PG_reserved) continue;
    const tag = f.ownerOf(f.basePfn + i) || "(untagged)";
    out.set(tag, (out.get(tag) ?? 0) + 1);
  }
  return out;
}

/** A machine booted from a board description. */
export class Machine {
  /** the simulated kernel */
  readonly kernel: Kernel;
  /** its memory management (DRAM, memblock, buddy, address spaces) */
  readonly mm: Mm;
  /** the CPU with its data cache and coherency checker */
  readonly cpu: Cpu;
  /** the description it was booted from (frozen) */
  readonly board: BoardDescription;
  /** the "platform" bus every SysMMU and board device sits on */
  readonly platform: Bus;
  /** the board's devices by board name (the masters) */
  readonly devices: ReadonlyMap<string, Device>;
  /** the System MMUs' platform devices by SysMMU name ("FIMC0", "MFC_L") */
  readonly sysmmus: ReadonlyMap<string, Device>;
  /** what each `/reserved-memory` node became, by node name */
  readonly reservedMem: ReadonlyMap<string, ReservedMem>;
  /** the kernel's event bus */
  readonly trace: TraceBus;
  /** the recorder `BootOpts.trace` asked for (it saw the whole boot), else null */
  readonly recorder: TraceRecorder | null;
  /** UMP as loaded (`/dev/ump`, its backend), or null */
  readonly ump: UmpDriver | null;
  readonly #p: MachineParts;
  #report: ShutdownReport | null = null;

  /** @internal use `bootBoard` */
  constructor(parts: MachineParts) {
    this.#p = parts;
    this.kernel = parts.kernel;
    this.mm = parts.mm;
    this.cpu = parts.cpu;
    this.board = parts.board;
    this.platform = parts.platform;
    this.devices = parts.devices;
    this.sysmmus = parts.sysmmus;
    this.reservedMem = parts.reservedMem;
    this.trace = parts.kernel.trace;
    this.recorder = parts.recorder;
    this.ump = parts.ump;
  }

  #device(name: string): Device {
    const dev = this.devices.get(name);
    if (!dev) {
      throw new KernelError(
        "ENODEV",
        `board "${this.board.name}" has no device "${name}" (devices: ${[...this.devices.keys()].join(", ")})`,
      );
    }
    return dev;
  }

  #alive(what: string): void {
    if (this.#report) throw new KernelError("ENODEV", `${what}: the machine is shut down`);
  }

  /**
   * Bus-master port `index` of device `name`: through its `index`-th System MMU (the MFC has
   * two: 0 left, 1 right), or straight to physical memory under its DMA mask and `dmaPfnOffset`.
   * ENODEV for an unknown device, ENXIO for a port it does not have; ENODEV after `shutdown`.
   */
  dmaPort(name: string, index = 0): DmaPort {
    this.#alive("dmaPort");
    const ports = this.dmaPorts(name);
    const port = ports[index];
    if (!port) {
      throw new KernelError("ENXIO", `${name} has ${ports.length} DMA port(s); there is no port ${index}`);
    }
    return port;
  }

  /** Every bus-master port of device `name`, in port order. ENODEV for an unknown device. */
  dmaPorts(name: string): readonly DmaPort[] {
    this.#device(name);
    return this.#p.ports.get(name) ?? [];
  }

  /** The ARM IOMMU mapping device `name` is attached to (null for direct DMA). ENODEV for an unknown device. */
  iommuMapping(name: string): DmaIommuMapping | null {
    return toDmaIommuMapping(this.#device(name));
  }

  /**
   * A CMA region or area by the name `stats()` gives it (`common`, `mfc_fw`,
   * `mfc-left@4a000000`, `pmm:general`). ENOENT when there is none.
   */
  cmaRegion(name: string): CmaRegion {
    const c = this.#p.counters;
    const r = cmaRegions(this.kernel).find((x) => c.nameOf(x) === name);
    if (!r) {
      throw new KernelError(
        "ENOENT",
        `no CMA region "${name}" (regions: ${cmaRegions(this.kernel)
          .map((x) => c.nameOf(x))
          .join(", ")})`,
      );
    }
    return r;
  }

  /** A new process (kernel-process `spawn`). ENODEV after `shutdown`. */
  spawn(comm: string, opts: { readonly uid?: number; readonly gid?: number } = {}): Process {
    this.#alive("spawn");
    return spawn(this.kernel, { comm, ...opts });
  }

  /**
   * The /dev paths registered now, sorted: the machine's own (`/dev/dma_heap/*`, `/dev/udmabuf`,
   * `/dev/pmm`, `/dev/ump`) and the numbered nodes drivers make (`/dev/videoN`,
   * `/dev/v4l-subdevN`, `/dev/mediaN`, `/dev/dri/cardN`, `/dev/dri/renderDN`, `/dev/fbN`, the
   * first 64 of each). Processes `open` them.
   */
  get devPaths(): string[] {
    const out = new Set<string>();
    for (const p of this.#p.fixedDevPaths) if (findChrdev(this.kernel, p)?.registered) out.add(p);
    for (const [prefix, first] of DEV_FAMILIES) {
      for (let n = first; n < first + DEV_FAMILY_SPAN; n++) {
        if (findChrdev(this.kernel, `${prefix}${n}`)?.registered) out.add(`${prefix}${n}`);
      }
    }
    return [...out].sort();
  }

  /**
   * Debug switches of the System MMUs in front of master `name`, or of every SysMMU when `name`
   * is null (see `SysmmuDebugOpts`): the TLB sanitizer and the skipped-TLB-invalidation bug.
   * Returns the SysMMU names it set. ENODEV for an unknown device, a master with no SysMMU or
   * after `shutdown`; EINVAL for a count that is not a non-negative integer (nothing changes).
   */
  sysmmuDebug(name: string | null, opts: SysmmuDebugOpts): string[] {
    this.#alive("sysmmuDebug");
    const skip = opts.skipTlbInvalidations;
    if (skip !== undefined && (!Number.isInteger(skip) || skip < 0)) {
      throw new KernelError(
        "EINVAL",
        `sysmmuDebug: skipTlbInvalidations ${skip} is not a non-negative integer`,
      );
    }
    let names: string[];
    if (name === null) names = [...this.sysmmus.keys()];
    else {
      this.#device(name);
      names = (this.board.devices.find((d) => d.name === name)?.iommus ?? []).filter((s) =>
        this.sysmmus.has(s),
      );
      if (names.length === 0) throw new KernelError("ENODEV", `${name} has no System MMU`);
    }
    for (const s of names) {
      const dev = this.sysmmus.get(s)!;
      const data = exynosSysmmuOf(dev);
      if (!data) throw new KernelError("ENODEV", `SysMMU ${s} (${dev.name}) is not probed`);
      if (opts.tlbSanitizer !== undefined) data.mmu.tlbSanitizer = opts.tlbSanitizer;
      if (skip !== undefined) exynosSysmmuSkipTlbInvalidations(dev, skip);
    }
    return names;
  }

  /**
   * The last frame display controller `name` (a FIMD) scanned out — pixels, size, format, the
   * vblank it was read at — or null before its first frame. ENODEV for an unknown device or one
   * no display driver is bound to.
   */
  displayLastFrame(name: string): FimdFrame | null {
    return fimdLastFrame(this.#device(name));
  }

  /** True once `shutdown` ran. */
  get isDown(): boolean {
    return this.#report !== null;
  }

  /** The counters (see `MachineStats`): built from trace events and the packages' public numbers. */
  stats(): MachineStats {
    const c = this.#p.counters;
    return {
      cma: c.cma(),
      buddyFreePages: this.mm.buddy.nrFreePages,
      iommu: { maps: c.iommuMaps, unmaps: c.iommuUnmaps, mappedBytes: c.mappedBytes },
      faults: {
        sysmmu: MachineCounters.record(c.sysmmuFaults),
        iommu: c.iommuFaults,
        busErrors: c.busErrors,
      },
      coherencyHazards: {
        total: [...c.hazards.values()].reduce((s, n) => s + n, 0),
        byKind: c.hazardCounts(HAZARD_KINDS),
      },
      dmaDebugErrors: {
        total: [...c.debugErrors.values()].reduce((s, n) => s + n, 0),
        byCheck: MachineCounters.record(c.debugErrors),
      },
      swiotlbBounces: c.swiotlbBounces,
      dmaBufs: dmaBufStats(this.kernel).length,
      processes: processes(this.kernel).length,
    };
  }

  /** The machine's shape: devices with their SysMMUs, pools and ports; CMA regions; /dev paths. */
  describe(): MachineSummary {
    const p = this.#p;
    const c = p.counters;
    return {
      board: this.board.name,
      devices: [...p.devices]
        .sort((a, b) => byName(a[0], b[0]))
        .map(([name, dev]) => {
          const area = p.cmaAreas.get(name);
          return {
            name,
            compatible: [...dev.compatible],
            sysmmus: (this.board.devices.find((d) => d.name === name)?.iommus ?? []).filter((s) =>
              p.sysmmus.has(s),
            ),
            ports: p.ports.get(name)?.length ?? 0,
            cmaArea: area ? c.nameOf(area) : null,
            coherentPool: p.coherentPools.get(name) ?? null,
            dmaMask: dev.dmaMask,
            coherentDmaMask: dev.coherentDmaMask,
            dmaPfnOffset: dev.dmaPfnOffset,
            driver: dev.driver?.name ?? null,
          };
        }),
      sysmmus: [...p.sysmmus.keys()].sort(byName),
      cma: cmaRegions(this.kernel)
        .map((r) => ({ name: c.nameOf(r), base: r.base, size: r.size, origin: r.origin }))
        .sort((a, b) => a.base - b.base),
      defaultCmaArea: p.defaultArea ? c.nameOf(p.defaultArea) : null,
      devPaths: this.#report ? [] : this.devPaths,
    };
  }

  /**
   * Tears the machine down and reports what is still held. In order:
   *
   * 1. every live process exits (each fd it still had is reported as an "open file");
   * 2. the platform bus unbinds every device in reverse probe order — drivers of board devices
   *    first; just before the first System MMU of a master goes, the master leaves its ARM IOMMU
   *    mapping (IOVA still allocated in it is reported) and its IOMMU;
   *    then the masters give up their coherent pools and CMA areas and every device is
   *    unregistered;
   * 3. UMP is unloaded and the S5P VCM contexts destroyed (live UMP buffers are reported and keep
   *    them);
   * 4. `kernel.shutdown()` runs every subsystem's teardown step (their warnings are collected);
   * 5. the checks: CMA `used` of each region back to its value at the end of boot; buddy free
   *    pages back to their value once the page allocator and the CMA areas were up (the pages
   *    still held are named by owner tag); no pinned page; no live dma-buf, open file, UMP
   *    buffer, PMM area or transaction, VCM object, IOMMU domain or mapped IOVA, swiotlb slot.
   *
   * An empty `leaks` list means nothing leaked. A second call returns the first report.
   */
  shutdown(): ShutdownReport {
    if (this.#report) return this.#report;
    const p = this.#p;
    const k = this.kernel;
    const leaks: ShutdownLeak[] = [];
    const leak = (what: string, detail: string) => leaks.push({ what, detail });
    p.counters.collectWarnings(true);
    const attempt = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (e) {
        if (!(e instanceof Error)) throw e;
        leak("shutdown", `${what}: ${e.message}`);
      }
    };

    // 1. processes
    for (const proc of processes(k)) {
      for (const fd of proc.fds.fds()) {
        leak("open file", `pid ${proc.pid} (${proc.comm}) fd ${fd}: ${proc.fds.get(fd)?.path ?? "?"}`);
      }
      attempt(`exit of pid ${proc.pid}`, () => proc.exit(SHUTDOWN_EXIT_CODE));
    }
    for (const u of upbufLive(k)) {
      leak("upbuf", `UPBuffer transaction of ${hex(u.size)} bytes at ${hex(u.paddr)} was never ended`);
    }

    // 2. drivers in reverse probe order; masters leave their SysMMUs just before those go
    const released = new Set<Device>();
    const releaseMaster = (name: string, dev: Device) => {
      if (released.has(dev)) return;
      released.add(dev);
      const m = p.mappings.get(name);
      if (!m) return;
      if (m.liveRanges > 0) {
        leak(
          "iommu mapping",
          `${name}: ${m.liveRanges} IOVA range(s), ${m.usedPages} page(s), still mapped in its ARM IOMMU mapping at ${hex(m.base)}`,
        );
      }
      if (toDmaIommuMapping(dev) === m) armIommuDetachDevice(dev);
      armIommuReleaseMapping(m);
      iommuReleaseDevice(dev);
    };
    const mastersOf = new Map<Device, [string, Device][]>();
    for (const [name, dev] of p.devices) {
      for (const s of this.board.devices.find((d) => d.name === name)?.iommus ?? []) {
        const sd = p.sysmmus.get(s);
        if (!sd) continue;
        const list = mastersOf.get(sd) ?? [];
        list.push([name, dev]);
        mastersOf.set(sd, list);
      }
    }
    const unsub = k.onDeviceEvent((event, dev) => {
      if (event !== "unbind_driver") return;
      for (const [name, m] of mastersOf.get(dev) ?? []) {
        try {
          releaseMaster(name, m);
        } catch (e) {
          if (!(e instanceof Error)) throw e;
          leak("shutdown", `releasing ${name} from its IOMMU: ${e.message}`);
        }
      }
    });
    attempt("unbinding the platform bus", () => p.platform.unbindAll());
    unsub();
    for (const [name, dev] of p.devices) attempt(`releasing ${name}`, () => releaseMaster(name, dev));
    for (const [name, dev] of [...p.devices].reverse()) {
      if (devGetCoherentMemory(dev)) {
        try {
          dmaReleaseCoherentMemory(dev);
        } catch (e) {
          if (!isKernelError(e)) throw e;
          leak("coherent pool", `${name}: ${e.detail}`);
        }
      }
      devSetCmaArea(dev, null);
    }
    for (const dev of [...p.devices.values(), ...p.sysmmus.values()].reverse()) {
      if (k.devices.get(dev.name) === dev) attempt(`unregistering ${dev.name}`, () => deviceUnregister(dev));
    }

    // 3. UMP and its VCM contexts
    if (p.ump) {
      const live = umpLiveHandles(k);
      for (const h of live) {
        leak(
          "ump",
          `secure ID ${hex(h.secureId)} (${hex(h.size)} bytes, ${h.backend}) still has ${h.refCount} reference(s), ${h.kernelRefs} through the kernel API`,
        );
      }
      if (live.length === 0) attempt("unloading UMP", () => umpExit(k));
    }
    if (p.vcms.length > 0) {
      // a context still holding a (leaked UMP) binding stays; the others go
      const busy = new Set(vcmLeaks(k).reservations.map((r) => r.vcm));
      for (const v of [...p.vcms].reverse()) {
        if (!busy.has(v)) attempt(`destroying ${v.name}`, () => vcmDestroy(v));
      }
      if (busy.size === 0) attempt("tearing the S5P VCM space down", () => s5pVcmExit(k));
    }

    // before the kernel's own teardown: what the subsystems still hold
    if (p.pmm) {
      for (const t of pmmInfo(k).types) {
        if (t.areas > 0) leak("pmm", `${t.areas} area(s) of pool "${t.name}" still allocated`);
      }
    }
    for (const b of dmaBufStats(k)) {
      leak(
        "dma-buf",
        `ino ${b.ino} (${b.expName}, ${b.size} bytes) has ${b.count} reference(s)${b.attachments.length ? `, attached to ${b.attachments.join(", ")}` : ""}`,
      );
    }
    const sw = swiotlbStats(k);
    if (sw.io_tlb_used > 0) leak("swiotlb", `${sw.io_tlb_used} bounce slot(s) still in use`);

    // 4. the kernel's teardown steps
    attempt("kernel shutdown", () => k.shutdown());
    p.counters.collectWarnings(false);

    // 5. checks
    for (const f of openFiles(k)) leak("open file", `${f.path} still has ${f.refcount} reference(s)`);
    for (const r of cmaRegions(k)) {
      const used = r.count - r.availableCount;
      const boot = p.counters.bootUsed(r);
      if (used !== boot) {
        leak(
          "cma",
          `${p.counters.nameOf(r)}: ${used} page(s) in use, ${boot} at boot (${r.users} chunk(s): ${r
            .chunks()
            .map((c) => `${hex(c.start)}+${hex(c.size)} ${c.owner}`)
            .join(", ")})`,
        );
      }
    }
    const free = this.mm.buddy.nrFreePages;
    if (free !== p.bootFreePages) {
      const now = heldPagesByOwner(this.mm);
      const diff: string[] = [];
      for (const [tag, n] of [...now].sort((a, b) => b[1] - a[1])) {
        const d = n - (p.bootHeld.get(tag) ?? 0);
        if (d > 0) diff.push(`${d} × ${tag}`);
      }
      leak(
        "buddy",
        `${p.bootFreePages - free} page(s) fewer free than after boot (${free} now, ${p.bootFreePages} then)${diff.length ? `; held: ${diff.slice(0, 8).join(", ")}${diff.length > 8 ? ", …" : ""}` : ""}`,
      );
    }
    const f = this.mm.frames;
    let pinned = 0;
    let firstPinned = -1;
    for (let i = 0; i < f.count; i++) {
      if (f.pincount[i]! > 0) {
        pinned++;
        if (firstPinned < 0) firstPinned = f.basePfn + i;
      }
    }
    if (pinned > 0) {
      leak("pinned pages", `${pinned} page(s) still pinned, the first at ${hex(firstPinned * PAGE_SIZE)}`);
    }
    const v = vcmLeaks(k);
    if (v.contexts.length + v.reservations.length + v.phys.length > 0) {
      leak(
        "vcm",
        `${v.contexts.length} context(s) (${v.contexts.map((c) => c.name).join(", ")}), ${v.reservations.length} reservation(s), ${v.phys.length} physical allocation(s) still alive`,
      );
    }
    const ex = exynosIommuState(k);
    if (ex && ex.domains.size > 0) leak("iommu domain", `${ex.domains.size} SysMMU domain(s) never freed`);
    // iommu_unmap reports what the driver says it cleared; exynos-iommu (as upstream) reports the
    // page size for a range that was never mapped, so unmaps can outweigh maps without any leak
    if (p.counters.mappedBytes > 0) {
      leak("iommu", `${hex(p.counters.mappedBytes)} bytes mapped by iommu_map were never unmapped`);
    } else if (p.counters.mappedBytes < 0) {
      p.counters.warnings.push(
        `iommu: iommu_unmap reported ${hex(-p.counters.mappedBytes)} bytes more than iommu_map mapped (unmaps of ranges that were never mapped)`,
      );
    }
    p.recorder?.stop();
    p.counters.stop();
    this.#report = Object.freeze({
      leaks: Object.freeze(leaks),
      warnings: Object.freeze([...p.counters.warnings]),
    });
    return this.#report;
  }
}
