/**
 * The fault-injection campaign: the camera → compositor pipeline run once with every allocation
 * site counting (`faultInjectSet(kernel, site, {})`), then once per chosen call of each site with
 * that call failing (`failNth`) — page, CMA, IOVA, page-table page, swiotlb slot. Every run must
 * end with a clean error (a process gives up on an errno and exits) or a degraded or complete
 * picture, never a KernelBug, a hang, a coherency hazard or an exception that is not an errno; and
 * `machine.shutdown()` must find nothing leaked.
 *
 * @module
 */
import { FAULT_SITES, faultInjectClear, faultInjectSet, faultInjectStats, faultSite } from "@umm/kernel-core";
import { type BoardDescription, bootBoard, EXYNOS4210_BOARD, type Machine } from "@umm/soc";
import { type PipelineOpts, type PipelineOutcome, runPipeline } from "./pipeline.js";

/** A pipeline to run under injection: returns how it ended (a KernelError must not escape). */
export type Pipeline = (machine: Machine) => Promise<PipelineOutcome>;

/** Options of `runFaultCampaign`. */
export interface FaultCampaignOpts {
  /** the board (default the Exynos4210) */
  readonly board?: BoardDescription;
  /** machine seed (every run boots the same machine, so the n-th call is the same call) */
  readonly seed?: number;
  /** sites to fail (default `FAULT_SITES`) */
  readonly sites?: readonly string[];
  /** at most this many injection points per site, spread evenly over its calls (default all) */
  readonly maxPerSite?: number;
  /** the pipeline (default `runPipeline` with `pipelineOpts`) */
  readonly pipeline?: Pipeline;
  readonly pipelineOpts?: PipelineOpts;
  /** called after every run */
  readonly onRun?: (site: string, n: number, outcome: string) => void;
}

/** What failing one site did. */
export interface SiteReport {
  readonly site: string;
  /** the site's calls during a clean run */
  readonly calls: number;
  /** runs with one of those calls failing */
  readonly runs: number;
  /** faults actually injected (each run injects one) */
  readonly injected: number;
  readonly complete: number;
  readonly degraded: number;
  /** clean errors, by "errno at step" */
  readonly errors: Readonly<Record<string, number>>;
  /** leak reports of shutdowns (must be empty) */
  readonly leaks: readonly string[];
  /** anything else: KernelBug, non-errno exception, hang, hazard, no fault injected (must be empty) */
  readonly bad: readonly string[];
}

/** The campaign's result. */
export interface FaultCampaignResult {
  readonly board: string;
  readonly seed: number;
  /** the clean run's outcome */
  readonly baseline: string;
  readonly sites: readonly SiteReport[];
  readonly runs: number;
  readonly injected: number;
  readonly leaks: number;
  readonly bad: number;
}

const describeOutcome = (o: PipelineOutcome) =>
  o.kind === "error"
    ? `error (camera: ${o.camera}; compositor: ${o.compositor})`
    : `${o.kind} (${o.shown}/${o.frames} frames)`;

/** Which calls of `n` to fail: all, or `max` spread evenly (first and last included). */
export function injectionPoints(n: number, max = Number.POSITIVE_INFINITY): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i + 1);
  if (max <= 1) return [1];
  const out = new Set<number>();
  for (let i = 0; i < max; i++) out.add(1 + Math.round((i * (n - 1)) / (max - 1)));
  return [...out];
}

/** One run: boot, arm, run, disarm, shut down. */
async function oneRun(
  board: BoardDescription,
  seed: number,
  pipeline: Pipeline,
  arm: (m: Machine) => void,
): Promise<{
  outcome: PipelineOutcome | null;
  bad: string | null;
  leaks: string[];
  stats: ReturnType<typeof faultInjectStats>;
}> {
  const machine = bootBoard(board, { seed });
  arm(machine);
  let outcome: PipelineOutcome | null = null;
  let bad: string | null = null;
  try {
    outcome = await pipeline(machine);
    const hz = machine.stats().coherencyHazards;
    if (hz.total > 0) bad = `coherency hazard: ${JSON.stringify(hz.byKind)}`;
  } catch (e) {
    bad = `${(e as Error).name}: ${(e as Error).message}`;
  }
  const stats = faultInjectStats(machine.kernel);
  faultInjectClear(machine.kernel);
  let leaks: string[];
  try {
    leaks = machine.shutdown().leaks.map((l) => `${l.what}: ${l.detail}`);
  } catch (e) {
    leaks = [`shutdown threw ${(e as Error).name}: ${(e as Error).message}`];
  }
  return { outcome, bad, leaks, stats };
}

/** Runs the campaign (see the module comment). */
export async function runFaultCampaign(opts: FaultCampaignOpts = {}): Promise<FaultCampaignResult> {
  const seed = opts.seed ?? 1;
  const board = opts.board ?? EXYNOS4210_BOARD;
  const sites = opts.sites ?? FAULT_SITES;
  const pipeline = opts.pipeline ?? ((m: Machine) => runPipeline(m, opts.pipelineOpts));

  // the clean run, counting every site's calls
  const clean = await oneRun(board, seed, pipeline, (m) => {
    for (const s of sites) faultInjectSet(m.kernel, s);
  });
  if (clean.bad || !clean.outcome || clean.outcome.kind !== "complete" || clean.leaks.length) {
    throw new Error(
      `the pipeline does not run cleanly without faults: ${clean.bad ?? (clean.outcome ? describeOutcome(clean.outcome) : "")} ${clean.leaks.join("; ")}`,
    );
  }
  const calls = new Map(clean.stats.map((s) => [s.site, s.calls]));

  const reports: SiteReport[] = [];
  for (const site of sites) {
    const n = calls.get(site) ?? 0;
    const errors = new Map<string, number>();
    const leaks: string[] = [];
    const bad: string[] = [];
    let runs = 0;
    let injected = 0;
    let complete = 0;
    let degraded = 0;
    for (const nth of injectionPoints(n, opts.maxPerSite)) {
      const r = await oneRun(board, seed, pipeline, (m) => {
        faultSite(m.kernel, site); // exists even if the site is made later
        faultInjectSet(m.kernel, site, { failNth: nth });
      });
      runs++;
      const got = r.stats.find((s) => s.site === site)?.injected ?? 0;
      injected += got;
      if (got !== 1)
        bad.push(`${site} call ${nth}: ${got} fault(s) injected (the run is not deterministic?)`);
      if (r.bad) bad.push(`${site} call ${nth}: ${r.bad}`);
      for (const l of r.leaks) leaks.push(`${site} call ${nth}: ${l}`);
      const o = r.outcome;
      if (o?.kind === "complete") complete++;
      else if (o?.kind === "degraded") degraded++;
      else if (o) {
        const why = [o.camera, o.compositor].filter((x) => x !== "ok").join(" / ");
        errors.set(why, (errors.get(why) ?? 0) + 1);
      }
      opts.onRun?.(site, nth, r.bad ? `BAD ${r.bad}` : o ? describeOutcome(o) : "?");
    }
    reports.push({
      site,
      calls: n,
      runs,
      injected,
      complete,
      degraded,
      errors: Object.fromEntries([...errors].sort((a, b) => b[1] - a[1])),
      leaks,
      bad,
    });
  }
  return {
    board: board.name,
    seed,
    baseline: describeOutcome(clean.outcome),
    sites: reports,
    runs: reports.reduce((s, r) => s + r.runs, 0),
    injected: reports.reduce((s, r) => s + r.injected, 0),
    leaks: reports.reduce((s, r) => s + r.leaks.length, 0),
    bad: reports.reduce((s, r) => s + r.bad.length, 0),
  };
}
