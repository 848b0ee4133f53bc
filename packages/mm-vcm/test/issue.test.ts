// The issue's own tests: driver code limited to vcm_make_binding runs unchanged with and without
// an IOMMU, and one physical allocation bound in two contexts is shared by two devices.
import { createKernel, DMA_BIT_MASK, SZ_1M } from "@umm/kernel-core";
import { firstDiff } from "@umm/kernel-core/testing";
import { cmaInit, cmaRegionRegister } from "@umm/mm-cma";
import { DmaPort, type Mm, mmInit, RunList } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  type Vcm,
  type VcmPhys,
  vcmActivate,
  vcmCmaCreate,
  vcmDestroyBinding,
  vcmMakeBinding,
  vcmMap,
  vcmMmuInit,
  vcmUnmap,
  vcmVmm,
} from "../src/index.js";
import { expectNoLeaks, pattern } from "./helpers.js";
import { softIommu } from "./soft-iommu.js";

const FRAME = 3_110_400; // 1080p NV12
const FRAME_PAGES = Math.ceil(FRAME / 4096) * 4096;

function board() {
  const kernel = createKernel({ seed: 7 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 96 * SZ_1M }] });
  cmaInit(kernel, { sizeMbytes: 0 });
  mm.memblock.reserve(0x44000000, 32 * SZ_1M, "video carve-out");
  mm.memblockFreeAll();
  const region = cmaRegionRegister(kernel, { name: "video", start: 0x44000000, size: 32 * SZ_1M });
  return { kernel, mm, region };
}

/**
 * A "driver" written once against the VCM API: it allocates a frame with vcmMakeBinding, has
 * its device write a pattern by DMA to the bus address, and returns what the CPU reads back
 * through the kernel's VMM mapping and through the physical parts.
 */
function captureFrame(mm: Mm, vcm: Vcm, port: DmaPort, seed: number) {
  const res = vcmMakeBinding(vcm, FRAME_PAGES);
  const data = pattern(FRAME, seed);
  port.write(res.start, data);
  // CPU view 1: the kernel maps the buffer (vcm_vmm) and reads it through K.V
  const kv = vcmMap(vcmVmm(vcm.kernel), res.phys as VcmPhys);
  const viaKv = new Uint8Array(FRAME);
  const runs = mm.kspace.translateRange(kv.start, FRAME, false, new RunList());
  let off = 0;
  for (let i = 0; i < runs.count; i++) {
    mm.phys.read(runs.paddr[i] as number, viaKv, off, runs.len[i] as number);
    off += runs.len[i] as number;
  }
  vcmUnmap(kv);
  // CPU view 2: the physical parts directly
  const viaPhys = new Uint8Array(FRAME);
  off = 0;
  for (const p of (res.phys as VcmPhys).parts) {
    const n = Math.min(p.size, FRAME - off);
    if (n <= 0) break;
    mm.phys.read(p.start, viaPhys, off, n);
    off += n;
  }
  return { res, data, viaKv, viaPhys };
}

describe("the issue's tests", () => {
  it("(1) the same driver function works on an IOMMU context and on a one-to-one CMA context", () => {
    const { kernel, mm, region } = board();
    const iommu = softIommu(kernel);
    const { domain, port: mmuPort } = iommu.masterWithDomain("mfc");
    const mmuVcm = vcmMmuInit(kernel, { start: 0x2000_0000, size: 256 * SZ_1M, domain, name: "mfc" });
    vcmActivate(mmuVcm);
    const cmaVcm = vcmCmaCreate(kernel, region, SZ_1M);
    const directPort = new DmaPort(mm, { id: 42, name: "fimc0", dmaMask: DMA_BIT_MASK(32) });

    const a = captureFrame(mm, mmuVcm, mmuPort, 1);
    const b = captureFrame(mm, cmaVcm, directPort, 2);
    for (const x of [a, b]) {
      expect(firstDiff(x.viaKv, x.data)).toBe(-1);
      expect(firstDiff(x.viaPhys, x.data)).toBe(-1);
    }
    expect(a.res.phys?.count).toBeGreaterThan(1); // scattered behind the IOMMU
    expect(a.res.start).toBeGreaterThanOrEqual(0x2000_0000);
    expect(b.res.phys?.count).toBe(1); // contiguous, at its physical address
    expect(b.res.start).toBe(b.res.phys?.parts[0]?.start);
    vcmDestroyBinding(a.res);
    vcmDestroyBinding(b.res);
    expect(region.free).toBe(region.size);
    expectNoLeaks(kernel);
  });

  it("(2) one VcmPhys bound in two contexts: device A writes, device B reads the same bytes", () => {
    const { kernel, mm } = board();
    const iommu = softIommu(kernel);
    const cam = iommu.masterWithDomain("fimc0");
    const disp = iommu.masterWithDomain("fimd0");
    const camVcm = vcmMmuInit(kernel, {
      start: 0x1000_0000,
      size: 128 * SZ_1M,
      domain: cam.domain,
      name: "fimc0",
    });
    const dispVcm = vcmMmuInit(kernel, {
      start: 0x3000_0000,
      size: 128 * SZ_1M,
      domain: disp.domain,
      name: "fimd0",
    });
    vcmActivate(camVcm);
    vcmActivate(dispVcm);
    const free0 = mm.buddy.nrFreePages;
    const camRes = vcmMakeBinding(camVcm, FRAME_PAGES);
    const dispRes = vcmMap(dispVcm, camRes.phys as VcmPhys);
    expect(camRes.phys?.bindings).toBe(2);
    expect(dispRes.start).not.toBe(camRes.start);
    const data = pattern(FRAME, 3);
    cam.port.write(camRes.start, data);
    const seen = new Uint8Array(FRAME);
    disp.port.read(dispRes.start, seen);
    expect(firstDiff(seen, data)).toBe(-1);
    // and the other way round
    disp.port.fill(dispRes.start + 100, 0x5a, 16);
    const four = new Uint8Array(16);
    cam.port.read(camRes.start + 100, four);
    expect([...four]).toEqual(new Array(16).fill(0x5a));
    vcmUnmap(dispRes);
    vcmDestroyBinding(camRes);
    expect(mm.buddy.nrFreePages).toBe(free0);
    expectNoLeaks(kernel);
  });
});
