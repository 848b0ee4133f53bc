// vcm_vmm: the kernel's address space as a VCM context.
import { KernelBug, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { VMALLOC_END, VMALLOC_START } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  VcmPhys,
  vcmActivate,
  vcmAlloc,
  vcmDeactivate,
  vcmDestroy,
  vcmDestroyBinding,
  vcmFree,
  vcmMakeBinding,
  vcmMap,
  vcmPhysAlloc,
  vcmReserve,
  vcmUnmap,
  vcmVmm,
} from "../src/index.js";
import { boot, expectNoLeaks, pattern, record } from "./helpers.js";

describe("vcmVmm (vcm_vmm)", () => {
  it("is one static context per kernel: start 0, size ~0, always active", () => {
    const { kernel } = boot();
    const vmm = vcmVmm(kernel);
    expect(vcmVmm(kernel)).toBe(vmm);
    expect([vmm.start, vmm.size, vmm.activations, vmm.name]).toEqual([0, 0xffffffff, 1, "vcm_vmm"]);
    const rec = record(kernel, "vcm_activate", "vcm_deactivate");
    vcmActivate(vmm);
    vcmDeactivate(vmm);
    expect(vmm.activations).toBe(1);
    expect(rec.records()).toEqual([]); // never a 0 <-> 1 transition
    expect(() => vcmDestroy(vmm)).toThrow(KernelBug);
  });

  it("has no res or bind: vcmReserve and vcmBind are EOPNOTSUPP", () => {
    const { kernel } = boot();
    const vmm = vcmVmm(kernel);
    expect(() => vcmReserve(vmm, SZ_4K)).toThrow(kerr("EOPNOTSUPP"));
    const p = vcmAlloc(vmm, SZ_4K);
    const r = vcmMap(vmm, p);
    vcmUnmap(r);
    // a reservation of another context cannot be bound here either: check the op directly
    expect(vmm.driver.bind).toBeUndefined();
    vcmFree(p);
  });

  it("vcmMakeBinding gives a kernel virtual address the CPU can use; memory is 4 KiB pages", () => {
    const { kernel, mm } = boot();
    const r = vcmMakeBinding(vcmVmm(kernel), 5 * SZ_4K);
    expect(r.start).toBeGreaterThanOrEqual(VMALLOC_START);
    expect(r.start + r.resSize).toBeLessThanOrEqual(VMALLOC_END);
    expect(r.phys?.parts.every((p) => p.size === SZ_4K)).toBe(true);
    const data = pattern(r.boundSize, 9);
    // write through K.V page by page, read through the physical parts
    for (let off = 0; off < r.boundSize; off += SZ_4K) {
      mm.phys.write(mm.kspace.translate(r.start + off, true), data, off, SZ_4K);
    }
    const back = new Uint8Array(r.boundSize);
    let off = 0;
    for (const p of (r.phys as VcmPhys).parts) {
      mm.phys.read(p.start, back, off, p.size);
      off += p.size;
    }
    expect(firstDiff(back, data)).toBe(-1);
    const kaddr = r.start;
    vcmDestroyBinding(r);
    expect(() => mm.kspace.translate(kaddr)).toThrow(kerr("EFAULT"));
    expectNoLeaks(kernel);
  });

  it("maps memory allocated for another context (scattered, large pages) contiguously", () => {
    const { kernel, mm } = boot();
    const p = vcmPhysAlloc(kernel, SZ_1M + SZ_64K + SZ_4K, 0, [8, 4, 0]);
    const r = vcmMap(vcmVmm(kernel), p);
    let va = r.start;
    for (const part of p.parts) {
      for (let o = 0; o < part.size; o += SZ_4K) expect(mm.kspace.translate(va + o)).toBe(part.start + o);
      va += part.size;
    }
    expect(p.bindings).toBe(1);
    vcmUnmap(r);
    expect(p.bindings).toBe(0);
    vcmFree(p);
    expectNoLeaks(kernel);
  });

  it("refuses parts without page frames (EOPNOTSUPP), binding nothing", () => {
    const { kernel } = boot();
    const noPage = new VcmPhys(kernel, {
      parts: [{ start: 0x4000_0000, size: SZ_4K, pfn: null }],
      free: () => {},
    });
    expect(() => vcmMap(vcmVmm(kernel), noPage)).toThrow(kerr("EOPNOTSUPP", /page frames/));
    expect(noPage.bindings).toBe(0);
    expect(vcmVmm(kernel).reservations).toEqual([]);
  });

  it("a full vmalloc area makes vcmMakeBinding throw ENOMEM with the pages given back", () => {
    const { kernel, mm } = boot({ size: 512 * SZ_1M });
    const vmm = vcmVmm(kernel);
    const rs = [];
    for (;;) {
      const free0 = mm.buddy.nrFreePages;
      try {
        rs.push(vcmMakeBinding(vmm, 4 * SZ_1M));
      } catch (e) {
        expect((e as Error).message).toMatch(/^ENOMEM: /);
        expect(mm.buddy.nrFreePages).toBe(free0);
        break;
      }
    }
    expect(rs.length).toBeGreaterThan(50);
    for (const r of rs) vcmDestroyBinding(r);
    expectNoLeaks(kernel);
  });
});
