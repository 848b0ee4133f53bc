// The invariants of §2.8, over random sequences of the whole API (fast-check).
import { fc, test } from "@fast-check/vitest";
import { iommuIovaToPhys } from "@umm/iommu-core";
import { PAGE_SIZE, SZ_1M, SZ_4K } from "@umm/kernel-core";
import { expect } from "vitest";
import {
  mmuResAlignment,
  type Vcm,
  type VcmPhys,
  type VcmRes,
  vcmActivate,
  vcmAlloc,
  vcmBind,
  vcmDeactivate,
  vcmDestroyBinding,
  vcmFree,
  vcmMakeBinding,
  vcmMap,
  vcmMmuInit,
  vcmReserve,
  vcmUnbind,
  vcmUnmap,
  vcmUnreserve,
  vcmVmm,
} from "../src/index.js";
import { boot, countingVcm, expectNoLeaks } from "./helpers.js";
import { softIommu } from "./soft-iommu.js";

type Op =
  | { k: "make"; pages: number; ctx: number }
  | { k: "alloc"; pages: number }
  | { k: "reserve"; pages: number; ctx: number }
  | { k: "bind"; r: number; p: number }
  | { k: "map"; p: number; ctx: number }
  | { k: "unbind"; r: number }
  | { k: "unreserve"; r: number }
  | { k: "destroy"; r: number }
  | { k: "free"; p: number }
  | { k: "activate"; ctx: number }
  | { k: "deactivate"; ctx: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant("make" as const), pages: fc.integer({ min: 1, max: 300 }), ctx: fc.nat(2) }),
  fc.record({ k: fc.constant("alloc" as const), pages: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ k: fc.constant("reserve" as const), pages: fc.integer({ min: 1, max: 300 }), ctx: fc.nat(1) }),
  fc.record({ k: fc.constant("bind" as const), r: fc.nat(), p: fc.nat() }),
  fc.record({ k: fc.constant("map" as const), p: fc.nat(), ctx: fc.nat(2) }),
  fc.record({ k: fc.constant("unbind" as const), r: fc.nat() }),
  fc.record({ k: fc.constant("unreserve" as const), r: fc.nat() }),
  fc.record({ k: fc.constant("destroy" as const), r: fc.nat() }),
  fc.record({ k: fc.constant("free" as const), p: fc.nat() }),
  fc.record({ k: fc.constant("activate" as const), ctx: fc.nat(1) }),
  fc.record({ k: fc.constant("deactivate" as const), ctx: fc.nat(1) }),
);

test.prop([fc.array(op, { minLength: 1, maxLength: 50 })], { numRuns: 60 })(
  "bindings, reservations, activations and the IOMMU agree after every call",
  (ops) => {
    const { kernel, mm } = boot({ size: 32 * SZ_1M });
    const free0 = mm.buddy.nrFreePages;
    const iommu = softIommu(kernel);
    const { domain } = iommu.masterWithDomain("fimc0");
    const mmu = vcmMmuInit(kernel, { start: 0x1000_0000, size: 16 * SZ_1M, domain });
    const { vcm: counted, c } = countingVcm(kernel);
    const ctxs: Vcm[] = [mmu, counted, vcmVmm(kernel)];
    const res: VcmRes[] = [];
    const phys: VcmPhys[] = [];
    let transitions = { up: 0, down: 0 };
    const pick = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);
    const tryIt = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        expect((e as Error).message).toMatch(/^(ENOSPC|ENOMEM|EALREADY|EADDRINUSE|EOPNOTSUPP|EINVAL): /);
      }
    };
    for (const o of ops) {
      const before = { up: counted.activations, mmu: mmu.activations };
      switch (o.k) {
        case "make":
          tryIt(() => res.push(vcmMakeBinding(ctxs[o.ctx] as Vcm, o.pages * PAGE_SIZE)));
          break;
        case "alloc":
          tryIt(() => phys.push(vcmAlloc(mmu, o.pages * PAGE_SIZE)));
          break;
        case "reserve":
          tryIt(() => res.push(vcmReserve(ctxs[o.ctx] as Vcm, o.pages * PAGE_SIZE)));
          break;
        case "bind": {
          const r = pick(res, o.r);
          const p = pick(phys, o.p);
          if (r && p) tryIt(() => vcmBind(r, p));
          break;
        }
        case "map": {
          const p = pick(phys, o.p);
          if (p) tryIt(() => res.push(vcmMap(ctxs[o.ctx] as Vcm, p)));
          break;
        }
        case "unbind": {
          const r = pick(res, o.r);
          if (r?.phys) {
            const p = vcmUnbind(r) as VcmPhys;
            if (!phys.includes(p)) phys.push(p);
          }
          break;
        }
        case "unreserve": {
          const r = pick(res, o.r);
          if (!r) break;
          if (!r.phys) {
            vcmUnreserve(r);
            res.splice(res.indexOf(r), 1);
          } else if (r.vcm === ctxs[2] || r.vcm === counted) {
            const p = r.phys;
            vcmUnmap(r);
            res.splice(res.indexOf(r), 1);
            if (p && !phys.includes(p)) phys.push(p);
          }
          break;
        }
        case "destroy": {
          const r = pick(res, o.r);
          if (r?.phys && r.phys.bindings === 1) {
            const p = r.phys;
            vcmDestroyBinding(r);
            res.splice(res.indexOf(r), 1);
            if (phys.includes(p)) phys.splice(phys.indexOf(p), 1);
          }
          break;
        }
        case "free": {
          const p = pick(phys, o.p);
          if (p && p.bindings === 0) {
            vcmFree(p);
            phys.splice(phys.indexOf(p), 1);
          }
          break;
        }
        case "activate":
          vcmActivate(ctxs[o.ctx] as Vcm);
          break;
        case "deactivate":
          if ((ctxs[o.ctx] as Vcm).activations > 0) vcmDeactivate(ctxs[o.ctx] as Vcm);
          break;
      }
      if (before.up === 0 && counted.activations === 1)
        transitions = { ...transitions, up: transitions.up + 1 };
      if (before.up === 1 && counted.activations === 0)
        transitions = { ...transitions, down: transitions.down + 1 };

      // driver activate/deactivate exactly on 0 <-> 1
      expect([c.activate, c.deactivate]).toEqual([transitions.up, transitions.down]);
      // reservations: inside their context, never overlapping, MMU alignment rule
      for (const v of [mmu, counted]) {
        const rs = [...v.reservations].sort((x, y) => x.start - y.start);
        rs.forEach((r, i) => {
          expect(r.start).toBeGreaterThanOrEqual(v.start);
          expect(r.start + r.resSize).toBeLessThanOrEqual(v.start + v.size);
          if (i > 0)
            expect(r.start).toBeGreaterThanOrEqual(
              (rs[i - 1] as VcmRes).start + (rs[i - 1] as VcmRes).resSize,
            );
          if (v === mmu) expect(r.start % mmuResAlignment([8, 4, 0], r.resSize)).toBe(0);
        });
      }
      // bindings: phys.bindings == reservations bound to it; phys != null <=> boundSize == phys.size
      const all = ctxs.flatMap((v) => v.reservations);
      const allPhys = new Set([...phys, ...all.flatMap((r) => (r.phys ? [r.phys] : []))]);
      for (const p of allPhys) expect(p.bindings).toBe(all.filter((r) => r.phys === p).length);
      for (const r of all) {
        if (r.phys) {
          expect(r.boundSize).toBe(r.phys.size);
          expect(r.phys.size).toBeLessThanOrEqual(r.resSize);
        } else expect(r.boundSize).toBe(0);
      }
      // an active MMU context translates every bound page; an inactive one nothing
      for (const r of mmu.reservations) {
        if (!r.phys) continue;
        let va = r.start;
        for (const part of r.phys.parts) {
          for (let off = 0; off < part.size; off += 16 * SZ_4K) {
            expect(iommuIovaToPhys(domain, va + off)).toBe(mmu.activated ? part.start + off : 0);
          }
          va += part.size;
        }
      }
    }
    // tear down: everything goes back
    for (const r of [...res]) {
      const p = r.phys;
      if (p) vcmUnbind(r);
      vcmUnreserve(r);
      if (p && !phys.includes(p)) phys.push(p);
    }
    for (const p of phys) vcmFree(p);
    while (mmu.activations > 0) vcmDeactivate(mmu);
    expect(mm.buddy.nrFreePages).toBe(free0);
    expectNoLeaks(kernel);
  },
);
