/**
 * The model-based fuzzer's runner: `fuzzSequences({ sequences, seed })` generates random command
 * sequences with fast-check, runs each on a booted machine against a fresh model (checking every
 * invariant after every step), tears it down (attachments dropped, processes exited) and checks
 * that the machine is back to the state it booted in — page for page, reference for reference.
 * On a failure fast-check shrinks the sequence (each shrinking run on a freshly booted machine)
 * and the result carries the shrunk counterexample with the seed and path that replay it.
 *
 * @module
 */
import fc from "fast-check";
import { COMMANDS, commandCounts, detachOne, exitSlot, outcomeCounts } from "./commands.js";
import { checkPageOwnership, checkStep, InvariantError } from "./invariants.js";
import { Model } from "./model.js";
import { CAPTURE_DEVICE, MachinePool, type Real, SLOT_UIDS, spawnSlot } from "./session.js";

/** Options of `fuzzSequences`. */
export interface FuzzOpts {
  /** sequences to run */
  readonly sequences: number;
  /** fast-check seed (the whole run is reproducible from it) */
  readonly seed: number;
  /** fast-check replay path of a failure (with its seed) */
  readonly path?: string;
  /** the commands' replay path of that failure (`replayPath="..."` in the counterexample) */
  readonly replayPath?: string;
  /** commands per sequence at most (default 100) */
  readonly maxCommands?: number;
  /** sequences per booted machine (default 64) */
  readonly rebootEvery?: number;
  /** called after every sequence */
  readonly onSequence?: (done: number) => void;
}

/** What a fuzzing run did. */
export interface FuzzResult {
  /** sequences that ran to the end and passed every check */
  readonly passed: number;
  /** commands executed (all sequences, shrinking included) */
  readonly commands: number;
  /** per command name */
  readonly byCommand: Readonly<Record<string, number>>;
  /** outcomes of the calls commands made ("QBUF ok", "DQBUF EAGAIN", "frame filled", ...) */
  readonly outcomes: Readonly<Record<string, number>>;
  /** machines booted */
  readonly boots: number;
  /** leak reports of machines shut down after clean sequences (must be empty) */
  readonly leaks: readonly string[];
  /** fast-check's report of the shrunk counterexample, or null */
  readonly failure: string | null;
  readonly ms: number;
}

/** Drops what the model still holds: attachments first (a driver), then every process exits. */
export function teardown(model: Model): void {
  for (const a of [...model.atts]) detachOne(model, a);
  for (const p of model.procs) if (p.alive) exitSlot(model, p);
  model.settle();
}

/** The property every sequence must satisfy, on machines from `pool`. */
export function sequenceProperty(
  pool: MachinePool,
  maxCommands: number,
  onSequence?: (done: number) => void,
  replayPath?: string,
) {
  let passed = 0;
  let done = 0;
  const prop = fc.property(
    fc.commands(COMMANDS, { maxCommands, size: "max", ...(replayPath ? { replayPath } : {}) }),
    (cmds) => {
      const fm = pool.acquire();
      const model = new Model(SLOT_UIDS, CAPTURE_DEVICE);
      const real: Real = { fm, machine: fm.machine };
      try {
        for (const p of model.procs) spawnSlot(real, p);
        fc.modelRun(() => ({ model, real }), cmds);
        teardown(model);
        checkStep(model, real, true);
        checkPageOwnership(fm.machine);
        const diff = fm.diffFromBaseline();
        if (diff) throw new InvariantError("everything a sequence held returns", diff);
      } catch (e) {
        fm.dirty = true;
        pool.fresh = true; // shrinking: every run on a fresh machine
        throw e;
      } finally {
        onSequence?.(++done);
      }
      passed++;
    },
  );
  return { prop, passed: () => passed };
}

/** Runs `opts.sequences` random sequences (see the module comment). */
export function fuzzSequences(opts: FuzzOpts): FuzzResult {
  const t0 = performance.now();
  commandCounts.clear();
  outcomeCounts.clear();
  const pool = new MachinePool({ seed: opts.seed, rebootEvery: opts.rebootEvery ?? 64 });
  // a replay runs the counterexample as shrinking did: on a fresh machine
  if (opts.path) pool.fresh = true;
  const { prop, passed } = sequenceProperty(pool, opts.maxCommands ?? 100, opts.onSequence, opts.replayPath);
  let failure: string | null = null;
  try {
    fc.assert(prop, {
      numRuns: opts.sequences,
      seed: opts.seed,
      includeErrorInReport: true,
      ...(opts.path ? { path: opts.path } : {}),
    });
  } catch (e) {
    failure = e instanceof Error ? e.message : String(e);
  }
  pool.retire();
  return {
    passed: passed(),
    commands: [...commandCounts.values()].reduce((a, b) => a + b, 0),
    byCommand: Object.fromEntries([...commandCounts].sort((a, b) => b[1] - a[1])),
    outcomes: Object.fromEntries([...outcomeCounts].sort((a, b) => (a[0] < b[0] ? -1 : 1))),
    boots: pool.boots,
    leaks: [...pool.leaks],
    failure,
    ms: performance.now() - t0,
  };
}
