import { createKernel, formatFtrace, TraceRecorder } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import { CHROME_DEVICES_PID, type ChromeTraceEvent, toChromeTrace, toFtraceText } from "../src/index.js";
import { RECORDS } from "./records.js";

const byPh = (evs: readonly ChromeTraceEvent[], ph: string) => evs.filter((e) => e.ph === ph);

describe("toChromeTrace", () => {
  const trace = toChromeTrace(RECORDS);
  const evs = trace.traceEvents;

  it("is JSON with traceEvents, metadata first", () => {
    const round = JSON.parse(JSON.stringify(trace));
    expect(round.traceEvents).toHaveLength(evs.length);
    expect(round.displayTimeUnit).toBe("ns");
    const firstNonMeta = evs.findIndex((e) => e.ph !== "M");
    expect(evs.slice(firstNonMeta).every((e) => e.ph !== "M")).toBe(true);
  });

  it("names a devices process with one thread per device, and each process by pid", () => {
    const meta = byPh(evs, "M");
    const name = (kind: string, pid: number, tid?: number) =>
      meta.find((e) => e.name === kind && e.pid === pid && (tid === undefined || e.tid === tid))?.args.name;
    expect(name("process_name", CHROME_DEVICES_PID)).toBe("devices");
    expect(name("thread_name", CHROME_DEVICES_PID, 1)).toBe("fimc0");
    expect(name("thread_name", CHROME_DEVICES_PID, 2)).toBe("fimd0");
    expect(name("process_name", 1)).toBe("init");
    expect(name("process_name", 100)).toBe("camera");
    expect(name("process_name", 200)).toBe("display");
    expect(name("thread_name", 200, 200)).toBe("display-200");
  });

  it("puts device events on the device's track and the rest on the process's", () => {
    const xfer = evs.filter((e) => e.name === "dma_xfer");
    expect(xfer.map((e) => [e.pid, e.tid])).toEqual([
      [CHROME_DEVICES_PID, 1],
      [CHROME_DEVICES_PID, 2],
    ]);
    const fault = evs.find((e) => e.name === "io_page_fault")!;
    expect([fault.pid, fault.tid, fault.ph, fault.s]).toEqual([CHROME_DEVICES_PID, 1, "i", "t"]);
    expect(fault.args).toEqual({ device: "fimc0", iova: 0x20200000, flags: 1 });
    const map = evs.find((e) => e.name === "iommu_map")!;
    expect([map.pid, map.tid, map.cat]).toEqual([100, 100, "iommu"]);
  });

  it("joins cma_alloc_start/finish into complete events with µs timestamps", () => {
    const spans = byPh(evs, "X");
    expect(spans.map((e) => [e.name, e.pid, e.ts, e.dur, e.args.errorno])).toEqual([
      ["cma_alloc", 100, 10, 25, 0],
      ["cma_alloc", 200, 50, 2, 0],
      ["cma_alloc", 200, 80, 1, -12],
    ]);
    expect(spans[0]!.args).toEqual({ name: "cam", count: 256, align: 8, pfn: 0x40000, errorno: 0 });
    // the last start has no finish: an instant event
    const open = evs.filter((e) => e.name === "cma_alloc_start");
    expect(open.map((e) => [e.ph, e.ts])).toEqual([["i", 95]]);
    expect(evs.some((e) => e.name === "cma_alloc_finish")).toBe(false);
  });

  it("orders events by time and converts ns to µs", () => {
    const ts = evs.filter((e) => e.ph !== "M").map((e) => e.ts!);
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    expect(evs.find((e) => e.name === "proc_exit")!.ts).toBe(100);
    const sub = toChromeTrace([{ ...RECORDS[0]!, ts: 1500 }]);
    expect(sub.traceEvents.find((e) => e.ph === "i")!.ts).toBe(1.5);
  });

  it("follows a track function and a device order", () => {
    const t = toChromeTrace(RECORDS, {
      tracks: {
        devices: ["fimd0", "fimc0"],
        of: (r) => (r.name === "iommu_map" ? { device: "sysmmu" } : { pid: r.pid }),
      },
    });
    const threads = byPh(t.traceEvents, "M")
      .filter((e) => e.name === "thread_name" && e.pid === CHROME_DEVICES_PID)
      .map((e) => [e.tid, e.args.name]);
    expect(threads).toEqual([
      [1, "fimd0"],
      [2, "fimc0"],
      [3, "sysmmu"],
    ]);
    expect(t.traceEvents.find((e) => e.name === "dma_xfer")!.pid).toBe(100);
  });
});

describe("toFtraceText", () => {
  it("prints ftrace's header and one formatFtrace line a record", () => {
    const text = toFtraceText(RECORDS.slice(2, 5), { dropped: 4 });
    const lines = text.split("\n");
    expect(lines.slice(0, 6)).toEqual([
      "# tracer: nop",
      "#",
      "# entries-in-buffer/entries-written: 3/7   #P:1",
      "#",
      "#           TASK-PID     CPU#     TIMESTAMP  FUNCTION",
      "#              | |         |         |         |",
    ]);
    expect(lines[6]).toBe("camera-100 [000] 0.000010: cma_alloc_start: name=cam count=256 align=8");
    expect(lines[7]).toBe(
      "camera-100 [000] 0.000035: cma_alloc_finish: name=cam pfn=0x40000 count=256 align=8 errorno=0",
    );
    expect(lines[8]).toBe(
      "camera-100 [000] 0.000040: iommu_map: iova=0x20000000 paddr=0x40000000 size=1048576",
    );
    expect(lines[9]).toBe("");
    expect(lines).toHaveLength(10);
  });

  it("takes a TraceRecorder's records as they are", () => {
    const k = createKernel({ seed: 1 });
    const rec = new TraceRecorder(k.trace);
    k.trace.emit("device_probe", { device: "fimc0", driver: "s5p-fimc" });
    const text = toFtraceText(rec.records(), { dropped: rec.dropped });
    expect(text.trimEnd().split("\n").at(-1)).toBe(formatFtrace(rec.records()[0]!));
    expect(text).toContain("entries-written: 1/1 ");
    const chrome = toChromeTrace(rec.records());
    expect(chrome.traceEvents.find((e) => e.name === "device_probe")!.pid).toBe(CHROME_DEVICES_PID);
  });
});
