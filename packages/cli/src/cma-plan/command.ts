/**
 * `umm cma-plan`: the command line over `planCma`.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";
import { parseArgs } from "node:util";
import { PAGE_SIZE } from "@umm/kernel-core";
import { memparse } from "@umm/mm-cma";
import { DEFAULT_BOARD } from "@umm/soc";
import type { Io } from "../main.js";
import { loadBoard } from "./board.js";
import { BUILTIN_WORKLOADS, builtinWorkload } from "./builtin.js";
import { type CmaPlan, formatCmaPlan, planCma, writeCmaPlan } from "./plan.js";
import { CmaPlanError, type CmaPlanWorkload, parseWorkloadJson } from "./workload.js";

/** The usage of `umm cma-plan`, with the workload format (`umm cma-plan --help` prints it). */
export const CMA_PLAN_HELP = `umm cma-plan — replay a CMA allocation workload against a board's regions

Usage:
  umm cma-plan [--board <name|file.dts|file.dtb>] [--workload <demo|churn-10h|file.json>]
               [--seed <n>] [--all] [--step <size>] [--json] [--out <dir>]

Boots the board's memory (its CMA regions, as the board declares them; no drivers), replays the
workload's allocations and frees against the real allocators, and reports each region's peak use,
every failed allocation (with the region's free memory and largest free chunk at that moment),
the region at its worst moment, and — for each region that saw a failure — the smallest size with
which the workload replays without one, found by replaying on the board with that region resized
(in 4 MiB pageblock steps for reusable regions, 1 MiB for others) and checked by replay on both
sides of the answer.

Options:
  --board <b>      a shipped board (exynos4210, the default; s5pv210) or a device tree (.dts,
                   compiled with dtc; .dtb)
  --workload <w>   demo (the default): what umm demo allocates — the MFC firmware, the camera's
                   4 × 1080p NV12 capture buffers (dma_alloc_coherent on fimc0), the compositor's
                   3 × 1080p XRGB8888 scanout buffers (CMA heap);
                   churn-10h: ten hours of camera sessions (720p, 1080p, 4K), compositor restarts
                   and MFC decoder sessions, drawn from --seed;
                   or a JSON file: a workload (below) or a trace (umm trace's Chrome JSON, or an
                   array of umm trace records; their cma_alloc_finish / cma_release events)
  --seed <n>       seed of churn-10h and of the booted kernels (default 1)
  --all            search the smallest size of every region, not only of those that failed
  --step <size>    granule of the size search (default 4M for reusable regions, 1M for others)
  --json           print the report as JSON
  --out <dir>      also write the fragmentation pictures: per region its memory map over time and
                   a snapshot at its worst moment (PNG and SVG), cma-plan.json and report.html
  -h, --help       show this text

Workload format (JSON):
  { "name": "cam", "unit": "ms", "steps": [
      { "t": 0,   "op": "alloc", "id": "fw",   "dev": "mfc",   "type": "f", "size": "512K", "align": "128K" },
      { "t": 10,  "op": "alloc", "id": "cap0", "dev": "fimc0", "via": "dma", "size": 3110400 },
      { "t": 11,  "op": "alloc", "id": "fb0",  "dev": "app",   "via": "heap", "size": 8294400 },
      { "t": 12,  "op": "alloc", "id": "x",    "dev": "app",   "region": "common", "size": "4M" },
      { "t": 500, "op": "free",  "id": "cap0" } ] }
  t      time in "unit" (ns, us, ms — the default — or s), or a string such as "1.5s", "250ms";
         never decreasing; absent: the previous step's
  op     "alloc" or "free"; id names the allocation (a free needs only the id)
  dev    the allocating device. Alone, the allocation is 2010-style, cma_alloc(dev, type, size,
         align), routed by the board's cma.map= ("type" is the memory kind, "common" when
         absent; the MFC's are f, a and b); with "region" (a CMA area, 2010 region or pool by
         name: common, mfc_b1, mfc-left@4a000000) it comes from that region and dev only names
         the owner
  via    "dma": dma_alloc_coherent(dev, size) — the device's coherent pool, else (behind an
         IOMMU) scattered pages and no CMA, else its CMA area; "heap": the CMA dma-heap (the
         default area), dev naming the program. The kernel picks region and alignment: no
         type, region or align
  size   bytes, or a string with K, M or G ("3M"); align: 0 (a page) or a power of two
  A bare array of steps is a workload too (unit ms).

Output: a table of the regions the workload used (all with --all): size, peak use, allocations,
failures, smallest size that succeeds, headroom (size minus that smallest size; "<=" size minus
peak use for regions not searched); dma allocations that took no CMA memory. Exit status: 0 when
every allocation succeeded, 1 when some failed, 2 for a bad option, board or workload (the message
names the problem).
`;

/**
 * The workload `spec` names: a built-in one (`demo`, `churn-10h`, drawn from `seed`) or a JSON
 * file (a workload or a trace). Throws `CmaPlanError`.
 */
export function loadWorkload(spec: string, seed: number): CmaPlanWorkload {
  const builtin = builtinWorkload(spec, seed);
  if (builtin) return builtin;
  let text: string;
  try {
    text = readFileSync(spec, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !spec.includes("/") && extname(spec) === "") {
      throw new CmaPlanError(
        `--workload: no built-in workload named ${JSON.stringify(spec)} (built-in: ${BUILTIN_WORKLOADS.join(", ")}; or a JSON file)`,
      );
    }
    throw new CmaPlanError(`--workload ${spec}: cannot read it: ${(e as Error).message}`);
  }
  return parseWorkloadJson(text, basename(spec, extname(spec)), `--workload ${spec}`);
}

/** Parses `--seed`: a non-negative integer. */
function parseSeed(v: string | undefined): number {
  if (v === undefined) return 1;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new CmaPlanError(`--seed ${JSON.stringify(v)} is not a non-negative integer`);
  }
  return Number(v);
}

/** Parses `--step`: a positive byte count, a multiple of 4 KiB. */
function parseStep(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = memparse(v, 0);
  if (m.end !== v.length || m.value <= 0 || m.value % PAGE_SIZE || !Number.isSafeInteger(m.value)) {
    throw new CmaPlanError(
      `--step ${JSON.stringify(v)} is not a positive multiple of 4 KiB (4K, 1M, 4M, ...)`,
    );
  }
  return m.value;
}

/** The command's options, as parseArgs takes them. */
const OPTIONS = {
  board: { type: "string" },
  workload: { type: "string" },
  seed: { type: "string" },
  step: { type: "string" },
  out: { type: "string" },
  json: { type: "boolean" },
  all: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** The options that take a value, as written (`--seed`). */
const VALUE_OPTIONS: ReadonlySet<string> = new Set(
  Object.entries(OPTIONS)
    .filter(([, o]) => o.type === "string")
    .map(([name]) => `--${name}`),
);

/**
 * `argv` with `--opt -N...` written `--opt=-N...`: parseArgs takes a word after an option that
 * starts with a dash for a forgotten value, but a dash and a digit is a negative number, never an
 * option of this command; joined, it reaches the option's own check, which names it.
 */
function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (VALUE_OPTIONS.has(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** The option values of `argv`; throws parseArgs' error (an unknown option, a missing value). */
function parseOptions(argv: readonly string[]) {
  return parseArgs({
    args: joinNegativeValues(argv),
    allowPositionals: false,
    strict: true,
    options: OPTIONS,
  }).values;
}

/**
 * Runs `umm cma-plan` with the arguments after the command name; returns the exit status: 0 when
 * every allocation of the workload succeeded on the board as given, 1 when some failed, 2 for a
 * bad option, board or workload (a message naming it goes to `io.err`).
 */
export async function cmaPlanCommand(argv: readonly string[], io: Io): Promise<number> {
  let values: ReturnType<typeof parseOptions>;
  try {
    values = parseOptions(argv);
  } catch (e) {
    io.err(`umm cma-plan: ${(e as Error).message}\n\n${CMA_PLAN_HELP}`);
    return 2;
  }
  if (values.help) {
    io.out(CMA_PLAN_HELP);
    return 0;
  }
  let plan: CmaPlan;
  try {
    for (const k of ["board", "workload", "out"] as const) {
      if (values[k] === "") throw new CmaPlanError(`--${k} is empty`);
    }
    const seed = parseSeed(values.seed);
    const step = parseStep(values.step);
    const board = loadBoard(values.board ?? DEFAULT_BOARD.name);
    const workload = loadWorkload(values.workload ?? "demo", seed);
    plan = planCma(board, workload, {
      seed,
      all: values.all === true,
      ...(step === undefined ? {} : { step }),
    });
  } catch (e) {
    if (e instanceof CmaPlanError) {
      io.err(`umm cma-plan: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (values.json) io.out(`${JSON.stringify(plan.report, null, 2)}\n`);
  else io.out(formatCmaPlan(plan.report));
  if (values.out !== undefined) {
    let files: readonly string[];
    try {
      files = (await writeCmaPlan(values.out, plan)).files;
    } catch (e) {
      io.err(`umm cma-plan: --out ${values.out}: cannot write the report: ${(e as Error).message}\n`);
      return 2;
    }
    const msg = `wrote ${files.length} files to ${values.out}: ${files.join(", ")}\n`;
    if (values.json) io.err(msg);
    else io.out(`\n${msg}`);
  }
  return plan.report.failures.length > 0 ? 1 : 0;
}
