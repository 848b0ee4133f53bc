/**
 * The `umm` command line: argument parsing and dispatch to commands.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ERRNO_TABLE, type ErrnoName, lookupErrno, strerror } from "@umm/kernel-core";

/** Where a command writes; tests pass buffers. */
export interface Io {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  /** stderr is a terminal (progress bars redraw in place; otherwise they print a line now and then) */
  readonly errIsTTY?: boolean;
}

const stdio: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  errIsTTY: process.stderr.isTTY === true,
};

/** The version printed by `umm --version`. */
export const VERSION = "0.0.0";

/** The text of `umm --help`. */
export const HELP = `umm — the Unified Memory Manager: an executable model of the embedded-Linux buffer stack

Usage:
  umm <command> [options]

Commands:
  demo [options]           run the camera -> scaler -> display pipeline on a simulated Exynos
                           board; print a summary, write a report folder (umm demo --help)
  trace [options]          the same run as a Chrome / Perfetto trace or ftrace text
                           (umm trace --help)
  errno <name|number>...   look up errno names, numbers and texts (EINVAL, 22, EWOULDBLOCK;
                           negative numbers after --: umm errno -- -12)
  cma-plan [options]       replay a CMA allocation workload (the demo's, ten hours of churn, or
                           a JSON file) against a board's regions: failures, peak use, the
                           smallest sizes that succeed, fragmentation pictures
                           (umm cma-plan --help)
  help                     show this text

Options:
  -h, --help               show this text
  -v, --version            print the version
`;

function errnoCommand(args: readonly string[], io: Io): number {
  if (args.length === 0) {
    for (const name of Object.keys(ERRNO_TABLE) as ErrnoName[]) {
      io.out(`${name.padEnd(16)}${String(ERRNO_TABLE[name][0]).padStart(4)}  ${strerror(name)}\n`);
    }
    return 0;
  }
  let status = 0;
  for (const a of args) {
    const name = lookupErrno(a);
    if (name === undefined) {
      io.err(`umm errno: unknown errno ${JSON.stringify(a)}\n`);
      status = 1;
      continue;
    }
    io.out(`${name} ${ERRNO_TABLE[name][0]} ${strerror(name)}\n`);
  }
  return status;
}

/** Runs the command line `argv` (without node and script); returns the exit status. */
export async function main(argv: readonly string[], io: Io = stdio): Promise<number> {
  // a command with options of its own parses everything after its name; it is loaded only when
  // run, so that `umm --help` does not load the boards
  if (argv[0] === "cma-plan") {
    const { cmaPlanCommand } = await import("./cma-plan/command.js");
    return cmaPlanCommand(argv.slice(1), io);
  }
  if (argv[0] === "demo" || argv[0] === "trace") {
    const { demoCommand, traceCommand } = await import("./demo/command.js");
    return (argv[0] === "demo" ? demoCommand : traceCommand)(argv.slice(1), io);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (e) {
    io.err(`umm: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.version) {
    io.out(`umm ${VERSION}\n`);
    return 0;
  }
  if (parsed.values.help || command === undefined || command === "help") {
    io.out(HELP);
    return 0;
  }
  switch (command) {
    case "errno":
      return errnoCommand(rest, io);
    default:
      io.err(`umm: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
      return 2;
  }
}
