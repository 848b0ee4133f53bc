import { faultInjectSet, faultInjectStats, PAGE_SIZE, SZ_1M, type TraceRecord } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import { allocContigRange, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, PROT_READ, PROT_WRITE } from "../src/index.js";
import { bootMm } from "./helpers.js";

describe('fault injection site "page" (fail_page_alloc)', () => {
  it("makes the n-th allocPages return null and changes nothing", () => {
    const { kernel, mm } = bootMm({ size: 16 * SZ_1M });
    const b = mm.buddy;
    const events: TraceRecord<"fault_injected">[] = [];
    kernel.trace.on("fault_injected", (r) => events.push(r));
    const free = b.nrFreePages;
    const info = JSON.stringify(b.buddyinfo());
    faultInjectSet(kernel, "page", { failNth: 2 });
    const first = b.allocPages(0, GFP_KERNEL);
    expect(first).not.toBeNull();
    expect(b.nrFreePages).toBe(free - 1);
    expect(b.allocPages(3, GFP_KERNEL)).toBeNull(); // the injected failure
    expect(b.nrFreePages).toBe(free - 1); // nothing taken
    expect(events.map((e) => e.data)).toEqual([{ site: "page", count: 2 }]);
    const third = b.allocPages(3, GFP_KERNEL); // one-shot: the next call works again
    expect(third).not.toBeNull();
    b.freePages(first!, 0);
    b.freePages(third!, 3);
    expect(b.nrFreePages).toBe(free);
    expect(JSON.stringify(b.buddyinfo())).toBe(info);
    expect(faultInjectStats(kernel)).toEqual([{ site: "page", calls: 3, injected: 1 }]);
  });

  it("argument checks come first: a bad order is still EINVAL, not an injected failure", () => {
    const { kernel, mm } = bootMm({ size: 8 * SZ_1M });
    faultInjectSet(kernel, "page", { failNth: 1 });
    expect(() => mm.buddy.allocPages(11, GFP_KERNEL)).toThrow(/EINVAL/);
    expect(mm.buddy.allocPages(0, GFP_KERNEL)).toBeNull();
  });

  it("a failed migration target makes alloc_contig_range fail cleanly (the pages stay where they were)", () => {
    const { kernel, mm } = bootMm({ size: 16 * SZ_1M });
    const space = mm.createUserSpace("user");
    const vma = space.mmap({ length: PAGE_SIZE, prot: PROT_READ | PROT_WRITE, backing: { kind: "anon" } });
    const pfn = space.translate(vma.start) / PAGE_SIZE;
    mm.phys.write(pfn * PAGE_SIZE, new Uint8Array([7, 8, 9]));
    faultInjectSet(kernel, "page", { probability: 100 });
    const free = mm.buddy.nrFreePages;
    expect(() => allocContigRange(mm, pfn, pfn + 1, "test")).toThrow(/ENOMEM|EBUSY/);
    expect(space.translate(vma.start)).toBe(pfn * PAGE_SIZE); // not moved, bytes in place
    expect([...mm.phys.view(pfn * PAGE_SIZE, 3)]).toEqual([7, 8, 9]);
    expect(mm.buddy.nrFreePages).toBe(free);
    expect(mm.buddy.allocPages(0, GFP_HIGHUSER_MOVABLE)).toBeNull();
  });
});
