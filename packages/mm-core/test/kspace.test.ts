import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import { GFP_KERNEL, MT_CACHEABLE, MT_UNCACHED, PAGE_OFFSET, RunList, VMALLOC_START } from "../src/index.js";
import { bootMm } from "./helpers.js";

describe("kernel address space", () => {
  it("the linear map: K.V = P.A - PHYS_OFFSET + PAGE_OFFSET for lowmem only", () => {
    const { mm } = bootMm({ size: 64 * SZ_1M, lowmemSize: 32 * SZ_1M });
    const k = mm.kspace;
    expect(k.physToVirt(0x40001234)).toBe(PAGE_OFFSET + 0x1234);
    expect(k.virtToPhys(PAGE_OFFSET + 0x1234)).toBe(0x40001234);
    expect(() => k.physToVirt(0x42000000)).toThrow(kerr("EINVAL", /not lowmem/));
    expect(() => k.virtToPhys(0x1000)).toThrow(kerr("EINVAL"));
    expect(k.translate(PAGE_OFFSET + 0x5000)).toBe(0x40005000);
    expect(k.linearMemtype(0x42000)).toBeUndefined(); // highmem
  });

  it("remapping the linear map tells observers: old type goes, new type comes", () => {
    const { mm } = bootMm();
    const events: string[] = [];
    mm.addMappingObserver({
      onMapChange: (pfn, count, mt, delta, site) => {
        if (pfn >= 0x40100 && pfn < 0x40104)
          events.push(`${delta > 0 ? "+" : "-"}${mt}@${pfn.toString(16)}x${count} ${site.name}`);
      },
    });
    events.length = 0; // the replay of the boot linear map is not what we test here
    mm.kspace.setLinearMemtype(0x40100, 4, "uncached");
    expect(events).toEqual([`-${MT_CACHEABLE}@40100x4 linear map`, `+${MT_UNCACHED}@40100x4 linear map`]);
    const runs = mm.kspace.translateRange(PAGE_OFFSET + 0x100000, 2 * PAGE_SIZE, false, new RunList());
    expect(runs.memtype[0]).toBe(MT_UNCACHED);
    mm.kspace.setLinearMemtype(0x40100, 4, null);
    expect(() => mm.kspace.translate(PAGE_OFFSET + 0x100000)).toThrow(kerr("EFAULT"));
  });

  it("observers added late are told of every existing mapping first", () => {
    const { mm } = bootMm({ size: 16 * SZ_1M });
    const s = mm.createUserSpace("pid 9");
    s.mmap({ length: PAGE_SIZE, prot: 3, backing: { kind: "pfn", pfn: 0x40010 }, memtype: "writecombine" });
    let linearPages = 0;
    let user = 0;
    mm.addMappingObserver({
      onMapChange: (_pfn, count, _mt, _d, site) => {
        if (site.name === "linear map") linearPages += count;
        else user += count;
      },
    });
    expect(linearPages).toBe(4096);
    expect(user).toBe(1);
  });

  it("vmap maps scattered pages contiguously without taking references; vunmap undoes it", () => {
    const { mm } = bootMm();
    const a = mm.buddy.allocPages(0, GFP_KERNEL)!;
    const b = mm.buddy.allocPages(0, GFP_KERNEL)!;
    const kaddr = mm.kspace.vmap([b, a], "writecombine");
    expect(kaddr).toBeGreaterThanOrEqual(VMALLOC_START);
    expect(mm.kspace.translate(kaddr + PAGE_SIZE + 8)).toBe(a * PAGE_SIZE + 8);
    expect(mm.frames.refcount[a - mm.frames.basePfn]).toBe(1);
    expect(() => mm.kspace.vunmap(kaddr + 4)).toThrow(kerr("EINVAL"));
    mm.kspace.vunmap(kaddr);
    expect(() => mm.kspace.translate(kaddr)).toThrow(kerr("EFAULT"));
  });

  it("vmalloc allocates and vfree frees", () => {
    const { mm } = bootMm();
    const free0 = mm.buddy.nrFreePages;
    const k = mm.kspace.vmalloc(3 * PAGE_SIZE + 1);
    expect(mm.buddy.nrFreePages).toBe(free0 - 4);
    mm.kspace.vfree(k);
    expect(mm.buddy.nrFreePages).toBe(free0);
    expect(() => mm.kspace.vmalloc(1 << 30)).toThrow(kerr("ENOMEM"));
    expect(mm.buddy.nrFreePages).toBe(free0);
  });
});

describe("kernel linear map translation", () => {
  it("a range over pages of one memory type is one run; a type change starts a new run", () => {
    const { mm } = bootMm();
    const runs = mm.kspace.translateRange(PAGE_OFFSET + 0x10, 64 * PAGE_SIZE, false, new RunList());
    expect(runs.toArray()).toEqual([{ paddr: 0x40000010, len: 64 * PAGE_SIZE, memtype: MT_CACHEABLE }]);
    mm.kspace.setLinearMemtype(0x40020, 2, "uncached");
    const split = mm.kspace.translateRange(PAGE_OFFSET + 0x1f000, 4 * PAGE_SIZE, true, new RunList());
    expect(split.toArray()).toEqual([
      { paddr: 0x4001f000, len: PAGE_SIZE, memtype: MT_CACHEABLE },
      { paddr: 0x40020000, len: 2 * PAGE_SIZE, memtype: MT_UNCACHED },
      { paddr: 0x40022000, len: PAGE_SIZE, memtype: MT_CACHEABLE },
    ]);
    mm.kspace.setLinearMemtype(0x40021, 1, null);
    expect(() =>
      mm.kspace.translateRange(PAGE_OFFSET + 0x20000, 3 * PAGE_SIZE, false, new RunList()),
    ).toThrow(kerr("EFAULT", /not mapped/));
  });
});
