import { PAGE_SIZE } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import { boot, buffer, cpuRead, device, devRead, mem, pattern } from "./helpers.js";

// 1 KiB of cache: 32 lines of 32 bytes
const TINY = { mode: "sized", l1Size: 256, l2Size: 768 } as const;

/** Stores 4 KiB through a 32-line cache and returns what memory and the cache hold. */
function churn(seed: number | undefined, kernelSeed = 1) {
  const { mm, cpu } = boot({ seed: kernelSeed, cpu: seed === undefined ? TINY : { ...TINY, seed } });
  const b = buffer(mm, 0, "buf");
  cpu.write(mm.kspace, b.va, pattern(PAGE_SIZE, 1));
  cpuRead(cpu, b.va + 100, 700);
  cpu.write(mm.kspace, b.va + 2000, pattern(1500, 2));
  const lines = Array.from({ length: PAGE_SIZE / 32 }, (_, i) => cpu.lineState(b.pa + 32 * i));
  return { memory: mem(mm, b.pa, PAGE_SIZE), lines, stats: cpu.stats() };
}

describe("sized mode", () => {
  it("holds (l1Size + l2Size) / lineSize lines and evicts beyond that, writing dirty victims back", () => {
    const { mm, cpu } = boot({ cpu: TINY });
    expect(cpu.capacity).toBe(32);
    const b = buffer(mm, 0, "buf");
    const data = pattern(2048, 3); // 64 lines
    cpu.write(mm.kspace, b.va, data);
    const st = cpu.stats();
    expect(st).toMatchObject({ validLines: 32, dirtyLines: 32, evictions: 32, writebackBytes: 32 * 32 });
    // every line is either still dirty in the cache or already in memory, never lost
    const m = mem(mm, b.pa, 2048);
    for (let i = 0; i < 64; i++) {
      const inMemory = m.subarray(32 * i, 32 * i + 32);
      if (cpu.lineState(b.pa + 32 * i).dirty) expect(inMemory).toEqual(new Uint8Array(32));
      else expect(inMemory).toEqual(data.subarray(32 * i, 32 * i + 32));
    }
    expect(cpuRead(cpu, b.va, 2048)).toEqual(data);
    cpu.flushAll();
    expect(mem(mm, b.pa, 2048)).toEqual(data);
    expect(cpu.stats().validLines).toBe(0);
  });

  it("the default capacity is Exynos4210's 32 KiB L1D + 1 MiB L2 in 32-byte lines", () => {
    const { cpu } = boot({ cpu: { mode: "sized" } });
    expect(cpu.capacity).toBe((32 * 1024 + 1024 * 1024) / 32);
    expect(boot().cpu.capacity).toBe(Number.POSITIVE_INFINITY);
  });

  it("evictions are deterministic for a seed, and the seed decides them", () => {
    const a = churn(7);
    const b = churn(7);
    expect(b.memory).toEqual(a.memory);
    expect(b.lines).toEqual(a.lines);
    expect(b.stats).toEqual(a.stats);
    const others = [8, 9, 10, 11].map((s) => churn(s));
    expect(others.some((o) => JSON.stringify(o.lines) !== JSON.stringify(a.lines))).toBe(true);
    // without a seed option, the kernel's seed decides
    expect(churn(undefined, 5).lines).toEqual(churn(undefined, 5).lines);
  });

  it("an eviction can mask a missing clean: the device sees evicted lines, and only the rest is reported", () => {
    const { kernel, mm, cpu } = boot({ cpu: TINY });
    const { port } = device(kernel, mm, "g2d");
    const b = buffer(mm, 0, "buf");
    const data = pattern(PAGE_SIZE, 4);
    cpu.write(mm.kspace, b.va, data); // no clean
    const seen = devRead(port, b.pa, PAGE_SIZE);
    let matching = 0;
    for (let i = 0; i < PAGE_SIZE / 32; i++) {
      if (seen.subarray(32 * i, 32 * i + 32).every((x, k) => x === data[32 * i + k])) matching++;
    }
    expect(matching).toBe(PAGE_SIZE / 32 - 32); // all but the 32 lines still in the cache
    expect(cpu.checker.counts()["dirty-read"]).toBe(1);
  });

  it("a cached working set larger than the cache keeps exactly capacity lines", () => {
    const { mm, cpu } = boot({ cpu: TINY });
    const b = buffer(mm, 1, "buf");
    mm.phys.write(b.pa, pattern(2 * PAGE_SIZE, 5));
    expect(cpuRead(cpu, b.va, 2 * PAGE_SIZE)).toEqual(pattern(2 * PAGE_SIZE, 5));
    expect(cpu.stats()).toMatchObject({ validLines: 32, dirtyLines: 0, writebackBytes: 0 });
    cpu.invalidateRange(mm.kspace, b.va, PAGE_SIZE);
    cpu.invalidateRange(mm.kspace, b.va + PAGE_SIZE, PAGE_SIZE);
    expect(cpu.stats().validLines).toBe(0);
    cpuRead(cpu, b.va, 64);
    expect(cpu.stats()).toMatchObject({ validLines: 2, evictions: (2 * PAGE_SIZE) / 32 - 32 });
  });
});
