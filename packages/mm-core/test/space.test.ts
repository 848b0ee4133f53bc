import { fc, test } from "@fast-check/vitest";
import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import { GFP_KERNEL, MT_CACHEABLE, MT_WRITECOMBINE, PROT_READ, PROT_WRITE, RunList } from "../src/index.js";
import { bootMm } from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;

describe("address spaces", () => {
  it("anonymous mappings get zeroed pages that return at munmap", () => {
    const { mm } = bootMm();
    const free0 = mm.buddy.nrFreePages;
    const s = mm.createUserSpace("pid 1");
    const vma = s.mmap({ length: 10 * PAGE_SIZE + 1, prot: RW, backing: { kind: "anon" } });
    expect(vma.size).toBe(11 * PAGE_SIZE);
    expect(mm.buddy.nrFreePages).toBe(free0 - 11);
    const pa = s.translate(vma.start + 5, true);
    expect(mm.phys.read8(pa)).toBe(0);
    s.munmap(vma.start, vma.size);
    expect(mm.buddy.nrFreePages).toBe(free0);
    expect(() => s.translate(vma.start)).toThrow(kerr("EFAULT", /is not mapped/));
  });

  it("inserted pages hold a reference: the driver may free them, they live until unmapped", () => {
    const { mm } = bootMm();
    const free0 = mm.buddy.nrFreePages;
    const pfn = mm.buddy.allocPages(2, GFP_KERNEL)!;
    const s = mm.createUserSpace("pid 2");
    const vma = s.mmap({
      length: 4 * PAGE_SIZE,
      prot: RW,
      backing: { kind: "pages", pfns: [pfn, pfn + 1, pfn + 2, pfn + 3] },
    });
    mm.buddy.freePages(pfn, 2);
    expect(mm.buddy.nrFreePages).toBe(free0 - 4);
    expect(s.translate(vma.start + PAGE_SIZE)).toBe((pfn + 1) * PAGE_SIZE);
    s.munmap(vma.start + PAGE_SIZE, PAGE_SIZE); // a hole in the middle
    expect(mm.buddy.nrFreePages).toBe(free0 - 3);
    expect(s.vmas).toHaveLength(2);
    s.destroy();
    expect(mm.buddy.nrFreePages).toBe(free0);
  });

  it("pfn mappings are VM_PFNMAP and hold no page references", () => {
    const { mm } = bootMm();
    const s = mm.createUserSpace("pid 3");
    const vma = s.mmap({
      length: 2 * SZ_1M,
      prot: RW,
      backing: { kind: "pfn", pfn: 0x41000 },
      memtype: "writecombine",
    });
    expect(vma.pfnmap).toBe(true);
    const runs = s.translateRange(vma.start + 100, SZ_1M, false, new RunList());
    expect(runs.toArray()).toEqual([{ paddr: 0x41000000 + 100, len: SZ_1M, memtype: MT_WRITECOMBINE }]);
    expect(() => s.mmap({ length: PAGE_SIZE, prot: RW, backing: { kind: "pfn", pfn: 0x90000 } })).toThrow(
      kerr("EINVAL", /not RAM/),
    );
  });

  it("translation merges physically contiguous pages and stops at protection", () => {
    const { mm } = bootMm();
    const s = mm.createUserSpace("pid 4");
    const pfn = mm.buddy.allocPages(3, GFP_KERNEL)!;
    const pfns = [pfn, pfn + 1, pfn + 2, pfn + 5, pfn + 6];
    const vma = s.mmap({ length: 5 * PAGE_SIZE, prot: PROT_READ, backing: { kind: "pages", pfns } });
    const runs = s.translateRange(vma.start + 10, 5 * PAGE_SIZE - 20, false, new RunList());
    expect(runs.toArray()).toEqual([
      { paddr: pfn * PAGE_SIZE + 10, len: 3 * PAGE_SIZE - 10, memtype: MT_CACHEABLE },
      { paddr: (pfn + 5) * PAGE_SIZE, len: 2 * PAGE_SIZE - 10, memtype: MT_CACHEABLE },
    ]);
    expect(() => s.translateRange(vma.start, 10, true, new RunList())).toThrow(kerr("EFAULT", /write to/));
    expect(() => s.translateRange(vma.end - 4, 8, false, new RunList())).toThrow(
      kerr("EFAULT", /not mapped/),
    );
  });

  it("vm_ops open/close and file references follow splits and unmaps", () => {
    const { mm } = bootMm();
    const s = mm.createUserSpace("pid 5");
    const log: string[] = [];
    let fileRefs = 1;
    const vma = s.mmap({
      length: 4 * PAGE_SIZE,
      prot: RW,
      backing: { kind: "pfn", pfn: 0x40100 },
      ops: { open: (v) => log.push(`open ${v.pgoff}`), close: (v) => log.push(`close ${v.pgoff}`) },
      file: { get: () => fileRefs++, put: () => fileRefs-- },
      name: "/dev/pmm",
    });
    const base = vma.start;
    s.mprotect(base + PAGE_SIZE, PAGE_SIZE, PROT_READ); // 3 pieces
    expect(log).toEqual(["open 1", "open 2"]);
    expect(fileRefs).toBe(3);
    expect(s.vmas.map((v) => v.prot)).toEqual([RW, PROT_READ, RW]);
    s.munmap(base, 4 * PAGE_SIZE);
    expect(log.slice(2).sort()).toEqual(["close 0", "close 1", "close 2"]);
    expect(fileRefs).toBe(0);
  });

  it("mprotect of a range with a hole is ENOMEM and changes nothing; bad arguments are EINVAL", () => {
    const { mm } = bootMm();
    const s = mm.createUserSpace("pid 6");
    const v = s.mmap({ length: 2 * PAGE_SIZE, prot: RW, backing: { kind: "anon" } });
    expect(() => s.mprotect(v.start, 3 * PAGE_SIZE, PROT_READ)).toThrow(kerr("ENOMEM"));
    expect(s.vmas.map((x) => x.prot)).toEqual([RW]);
    expect(() => s.munmap(v.start + 1, PAGE_SIZE)).toThrow(kerr("EINVAL"));
    expect(() => s.mmap({ length: 0, prot: RW, backing: { kind: "anon" } })).toThrow(kerr("EINVAL"));
    expect(() => s.mmap({ length: PAGE_SIZE, prot: RW, backing: { kind: "pages", pfns: [] } })).toThrow(
      kerr("EINVAL"),
    );
  });

  it("MAP_FIXED replaces what was there", () => {
    const { mm } = bootMm();
    const free0 = mm.buddy.nrFreePages;
    const s = mm.createUserSpace("pid 7");
    const a = s.mmap({ length: 4 * PAGE_SIZE, prot: RW, backing: { kind: "anon" } });
    s.mmap({
      addr: a.start + PAGE_SIZE,
      fixed: true,
      length: PAGE_SIZE,
      prot: RW,
      backing: { kind: "pfn", pfn: 0x40200 },
    });
    expect(s.translate(a.start + PAGE_SIZE)).toBe(0x40200000);
    expect(s.vmas).toHaveLength(3);
    expect(mm.buddy.nrFreePages).toBe(free0 - 3);
  });

  it("anonymous mmap that runs out of memory fails with ENOMEM and leaves nothing allocated", () => {
    const { mm } = bootMm({ size: 2 * SZ_1M });
    const free0 = mm.buddy.nrFreePages;
    const s = mm.createUserSpace("pid 8");
    expect(() => s.mmap({ length: 4 * SZ_1M, prot: RW, backing: { kind: "anon" } })).toThrow(kerr("ENOMEM"));
    expect(mm.buddy.nrFreePages).toBe(free0);
    expect(s.vmas).toEqual([]);
  });

  test.prop(
    [
      fc.array(
        fc.record({
          op: fc.constantFrom("map", "unmap", "protect"),
          page: fc.integer({ min: 0, max: 31 }),
          n: fc.integer({ min: 1, max: 8 }),
        }),
        { maxLength: 40 },
      ),
    ],
    { numRuns: 50 },
  )("translation agrees with a page-by-page reference model", (ops) => {
    const { mm } = bootMm({ size: 16 * SZ_1M });
    const s = mm.createUserSpace("model");
    const base = 0x20000000;
    const model = new Map<number, { pfn: number; prot: number }>();
    for (const o of ops) {
      const addr = base + o.page * PAGE_SIZE;
      const n = Math.min(o.n, 32 - o.page);
      if (o.op === "map") {
        const pfn0 = 0x40400 + o.page * 8;
        s.mmap({ addr, fixed: true, length: n * PAGE_SIZE, prot: RW, backing: { kind: "pfn", pfn: pfn0 } });
        for (let k = 0; k < n; k++) model.set(o.page + k, { pfn: pfn0 + k, prot: RW });
      } else if (o.op === "unmap") {
        s.munmap(addr, n * PAGE_SIZE);
        for (let k = 0; k < n; k++) model.delete(o.page + k);
      } else {
        let mapped = true;
        for (let k = 0; k < n; k++) if (!model.has(o.page + k)) mapped = false;
        if (mapped) {
          s.mprotect(addr, n * PAGE_SIZE, PROT_READ);
          for (let k = 0; k < n; k++) model.get(o.page + k)!.prot = PROT_READ;
        } else expect(() => s.mprotect(addr, n * PAGE_SIZE, PROT_READ)).toThrow(kerr("ENOMEM"));
      }
    }
    for (let p = 0; p < 32; p++) {
      const m = model.get(p);
      const va = base + p * PAGE_SIZE + 7;
      if (!m) expect(() => s.translate(va)).toThrow(kerr("EFAULT"));
      else {
        expect(s.translate(va)).toBe(m.pfn * PAGE_SIZE + 7);
        if (m.prot === PROT_READ) expect(() => s.translate(va, true)).toThrow(kerr("EFAULT"));
      }
    }
    const vmas = s.vmas;
    for (let i = 1; i < vmas.length; i++) expect(vmas[i]!.start).toBeGreaterThanOrEqual(vmas[i - 1]!.end);
  });
});
