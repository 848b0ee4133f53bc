import { createKernel, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { mmInit } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import { type CpuOpts, cpuExit, cpuInit, cpuOf, tryCpuOf } from "../src/index.js";
import { buffer, DRAM, device, devRead, mem, pattern } from "./helpers.js";

function bootMm() {
  const kernel = createKernel({ seed: 3 });
  const mm = mmInit(kernel, { banks: [{ start: DRAM, size: 8 * SZ_1M }] });
  mm.memblockFreeAll();
  return { kernel, mm };
}

describe("cpuInit, cpuOf, cpuExit", () => {
  it("defaults: ideal mode, 32-byte lines; stored in the kernel and plugged into mm", () => {
    const { kernel, mm } = bootMm();
    expect(tryCpuOf(kernel)).toBeUndefined();
    const cpu = cpuInit(kernel);
    expect(cpuOf(kernel)).toBe(cpu);
    expect(tryCpuOf(kernel)).toBe(cpu);
    expect([cpu.mode, cpu.lineSize, cpu.capacity, cpu.checker.strict]).toEqual([
      "ideal",
      32,
      Number.POSITIVE_INFINITY,
      false,
    ]);
    expect(mm.hooks.cache).toBe(cpu.cacheOps);
    expect(mm.hooks.dma).toContain(cpu.checker);
    expect(mm.hooks.mapping).toContain(cpu.checker);
  });

  it.each<[CpuOpts, RegExp]>([
    [{ mode: "huge" as "ideal" }, /mode "huge"/],
    [{ lineSize: 24 }, /lineSize 24/],
    [{ lineSize: 8192 }, /lineSize 8192/],
    [{ lineSize: 2 }, /lineSize 2/],
    [{ l1Size: 100 }, /l1Size 100/],
    [{ l2Size: -32 }, /l2Size -32/],
    [{ mode: "sized", l1Size: 0, l2Size: 0 }, /at least one line/],
    [{ maxReports: 0 }, /maxReports 0/],
    [{ seed: {} as unknown as number }, /seed/],
  ])("rejects %o with EINVAL and plugs nothing in", (opts, msg) => {
    const { kernel, mm } = bootMm();
    expect(() => cpuInit(kernel, opts)).toThrow(kerr("EINVAL", msg));
    expect(mm.hooks.cache).toBeNull();
    expect(mm.hooks.dma).toHaveLength(0);
    expect(() => cpuOf(kernel)).toThrow(/cpu is not initialised/);
  });

  it("a second CPU is EBUSY; so is a CPU on an mm that already has cache ops", () => {
    const { kernel, mm } = bootMm();
    cpuInit(kernel);
    expect(() => cpuInit(kernel)).toThrow(kerr("EBUSY", /already has a CPU/));
    const other = bootMm();
    other.mm.setCacheOps({ prepareKernelWrite: () => {}, prepareMove: () => {} });
    expect(() => cpuInit(other.kernel)).toThrow(kerr("EBUSY", /cache ops/));
    expect(other.mm.hooks.dma).toHaveLength(0);
    expect(mm.hooks.dma).toHaveLength(1);
  });

  it("cpuExit unplugs everything; a new CPU can come up after it", () => {
    const { kernel, mm } = bootMm();
    const cpu = cpuInit(kernel);
    const { port } = device(kernel, mm, "dev");
    const b = buffer(mm, 0, "buf");
    cpu.write(mm.kspace, b.va, pattern(32));
    cpuExit(kernel);
    expect(mm.hooks).toEqual({ cache: null, dma: [], mapping: [] });
    devRead(port, b.pa, 32);
    expect(cpu.checker.total).toBe(0); // no longer observing
    expect(() => cpuExit(kernel)).toThrow(kerr("ENODEV"));
    const again = cpuInit(kernel, { lineSize: 64 });
    expect(again.lineSize).toBe(64);
    expect(mem(mm, b.pa, 32)).toEqual(new Uint8Array(32)); // the old CPU's dirty lines are gone
  });

  it("64-byte lines: line granularity follows lineSize", () => {
    const { kernel, mm } = bootMm();
    const cpu = cpuInit(kernel, { lineSize: 64 });
    const b = buffer(mm, 0, "buf");
    cpu.write(mm.kspace, b.va + 70, pattern(4));
    expect(cpu.lineState(b.pa + 64)).toEqual({ valid: true, dirty: true, stale: false });
    expect(cpu.lineState(b.pa + 127).dirty).toBe(true);
    expect(cpu.lineState(b.pa + 128).valid).toBe(false);
    cpu.invalidatePhys(b.pa + 66, 8); // inside one line: cleaned, then invalidated
    expect(mem(mm, b.pa + 70, 4)).toEqual(pattern(4));
  });
});
