/**
 * Reclamation: the camera → compositor pipeline with one of its processes killed (exit 137, as by
 * SIGKILL) at a random point — before one of its system calls, chosen uniformly among the calls it
 * makes in a clean run. At the kill, every file only the victim held must be released at once
 * (what it shared lives on with the survivor: fds, mappings, messages in flight); the survivor must
 * carry on or end on a clean error. Right after the kill every page still has exactly one owner
 * and no device reaches a page the allocator has back; what the kill gave back at once (CMA bytes,
 * IOVA pages, page-table entries, files, dma-bufs) is summed in the result. Once the survivor is
 * gone too, the machine must be back to its state after boot — CMA `used`, IOVA space, page-table
 * entries and open files, named one by one, then everything the canonical snapshot holds (buddy
 * pages, refcounts, dma-bufs, processes) — and its shutdown must find nothing leaked.
 *
 * @module
 */
import { dmaBufStats } from "@umm/dma-buf";
import { isKernelError, PAGE_SIZE, Prng } from "@umm/kernel-core";
import { type File, openFiles, type Process } from "@umm/kernel-process";
import { cmaRegions } from "@umm/mm-cma";
import { PG_buddy } from "@umm/mm-core";
import { type BoardDescription, bootBoard, EXYNOS4210_BOARD, type Machine } from "@umm/soc";
import { checkPageOwnership } from "./invariants.js";
import { walkDomain } from "./pagetable.js";
import { type PipelineOpts, type PipelineProcs, runPipeline } from "./pipeline.js";
import { warmPageTables } from "./session.js";
import { captureState, diffStates, formatDiffs } from "./snapshot.js";

type Who = "camera" | "compositor";

/** Options of `runReclamation`. */
export interface ReclaimOpts {
  readonly board?: BoardDescription;
  /** kills to try */
  readonly runs: number;
  /** seed of the random points (the machines boot with seed 1) */
  readonly seed: number;
  readonly pipelineOpts?: PipelineOpts;
  readonly onRun?: (victim: Who, step: number, outcome: string) => void;
  /**
   * For tests that prove the checks work: called at the kill, just before the victim exits,
   * with the machine and the victim (a planted "driver bug" that keeps something the victim held).
   */
  readonly sabotage?: (machine: Machine, victim: Process) => void;
}

/** What the machine holds of the resources a process's death must give back. */
export interface Held {
  /** bytes of CMA regions in use */
  readonly cmaUsed: number;
  /** pages of IOVA space allocated, over every master */
  readonly iovaPages: number;
  /** 4 KiB pages mapped in SysMMU page tables, over every master */
  readonly ptePages: number;
  /** open files, and dma-bufs alive */
  readonly files: number;
  readonly dmabufs: number;
}

/** The resources of `Held`, counted on `machine`. */
export function held(machine: Machine): Held {
  let cmaUsed = 0;
  for (const r of cmaRegions(machine.kernel)) cmaUsed += r.size - r.free;
  let iovaPages = 0;
  let ptePages = 0;
  for (const name of machine.devices.keys()) {
    const m = machine.iommuMapping(name);
    if (!m) continue;
    iovaPages += m.usedPages;
    ptePages += walkDomain(machine, m.domain, true).size;
  }
  return {
    cmaUsed,
    iovaPages,
    ptePages,
    files: openFiles(machine.kernel).length,
    dmabufs: dmaBufStats(machine.kernel).length,
  };
}

/** A device that still reaches a page the allocator has free (none may). */
function strayMappings(machine: Machine): string[] {
  const f = machine.mm.frames;
  const out: string[] = [];
  for (const name of machine.devices.keys()) {
    const m = machine.iommuMapping(name);
    if (!m) continue;
    for (const [iova, pa] of walkDomain(machine, m.domain, true)) {
      const i = Math.floor(pa / PAGE_SIZE) - f.basePfn;
      if (i < 0 || i >= f.count) continue;
      if (f.refcount[i] === 0 || f.flags[i]! & PG_buddy) {
        out.push(`${name} D.V 0x${iova.toString(16)} still reaches free page 0x${pa.toString(16)}`);
      }
    }
  }
  return out;
}

/** What the kills found. */
export interface ReclaimResult {
  readonly board: string;
  readonly runs: number;
  /** kills by victim */
  readonly kills: Readonly<Record<Who, number>>;
  /** how the survivors ended ("ok", "EPIPE at send ready", ...) */
  readonly survivors: Readonly<Record<string, number>>;
  /** anything not reclaimed, a survivor that crashed, a leak (must be empty) */
  readonly failures: readonly string[];
  /** what the kills gave back at once (summed over the runs) */
  readonly reclaimed: Held;
}

/** References `p` holds on each file: one per fd, one per mapping. */
function refsOf(p: Process): Map<File, number> {
  const out = new Map<File, number>();
  if (p.state !== "running") return out;
  for (const fd of p.fds.fds()) {
    const f = p.fds.get(fd);
    if (f) out.set(f, (out.get(f) ?? 0) + 1);
  }
  for (const v of p.space.vmas) {
    const f = v.file as File | null;
    if (f) out.set(f, (out.get(f) ?? 0) + 1);
  }
  return out;
}

/** Runs the kills (see the module comment). */
export async function runReclamation(opts: ReclaimOpts): Promise<ReclaimResult> {
  const board = opts.board ?? EXYNOS4210_BOARD;
  const rng = new Prng(`reclaim/${opts.seed}`);
  // how many system calls each process makes in a clean run
  const steps: Record<Who, number> = { camera: 0, compositor: 0 };
  {
    const m = bootBoard(board, { seed: 1 });
    const o = await runPipeline(m, { ...opts.pipelineOpts, onStep: (who) => steps[who]++ });
    if (o.kind !== "complete")
      throw new Error(`the pipeline does not run cleanly: ${o.camera} / ${o.compositor}`);
    m.shutdown();
  }
  const failures: string[] = [];
  const kills: Record<Who, number> = { camera: 0, compositor: 0 };
  const survivors = new Map<string, number>();
  const reclaimed = { cmaUsed: 0, iovaPages: 0, ptePages: 0, files: 0, dmabufs: 0 };
  for (let i = 0; i < opts.runs; i++) {
    const victim: Who = rng.chance(0.5) ? "camera" : "compositor";
    const survivor: Who = victim === "camera" ? "compositor" : "camera";
    const at = rng.int(1, steps[victim]);
    const tag = `run ${i}: ${victim} killed before its call ${at}`;
    const m = bootBoard(board, { seed: 1 });
    // level-2 page tables stay with their domain once made: make the pipeline's exist up front
    warmPageTables(m, [...m.devices.keys()], 16);
    const base = captureState(m, { mode: "canonical" });
    const baseHeld = held(m);
    let count = 0;
    let killed = false;
    const onStep = (who: Who, step: string, procs: PipelineProcs) => {
      if (who !== victim || ++count !== at || killed) return;
      killed = true;
      const v = procs[victim];
      // files only the victim holds (every reference is one of its fds or mappings) must go with it
      const only = [...refsOf(v)].filter(([f, n]) => f.refcount === n).map(([f]) => f);
      const before = held(m);
      opts.sabotage?.(m, v);
      v.exit(137);
      for (const f of only) {
        if (!f.released)
          failures.push(`${tag} (${step}): ${f.path} outlived its only holder (${f.refcount} reference(s))`);
      }
      const after = held(m);
      for (const k of Object.keys(reclaimed) as (keyof Held)[]) reclaimed[k] += before[k] - after[k];
      // the machine is consistent the moment the victim is gone: every page has one owner, and
      // no device reaches memory that went back to the allocator
      try {
        checkPageOwnership(m);
      } catch (e) {
        failures.push(`${tag} (${step}): ${(e as Error).message}`);
      }
      for (const s of strayMappings(m)) failures.push(`${tag} (${step}): ${s}`);
    };
    let outcome = "";
    try {
      const o = await runPipeline(m, { ...opts.pipelineOpts, onStep });
      // what the processes' deaths left to the hardware (a framebuffer still on screen) goes at
      // the next vblank
      await m.kernel.clock.runUntilIdle();
      outcome = o[survivor];
      kills[victim]++;
      survivors.set(outcome, (survivors.get(outcome) ?? 0) + 1);
      if (!killed) failures.push(`${tag}: the kill point was never reached`);
      for (const p of [o.procs.camera, o.procs.compositor]) {
        if (p.state === "running") failures.push(`${tag}: pid ${p.pid} (${p.comm}) still runs`);
      }
      const hz = m.stats().coherencyHazards.total;
      if (hz) failures.push(`${tag}: ${hz} coherency hazard(s)`);
      // what the issue names, one by one, then everything else the snapshot holds
      const end = held(m);
      for (const k of Object.keys(end) as (keyof Held)[]) {
        if (end[k] !== baseHeld[k]) failures.push(`${tag}: ${k} is ${end[k]}, ${baseHeld[k]} after boot`);
      }
      const diffs = diffStates(base, captureState(m, { mode: "canonical" }), m.mm.frames.basePfn);
      if (diffs.length) failures.push(`${tag}: not everything returned:\n${formatDiffs(diffs)}`);
    } catch (e) {
      failures.push(
        `${tag}: ${isKernelError(e) ? "KernelError" : (e as Error).name}: ${(e as Error).message}`,
      );
    }
    const leaks = m.shutdown().leaks;
    for (const l of leaks) failures.push(`${tag}: leak at shutdown: ${l.what}: ${l.detail}`);
    opts.onRun?.(victim, at, outcome);
  }
  return {
    board: board.name,
    runs: opts.runs,
    kills,
    survivors: Object.fromEntries([...survivors].sort((a, b) => b[1] - a[1])),
    failures,
    reclaimed,
  };
}
