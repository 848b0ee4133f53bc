/**
 * CMA workloads: the steps `umm cma-plan` replays, and the readers of the three JSON forms a
 * workload file may take.
 *
 * **The workload format.** A JSON object (or a bare array of steps):
 *
 * ```json
 * {
 *   "name": "camera-and-decoder",
 *   "description": "what it stands for",
 *   "unit": "ms",
 *   "steps": [
 *     { "t": 0,   "op": "alloc", "id": "fw",   "dev": "mfc",   "type": "f", "size": "512K", "align": "128K" },
 *     { "t": 10,  "op": "alloc", "id": "cap0", "dev": "fimc0", "size": 3110400 },
 *     { "t": 12,  "op": "alloc", "id": "x",    "dev": "app",   "region": "common", "size": "4M", "align": "1M" },
 *     { "t": 500, "op": "free",  "id": "cap0" }
 *   ]
 * }
 * ```
 *
 * - `t`: when the step happens, in `unit` (`"ns"`, `"us"`, `"ms"` — the default — or `"s"`), or
 *   a string with its own unit (`"1.5s"`, `"250ms"`, `"40000ns"`). Times never go backwards;
 *   a step without `t` happens when the one before it did.
 * - `op`: `"alloc"` or `"free"`. `id` (a string or a number) names the allocation; an id may be
 *   used again once freed. A free needs only `id`.
 * - `dev`: the device that allocates. Without `region` or `via` the allocation is 2010-style,
 *   `cma_alloc(dev, type, size, align)`, routed by the board's `cma.map=` (`dev` must be a device
 *   of the board; `type` is the memory kind, `"common"` when absent: the MFC's `"f"`, `"a"`,
 *   `"b"`). With `region` it is taken from that region or area by name (merged `cma_alloc` on a
 *   CMA area, `cma_alloc_from_region` on a 2010 region or a no-map pool) and `dev` only names the
 *   owner in the pictures.
 * - `via`: how a driver or a program of today asks, the kernel choosing the region and the
 *   alignment (no `type`, `region` or `align` then). `"dma"`: `dma_alloc_coherent(dev, size)` as
 *   arch/arm/mm/dma-mapping.c serves it — from the device's coherent pool (a no-map
 *   `memory-region`) when it has one, else through its IOMMU from scattered pages (no CMA) when
 *   it sits behind one, else from its CMA area (its own `memory-region`, else the default area),
 *   aligned to the size's order up to CONFIG_CMA_ALIGNMENT (1 MiB), else from the page allocator
 *   (no CMA). `"heap"`: a `DMA_HEAP_IOCTL_ALLOC` on the CMA heap (`default_cma_region`): the
 *   default CMA area, with the same alignment; `dev` names the program.
 * - `size`: bytes, a number or a string with a K, M or G suffix (`"3M"`, `"0x2f7600"`); it is
 *   rounded up to whole pages. `align`: bytes, 0 (the default: a page) or a power of two.
 *
 * **Traces.** umm's own trace records of `cma_alloc_finish` and `cma_release` are a workload too:
 * a JSON array of records as a `TraceRecorder` returns them (`{ seq, ts, name, pid, task, cpu,
 * data }`), or the Chrome/Perfetto JSON `umm trace` writes (`{ "traceEvents": [...] }`, where an
 * allocation is a complete `cma_alloc` event). Each successful allocation becomes an `alloc` from
 * the region its event names (by the task that made it), each release a `free` of the
 * allocation starting at its pfn. An allocation that failed in the trace is replayed as a
 * momentary demand (allocated and freed at once); a release of pages whose allocation the trace
 * does not hold (a ring that dropped its oldest records) is skipped and counted.
 *
 * @module
 */
import { hex, PAGE_SIZE } from "@umm/kernel-core";
import { memparse } from "@umm/mm-cma";

/** One step of a CMA workload (times in virtual ns, sizes in bytes). */
export interface CmaPlanStep {
  /** virtual ns since the start of the workload */
  readonly t: number;
  /** allocate, or free the live allocation named `id` */
  readonly op: "alloc" | "free";
  /** the allocation's name (unique among live allocations) */
  readonly id: string;
  /**
   * The allocating device: a device of the board for a 2010 allocation routed by `cma.map=`, the
   * owner's name for one from a named region. A free carries its allocation's.
   */
  readonly dev: string;
  /** the 2010 memory kind (`"f"`, `"a"`, `"b"`; absent: `"common"`); routed steps only */
  readonly type?: string;
  /** bytes asked for (a free carries its allocation's) */
  readonly size: number;
  /** bytes: 0 (a page) or a power of two */
  readonly align: number;
  /** allocate from this region or area by name instead of through the map */
  readonly region?: string;
  /**
   * Ask as today's kernel interfaces do, the kernel choosing region and alignment:
   * `dma_alloc_coherent(dev, size)` ("dma") or the CMA dma-heap ("heap"); absent: `cma_alloc`.
   */
  readonly via?: CmaPlanVia;
  /**
   * The physical address a trace recorded for the allocation: it finds a private region (a trace
   * names those `(private)`) by address.
   */
  readonly paddr?: number;
}

/** The kernel interfaces a step may allocate through besides `cma_alloc` (see `CmaPlanStep.via`). */
export type CmaPlanVia = "dma" | "heap";

/** A workload: named steps in time order. */
export interface CmaPlanWorkload {
  /** a short name (`demo`, `churn-10h`, the file's `name` or its base name) */
  readonly name: string;
  /** one line on what it stands for */
  readonly description: string;
  /** the steps, `t` never decreasing; every free names an allocation live at that point */
  readonly steps: readonly CmaPlanStep[];
}

/**
 * A problem with the command's input — a workload that does not parse, a step naming a region or
 * device the board does not have, an unknown board — with a message naming it. `umm cma-plan`
 * exits 2 with it.
 */
export class CmaPlanError extends Error {
  override readonly name = "CmaPlanError";
}

const UNITS: Readonly<Record<string, number>> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };
const STEP_FIELDS = new Set(["t", "op", "id", "dev", "type", "size", "align", "region", "via", "paddr"]);
const WORKLOAD_FIELDS = new Set(["name", "description", "unit", "steps"]);

const isObj = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);

/** Parses a byte count: a non-negative safe integer, or a string memparse reads whole (`"4M"`). */
function parseBytes(v: unknown, what: string): number {
  if (typeof v === "number") {
    if (Number.isSafeInteger(v) && v >= 0) return v;
  } else if (typeof v === "string") {
    const s = v.trim();
    const m = memparse(s, 0);
    if (s !== "" && m.end === s.length && Number.isSafeInteger(m.value)) return m.value;
  }
  throw new CmaPlanError(
    `${what} ${JSON.stringify(v)} is not a byte count (bytes, or a number with K, M or G)`,
  );
}

/** Parses a time: a number in `unit`, or a string with its own unit. Returns ns. */
function parseTime(v: unknown, unit: number, what: string): number {
  let ns: number | undefined;
  if (typeof v === "number" && Number.isFinite(v)) ns = v * unit;
  else if (typeof v === "string") {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s)\s*$/.exec(v);
    if (m) ns = Number(m[1]) * UNITS[m[2]!]!;
  }
  if (ns === undefined || !(ns >= 0) || !Number.isFinite(ns)) {
    throw new CmaPlanError(
      `${what} ${JSON.stringify(v)} is not a time (a non-negative number in the workload's unit, or "250ms", "1.5s")`,
    );
  }
  return Math.round(ns);
}

/** True for 0 or a power of two (an alignment). */
const isAlign = (n: number): boolean =>
  n === 0 || (Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n);

function checkAlign(align: number, what: string): void {
  if (!isAlign(align)) throw new CmaPlanError(`${what} ${align} is not 0 or a power of two`);
}

/**
 * Checks the live-allocation rules of `steps` (ids, time order, sizes) and fills each free's
 * `dev`, `size`, `align`, `type` and `region` from its allocation. Throws `CmaPlanError`.
 */
export function checkWorkloadSteps(steps: readonly CmaPlanStep[], where = "workload"): CmaPlanStep[] {
  const live = new Map<string, CmaPlanStep>();
  const out: CmaPlanStep[] = [];
  let t = 0;
  steps.forEach((s, i) => {
    const at = `${where} step ${i} (id ${JSON.stringify(s.id)})`;
    if (!(s.t >= t)) {
      throw new CmaPlanError(
        `${at}: t ${s.t} ns is before the previous step's ${t} ns; steps go in time order`,
      );
    }
    t = s.t;
    if (s.op === "alloc") {
      if (live.has(s.id)) throw new CmaPlanError(`${at}: id ${JSON.stringify(s.id)} is already allocated`);
      if (!(s.size > 0) || !Number.isSafeInteger(s.size))
        throw new CmaPlanError(`${at}: size ${s.size} is not positive`);
      checkAlign(s.align, `${at}: align`);
      if (s.dev === "") throw new CmaPlanError(`${at}: dev is empty`);
      live.set(s.id, s);
      out.push(s);
    } else {
      const a = live.get(s.id);
      if (!a) throw new CmaPlanError(`${at}: free of id ${JSON.stringify(s.id)}, which is not allocated`);
      live.delete(s.id);
      const { t: _t, op: _op, ...rest } = a;
      out.push({ ...rest, t: s.t, op: "free" });
    }
  });
  return out;
}

/** Reads one step of the workload format. */
function readStep(raw: unknown, i: number, unit: number, prevT: number): CmaPlanStep {
  const at = `workload step ${i}`;
  if (!isObj(raw)) throw new CmaPlanError(`${at} is not an object`);
  for (const k of Object.keys(raw)) {
    if (!STEP_FIELDS.has(k)) {
      throw new CmaPlanError(
        `${at}: unknown field ${JSON.stringify(k)} (fields: ${[...STEP_FIELDS].join(", ")})`,
      );
    }
  }
  const t = raw.t === undefined ? prevT : parseTime(raw.t, unit, `${at}: t`);
  const op = raw.op;
  if (op !== "alloc" && op !== "free")
    throw new CmaPlanError(`${at}: op ${JSON.stringify(op)} is not "alloc" or "free"`);
  const id = raw.id;
  if (!(typeof id === "string" && id !== "") && !(typeof id === "number" && Number.isFinite(id))) {
    throw new CmaPlanError(`${at}: id ${JSON.stringify(id)} is not a non-empty string or a number`);
  }
  const sid = String(id);
  if (op === "free") return { t, op, id: sid, dev: "", size: 0, align: 0 };
  const dev = raw.dev;
  if (typeof dev !== "string" || dev === "") {
    throw new CmaPlanError(
      `${at} (id ${JSON.stringify(sid)}): dev ${JSON.stringify(dev)} is not a device name`,
    );
  }
  if (raw.type !== undefined && (typeof raw.type !== "string" || raw.type === "")) {
    throw new CmaPlanError(
      `${at} (id ${JSON.stringify(sid)}): type ${JSON.stringify(raw.type)} is not a memory kind`,
    );
  }
  if (raw.region !== undefined && (typeof raw.region !== "string" || raw.region === "")) {
    throw new CmaPlanError(
      `${at} (id ${JSON.stringify(sid)}): region ${JSON.stringify(raw.region)} is not a region name`,
    );
  }
  if (raw.type !== undefined && raw.region !== undefined) {
    throw new CmaPlanError(
      `${at} (id ${JSON.stringify(sid)}): give type (routed by the board's cma.map) or region, not both`,
    );
  }
  const via = raw.via;
  if (via !== undefined && via !== "cma" && via !== "dma" && via !== "heap") {
    throw new CmaPlanError(
      `${at} (id ${JSON.stringify(sid)}): via ${JSON.stringify(via)} is not "cma", "dma" or "heap"`,
    );
  }
  if ((via === "dma" || via === "heap") && (raw.type ?? raw.region ?? raw.align) !== undefined) {
    throw new CmaPlanError(
      `${at} (id ${JSON.stringify(sid)}): via ${JSON.stringify(via)} lets the kernel choose the region and the alignment; give no type, region or align`,
    );
  }
  if (raw.size === undefined)
    throw new CmaPlanError(`${at} (id ${JSON.stringify(sid)}): an alloc needs a size`);
  const size = parseBytes(raw.size, `${at} (id ${JSON.stringify(sid)}): size`);
  const align =
    raw.align === undefined ? 0 : parseBytes(raw.align, `${at} (id ${JSON.stringify(sid)}): align`);
  const paddr =
    raw.paddr === undefined ? undefined : parseBytes(raw.paddr, `${at} (id ${JSON.stringify(sid)}): paddr`);
  return {
    t,
    op,
    id: sid,
    dev,
    size,
    align,
    ...(raw.type === undefined ? {} : { type: raw.type as string }),
    ...(raw.region === undefined ? {} : { region: raw.region as string }),
    ...(via === "dma" || via === "heap" ? { via } : {}),
    ...(paddr === undefined ? {} : { paddr }),
  };
}

/** Reads the workload format (an object with `steps`, or a bare array of steps). */
function readStepsWorkload(doc: unknown, name: string): CmaPlanWorkload {
  let unit = UNITS.ms!;
  let steps: unknown;
  let wname = name;
  let description = "";
  if (Array.isArray(doc)) steps = doc;
  else if (isObj(doc)) {
    for (const k of Object.keys(doc)) {
      if (!WORKLOAD_FIELDS.has(k)) {
        throw new CmaPlanError(
          `workload: unknown field ${JSON.stringify(k)} (fields: ${[...WORKLOAD_FIELDS].join(", ")})`,
        );
      }
    }
    if (doc.unit !== undefined) {
      const u = typeof doc.unit === "string" ? UNITS[doc.unit] : undefined;
      if (u === undefined)
        throw new CmaPlanError(`workload: unit ${JSON.stringify(doc.unit)} is not ns, us, ms or s`);
      unit = u;
    }
    if (doc.name !== undefined) {
      if (typeof doc.name !== "string" || doc.name === "")
        throw new CmaPlanError("workload: name is not a string");
      wname = doc.name;
    }
    if (doc.description !== undefined) {
      if (typeof doc.description !== "string")
        throw new CmaPlanError("workload: description is not a string");
      description = doc.description;
    }
    steps = doc.steps;
    if (!Array.isArray(steps)) throw new CmaPlanError("workload: steps is not an array");
  }
  const list = steps as unknown[];
  if (list.length === 0) throw new CmaPlanError("workload: it has no steps");
  const read: CmaPlanStep[] = [];
  let prevT = 0;
  list.forEach((raw, i) => {
    const s = readStep(raw, i, unit, prevT);
    prevT = s.t;
    read.push(s);
  });
  return {
    name: wname,
    description: description || `${read.length} steps from a workload file`,
    steps: checkWorkloadSteps(read),
  };
}

/** One CMA event taken from a trace, in the trace's order. */
interface TraceCmaEvent {
  readonly kind: "alloc" | "release";
  /** ns */
  readonly t: number;
  readonly region: string;
  readonly pfn: number;
  readonly count: number;
  /** alignment order (allocations) */
  readonly align: number;
  /** 0, or the negative errno of a failed allocation */
  readonly errorno: number;
  readonly owner: string;
  /** where it came from, for messages */
  readonly where: string;
}

function num(d: Record<string, unknown>, k: string, where: string): number {
  const v = d[k];
  if (typeof v !== "number" || !Number.isSafeInteger(v)) {
    throw new CmaPlanError(`${where}: field ${k} is ${JSON.stringify(v)}, not an integer`);
  }
  return v;
}

function str(d: Record<string, unknown>, k: string, where: string): string {
  const v = d[k];
  if (typeof v !== "string" || v === "")
    throw new CmaPlanError(`${where}: field ${k} is ${JSON.stringify(v)}, not a name`);
  return v;
}

function cmaEvent(
  kind: "alloc" | "release",
  t: number,
  d: Record<string, unknown>,
  owner: string,
  where: string,
): TraceCmaEvent {
  return {
    kind,
    t,
    region: str(d, "name", where),
    pfn: num(d, "pfn", where),
    count: num(d, "count", where),
    align: kind === "alloc" ? num(d, "align", where) : 0,
    errorno: kind === "alloc" ? num(d, "errorno", where) : 0,
    owner,
    where,
  };
}

/** CMA events of an array of umm trace records (`TraceRecorder.records()` as JSON). */
function recordEvents(records: readonly unknown[]): TraceCmaEvent[] {
  const out: { e: TraceCmaEvent; seq: number; i: number }[] = [];
  records.forEach((r, i) => {
    if (!isObj(r) || typeof r.name !== "string" || !isObj(r.data)) {
      throw new CmaPlanError(`trace record ${i} is not a trace record ({ seq, ts, name, task, data })`);
    }
    if (r.name !== "cma_alloc_finish" && r.name !== "cma_release") return;
    const where = `trace record ${i} (${r.name})`;
    const ts = r.ts;
    if (typeof ts !== "number" || !Number.isFinite(ts) || ts < 0) {
      throw new CmaPlanError(`${where}: ts ${JSON.stringify(ts)} is not a time in ns`);
    }
    const owner = typeof r.task === "string" && r.task !== "" ? r.task : `pid ${String(r.pid ?? "?")}`;
    const kind = r.name === "cma_alloc_finish" ? "alloc" : "release";
    out.push({ e: cmaEvent(kind, ts, r.data, owner, where), seq: typeof r.seq === "number" ? r.seq : i, i });
  });
  return out.sort((a, b) => a.seq - b.seq || a.i - b.i).map((x) => x.e);
}

/** CMA events of a Chrome trace's events (`umm trace`'s JSON). */
function chromeEvents(events: readonly unknown[]): TraceCmaEvent[] {
  const procs = new Map<number, string>();
  const threads = new Map<string, string>();
  for (const e of events) {
    if (!isObj(e) || e.ph !== "M" || !isObj(e.args) || typeof e.args.name !== "string") continue;
    if (e.name === "process_name" && typeof e.pid === "number") procs.set(e.pid, e.args.name);
    if (e.name === "thread_name") threads.set(`${String(e.pid)}/${String(e.tid)}`, e.args.name);
  }
  const out: { e: TraceCmaEvent; i: number }[] = [];
  events.forEach((e, i) => {
    if (!isObj(e)) throw new CmaPlanError(`trace event ${i} is not an object`);
    const name = e.name;
    const alloc = name === "cma_alloc" || name === "cma_alloc_finish";
    if (!alloc && name !== "cma_release") return;
    const where = `trace event ${i} (${String(name)})`;
    if (!isObj(e.args)) throw new CmaPlanError(`${where}: it has no args`);
    // a cma_alloc without a finish (an unpaired start) carries no pfn: nothing was allocated
    if (alloc && e.args.pfn === undefined) return;
    const ts = e.ts;
    const dur = e.dur ?? 0;
    if (typeof ts !== "number" || !Number.isFinite(ts) || typeof dur !== "number" || !Number.isFinite(dur)) {
      throw new CmaPlanError(`${where}: ts ${JSON.stringify(ts)} / dur ${JSON.stringify(dur)} are not µs`);
    }
    const pid = typeof e.pid === "number" ? e.pid : -1;
    const owner =
      procs.get(pid) === "devices"
        ? (threads.get(`${pid}/${String(e.tid)}`) ?? "device")
        : (procs.get(pid) ?? `pid ${pid}`);
    // an allocation happened when it finished; ts/dur are µs of virtual time
    const t = Math.round((ts + (alloc ? dur : 0)) * 1000);
    out.push({ e: cmaEvent(alloc ? "alloc" : "release", t, e.args, owner, where), i });
  });
  return out.sort((a, b) => a.e.t - b.e.t || a.i - b.i).map((x) => x.e);
}

/** Steps from trace CMA events (see the module comment); `skipped` counts unmatched releases. */
function traceSteps(events: readonly TraceCmaEvent[]): {
  steps: CmaPlanStep[];
  skipped: number;
  failed: number;
} {
  const live = new Map<string, { id: string; count: number }>();
  const steps: CmaPlanStep[] = [];
  let skipped = 0;
  let failed = 0;
  let n = 0;
  for (const e of events) {
    const key = `${e.region}/${e.pfn}`;
    const size = e.count * PAGE_SIZE;
    if (e.kind === "alloc") {
      if (e.count === 0) continue;
      if (e.align < 0 || e.align > 30) throw new CmaPlanError(`${e.where}: align ${e.align} is not an order`);
      const base = {
        dev: e.owner,
        size,
        align: PAGE_SIZE * 2 ** e.align,
        region: e.region,
      };
      if (e.errorno !== 0) {
        failed++;
        const id = `${e.region}!failed#${++n}`;
        steps.push({ ...base, t: e.t, op: "alloc", id }, { ...base, t: e.t, op: "free", id });
        continue;
      }
      if (live.has(key)) {
        throw new CmaPlanError(
          `${e.where}: ${e.region} pfn ${hex(e.pfn)} is allocated again while the trace still holds it`,
        );
      }
      const id = `${e.region}@${hex(e.pfn * PAGE_SIZE)}#${++n}`;
      live.set(key, { id, count: e.count });
      steps.push({ ...base, t: e.t, op: "alloc", id, paddr: e.pfn * PAGE_SIZE });
    } else {
      const l = live.get(key);
      if (!l) {
        skipped++;
        continue;
      }
      live.delete(key);
      steps.push({ t: e.t, op: "free", id: l.id, dev: e.owner, size, align: 0, region: e.region });
    }
  }
  return { steps, skipped, failed };
}

function traceWorkload(events: readonly TraceCmaEvent[], name: string, form: string): CmaPlanWorkload {
  const { steps, skipped, failed } = traceSteps(events);
  if (steps.length === 0) {
    throw new CmaPlanError(`workload: the ${form} holds no cma_alloc_finish or cma_release event`);
  }
  const notes = [
    `${steps.length} steps from ${form}`,
    ...(failed
      ? [
          failed === 1
            ? "1 failed allocation replayed as a momentary demand"
            : `${failed} failed allocations replayed as momentary demands`,
        ]
      : []),
    ...(skipped
      ? [`${skipped} release${skipped === 1 ? "" : "s"} of allocations the trace lacks skipped`]
      : []),
  ];
  return { name, description: notes.join("; "), steps: checkWorkloadSteps(steps) };
}

/**
 * Reads a workload from parsed JSON: the workload format (an object with `steps`, or an array of
 * steps), an array of umm trace records, or a Chrome trace (`{ traceEvents }` or an array of
 * events). `name` names it when the document does not. Throws `CmaPlanError` naming the problem.
 */
export function parseWorkload(doc: unknown, name = "workload"): CmaPlanWorkload {
  if (isObj(doc)) {
    if (Array.isArray(doc.traceEvents))
      return traceWorkload(chromeEvents(doc.traceEvents), name, "a Chrome trace");
    if ("steps" in doc) return readStepsWorkload(doc, name);
    throw new CmaPlanError(
      "workload: the JSON object has neither steps (a workload) nor traceEvents (a Chrome trace)",
    );
  }
  if (Array.isArray(doc)) {
    const first = doc.find(isObj);
    if (first === undefined) throw new CmaPlanError("workload: the JSON array holds no object");
    if ("op" in first) return readStepsWorkload(doc, name);
    if ("ph" in first) return traceWorkload(chromeEvents(doc), name, "a Chrome trace");
    if ("data" in first && "name" in first) return traceWorkload(recordEvents(doc), name, "trace records");
    throw new CmaPlanError(
      "workload: the JSON array holds neither steps (with op) nor trace records (with name and data) nor Chrome trace events (with ph)",
    );
  }
  throw new CmaPlanError("workload: the JSON is neither an object nor an array");
}

/** Parses workload text (JSON); a syntax error becomes a `CmaPlanError` naming `source`. */
export function parseWorkloadJson(text: string, name = "workload", source = "workload"): CmaPlanWorkload {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CmaPlanError(`${source}: bad JSON: ${(e as Error).message}`);
  }
  return parseWorkload(doc, name);
}
