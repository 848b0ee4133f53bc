import { describe, expect, it } from "vitest";
import { createKernel, formatFtrace, TraceRecorder } from "../src/index.js";

declare module "../src/index.js" {
  interface TraceEventMap {
    test_alloc: { name: string; pfn: number; count: number };
    test_free: { pfn: number };
  }
}

describe("trace events", () => {
  it("a tracepoint is disabled until someone listens, and again after they detach", () => {
    const k = createKernel();
    const tp = k.trace.tracepoint("test_alloc");
    expect(tp.enabled).toBe(false);
    const seen: number[] = [];
    const off = k.trace.on("test_alloc", (r) => seen.push(r.data.pfn));
    expect(tp.enabled).toBe(true);
    tp.emit({ name: "cma", pfn: 0x40000, count: 4 });
    off();
    expect(tp.enabled).toBe(false);
    tp.emit({ name: "cma", pfn: 0x50000, count: 4 });
    expect(seen).toEqual([0x40000]);
  });

  it("a '*' listener enables every tracepoint, even ones created later", () => {
    const k = createKernel();
    const names: string[] = [];
    k.trace.on("*", (r) => names.push(r.name));
    const late = k.trace.tracepoint("test_free");
    expect(late.enabled).toBe(true);
    late.emit({ pfn: 1 });
    expect(names).toEqual(["test_free"]);
  });

  it("records carry virtual time, the current task and a sequence number", async () => {
    const k = createKernel();
    const rec = new TraceRecorder(k.trace);
    k.clock.after(1_500_000, () => {
      k.withCurrent({ pid: 42, comm: "camera" }, () => k.trace.emit("test_free", { pfn: 0x41234 }));
    });
    await k.clock.runUntilIdle();
    k.trace.emit("test_free", { pfn: 0x1 });
    const [a, b] = rec.records();
    expect(a).toMatchObject({ seq: 0, ts: 1_500_000, pid: 42, task: "camera", name: "test_free" });
    expect(b).toMatchObject({ seq: 1, pid: 0, task: "swapper" });
  });

  it("the recorder is a ring: it keeps the newest `capacity` records and counts the dropped", () => {
    const k = createKernel();
    const rec = new TraceRecorder(k.trace, { capacity: 3, events: ["test_free"] });
    for (let i = 0; i < 5; i++) k.trace.emit("test_free", { pfn: i });
    k.trace.emit("test_alloc", { name: "x", pfn: 9, count: 1 });
    expect(rec.records().map((r) => (r.data as { pfn: number }).pfn)).toEqual([2, 3, 4]);
    expect(rec.dropped).toBe(2);
    expect(rec.of("test_free")).toHaveLength(3);
    rec.stop();
    k.trace.emit("test_free", { pfn: 7 });
    expect(rec.records()).toHaveLength(3);
    rec.clear();
    expect(rec.records()).toEqual([]);
  });

  it("formats as ftrace text with address-like fields in hex", () => {
    const k = createKernel();
    const rec = new TraceRecorder(k.trace);
    k.withCurrent({ pid: 7, comm: "umm" }, () =>
      k.trace.emit("test_alloc", { name: "reserved", pfn: 0x40400, count: 256 }),
    );
    expect(formatFtrace(rec.records()[0]!)).toBe(
      "umm-7 [000] 0.000000: test_alloc: name=reserved pfn=0x40400 count=256",
    );
  });
});
