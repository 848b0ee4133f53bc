/**
 * The plan: a replay of the workload on the board as it is, the smallest-size search for the
 * regions that need one, and what the command prints and draws of it — the text report, its
 * JSON twin and the fragmentation pictures.
 *
 * @module
 */
import type { Seed } from "@umm/kernel-core";
import type { BoardDescription } from "@umm/soc";
import { type WrittenReport, writeReport } from "../report/html.js";
import { memoryMapSvg, regionSnapshotSvg } from "../report/memory-map.js";
import { type SummaryColumn, summaryTable } from "../report/table.js";
import {
  type CmaPlanElsewhere,
  type CmaPlanFailure,
  type CmaPlanMoment,
  type CmaPlanReplay,
  replayWorkload,
} from "./replay.js";
import { type CmaPlanSizing, smallestRegionSize } from "./sizing.js";
import type { CmaPlanWorkload } from "./workload.js";

/** Options of `planCma`. */
export interface PlanCmaOpts {
  /** seed of the booted kernels (default 1; built-in workloads take theirs when they are made) */
  readonly seed?: Seed;
  /** search the smallest size of every region the board declares, not only of those that failed */
  readonly all?: boolean;
  /** search granule in bytes (default: 4 MiB for reusable regions, 1 MiB for others) */
  readonly step?: number;
}

/** One region in the report. */
export interface CmaPlanRegionReport {
  readonly name: string;
  /** "merged", "2010" or "dt-pool" */
  readonly origin: string;
  readonly base: number;
  /** bytes, on the board as given */
  readonly size: number;
  readonly reusable: boolean;
  readonly allocations: number;
  readonly failures: number;
  /** bytes */
  readonly peakUsed: number;
  /** virtual ns, or null when never used */
  readonly peakAt: number | null;
  /** the region at its worst moment (first failure, else peak use), without the live list */
  readonly worst: Omit<CmaPlanMoment, "live"> | null;
  /** the smallest-size search, when it ran for this region */
  readonly sizing: CmaPlanSizing | null;
  /** bytes: `sizing.smallest`, or null */
  readonly smallest: number | null;
  /**
   * Bytes the region could lose: size − smallest when the search ran (negative: it must grow),
   * else size − peak use (an upper bound: fragmentation may need more)
   */
  readonly headroom: number;
  /** what `headroom` is measured from */
  readonly headroomBasis: "smallest" | "peak";
}

/** What `umm cma-plan` found (`--json` prints it). */
export interface CmaPlanReport {
  readonly board: string;
  readonly workload: {
    readonly name: string;
    readonly description: string;
    readonly steps: number;
    readonly allocations: number;
    /** virtual ns from the first step to the last */
    readonly duration: number;
  };
  readonly seed: Seed;
  /** every failed allocation on the board as given, in step order */
  readonly failures: readonly CmaPlanFailure[];
  /** `via: "dma"` allocations that took no CMA memory (devices behind an IOMMU), by device */
  readonly elsewhere: readonly CmaPlanElsewhere[];
  /** the regions the workload used (all of the board's with `all`), by base address */
  readonly regions: readonly CmaPlanRegionReport[];
}

/** A report and the replay behind it (the intervals and worst moments the pictures need). */
export interface CmaPlan {
  readonly report: CmaPlanReport;
  readonly replay: CmaPlanReplay;
}

/**
 * Replays `workload` on `board`, then searches the smallest size of every region that saw a
 * failure (every region with `all`). Throws `CmaPlanError` for a board that does not boot or a
 * workload it cannot route.
 */
export function planCma(board: BoardDescription, workload: CmaPlanWorkload, opts: PlanCmaOpts = {}): CmaPlan {
  const seed = opts.seed ?? 1;
  const replay = replayWorkload(board, workload, { seed });
  const regions: CmaPlanRegionReport[] = [];
  for (const r of replay.regions) {
    const touched = r.allocations > 0 || r.failures > 0;
    if (!touched && !opts.all) continue;
    const sizing =
      r.failures > 0 || opts.all
        ? smallestRegionSize(board, workload, r.name, {
            seed,
            ...(opts.step === undefined ? {} : { step: opts.step }),
            atBoardSize: { failures: r.failures, peakUsed: r.peakUsed },
          })
        : null;
    const smallest = sizing?.smallest ?? null;
    const { live: _live, ...worst } = r.worst ?? { live: null };
    regions.push({
      name: r.name,
      origin: r.origin,
      base: r.base,
      size: r.size,
      reusable: r.reusable,
      allocations: r.allocations,
      failures: r.failures,
      peakUsed: r.peakUsed,
      peakAt: r.peakAt,
      worst: r.worst ? (worst as Omit<CmaPlanMoment, "live">) : null,
      sizing,
      smallest,
      headroom: smallest === null ? r.size - r.peakUsed : r.size - smallest,
      headroomBasis: smallest === null ? "peak" : "smallest",
    });
  }
  const steps = workload.steps;
  const report: CmaPlanReport = {
    board: board.name,
    workload: {
      name: workload.name,
      description: workload.description,
      steps: steps.length,
      allocations: steps.filter((s) => s.op === "alloc").length,
      duration: steps.length ? steps[steps.length - 1]!.t - steps[0]!.t : 0,
    },
    seed,
    failures: replay.failures,
    elsewhere: replay.elsewhere,
    regions,
  };
  return { report, replay };
}

/** Virtual ns as text: `250 ms`, `3.31 s`, `2h05m03.1s`. */
export function formatDuration(ns: number): string {
  const ms = ns / 1e6;
  if (ms < 1000) return `${Number(ms.toFixed(3))} ms`;
  const s = ns / 1e9;
  if (s < 60) return `${Number(s.toFixed(3))} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s - h * 3600) / 60);
  const rest = Number((s - h * 3600 - m * 60).toFixed(3));
  return `${h > 0 ? `${h}h` : ""}${String(m).padStart(h > 0 ? 2 : 1, "0")}m${rest < 10 ? "0" : ""}${rest}s`;
}

/** Bytes as text: `96 MiB`, `23.73 MiB`, `512 KiB`, `100 B`; negative ones with a minus sign. */
function size(n: number): string {
  if (n < 0) return `-${size(-n)}`;
  for (const [unit, div] of [
    ["GiB", 2 ** 30],
    ["MiB", 2 ** 20],
    ["KiB", 2 ** 10],
  ] as const) {
    if (n >= div) return n % div === 0 ? `${n / div} ${unit}` : `${(n / div).toFixed(2)} ${unit}`;
  }
  return `${n} B`;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The text of a failure's line. */
function failureLine(f: CmaPlanFailure): string {
  const how = f.type ? `/${f.type}` : f.via === "cma" ? "" : ` (${f.via})`;
  const what = `${f.dev}${how} ${f.id}: ${size(f.size)} (align ${size(f.align)})`;
  const where = f.regions
    .map((r) => `${r.name} (${size(r.free)} free, largest free chunk ${size(r.largestFree)})`)
    .join(", then ");
  return `step ${f.step} at ${formatDuration(f.t)}: ${what} from ${where}: ${f.errno}`;
}

/** The most failure lines the text report lists. */
const FAILURE_LINES = 10;

const COLUMNS: readonly SummaryColumn[] = [
  { key: "region" },
  { key: "kind" },
  { key: "size", align: "right" },
  { key: "peak", title: "peak used", align: "right" },
  { key: "allocs", align: "right" },
  { key: "failures", align: "right" },
  { key: "smallest", title: "smallest ok", align: "right" },
  { key: "headroom", align: "right" },
];

/** The summary table of a report (the text of the terminal and of report.html). */
export function cmaPlanTable(report: CmaPlanReport): string {
  const rows = report.regions.map((r) => ({
    region: r.name,
    kind: r.origin,
    size: size(r.size),
    peak: size(r.peakUsed),
    allocs: r.allocations,
    failures: r.failures,
    smallest:
      r.sizing === null ? "-" : !r.sizing.resizable ? "n/a" : r.smallest === null ? "none" : size(r.smallest),
    headroom: r.headroomBasis === "smallest" ? size(r.headroom) : `<= ${size(r.headroom)}`,
  }));
  return summaryTable(rows, { columns: COLUMNS });
}

/**
 * The text report: what was replayed, the summary table (region, kind, size, peak use,
 * allocations, failures, smallest size that succeeds, headroom), each region's worst moment, the
 * first failures and the size searches.
 */
export function formatCmaPlan(report: CmaPlanReport): string {
  const w = report.workload;
  const out: string[] = [
    `umm cma-plan: board ${report.board}, workload ${w.name} (${w.description})`,
    `${plural(w.steps, "step")}, ${plural(w.allocations, "allocation")} over ${formatDuration(w.duration)} of virtual time, seed ${String(report.seed)}: ${plural(report.failures.length, "failure")}`,
    "",
  ];
  if (report.regions.length === 0) out.push("The workload used no CMA region.");
  else out.push(cmaPlanTable(report).trimEnd());
  const worst = report.regions.filter((r) => r.worst !== null);
  if (worst.length > 0) {
    out.push("", "Worst moment of each region (its first failure, else its peak use):");
    const width = Math.max(...worst.map((r) => r.name.length));
    for (const r of worst) {
      const m = r.worst!;
      out.push(
        `  ${r.name.padEnd(width)}  at ${formatDuration(m.t)} (step ${m.step}, ${m.reason === "failure" ? "first failure" : "peak use"}): ` +
          `${size(m.used)} used, ${size(m.free)} free in ${plural(m.freeChunks, "range")}, largest ${size(m.largestFree)} ` +
          `(fragmentation ${pct(m.fragmentation)})`,
      );
    }
  }
  if (report.failures.length > 0) {
    out.push("", `Failures (${report.failures.length}):`);
    for (const f of report.failures.slice(0, FAILURE_LINES)) out.push(`  ${failureLine(f)}`);
    if (report.failures.length > FAILURE_LINES) {
      out.push(`  ... and ${report.failures.length - FAILURE_LINES} more (--json lists them all)`);
    }
  }
  if (report.elsewhere.length > 0) {
    out.push("", "Not from CMA (dma_alloc_coherent served elsewhere):");
    for (const e of report.elsewhere) {
      const where =
        e.via === "iommu" ? "scattered pages mapped by its IOMMU" : "the page allocator (it has no CMA area)";
      out.push(
        `  ${e.dev}: ${plural(e.allocations, "allocation")}, at most ${size(e.peakSize)} at once, from ${where}`,
      );
    }
  }
  const searched = report.regions.filter((r) => r.sizing !== null);
  if (searched.length > 0) {
    out.push("", "Smallest sizes (each region alone resized, in steps of its granule, checked by replay):");
    const width = Math.max(...searched.map((r) => r.name.length));
    for (const r of searched) {
      const z = r.sizing!;
      const n = plural(z.probes.length, "replay");
      let line: string;
      if (z.smallest === null) line = z.note ?? "no size found";
      else if (z.smallest === 0) line = z.note ?? "unused";
      else {
        const below = z.failsAt === null ? "" : `, ${size(z.failsAt)} fails`;
        const moved = z.relocated ? " (moved: it no longer fits at its fixed place)" : "";
        line = `${size(z.smallest)} succeeds${below}${moved}; board has ${size(z.boardSize)}; ${size(z.step)} steps, ${n}`;
      }
      out.push(`  ${r.name.padEnd(width)}  ${line}`);
    }
  }
  out.push(
    "",
    'headroom: size minus the smallest size that succeeds; "<=" marks regions not searched (size minus',
    "peak use, an upper bound: fragmentation may need more). --all searches every region.",
  );
  return `${out.join("\n")}\n`;
}

/** A file name for a region (`mfc-left@4a000000` → `mfc-left_4a000000`). */
export function regionSlug(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "") || "region";
}

/** One picture of the fragmentation report. */
export interface CmaPlanPicture {
  /** file name of the PNG (the SVG goes beside it) */
  readonly file: string;
  readonly title: string;
  readonly alt: string;
  readonly svg: string;
}

/**
 * The fragmentation pictures: for each region in the report that the workload touched, its memory
 * map over time (address × time, one rectangle per allocation, coloured by device) and a snapshot
 * at its worst moment (used and free ranges, the largest free range marked).
 */
export function cmaPlanPictures(plan: CmaPlan): CmaPlanPicture[] {
  const out: CmaPlanPicture[] = [];
  for (const r of plan.report.regions) {
    const stats = plan.replay.regions.find((x) => x.name === r.name)!;
    if (!stats.worst) continue;
    const region = { name: r.name, base: r.base, size: r.size };
    const slug = regionSlug(r.name);
    out.push({
      file: `${slug}-map.png`,
      title: `${r.name}: allocations over time (${plan.report.workload.name} on ${plan.report.board})`,
      alt: `memory map of ${r.name} over time`,
      svg: memoryMapSvg({
        regions: [region],
        intervals: plan.replay.intervals.filter((iv) => iv.region === r.name),
        tEnd: plan.replay.tEnd,
        title: `${r.name} over ${formatDuration(plan.replay.tEnd)}: ${plan.report.workload.name} on ${plan.report.board}`,
      }),
    });
    const m = stats.worst;
    out.push({
      file: `${slug}-worst.png`,
      title: `${r.name} at its worst moment: ${m.reason === "failure" ? "the first failure" : "peak use"}, step ${m.step}`,
      alt: `${r.name} at ${formatDuration(m.t)}`,
      svg: regionSnapshotSvg(region, m.live, {
        t: m.t,
        title: `${r.name} at ${formatDuration(m.t)} (${m.reason === "failure" ? "first failure" : "peak use"}, step ${m.step})`,
      }),
    });
  }
  return out;
}

/**
 * Writes the report folder `dir`: each picture of `cmaPlanPictures` as PNG and SVG,
 * `cma-plan.json` (the report) and `report.html` showing the table and the pictures.
 */
export async function writeCmaPlan(dir: string, plan: CmaPlan): Promise<WrittenReport> {
  const pictures = cmaPlanPictures(plan);
  return writeReport(dir, {
    title: `CMA plan: ${plan.report.workload.name} on ${plan.report.board}`,
    summary: formatCmaPlan(plan.report),
    images: pictures.map((p) => ({ file: p.file, title: p.title, alt: p.alt, svg: p.svg })),
    files: [
      {
        file: "cma-plan.json",
        data: `${JSON.stringify(plan.report, null, 2)}\n`,
        title: "the report as JSON",
      },
    ],
  });
}
