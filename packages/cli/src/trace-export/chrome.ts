/**
 * Trace records to the Chrome trace-event JSON format, which Perfetto (ui.perfetto.dev) and
 * chrome://tracing open: one track per device (threads of a synthetic "devices" process) and one
 * per process, instant events for points and complete events for start/finish pairs.
 *
 * @module
 */
import { fieldsOf, type TraceRecordLike } from "./record.js";

/**
 * The pid of the synthetic "devices" process. Linux pids stay below PID_MAX_LIMIT (2^22), so this
 * one never collides with a simulated process.
 */
export const CHROME_DEVICES_PID = 4194304;

/** A track: a device's or a process's. */
export type ChromeTrack = { readonly device: string } | { readonly pid: number };

/** A start/finish pair of events drawn as one complete ("X") event. */
export interface ChromePair {
  /** the event that opens the span */
  readonly start: string;
  /** the event that closes it */
  readonly finish: string;
  /** the span's name */
  readonly name: string;
  /** payload fields that must be equal in both (besides being on one track) */
  readonly key: readonly string[];
}

/** The pairs `toChromeTrace` joins by default: CMA allocations and dma-fence waits. */
export const DEFAULT_CHROME_PAIRS: readonly ChromePair[] = [
  {
    start: "cma_alloc_start",
    finish: "cma_alloc_finish",
    name: "cma_alloc",
    key: ["name", "count", "align"],
  },
  {
    start: "dma_fence_wait_start",
    finish: "dma_fence_wait_end",
    name: "dma_fence_wait",
    key: ["context", "seqno"],
  },
];

/** Options of `toChromeTrace`. */
export interface ChromeTraceOpts {
  readonly tracks?: {
    /**
     * The track of a record. Default: a string `device` (or `dev_name`) field puts it on that
     * device's track, anything else goes on the track of the process that emitted it (`pid`).
     */
    readonly of?: (r: TraceRecordLike) => ChromeTrack;
    /** devices to list first, in this order (others follow in order of appearance) */
    readonly devices?: readonly string[];
  };
  /** start/finish pairs drawn as complete events (default `DEFAULT_CHROME_PAIRS`) */
  readonly pairs?: readonly ChromePair[];
  /** an event's category (default: the name up to its first "_": "cma", "iommu", "dma") */
  readonly category?: (name: string) => string;
}

/** One event of the Chrome trace format (the fields umm writes). */
export interface ChromeTraceEvent {
  readonly name: string;
  /** "M" metadata, "i" instant, "X" complete */
  readonly ph: "M" | "i" | "X";
  readonly pid: number;
  readonly tid: number;
  /** µs */
  readonly ts?: number;
  /** µs, complete events only */
  readonly dur?: number;
  readonly cat?: string;
  /** "t": an instant event drawn on its thread */
  readonly s?: "t";
  readonly args: Readonly<Record<string, unknown>>;
}

/** A Chrome trace document: `JSON.stringify` it into a .json file. */
export interface ChromeTrace {
  readonly traceEvents: ChromeTraceEvent[];
  readonly displayTimeUnit: "ns";
  readonly otherData: Readonly<Record<string, string>>;
}

/** The default track of a record: its device field, else its process. */
export function defaultChromeTrack(r: TraceRecordLike): ChromeTrack {
  const d = fieldsOf(r);
  if (typeof d.device === "string" && d.device !== "") return { device: d.device };
  if (typeof d.dev_name === "string" && d.dev_name !== "") return { device: d.dev_name };
  return { pid: r.pid };
}

const defaultCategory = (name: string): string => name.split("_")[0] || name;

/** ns to µs, keeping sub-µs precision. */
const usOf = (ns: number): number => ns / 1000;

/**
 * Converts trace records (any order; sorted by `seq`) to a Chrome trace: metadata events name the
 * "devices" process (`CHROME_DEVICES_PID`, one thread per device) and each simulated process (by
 * pid, named after its latest `comm`); each record becomes an instant event (`ph: "i"`) on its
 * track, except start/finish pairs (`pairs`) on one track with equal key fields, which become one
 * complete event (`ph: "X"`, args of both merged). `ts` and `dur` are µs of virtual time; `args`
 * are the event's fields. A start with no finish stays an instant event.
 */
export function toChromeTrace(records: readonly TraceRecordLike[], opts: ChromeTraceOpts = {}): ChromeTrace {
  const trackOf = opts.tracks?.of ?? defaultChromeTrack;
  const pairs = opts.pairs ?? DEFAULT_CHROME_PAIRS;
  const category = opts.category ?? defaultCategory;
  const sorted = [...records].sort((a, b) => a.seq - b.seq);

  const deviceTid = new Map<string, number>();
  for (const d of opts.tracks?.devices ?? []) if (!deviceTid.has(d)) deviceTid.set(d, deviceTid.size + 1);
  const procName = new Map<number, string>();
  const place = (r: TraceRecordLike): { pid: number; tid: number } => {
    const t = trackOf(r);
    if ("device" in t) {
      let tid = deviceTid.get(t.device);
      if (tid === undefined) {
        tid = deviceTid.size + 1;
        deviceTid.set(t.device, tid);
      }
      return { pid: CHROME_DEVICES_PID, tid };
    }
    if (!procName.has(t.pid)) procName.set(t.pid, t.pid === r.pid ? r.task : `pid ${t.pid}`);
    return { pid: t.pid, tid: t.pid };
  };

  const startOf = new Map<string, ChromePair>();
  const finishOf = new Map<string, ChromePair>();
  for (const p of pairs) {
    startOf.set(p.start, p);
    finishOf.set(p.finish, p);
  }
  const keyOf = (p: ChromePair, pid: number, tid: number, r: TraceRecordLike): string => {
    const d = fieldsOf(r);
    return JSON.stringify([p.name, pid, tid, ...p.key.map((k) => d[k] ?? null)]);
  };

  interface Pending {
    rec: TraceRecordLike;
    pid: number;
    tid: number;
    done: boolean;
  }
  const open = new Map<string, Pending[]>();
  const events: { ev: ChromeTraceEvent; ts: number; seq: number }[] = [];
  const pendings: Pending[] = [];

  for (const r of sorted) {
    // process names: the task seen at emission, and the comm a spawn/exec announces
    procName.set(r.pid, r.task);
    const d = fieldsOf(r);
    if (
      (r.name === "proc_spawn" || r.name === "proc_exec") &&
      typeof d.pid === "number" &&
      typeof d.comm === "string"
    ) {
      procName.set(d.pid, d.comm);
    }
    const { pid, tid } = place(r);
    const ps = startOf.get(r.name);
    if (ps) {
      const p: Pending = { rec: r, pid, tid, done: false };
      const k = keyOf(ps, pid, tid, r);
      const stack = open.get(k) ?? [];
      stack.push(p);
      open.set(k, stack);
      pendings.push(p);
      continue;
    }
    const pf = finishOf.get(r.name);
    if (pf) {
      const start = open.get(keyOf(pf, pid, tid, r))?.pop();
      if (start) {
        start.done = true;
        events.push({
          ev: {
            name: pf.name,
            cat: category(pf.name),
            ph: "X",
            ts: usOf(start.rec.ts),
            dur: usOf(r.ts - start.rec.ts),
            pid,
            tid,
            args: { ...fieldsOf(start.rec), ...d },
          },
          ts: start.rec.ts,
          seq: start.rec.seq,
        });
        continue;
      }
    }
    events.push({
      ev: { name: r.name, cat: category(r.name), ph: "i", s: "t", ts: usOf(r.ts), pid, tid, args: { ...d } },
      ts: r.ts,
      seq: r.seq,
    });
  }
  for (const p of pendings) {
    if (p.done) continue;
    events.push({
      ev: {
        name: p.rec.name,
        cat: category(p.rec.name),
        ph: "i",
        s: "t",
        ts: usOf(p.rec.ts),
        pid: p.pid,
        tid: p.tid,
        args: { ...fieldsOf(p.rec) },
      },
      ts: p.rec.ts,
      seq: p.rec.seq,
    });
  }
  events.sort((a, b) => a.ts - b.ts || a.seq - b.seq);

  const meta: ChromeTraceEvent[] = [];
  if (deviceTid.size > 0) {
    meta.push(
      { name: "process_name", ph: "M", pid: CHROME_DEVICES_PID, tid: 0, args: { name: "devices" } },
      { name: "process_sort_index", ph: "M", pid: CHROME_DEVICES_PID, tid: 0, args: { sort_index: 0 } },
    );
    for (const [device, tid] of deviceTid) {
      meta.push(
        { name: "thread_name", ph: "M", pid: CHROME_DEVICES_PID, tid, args: { name: device } },
        { name: "thread_sort_index", ph: "M", pid: CHROME_DEVICES_PID, tid, args: { sort_index: tid } },
      );
    }
  }
  const usedPids = new Set(events.map((e) => e.ev.pid));
  for (const pid of [...procName.keys()].sort((a, b) => a - b)) {
    if (!usedPids.has(pid)) continue;
    const name = procName.get(pid)!;
    meta.push(
      { name: "process_name", ph: "M", pid, tid: 0, args: { name } },
      { name: "process_sort_index", ph: "M", pid, tid: 0, args: { sort_index: pid + 1 } },
      { name: "thread_name", ph: "M", pid, tid: pid, args: { name: `${name}-${pid}` } },
    );
  }
  return {
    traceEvents: [...meta, ...events.map((e) => e.ev)],
    displayTimeUnit: "ns",
    otherData: { source: "umm", clock: "virtual (ts in µs of simulated time)" },
  };
}
