import { createKernel, PAGE_SIZE, SZ_1M, SZ_4M, TraceRecorder } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  allocContigRange,
  freeContigRange,
  GFP_KERNEL,
  MIGRATE_CMA,
  migratePage,
  mmInit,
  PAGEBLOCK_NR_PAGES,
  PROT_READ,
  PROT_WRITE,
  pinUserPages,
} from "../src/index.js";
import { bootMm, pattern } from "./helpers.js";

/** A booted mm whose last 4 MiB pageblock is a CMA area (reserved at boot, given back as CMA). */
function withCma(size = 16 * SZ_1M) {
  const kernel = createKernel();
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size }] });
  const cmaBase = 0x40000000 + size - SZ_4M;
  mm.memblock.reserve(cmaBase, SZ_4M, "cma");
  mm.memblockFreeAll();
  mm.releaseReserved(cmaBase, SZ_4M, MIGRATE_CMA);
  return { kernel, mm, cmaPfn: cmaBase / PAGE_SIZE };
}

describe("page migration", () => {
  it("moves a page: bytes follow, the mapping is repointed, the old frame is freed", () => {
    const { mm } = bootMm();
    const s = mm.createUserSpace("pid 1");
    const v = s.mmap({ length: PAGE_SIZE, prot: PROT_READ | PROT_WRITE, backing: { kind: "anon" } });
    const data = pattern(PAGE_SIZE, 3);
    const old = s.translate(v.start) / PAGE_SIZE;
    mm.phys.write(old * PAGE_SIZE, data);
    const dst = migratePage(mm, old);
    expect(dst).not.toBe(old);
    expect(s.translate(v.start + 7)).toBe(dst * PAGE_SIZE + 7);
    expect(firstDiff(mm.phys.view(dst * PAGE_SIZE, PAGE_SIZE), data)).toBe(-1);
    expect(mm.buddy.isFree(old)).toBe(true);
    expect(mm.rmapOf(dst)).toHaveLength(1);
  });

  it("refuses pinned, referenced and unmovable pages with EBUSY", () => {
    const { mm } = bootMm();
    const s = mm.createUserSpace("pid 2");
    const v = s.mmap({ length: PAGE_SIZE, prot: PROT_READ | PROT_WRITE, backing: { kind: "anon" } });
    const pfn = s.translate(v.start) / PAGE_SIZE;
    const pin = pinUserPages(s, v.start, 1);
    expect(() => migratePage(mm, pfn)).toThrow(kerr("EBUSY", /pinned/));
    pin.release();
    const k = mm.buddy.allocPages(0, GFP_KERNEL, { tag: "driver buffer" })!;
    expect(() => migratePage(mm, k)).toThrow(kerr("EBUSY", /unmovable \(driver buffer\)/));
  });

  it("a CMA range full of user pages is emptied by migration and every page keeps its bytes", () => {
    const { mm, cmaPfn } = withCma();
    // use up ordinary memory with unmovable allocations so user pages land in the CMA area
    while (mm.buddy.allocPages(0, GFP_KERNEL) !== null) {}
    const s = mm.createUserSpace("pid 3");
    const v = s.mmap({ length: 512 * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, backing: { kind: "anon" } });
    const data = pattern(512 * PAGE_SIZE, 9);
    for (let k = 0; k < 512; k++)
      mm.phys.write(s.translate(v.start + k * PAGE_SIZE, true), data, k * PAGE_SIZE, PAGE_SIZE);
    const inCma = Array.from(
      { length: 512 },
      (_, k) => s.translate(v.start + k * PAGE_SIZE) / PAGE_SIZE,
    ).filter((p) => p >= cmaPfn);
    expect(inCma.length).toBe(512);
    // give some ordinary memory back so the pages have somewhere to go
    const freed: number[] = [];
    for (let p = 0x40000; freed.length < 600; p++) {
      if (!mm.buddy.isFree(p) && mm.frames.refcount[p - mm.frames.basePfn] === 1 && p < cmaPfn) {
        mm.buddy.putPage(p);
        freed.push(p);
      }
    }
    const rec = new TraceRecorder(mm.kernel.trace, { events: ["mm_migrate_pages"] });
    const res = allocContigRange(mm, cmaPfn, cmaPfn + PAGEBLOCK_NR_PAGES, "cma:test");
    expect(res.migrated).toBe(512);
    for (let k = 0; k < 512; k++) {
      const pa = s.translate(v.start + k * PAGE_SIZE);
      expect(pa / PAGE_SIZE).toBeLessThan(cmaPfn);
      expect(firstDiff(mm.phys.view(pa, PAGE_SIZE), data.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE))).toBe(
        -1,
      );
    }
    expect(mm.frames.ownerOf(cmaPfn)).toBe("cma:test");
    expect(rec.of("mm_migrate_pages")[0]!.data).toMatchObject({ nr_migrated: 512, failed: 0 });
    freeContigRange(mm, cmaPfn, PAGEBLOCK_NR_PAGES);
    expect(mm.buddy.freePagesOfType(MIGRATE_CMA)).toBe(PAGEBLOCK_NR_PAGES);
  });

  it("a pinned page makes the range fail with EBUSY and the pageblocks keep their type", () => {
    const { mm, cmaPfn } = withCma();
    while (mm.buddy.allocPages(0, GFP_KERNEL) !== null) {}
    const s = mm.createUserSpace("pid 4");
    const v = s.mmap({ length: 4 * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, backing: { kind: "anon" } });
    const pin = pinUserPages(s, v.start + 2 * PAGE_SIZE, 1);
    const pinnedPfn = pin.pfns[0]!;
    expect(pinnedPfn).toBeGreaterThanOrEqual(cmaPfn);
    for (let p = 0x40000; p < 0x40010; p++) mm.buddy.putPage(p);
    expect(() => allocContigRange(mm, cmaPfn, cmaPfn + PAGEBLOCK_NR_PAGES)).toThrow(kerr("EBUSY", /pinned/));
    expect(mm.frames.pageblockType(cmaPfn)).toBe(MIGRATE_CMA);
    expect(s.translate(v.start + 2 * PAGE_SIZE) / PAGE_SIZE).toBe(pinnedPfn);
    // a range beside the pinned page still works
    const free = mm.buddy.freePagesOfType(MIGRATE_CMA);
    expect(free).toBeGreaterThan(0);
    pin.release();
    allocContigRange(mm, cmaPfn, cmaPfn + PAGEBLOCK_NR_PAGES);
  });

  it("rejects a range that is not RAM with EINVAL", () => {
    const { mm } = bootMm();
    expect(() => allocContigRange(mm, 0x90000, 0x90010)).toThrow(kerr("EINVAL"));
    expect(() => allocContigRange(mm, 0x40010, 0x40010)).toThrow(kerr("EINVAL", /empty range/));
  });
});
