import { createKernel, faultInjectSet, faultInjectStats, SZ_4K } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import { allocIova, allocIovaFast, freeIova, freeIovaFast, initIovaDomain, iovaStats } from "../src/index.js";

describe('fault injection site "iova"', () => {
  it("allocIova returns null and allocIovaFast 0 at the injected call; the space is unchanged", () => {
    const kernel = createKernel({ seed: 1 });
    const iovad = initIovaDomain(SZ_4K, 1, { kernel });
    const a = allocIova(iovad, 4, 0xfffff, true)!;
    const before = JSON.stringify(iovaStats(iovad));
    faultInjectSet(kernel, "iova", { failNth: 1 });
    expect(allocIova(iovad, 4, 0xfffff, true)).toBeNull();
    expect(JSON.stringify(iovaStats(iovad))).toBe(before);
    faultInjectSet(kernel, "iova", { failNth: 2 });
    const f = allocIovaFast(iovad, 2, 0xfffff, true);
    expect(f).toBeGreaterThan(0);
    expect(allocIovaFast(iovad, 2, 0xfffff, true)).toBe(0);
    freeIovaFast(iovad, f, 2);
    freeIova(iovad, a.pfnLo);
    expect(faultInjectStats(kernel)).toEqual([{ site: "iova", calls: 3, injected: 2 }]);
    expect(allocIova(iovad, 4, 0xfffff, true)).toEqual(a); // the same place again: nothing leaked
  });

  it("argument errors come before injection; a domain without a kernel is never injected", () => {
    const kernel = createKernel({ seed: 1 });
    const iovad = initIovaDomain(SZ_4K, 1, { kernel });
    faultInjectSet(kernel, "iova", { failNth: 1 });
    expect(() => allocIova(iovad, 0, 0xfffff, true)).toThrow(/EINVAL/);
    expect(allocIova(iovad, 1, 0xfffff, true)).toBeNull();
    const bare = initIovaDomain(SZ_4K, 1);
    faultInjectSet(kernel, "iova", { probability: 100 });
    expect(allocIova(bare, 1, 0xfffff, true)).not.toBeNull();
  });
});
