// The hardware-MMU wrapper (CONFIG_VCM_MMU) over an iommu-core domain and over custom
// vcm_mmu_driver page callbacks.
import { fc, test } from "@fast-check/vitest";
import { IOMMU_READ, iommuIovaToPhys } from "@umm/iommu-core";
import { KernelError, PAGE_SIZE, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  mmuResAlignment,
  ordersOfPgsizeBitmap,
  type VcmMmuDriver,
  type VcmPhys,
  type VcmRes,
  vcmActivate,
  vcmAlloc,
  vcmBind,
  vcmDeactivate,
  vcmDestroy,
  vcmDestroyBinding,
  vcmFree,
  vcmIommuMmuDriver,
  vcmMakeBinding,
  vcmMmuInit,
  vcmReserve,
  vcmUnbind,
  vcmUnreserve,
} from "../src/index.js";
import { boot, expectNoLeaks, pattern, record, warnings } from "./helpers.js";
import { softIommu } from "./soft-iommu.js";

const START = 0x1000_0000;
const SIZE = 256 * SZ_1M;

function rig(size = 64 * SZ_1M) {
  const { kernel, mm } = boot({ size });
  const iommu = softIommu(kernel);
  const { dev, domain, port } = iommu.masterWithDomain("fimc0");
  const vcm = vcmMmuInit(kernel, { start: START, size: SIZE, domain, name: "fimc0" });
  return { kernel, mm, iommu, dev, domain, port, vcm };
}

/** Every page of a bound reservation translates to the matching physical page. */
function expectMapped(domain: Parameters<typeof iommuIovaToPhys>[0], res: VcmRes): void {
  let va = res.start;
  for (const part of (res.phys as VcmPhys).parts) {
    for (let off = 0; off < part.size; off += SZ_4K) {
      expect(iommuIovaToPhys(domain, va + off)).toBe(part.start + off);
    }
    va += part.size;
  }
}

function expectUnmapped(domain: Parameters<typeof iommuIovaToPhys>[0], start: number, size: number): void {
  for (let off = 0; off < size; off += SZ_4K) expect(iommuIovaToPhys(domain, start + off)).toBe(0);
}

describe("vcmMmuInit (vcm_mmu_init)", () => {
  it("derives orders {8, 4, 0} from a 4K|64K|1M domain", () => {
    const { vcm } = rig();
    expect(vcm.mmuDriver.orders).toEqual([8, 4, 0]);
    expect(ordersOfPgsizeBitmap(SZ_4K | SZ_64K | SZ_1M | (16 * SZ_1M))).toEqual([12, 8, 4, 0]);
    expect([vcm.start, vcm.size, vcm.activations, vcm.activated]).toEqual([START, SIZE, 0, false]);
  });

  it.each<[string, Partial<VcmMmuDriver>]>([
    ["no activate and no page callbacks", { deactivate: () => {} }],
    ["activatePage without deactivatePage", { activatePage: () => 0, deactivate: () => {} }],
    ["activate without any deactivation", { activate: () => {} }],
    ["orders not ending with 0", { orders: [8, 4], activate: () => {}, deactivate: () => {} }],
  ])("rejects a driver with %s (EINVAL)", (_w, d) => {
    const { kernel } = boot();
    const driver = { orders: [8, 4, 0], ...d } as VcmMmuDriver;
    expect(() => vcmMmuInit(kernel, { start: START, size: SIZE, driver })).toThrow(kerr("EINVAL"));
  });

  it("rejects what vcm_init rejects, and both or neither of driver and domain (EINVAL)", () => {
    const { kernel, domain } = rig();
    const driver = vcmIommuMmuDriver(domain);
    expect(() => vcmMmuInit(kernel, { start: START + 1, size: SIZE, driver })).toThrow(
      kerr("EINVAL", /aligned/),
    );
    expect(() => vcmMmuInit(kernel, { start: START, size: 0, driver })).toThrow(kerr("EINVAL", /size 0/));
    expect(() => vcmMmuInit(kernel, { start: START, size: SIZE, driver, domain })).toThrow(kerr("EINVAL"));
    expect(() => vcmMmuInit(kernel, { start: START, size: SIZE })).toThrow(kerr("EINVAL"));
  });

  it("rejects a domain without 4 KiB pages (EINVAL)", () => {
    const { domain } = rig();
    expect(() => vcmIommuMmuDriver({ ...domain, pgsizeBitmap: SZ_64K | SZ_1M })).toThrow(
      kerr("EINVAL", /4 KiB/),
    );
  });
});

describe("reservations", () => {
  it.each([
    [SZ_4K, SZ_4K],
    [3 * SZ_4K, SZ_4K],
    [SZ_64K, SZ_64K],
    [3 * SZ_64K, SZ_64K],
    [SZ_1M + SZ_4K, SZ_4K],
    [SZ_1M, SZ_1M],
    [2 * SZ_1M, SZ_1M], // natural 2 MiB, largest page 1 MiB
    [32 * SZ_4K, SZ_64K], // natural 128 KiB: 64 KiB
  ])("a reservation of %d bytes is aligned to %d (largest page ≤ its natural alignment)", (size, align) => {
    expect(mmuResAlignment([8, 4, 0], size)).toBe(align);
    const { vcm } = rig();
    vcmReserve(vcm, SZ_4K); // make the first fit interesting
    const r = vcmReserve(vcm, size);
    expect(r.start).toBe(Math.ceil((START + SZ_4K) / align) * align);
  });

  it("places first fit from the lowest address and reuses freed space", () => {
    const { vcm } = rig();
    const a = vcmReserve(vcm, SZ_64K);
    const b = vcmReserve(vcm, SZ_4K);
    const c = vcmReserve(vcm, SZ_64K);
    expect([a.start, b.start, c.start]).toEqual([START, START + SZ_64K, START + 2 * SZ_64K]);
    vcmUnreserve(a);
    expect(vcmReserve(vcm, SZ_4K).start).toBe(START);
  });

  it("throws ENOSPC when no aligned range is left, changing nothing", () => {
    const { vcm } = rig();
    const big = vcmReserve(vcm, SIZE - SZ_1M);
    expect(() => vcmReserve(vcm, 2 * SZ_1M)).toThrow(kerr("ENOSPC"));
    expect(vcm.reservedBytes).toBe(SIZE - SZ_1M);
    expect(vcmReserve(vcm, SZ_1M).start).toBe(START + SIZE - SZ_1M);
    vcmUnreserve(big);
  });

  it("never hands out bus address 0 (gen_pool's failure value)", () => {
    const { kernel } = boot();
    const vcm = vcmMmuInit(kernel, {
      start: 0,
      size: 4 * SZ_1M,
      driver: { orders: [8, 4, 0], activate: () => {}, deactivate: () => {} },
    });
    const r = vcmReserve(vcm, SZ_1M);
    expect(r.start).toBe(SZ_1M);
    expect(vcmReserve(vcm, SZ_4K).start).toBe(SZ_4K);
  });

  test.prop(
    [fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 600 }), fc.nat()), { maxLength: 60 })],
    {
      numRuns: 40,
    },
  )("reservations never overlap, stay inside the context and keep the alignment rule", (ops) => {
    const { kernel } = boot();
    const vcm = vcmMmuInit(kernel, {
      start: 0x2000_0000,
      size: 16 * SZ_1M,
      driver: { orders: [8, 4, 0], activate: () => {}, deactivate: () => {} },
    });
    const live: VcmRes[] = [];
    for (const [reserve, pages, pick] of ops) {
      if (reserve || live.length === 0) {
        try {
          live.push(vcmReserve(vcm, pages * PAGE_SIZE));
        } catch (e) {
          expect((e as Error).message).toMatch(/^ENOSPC: /);
        }
      } else vcmUnreserve(live.splice(pick % live.length, 1)[0] as VcmRes);
      const sorted = [...vcm.reservations].sort((x, y) => x.start - y.start);
      for (let i = 0; i < sorted.length; i++) {
        const r = sorted[i] as VcmRes;
        expect(r.start).toBeGreaterThanOrEqual(vcm.start);
        expect(r.start + r.resSize).toBeLessThanOrEqual(vcm.start + vcm.size);
        expect(r.start % mmuResAlignment([8, 4, 0], r.resSize)).toBe(0);
        if (i > 0)
          expect(r.start).toBeGreaterThanOrEqual(
            (sorted[i - 1] as VcmRes).start + (sorted[i - 1] as VcmRes).resSize,
          );
      }
    }
  });
});

describe("programming the IOMMU", () => {
  it("a binding reaches the hardware only once the context is active; unbind and deactivate take it off", () => {
    const { vcm, domain } = rig();
    const r = vcmMakeBinding(vcm, SZ_1M + SZ_64K + SZ_4K);
    expectUnmapped(domain, r.start, r.resSize);
    vcmActivate(vcm);
    expect(vcm.activated).toBe(true);
    expectMapped(domain, r);
    const r2 = vcmMakeBinding(vcm, 3 * SZ_4K); // bind while active: on the hardware at once
    expectMapped(domain, r2);
    const p2 = vcmUnbind(r2) as VcmPhys;
    expectUnmapped(domain, r2.start, r2.resSize);
    vcmFree(p2);
    vcmUnreserve(r2);
    vcmDeactivate(vcm);
    expect(vcm.activated).toBe(false);
    expectUnmapped(domain, r.start, r.resSize);
    vcmActivate(vcm);
    expectMapped(domain, r);
    vcmDestroyBinding(r);
    expectUnmapped(domain, r.start, r.resSize);
  });

  it("maps each physical part with one iommuMap in the domain's page sizes", () => {
    const { kernel, vcm, iommu } = rig();
    const rec = record(kernel, "iommu_map");
    vcmActivate(vcm);
    const r = vcmMakeBinding(vcm, 2 * SZ_1M + SZ_64K + 2 * SZ_4K);
    expect(r.phys?.parts.map((p) => p.size)).toEqual([SZ_1M, SZ_1M, SZ_64K, SZ_4K, SZ_4K]);
    expect(rec.of("iommu_map").map((e) => e.data.size)).toEqual([SZ_1M, SZ_1M, SZ_64K, SZ_4K, SZ_4K]);
    expect(iommu.mapCalls).toBe(5);
  });

  it("a device reads and writes the buffer through its IOMMU, and the bytes are in the physical parts", () => {
    const { mm, vcm, port } = rig();
    vcmActivate(vcm);
    const r = vcmMakeBinding(vcm, SZ_1M + 5 * SZ_4K);
    const data = pattern(r.boundSize, 3);
    port.write(r.start, data);
    const back = new Uint8Array(r.boundSize);
    let off = 0;
    for (const part of (r.phys as VcmPhys).parts) {
      mm.phys.read(part.start, back, off, part.size);
      off += part.size;
    }
    expect(firstDiff(back, data)).toBe(-1);
    const viaPort = new Uint8Array(r.boundSize);
    port.read(r.start, viaPort);
    expect(firstDiff(viaPort, data)).toBe(-1);
    vcmDestroyBinding(r);
    expect(() => port.read(r.start, viaPort)).toThrow(kerr("EFAULT", /fault/));
  });

  it("a failed bind while active records nothing and vcmMakeBinding gives back memory and addresses", () => {
    const { mm, vcm, iommu, domain } = rig();
    vcmActivate(vcm);
    const keep = vcmMakeBinding(vcm, SZ_64K);
    const free0 = mm.buddy.nrFreePages;
    const used0 = vcm.reservedBytes;
    iommu.failMapCall = 2; // the second part of the next binding fails
    expect(() => vcmMakeBinding(vcm, SZ_1M + SZ_64K)).toThrow(kerr("ENOMEM", /page table/));
    expect(mm.buddy.nrFreePages).toBe(free0);
    expect(vcm.reservedBytes).toBe(used0);
    expect(vcm.bound).toEqual([keep]);
    expectUnmapped(domain, START + SZ_1M, 2 * SZ_1M); // the first part was unmapped again
    expectMapped(domain, keep);
  });

  it("a failed activation unprograms what it did, stays inactive, and the count stays at 1", () => {
    const { vcm, iommu, domain } = rig();
    const a = vcmMakeBinding(vcm, SZ_64K);
    const b = vcmMakeBinding(vcm, SZ_64K);
    const c = vcmMakeBinding(vcm, SZ_64K);
    iommu.failMapCall = 2; // b fails
    expect(() => vcmActivate(vcm)).toThrow(kerr("ENOMEM"));
    expect([vcm.activations, vcm.activated]).toEqual([1, false]);
    for (const r of [a, b, c]) expectUnmapped(domain, r.start, r.resSize);
    vcmActivate(vcm); // 1 -> 2: the driver is not asked again
    expect(vcm.activated).toBe(false);
    vcmDeactivate(vcm);
    vcmDeactivate(vcm);
    vcmActivate(vcm);
    for (const r of [a, b, c]) expectMapped(domain, r);
  });

  it("IOMMU_READ-only mappings when asked", () => {
    const { kernel, iommu } = rig();
    const { domain } = iommu.masterWithDomain("fimd0");
    const vcm = vcmMmuInit(kernel, { start: START, size: SIZE, domain, prot: IOMMU_READ });
    vcmActivate(vcm);
    const r = vcmMakeBinding(vcm, SZ_4K);
    expectMapped(domain, r);
  });

  it("destroying a context with bindings warns (vcm_mmu_cleanup)", () => {
    const { kernel, vcm } = rig();
    const rec = record(kernel, "vcm_warn");
    vcmMakeBinding(vcm, SZ_4K);
    vcmDestroy(vcm);
    expect(warnings(rec)).toEqual([expect.stringMatching(/still has 1 bound/)]);
  });

  it("everything goes back: buddy pages, bus addresses, IOMMU mappings", () => {
    const { kernel, mm, vcm, domain } = rig();
    const free0 = mm.buddy.nrFreePages;
    vcmActivate(vcm);
    const rs = [3 * SZ_1M, SZ_64K, 7 * SZ_4K, SZ_1M + SZ_4K].map((s) => vcmMakeBinding(vcm, s));
    for (const r of rs) vcmDestroyBinding(r);
    vcmDeactivate(vcm);
    expect(mm.buddy.nrFreePages).toBe(free0);
    expect(vcm.reservedBytes).toBe(0);
    expect((domain as unknown as { slots: Map<number, unknown> }).slots.size).toBe(0);
    expectNoLeaks(kernel);
  });
});

describe("a custom MMU controller through activatePage / deactivatePage", () => {
  function pageRig(failAt = 0) {
    const { kernel } = boot();
    const table = new Map<number, number>();
    const log: string[] = [];
    let n = 0;
    const driver: VcmMmuDriver = {
      orders: [8, 4, 0],
      activatePage: (va, pa, order) => {
        if (failAt && ++n === failAt) return -16;
        log.push(`+${order}`);
        for (let i = 0; i < 2 ** order; i++) table.set(va + i * SZ_4K, pa + i * SZ_4K);
        return 0;
      },
      deactivatePage: (va, _pa, order) => {
        log.push(`-${order}`);
        for (let i = 0; i < 2 ** order; i++) table.delete(va + i * SZ_4K);
        return 0;
      },
    };
    const vcm = vcmMmuInit(kernel, { start: START, size: SIZE, driver });
    return { kernel, vcm, table, log };
  }

  it("is called once per page of the largest fitting order, and deactivation walks it back", () => {
    const { vcm, table, log } = pageRig();
    vcmActivate(vcm);
    const r = vcmMakeBinding(vcm, SZ_1M + SZ_64K + SZ_4K);
    expect(log).toEqual(["+8", "+4", "+0"]);
    expect(table.size).toBe((SZ_1M + SZ_64K + SZ_4K) / SZ_4K);
    // a context with only deactivatePage deactivates through it (mm/vcm.c would call NULL)
    vcmDeactivate(vcm);
    expect(table.size).toBe(0);
    expect(log.slice(3)).toEqual(["-8", "-4", "-0"]);
    vcmDestroyBinding(r);
  });

  it("a failing page rolls back the pages already mapped (recovery) and the bind fails", () => {
    const { vcm, table, log } = pageRig(3);
    vcmActivate(vcm);
    const p = vcmAlloc(vcm, SZ_1M + SZ_64K + SZ_4K);
    const r = vcmReserve(vcm, p.size);
    expect(() => vcmBind(r, p)).toThrow(kerr("EBUSY"));
    expect(table.size).toBe(0);
    expect(log).toEqual(["+8", "+4", "-8", "-4"]);
    expect([r.phys, p.bindings]).toEqual([null, 0]);
    vcmUnreserve(r);
    vcmFree(p);
  });

  it("an activate that throws is undone for the bindings before it", () => {
    const { kernel } = boot();
    const mapped = new Set<number>();
    let fail = 0;
    const vcm = vcmMmuInit(kernel, {
      start: START,
      size: SIZE,
      driver: {
        orders: [0],
        activate: (res) => {
          if (++fail === 2) throw new KernelError("EIO", "no");
          mapped.add(res.start);
        },
        deactivate: (res) => void mapped.delete(res.start),
      },
    });
    vcmMakeBinding(vcm, SZ_4K);
    vcmMakeBinding(vcm, SZ_4K);
    expect(() => vcmActivate(vcm)).toThrow(kerr("EIO"));
    expect(mapped.size).toBe(0);
  });
});
