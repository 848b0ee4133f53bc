import { createKernel, PAGE_SIZE, SZ_1M, TraceRecorder } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { mmInit, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import { cpuInit, HAZARD_MISSING } from "../src/index.js";
import { boot, buffer, cpuRead, DRAM, device, devRead, mem, pattern } from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;

describe("coherency checker: hazards", () => {
  it("dirty-read: a device reads lines the CPU holds dirty; one report per access over the dirty extent", () => {
    const { kernel, mm, cpu } = boot();
    const rec = new TraceRecorder(kernel.trace, { events: ["coherency_hazard"] });
    const { port } = device(kernel, mm, "fimc0");
    const b = buffer(mm, 0, "vb2:fimc0:0");
    cpu.write(mm.kspace, b.va + 100, pattern(200, 1)); // dirty lines [96, 320)
    expect(devRead(port, b.pa, PAGE_SIZE)).toEqual(new Uint8Array(PAGE_SIZE)); // old memory
    const expected = {
      kind: "dirty-read",
      device: "fimc0",
      paddr: b.pa + 96,
      size: 224,
      owner: "vb2:fimc0:0",
      missing: "clean (dma_sync_*_for_device)",
    };
    expect(cpu.checker.reports).toEqual([expect.objectContaining(expected)]);
    expect(cpu.checker.reports[0]!.detail).toMatch(/fimc0 read .* 7 dirty line\(s\)/);
    expect(rec.records().map((r) => r.data)).toEqual([expect.objectContaining(expected)]);
    expect(cpu.checker.counts()).toEqual({
      "dirty-read": 1,
      "stale-read": 0,
      "dirty-overwrite": 0,
      alias: 0,
    });
  });

  it("dirty-read in strict mode throws EIO from the device access, which reads nothing", () => {
    const { kernel, mm, cpu } = boot({ cpu: { strict: true } });
    const { port } = device(kernel, mm, "fimc0");
    const b = buffer(mm, 0, "frame");
    mm.phys.fill(b.pa, 0x33, 64);
    cpu.write(mm.kspace, b.va, pattern(8));
    const dst = new Uint8Array(64);
    expect(() => port.read(b.pa, dst)).toThrow(kerr("EIO", /dirty-read .*\(frame\).*missing clean/));
    expect(dst).toEqual(new Uint8Array(64));
    expect(cpu.checker.counts()["dirty-read"]).toBe(1);
  });

  it("stale-read: the CPU reads cached lines a device wrote behind them, and gets the stale bytes", () => {
    const { kernel, mm, cpu } = boot();
    const rec = new TraceRecorder(kernel.trace, { events: ["coherency_hazard"] });
    const { port } = device(kernel, mm, "mfc");
    const b = buffer(mm, 0, "vb2:mfc:1");
    const before = cpuRead(cpu, b.va, 128); // lines cached, clean (zeros)
    port.write(b.pa + 40, pattern(50, 2)); // [40, 90): lines [32, 96) now stale
    expect(cpu.checker.total).toBe(0);
    expect(cpu.lineState(b.pa + 32)).toEqual({ valid: true, dirty: false, stale: true });
    expect(cpu.lineState(b.pa)).toEqual({ valid: true, dirty: false, stale: false });
    expect(cpuRead(cpu, b.va, 128)).toEqual(before); // stale, as on silicon
    expect(mem(mm, b.pa + 40, 50)).toEqual(pattern(50, 2));
    const expected = {
      kind: "stale-read",
      device: "mfc",
      paddr: b.pa + 32,
      size: 64,
      owner: "vb2:mfc:1",
      missing: "invalidate (dma_sync_*_for_cpu)",
    };
    expect(cpu.checker.reports).toEqual([expect.objectContaining(expected)]);
    expect(rec.records()[0]!.data).toMatchObject(expected);
    expect(cpu.checker.lastWriter(b.pa + 40)).toEqual({ by: "device", device: "mfc" });
  });

  it("stale-read in strict mode throws EIO from the CPU read, which reads nothing", () => {
    const { kernel, mm, cpu } = boot({ cpu: { strict: true } });
    const { port } = device(kernel, mm, "mfc");
    const b = buffer(mm, 0, "bitstream");
    cpuRead(cpu, b.va, 32);
    port.write(b.pa, pattern(32, 3));
    const dst = new Uint8Array(32).fill(0xaa);
    expect(() => cpu.read(mm.kspace, b.va, dst)).toThrow(kerr("EIO", /stale-read.*mfc.*missing invalidate/));
    expect(dst).toEqual(new Uint8Array(32).fill(0xaa));
  });

  it("dirty-overwrite: a device writes lines the CPU holds dirty; a later write-back clobbers the device", () => {
    const { kernel, mm, cpu } = boot();
    const { port } = device(kernel, mm, "fimc1");
    const b = buffer(mm, 0, "capture");
    cpu.write(mm.kspace, b.va, pattern(64, 4)); // dirty [0, 64)
    port.write(b.pa + 32, pattern(64, 5)); // [32, 96)
    expect(cpu.checker.reports).toEqual([
      expect.objectContaining({
        kind: "dirty-overwrite",
        device: "fimc1",
        paddr: b.pa + 32,
        size: 32,
        owner: "capture",
        missing: HAZARD_MISSING["dirty-overwrite"],
      }),
    ]);
    expect(mem(mm, b.pa + 32, 64)).toEqual(pattern(64, 5));
    cpu.cleanRange(mm.kspace, b.va, 64);
    const clobbered = pattern(64, 5);
    clobbered.set(pattern(64, 4).subarray(32), 0);
    expect(devRead(port, b.pa + 32, 64)).toEqual(clobbered); // the CPU's write-back won
  });

  it("dirty-overwrite in strict mode throws EIO from the device write", () => {
    const { kernel, mm, cpu } = boot({ cpu: { strict: true } });
    const { port } = device(kernel, mm, "fimc1");
    const b = buffer(mm, 0, "capture");
    cpu.write(mm.kspace, b.va, pattern(8));
    expect(() => port.write(b.pa, pattern(32))).toThrow(kerr("EIO", /dirty-overwrite.*DMA_FROM_DEVICE/));
  });

  it("a store over whole stale lines, or a clean, leaves nothing stale (whole dirty pages too)", () => {
    const { kernel, mm, cpu } = boot();
    const { port } = device(kernel, mm, "vpu");
    const b = buffer(mm, 1, "buf");
    cpu.write(mm.kspace, b.va, pattern(2 * PAGE_SIZE, 1)); // both pages wholly dirty
    port.write(b.pa + 64, pattern(100, 2)); // lines [64, 192) of page 0
    port.write(b.pa + PAGE_SIZE + 64, pattern(100, 3)); // and of page 1
    expect(cpu.stats()).toMatchObject({ dirtyLines: 256, staleLines: 8 });
    cpu.write(mm.kspace, b.va, pattern(PAGE_SIZE, 4)); // rewrites page 0 wholly
    expect(cpu.stats()).toMatchObject({ dirtyLines: 256, staleLines: 4 });
    expect(cpu.lineState(b.pa + 64).stale).toBe(false);
    cpu.cleanRange(mm.kspace, b.va + PAGE_SIZE, PAGE_SIZE);
    expect(cpu.stats()).toMatchObject({ dirtyLines: 128, staleLines: 0 });
    expect(cpu.lineState(b.pa + PAGE_SIZE + 64)).toEqual({ valid: true, dirty: false, stale: false });
    cpuRead(cpu, b.va, 2 * PAGE_SIZE);
    expect(cpu.checker.counts()).toMatchObject({ "dirty-overwrite": 2, "stale-read": 0 });
  });

  it("a stale line written through a non-cacheable alias names the CPU as writer", () => {
    const { mm, cpu } = boot();
    const b = buffer(mm, 0, "buf");
    const s = mm.createUserSpace("pid 3");
    const wc = s.mmap({
      length: PAGE_SIZE,
      prot: RW,
      memtype: "writecombine",
      backing: { kind: "pfn", pfn: b.pfn },
    });
    cpuRead(cpu, b.va, 32);
    cpu.write(s, wc.start, pattern(32));
    expect(cpu.checker.lastWriter(b.pa)).toEqual({ by: "cpu-direct", device: "" });
    cpuRead(cpu, b.va, 32);
    expect(cpu.checker.reports.map((r) => [r.kind, r.device])).toEqual([
      ["alias", ""],
      ["stale-read", "cpu (non-cacheable)"],
    ]);
  });
});

describe("coherency checker: aliases", () => {
  it("a non-cacheable user mapping of linear-mapped lowmem is an alias, with both mapping sites", () => {
    const { kernel, mm, cpu } = boot({ cpu: { strict: true } });
    const rec = new TraceRecorder(kernel.trace, { events: ["coherency_hazard"] });
    const b = buffer(mm, 1, "fb0");
    const s = mm.createUserSpace("pid 3");
    s.mmap({
      length: 2 * PAGE_SIZE,
      prot: RW,
      memtype: "writecombine",
      backing: { kind: "pfn", pfn: b.pfn },
      name: "/dev/fb0",
    });
    const r = {
      kind: "alias",
      device: "",
      paddr: b.pa,
      size: 2 * PAGE_SIZE,
      owner: "fb0",
      missing: "one mapping type per page (remap the linear map or use no-map memory)",
    };
    expect(cpu.checker.reports).toEqual([expect.objectContaining(r)]);
    expect(cpu.checker.reports[0]!.detail).toBe(
      `pfn ${"0x"}${b.pfn.toString(16)}..0x${(b.pfn + 1).toString(16)} (2 pages) mapped writecombine by pid 3 "/dev/fb0" while mapped cacheable by kernel "linear map"`,
    );
    expect(rec.records()).toHaveLength(1);
  });

  it("a cacheable mapping of a page already mapped non-cacheable is an alias too", () => {
    const { mm, cpu } = boot();
    const b = buffer(mm, 0, "buf");
    mm.kspace.setLinearMemtype(b.pfn, 1, "uncached");
    expect(cpu.checker.total).toBe(0);
    mm.kspace.vmap([b.pfn], "cacheable", "vmap of buf");
    expect(cpu.checker.reports.map((r) => r.detail)).toEqual([
      `pfn 0x${b.pfn.toString(16)} mapped cacheable by kernel "vmap of buf" while mapped non-cacheable by kernel "linear map"`,
    ]);
  });

  it("no alias once the linear map is remapped, nor for no-map memory, nor after the cacheable mapping goes", () => {
    const { mm, cpu } = boot({ noMap: [DRAM + 8 * SZ_1M, SZ_1M] });
    const s = mm.createUserSpace("pid 4");
    const b = buffer(mm, 0, "coherent");
    mm.kspace.setLinearMemtype(b.pfn, 1, "writecombine"); // __dma_remap
    s.mmap({ length: PAGE_SIZE, prot: RW, memtype: "writecombine", backing: { kind: "pfn", pfn: b.pfn } });
    s.mmap({
      length: SZ_1M,
      prot: RW,
      memtype: "uncached",
      backing: { kind: "pfn", pfn: (DRAM + 8 * SZ_1M) / PAGE_SIZE },
    });
    const c = buffer(mm, 0, "vmapped");
    const kva = mm.kspace.vmap([c.pfn], "cacheable");
    mm.kspace.vunmap(kva);
    mm.kspace.setLinearMemtype(c.pfn, 1, "uncached");
    expect(cpu.checker.total).toBe(0);
  });

  it("mappings that exist when the CPU comes up are replayed and checked", () => {
    const kernel = createKernel({ seed: 2 });
    const mm = mmInit(kernel, { banks: [{ start: DRAM, size: 16 * SZ_1M }] });
    mm.memblockFreeAll();
    const s = mm.createUserSpace("pid 5");
    s.mmap({
      length: PAGE_SIZE,
      prot: RW,
      memtype: "uncached",
      backing: { kind: "pfn", pfn: DRAM / PAGE_SIZE + 9 },
    });
    const cpu = cpuInit(kernel);
    expect(cpu.checker.reports.map((r) => [r.kind, r.paddr])).toEqual([["alias", DRAM + 9 * PAGE_SIZE]]);
  });
});

describe("coherency checker: correct sequences are quiet", () => {
  it("CPU write → clean → device read: the device sees the CPU's bytes, no hazard", () => {
    const { kernel, mm, cpu } = boot({ cpu: { strict: true } });
    const { port } = device(kernel, mm, "g2d");
    const b = buffer(mm, 2, "src");
    const data = pattern(3 * PAGE_SIZE + 7, 8);
    cpu.write(mm.kspace, b.va + 1, data);
    cpu.cleanPhys(b.pa + 1, data.length); // dma_map_single(DMA_TO_DEVICE)
    expect(devRead(port, b.pa + 1, data.length)).toEqual(data);
    expect(cpu.checker.total).toBe(0);
  });

  it("device write → invalidate → CPU read: the CPU sees the device's bytes, no hazard", () => {
    const { kernel, mm, cpu } = boot({ cpu: { strict: true } });
    const { port } = device(kernel, mm, "fimc0");
    const b = buffer(mm, 2, "capture");
    cpu.write(mm.kspace, b.va, pattern(2 * PAGE_SIZE, 1)); // the CPU used the buffer before
    cpu.invalidateRange(mm.kspace, b.va, 4 * PAGE_SIZE); // dma_map_single(DMA_FROM_DEVICE)
    const data = pattern(4 * PAGE_SIZE, 9);
    port.write(b.pa, data);
    cpu.invalidateRange(mm.kspace, b.va, 4 * PAGE_SIZE); // dma_unmap_single / sync_for_cpu
    expect(cpuRead(cpu, b.va, 4 * PAGE_SIZE)).toEqual(data);
    // and again, with the lines cached (clean) between the two device writes
    port.write(b.pa, pattern(4 * PAGE_SIZE, 10));
    cpu.invalidatePhys(b.pa, 4 * PAGE_SIZE);
    expect(cpuRead(cpu, b.va, 4 * PAGE_SIZE)).toEqual(pattern(4 * PAGE_SIZE, 10));
    expect(cpu.checker.total).toBe(0);
  });

  it("a coherent (non-cacheable) buffer needs no maintenance in either direction", () => {
    const { kernel, mm, cpu } = boot({ cpu: { strict: true } });
    const { port } = device(kernel, mm, "mdma");
    const b = buffer(mm, 1, "dma_alloc_coherent");
    mm.kspace.setLinearMemtype(b.pfn, 2, "writecombine");
    const s = mm.createUserSpace("pid 2");
    const vma = s.mmap({
      length: 2 * PAGE_SIZE,
      prot: RW,
      memtype: "writecombine",
      backing: { kind: "pfn", pfn: b.pfn },
    });
    cpu.write(s, vma.start, pattern(PAGE_SIZE, 1));
    expect(devRead(port, b.pa, PAGE_SIZE)).toEqual(pattern(PAGE_SIZE, 1));
    port.write(b.pa + PAGE_SIZE, pattern(PAGE_SIZE, 2));
    expect(cpuRead(cpu, b.va + PAGE_SIZE, PAGE_SIZE)).toEqual(pattern(PAGE_SIZE, 2));
    expect(cpuRead(cpu, vma.start + PAGE_SIZE, PAGE_SIZE, s)).toEqual(pattern(PAGE_SIZE, 2));
    expect(cpu.stats().validLines).toBe(0);
    expect(cpu.checker.total).toBe(0);
  });
});

describe("coherency checker: bookkeeping", () => {
  it("counts per kind, clear, and a bounded report list", () => {
    const { kernel, mm, cpu } = boot({ cpu: { maxReports: 3 } });
    const { port } = device(kernel, mm, "dev");
    const b = buffer(mm, 0, "buf");
    cpu.write(mm.kspace, b.va, pattern(32));
    for (let i = 0; i < 10; i++) port.read(b.pa, new Uint8Array(4));
    expect(cpu.checker.counts()["dirty-read"]).toBe(10);
    expect(cpu.checker.reports).toHaveLength(3);
    cpu.checker.clear();
    expect(cpu.checker.reports).toEqual([]);
    expect(cpu.checker.total).toBe(0);
    expect(cpu.lineState(b.pa).dirty).toBe(true); // clear forgets reports, not cache state
  });

  it("lastWriter names nobody, a device, the CPU direct or the CPU via the cache", () => {
    const { kernel, mm, cpu } = boot();
    const { port } = device(kernel, mm, "jpeg");
    const b = buffer(mm, 0, "buf");
    expect(cpu.checker.lastWriter(b.pa)).toEqual({ by: "none", device: "" });
    port.write(b.pa, pattern(8));
    expect(cpu.checker.lastWriter(b.pa + 31)).toEqual({ by: "device", device: "jpeg" });
    expect(cpu.checker.lastWriter(b.pa + 32)).toEqual({ by: "none", device: "" });
    cpu.write(mm.kspace, b.va, pattern(4));
    expect(cpu.checker.lastWriter(b.pa)).toEqual({ by: "cpu-cache", device: "" });
    expect(() => cpu.checker.lastWriter(0x10)).toThrow(kerr("EINVAL", /not RAM/));
  });
});
