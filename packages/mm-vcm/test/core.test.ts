// The core API of mm/vcm.c: checks and their order, reference counts, warnings, activation.
import { KernelBug, KernelError, PAGE_SIZE, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  Vcm,
  type VcmDriver,
  VcmPhys,
  VcmRes,
  vcmActivate,
  vcmAlloc,
  vcmBind,
  vcmDeactivate,
  vcmDestroy,
  vcmDestroyBinding,
  vcmFree,
  vcmInit,
  vcmLeaks,
  vcmMakeBinding,
  vcmMap,
  vcmRefReserve,
  vcmReserve,
  vcmUnbind,
  vcmUnmap,
  vcmUnreserve,
  vcmVmm,
} from "../src/index.js";
import { boot, countingVcm, expectNoLeaks, fakePhys, record, warnings } from "./helpers.js";

const noop: VcmDriver = { unreserve: () => {} };

describe("vcmInit (vcm_init)", () => {
  it("accepts a page-aligned, non-empty context with an unreserve op and zeroes activations", () => {
    const { kernel } = boot();
    const v = new Vcm(kernel, { start: 0x1000, size: 0x2000, driver: noop });
    v.activations = 7;
    expect(vcmInit(v)).toBe(v);
    expect(v.activations).toBe(0);
  });

  it.each([
    ["size 0", { start: 0, size: 0, driver: noop }, /size 0/],
    ["an unaligned start", { start: 0x1001, size: 0x1000, driver: noop }, /page-aligned/],
    ["an unaligned size", { start: 0x1000, size: 0x1800, driver: noop }, /page-aligned/],
    ["no unreserve", { start: 0, size: 0x1000, driver: {} as VcmDriver }, /unreserve/],
    ["no driver", { start: 0, size: 0x1000, driver: null as unknown as VcmDriver }, /unreserve/],
  ])("rejects %s with EINVAL", (_what, init, detail) => {
    const { kernel } = boot();
    expect(() => vcmInit(new Vcm(kernel, init))).toThrow(kerr("EINVAL", detail));
  });

  it("rejects a null context with EINVAL", () => {
    expect(() => vcmInit(null as unknown as Vcm)).toThrow(kerr("EINVAL", /NULL/));
  });
});

describe("vcmAlloc (vcm_alloc)", () => {
  it("rounds the size up to a page and starts with no bindings", () => {
    const { kernel } = boot();
    const { vcm, c } = countingVcm(kernel);
    const p = vcmAlloc(vcm, 5000);
    expect(c.log).toEqual(["phys 8192"]);
    expect(p.size).toBe(8192);
    expect(p.bindings).toBe(0);
    vcmFree(p);
    expectNoLeaks(kernel);
  });

  it("rejects size 0 (EINVAL) and a context without phys or alloc (EOPNOTSUPP)", () => {
    const { kernel } = boot();
    const { vcm } = countingVcm(kernel);
    expect(() => vcmAlloc(vcm, 0)).toThrow(kerr("EINVAL", /size 0/));
    expect(() => vcmAlloc(null as unknown as Vcm, 4096)).toThrow(kerr("EINVAL", /NULL/));
    const { vcm: noPhys } = countingVcm(kernel, ["res", "bind"]);
    expect(() => vcmAlloc(noPhys, SZ_4K)).toThrow(kerr("EOPNOTSUPP", /physical/));
  });

  it("rejects a phys without a free callback with EINVAL (and a warning)", () => {
    const { kernel } = boot();
    const rec = record(kernel, "vcm_warn");
    const vcm = vcmInit(
      new Vcm(kernel, {
        start: 0,
        size: SZ_1M,
        driver: {
          unreserve: () => {},
          phys: (v, size) =>
            new VcmPhys(v.kernel, { parts: [{ start: 0x40000000, size, pfn: null }], free: null }),
        },
      }),
    );
    expect(() => vcmAlloc(vcm, SZ_4K)).toThrow(kerr("EINVAL", /free callback/));
    expect(warnings(rec)[0]).toMatch(/free callback/);
  });
});

describe("vcmReserve (vcm_reserve)", () => {
  it("rounds up, starts unbound with one reference", () => {
    const { kernel } = boot();
    const { vcm, c } = countingVcm(kernel);
    const r = vcmReserve(vcm, 1);
    expect(c.log).toEqual(["res 4096"]);
    expect([r.resSize, r.boundSize, r.phys, r.refcnt, r.vcm]).toEqual([4096, 0, null, 1, vcm]);
    expect(vcm.reservations).toEqual([r]);
    vcmUnreserve(r);
    expect(vcm.reservations).toEqual([]);
    expect(c.log).toEqual(["res 4096", "unreserve 10000000"]);
  });

  it("rejects size 0 (EINVAL) and a context without res or alloc (EOPNOTSUPP)", () => {
    const { kernel } = boot();
    const { vcm } = countingVcm(kernel, ["phys", "bind"]);
    expect(() => vcmReserve(vcm, 0)).toThrow(kerr("EINVAL"));
    expect(() => vcmReserve(vcm, SZ_4K)).toThrow(kerr("EOPNOTSUPP", /reserve/));
    expect(() => vcmReserve(vcmVmm(kernel), SZ_4K)).toThrow(kerr("EOPNOTSUPP"));
  });
});

describe("reference counts (CONFIG_VCM_RES_REFCNT)", () => {
  it("vcmRefReserve takes a reference; unreserve, unmap and destroy_binding drop one each", () => {
    const { kernel } = boot();
    const { vcm, c } = countingVcm(kernel);
    const r = vcmMakeBinding(vcm, SZ_4K);
    vcmRefReserve(r);
    vcmRefReserve(r);
    vcmRefReserve(r);
    expect(r.refcnt).toBe(4);
    vcmUnreserve(r);
    vcmUnmap(r);
    vcmDestroyBinding(r);
    expect(r.refcnt).toBe(1);
    expect(r.phys).not.toBeNull();
    expect(c.log.filter((l) => l.startsWith("unbind"))).toEqual([]);
    vcmDestroyBinding(r);
    expect(r.released).toBe(true);
    expectNoLeaks(kernel);
  });

  it("vcmRefReserve rejects null and a released reservation with EINVAL, changing nothing", () => {
    const { kernel } = boot();
    const { vcm } = countingVcm(kernel);
    const r = vcmReserve(vcm, SZ_4K);
    vcmUnreserve(r);
    expect(() => vcmRefReserve(r)).toThrow(kerr("EINVAL", /no reference/));
    expect(r.refcnt).toBe(0);
    expect(() => vcmRefReserve(null as unknown as VcmRes)).toThrow(kerr("EINVAL"));
  });

  it("using a released reservation again is a KernelBug", () => {
    const { kernel } = boot();
    const { vcm } = countingVcm(kernel);
    const r = vcmReserve(vcm, SZ_4K);
    vcmUnreserve(r);
    expect(() => vcmUnreserve(r)).toThrow(KernelBug);
    expect(() => vcmBind(r, vcmAlloc(vcm, SZ_4K))).toThrow(KernelBug);
  });
});

describe("vcmBind (vcm_bind): errors in the order EINVAL, EALREADY, EADDRINUSE, ENOSPC, EOPNOTSUPP", () => {
  it("EINVAL for a null reservation or phys", () => {
    const { kernel } = boot();
    const { vcm } = countingVcm(kernel);
    const r = vcmReserve(vcm, SZ_4K);
    const p = vcmAlloc(vcm, SZ_4K);
    expect(() => vcmBind(null as unknown as VcmRes, p)).toThrow(kerr("EINVAL", /res is NULL/));
    expect(() => vcmBind(r, null as unknown as VcmPhys)).toThrow(kerr("EINVAL", /phys is NULL/));
  });

  it("EALREADY before ENOSPC and EOPNOTSUPP: the same phys again", () => {
    const { kernel } = boot();
    const { vcm } = countingVcm(kernel);
    const r = vcmReserve(vcm, SZ_4K);
    const p = vcmAlloc(vcm, SZ_4K);
    vcmBind(r, p);
    vcm.driver = { ...vcm.driver, bind: undefined } as VcmDriver; // even a context that cannot bind
    expect(() => vcmBind(r, p)).toThrow(kerr("EALREADY"));
    expect(p.bindings).toBe(1);
  });

  it("EADDRINUSE before ENOSPC: another phys while bound", () => {
    const { kernel } = boot();
    const { vcm } = countingVcm(kernel);
    const r = vcmReserve(vcm, SZ_4K);
    vcmBind(r, vcmAlloc(vcm, SZ_4K));
    const big = vcmAlloc(vcm, SZ_64K);
    expect(() => vcmBind(r, big)).toThrow(kerr("EADDRINUSE"));
    expect(big.bindings).toBe(0);
  });

  it("ENOSPC before EOPNOTSUPP: a phys larger than the reservation", () => {
    const { kernel } = boot();
    const { vcm } = countingVcm(kernel, ["res", "phys"]);
    const r = vcmReserve(vcm, SZ_4K);
    expect(() => vcmBind(r, vcmAlloc(vcm, 2 * SZ_4K))).toThrow(kerr("ENOSPC", /does not fit/));
    expect(() => vcmBind(r, vcmAlloc(vcm, SZ_4K))).toThrow(kerr("EOPNOTSUPP", /cannot bind/));
    expect(r.phys).toBeNull();
  });

  it("the driver's error last, with nothing recorded; on success bindings++, phys and boundSize set", () => {
    const { kernel } = boot();
    const { vcm, c } = countingVcm(kernel);
    const r = vcmReserve(vcm, SZ_64K);
    const p = vcmAlloc(vcm, SZ_4K);
    c.failBind = new KernelError("EIO", "hardware says no");
    expect(() => vcmBind(r, p)).toThrow(kerr("EIO"));
    expect([r.phys, r.boundSize, p.bindings]).toEqual([null, 0, 0]);
    vcmBind(r, p);
    expect([r.phys, r.boundSize, p.bindings]).toEqual([p, SZ_4K, 1]);
  });
});

describe("vcmUnbind / vcmFree / vcmUnreserve warnings", () => {
  it("vcmUnbind of an unbound reservation warns and returns null", () => {
    const { kernel } = boot();
    const rec = record(kernel, "vcm_warn");
    const { vcm, c } = countingVcm(kernel);
    const r = vcmReserve(vcm, SZ_4K);
    expect(vcmUnbind(r)).toBeNull();
    expect(warnings(rec)).toEqual([expect.stringMatching(/is not bound/)]);
    expect(c.log).not.toContain("unbind 10000000");
  });

  it("vcmUnbind calls the driver, returns the phys and clears the binding", () => {
    const { kernel } = boot();
    const { vcm, c } = countingVcm(kernel);
    const r = vcmReserve(vcm, SZ_4K);
    const p = vcmAlloc(vcm, SZ_4K);
    vcmBind(r, p);
    expect(vcmUnbind(r)).toBe(p);
    expect([r.phys, r.boundSize, p.bindings]).toEqual([null, 0, 0]);
    expect(c.log).toContain("unbind 10000000");
  });

  it("vcmFree of a bound phys is refused with a warning; the memory stays until unbound", () => {
    const { kernel } = boot();
    const rec = record(kernel, "vcm_warn");
    const { vcm } = countingVcm(kernel);
    const p = fakePhys(kernel, [{ start: 0x40000000, size: SZ_4K }]);
    const r = vcmReserve(vcm, SZ_4K);
    vcmBind(r, p);
    vcmFree(p);
    expect(p.freedCount()).toBe(0);
    expect(p.freed).toBe(false);
    expect(warnings(rec)).toEqual([expect.stringMatching(/still bound 1 time/)]);
    vcmUnbind(r);
    vcmFree(p);
    expect(p.freedCount()).toBe(1);
    expect(() => vcmFree(p)).toThrow(KernelBug);
    vcmUnreserve(r);
  });

  it("vcmUnreserve of a bound reservation warns and unbinds first", () => {
    const { kernel } = boot();
    const rec = record(kernel, "vcm_warn", "vcm_unbind");
    const { vcm, c } = countingVcm(kernel);
    const r = vcmReserve(vcm, SZ_4K);
    const p = vcmAlloc(vcm, SZ_4K);
    vcmBind(r, p);
    vcmUnreserve(r);
    expect(c.log.slice(-2)).toEqual(["unbind 10000000", "unreserve 10000000"]);
    expect(warnings(rec)[0]).toMatch(/still bound; unbinding/);
    expect(rec.of("vcm_unbind")).toHaveLength(1);
    expect(p.bindings).toBe(0);
    vcmFree(p);
  });

  it("vcmDestroyBinding of a phys also bound elsewhere leaves it allocated (with a warning)", () => {
    const { kernel } = boot();
    const rec = record(kernel, "vcm_warn");
    const { vcm } = countingVcm(kernel);
    const r = vcmMakeBinding(vcm, SZ_4K);
    const p = r.phys as VcmPhys;
    const r2 = vcmReserve(vcm, SZ_4K);
    vcmBind(r2, p);
    vcmDestroyBinding(r);
    expect(p.freed).toBe(false);
    expect(p.bindings).toBe(1);
    expect(warnings(rec)).toEqual([expect.stringMatching(/still bound 1 time/)]);
    vcmDestroyBinding(r2);
    expect(p.freed).toBe(true);
    expectNoLeaks(kernel);
  });

  it("vcmUnmap undoes vcmMap: unbinds and releases the reservation, the phys stays", () => {
    const { kernel } = boot();
    const { vcm } = countingVcm(kernel);
    const p = vcmAlloc(vcm, SZ_4K);
    const r = vcmMap(vcm, p);
    expect([r.phys, p.bindings]).toEqual([p, 1]);
    vcmUnmap(r);
    expect([r.released, p.bindings, p.freed]).toEqual([true, 0, false]);
    vcmFree(p);
    expectNoLeaks(kernel);
  });
});

describe("vcmMakeBinding (vcm_make_binding)", () => {
  it("rejects size 0, a size that is not a page multiple (no rounding) and a null context with EINVAL", () => {
    const { kernel } = boot();
    const { vcm, c } = countingVcm(kernel);
    expect(() => vcmMakeBinding(vcm, 0)).toThrow(kerr("EINVAL"));
    expect(() => vcmMakeBinding(vcm, SZ_4K + 1)).toThrow(kerr("EINVAL", /multiple of PAGE_SIZE/));
    expect(() => vcmMakeBinding(null as unknown as Vcm, SZ_4K)).toThrow(kerr("EINVAL"));
    expect(c.log).toEqual([]);
  });

  it("path A: reserve, then phys, then bind; returns a bound reservation", () => {
    const { kernel } = boot();
    const rec = record(kernel, "vcm_bind");
    const { vcm, c } = countingVcm(kernel);
    const r = vcmMakeBinding(vcm, 2 * SZ_4K);
    expect(c.log).toEqual(["res 8192", "phys 8192", "bind 10000000"]);
    expect(r.phys?.size).toBe(2 * SZ_4K);
    expect(rec.of("vcm_bind").map((e) => e.data)).toEqual([
      { vcm: "counting", res_start: 0x1000_0000, size: 8192, nparts: 1 },
    ]);
    vcmDestroyBinding(r);
    expect(c.log.slice(3)).toEqual(["unbind 10000000", "unreserve 10000000"]);
    expectNoLeaks(kernel);
  });

  it("path A: a phys failure releases the reservation; a bind failure releases both", () => {
    const { kernel } = boot();
    const { vcm, c } = countingVcm(kernel);
    c.failPhys = new KernelError("ENOMEM", "no memory");
    expect(() => vcmMakeBinding(vcm, SZ_4K)).toThrow(kerr("ENOMEM"));
    expect(c.log).toEqual(["res 4096", "phys 4096", "unreserve 10000000"]);
    c.log.length = 0;
    c.failBind = new KernelError("EIO", "hw");
    expect(() => vcmMakeBinding(vcm, SZ_4K)).toThrow(kerr("EIO"));
    expect(c.log).toEqual(["res 4096", "phys 4096", "bind 10001000", "unreserve 10001000"]);
    expect(vcm.reservations).toEqual([]);
    expectNoLeaks(kernel);
  });

  it("path A on a context that cannot reserve: EOPNOTSUPP, nothing allocated", () => {
    const { kernel } = boot();
    const { vcm, c } = countingVcm(kernel, ["phys", "bind"]);
    expect(() => vcmMakeBinding(vcm, SZ_4K)).toThrow(kerr("EOPNOTSUPP"));
    expect(c.log).toEqual([]);
  });

  it("path B (map, no alloc): phys then map; the phys error is what propagates", () => {
    const { kernel } = boot();
    const log: string[] = [];
    let fail = false;
    const vcm = vcmInit(
      new Vcm(kernel, {
        start: 0,
        size: SZ_1M,
        driver: {
          unreserve: () => log.push("unreserve"),
          phys: (v, size) => {
            log.push("phys");
            if (fail) throw new KernelError("ENOMEM", "no phys");
            return new VcmPhys(v.kernel, {
              parts: [{ start: 0x4000_0000, size, pfn: null }],
              free: () => log.push("free"),
            });
          },
          map: (v, phys) => {
            log.push("map");
            return new VcmRes(v, 0x5000, phys.size);
          },
        },
      }),
    );
    const r = vcmMakeBinding(vcm, SZ_4K);
    expect([r.start, r.boundSize, r.phys?.bindings, r.refcnt]).toEqual([0x5000, SZ_4K, 1, 1]);
    expect(log).toEqual(["phys", "map"]);
    fail = true;
    expect(() => vcmMakeBinding(vcm, SZ_4K)).toThrow(kerr("ENOMEM", /no phys/));
    vcmDestroyBinding(r);
    expect(log).toEqual(["phys", "map", "phys", "free", "unreserve"]);
  });

  it("uses the driver's alloc instead of res and phys when it has one", () => {
    const { kernel } = boot();
    const log: string[] = [];
    const vcm = vcmInit(
      new Vcm(kernel, {
        start: 0,
        size: SZ_1M,
        driver: {
          unreserve: () => log.push("unreserve"),
          res: () => {
            throw new Error("not used");
          },
          alloc: (v, size, req) => {
            log.push(`alloc ${size} phys=${req.phys} res=${req.res} ${req.allocFlags}/${req.resFlags}`);
            return {
              res: req.res ? new VcmRes(v, 0x8000, size) : null,
              phys: req.phys
                ? new VcmPhys(v.kernel, {
                    parts: [{ start: 0x4000_0000, size, pfn: null }],
                    free: () => log.push("free"),
                  })
                : null,
            };
          },
          bind: () => {
            log.push("bind");
          },
        },
      }),
    );
    const r = vcmMakeBinding(vcm, SZ_4K, 3, 5);
    const p = vcmAlloc(vcm, 100, 7);
    const q = vcmReserve(vcm, 100, 9);
    expect(log).toEqual([
      "alloc 4096 phys=true res=true 3/5",
      "bind",
      "alloc 4096 phys=true res=false 7/0",
      "alloc 4096 phys=false res=true 0/9",
    ]);
    vcmDestroyBinding(r);
    vcmFree(p);
    vcmUnreserve(q);
    expectNoLeaks(kernel);
  });
});

describe("vcmMap (vcm_map) without a map op", () => {
  it("reserves phys.size and binds; a bind failure releases the reservation", () => {
    const { kernel } = boot();
    const { vcm, c } = countingVcm(kernel);
    const p = vcmAlloc(vcm, 3 * SZ_4K);
    c.failBind = new KernelError("EIO", "hw");
    expect(() => vcmMap(vcm, p)).toThrow(kerr("EIO"));
    expect(c.log).toEqual(["phys 12288", "res 12288", "bind 10000000", "unreserve 10000000"]);
    expect(() => vcmMap(vcm, null as unknown as VcmPhys)).toThrow(kerr("EINVAL", /phys is NULL/));
    expect(() => vcmMap(null as unknown as Vcm, p)).toThrow(kerr("EINVAL", /vcm is NULL/));
  });
});

describe("activation (vcm_activate / vcm_deactivate)", () => {
  it("calls the driver only on the 0 -> 1 and 1 -> 0 transitions, and traces them", () => {
    const { kernel } = boot();
    const rec = record(kernel, "vcm_activate", "vcm_deactivate");
    const { vcm, c } = countingVcm(kernel);
    vcmActivate(vcm);
    vcmActivate(vcm);
    vcmActivate(vcm);
    expect([vcm.activations, c.activate]).toEqual([3, 1]);
    vcmDeactivate(vcm);
    vcmDeactivate(vcm);
    expect([vcm.activations, c.deactivate]).toEqual([1, 0]);
    vcmDeactivate(vcm);
    expect([vcm.activations, c.deactivate]).toEqual([0, 1]);
    expect(rec.records().map((r) => r.name)).toEqual(["vcm_activate", "vcm_deactivate"]);
  });

  it("deactivating an inactive context only warns", () => {
    const { kernel } = boot();
    const rec = record(kernel, "vcm_warn");
    const { vcm, c } = countingVcm(kernel);
    vcmDeactivate(vcm);
    expect([vcm.activations, c.deactivate]).toEqual([0, 0]);
    expect(warnings(rec)).toEqual([expect.stringMatching(/not activated/)]);
  });

  it("a failing driver activate propagates and the count stays incremented, as the source", () => {
    const { kernel } = boot();
    const { vcm, c } = countingVcm(kernel);
    c.failActivate = new KernelError("EIO", "MMU would not start");
    expect(() => vcmActivate(vcm)).toThrow(kerr("EIO"));
    expect(vcm.activations).toBe(1);
    vcmActivate(vcm); // 1 -> 2: no retry
    expect(c.activate).toBe(1);
    expect(() => vcmActivate(null as unknown as Vcm)).toThrow(kerr("EINVAL"));
  });

  it("works without driver activate/deactivate ops", () => {
    const { kernel } = boot();
    const { vcm } = countingVcm(kernel, ["res", "phys", "bind"]);
    vcmActivate(vcm);
    vcmDeactivate(vcm);
    expect(vcm.activations).toBe(0);
  });
});

describe("vcmDestroy (vcm_destroy)", () => {
  it("deactivates a still-active context with a warning, then cleans up; later use is a KernelBug", () => {
    const { kernel } = boot();
    const rec = record(kernel, "vcm_warn");
    const { vcm, c } = countingVcm(kernel);
    vcmActivate(vcm);
    vcmActivate(vcm);
    vcmDestroy(vcm);
    expect(c.log).toEqual(["activate", "deactivate", "cleanup"]);
    expect(warnings(rec)).toEqual([expect.stringMatching(/still activated 2/)]);
    expect(vcm.destroyed).toBe(true);
    expect(() => vcmReserve(vcm, SZ_4K)).toThrow(KernelBug);
    expect(vcmLeaks(kernel).contexts).toEqual([]);
  });

  it("an inactive context is cleaned up without deactivation", () => {
    const { kernel } = boot();
    const { vcm, c } = countingVcm(kernel);
    vcmDestroy(vcm);
    expect(c.log).toEqual(["cleanup"]);
  });

  it("destroying vcm_vmm is a KernelBug (the kernel BUG()s)", () => {
    const { kernel } = boot();
    expect(() => vcmDestroy(vcmVmm(kernel))).toThrow(KernelBug);
  });
});

describe("leak report", () => {
  it("shutdown reports reservations and phys still alive as vcm_warn", () => {
    const { kernel } = boot();
    const rec = record(kernel, "vcm_warn");
    const { vcm } = countingVcm(kernel);
    vcmMakeBinding(vcm, PAGE_SIZE);
    expect(vcmLeaks(kernel).reservations).toHaveLength(1);
    kernel.shutdown();
    expect(warnings(rec)).toEqual([
      expect.stringMatching(/never unreserved/),
      expect.stringMatching(/never freed/),
    ]);
  });
});
