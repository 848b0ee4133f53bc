/**
 * Trace records as the text of /sys/kernel/tracing/trace: ftrace's header, then one
 * `formatFtrace` line a record.
 *
 * @module
 */
import { formatFtrace, type TraceRecord } from "@umm/kernel-core";
import type { TraceRecordLike } from "./record.js";

/** Options of `toFtraceText`. */
export interface FtraceTextOpts {
  /** records lost to a full ring (`TraceRecorder.dropped`), for the entries-written count */
  readonly dropped?: number;
  /** the tracer named in the header (default "nop", as for event tracing) */
  readonly tracer?: string;
}

/**
 * Formats records (sorted by `seq`) as ftrace prints its `trace` file with the irq-info option
 * off: `# tracer: nop`, the `entries-in-buffer/entries-written: N/M   #P:cpus` line, the column
 * header, then `task-pid [cpu] sec.usec: event: key=value ...` lines (kernel-core's
 * `formatFtrace`, addresses in hex). Ends with a newline.
 */
export function toFtraceText(records: readonly TraceRecordLike[], opts: FtraceTextOpts = {}): string {
  const dropped = opts.dropped ?? 0;
  if (!Number.isInteger(dropped) || dropped < 0) {
    throw new Error(`toFtraceText: dropped ${dropped} must be a non-negative integer`);
  }
  const sorted = [...records].sort((a, b) => a.seq - b.seq);
  const cpus = sorted.reduce((n, r) => Math.max(n, r.cpu + 1), 1);
  const lines = [
    `# tracer: ${opts.tracer ?? "nop"}`,
    "#",
    `# entries-in-buffer/entries-written: ${sorted.length}/${sorted.length + dropped}   #P:${cpus}`,
    "#",
    "#           TASK-PID     CPU#     TIMESTAMP  FUNCTION",
    "#              | |         |         |         |",
  ];
  for (const r of sorted) lines.push(formatFtrace(r as unknown as TraceRecord));
  return `${lines.join("\n")}\n`;
}
