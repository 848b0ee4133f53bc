/**
 * Trace events, modelled on the kernel's tracepoints (include/trace/events/*.h).
 *
 * Each package declares its events by augmenting `TraceEventMap`:
 *
 * ```ts
 * declare module "@umm/kernel-core" {
 *   interface TraceEventMap {
 *     cma_alloc_start: { name: string; count: number; align: number };
 *   }
 * }
 * ```
 *
 * and emits through a `Tracepoint` it looked up once. With no listener, an emit site costs one
 * property read: `if (tp.enabled) tp.emit({ ... })` builds the payload only when someone listens.
 *
 * @module
 */
import { hex } from "./error.js";

/**
 * Every trace event umm knows, name → payload. Packages add theirs by module augmentation.
 * Payload fields are plain numbers, strings, booleans or arrays of them.
 */
export interface TraceEventMap {
  /** a driver bound to a device (drivers/base/dd.c really_probe) */
  device_probe: { device: string; driver: string };
  /** a driver's probe failed; `errno` is the error name */
  device_probe_failed: { device: string; driver: string; errno: string };
  /** a driver was unbound from a device */
  device_remove: { device: string; driver: string };
}

/** An event name. */
export type TraceEventName = keyof TraceEventMap & string;

/** One recorded event. */
export interface TraceRecord<K extends TraceEventName = TraceEventName> {
  /** order of emission, from 0 */
  readonly seq: number;
  /** virtual time in ns */
  readonly ts: number;
  readonly name: K;
  /** the task current at emission ("swapper"/0 outside any process) */
  readonly pid: number;
  readonly task: string;
  readonly cpu: number;
  readonly data: TraceEventMap[K];
}

/** A listener for one event name, or for every event ("*"). */
export type TraceListener<K extends TraceEventName = TraceEventName> = (r: TraceRecord<K>) => void;

/** What the bus needs from its kernel: time and the current task. */
export interface TraceContext {
  now(): number;
  current(): { readonly pid: number; readonly comm: string };
}

/** One tracepoint: `enabled` is true while anyone listens to it. */
export class Tracepoint<K extends TraceEventName> {
  readonly name: K;
  /** True while a listener for this event (or for all events) is attached. */
  enabled = false;
  readonly #bus: TraceBus;

  constructor(bus: TraceBus, name: K) {
    this.#bus = bus;
    this.name = name;
  }

  /** Emits the event to its listeners (a no-op when disabled). */
  emit(data: TraceEventMap[K]): void {
    if (this.enabled) this.#bus._dispatch(this.name, data);
  }
}

/** The event bus of one kernel. */
export class TraceBus {
  readonly #ctx: TraceContext;
  readonly #points = new Map<string, Tracepoint<TraceEventName>>();
  readonly #listeners = new Map<string, Set<TraceListener>>();
  readonly #all = new Set<TraceListener>();
  #seq = 0;

  constructor(ctx: TraceContext) {
    this.#ctx = ctx;
  }

  /** The tracepoint of `name` (one object per name; keep it, look it up once). */
  tracepoint<K extends TraceEventName>(name: K): Tracepoint<K> {
    let tp = this.#points.get(name);
    if (!tp) {
      tp = new Tracepoint(this, name) as Tracepoint<TraceEventName>;
      tp.enabled = this.#all.size > 0 || (this.#listeners.get(name)?.size ?? 0) > 0;
      this.#points.set(name, tp);
    }
    return tp as unknown as Tracepoint<K>;
  }

  /** Emits `name` if anyone listens (convenience for cold paths; hot paths keep a Tracepoint). */
  emit<K extends TraceEventName>(name: K, data: TraceEventMap[K]): void {
    this.tracepoint(name).emit(data);
  }

  /** True while anyone listens to `name`. */
  enabled(name: TraceEventName): boolean {
    return this.tracepoint(name).enabled;
  }

  /**
   * Listens to one event, several, or all ("*"). Returns the function that detaches the listener.
   */
  on<K extends TraceEventName>(name: K | readonly K[] | "*", fn: TraceListener<K>): () => void {
    const l = fn as TraceListener;
    if (name === "*") {
      this.#all.add(l);
      this.#refresh();
      return () => {
        this.#all.delete(l);
        this.#refresh();
      };
    }
    const names = typeof name === "string" ? [name] : [...name];
    for (const n of names) {
      let set = this.#listeners.get(n);
      if (!set) {
        set = new Set();
        this.#listeners.set(n, set);
      }
      set.add(l);
    }
    this.#refresh();
    return () => {
      for (const n of names) this.#listeners.get(n)?.delete(l);
      this.#refresh();
    };
  }

  #refresh(): void {
    const all = this.#all.size > 0;
    for (const [name, tp] of this.#points) tp.enabled = all || (this.#listeners.get(name)?.size ?? 0) > 0;
  }

  /** @internal called by enabled tracepoints */
  _dispatch(name: TraceEventName, data: unknown): void {
    const cur = this.#ctx.current();
    const rec: TraceRecord = {
      seq: this.#seq++,
      ts: this.#ctx.now(),
      name,
      pid: cur.pid,
      task: cur.comm,
      cpu: 0,
      data: data as TraceEventMap[TraceEventName],
    };
    const set = this.#listeners.get(name);
    if (set) for (const l of set) l(rec);
    for (const l of this.#all) l(rec);
  }
}

/** Options of a `TraceRecorder`. */
export interface TraceRecorderOpts {
  /** ring size; the oldest records are dropped beyond it (default 1 << 16) */
  readonly capacity?: number;
  /** record only these events (default: all) */
  readonly events?: readonly TraceEventName[];
}

/** A ring buffer of trace records (the ftrace ring buffer). */
export class TraceRecorder {
  readonly capacity: number;
  readonly #ring: (TraceRecord | undefined)[];
  #head = 0;
  #size = 0;
  #dropped = 0;
  #detach: (() => void) | null;

  constructor(bus: TraceBus, opts: TraceRecorderOpts = {}) {
    this.capacity = opts.capacity ?? 1 << 16;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) {
      throw new RangeError(`TraceRecorder: capacity ${this.capacity} must be a positive integer`);
    }
    this.#ring = new Array(this.capacity);
    const push = (r: TraceRecord): void => {
      const i = (this.#head + this.#size) % this.capacity;
      this.#ring[i] = r;
      if (this.#size < this.capacity) this.#size++;
      else {
        this.#head = (this.#head + 1) % this.capacity;
        this.#dropped++;
      }
    };
    this.#detach = opts.events ? bus.on(opts.events, push) : bus.on("*", push);
  }

  /** Records held, oldest first. */
  records(): TraceRecord[] {
    const out: TraceRecord[] = [];
    for (let k = 0; k < this.#size; k++)
      out.push(this.#ring[(this.#head + k) % this.capacity] as TraceRecord);
    return out;
  }

  /** Records of one event, oldest first, typed. */
  of<K extends TraceEventName>(name: K): TraceRecord<K>[] {
    return this.records().filter((r): r is TraceRecord<K> => r.name === name);
  }

  /** How many records were overwritten because the ring was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Forgets every record. */
  clear(): void {
    this.#ring.fill(undefined);
    this.#head = 0;
    this.#size = 0;
    this.#dropped = 0;
  }

  /** Detaches from the bus; the records stay readable. */
  stop(): void {
    this.#detach?.();
    this.#detach = null;
  }
}

const HEX_KEY = /(?:pfn|addr|iova|paddr|daddr|dma|base|start|end|pgd|phys|pte|pgtable|flags|mask|va)$/i;

function formatValue(key: string, v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 && HEX_KEY.test(key) ? hex(v) : String(v);
  if (typeof v === "boolean") return v ? "1" : "0";
  if (Array.isArray(v)) return `{${v.map((x) => formatValue(key, x)).join(",")}}`;
  if (v === null || v === undefined) return "(null)";
  return String(v);
}

/**
 * Formats a record as ftrace's text output does:
 * `<task>-<pid> [000] <sec>.<usec>: <event>: key=value ...`
 * Address-like fields (pfn, iova, addr, ...) print in hex.
 */
export function formatFtrace(r: TraceRecord): string {
  const sec = Math.floor(r.ts / 1e9);
  const usec = Math.floor((r.ts % 1e9) / 1e3);
  const fields = Object.entries(r.data as Record<string, unknown>)
    .map(([k, v]) => `${k}=${formatValue(k, v)}`)
    .join(" ");
  const cpu = String(r.cpu).padStart(3, "0");
  return `${r.task}-${r.pid} [${cpu}] ${sec}.${String(usec).padStart(6, "0")}: ${r.name}: ${fields}`;
}
