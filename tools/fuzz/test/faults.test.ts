// Fault injection over the camera → compositor pipeline: every allocation site failed at every
// one of its calls in turn, on both boards — clean errors or degraded frames, never a leak.

import { FAULT_SITES, faultSite, KernelError } from "@umm/kernel-core";
import { GFP_KERNEL } from "@umm/mm-core";
import { EXYNOS4210_BOARD, S5PV210_BOARD } from "@umm/soc";
import { describe, expect, it } from "vitest";
import { injectionPoints, runFaultCampaign } from "../src/faults.js";
import { FAULT_OPS, runOpFaults } from "../src/op-faults.js";
import { runPipeline } from "../src/pipeline.js";
import { bootTestbed } from "../src/testbed.js";

describe("fault injection over the pipeline", () => {
  const seen = new Map<string, number>();
  for (const board of [EXYNOS4210_BOARD, S5PV210_BOARD]) {
    it(`${board.name}: each call of each site fails in turn; every run ends cleanly and leaks nothing`, async () => {
      const r = await runFaultCampaign({ board, seed: 1 });
      expect(r.baseline).toBe("complete (3/3 frames)");
      for (const s of r.sites) {
        expect(s.bad, s.site).toEqual([]);
        expect(s.leaks, s.site).toEqual([]);
        expect(s.injected, s.site).toBe(s.calls);
        expect(s.runs, s.site).toBe(s.calls);
        expect(s.complete + s.degraded + Object.values(s.errors).reduce((a, b) => a + b, 0)).toBe(s.runs);
        seen.set(s.site, (seen.get(s.site) ?? 0) + s.injected);
      }
      expect(r.injected).toBeGreaterThan(4);
    });
  }

  it("between the two boards every site was failed at least once", () => {
    for (const site of FAULT_SITES) expect(seen.get(site) ?? 0, site).toBeGreaterThan(0);
  });

  it("the campaign reports a pipeline that leaks", async () => {
    const r = await runFaultCampaign({
      seed: 1,
      sites: ["pgtable"],
      maxPerSite: 1,
      pipeline: async (m) => {
        const o = await runPipeline(m);
        // an error path that forgets a page: only when the fault was injected
        if (faultSite(m.kernel, "pgtable").injected > 0)
          m.mm.buddy.allocPages(0, GFP_KERNEL, { tag: "leaked-by-test" });
        return o;
      },
    });
    expect(r.leaks).toBeGreaterThan(0);
    expect(r.sites[0]!.leaks.join()).toMatch(/leaked-by-test/);
  });

  it("each allocating operation, each of its allocation calls failing: a clean error and everything given back", () => {
    const tb = bootTestbed(4);
    const r = runOpFaults(tb);
    expect(r.flatMap((x) => x.failures)).toEqual([]);
    expect(r.length).toBe(FAULT_OPS.length);
    expect(r.reduce((n, x) => n + x.injected, 0)).toBeGreaterThan(20);
    // most fail, some survive on a fallback (the system heap retries smaller orders)
    const ends = r.flatMap((x) => Object.keys(x.outcomes));
    expect(ends).toContain("ENOMEM");
    expect(ends).toContain("survived");
    expect(tb.teardown()).toEqual([]);
  });

  it("the per-operation check can fail: an operation that keeps a page after a failure is reported", () => {
    const tb = bootTestbed(4);
    const [r] = runOpFaults(tb, [
      {
        name: "leaky",
        errnos: ["ENOMEM"],
        run: (t) => {
          const heap = FAULT_OPS[0]!.run(t)!;
          // an error path that forgets to free what it took first
          const pfn = t.machine.mm.buddy.allocPages(0, GFP_KERNEL, { tag: "leaky" });
          if (pfn === null) throw new KernelError("ENOMEM", "leaky: no page");
          return () => {
            heap();
            t.machine.mm.buddy.freePages(pfn, 0);
          };
        },
      },
    ]);
    expect(r!.failures.join("\n")).toMatch(/page call \d+ failing .*the state did not come back/);
  });

  it("injection points spread evenly when capped", () => {
    expect(injectionPoints(5)).toEqual([1, 2, 3, 4, 5]);
    expect(injectionPoints(100, 5)).toEqual([1, 26, 51, 75, 100]);
    expect(injectionPoints(0)).toEqual([]);
  });
});
