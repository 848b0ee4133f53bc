/**
 * Reclamation: the camera → compositor pipeline with one of its processes killed (exit 137, as by
 * SIGKILL) at a random point — before one of its system calls, chosen uniformly among the calls it
 * makes in a clean run. At the kill, every file only the victim held must be released at once
 * (what it shared lives on with the survivor: fds, mappings, messages in flight); the survivor must
 * carry on or end on a clean error; once it is gone too, the machine must be back to its state
 * after boot — CMA `used`, IOVA space, page-table entries, buddy pages, files, dma-bufs — and its
 * shutdown must find nothing leaked.
 *
 * @module
 */
import { isKernelError, Prng } from "@umm/kernel-core";
import type { File, Process } from "@umm/kernel-process";
import { type BoardDescription, bootBoard, EXYNOS4210_BOARD } from "@umm/soc";
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
  for (let i = 0; i < opts.runs; i++) {
    const victim: Who = rng.chance(0.5) ? "camera" : "compositor";
    const survivor: Who = victim === "camera" ? "compositor" : "camera";
    const at = rng.int(1, steps[victim]);
    const tag = `run ${i}: ${victim} killed before its call ${at}`;
    const m = bootBoard(board, { seed: 1 });
    // level-2 page tables stay with their domain once made: make the pipeline's exist up front
    warmPageTables(m, [...m.devices.keys()], 16);
    const base = captureState(m, { mode: "canonical" });
    let count = 0;
    let killed = false;
    const onStep = (who: Who, step: string, procs: PipelineProcs) => {
      if (who !== victim || ++count !== at || killed) return;
      killed = true;
      const v = procs[victim];
      // files only the victim holds (every reference is one of its fds or mappings) must go with it
      const only = [...refsOf(v)].filter(([f, n]) => f.refcount === n).map(([f]) => f);
      v.exit(137);
      for (const f of only) {
        if (!f.released)
          failures.push(`${tag} (${step}): ${f.path} outlived its only holder (${f.refcount} reference(s))`);
      }
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
  };
}
