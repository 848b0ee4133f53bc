import { PAGE_SIZE } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import { followPfn, GFP_KERNEL, getUserPages, PROT_READ, PROT_WRITE, pinUserPages } from "../src/index.js";
import { bootMm } from "./helpers.js";

describe("user-page lookup", () => {
  it("pins pages; a pinned page outlives munmap until released", () => {
    const { mm } = bootMm();
    const free0 = mm.buddy.nrFreePages;
    const s = mm.createUserSpace("pid 1");
    const v = s.mmap({ length: 4 * PAGE_SIZE, prot: PROT_READ | PROT_WRITE, backing: { kind: "anon" } });
    const up = pinUserPages(s, v.start + 100, 2 * PAGE_SIZE, { write: true });
    expect(up.pfns).toHaveLength(3);
    expect(up.offset).toBe(100);
    expect(mm.frames.pincount[up.pfns[0]! - mm.frames.basePfn]).toBe(1);
    expect(up.runs().bytes).toBe(2 * PAGE_SIZE);
    s.munmap(v.start, v.size);
    expect(mm.buddy.nrFreePages).toBe(free0 - 3);
    up.release();
    expect(mm.buddy.nrFreePages).toBe(free0);
    expect(() => up.release()).toThrow(/released twice/);
  });

  it("refuses holes, VM_PFNMAP mappings and writes to read-only mappings with EFAULT", () => {
    const { mm } = bootMm();
    const s = mm.createUserSpace("pid 2");
    const ro = s.mmap({ length: PAGE_SIZE, prot: PROT_READ, backing: { kind: "anon" } });
    const pfnmap = s.mmap({
      length: PAGE_SIZE,
      prot: PROT_READ | PROT_WRITE,
      backing: { kind: "pfn", pfn: 0x40300 },
    });
    expect(() => getUserPages(s, ro.start, PAGE_SIZE, { write: true })).toThrow(
      kerr("EFAULT", /does not allow writes/),
    );
    expect(() => getUserPages(s, pfnmap.start, 16)).toThrow(kerr("EFAULT", /VM_PFNMAP/));
    expect(() => getUserPages(s, 0x1000, 16)).toThrow(kerr("EFAULT", /not mapped/));
    expect(() => getUserPages(s, ro.start, 0)).toThrow(kerr("EINVAL"));
    expect(getUserPages(s, ro.start, 8).contiguous()).toBe(true);
  });

  it("followPfn reads a VM_PFNMAP mapping and refuses page-backed ones", () => {
    const { mm } = bootMm();
    const s = mm.createUserSpace("pid 3");
    const pfnmap = s.mmap({ length: 2 * PAGE_SIZE, prot: PROT_READ, backing: { kind: "pfn", pfn: 0x40300 } });
    expect(followPfn(s, pfnmap.start + PAGE_SIZE + 5)).toBe(0x40301);
    const p = mm.buddy.allocPages(0, GFP_KERNEL)!;
    const pages = s.mmap({ length: PAGE_SIZE, prot: PROT_READ, backing: { kind: "pages", pfns: [p] } });
    expect(() => followPfn(s, pages.start)).toThrow(kerr("EINVAL"));
    expect(() => followPfn(s, 0x2000)).toThrow(kerr("EFAULT"));
  });
});
