/**
 * `pnpm fuzz [--sequences N] [--seed S] [--jobs J] [--max-commands C] [--path P]`: runs the
 * model-based fuzzer outside vitest for as long as asked. With more than one job the sequences
 * are split between worker processes, worker i using seed S + i (each worker's run is replayable
 * on its own with `--jobs 1 --seed S+i`). Prints progress, a summary and, on failure, fast-check's
 * shrunk counterexample with the command line that replays it; exits 1 on failure.
 *
 * @module
 */
import { fork } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { EXYNOS4210_BOARD, S5PV210_BOARD } from "@umm/soc";
import { runFaultCampaign } from "./faults.js";
import { type FuzzResult, fuzzSequences } from "./fuzz.js";
import { runIsolation } from "./isolation.js";
import { runOpFaults } from "./op-faults.js";
import { runReclamation } from "./reclaim.js";
import { bootTestbed } from "./testbed.js";

interface Args {
  sequences: number;
  seed: number;
  jobs: number;
  maxCommands: number;
  path: string | undefined;
  replayPath: string | undefined;
  worker: boolean;
  isolation: number;
  faults: boolean;
  kills: number;
}

const USAGE = `usage: pnpm fuzz [--sequences N] [--seed S] [--jobs J] [--max-commands C] [--path P]
                 [--replay-path R] [--isolation N] [--faults] [--kills N]
  --sequences N     random command sequences to run (default 1000; 0: none)
  --seed S          fast-check seed (default: from the clock; printed)
  --jobs J          worker processes (default: CPUs, at most 4); worker i uses seed S+i
  --max-commands C  commands per sequence at most (default 100)
  --path P          replay the failure fast-check printed (with its seed, --jobs 1)
  --replay-path R   ... and the commands' replayPath="R" from the counterexample
  --isolation N     also N isolation attempts by an unprivileged process
  --faults          also fault injection: every call of every site in the pipeline, both
                    boards; and every allocation call of each allocating operation
  --kills N         also N random kills of a pipeline process per board`;

function parse(argv: readonly string[]): Args {
  const a: Args = {
    sequences: 1000,
    seed: Date.now() % 2 ** 31,
    jobs: Math.min(4, availableParallelism()),
    maxCommands: 100,
    path: undefined,
    replayPath: undefined,
    worker: false,
    isolation: 0,
    faults: false,
    kills: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    const int = (): number => {
      const s = v();
      const n = Number(s);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${k} ${s}: not a non-negative integer`);
      return n;
    };
    if (k === "--sequences" || k === "-n") a.sequences = int();
    else if (k === "--seed") a.seed = int();
    else if (k === "--jobs" || k === "-j") a.jobs = Math.max(1, int());
    else if (k === "--max-commands") a.maxCommands = Math.max(1, int());
    else if (k === "--path") a.path = v();
    else if (k === "--replay-path") a.replayPath = v();
    else if (k === "--worker") a.worker = true;
    else if (k === "--isolation") a.isolation = int();
    else if (k === "--faults") a.faults = true;
    else if (k === "--kills") a.kills = int();
    else if (k === "--help" || k === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown option ${k}`);
  }
  if (a.path) a.jobs = 1;
  return a;
}

const fmtMs = (ms: number) =>
  ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`;

/** One worker's run; reports progress and its result as JSON lines on stdout. */
function worker(a: Args): void {
  const every = Math.max(1, Math.floor(a.sequences / 20));
  const r = fuzzSequences({
    sequences: a.sequences,
    seed: a.seed,
    maxCommands: a.maxCommands,
    ...(a.path ? { path: a.path } : {}),
    ...(a.replayPath ? { replayPath: a.replayPath } : {}),
    onSequence: (done) => {
      if (done % every === 0) process.stdout.write(`${JSON.stringify({ progress: done })}\n`);
    },
  });
  process.stdout.write(`${JSON.stringify({ result: r })}\n`);
}

function runWorker(
  a: Args,
  seed: number,
  sequences: number,
  onProgress: (n: number) => void,
): Promise<FuzzResult> {
  return new Promise((resolve, reject) => {
    const args = [
      "--worker",
      "--seed",
      String(seed),
      "--sequences",
      String(sequences),
      "--max-commands",
      String(a.maxCommands),
    ];
    if (a.path) args.push("--path", a.path);
    if (a.replayPath) args.push("--replay-path", a.replayPath);
    const child = fork(fileURLToPath(import.meta.url), args, { stdio: ["ignore", "pipe", "inherit", "ipc"] });
    let buf = "";
    let result: FuzzResult | null = null;
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const msg = JSON.parse(line) as { progress?: number; result?: FuzzResult };
          if (msg.progress !== undefined) onProgress(msg.progress);
          if (msg.result) result = msg.result;
        } catch {
          process.stderr.write(`${line}\n`);
        }
      }
    });
    child.on("exit", (code) => {
      if (result) resolve(result);
      else reject(new Error(`worker with seed ${seed} exited with ${code} and no result`));
    });
  });
}

async function main(): Promise<number> {
  let a: Args;
  try {
    a = parse(process.argv.slice(2));
  } catch (e) {
    console.error(`fuzz: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (a.worker) {
    worker(a);
    return 0;
  }
  let failedSuites = 0;
  if (a.sequences > 0) failedSuites += await sequences(a);
  if (a.isolation > 0) failedSuites += isolation(a);
  if (a.faults) failedSuites += await faults();
  if (a.kills > 0) failedSuites += await kills(a);
  return failedSuites > 0 ? 1 : 0;
}

function isolation(a: Args): number {
  const t0 = performance.now();
  const tb = bootTestbed(a.seed);
  const r = runIsolation(tb, a.isolation, a.seed);
  const leaks = tb.teardown();
  console.log(
    `\nisolation: ${r.attempts} attempts by uid 2000, ${r.refused} refused, ${fmtMs(performance.now() - t0)}`,
  );
  for (const [k, n] of Object.entries(r.byKind)) console.log(`  ${k.padEnd(34)} ${n}`);
  for (const f of [...r.failures, ...leaks]) console.log(`  FAILURE ${f}`);
  return r.failures.length + leaks.length > 0 ? 1 : 0;
}

async function faults(): Promise<number> {
  let bad = 0;
  const bySite = new Map<string, number>();
  const count = (site: string, n: number) => bySite.set(site, (bySite.get(site) ?? 0) + n);
  for (const board of [EXYNOS4210_BOARD, S5PV210_BOARD]) {
    const t0 = performance.now();
    const r = await runFaultCampaign({ board, seed: 1 });
    console.log(
      `\nfault injection on ${r.board}: ${r.runs} runs, ${r.injected} faults injected, ${r.leaks} leaks, ${r.bad} bad, ${fmtMs(performance.now() - t0)}`,
    );
    for (const s of r.sites) {
      count(s.site, s.injected);
      const errs = Object.values(s.errors).reduce((x, y) => x + y, 0);
      console.log(
        `  ${s.site.padEnd(8)} ${String(s.calls).padStart(4)} calls, ${String(s.injected).padStart(4)} injected: ${s.complete} complete, ${s.degraded} degraded, ${errs} clean errors, ${s.leaks.length} leaks`,
      );
      for (const x of [...s.bad, ...s.leaks]) console.log(`    FAILURE ${x}`);
    }
    bad += r.leaks + r.bad;
  }
  const t0 = performance.now();
  const tb = bootTestbed(1);
  const ops = runOpFaults(tb);
  const leaks = tb.teardown();
  const injected = ops.reduce((n, o) => n + o.injected, 0);
  const failures = ops.flatMap((o) => o.failures);
  console.log(
    `\nfault injection per operation (exynos4210 testbed): ${ops.reduce((n, o) => n + o.runs, 0)} runs, ${injected} faults injected, ${failures.length} failures, ${fmtMs(performance.now() - t0)}`,
  );
  for (const o of ops) {
    const sites = Object.entries(o.calls)
      .filter(([, n]) => n > 0)
      .map(([site, n]) => `${site} ${n}`)
      .join(", ");
    const ends = Object.entries(o.outcomes)
      .map(([k, n]) => `${k} ${n}`)
      .join(", ");
    console.log(`  ${o.op.padEnd(62)} calls: ${sites.padEnd(28)} → ${ends}`);
  }
  for (const f of [...failures, ...leaks]) console.log(`  FAILURE ${f}`);
  bad += failures.length + leaks.length;
  for (const o of ops) for (const [site, n] of Object.entries(o.injectedBySite)) count(site, n);
  console.log(
    `\nfaults injected in all, by site: ${[...bySite].map(([site, n]) => `${site} ${n}`).join(", ")} (total ${[...bySite.values()].reduce((x, y) => x + y, 0)})`,
  );
  return bad > 0 ? 1 : 0;
}

async function kills(a: Args): Promise<number> {
  let bad = 0;
  for (const board of [EXYNOS4210_BOARD, S5PV210_BOARD]) {
    const t0 = performance.now();
    const r = await runReclamation({ board, runs: a.kills, seed: a.seed });
    console.log(
      `\nreclamation on ${r.board}: ${r.runs} kills (camera ${r.kills.camera}, compositor ${r.kills.compositor}), ${r.failures.length} failures, ${fmtMs(performance.now() - t0)}`,
    );
    const g = r.reclaimed;
    console.log(
      `  given back at the kills: ${(g.cmaUsed / 1024).toFixed(0)} KiB CMA, ${g.iovaPages} IOVA pages, ${g.ptePages} page-table entries, ${g.files} files, ${g.dmabufs} dma-bufs`,
    );
    for (const [k, n] of Object.entries(r.survivors)) console.log(`  survivor: ${k.padEnd(36)} ${n}`);
    for (const f of r.failures) console.log(`  FAILURE ${f}`);
    bad += r.failures.length;
  }
  return bad > 0 ? 1 : 0;
}

async function sequences(a: Args): Promise<number> {
  const jobs = Math.max(1, Math.min(a.jobs, a.sequences || 1));
  console.log(
    `fuzz: ${a.sequences} sequences of at most ${a.maxCommands} commands, seed ${a.seed}, ${jobs} job(s)${a.path ? `, replaying path ${a.path}` : ""}`,
  );
  const t0 = performance.now();
  const per = Array.from(
    { length: jobs },
    (_, i) => Math.floor(a.sequences / jobs) + (i < a.sequences % jobs ? 1 : 0),
  );
  const progress = new Array<number>(jobs).fill(0);
  let lastPrint = 0;
  const results = await Promise.all(
    per.map((n, i) =>
      runWorker(a, a.seed + i, n, (done) => {
        progress[i] = done;
        const total = progress.reduce((x, y) => x + y, 0);
        const now = performance.now();
        if (now - lastPrint > 2000 || total === a.sequences) {
          lastPrint = now;
          const rate = total / ((now - t0) / 1000);
          console.log(`  ${total}/${a.sequences} sequences (${rate.toFixed(0)}/s)`);
        }
      }),
    ),
  );
  const ms = performance.now() - t0;
  const passed = results.reduce((s, r) => s + r.passed, 0);
  const commands = results.reduce((s, r) => s + r.commands, 0);
  const boots = results.reduce((s, r) => s + r.boots, 0);
  const leaks = results.flatMap((r) => r.leaks);
  const byCommand = new Map<string, number>();
  for (const r of results)
    for (const [k, n] of Object.entries(r.byCommand)) byCommand.set(k, (byCommand.get(k) ?? 0) + n);
  console.log(`\nsequences passed  ${passed} of ${a.sequences}`);
  console.log(
    `commands run      ${commands} (${[...byCommand]
      .sort((x, y) => y[1] - x[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(", ")})`,
  );
  const outcomes = new Map<string, number>();
  for (const r of results)
    for (const [k, n] of Object.entries(r.outcomes)) outcomes.set(k, (outcomes.get(k) ?? 0) + n);
  console.log(
    `call outcomes     ${[...outcomes]
      .sort((x, y) => (x[0] < y[0] ? -1 : 1))
      .map(([k, n]) => `${k} ${n}`)
      .join(", ")}`,
  );
  console.log(`machines booted   ${boots}`);
  console.log(`leaks at shutdown ${leaks.length}${leaks.length ? `:\n  ${leaks.join("\n  ")}` : ""}`);
  console.log(`time              ${fmtMs(ms)}`);
  const failed = results.map((r, i) => ({ r, seed: a.seed + i })).filter((x) => x.r.failure);
  for (const { r, seed } of failed) {
    console.log(`\nFAILURE (worker seed ${seed}):\n${r.failure}`);
    const path = /path: "([^"]+)"/.exec(r.failure ?? "")?.[1];
    const replay = /replayPath="([^"]+)"/.exec(r.failure ?? "")?.[1];
    if (path) {
      console.log(
        `\nreplay: pnpm fuzz --seed ${seed} --max-commands ${a.maxCommands} --path ${path}${replay ? ` --replay-path '${replay}'` : ""}`,
      );
    }
  }
  return failed.length > 0 || leaks.length > 0 ? 1 : 0;
}

process.exitCode = await main();
