import { PAGE_SIZE, SZ_1M, TraceRecorder } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { type MemType, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import { boot, buffer, cpuRead, DRAM, device, devRead, mem, pattern } from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;
const CLEAN = { valid: true, dirty: false, stale: false };
const DIRTY = { valid: true, dirty: true, stale: false };
const ABSENT = { valid: false, dirty: false, stale: false };

describe("CPU accesses through a cacheable mapping", () => {
  it("read: a line not cached is filled from memory (valid, clean) and the CPU gets memory's bytes", () => {
    const { kernel, mm, cpu } = boot();
    const { port } = device(kernel, mm, "cam");
    const b = buffer(mm, 0, "buf");
    const data = pattern(64);
    port.write(b.pa, data);
    expect(cpuRead(cpu, b.va + 8, 16)).toEqual(data.subarray(8, 24));
    expect(cpu.lineState(b.pa)).toEqual(CLEAN);
    expect(cpu.lineState(b.pa + 32)).toEqual(ABSENT); // [8, 24) lies in the first 32-byte line
    expect(mem(mm, b.pa, 64)).toEqual(data);
    expect(cpu.stats()).toMatchObject({ validLines: 1, dirtyLines: 0 });
  });

  it("read: a line already cached returns the cache's bytes even after memory changed", () => {
    const { kernel, mm, cpu } = boot();
    const { port } = device(kernel, mm, "cam");
    const b = buffer(mm, 0, "buf");
    mm.phys.fill(b.pa, 0x11, 32);
    expect(cpuRead(cpu, b.va, 32)).toEqual(new Uint8Array(32).fill(0x11));
    mm.phys.fill(b.pa, 0x22, 32); // memory changes behind the cache
    expect(cpuRead(cpu, b.va, 32)).toEqual(new Uint8Array(32).fill(0x11)); // CPU: the cached copy
    expect(devRead(port, b.pa, 32)).toEqual(new Uint8Array(32).fill(0x22)); // device: memory
    expect(mem(mm, b.pa, 32)).toEqual(new Uint8Array(32).fill(0x22));
  });

  it("write: write-allocates a partly written line from memory, dirties it, and leaves memory unchanged", () => {
    const { kernel, mm, cpu } = boot();
    const { port } = device(kernel, mm, "dec");
    const b = buffer(mm, 0, "buf");
    const old = pattern(32, 7);
    mm.phys.write(b.pa, old);
    cpu.write(mm.kspace, b.va + 10, new Uint8Array([1, 2, 3, 4]));
    const cpuView = old.slice();
    cpuView.set([1, 2, 3, 4], 10);
    expect(cpu.lineState(b.pa)).toEqual(DIRTY);
    expect(cpuRead(cpu, b.va, 32)).toEqual(cpuView); // CPU: its store over the line filled from memory
    expect(mem(mm, b.pa, 32)).toEqual(old); // memory: untouched
    cpu.checker.clear();
    cpu.cleanRange(mm.kspace, b.va + 10, 4);
    expect(mem(mm, b.pa, 32)).toEqual(cpuView); // the whole line went back
    expect(devRead(port, b.pa, 32)).toEqual(cpuView);
    expect(cpu.lineState(b.pa)).toEqual(CLEAN);
    expect(cpu.checker.total).toBe(0);
  });

  it("write: a multi-page store spans pages and lines; memory sees none of it before the clean", () => {
    const { mm, cpu } = boot();
    const b = buffer(mm, 2, "buf");
    const data = pattern(3 * PAGE_SIZE + 100, 3);
    cpu.write(mm.kspace, b.va + 50, data);
    expect(mem(mm, b.pa, 4 * PAGE_SIZE)).toEqual(new Uint8Array(4 * PAGE_SIZE));
    expect(cpuRead(cpu, b.va + 50, data.length)).toEqual(data);
    expect(cpu.stats().dirtyLines).toBe(Math.ceil((50 + data.length) / 32) - 1);
    cpu.cleanRange(mm.kspace, b.va, 4 * PAGE_SIZE);
    expect(mem(mm, b.pa + 50, data.length)).toEqual(data);
    expect(mem(mm, b.pa, 50)).toEqual(new Uint8Array(50));
  });

  it.each<MemType>(["writecombine", "uncached", "device"])(
    "a %s mapping bypasses the cache: stores reach memory at once, loads read memory",
    (memtype) => {
      const { kernel, mm, cpu } = boot();
      const { port } = device(kernel, mm, "disp");
      const b = buffer(mm, 0, "fb");
      const s = mm.createUserSpace("pid 7");
      const vma = s.mmap({ length: PAGE_SIZE, prot: RW, memtype, backing: { kind: "pfn", pfn: b.pfn } });
      const data = pattern(100, 5);
      cpu.write(s, vma.start + 3, data);
      expect(mem(mm, b.pa + 3, 100)).toEqual(data);
      expect(devRead(port, b.pa + 3, 100)).toEqual(data);
      expect(cpu.lineState(b.pa)).toEqual(ABSENT);
      port.write(b.pa + 3, pattern(100, 6));
      expect(cpuRead(cpu, vma.start + 3, 100, s)).toEqual(pattern(100, 6));
      expect(cpu.stats().validLines).toBe(0);
      expect(cpu.checker.counts()["stale-read"]).toBe(0);
    },
  );

  it("an access that faults anywhere moves nothing: EFAULT, memory, cache and dst unchanged", () => {
    const { mm, cpu } = boot();
    const s = mm.createUserSpace("pid 8");
    const vma = s.mmap({ length: PAGE_SIZE, prot: RW, backing: { kind: "anon" } });
    const pa = s.translate(vma.start);
    expect(() => cpu.write(s, vma.start + 100, new Uint8Array(PAGE_SIZE).fill(9))).toThrow(
      kerr("EFAULT", /is not mapped/),
    );
    expect(cpu.stats().validLines).toBe(0);
    expect(mem(mm, pa, PAGE_SIZE)).toEqual(new Uint8Array(PAGE_SIZE));
    const dst = new Uint8Array(PAGE_SIZE).fill(0xee);
    expect(() => cpu.read(s, vma.start + 1, dst)).toThrow(kerr("EFAULT"));
    expect(dst.every((x) => x === 0xee)).toBe(true);
    expect(cpu.stats().validLines).toBe(0);
    const ro = s.mmap({ length: PAGE_SIZE, prot: PROT_READ, backing: { kind: "anon" } });
    expect(() => cpu.fill(s, ro.start, 1, 8)).toThrow(kerr("EFAULT", /write to/));
    expect(() => cpu.copy(s, ro.start, s, vma.start, 8)).toThrow(kerr("EFAULT"));
    expect(cpu.stats().validLines).toBe(0);
  });

  it("the kernel linear map: no-map pages and addresses past lowmem fault with EFAULT, moving nothing", () => {
    const { mm, cpu } = boot({ noMap: [DRAM + 8 * SZ_1M, SZ_1M] });
    const k = mm.kspace;
    const before = k.physToVirt(DRAM + 8 * SZ_1M - PAGE_SIZE);
    expect(() => cpu.write(k, before, new Uint8Array(2 * PAGE_SIZE).fill(1))).toThrow(
      kerr("EFAULT", /no-map or hole/),
    );
    expect(() => cpu.read(k, k.physToVirt(DRAM + 16 * SZ_1M - 8), new Uint8Array(16))).toThrow(
      kerr("EFAULT", /past the linear map/),
    );
    expect(cpu.stats().validLines).toBe(0);
    expect(mem(mm, DRAM + 8 * SZ_1M - PAGE_SIZE, PAGE_SIZE)).toEqual(new Uint8Array(PAGE_SIZE));
    cpu.write(k, before, new Uint8Array(PAGE_SIZE).fill(2)); // the page before the hole is fine
    expect(cpu.stats().dirtyLines).toBe(PAGE_SIZE / 32);
  });

  it("rejects bad arguments with EINVAL naming them", () => {
    const { mm, cpu } = boot();
    const b = buffer(mm, 0, "buf");
    const k = mm.kspace;
    expect(() => cpu.read(k, b.va, new Uint8Array(4), 5)).toThrow(kerr("EINVAL", /dstOff 5/));
    expect(() => cpu.read(k, b.va, new Uint8Array(4), 1, 4)).toThrow(kerr("EINVAL", /len 4/));
    expect(() => cpu.write(k, -4, new Uint8Array(4))).toThrow(kerr("EINVAL", /va -4/));
    expect(() => cpu.write(k, b.va, new Uint8Array(4), 0, 1.5)).toThrow(kerr("EINVAL", /len 1.5/));
    expect(() => cpu.fill(k, b.va, 256, 4)).toThrow(kerr("EINVAL", /value 256/));
    expect(() => cpu.copy(k, b.va, k, b.va + 8, -1)).toThrow(kerr("EINVAL", /len -1/));
    expect(() => cpu.write32(k, b.va, 1.5)).toThrow(kerr("EINVAL", /value 1.5/));
    expect(cpu.stats().validLines).toBe(0);
  });

  it("fill stores a byte value through the cache like write", () => {
    const { mm, cpu } = boot();
    const b = buffer(mm, 0, "buf");
    cpu.fill(mm.kspace, b.va + 30, 0x5a, 40);
    expect(cpuRead(cpu, b.va + 28, 44)).toEqual(Uint8Array.from([0, 0, ...new Array(40).fill(0x5a), 0, 0]));
    expect(mem(mm, b.pa + 30, 40)).toEqual(new Uint8Array(40));
    expect(cpu.stats().dirtyLines).toBe(3); // [30, 70) touches lines [0, 32), [32, 64), [64, 96)
    cpu.cleanPhys(b.pa, PAGE_SIZE);
    expect(mem(mm, b.pa + 30, 40)).toEqual(new Uint8Array(40).fill(0x5a));
  });

  it("copy is a CPU memcpy: loads through the source's memory type, stores through the destination's", () => {
    const { kernel, mm, cpu } = boot();
    const rec = new TraceRecorder(kernel.trace, { events: ["cpu_copy", "cpu_access"] });
    const a = buffer(mm, 0, "src");
    const c = buffer(mm, 0, "dst");
    mm.kspace.setLinearMemtype(c.pfn, 1, "writecombine");
    const data = pattern(200, 9);
    cpu.write(mm.kspace, a.va, data); // dirty in the cache, memory still zero
    cpu.copy(mm.kspace, c.va + 8, mm.kspace, a.va, 200);
    expect(mem(mm, c.pa + 8, 200)).toEqual(data); // the copy read the cache, wrote memory directly
    expect(mem(mm, a.pa, 200)).toEqual(new Uint8Array(200));
    expect(rec.of("cpu_copy").map((r) => r.data)).toEqual([{ size: 200 }]);
    expect(rec.of("cpu_access").map((r) => [r.data.write, r.data.memtype, r.data.size])).toEqual([
      [true, "cacheable", 200],
      [false, "cacheable", 200],
      [true, "writecombine", 200],
    ]);
    // overlapping copy inside one buffer behaves like memmove
    cpu.copy(mm.kspace, a.va + 1, mm.kspace, a.va, 100);
    const expected = data.slice();
    expected.set(data.subarray(0, 100), 1);
    expect(cpuRead(cpu, a.va, 200)).toEqual(expected);
  });

  it("read32/write32 are little-endian 32-bit accesses through the cache", () => {
    const { mm, cpu } = boot();
    const b = buffer(mm, 0, "regs");
    cpu.write32(mm.kspace, b.va + 4, 0x11223344);
    cpu.write32(mm.kspace, b.va + 8, -1);
    expect(cpu.read32(mm.kspace, b.va + 4)).toBe(0x11223344);
    expect(cpu.read32(mm.kspace, b.va + 8)).toBe(0xffffffff);
    expect(cpuRead(cpu, b.va + 4, 4)).toEqual(Uint8Array.from([0x44, 0x33, 0x22, 0x11]));
    expect(mm.phys.read32(b.pa + 4)).toBe(0);
    cpu.flushAll();
    expect(mm.phys.read32(b.pa + 4)).toBe(0x11223344);
  });

  it("cpu_access reports each same-memtype stretch of an access once", () => {
    const { kernel, mm, cpu } = boot();
    const rec = new TraceRecorder(kernel.trace, { events: ["cpu_access"] });
    const b = buffer(mm, 1, "mixed");
    mm.kspace.setLinearMemtype(b.pfn + 1, 1, "uncached");
    cpu.write(mm.kspace, b.va + 100, new Uint8Array(PAGE_SIZE));
    expect(rec.records().map((r) => r.data)).toEqual([
      { space: "kernel", va: b.va + 100, size: PAGE_SIZE - 100, write: true, memtype: "cacheable" },
      { space: "kernel", va: b.va + PAGE_SIZE, size: 100, write: true, memtype: "uncached" },
    ]);
  });
});
