/**
 * `umm demo` and `umm trace`: the command lines over `runDemo`.
 *
 * @module
 */
import { writeFile } from "node:fs/promises";
import { isKernelError } from "@umm/kernel-core";
import { progress } from "../report/progress.js";
import { BufferLedger } from "./ledger.js";
import { DEMO_DEFAULT_OUT, DemoUsageError, parseDemoArgs } from "./options.js";
import { demoChromeTrace, demoFtraceText, writeDemoReport } from "./report.js";
import { type DemoRun, runDemo } from "./run.js";
import { demoSummary, formatDemoSummary } from "./summary.js";

/** Where the commands write; `errIsTTY` draws the progress bar in place (else a line every ~10%). */
export interface DemoIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly errIsTTY?: boolean;
}

const RUN_HELP = `  --frames <n>       frames to show (default 120)
  --size <WxH>       the camera's frame size (default 1920x1080; the scaler scales it to the
                     display's 1920x1080 mode, by at most 4x up and 16x down)
  --seed <n>         seed of every random choice in the kernel (default 1)
  --board <b>        a shipped board (exynos4210, the default; s5pv210) or a device tree
                     (.dts, compiled with dtc; .dtb)
  --cache <mode>     the CPU cache model: ideal (never evicts) or sized (evicts, as silicon
                     does); default: the board's
  --bug <name>       plant a bug and watch the stack catch it:
                       missing-sync    the compositor leaves out one DMA_BUF_IOCTL_SYNC END
                                       (the last HUD stays in the CPU cache: a coherency hazard)
                       no-tlb-flush    the display's SysMMU driver skips one TLB invalidation
                                       (the last frame is fetched partly from a freed mapping:
                                       the TLB sanitizer reports it)
                       use-after-free  the compositor frees the buffer on screen and the DRM core
                                       neither turns the plane off nor keeps its reference (the
                                       display fetches freed memory: a SysMMU page fault)`;

/** The usage of `umm demo`. */
export const DEMO_HELP = `umm demo — the camera-to-display pipeline on a simulated Exynos board

Usage:
  umm demo [--frames <n>] [--size <WxH>] [--seed <n>] [--board <name|file.dts|file.dtb>]
           [--cache ideal|sized] [--bug <name>] [--out <dir>] [--json]

Boots the board and runs two processes: a camera application captures NV12 frames from the FIMC
camera interface into V4L2 MMAP buffers and passes them as dma-buf fds (VIDIOC_EXPBUF) over a
Unix socket to a compositor, which imports them into a FIMC scaler (V4L2 mem-to-mem, DMABUF),
scales them into XRGB8888 scanout buffers from the CMA heap, draws a HUD with the CPU
(DMA_BUF_IOCTL_SYNC) and shows them on the FIMD display (DRM PRIME import, page flips). Every
byte moves by DMA through each device's System MMU; the CPU copies nothing.

Prints a progress bar (stderr), then the summary; writes the report folder.

Options:
${RUN_HELP}
  --out <dir>        the report folder (default ${DEMO_DEFAULT_OUT}): report.html, frame.png,
                     memory-map.svg/.png, dv-<device>.svg/.png, trace.json, trace.txt,
                     summary.json
  --json             print the summary as JSON (field names in the README)
  -h, --help         show this text

Exit status: 0 when the run reported no hazard and nothing was held after shutdown, 1 when it
did (as every --bug run does) or the pipeline failed, 2 for a bad option.
`;

/** The usage of `umm trace`. */
export const TRACE_HELP = `umm trace — the demo's run as a trace

Usage:
  umm trace [--format chrome|ftrace] [--out <file>] [demo options]

Runs the same pipeline as umm demo and prints every trace event of the run (boot, pipeline,
shutdown): --format chrome (the default) as Chrome trace JSON, which Perfetto
(ui.perfetto.dev) and chrome://tracing open, with one track per device and one per process;
--format ftrace as the text of /sys/kernel/tracing/trace.

Options:
  --format <f>       chrome (default) or ftrace
  --out <file>       write the trace to this file instead of stdout
${RUN_HELP}
  -h, --help         show this text

Exit status: 0, 1 when the pipeline failed, 2 for a bad option.
`;

/** Runs the demo with a progress report on `io.err`. */
async function runWithProgress(run: Parameters<typeof runDemo>[0], io: DemoIo): Promise<DemoRun> {
  const bar = progress({ total: run.frames, isTTY: io.errIsTTY === true, write: io.err, label: "frame" });
  try {
    return await runDemo(run, { frameShown: (n) => bar.update(n + 1) });
  } finally {
    bar.done();
  }
}

/** A failed run as an exit status: 2 for a usage error, 1 for a pipeline error; rethrows bugs. */
function failed(cmd: string, e: unknown, io: DemoIo): number {
  if (e instanceof DemoUsageError) {
    io.err(`umm ${cmd}: ${e.message}\n`);
    return 2;
  }
  if (isKernelError(e)) {
    io.err(`umm ${cmd}: the pipeline failed: ${e.message}\n`);
    return 1;
  }
  throw e;
}

/**
 * `umm demo` with the arguments after the command name. Returns the exit status (see
 * `DEMO_HELP`).
 */
export async function demoCommand(argv: readonly string[], io: DemoIo): Promise<number> {
  let cl: ReturnType<typeof parseDemoArgs>;
  try {
    cl = parseDemoArgs(argv, { json: true });
  } catch (e) {
    if (!(e instanceof DemoUsageError)) throw e;
    io.err(`umm demo: ${e.message}\n\n${DEMO_HELP}`);
    return 2;
  }
  if (cl.help) {
    io.out(DEMO_HELP);
    return 0;
  }
  const t0 = performance.now();
  let run: DemoRun;
  try {
    run = await runWithProgress(cl.run, io);
  } catch (e) {
    return failed("demo", e, io);
  }
  const wall = (performance.now() - t0) / 1000;
  const ledger = new BufferLedger(run.records);
  const summary = demoSummary(run, ledger);
  io.out(cl.json ? `${JSON.stringify(summary, null, 2)}\n` : formatDemoSummary(summary));
  const out = cl.out ?? DEMO_DEFAULT_OUT;
  const written = await writeDemoReport(out, run, summary, ledger);
  const frames = summary.frames;
  io.err(
    `umm demo: ${frames} frames in ${wall.toFixed(2)} s wall time (${(frames / wall).toFixed(1)} frames/s); report: ${written.html}\n`,
  );
  return summary.hazards.length > 0 || summary.leaks > 0 ? 1 : 0;
}

/** `umm trace` with the arguments after the command name. Returns the exit status. */
export async function traceCommand(argv: readonly string[], io: DemoIo): Promise<number> {
  let cl: ReturnType<typeof parseDemoArgs>;
  try {
    cl = parseDemoArgs(argv, { format: true });
    if (cl.format !== undefined && cl.format !== "chrome" && cl.format !== "ftrace") {
      throw new DemoUsageError(`--format ${JSON.stringify(cl.format)} is not "chrome" or "ftrace"`);
    }
  } catch (e) {
    if (!(e instanceof DemoUsageError)) throw e;
    io.err(`umm trace: ${e.message}\n\n${TRACE_HELP}`);
    return 2;
  }
  if (cl.help) {
    io.out(TRACE_HELP);
    return 0;
  }
  let run: DemoRun;
  try {
    run = await runWithProgress(cl.run, io);
  } catch (e) {
    return failed("trace", e, io);
  }
  const text = cl.format === "ftrace" ? demoFtraceText(run) : `${JSON.stringify(demoChromeTrace(run))}\n`;
  if (cl.out === undefined) io.out(text);
  else {
    await writeFile(cl.out, text);
    io.err(`umm trace: ${run.records.length} events written to ${cl.out}\n`);
  }
  return 0;
}
