/**
 * The options of `umm demo` and `umm trace`: parsing and checking, with messages that name the
 * option at fault.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type BoardDescription, type CacheMode, DEFAULT_BOARD } from "@umm/soc";
import { readBoardArg } from "../board-arg.js";

/** The bugs `--bug` can plant (see the README's "The sanitizer" section). */
export const DEMO_BUGS = ["missing-sync", "no-tlb-flush", "use-after-free"] as const;

/** One of `DEMO_BUGS`. */
export type DemoBug = (typeof DEMO_BUGS)[number];

/** Frames shown by default. */
export const DEMO_DEFAULT_FRAMES = 120;
/** The camera's frame size by default. */
export const DEMO_DEFAULT_SIZE = { width: 1920, height: 1080 } as const;
/** The seed by default. */
export const DEMO_DEFAULT_SEED = 1;
/** The report folder `umm demo` writes by default. */
export const DEMO_DEFAULT_OUT = "umm-report";
/** The largest camera frame the demo accepts (the FIMC's 4096 × 4096 limit). */
export const DEMO_MAX_DIMENSION = 4096;
/**
 * The most frames one run may show: a run keeps its whole trace (about 220 events a frame) in a
 * ring of `DEMO_TRACE_CAPACITY`, and in memory for the reports.
 */
export const DEMO_MAX_FRAMES = 10_000;

/** What one run of the demo does. */
export interface DemoOptions {
  /** frames to show */
  readonly frames: number;
  /** the camera's frame size in pixels (the scaler scales it to the display's mode) */
  readonly width: number;
  readonly height: number;
  /** seed of the kernel's random choices */
  readonly seed: number;
  /** the board, and how it was named (`exynos4210`, a path) */
  readonly board: BoardDescription;
  readonly boardSpec: string;
  /** the CPU cache model (null: the board's) */
  readonly cache: CacheMode | null;
  /** the bug to plant, or null */
  readonly bug: DemoBug | null;
}

/** A bad command line: the message names the option (exit status 2). */
export class DemoUsageError extends Error {
  override name = "DemoUsageError";
}

/** Parses `--frames`: a positive integer. */
export function parseFrames(v: string | undefined): number {
  if (v === undefined) return DEMO_DEFAULT_FRAMES;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1 || n > DEMO_MAX_FRAMES) {
    throw new DemoUsageError(
      `--frames ${JSON.stringify(v)} is not a whole number from 1 to ${DEMO_MAX_FRAMES}`,
    );
  }
  return n;
}

/** Parses `--size WIDTHxHEIGHT`: even dimensions (NV12 has one chroma sample per 2 × 2 pixels), at most 4096. */
export function parseSize(v: string | undefined): { width: number; height: number } {
  if (v === undefined) return { ...DEMO_DEFAULT_SIZE };
  const m = /^(\d+)x(\d+)$/i.exec(v);
  const width = m ? Number(m[1]) : Number.NaN;
  const height = m ? Number(m[2]) : Number.NaN;
  if (!m || width < 2 || height < 2 || width > DEMO_MAX_DIMENSION || height > DEMO_MAX_DIMENSION) {
    throw new DemoUsageError(
      `--size ${JSON.stringify(v)} is not WIDTHxHEIGHT with sizes from 2 to ${DEMO_MAX_DIMENSION} (e.g. 1920x1080)`,
    );
  }
  if (width % 2 || height % 2) {
    throw new DemoUsageError(`--size ${v}: NV12 frames need an even width and height`);
  }
  return { width, height };
}

/** Parses `--seed`: a non-negative integer. */
export function parseSeed(v: string | undefined): number {
  if (v === undefined) return DEMO_DEFAULT_SEED;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) {
    throw new DemoUsageError(`--seed ${JSON.stringify(v)} is not a non-negative integer`);
  }
  return n;
}

/** Parses `--cache`: "ideal" or "sized" (absent: the board's). */
export function parseCache(v: string | undefined): CacheMode | null {
  if (v === undefined) return null;
  if (v !== "ideal" && v !== "sized") {
    throw new DemoUsageError(`--cache ${JSON.stringify(v)} is not "ideal" or "sized"`);
  }
  return v;
}

/** Parses `--bug`: one of `DEMO_BUGS` (absent: none). */
export function parseBug(v: string | undefined): DemoBug | null {
  if (v === undefined) return null;
  if (!(DEMO_BUGS as readonly string[]).includes(v)) {
    throw new DemoUsageError(`--bug ${JSON.stringify(v)} is not one of ${DEMO_BUGS.join(", ")}`);
  }
  return v as DemoBug;
}

/**
 * The board `--board` names (see `readBoardArg`), the default board without one. Throws
 * `DemoUsageError` naming the option.
 */
export function loadDemoBoard(spec: string | undefined): BoardDescription {
  if (spec === undefined) return DEFAULT_BOARD;
  return readBoardArg(spec, (m) => new DemoUsageError(m));
}

/** The options both commands share, for `parseArgs`. */
const RUN_OPTIONS = {
  frames: { type: "string" },
  size: { type: "string" },
  seed: { type: "string" },
  board: { type: "string" },
  cache: { type: "string" },
  bug: { type: "string" },
  out: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** A parsed `umm demo` / `umm trace` command line. */
export interface DemoCommandLine {
  readonly run: DemoOptions;
  /** `--out`, or undefined */
  readonly out: string | undefined;
  /** `--json` (demo) */
  readonly json: boolean;
  /** `--format` (trace) */
  readonly format: string | undefined;
  /** `--help` */
  readonly help: boolean;
}

/**
 * Parses the arguments after `demo` or `trace`. `extra` adds the command's own options (`json`
 * for demo, `format` for trace). Throws `DemoUsageError` for an unknown option, a positional
 * argument or a bad value.
 */
export function parseDemoArgs(
  argv: readonly string[],
  extra: { readonly json?: boolean; readonly format?: boolean },
): DemoCommandLine {
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        ...RUN_OPTIONS,
        ...(extra.json ? { json: { type: "boolean" } } : {}),
        ...(extra.format ? { format: { type: "string" } } : {}),
      },
    });
    values = parsed.values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new DemoUsageError((e as Error).message);
  }
  const str = (k: string): string | undefined => {
    const v = values[k];
    if (typeof v !== "string") return undefined;
    if (v === "") throw new DemoUsageError(`--${k} is empty`);
    return v;
  };
  const help = values.help === true;
  const boardSpec = str("board");
  const { width, height } = parseSize(str("size"));
  const run: DemoOptions = {
    frames: parseFrames(str("frames")),
    width,
    height,
    seed: parseSeed(str("seed")),
    board: help ? DEFAULT_BOARD : loadDemoBoard(boardSpec),
    boardSpec: boardSpec ?? DEFAULT_BOARD.name,
    cache: parseCache(str("cache")),
    bug: parseBug(str("bug")),
  };
  return { run, out: str("out"), json: values.json === true, format: str("format"), help };
}
