import { describe, expect, it } from "vitest";
import {
  createKernel,
  FAULT_SITE_OFF,
  FAULT_SITES,
  faultInjectClear,
  faultInjectFailNth,
  faultInjectPendingNth,
  faultInjectSet,
  faultInjectStats,
  faultSite,
  type TraceRecord,
} from "../src/index.js";
import { kerr } from "../src/testing.js";

/** Calls `site` the way an allocator does and returns which calls failed (1-based). */
function run(kernel: ReturnType<typeof createKernel>, name: string, calls: number): number[] {
  const site = faultSite(kernel, name);
  const failed: number[] = [];
  for (let i = 1; i <= calls; i++) if (site.armed && site.shouldFail()) failed.push(i);
  return failed;
}

describe("fault injection", () => {
  it("a site nobody configured is not armed and never fails", () => {
    const k = createKernel({ seed: 1 });
    const site = faultSite(k, "page");
    expect(site.armed).toBe(false);
    expect(site.shouldFail()).toBe(false);
    expect(run(k, "page", 100)).toEqual([]);
    expect(site.calls).toBe(0); // nothing counted while off
    expect(faultSite(k, "page")).toBe(site); // looked up once, the same object
    expect(FAULT_SITES).toEqual(["page", "cma", "iova", "pgtable", "swiotlb"]);
  });

  it("failNth fails exactly the n-th call, once, and keeps counting", () => {
    const k = createKernel({ seed: 1 });
    const events: TraceRecord<"fault_injected">[] = [];
    k.trace.on("fault_injected", (r) => events.push(r));
    faultInjectSet(k, "cma", { failNth: 3 });
    expect(run(k, "cma", 10)).toEqual([3]);
    expect(events.map((e) => e.data)).toEqual([{ site: "cma", count: 3 }]);
    expect(faultInjectStats(k)).toEqual([{ site: "cma", calls: 10, injected: 1 }]);
    faultInjectSet(k, "cma", { failNth: 1 });
    expect(run(k, "cma", 2)).toEqual([1]);
    expect(events.at(-1)?.data).toEqual({ site: "cma", count: 11 });
  });

  it("{} arms a site that only counts", () => {
    const k = createKernel({ seed: 1 });
    faultInjectSet(k, "iova");
    expect(run(k, "iova", 7)).toEqual([]);
    expect(faultInjectStats(k)).toEqual([{ site: "iova", calls: 7, injected: 0 }]);
  });

  it("probability, interval and times behave like debugfs, reproducibly from the seed", () => {
    const a = createKernel({ seed: 42 });
    const b = createKernel({ seed: 42 });
    const c = createKernel({ seed: 43 });
    for (const k of [a, b, c]) faultInjectSet(k, "page", { probability: 30 });
    const fa = run(a, "page", 1000);
    expect(fa).toEqual(run(b, "page", 1000)); // same seed, same failures
    expect(fa).not.toEqual(run(c, "page", 1000));
    expect(fa.length).toBeGreaterThan(220);
    expect(fa.length).toBeLessThan(380);

    const k = createKernel({ seed: 1 });
    faultInjectSet(k, "swiotlb", { probability: 100, interval: 4 });
    expect(run(k, "swiotlb", 12)).toEqual([4, 8, 12]);
    faultInjectSet(k, "pgtable", { probability: 100, times: 2 });
    expect(run(k, "pgtable", 5)).toEqual([1, 2]); // times ran out
    faultInjectSet(k, "pgtable", { times: -1 });
    expect(run(k, "pgtable", 3)).toEqual([1, 2, 3]);
  });

  it("the task-wide fail-nth reaches the n-th call at any site, even sites made later", () => {
    const k = createKernel({ seed: 1 });
    const page = faultSite(k, "page");
    faultInjectFailNth(k, 3);
    expect(page.armed).toBe(true);
    const cma = faultSite(k, "cma");
    expect(cma.armed).toBe(true);
    expect(page.shouldFail()).toBe(false);
    expect(cma.shouldFail()).toBe(false);
    expect(faultInjectPendingNth(k)).toBe(1);
    expect(cma.shouldFail()).toBe(true);
    expect(faultInjectPendingNth(k)).toBe(0);
    expect(page.armed).toBe(false); // nothing left to do: disarmed again
    expect(cma.armed).toBe(false);
  });

  it("clear disarms and forgets", () => {
    const k = createKernel({ seed: 1 });
    faultInjectSet(k, "page", { probability: 100 });
    faultInjectSet(k, "cma", { probability: 100 });
    faultInjectClear(k, "page");
    expect(faultSite(k, "page").armed).toBe(false);
    expect(faultSite(k, "cma").armed).toBe(true);
    faultInjectFailNth(k, 5);
    faultInjectClear(k);
    expect(faultInjectPendingNth(k)).toBe(0);
    expect(run(k, "cma", 10)).toEqual([]);
    expect(faultInjectStats(k).every((s) => s.calls === 0 && s.injected === 0)).toBe(true);
    faultInjectClear(createKernel(), "page"); // nothing to clear: no error
  });

  it("rejects bad attributes and names with EINVAL, changing nothing", () => {
    const k = createKernel({ seed: 1 });
    const site = faultInjectSet(k, "page", { failNth: 2 });
    expect(() => faultInjectSet(k, "page", { failNth: -1 })).toThrow(kerr("EINVAL", /failNth -1/));
    expect(() => faultInjectSet(k, "page", { probability: 101 })).toThrow(kerr("EINVAL", /probability/));
    expect(() => faultInjectSet(k, "page", { probability: 1.5 })).toThrow(kerr("EINVAL"));
    expect(() => faultInjectSet(k, "page", { interval: 0 })).toThrow(kerr("EINVAL", /interval/));
    expect(() => faultInjectSet(k, "page", { times: -2 })).toThrow(kerr("EINVAL", /times/));
    expect(() => faultInjectSet(k, "page", { failNth: 1, bogus: 1 } as never)).toThrow(
      kerr("EINVAL", /unknown attribute "bogus"/),
    );
    expect(() => faultInjectSet(k, "page", null as never)).toThrow(kerr("EINVAL"));
    expect(() => faultSite(k, "Page")).toThrow(kerr("EINVAL", /site name/));
    expect(() => faultSite(k, "")).toThrow(kerr("EINVAL"));
    expect(() => faultInjectFailNth(k, 1.5)).toThrow(kerr("EINVAL", /fail-nth/));
    expect(site.failNth).toBe(2); // the rejected writes changed nothing
    expect(run(k, "page", 3)).toEqual([2]);
  });

  it("FAULT_SITE_OFF is never armed and cannot be armed", () => {
    expect(FAULT_SITE_OFF.armed).toBe(false);
    expect(FAULT_SITE_OFF.shouldFail()).toBe(false);
    expect(Object.isFrozen(FAULT_SITE_OFF)).toBe(true);
  });
});
