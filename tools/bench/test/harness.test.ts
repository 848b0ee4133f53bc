import { describe, expect, it } from "vitest";
import { createBench, defineBench, median, meetsGoal, timePairNs } from "../src/index.ts";

describe("bench harness", () => {
  it("median: odd and even lengths", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("meetsGoal: >= and <= goals, and no goal", () => {
    expect(meetsGoal(0.9, { op: ">=", value: 0.8 })).toBe(true);
    expect(meetsGoal(0.7, { op: ">=", value: 0.8 })).toBe(false);
    expect(meetsGoal(1.2, { op: "<=", value: 1.0 })).toBe(false);
    expect(meetsGoal(0.5, { op: "<=", value: 1.0 })).toBe(true);
    expect(meetsGoal(null, { op: ">=", value: 1 })).toBe(true);
    expect(meetsGoal(0.1, null)).toBe(true);
  });

  it("timePairNs: a side doing ten times the work measures clearly slower", () => {
    const a = new Uint8Array(1 << 16);
    const b = new Uint8Array(1 << 16);
    const once = () => b.set(a);
    const tenTimes = () => {
      for (let i = 0; i < 10; i++) b.set(a);
    };
    const [t1, t10] = timePairNs(once, tenTimes, { samples: 3, minSampleMs: 5 });
    expect(t10 / t1).toBeGreaterThan(3);
  });

  it("throughput: ratio is subject over baseline and rows carry the package and goal", () => {
    const logged: string[] = [];
    const bench = createBench("demo-pkg", (r) => logged.push(r.name));
    const src = new Uint8Array(1 << 16);
    const dst = new Uint8Array(1 << 16);
    const r = bench.throughput({
      name: "copy",
      bytes: src.length,
      run: () => dst.set(src),
      baseline: { name: "Uint8Array.set", run: () => dst.set(src) },
      goal: { op: ">=", value: 0.5 },
      time: { samples: 3, minSampleMs: 5 },
    });
    expect(r.package).toBe("demo-pkg");
    expect(r.metric).toBe("throughput");
    expect(r.unit).toBe("GB/s");
    expect(r.ratio).toBeCloseTo(r.value / (r.baselineValue as number), 10);
    expect(r.goal).toEqual({ op: ">=", value: 0.5 });
    expect(logged).toEqual(["copy"]);
    expect(bench.results).toHaveLength(1);
  });

  it("rate without a baseline has null ratio; record computes the ratio when given a baseline", () => {
    const bench = createBench("p");
    let n = 0;
    const r = bench.rate({
      name: "inc",
      ops: 100,
      run: () => {
        for (let i = 0; i < 100; i++) n++;
      },
      time: { samples: 3, minSampleMs: 2 },
    });
    expect(r.ratio).toBeNull();
    expect(r.value).toBeGreaterThan(0);
    const rec = bench.record({
      name: "x",
      metric: "size",
      value: 6,
      unit: "MiB",
      baseline: "peer",
      baselineValue: 3,
      goal: null,
    });
    expect(rec.ratio).toBe(2);
    expect(n).toBeGreaterThan(0);
  });

  it("defineBench returns the function it is given", () => {
    const fn = () => {};
    expect(defineBench(fn)).toBe(fn);
  });
});
