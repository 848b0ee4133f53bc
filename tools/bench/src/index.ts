/**
 * The benchmark harness every package's `bench/*.bench.ts` uses.
 *
 * A bench file default-exports `defineBench(async (b) => { ... })`. Each measurement runs the
 * subject and its baseline in alternating samples in the same process, takes the median of each,
 * and reports the ratio, so that machine speed and noise cancel as far as they can.
 *
 * @module
 */

/** A target named by an issue: the ratio must be `>=` or `<=` this value. */
export interface Goal {
  readonly op: ">=" | "<=";
  readonly value: number;
}

/** One row of bench-results.json. */
export interface BenchResult {
  /** package folder name, e.g. "mm-core" */
  readonly package: string;
  readonly name: string;
  /** what `value` measures: "throughput", "cost", "rate", "size", ... */
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  /** what the baseline is, e.g. "Uint8Array.set"; null when there is none */
  readonly baseline: string | null;
  readonly baselineValue: number | null;
  /** value / baselineValue; null without a baseline */
  readonly ratio: number | null;
  readonly goal: Goal | null;
}

/** Options for a timing. */
export interface TimeOpts {
  /** samples per side; the median is reported (default 7) */
  readonly samples?: number;
  /** minimum duration of one sample in ms; calls are batched to reach it (default 40) */
  readonly minSampleMs?: number;
}

const now = (): number => performance.now();

/** Calls per sample so that one sample lasts at least `minMs`. */
function calibrate(fn: () => void, minMs: number): number {
  let n = 1;
  for (;;) {
    const t0 = now();
    for (let i = 0; i < n; i++) fn();
    const dt = now() - t0;
    if (dt >= minMs || n >= 1 << 30) return n;
    n = dt <= 0 ? n * 16 : Math.max(n * 2, Math.ceil((n * minMs * 1.2) / dt));
  }
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median nanoseconds per call of `fn`. */
export function timeNs(fn: () => void, opts: TimeOpts = {}): number {
  return timePairNs(fn, null, opts)[0];
}

/**
 * Median nanoseconds per call of `a` and of `b`, sampled alternately (a, b, a, b, ...) so that
 * both sides see the same machine state.
 */
export function timePairNs(a: () => void, b: (() => void) | null, opts: TimeOpts = {}): [number, number] {
  const samples = opts.samples ?? 7;
  const minMs = opts.minSampleMs ?? 40;
  a(); // warm both sides before calibrating
  b?.();
  const na = calibrate(a, minMs);
  const nb = b ? calibrate(b, minMs) : 0;
  const ta: number[] = [];
  const tb: number[] = [];
  for (let s = 0; s < samples; s++) {
    let t0 = now();
    for (let i = 0; i < na; i++) a();
    ta.push(((now() - t0) * 1e6) / na);
    if (b) {
      t0 = now();
      for (let i = 0; i < nb; i++) b();
      tb.push(((now() - t0) * 1e6) / nb);
    }
  }
  return [median(ta), b ? median(tb) : Number.NaN];
}

/** A named baseline measured beside the subject. */
export interface Baseline {
  readonly name: string;
  readonly run: () => void;
}

/** The object a bench file receives. */
export interface Bench {
  /** the package folder name the runner took this file from */
  readonly pkg: string;
  /**
   * Bytes per second of `run` (which moves `bytes` bytes per call) against `baseline` moving the
   * same bytes; ratio = subject / baseline (higher is better).
   */
  throughput(spec: {
    name: string;
    bytes: number;
    run: () => void;
    baseline: Baseline;
    goal?: Goal | null;
    time?: TimeOpts;
  }): BenchResult;
  /** Nanoseconds per call of `run` against `baseline`; ratio = subject / baseline (lower is better). */
  cost(spec: {
    name: string;
    run: () => void;
    baseline: Baseline;
    goal?: Goal | null;
    time?: TimeOpts;
  }): BenchResult;
  /** Operations per second, `ops` operations per call of `run`; no baseline unless one is given. */
  rate(spec: {
    name: string;
    ops: number;
    run: () => void;
    baseline?: Baseline & { ops?: number };
    goal?: Goal | null;
    time?: TimeOpts;
  }): BenchResult;
  /** Records a value measured by the bench file itself. */
  record(r: Omit<BenchResult, "package" | "ratio"> & { ratio?: number | null }): BenchResult;
  /** Every result recorded so far. */
  readonly results: readonly BenchResult[];
}

/** Builds the object a bench file's function receives (the runner calls this). */
export function createBench(pkg: string, log: (r: BenchResult) => void = () => {}): Bench {
  const results: BenchResult[] = [];
  const push = (r: BenchResult): BenchResult => {
    results.push(r);
    log(r);
    return r;
  };
  return {
    pkg,
    results,
    throughput({ name, bytes, run, baseline, goal = null, time }) {
      const [ns, baseNs] = timePairNs(run, baseline.run, time);
      const value = bytes / ns; // bytes per ns = GB/s
      const baselineValue = bytes / baseNs;
      return push({
        package: pkg,
        name,
        metric: "throughput",
        value,
        unit: "GB/s",
        baseline: baseline.name,
        baselineValue,
        ratio: value / baselineValue,
        goal,
      });
    },
    cost({ name, run, baseline, goal = null, time }) {
      const [ns, baseNs] = timePairNs(run, baseline.run, time);
      return push({
        package: pkg,
        name,
        metric: "cost",
        value: ns,
        unit: "ns/op",
        baseline: baseline.name,
        baselineValue: baseNs,
        ratio: ns / baseNs,
        goal,
      });
    },
    rate({ name, ops, run, baseline, goal = null, time }) {
      const [ns, baseNs] = timePairNs(run, baseline?.run ?? null, time);
      const value = (ops * 1e9) / ns;
      const baselineValue = baseline ? ((baseline.ops ?? ops) * 1e9) / baseNs : null;
      return push({
        package: pkg,
        name,
        metric: "rate",
        value,
        unit: "ops/s",
        baseline: baseline?.name ?? null,
        baselineValue,
        ratio: baselineValue === null ? null : value / baselineValue,
        goal,
      });
    },
    record(r) {
      const ratio =
        r.ratio !== undefined ? r.ratio : r.baselineValue === null ? null : r.value / r.baselineValue;
      return push({ package: pkg, ...r, ratio });
    },
  };
}

/** What a bench file default-exports. */
export type BenchFn = (b: Bench) => void | Promise<void>;

/** Marks a bench file's function (identity; gives the parameter its type). */
export function defineBench(fn: BenchFn): BenchFn {
  return fn;
}

/** True when `ratio` meets `goal` (no goal or no ratio: true). */
export function meetsGoal(ratio: number | null, goal: Goal | null): boolean {
  if (goal === null || ratio === null) return true;
  return goal.op === ">=" ? ratio >= goal.value : ratio <= goal.value;
}
