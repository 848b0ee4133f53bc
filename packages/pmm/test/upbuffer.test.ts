import { fc, test } from "@fast-check/vitest";
import { Device, DMA_BIT_MASK, KernelBug, PAGE_SIZE, SZ_1M, SZ_2M, SZ_16M } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { O_RDWR, type Process, spawn } from "@umm/kernel-process";
import { DmaPort, MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  IOCTL_PMM_ALLOC,
  PMM_MEM_DMA24,
  PMM_MEM_GENERAL,
  PMM_NO_CACHE,
  pmmInfo,
  UPBUF_FINISH_TO_USER,
  UPBUF_MAP_KERNEL,
  UPBUF_MAP_KERNEL_DONE,
  UPBUF_NO_CACHE,
  UPBUF_NO_SHADOW,
  UPBUF_PREPARE_FROM_USER,
  UPBUF_PREPARE_MODIFY_USER,
  UPBUF_PREPARE_TO_USER,
  upbufBegin,
  upbufEnd,
  upbufLive,
  upbufSync,
  upbufSyncRange,
} from "../src/index.js";
import { expectPmmConsistent } from "../src/testing.js";
import { areaInfo, board, DRAM, pagesDevice, pattern, RAM_PFN_OFFSET, record, TYPES_24 } from "./helpers.js";

const rw = { prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED };

function setup(opts: Parameters<typeof board>[0] = {}) {
  const b = board({ cmdline: "pmm=16M", ...opts });
  const proc = spawn(b.kernel, { comm: "app" });
  const free = () => pmmInfo(b.kernel).free;
  const dev = new Device(b.kernel, { name: "fimc0", dmaMask: DMA_BIT_MASK(32) });
  const port = new DmaPort(b.mm, dev);
  return { ...b, cpu: b.cpu!, proc, free, dev, port };
}

/** A /dev/pmm buffer mapped in `proc`: its fd and address. */
function pmmBuffer(proc: Process, size: number, flags = 0, type = PMM_MEM_GENERAL) {
  const fd = proc.open("/dev/pmm", O_RDWR);
  const info = areaInfo(size, { flags, type });
  proc.ioctl(fd, IOCTL_PMM_ALLOC, info);
  const va = proc.mmap({ fd, length: info.size, ...rw });
  return { fd, va, size: info.size };
}

describe("upbufBegin: the three ways", () => {
  it("pfnmap: a /dev/pmm mapping is used in place, locked by a file reference", () => {
    const { kernel, proc, free } = setup();
    const { fd, va, size } = pmmBuffer(proc, 64 * PAGE_SIZE);
    const rec = record(kernel, ["upbuf_prepare", "upbuf_release", "pmm_free"]);
    const file = proc.fds.get(fd)!;
    const refs = file.refcount;
    const buf = upbufBegin(proc, va + 100, 5000);
    expect(buf.mode).toBe("pfnmap");
    expect(buf.paddr).toBe(proc.space.translate(va) + 100);
    expect(buf.daddr).toBe(buf.paddr);
    expect(buf.flags & UPBUF_NO_CACHE).toBe(0);
    expect(file.refcount).toBe(refs + 1);
    // the application closes and unmaps: the transaction keeps the buffer
    proc.close(fd);
    proc.munmap(va, size);
    expect(free()).toBe(16 * SZ_1M - size);
    expect(file.released).toBe(false);
    upbufEnd(buf);
    expect(free()).toBe(16 * SZ_1M);
    expect(rec.records().map((r) => r.name)).toEqual(["upbuf_prepare", "upbuf_release", "pmm_free"]);
    expect(rec.of("upbuf_prepare")[0]!.data).toMatchObject({
      pid: proc.pid,
      uaddr: va + 100,
      size: 5000,
      mode: "pfnmap",
    });
    expect(buf.released).toBe(true);
    expect([buf.size, buf.paddr, buf.daddr, buf.vaddr, buf.flags]).toEqual([0, 0, 0, 0, 0]);
    expectPmmConsistent(kernel);
  });

  it("pfnmap: a process that exits mid-transaction cannot free the buffer", () => {
    const { proc, free } = setup();
    const { va, size } = pmmBuffer(proc, 16 * PAGE_SIZE);
    const buf = upbufBegin(proc, va, size);
    proc.exit(0);
    expect(free()).toBe(16 * SZ_1M - size);
    upbufEnd(buf);
    expect(free()).toBe(16 * SZ_1M);
  });

  it("pinned: contiguous ordinary memory is pinned; munmap or exit cannot free its pages", () => {
    const { mm, proc } = setup();
    const va = proc.malloc(8 * PAGE_SIZE);
    const pfn = proc.space.translate(va) / PAGE_SIZE;
    const buf = upbufBegin(proc, va, 8 * PAGE_SIZE);
    expect(buf.mode).toBe("pinned");
    expect(mm.frames.pincount[pfn - mm.frames.basePfn]).toBe(1);
    proc.munmap(va, 8 * PAGE_SIZE);
    proc.exit(0);
    expect(mm.buddy.isFree(pfn)).toBe(false);
    upbufEnd(buf);
    expect(mm.buddy.isFree(pfn)).toBe(true);
  });

  it("shadow: scattered pages or a range across mappings bounce through a pool buffer; UPBUF_NO_SHADOW refuses", () => {
    const { kernel, mm, proc, free } = setup();
    const path = pagesDevice(kernel, mm, "/dev/scatter", 8, true);
    const sfd = proc.open(path, O_RDWR);
    const sva = proc.mmap({ fd: sfd, length: 8 * PAGE_SIZE, ...rw });
    expect(() => upbufBegin(proc, sva, 8 * PAGE_SIZE, UPBUF_NO_SHADOW)).toThrow(
      kerr("EINVAL", /not physically contiguous, and UPBUF_NO_SHADOW/),
    );
    expect(mm.frames.pincount[proc.space.translate(sva) / PAGE_SIZE - mm.frames.basePfn]).toBe(0);
    const buf = upbufBegin(proc, sva + 10, 8 * PAGE_SIZE - 20);
    expect(buf.mode).toBe("shadow");
    expect(buf.paddr % PAGE_SIZE).toBe(10); // the offset in the page is kept
    expect(free()).toBe(16 * SZ_1M - 8 * PAGE_SIZE);
    expect(mm.frames.ownerOf(Math.floor(buf.paddr / PAGE_SIZE))).toBe("upbuf:shadow:app");
    upbufEnd(buf);
    expect(free()).toBe(16 * SZ_1M);
    // two adjacent mappings
    const hi = proc.malloc(PAGE_SIZE);
    const lo = proc.malloc(PAGE_SIZE);
    expect(lo + PAGE_SIZE).toBe(hi);
    expect(() => upbufBegin(proc, lo, 2 * PAGE_SIZE, UPBUF_NO_SHADOW)).toThrow(
      kerr("EINVAL", /spans several/),
    );
    const two = upbufBegin(proc, lo, 2 * PAGE_SIZE);
    expect(two.mode).toBe("shadow");
    upbufEnd(two);
  });

  it("rejects bad calls and holds nothing afterwards", () => {
    const { kernel, proc, free } = setup({ cmdline: "pmm=64K" });
    const { va } = pmmBuffer(proc, PAGE_SIZE);
    const heap = proc.malloc(4 * PAGE_SIZE);
    const f0 = free();
    expect(() => upbufBegin(proc, heap, 0)).toThrow(kerr("EINVAL", /size/));
    expect(() => upbufBegin(proc, heap, PAGE_SIZE, 1)).toThrow(kerr("EINVAL", /flags/));
    expect(() => upbufBegin(proc, -1, PAGE_SIZE)).toThrow(kerr("EFAULT"));
    expect(() => upbufBegin(proc, 0x1000, PAGE_SIZE)).toThrow(kerr("EFAULT", /not mapped/));
    proc.munmap(heap + 2 * PAGE_SIZE, PAGE_SIZE);
    expect(() => upbufBegin(proc, heap, 4 * PAGE_SIZE)).toThrow(kerr("EFAULT", /not mapped/)); // a hole inside
    const noDma = new Device(kernel, { name: "cpu-only" });
    noDma.dmaMask = null;
    expect(() => upbufBegin(proc, heap, PAGE_SIZE, 0, noDma)).toThrow(kerr("EINVAL", /DMA mask/));
    const path = pagesDevice(kernel, proc.space.mm, "/dev/s", 32, true);
    const sva = proc.mmap({ fd: proc.open(path, O_RDWR), length: 32 * PAGE_SIZE, ...rw });
    expect(() => upbufBegin(proc, sva, 32 * PAGE_SIZE)).toThrow(kerr("ENOMEM", /shadow/)); // pool of 64 KiB
    expect(free()).toBe(f0);
    expect(upbufLive(kernel)).toEqual([]);
    const buf = upbufBegin(proc, va, PAGE_SIZE);
    upbufEnd(buf);
    expect(() => upbufEnd(buf)).toThrow(KernelBug);
    expect(() => upbufSync(buf, UPBUF_PREPARE_FROM_USER)).toThrow(kerr("EINVAL", /ended/));
    proc.exit(0);
    expect(() => upbufBegin(proc, heap, PAGE_SIZE)).toThrow(kerr("ESRCH"));
  });

  it("UPBUF_MAP_KERNEL gives a kernel address of the same bytes in each mode", () => {
    const { kernel, mm, proc } = setup();
    const { va } = pmmBuffer(proc, 4 * PAGE_SIZE, PMM_NO_CACHE);
    const heap = proc.malloc(4 * PAGE_SIZE);
    const path = pagesDevice(kernel, mm, "/dev/s", 4, true);
    const sva = proc.mmap({ fd: proc.open(path, O_RDWR), length: 4 * PAGE_SIZE, ...rw });
    for (const [uva, mode] of [
      [va, "pfnmap"],
      [heap, "pinned"],
      [sva, "shadow"],
    ] as const) {
      const buf = upbufBegin(proc, uva + 8, 3 * PAGE_SIZE, UPBUF_MAP_KERNEL);
      expect(buf.mode).toBe(mode);
      expect(mm.kspace.translate(buf.vaddr + 5000)).toBe(buf.paddr + 5000);
      const vmapped = (buf.flags & UPBUF_MAP_KERNEL_DONE) !== 0;
      expect(vmapped).toBe(mode !== "shadow");
      if (mode === "pfnmap") expect(mm.kspace.findVma(buf.vaddr)!.memtypeName).toBe("writecombine");
      const vmaps = mm.kspace.vmas.length;
      upbufEnd(buf);
      expect(mm.kspace.vmas.length).toBe(vmaps - (vmapped ? 1 : 0));
    }
  });
});

describe("invariants (§4.7)", () => {
  test.prop(
    [
      fc.array(
        fc.record({
          where: fc.constantFrom("pmm", "heap", "scatter", "two-maps"),
          pages: fc.integer({ min: 1, max: 12 }),
          head: fc.integer({ min: 0, max: 4095 }),
          tail: fc.integer({ min: 0, max: 4095 }),
          noShadow: fc.boolean(),
        }),
        { minLength: 1, maxLength: 8 },
      ),
    ],
    { numRuns: 25 },
  )(
    "paddr maps every byte contiguously; UPBUF_NO_SHADOW never yields a copy; the pool comes back",
    (reqs) => {
      const { kernel, mm, proc, free } = setup();
      let n = 0;
      for (const r of reqs) {
        const len = r.pages * PAGE_SIZE;
        let va: number;
        if (r.where === "pmm") va = pmmBuffer(proc, len).va;
        else if (r.where === "heap") va = proc.malloc(len);
        else if (r.where === "two-maps") {
          proc.malloc(len);
          va = proc.malloc(len);
        } else {
          const path = pagesDevice(kernel, mm, `/dev/s${n++}`, r.pages, r.pages > 1);
          va = proc.mmap({ fd: proc.open(path, O_RDWR), length: len, ...rw });
        }
        const span = r.where === "two-maps" ? 2 * len : len;
        const size = Math.max(1, span - r.head - r.tail);
        let buf: ReturnType<typeof upbufBegin>;
        try {
          buf = upbufBegin(proc, va + r.head, size, r.noShadow ? UPBUF_NO_SHADOW : 0);
        } catch (e) {
          expect(r.noShadow).toBe(true);
          expect((e as Error).message).toMatch(/^EINVAL: /);
          continue;
        }
        if (r.noShadow) expect(buf.mode).not.toBe("shadow");
        if (buf.mode !== "shadow") {
          for (let k = 0; k < size; k += 1021)
            expect(proc.space.translate(va + r.head + k)).toBe(buf.paddr + k);
          expect(proc.space.translate(va + r.head + size - 1)).toBe(buf.paddr + size - 1);
        } else expect(buf.paddr % PAGE_SIZE).toBe((va + r.head) % PAGE_SIZE);
        upbufEnd(buf);
      }
      proc.exit(0);
      expect(free()).toBe(16 * SZ_1M);
      expectPmmConsistent(kernel);
    },
  );
});

describe("upbufSync: the four directions", () => {
  it("direct: FROM_USER cleans, TO_USER invalidates, MODIFY flushes, FINISH_TO_USER maintains nothing", () => {
    const { kernel, proc } = setup();
    const heap = proc.malloc(4 * PAGE_SIZE);
    const buf = upbufBegin(proc, heap, 4 * PAGE_SIZE);
    const rec = record(kernel, ["cpu_cache_maint", "upbuf_sync"]);
    for (const dir of [
      UPBUF_PREPARE_FROM_USER,
      UPBUF_PREPARE_TO_USER,
      UPBUF_PREPARE_MODIFY_USER,
      UPBUF_FINISH_TO_USER,
    ]) {
      upbufSync(buf, dir);
    }
    upbufSyncRange(buf, UPBUF_PREPARE_FROM_USER, PAGE_SIZE, 100);
    expect(rec.of("cpu_cache_maint").map((r) => [r.data.op, r.data.paddr - buf.paddr, r.data.size])).toEqual([
      ["clean", 0, 4 * PAGE_SIZE],
      ["invalidate", 0, 4 * PAGE_SIZE],
      ["flush", 0, 4 * PAGE_SIZE],
      ["clean", PAGE_SIZE, 100],
    ]);
    expect(rec.of("upbuf_sync").map((r) => r.data.dir)).toEqual([
      "PREPARE_FROM_USER",
      "PREPARE_TO_USER",
      "PREPARE_MODIFY_USER",
      "FINISH_TO_USER",
      "PREPARE_FROM_USER",
    ]);
    expect(() => upbufSync(buf, 4)).toThrow(kerr("EINVAL", /direction/));
    expect(() => upbufSync(buf, -1)).toThrow(kerr("EINVAL", /direction/));
    expect(() => upbufSyncRange(buf, 0, 4 * PAGE_SIZE, 1)).toThrow(kerr("EINVAL", /outside/));
    expect(() => upbufSyncRange(buf, 0, 1, 4 * PAGE_SIZE)).toThrow(kerr("EINVAL", /outside/));
    expect(() => upbufSyncRange(buf, 0, 8, 0)).toThrow(kerr("EINVAL", /outside/));
    upbufEnd(buf);
  });

  it("PMM_NO_CACHE: a write-combined mapping, every sync a no-op, and still no hazard", () => {
    const { kernel, cpu, proc, port } = setup();
    const { va, size } = pmmBuffer(proc, 4 * PAGE_SIZE, PMM_NO_CACHE);
    expect(proc.space.findVma(va)!.memtypeName).toBe("writecombine");
    const buf = upbufBegin(proc, va, size);
    expect(buf.flags & UPBUF_NO_CACHE).toBe(UPBUF_NO_CACHE);
    const rec = record(kernel, ["cpu_cache_maint", "upbuf_sync"]);
    const data = pattern(size);
    proc.memWrite(va, data);
    upbufSync(buf, UPBUF_PREPARE_FROM_USER);
    const seen = new Uint8Array(size);
    port.read(buf.daddr, seen);
    expect(firstDiff(seen, data)).toBe(-1);
    upbufSync(buf, UPBUF_PREPARE_TO_USER);
    port.write(buf.daddr, pattern(size, 9));
    upbufSync(buf, UPBUF_FINISH_TO_USER);
    expect(firstDiff(proc.memRead(va, size), pattern(size, 9))).toBe(-1);
    expect(rec.of("cpu_cache_maint")).toEqual([]);
    expect(rec.of("upbuf_sync").every((r) => r.data.noop)).toBe(true);
    expect(cpu.checker.total).toBe(0); // no alias either: the linear map was remapped
    upbufEnd(buf);
  });

  for (const mode of ["pfnmap", "pinned", "shadow"] as const) {
    it(`${mode}: the right syncs give zero coherency hazards and the data arrives both ways`, () => {
      const { kernel, mm, cpu, proc, port, dev } = setup();
      const size = 6 * PAGE_SIZE;
      const uva =
        mode === "pfnmap"
          ? pmmBuffer(proc, size).va
          : mode === "pinned"
            ? proc.malloc(size)
            : proc.mmap({
                fd: proc.open(pagesDevice(kernel, mm, "/dev/s", 6, true), O_RDWR),
                length: size,
                ...rw,
              });
      const buf = upbufBegin(proc, uva + 3, size - 3, 0, dev); // a device that needs contiguous memory
      expect(buf.mode).toBe(mode);
      const out = pattern(size - 3, 1);
      proc.memWrite(uva + 3, out); // dirty in the cache
      upbufSync(buf, UPBUF_PREPARE_FROM_USER);
      const seen = new Uint8Array(size - 3);
      port.read(buf.daddr, seen); // the device reads
      expect(firstDiff(seen, out)).toBe(-1);
      proc.memRead(uva, size); // the application looks at its buffer: lines cached
      upbufSync(buf, UPBUF_PREPARE_TO_USER);
      const back = pattern(size - 3, 2);
      port.write(buf.daddr, back); // the device writes
      upbufSync(buf, UPBUF_FINISH_TO_USER);
      expect(firstDiff(proc.memRead(uva + 3, size - 3), back)).toBe(-1);
      // read-modify-write
      upbufSync(buf, UPBUF_PREPARE_MODIFY_USER);
      port.read(buf.daddr, seen);
      for (let i = 0; i < seen.length; i++) seen[i] = seen[i]! ^ 0xff;
      port.write(buf.daddr, seen);
      upbufSync(buf, UPBUF_FINISH_TO_USER);
      expect(firstDiff(proc.memRead(uva + 3, size - 3), seen)).toBe(-1);
      expect(cpu.checker.reports).toEqual([]);
      upbufEnd(buf);
    });
  }

  it("a missing sync is reported by the coherency checker", () => {
    const { cpu, proc, port } = setup();
    const heap = proc.malloc(2 * PAGE_SIZE);
    const buf = upbufBegin(proc, heap, 2 * PAGE_SIZE);
    proc.memWrite(heap, pattern(2 * PAGE_SIZE));
    port.read(buf.daddr, new Uint8Array(2 * PAGE_SIZE)); // no PREPARE_FROM_USER
    expect(cpu.checker.counts()["dirty-read"]).toBe(1);
    expect(cpu.checker.reports[0]!.missing).toMatch(/clean/);
    upbufSync(buf, UPBUF_PREPARE_FROM_USER);
    proc.memRead(heap, 16); // cached
    port.write(buf.daddr, pattern(2 * PAGE_SIZE, 5)); // no PREPARE_TO_USER
    proc.memRead(heap, 16);
    expect(cpu.checker.counts()["stale-read"]).toBe(1);
    upbufEnd(buf);
  });

  it("shadow copies fail with EFAULT once the user memory is gone", () => {
    const { kernel, mm, proc } = setup();
    const path = pagesDevice(kernel, mm, "/dev/s", 2, true);
    const va = proc.mmap({ fd: proc.open(path, O_RDWR), length: 2 * PAGE_SIZE, ...rw });
    const buf = upbufBegin(proc, va, 2 * PAGE_SIZE);
    proc.munmap(va, 2 * PAGE_SIZE);
    expect(() => upbufSync(buf, UPBUF_PREPARE_FROM_USER)).toThrow(kerr("EFAULT"));
    upbufSync(buf, UPBUF_PREPARE_TO_USER);
    proc.exit(0);
    expect(() => upbufSync(buf, UPBUF_FINISH_TO_USER)).toThrow(kerr("EFAULT", /gone/));
    upbufEnd(buf);
  });
});

describe("24-bit DMA clients (the review's question)", () => {
  function setup24() {
    const s = setup({ cmdline: "pmm=16M", types: TYPES_24 });
    const dev24 = new Device(s.kernel, {
      name: "dma24",
      dmaMask: DMA_BIT_MASK(24),
      dmaPfnOffset: RAM_PFN_OFFSET, // bus 0 is the start of RAM
    });
    return { ...s, dev24, port24: new DmaPort(s.mm, dev24) };
  }
  const ok24 = (daddr: number, size: number) => {
    expect(daddr + size - 1).toBeLessThanOrEqual(0xffffff);
    expect(Math.floor(daddr / SZ_16M)).toBe(Math.floor((daddr + size - 1) / SZ_16M));
  };

  it("memory it cannot reach bounces through the 24-bit pool; the data arrives intact both ways", () => {
    const { proc, dev24, port24, free } = setup24();
    const { va, size } = pmmBuffer(proc, 40 * PAGE_SIZE); // general pool: high in RAM
    expect(proc.space.translate(va) - DRAM).toBeGreaterThan(SZ_16M);
    expect(() => upbufBegin(proc, va, size, UPBUF_NO_SHADOW, dev24)).toThrow(kerr("EINVAL", /cannot reach/));
    const buf = upbufBegin(proc, va, size, 0, dev24);
    expect(buf.mode).toBe("shadow");
    ok24(buf.daddr, buf.size);
    expect(buf.daddr).toBe(buf.paddr - DRAM);
    const data = pattern(size, 3);
    proc.memWrite(va, data);
    upbufSync(buf, UPBUF_PREPARE_FROM_USER);
    const seen = new Uint8Array(size);
    port24.read(buf.daddr, seen);
    expect(firstDiff(seen, data)).toBe(-1);
    upbufSync(buf, UPBUF_PREPARE_TO_USER);
    port24.write(buf.daddr, pattern(size, 4));
    upbufSync(buf, UPBUF_FINISH_TO_USER);
    expect(firstDiff(proc.memRead(va, size), pattern(size, 4))).toBe(-1);
    upbufEnd(buf);
    expect(pmmInfo(proc.kernel).types[1]!.free).toBe(4 * SZ_1M);
    expect(free()).toBe(20 * SZ_1M - size);
  });

  it("a buffer from the 24-bit pool is used in place", () => {
    const { proc, dev24 } = setup24();
    const { va, size } = pmmBuffer(proc, 3 * PAGE_SIZE, 0, PMM_MEM_DMA24);
    const buf = upbufBegin(proc, va, size, UPBUF_NO_SHADOW, dev24);
    expect(buf.mode).toBe("pfnmap");
    ok24(buf.daddr, size);
    upbufEnd(buf);
  });

  test.prop(
    [fc.array(fc.tuple(fc.integer({ min: 1, max: 600_000 }), fc.boolean()), { minLength: 1, maxLength: 12 })],
    {
      numRuns: 15,
    },
  )("never gets a bus address above 16 MiB or a buffer across a 16 MiB boundary", (reqs) => {
    const { proc, dev24 } = setup24();
    const bufs = [];
    for (const [size, fromPool] of reqs) {
      const va = fromPool ? pmmBuffer(proc, size).va : proc.malloc(size);
      try {
        const b = upbufBegin(proc, va, size, 0, dev24);
        ok24(b.daddr, size);
        bufs.push(b);
      } catch (e) {
        expect((e as Error).message).toMatch(/^ENOMEM: /); // the 4 MiB pool is full
      }
    }
    for (const b of bufs) upbufEnd(b);
  });

  it("a range across a device's segment boundary bounces too", () => {
    const s = setup({
      cmdline: "",
      types: [{ type: PMM_MEM_GENERAL, name: "general", size: SZ_2M, base: DRAM + 15 * SZ_1M }, TYPES_24[1]!],
    });
    const dev = new Device(s.kernel, { name: "seg16", dmaMask: DMA_BIT_MASK(32) });
    dev.dmaParms.segmentBoundaryMask = SZ_16M - 1;
    const { va, size } = pmmBuffer(s.proc, SZ_2M); // [DRAM + 15M, DRAM + 17M): crosses DRAM + 16M
    const buf = upbufBegin(s.proc, va, size, 0, dev);
    expect(buf.mode).toBe("shadow");
    expect(Math.floor(buf.daddr / SZ_16M)).toBe(Math.floor((buf.daddr + size - 1) / SZ_16M));
    upbufEnd(buf);
    expect(upbufBegin(s.proc, va, SZ_1M, 0, dev).mode).toBe("pfnmap");
  });
});

describe("leak report", () => {
  it("reports transactions never ended at shutdown", () => {
    const { kernel, proc } = setup();
    const heap = proc.malloc(PAGE_SIZE);
    upbufBegin(proc, heap, PAGE_SIZE);
    const rec = record(kernel, ["pmm_warn"]);
    kernel.shutdown();
    expect(rec.of("pmm_warn").map((r) => r.data.message)).toContainEqual(
      expect.stringMatching(/^leak: pinned transaction of pid 1/),
    );
  });
});
