import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  intervalsFromTrace,
  memoryMapSvg,
  summaryTable,
  type TraceRecordLike,
  toChromeTrace,
  toFtraceText,
  writeReport,
} from "@umm/cli";

// Records as a TraceRecorder returns them: a camera process takes 1 MiB from CMA area "cam".
const rec = (seq: number, ts: number, name: string, data: object): TraceRecordLike => {
  return { seq, ts, name, pid: 100, task: "camera", cpu: 0, data };
};
const records = [
  rec(0, 1000, "cma_alloc_start", { name: "cam", count: 256, align: 8 }),
  rec(1, 9000, "cma_alloc_finish", { name: "cam", pfn: 0x40000, count: 256, align: 8, errorno: 0 }),
  rec(2, 20000, "dma_xfer", { device: "fimc0", dir: "write", daddr: 0x40000000, size: 4096 }),
];
const cam = { name: "cam", base: 0x40000000, size: 16 << 20 };

// Allocation intervals from the CMA events, drawn as a memory map (address × time).
const intervals = intervalsFromTrace(records, { regions: [cam] });
assert.deepEqual(
  intervals.map((i) => [i.owner, i.start, i.size, i.tEnd]),
  [["camera", 0x40000000, 1 << 20, null]],
);

// The trace for Perfetto: the allocation is one complete event, the transfer sits on fimc0's track.
const trace = toChromeTrace(records);
assert.ok(trace.traceEvents.some((e) => e.ph === "X" && e.name === "cma_alloc" && e.dur === 8));

// A report folder: the picture as PNG (rendered with resvg) and SVG, the traces, report.html.
const rows = [{ area: "cam", allocations: intervals.length, held_bytes: 1 << 20 }];
const dir = mkdtempSync(join(tmpdir(), "umm-report-"));
const out = await writeReport(dir, {
  title: "CMA report",
  summary: summaryTable(rows),
  images: [
    {
      title: "cam over time",
      file: "cam.png",
      alt: "memory map of cam",
      svg: memoryMapSvg({ regions: [cam], intervals, tEnd: 40000, title: "cam" }),
    },
  ],
  traceFile: "trace.json",
  files: [
    { file: "trace.json", data: JSON.stringify(trace) },
    { file: "trace.txt", data: toFtraceText(records), title: "ftrace text" },
  ],
});
assert.deepEqual(out.files, ["cam.png", "cam.svg", "trace.json", "trace.txt", "report.html"]);
assert.equal(JSON.parse(summaryTable(rows, { json: true }))[0].held_bytes, 1048576);
rmSync(dir, { recursive: true });
