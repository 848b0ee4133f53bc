import { createKernel, PAGE_SIZE, SZ_1M, TraceRecorder } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { __GFP_ZERO, GFP_KERNEL, migratePage, mmInit, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import { cpuInit } from "../src/index.js";
import { boot, buffer, cpuRead, DRAM, device, devRead, mem, pattern } from "./helpers.js";

const CLEAN = { valid: true, dirty: false, stale: false };
const DIRTY = { valid: true, dirty: true, stale: false };
const ABSENT = { valid: false, dirty: false, stale: false };

describe("cache maintenance", () => {
  it("clean writes dirty lines back; they stay cached, clean; the last writer is the CPU via the cache", () => {
    const { kernel, mm, cpu } = boot();
    const { port } = device(kernel, mm, "enc");
    const b = buffer(mm, 0, "buf");
    const data = pattern(96, 2);
    cpu.write(mm.kspace, b.va, data);
    expect(cpu.checker.lastWriter(b.pa)).toEqual({ by: "cpu-cache", device: "" });
    cpu.cleanRange(mm.kspace, b.va, 96);
    expect(mem(mm, b.pa, 96)).toEqual(data);
    expect(devRead(port, b.pa, 96)).toEqual(data);
    expect(cpuRead(cpu, b.va, 96)).toEqual(data);
    for (const off of [0, 32, 64]) expect(cpu.lineState(b.pa + off)).toEqual(CLEAN);
    expect(cpu.checker.lastWriter(b.pa)).toEqual({ by: "cpu-cache", device: "" });
    expect(cpu.stats()).toMatchObject({ validLines: 3, dirtyLines: 0, writebackBytes: 96 });
    cpu.cleanRange(mm.kspace, b.va, 96); // nothing dirty: nothing written
    expect(cpu.stats().writebackBytes).toBe(96);
  });

  it("invalidate drops whole lines without writing back: the CPU's stores are lost, memory is kept", () => {
    const { kernel, mm, cpu } = boot();
    const { port } = device(kernel, mm, "dec");
    const b = buffer(mm, 0, "buf");
    port.write(b.pa, pattern(64, 1));
    cpu.write(mm.kspace, b.va, pattern(64, 2));
    cpu.invalidateRange(mm.kspace, b.va, 64);
    expect(cpu.lineState(b.pa)).toEqual(ABSENT);
    expect(cpu.lineState(b.pa + 32)).toEqual(ABSENT);
    expect(mem(mm, b.pa, 64)).toEqual(pattern(64, 1));
    expect(cpuRead(cpu, b.va, 64)).toEqual(pattern(64, 1)); // refetched from memory
    expect(cpu.stats().writebackBytes).toBe(0);
  });

  it("invalidate follows ARM's rule: a partly covered first or last line is cleaned, then invalidated", () => {
    // as v7_dma_inv_range: DCCIMVAC for unaligned ends, DCIMVAC in between
    const { mm, cpu } = boot();
    const b = buffer(mm, 0, "buf");
    const cpuData = pattern(128, 3);
    cpu.write(mm.kspace, b.va, cpuData); // lines [0,32) [32,64) [64,96) [96,128) dirty
    cpu.invalidatePhys(b.pa + 8, 80); // [8, 88)
    const expected = new Uint8Array(128);
    expected.set(cpuData.subarray(0, 32), 0); // first line partly covered: written back
    expected.set(cpuData.subarray(64, 96), 64); // last line partly covered: written back
    expect(mem(mm, b.pa, 128)).toEqual(expected); // [32, 64) dropped: memory keeps zeros
    expect(cpu.lineState(b.pa)).toEqual(ABSENT);
    expect(cpu.lineState(b.pa + 32)).toEqual(ABSENT);
    expect(cpu.lineState(b.pa + 64)).toEqual(ABSENT);
    expect(cpu.lineState(b.pa + 96)).toEqual(DIRTY); // outside the range
    expect(cpu.stats().writebackBytes).toBe(64);
  });

  it("invalidate of a range inside one line cleans and invalidates that line", () => {
    const { mm, cpu } = boot();
    const b = buffer(mm, 0, "buf");
    cpu.write(mm.kspace, b.va, pattern(32, 4));
    cpu.invalidatePhys(b.pa + 4, 8);
    expect(mem(mm, b.pa, 32)).toEqual(pattern(32, 4));
    expect(cpu.lineState(b.pa)).toEqual(ABSENT);
  });

  it("flush writes back and drops every line it touches", () => {
    const { mm, cpu } = boot();
    const b = buffer(mm, 0, "buf");
    const data = pattern(200, 5);
    cpu.write(mm.kspace, b.va + 20, data);
    cpu.flushRange(mm.kspace, b.va + 40, 100); // lines [32, 160)
    expect(mem(mm, b.pa + 32, 128)).toEqual(data.subarray(12, 140));
    expect(mem(mm, b.pa + 20, 12)).toEqual(new Uint8Array(12)); // line [0, 32) untouched
    expect(cpu.lineState(b.pa)).toEqual(DIRTY);
    expect(cpu.lineState(b.pa + 32)).toEqual(ABSENT);
    expect(cpu.lineState(b.pa + 128)).toEqual(ABSENT);
    expect(cpu.lineState(b.pa + 160)).toEqual(DIRTY);
    expect(cpuRead(cpu, b.va + 20, 200)).toEqual(data);
  });

  it("by VA, maintenance works per physical run of the range and emits one event per run", () => {
    const { kernel, mm, cpu } = boot();
    const rec = new TraceRecorder(kernel.trace, { events: ["cpu_cache_maint"] });
    const b = buffer(mm, 2, "buf");
    const s = mm.createUserSpace("pid 5");
    const vma = s.mmap({
      length: 2 * PAGE_SIZE,
      prot: PROT_READ | PROT_WRITE,
      backing: { kind: "pages", pfns: [b.pfn + 3, b.pfn + 1] },
    });
    const data = pattern(2 * PAGE_SIZE, 6);
    cpu.write(s, vma.start, data);
    cpu.cleanRange(s, vma.start + 16, 2 * PAGE_SIZE - 32);
    expect(mem(mm, b.pa + 3 * PAGE_SIZE, PAGE_SIZE)).toEqual(data.subarray(0, PAGE_SIZE));
    expect(mem(mm, b.pa + PAGE_SIZE, PAGE_SIZE)).toEqual(data.subarray(PAGE_SIZE));
    expect(rec.records().map((r) => r.data)).toEqual([
      { op: "clean", scope: "range", paddr: b.pa + 3 * PAGE_SIZE + 16, size: PAGE_SIZE - 16 },
      { op: "clean", scope: "range", paddr: b.pa + PAGE_SIZE, size: PAGE_SIZE - 16 },
    ]);
  });

  it("maintenance through a non-cacheable mapping acts on the physical lines (PIPT)", () => {
    const { mm, cpu } = boot();
    const b = buffer(mm, 0, "buf");
    const s = mm.createUserSpace("pid 6");
    const wc = s.mmap({
      length: PAGE_SIZE,
      prot: PROT_READ | PROT_WRITE,
      memtype: "writecombine",
      backing: { kind: "pfn", pfn: b.pfn },
    });
    cpu.write(mm.kspace, b.va, pattern(64, 7));
    cpu.cleanRange(s, wc.start, 64);
    expect(mem(mm, b.pa, 64)).toEqual(pattern(64, 7));
  });

  it("whole-cache clean, invalidate and flush", () => {
    const { kernel, mm, cpu } = boot();
    const rec = new TraceRecorder(kernel.trace, { events: ["cpu_cache_maint"] });
    const a = buffer(mm, 0, "a");
    const c = buffer(mm, 3, "c");
    cpu.write(mm.kspace, a.va, pattern(100, 1));
    cpu.write(mm.kspace, c.va + 5000, pattern(9000, 2));
    cpu.cleanAll();
    expect(mem(mm, a.pa, 100)).toEqual(pattern(100, 1));
    expect(mem(mm, c.pa + 5000, 9000)).toEqual(pattern(9000, 2));
    expect(cpu.stats().dirtyLines).toBe(0);
    const valid = cpu.stats().validLines;
    expect(valid).toBe(4 + Math.ceil(14000 / 32) - Math.floor(5000 / 32));
    cpu.write(mm.kspace, a.va, pattern(100, 3));
    cpu.invalidateAll();
    expect(cpu.stats()).toMatchObject({ validLines: 0, dirtyLines: 0 });
    expect(mem(mm, a.pa, 100)).toEqual(pattern(100, 1)); // the second store was dropped
    cpu.write(mm.kspace, a.va, pattern(100, 4));
    cpu.flushAll();
    expect(mem(mm, a.pa, 100)).toEqual(pattern(100, 4));
    expect(cpu.stats().validLines).toBe(0);
    expect(
      rec.of("cpu_cache_maint").map((r) => [r.data.op, r.data.scope, r.data.paddr, r.data.size]),
    ).toEqual([
      ["clean", "all", DRAM, mm.phys.totalSize],
      ["invalidate", "all", DRAM, mm.phys.totalSize],
      ["flush", "all", DRAM, mm.phys.totalSize],
    ]);
  });

  it("maintenance by physical range rejects what is not RAM or not a range, and changes nothing", () => {
    const { mm, cpu } = boot();
    const b = buffer(mm, 0, "buf");
    cpu.write(mm.kspace, b.va, pattern(64));
    expect(() => cpu.cleanPhys(mm.phys.end - 32, 64)).toThrow(kerr("EFAULT", /not all RAM/));
    expect(() => cpu.invalidatePhys(0x1000, 32)).toThrow(kerr("EFAULT"));
    expect(() => cpu.flushPhys(-32, 32)).toThrow(kerr("EINVAL", /paddr -32/));
    expect(() => cpu.cleanPhys(b.pa, Number.NaN)).toThrow(kerr("EINVAL", /len NaN/));
    expect(() => cpu.flushRange(mm.kspace, b.va, -1)).toThrow(kerr("EINVAL", /len -1/));
    expect(() => cpu.invalidateRange(mm.kspace, 0x1000, 32)).toThrow(kerr("EFAULT"));
    expect(() => cpu.lineState(0x1000)).toThrow(kerr("EINVAL", /not RAM/));
    expect(cpu.stats().dirtyLines).toBe(2);
    expect(mem(mm, b.pa, 64)).toEqual(new Uint8Array(64));
  });
});

describe("mm-core's CpuCacheOps", () => {
  it("page zeroing (prepareKernelWrite) drops the page's lines without writing them back", () => {
    const { mm, cpu } = boot();
    const b = buffer(mm, 0, "old owner");
    cpu.write(mm.kspace, b.va, pattern(PAGE_SIZE, 8)); // dirty lines left behind
    mm.buddy.freePages(b.pfn, 0);
    const pfn = mm.buddy.allocPages(0, GFP_KERNEL | __GFP_ZERO, { tag: "new owner" });
    expect(pfn).toBe(b.pfn); // the page allocator hands the hot page back
    expect(cpu.stats()).toMatchObject({ validLines: 0, dirtyLines: 0, writebackBytes: 0 });
    expect(mem(mm, b.pa, PAGE_SIZE)).toEqual(new Uint8Array(PAGE_SIZE));
    expect(cpuRead(cpu, b.va, PAGE_SIZE)).toEqual(new Uint8Array(PAGE_SIZE));
    expect(cpu.checker.lastWriter(b.pa)).toEqual({ by: "cpu-direct", device: "" });
  });

  it("migration (prepareMove) writes the source's dirty lines back first and drops both pages' lines", () => {
    const { mm, cpu } = boot();
    const s = mm.createUserSpace("pid 9");
    const vma = s.mmap({ length: PAGE_SIZE, prot: PROT_READ | PROT_WRITE, backing: { kind: "anon" } });
    const data = pattern(PAGE_SIZE, 9);
    cpu.write(s, vma.start, data);
    const src = s.translate(vma.start) / PAGE_SIZE;
    const dst = migratePage(mm, src);
    expect(dst).not.toBe(src);
    expect(mem(mm, dst * PAGE_SIZE, PAGE_SIZE)).toEqual(data);
    expect(mem(mm, src * PAGE_SIZE, PAGE_SIZE)).toEqual(data); // written back before the copy
    expect(cpu.lineState(src * PAGE_SIZE)).toEqual(ABSENT);
    expect(cpu.lineState(dst * PAGE_SIZE)).toEqual(ABSENT);
    expect(cpuRead(cpu, vma.start, PAGE_SIZE, s)).toEqual(data);
    expect(cpu.checker.total).toBe(0);
  });
});

describe("several DRAM banks", () => {
  it.each(["ideal", "sized"] as const)("%s: accesses and maintenance split at a bank boundary", (mode) => {
    const kernel = createKernel({ seed: 4 });
    const mm = mmInit(kernel, {
      banks: [
        { start: DRAM, size: 4 * SZ_1M },
        { start: DRAM + 4 * SZ_1M, size: 4 * SZ_1M },
        { start: DRAM + 16 * SZ_1M, size: 4 * SZ_1M },
      ],
    });
    mm.memblockFreeAll();
    const cpu = cpuInit(kernel, { mode, l1Size: 1024, l2Size: 1024 });
    const { port } = device(kernel, mm, "dev");
    const pa = DRAM + 4 * SZ_1M - 3000; // 3000 bytes in bank 0, the rest in bank 1
    const va = mm.kspace.physToVirt(pa);
    const data = pattern(6000, 11);
    cpu.write(mm.kspace, va, data);
    expect(cpuRead(cpu, va, 6000)).toEqual(data);
    cpu.cleanRange(mm.kspace, va, 6000);
    expect(devRead(port, pa, 6000)).toEqual(data);
    port.write(pa + 2900, pattern(200, 12));
    cpu.invalidatePhys(pa, 6000);
    const expected = data.slice();
    expected.set(pattern(200, 12), 2900);
    expect(cpuRead(cpu, va, 6000)).toEqual(expected);
    const far = DRAM + 16 * SZ_1M + 100; // the third bank, after a hole
    cpu.write(mm.kspace, mm.kspace.physToVirt(far), pattern(5000, 13));
    cpu.flushAll();
    expect(mem(mm, far, 5000)).toEqual(pattern(5000, 13));
    expect(cpu.checker.total).toBe(0);
    expect(cpu.stats().validLines).toBe(0);
  });
});
