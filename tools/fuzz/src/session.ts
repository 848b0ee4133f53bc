/**
 * The real side of a fuzzed sequence: a booted machine (from a pool that reuses one machine for
 * many sequences and boots a fresh one when asked, after a failure, or every so often), the
 * processes in the model's slots, and the helpers commands share.
 *
 * @module
 */
import { IOMMU_READ, iommuIovaToPhys, iommuMap, iommuUnmap } from "@umm/iommu-core";
import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import type { Process } from "@umm/kernel-process";
import { type DmaPort, GFP_KERNEL } from "@umm/mm-core";
import { bootBoard, EXYNOS4210_BOARD, type Machine, SOC_IOMMU_WINDOW } from "@umm/soc";
import { captureExit, captureInit, type FuzzCapture } from "./capture.js";
import type { MProc } from "./model.js";
import { captureState, diffStates, formatDiffs, type StateSnapshot, vb2QueueState } from "./snapshot.js";

/** The process slots of a sequence: two cooperating users and an unprivileged one. */
export const SLOT_UIDS: readonly number[] = Object.freeze([1000, 1001, 2000]);
export const SLOT_NAMES: readonly string[] = Object.freeze(["camera", "compositor", "intruder"]);

/**
 * Bus masters the fuzzer attaches buffers to: Exynos4210 masters behind their own SysMMU that no
 * platform driver claims, so every mapping in their domains is the fuzzer's.
 */
export const FUZZ_DEVICES: readonly string[] = Object.freeze(["rotator", "jpeg", "mdma", "pcie"]);

/** The master behind the fuzzer's V4L2 capture device (DMABUF imports), also unclaimed. */
export const CAPTURE_DEVICE = "g2d";

/** Every master whose domain the invariants walk: the attachment masters and the capture master. */
export const DOMAIN_DEVICES: readonly string[] = Object.freeze([...FUZZ_DEVICES, CAPTURE_DEVICE]);

/** Start and end of the D.V window every SysMMU master gets. */
export const IOVA_WINDOW = Object.freeze({
  start: SOC_IOMMU_WINDOW.base,
  end: SOC_IOMMU_WINDOW.base + SOC_IOMMU_WINDOW.size,
});

/** A deterministic byte pattern: `len` bytes starting from `seed`. */
export function pattern(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = (seed * 2654435761 + 0x9e3779b9) >>> 0;
  for (let i = 0; i < len; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A booted machine the fuzzer owns, with the state it must return to after each sequence. */
export class FuzzMachine {
  readonly machine: Machine;
  readonly seed: number;
  /** canonical state right after boot */
  readonly baseline: StateSnapshot;
  /** sequences run on it */
  runs = 0;
  /** a sequence failed on it: its state is unknown */
  dirty = false;
  readonly ports: ReadonlyMap<string, DmaPort>;
  /** the capture device the V4L2 commands queue to */
  readonly cap: FuzzCapture;

  constructor(seed: number) {
    this.seed = seed;
    this.machine = bootBoard(EXYNOS4210_BOARD, { seed });
    this.cap = captureInit(this.machine, CAPTURE_DEVICE);
    this.ports = new Map(DOMAIN_DEVICES.map((d) => [d, this.machine.dmaPort(d)]));
    warmPageTables(this.machine);
    this.baseline = this.capture();
  }

  /** The canonical state, the capture queue included. */
  capture(): StateSnapshot {
    return captureState(this.machine, {
      mode: "canonical",
      extra: () => ({ queue: vb2QueueState(this.cap.queue, false) }),
    });
  }

  /** Differences from the state after boot (empty when the machine is back where it was). */
  diffFromBaseline(): string {
    const now = this.capture();
    return formatDiffs(diffStates(this.baseline, now, this.machine.mm.frames.basePfn));
  }

  /** Shuts the machine down; the leak report's lines (empty when nothing leaked). */
  shutdown(): string[] {
    captureExit(this.cap);
    const r = this.machine.shutdown();
    return r.leaks.map((l) => `${l.what}: ${l.detail}`);
  }
}

/** Sections of D.V, from the bottom of each fuzzed master's window, whose lv2 tables exist before a sequence. */
export const WARM_SECTIONS = 128;

/**
 * exynos-iommu keeps a level-2 table from the first mapping in its 1 MiB section until the
 * domain goes. So that a sequence leaves page-table memory exactly as it found it, the tables of
 * the first `WARM_SECTIONS` sections of each fuzzed master exist before the baseline is taken
 * (a sequence's attachments never need more: the IOVA allocator is bottom-up first fit, and no
 * fuzzed buffer is a whole physically contiguous MiB, so no section mapping replaces a table).
 */
export function warmPageTables(
  machine: Machine,
  devices: readonly string[] = DOMAIN_DEVICES,
  sections = WARM_SECTIONS,
): void {
  const pfn = machine.mm.buddy.allocPages(0, GFP_KERNEL, { tag: "fuzz:warm" })!;
  for (const dev of devices) {
    const m = machine.iommuMapping(dev);
    if (!m) continue;
    for (let i = 0; i < sections; i++) {
      const iova = m.base + i * SZ_1M;
      if (iommuIovaToPhys(m.domain, iova) !== 0) continue; // in use: its table exists
      iommuMap(m.domain, iova, pfn * PAGE_SIZE, PAGE_SIZE, IOMMU_READ);
      iommuUnmap(m.domain, iova, PAGE_SIZE);
    }
  }
  machine.mm.buddy.freePages(pfn, 0);
}

/** Options of a `MachinePool`. */
export interface PoolOpts {
  /** seed of the first machine; later ones count up */
  readonly seed?: number;
  /** sequences per machine before a fresh boot (default 64) */
  readonly rebootEvery?: number;
}

/**
 * Hands out machines: the same one for consecutive sequences while they leave it clean, a fresh
 * one after `rebootEvery` sequences, after a failure, or always once `fresh` is set (shrinking
 * wants every run independent of the ones before).
 */
export class MachinePool {
  #current: FuzzMachine | null = null;
  #seed: number;
  readonly rebootEvery: number;
  /** boot a fresh machine (seeded `freshSeed`) for every sequence */
  fresh = false;
  /** the seed of fresh machines */
  readonly freshSeed: number;
  /** machines booted */
  boots = 0;
  /** leak reports of retired machines (must stay empty) */
  readonly leaks: string[] = [];

  constructor(opts: PoolOpts = {}) {
    this.#seed = opts.seed ?? 1;
    this.freshSeed = opts.seed ?? 1;
    this.rebootEvery = opts.rebootEvery ?? 64;
  }

  acquire(): FuzzMachine {
    const c = this.#current;
    if (c && !c.dirty && !this.fresh && c.runs < this.rebootEvery) {
      c.runs++;
      return c;
    }
    this.retire();
    // fresh machines all boot alike, so that a shrunk counterexample replays on the same machine
    const m = new FuzzMachine(this.fresh ? this.freshSeed : this.#seed++);
    this.boots++;
    m.runs = 1;
    this.#current = m;
    return m;
  }

  /** Shuts the current machine down (a clean one must report no leak). */
  retire(): void {
    const c = this.#current;
    this.#current = null;
    if (!c) return;
    const leaks = c.shutdown();
    if (!c.dirty && leaks.length > 0) this.leaks.push(...leaks.map((l) => `machine seed ${c.seed}: ${l}`));
  }
}

/** What a sequence's commands act on. */
export interface Real {
  readonly fm: FuzzMachine;
  readonly machine: Machine;
}

/** Spawns the process of `slot` (uid from the slot) listening for connections. */
export function spawnSlot(real: Real, p: MProc): Process {
  const proc = real.machine.spawn(SLOT_NAMES[p.slot] ?? `p${p.slot}`, { uid: p.uid, gid: p.uid });
  p.proc = proc;
  p.alive = true;
  p.fds.clear();
  p.maps.length = 0;
  p.handles.length = 0;
  p.listenPath = `/run/fuzz/${proc.pid}`;
  const fd = proc.listen(p.listenPath);
  p.fds.set(fd, { kind: "listen" });
  return proc;
}

/** Pages of `len` bytes. */
export const pages = (len: number): number => Math.ceil(len / PAGE_SIZE);

/** A size in bytes for a command's page count. */
export const bytesOfPages = (n: number): number => n * PAGE_SIZE;

/** 1 MiB (UMP requests are rounded to 256 KiB blocks). */
export const UMP_MAX_REQUEST = SZ_1M / 2;
