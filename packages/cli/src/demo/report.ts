/**
 * The demo's report folder and traces: the last displayed frame (PNG), the memory map of every
 * region over time and the per-device D.V maps (SVG and PNG), the trace as Chrome JSON and as
 * ftrace text, the summary as JSON, and `report.html` tying them together.
 *
 * @module
 */

import { dvMapSvg } from "../report/dv-map.js";
import { type ReportImageData, type WrittenReport, writeReport } from "../report/html.js";
import { memoryMapSvg } from "../report/memory-map.js";
import { encodePng, xrgb8888ToRgba } from "../report/png.js";
import { formatMs } from "../report/svg.js";
import {
  type ChromeTrace,
  type ChromeTrack,
  defaultChromeTrack,
  toChromeTrace,
} from "../trace-export/chrome.js";
import { toFtraceText } from "../trace-export/ftrace.js";
import type { TraceRecordLike } from "../trace-export/record.js";
import { BufferLedger } from "./ledger.js";
import type { DemoRun } from "./run.js";
import { type DemoSummary, formatDemoSummary } from "./summary.js";

/**
 * The track of a record: the device it names (`device`, `dev_name`, a SysMMU event's `master`, a
 * SysMMU's own `sysmmu`, a DRM device's `dev`), else the process that emitted it.
 */
export function demoTrack(r: TraceRecordLike): ChromeTrack {
  const d = r.data as Record<string, unknown>;
  for (const k of ["master", "sysmmu", "dev"]) {
    const v = d[k];
    if (typeof v === "string" && v !== "") return { device: v };
  }
  return defaultChromeTrack(r);
}

/** The run as a Chrome / Perfetto trace: one track per device and one per process. */
export function demoChromeTrace(run: DemoRun): ChromeTrace {
  return toChromeTrace(run.records, { tracks: { of: demoTrack } });
}

/** The run as ftrace text (`/sys/kernel/tracing/trace`). */
export function demoFtraceText(run: DemoRun): string {
  return toFtraceText(run.records, { dropped: run.dropped });
}

/** The last displayed frame as PNG bytes, or null when the display never showed one. */
export function demoFramePng(run: DemoRun): Uint8Array | null {
  const f = run.lastFrame;
  if (!f) return null;
  return encodePng(xrgb8888ToRgba(f.data, f.width, f.height), f.width, f.height);
}

/** Options of `demoMemoryMapSvg`. */
export interface DemoMemoryMapOpts {
  /** only the regions some buffer of the run used (default false: every region) */
  readonly usedOnly?: boolean;
  /** plot height of each region in px (default 110) */
  readonly regionHeight?: number;
}

/** The memory map of every region (or of the used ones) over the run (SVG). */
export function demoMemoryMapSvg(run: DemoRun, ledger: BufferLedger, opts: DemoMemoryMapOpts = {}): string {
  const all = ledger.memoryMap(run.stats.cma, run.board.banks);
  const used = new Set(all.intervals.map((i) => i.region));
  const regions = opts.usedOnly ? all.regions.filter((r) => used.has(r.name)) : all.regions;
  return memoryMapSvg({
    regions,
    intervals: all.intervals,
    tEnd: run.tEnd,
    title: `${run.board.name}: which buffer held which physical range when (${run.shownAt.length} frames)`,
    regionHeight: opts.regionHeight ?? 110,
    colors: ledger.colors(),
  });
}

/**
 * The D.V map of each device with mappings when the display fetched its last frame (the last
 * `fimd_scanout`; the end of the run when there was none), by device (SVG).
 */
export function demoDvMapSvgs(run: DemoRun, ledger: BufferLedger): Map<string, string> {
  let at = run.records.at(-1);
  for (let i = run.records.length - 1; i >= 0; i--) {
    if (run.records[i]!.name === "fimd_scanout") {
      at = run.records[i];
      break;
    }
  }
  const t = at?.ts ?? run.tEnd;
  const out = new Map<string, string>();
  const maps = ledger.dvMapsAt(at?.seq ?? Number.POSITIVE_INFINITY);
  for (const device of [...maps.keys()].sort()) {
    out.set(
      device,
      dvMapSvg({
        device,
        mappings: maps.get(device)!,
        colors: ledger.colors(),
        title: `D.V map of ${device} at ${formatMs(t)}, when the display fetched its last frame`,
      }),
    );
  }
  return out;
}

/**
 * Writes the report folder `dir`: frame.png (the last displayed frame), memory-map.svg / .png,
 * dv-<device>.svg / .png, trace.json (Chrome / Perfetto), trace.txt (ftrace), summary.json and
 * report.html (self-contained: opens in a browser with no network).
 */
export async function writeDemoReport(
  dir: string,
  run: DemoRun,
  summary: DemoSummary,
  ledger: BufferLedger = new BufferLedger(run.records),
): Promise<WrittenReport> {
  const images: ReportImageData[] = [];
  const frame = demoFramePng(run);
  if (frame) {
    const f = run.lastFrame!;
    images.push({
      title: `The last frame the display scanned out (vblank ${f.seq}, ${formatMs(f.time)}): the camera's test pattern, scaled by the FIMC, with the compositor's HUD${run.opts.bug ? ` — with --bug ${run.opts.bug}` : ""}`,
      file: "frame.png",
      alt: `last displayed frame, ${f.width}x${f.height}`,
      png: frame,
      width: 960,
    });
  }
  images.push({
    title:
      "Memory map: every CMA region and the page allocator's ranges over virtual time; each rectangle is one buffer's physical range while it was allocated",
    file: "memory-map.png",
    alt: "memory map of every region over time",
    svg: demoMemoryMapSvg(run, ledger),
  });
  for (const [device, svg] of demoDvMapSvgs(run, ledger)) {
    images.push({
      title: `D.V map of ${device}: its device-virtual ranges and the physical memory behind them`,
      file: `dv-${device}.png`,
      alt: `D.V map of ${device}`,
      svg,
    });
  }
  return writeReport(dir, {
    title: `umm demo: ${summary.board}, ${summary.frames} frames${summary.bug ? `, --bug ${summary.bug}` : ""}`,
    summary: formatDemoSummary(summary),
    images,
    traceFile: "trace.json",
    files: [
      { file: "trace.json", data: JSON.stringify(demoChromeTrace(run)), title: "the trace (Chrome JSON)" },
      { file: "trace.txt", data: demoFtraceText(run), title: "the trace as ftrace text" },
      {
        file: "summary.json",
        data: `${JSON.stringify(summary, null, 2)}\n`,
        title: "the summary as JSON (umm demo --json)",
      },
    ],
  });
}
