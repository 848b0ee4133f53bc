/**
 * The demo's summary: plain data with stable field names (what `umm demo --json` prints, as the
 * README documents), built from the run's trace events, the machine's counters and the shutdown
 * report; and its text table.
 *
 * @module
 */
import { formatSize, hex, PAGE_SIZE } from "@umm/kernel-core";
import { type SummaryRow, summaryTable } from "../report/table.js";
import { BufferLedger } from "./ledger.js";
import type { DemoRun } from "./run.js";

/** One CMA region in the summary (bytes). */
export interface DemoCmaRegion {
  /** the region's name (`common`, `mfc_fw`, `mfc-left@4a000000`, `pmm:general`) */
  readonly region: string;
  /** its size */
  readonly sizeBytes: number;
  /** in use while the last frame was on screen */
  readonly usedBytes: number;
  /** the most in use at once since boot */
  readonly peakBytes: number;
}

/** One hazard the stack reported: what went wrong, on which device, to which buffer, and why. */
export interface DemoHazard {
  /**
   * "coherency" (arch-arm's checker), "stale-tlb" (the SysMMU TLB sanitizer), "iommu-fault" (a
   * SysMMU page fault) or "dma-debug" (DMA-API debug)
   */
  readonly source: string;
  /** the report's own kind: dirty-read, stale-read, PAGE FAULT, a DMA-API debug check, ... */
  readonly kind: string;
  /** the device whose access it was */
  readonly device: string;
  /** the buffer, as the ledger names it ("scanout buffer 2 (dma-buf 7, P.A 0x58800000)") */
  readonly buffer: string;
  /** the operation that was missing */
  readonly missing: string;
  /** virtual ns */
  readonly time: number;
  /** the report in words */
  readonly detail: string;
}

/** The fault counts of the summary. */
export interface DemoFaults {
  /** SysMMU faults plus bus errors */
  readonly total: number;
  /** SysMMU faults by type ("PAGE", ...) */
  readonly sysmmu: Readonly<Record<string, number>>;
  /** the same SysMMU faults as iommu-core reported them (`io_page_fault`) */
  readonly iommu: number;
  /** bus errors of direct masters */
  readonly busErrors: number;
}

/** What `umm demo --json` prints (field names are stable; see the README). */
export interface DemoSummary {
  /** the board's name */
  readonly board: string;
  readonly seed: number;
  /** the planted bug, or null */
  readonly bug: string | null;
  /** the CPU cache model, "ideal" or "sized" */
  readonly cache: string;
  /** the camera's frame size, "1920x1080" (NV12) */
  readonly cameraSize: string;
  /** the display's mode, "1920x1080" (XRGB8888) */
  readonly displaySize: string;
  /** frames shown */
  readonly frames: number;
  /** virtual seconds from boot to the last frame on screen */
  readonly virtualSeconds: number;
  /** frames shown per second of virtual time, between the first and the last */
  readonly fps: number;
  /** bytes moved by device DMA (`dma_xfer`) after boot, in total and by device */
  readonly dmaBytes: number;
  readonly dmaBytesByDevice: Readonly<Record<string, number>>;
  /** CPU copies (`cpu_copy`) and their bytes: the goal is 0 */
  readonly cpuCopies: number;
  readonly cpuCopyBytes: number;
  /** every CMA region, by base address */
  readonly cma: readonly DemoCmaRegion[];
  /** `iommu_map` / `iommu_unmap` calls */
  readonly iommuMaps: number;
  readonly iommuUnmaps: number;
  readonly faults: DemoFaults;
  /** coherency hazards (arch-arm's checker) */
  readonly coherencyHazards: number;
  /** translations served from a stale SysMMU TLB entry (the TLB sanitizer) */
  readonly staleTlbReports: number;
  /** DMA-API debug reports */
  readonly dmaDebugReports: number;
  /** every report above, with the buffer, the device and the missing operation */
  readonly hazards: readonly DemoHazard[];
  /** resources still held after shutdown (0), and what they were */
  readonly leaks: number;
  readonly leakDetails: readonly string[];
}

/** The keys of `DemoSummary`, in order (the README lists them; a test pins them). */
export const DEMO_SUMMARY_FIELDS: readonly (keyof DemoSummary)[] = [
  "board",
  "seed",
  "bug",
  "cache",
  "cameraSize",
  "displaySize",
  "frames",
  "virtualSeconds",
  "fps",
  "dmaBytes",
  "dmaBytesByDevice",
  "cpuCopies",
  "cpuCopyBytes",
  "cma",
  "iommuMaps",
  "iommuUnmaps",
  "faults",
  "coherencyHazards",
  "staleTlbReports",
  "dmaDebugReports",
  "hazards",
  "leaks",
  "leakDetails",
];

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const ms = (ns: number): string => `${(ns / 1e6).toFixed(3)} ms`;
const sorted = (m: Map<string, number>): Record<string, number> =>
  Object.fromEntries([...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));

/** The hazards of a run's records, each with its buffer from `ledger`. */
export function demoHazards(run: DemoRun, ledger: BufferLedger): DemoHazard[] {
  const out: DemoHazard[] = [];
  for (const r of run.records) {
    const d = r.data as unknown as Record<string, unknown>;
    const s = (k: string) => String(d[k] ?? "");
    const n = (k: string) => Number(d[k] ?? 0);
    switch (r.name) {
      case "coherency_hazard": {
        const b = ledger.bufferAt(n("paddr"));
        out.push({
          source: "coherency",
          kind: s("kind"),
          device: s("device"),
          buffer: BufferLedger.describe(b),
          missing: s("missing"),
          time: r.ts,
          detail: `${s("device")} ${s("kind")} of ${formatSize(n("size"))} at P.A ${hex(n("paddr"))}: ${s("detail")}`,
        });
        break;
      }
      case "sysmmu_stale_tlb": {
        const now = ledger.bufferAt(n("pt_pa"));
        const was = ledger.bufferAt(n("tlb_pa"));
        out.push({
          source: "stale-tlb",
          kind: "stale TLB entry",
          device: s("master"),
          buffer: BufferLedger.describe(now),
          missing: s("missing"),
          time: r.ts,
          detail:
            `${s("master")} (SysMMU ${s("sysmmu")}) at D.V ${hex(n("iova"))} reached P.A ${hex(n("tlb_pa"))} of ` +
            `${BufferLedger.describe(was)} through a stale TLB entry; the page table maps P.A ${hex(n("pt_pa"))} ` +
            `of ${BufferLedger.describe(now)}`,
        });
        break;
      }
      case "sysmmu_fault": {
        const dev = s("master");
        const m = ledger.mappingAt(dev, n("iova"), r.ts);
        const b = m?.buffer ?? null;
        const gone = m && m.tUnmap !== null && m.tUnmap <= r.ts;
        const freed = b?.tFree !== null && b?.tFree !== undefined && b.tFree <= r.ts;
        out.push({
          source: "iommu-fault",
          kind: `${s("type")} FAULT`,
          device: dev,
          buffer: BufferLedger.describe(b),
          missing: gone
            ? `a reference that keeps ${b?.name ?? "the buffer"} mapped while ${dev} uses it (unmapped at ${ms(m.tUnmap!)}${freed ? `, freed at ${ms(b!.tFree!)}` : ""})`
            : "a mapping of the D.V the device used",
          time: r.ts,
          detail: `${dev} ${d.write ? "wrote" : "read"} D.V ${hex(n("iova"))} with nothing mapped there (SysMMU ${s("sysmmu")}: ${s("type")} FAULT)${gone ? `; it was ${b?.name ?? "a buffer"} until ${ms(m.tUnmap!)}` : ""}`,
        });
        break;
      }
      case "dma_debug_error": {
        const dev = s("device");
        const m = ledger.mappingAt(dev, n("dev_addr"), r.ts);
        out.push({
          source: "dma-debug",
          kind: s("check"),
          device: dev,
          buffer: BufferLedger.describe(m?.buffer ?? null),
          missing: s("check"),
          time: r.ts,
          detail: s("message"),
        });
        break;
      }
    }
  }
  return out;
}

/** Builds the summary of a run. */
export function demoSummary(run: DemoRun, ledger: BufferLedger = new BufferLedger(run.records)): DemoSummary {
  const c = run.counts;
  const dmaBytes = [...c.dmaBytesByDevice.values()].reduce((a, b) => a + b, 0);
  const st = run.stats;
  const used = new Map((run.statsAtLastFrame ?? st).cma.map((c) => [c.name, c.usedPages]));
  const first = run.shownAt[0] ?? 0;
  const last = run.shownAt.at(-1) ?? 0;
  const sysmmuFaults = Object.values(st.faults.sysmmu).reduce((a, b) => a + b, 0);
  const frames = run.shownAt.length;
  const hazards = demoHazards(run, ledger);
  const mode = run.lastFrame;
  return {
    board: run.board.name,
    seed: run.opts.seed,
    bug: run.opts.bug,
    cache: run.cache,
    cameraSize: `${run.opts.width}x${run.opts.height}`,
    displaySize: mode ? `${mode.width}x${mode.height}` : "off",
    frames,
    virtualSeconds: round3(last / 1e9),
    fps: frames > 1 && last > first ? round3(((frames - 1) * 1e9) / (last - first)) : 0,
    dmaBytes,
    dmaBytesByDevice: sorted(c.dmaBytesByDevice),
    cpuCopies: c.cpuCopies,
    cpuCopyBytes: c.cpuCopyBytes,
    cma: st.cma.map((c) => ({
      region: c.name,
      sizeBytes: c.size,
      usedBytes: (used.get(c.name) ?? 0) * PAGE_SIZE,
      peakBytes: c.peakPages * PAGE_SIZE,
    })),
    iommuMaps: st.iommu.maps,
    iommuUnmaps: st.iommu.unmaps,
    faults: {
      total: sysmmuFaults + st.faults.busErrors,
      sysmmu: st.faults.sysmmu,
      iommu: st.faults.iommu,
      busErrors: st.faults.busErrors,
    },
    coherencyHazards: st.coherencyHazards.total,
    staleTlbReports: c.staleTlb,
    dmaDebugReports: st.dmaDebugErrors.total,
    hazards,
    leaks: run.shutdown.leaks.length,
    leakDetails: run.shutdown.leaks.map((l) => `${l.what}: ${l.detail}`),
  };
}

/** Formats a byte count for the table: "1.25 GiB", "23.7 MiB", "512 KiB", "0 B". */
export function formatBytesShort(n: number): string {
  const KIB = 1024;
  const MIB = KIB * 1024;
  const GIB = MIB * 1024;
  if (n >= GIB) return `${(n / GIB).toFixed(2)} GiB`;
  if (n >= MIB) return `${(n / MIB).toFixed(1).replace(/\.0$/, "")} MiB`;
  if (n >= KIB) return `${(n / KIB).toFixed(1).replace(/\.0$/, "")} KiB`;
  return `${n} B`;
}
const bytes = formatBytesShort;

/**
 * The summary as a text table (metric, value, goal), then one line per hazard and per leak.
 * Plain text, no colour.
 */
export function formatDemoSummary(s: DemoSummary): string {
  const rows: SummaryRow[] = [];
  const row = (metric: string, value: string | number, goal = "") =>
    rows.push({ metric, value: String(value), goal });
  row("board", `${s.board} (seed ${s.seed}, ${s.cache} cache${s.bug ? `, bug ${s.bug}` : ""})`);
  row("frames", `${s.frames} (camera ${s.cameraSize} NV12 -> display ${s.displaySize} XRGB8888)`);
  row("frames per second", `${s.fps} (virtual; ${s.virtualSeconds} s simulated)`);
  const byDev = Object.entries(s.dmaBytesByDevice)
    .map(([k, v]) => `${k} ${bytes(v)}`)
    .join(", ");
  row("bytes moved by DMA", `${bytes(s.dmaBytes)}${byDev ? ` (${byDev})` : ""}`);
  row("CPU copies", `${s.cpuCopies} (${bytes(s.cpuCopyBytes)})`, "0");
  for (const c of s.cma) {
    row(`CMA ${c.region}`, `${bytes(c.usedBytes)} used, ${bytes(c.peakBytes)} peak of ${bytes(c.sizeBytes)}`);
  }
  row("IOMMU maps", `${s.iommuMaps} (${s.iommuUnmaps} unmaps)`);
  const types = Object.entries(s.faults.sysmmu)
    .map(([k, v]) => `${v} ${k}`)
    .join(", ");
  row("faults", `${s.faults.total}${types ? ` (SysMMU: ${types})` : ""}`, "0");
  row("coherency hazards", s.coherencyHazards, "0");
  row("stale TLB reports", s.staleTlbReports, "0");
  row("DMA-API debug reports", s.dmaDebugReports, "0");
  row("held after shutdown", s.leaks, "0");
  let out = summaryTable(rows, {
    columns: [{ key: "metric" }, { key: "value", align: "left" }, { key: "goal", align: "right" }],
  });
  const MAX = 12;
  if (s.hazards.length > 0) {
    out += `\nhazards (${s.hazards.length}):\n`;
    for (const h of s.hazards.slice(0, MAX)) {
      out += `  [${h.source}] ${h.kind} by ${h.device} on ${h.buffer} at ${ms(h.time)}\n`;
      out += `    ${h.detail}\n    missing: ${h.missing}\n`;
    }
    if (s.hazards.length > MAX) out += `  ... and ${s.hazards.length - MAX} more (--json lists them all)\n`;
  }
  if (s.leakDetails.length > 0) {
    out += `\nstill held after shutdown (${s.leaks}):\n`;
    for (const l of s.leakDetails) out += `  ${l}\n`;
  }
  return out;
}
