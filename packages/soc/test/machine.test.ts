// bootBoard: the shipped boards boot into machines whose masters reach memory the way the board
// says (through their own SysMMU domain, or directly with CMA and swiotlb), and whose shutdown
// gives everything back.
import { cpuOf } from "@umm/arch-arm";
import {
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
  dmaAllocCoherent,
  dmaFreeCoherent,
  dmaMappingError,
  dmaMapSingle,
  dmaUnmapSingle,
  swiotlbRange,
  swiotlbStats,
} from "@umm/dma-mapping-arm";
import { iommuIovaToPhys } from "@umm/iommu-core";
import { type Device, PAGE_SIZE, SZ_16M, SZ_64K } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { cmaGetMap } from "@umm/mm-cma";
import { devDmaPort, GFP_KERNEL } from "@umm/mm-core";
import { VCM_DEV_MFC } from "@umm/mm-vcm";
import { exynosSysmmuOf } from "@umm/plat-s5p-sysmmu";
import {
  UMP_REF_DRV_CONSTRAINT_NONE,
  umpDdHandleCreateFromSecureId,
  umpLiveHandles,
  umpOpen,
  umpRefDrvAllocate,
  umpReferenceRelease,
  umpSecureIdGet,
  umpVcmConstraints,
} from "@umm/ump";
import { describe, expect, it } from "vitest";
import { boardCmaMap, bootBoard, EXYNOS4210_BOARD, type Machine, S5PV210_BOARD } from "../src/index.js";

/** A lowmem page with `bytes` written through the CPU cache; its kernel address and P.A. */
function kernelBuffer(m: Machine, bytes: Uint8Array, above = 0) {
  const held: number[] = [];
  let pfn = m.mm.buddy.allocPages(0, GFP_KERNEL, { tag: "test buffer" })!;
  while (pfn * PAGE_SIZE < above) {
    held.push(pfn);
    pfn = m.mm.buddy.allocPages(0, GFP_KERNEL, { tag: "test buffer" })!;
  }
  for (const p of held) m.mm.buddy.freePages(p, 0);
  const pa = pfn * PAGE_SIZE;
  const va = m.mm.kspace.physToVirt(pa);
  m.cpu.write(m.mm.kspace, va, bytes);
  return { pfn, pa, va, free: () => m.mm.buddy.freePages(pfn, 0) };
}

const PATTERN = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);

describe("the Exynos4210 default board", () => {
  it("boots every SysMMU and master, and shuts down with an empty leak report", () => {
    const m = bootBoard(EXYNOS4210_BOARD, { seed: 1 });
    const b = EXYNOS4210_BOARD;
    expect([...m.sysmmus.keys()]).toEqual(b.sysmmus.map((s) => s.name));
    for (const dev of m.sysmmus.values()) expect(exynosSysmmuOf(dev)).not.toBeNull();
    expect([...m.devices.keys()]).toEqual(b.devices.map((d) => d.name));
    for (const d of b.devices) {
      const mapping = m.iommuMapping(d.name);
      if (d.iommus.length === 0) {
        expect(mapping).toBeNull();
        expect(m.dmaPorts(d.name)).toHaveLength(1);
        continue;
      }
      expect(mapping?.devices).toEqual([m.devices.get(d.name)]);
      expect(m.dmaPorts(d.name)).toHaveLength(d.iommus.length);
      // each port goes through the SysMMU the board put in front of it
      d.iommus.forEach((s, i) => {
        expect(m.dmaPort(d.name, i).translator).toBe(exynosSysmmuOf(m.sysmmus.get(s)!)!.mmu);
        // drivers find the same port through mm-core's registry
        expect(devDmaPort(m.devices.get(d.name)!, i)).toBe(m.dmaPort(d.name, i));
      });
    }
    expect(b.devices.filter((d) => d.iommus.length === 0).map((d) => d.name)).toEqual(["sensor0"]);
    const shape = m.describe();
    expect(shape.defaultCmaArea).toBe("common");
    expect(shape.devices.map((d) => d.name)).toEqual(b.devices.map((d) => d.name).sort());
    expect(shape.devices.find((d) => d.name === "mfc")).toMatchObject({
      sysmmus: ["MFC_L", "MFC_R"],
      ports: 2,
      cmaArea: "mfc-right@6a000000", // the reusable pool; the no-map one is left to the driver
      coherentPool: null,
    });
    expect(m.devPaths).toEqual([
      "/dev/dma_heap/common",
      "/dev/dma_heap/default_cma_region",
      "/dev/dma_heap/system",
      "/dev/dri/card0", // FIMD's DRM device
      "/dev/pmm",
      "/dev/udmabuf",
      "/dev/ump",
      "/dev/video0", // FIMC0 capture (camera)
      "/dev/video1", // FIMC1..3 mem-to-mem scalers
      "/dev/video2",
      "/dev/video3",
      "/dev/video4", // MFC decoder
      "/dev/video5", // MFC encoder
    ]);
    expect(cmaGetMap(m.kernel)).toBe(boardCmaMap(b)); // the 2010 map, from cma.map=
    expect(m.stats().cma.map((r) => r.name)).toEqual([
      "mfc-left@4a000000",
      "mfc_fw",
      "mfc_b1",
      "common",
      "pmm:general",
      "mfc-right@6a000000",
      "mfc_b2",
    ]);
    const report = m.shutdown();
    expect(report.leaks).toEqual([]);
    expect(m.isDown).toBe(true);
    expect(m.shutdown()).toBe(report);
    expect(() => m.dmaPort("fimc0")).toThrow(kerr("ENODEV", /shut down/));
  });

  it("every master's DMA reaches only what its own domain maps", () => {
    // the bare machine (no drivers): every other master's domain is empty, so it must fault
    const m = bootBoard(EXYNOS4210_BOARD, { seed: 2, drivers: [] });
    const masters = EXYNOS4210_BOARD.devices.filter((d) => d.iommus.length > 0).map((d) => d.name);
    let faults = 0;
    for (const a of masters) {
      const dev = m.devices.get(a)!;
      const buf = kernelBuffer(m, PATTERN);
      const daddr = dmaMapSingle(dev, buf.va, PATTERN.length, DMA_TO_DEVICE);
      expect(dmaMappingError(dev, daddr)).toBe(0);
      expect(iommuIovaToPhys(m.iommuMapping(a)!.domain, daddr)).toBe(buf.pa);
      // every port of A reads the bytes (the MFC's left and right SysMMUs share its domain)
      for (const port of m.dmaPorts(a)) {
        const got = new Uint8Array(PATTERN.length);
        port.read(daddr, got);
        expect(got).toEqual(PATTERN);
      }
      // A at an address it did not map, and at the buffer's physical address: faults
      const seen = new Uint8Array(PATTERN.length).fill(0x55);
      expect(() => m.dmaPort(a).read(daddr + PAGE_SIZE, seen)).toThrow(kerr("EFAULT", /PAGE FAULT/));
      expect(() => m.dmaPort(a).read(buf.pa, seen)).toThrow(kerr("EFAULT", /PAGE FAULT/));
      faults += 2;
      // every other master at the same D.V: a SysMMU page fault, no byte moved either way
      for (const b of masters) {
        if (b === a) continue;
        for (const port of m.dmaPorts(b)) {
          expect(() => port.read(daddr, seen)).toThrow(kerr("EFAULT", /PAGE FAULT/));
          expect(() => port.write(daddr, new Uint8Array(8).fill(0xee))).toThrow(kerr("EFAULT", /PAGE FAULT/));
          faults += 2;
        }
      }
      expect(seen).toEqual(new Uint8Array(PATTERN.length).fill(0x55));
      const mem = new Uint8Array(PATTERN.length);
      m.mm.phys.read(buf.pa, mem);
      expect(mem).toEqual(PATTERN);
      dmaUnmapSingle(dev, daddr, PATTERN.length, DMA_TO_DEVICE);
      expect(() => m.dmaPort(a).read(daddr, seen)).toThrow(kerr("EFAULT", /PAGE FAULT/));
      faults++;
      buf.free();
    }
    const st = m.stats();
    expect(st.faults.sysmmu).toEqual({ PAGE: faults });
    expect(st.faults.iommu).toBe(faults);
    expect(st.iommu).toEqual({ maps: masters.length, unmaps: masters.length, mappedBytes: 0 });
    expect(m.shutdown().leaks).toEqual([]);
  });

  it("with the media drivers bound, no other master ever reaches a master's buffer", () => {
    const m = bootBoard(EXYNOS4210_BOARD, { seed: 4 });
    const masters = EXYNOS4210_BOARD.devices.filter((d) => d.iommus.length > 0).map((d) => d.name);
    for (const a of masters) {
      const dev = m.devices.get(a)!;
      const buf = kernelBuffer(m, PATTERN);
      const daddr = dmaMapSingle(dev, buf.va, PATTERN.length, DMA_TO_DEVICE);
      for (const b of masters) {
        if (b === a) continue;
        // a driver of B may map its own memory at the same D.V (each master has its own window);
        // then it is a different page — never A's
        const pa = iommuIovaToPhys(m.iommuMapping(b)!.domain, daddr);
        expect(pa === 0 || Math.floor(pa / PAGE_SIZE) !== Math.floor(buf.pa / PAGE_SIZE)).toBe(true);
        if (pa === 0) {
          for (const port of m.dmaPorts(b)) {
            expect(() => port.read(daddr, new Uint8Array(8))).toThrow(kerr("EFAULT", /PAGE FAULT/));
          }
        }
      }
      dmaUnmapSingle(dev, daddr, PATTERN.length, DMA_TO_DEVICE);
      buf.free();
    }
    expect(m.shutdown().leaks).toEqual([]);
  });

  it("a device writes through its domain and the CPU reads it after the sync", () => {
    const m = bootBoard(EXYNOS4210_BOARD, { seed: 3, dmaDebug: true });
    const mfc = m.devices.get("mfc")!;
    const buf = kernelBuffer(m, new Uint8Array(16));
    const daddr = dmaMapSingle(mfc, buf.va, 16, DMA_FROM_DEVICE);
    expect(dmaMappingError(mfc, daddr)).toBe(0);
    m.dmaPort("mfc", 1).write(daddr, PATTERN); // the right port, through MFC_R
    dmaUnmapSingle(mfc, daddr, 16, DMA_FROM_DEVICE); // invalidates the CPU's lines
    const got = new Uint8Array(PATTERN.length);
    m.cpu.read(m.mm.kspace, buf.va, got);
    expect(got).toEqual(PATTERN);
    buf.free();
    const st = m.stats();
    expect(st.coherencyHazards.total).toBe(0);
    expect(st.dmaDebugErrors.total).toBe(0);
    expect(m.shutdown().leaks).toEqual([]);
  });

  it("UMP allocates from the carve-out, or from a master's VCM context when the constraints name one", () => {
    const m = bootBoard(EXYNOS4210_BOARD, { seed: 4 });
    const p = m.spawn("decoder", { uid: 1000 });
    umpOpen(p);
    const plain = umpRefDrvAllocate(p, 3 * SZ_64K, UMP_REF_DRV_CONSTRAINT_NONE)!;
    const forMfc = umpRefDrvAllocate(p, 3 * SZ_64K, umpVcmConstraints(VCM_DEV_MFC))!;
    const [a, b] = umpLiveHandles(m.kernel);
    const byId = new Map(umpLiveHandles(m.kernel).map((h) => [h.secureId, h]));
    expect(a && b).toBeTruthy();
    const ub = EXYNOS4210_BOARD.ump!;
    const inCarveout = (addr: number) => addr >= ub.base && addr < ub.base + ub.size;
    expect(byId.get(umpSecureIdGet(plain))!.blocks.every((x) => inCarveout(x.addr))).toBe(true);
    expect(byId.get(umpSecureIdGet(forMfc))!.blocks.some((x) => inCarveout(x.addr))).toBe(false);
    expect(m.ump?.backend.name).toBe("dedicated+vcm");
    umpReferenceRelease(plain);
    umpReferenceRelease(forMfc);
    p.exit(0);
    expect(m.shutdown().leaks).toEqual([]);
  });
});

describe("the S5PV210 board: no SysMMU, direct DMA with CMA, a 24-bit master behind swiotlb", () => {
  it("boots, bounces the 24-bit master's streaming mapping of a high buffer, and shuts down clean", () => {
    const m = bootBoard(S5PV210_BOARD, { seed: 1 });
    expect(m.sysmmus.size).toBe(0);
    for (const name of m.devices.keys()) {
      expect(m.iommuMapping(name)).toBeNull();
      expect(m.dmaPort(name).translator).toBeNull();
    }
    const dma24 = m.devices.get("dma24")!;
    const window = { lo: 0x20000000, hi: 0x20000000 + SZ_16M };
    const pool = swiotlbRange(m.kernel)!;
    expect(pool.start >= window.lo && pool.end <= window.hi).toBe(true);

    // to the device: the data is copied into a bounce slot the device can reach
    const out = kernelBuffer(m, PATTERN, window.hi);
    const daddr = dmaMapSingle(dma24, out.va, PATTERN.length, DMA_TO_DEVICE);
    expect(dmaMappingError(dma24, daddr)).toBe(0);
    expect(daddr + 0x20000000).toBeGreaterThanOrEqual(pool.start);
    expect(daddr + PATTERN.length).toBeLessThanOrEqual(SZ_16M);
    const got = new Uint8Array(PATTERN.length);
    m.dmaPort("dma24").read(daddr, got);
    expect(got).toEqual(PATTERN);
    expect(() => m.dmaPort("dma24").read(out.pa - 0x20000000, got)).toThrow(kerr("EIO", /DMA mask/));
    dmaUnmapSingle(dma24, daddr, PATTERN.length, DMA_TO_DEVICE);

    // from the device: written into the slot, copied back at unmap
    const back = kernelBuffer(m, new Uint8Array(PATTERN.length), window.hi);
    const d2 = dmaMapSingle(dma24, back.va, PATTERN.length, DMA_FROM_DEVICE);
    m.dmaPort("dma24").write(d2, PATTERN.slice().reverse());
    dmaUnmapSingle(dma24, d2, PATTERN.length, DMA_FROM_DEVICE);
    m.cpu.read(m.mm.kspace, back.va, got);
    expect(got).toEqual(PATTERN.slice().reverse());
    expect(m.stats().swiotlbBounces).toBe(2);
    expect(swiotlbStats(m.kernel).io_tlb_used).toBe(0);
    out.free();
    back.free();

    // coherent memory: the 24-bit master's own pool; the MFC's pool; a FIMC's from CMA
    const c24 = dmaAllocCoherent(dma24, PAGE_SIZE)!;
    expect(c24.dmaAddr).toBe(0xc00000); // dma24-pool@20c00000 at bus address 0xc00000
    const fimc = m.devices.get("fimc0")!;
    const cf = dmaAllocCoherent(fimc, 4 * PAGE_SIZE)!;
    const common = m.cmaRegion("common");
    expect(cf.dmaAddr >= common.base && cf.dmaAddr < common.end).toBe(true);
    m.dmaPort("fimc0").write(cf.dmaAddr, PATTERN);
    const mem = new Uint8Array(PATTERN.length);
    m.mm.phys.read(cf.dmaAddr, mem);
    expect(mem).toEqual(PATTERN);
    expect(m.stats().cma.find((r) => r.name === "common")).toMatchObject({ usedPages: 4, peakPages: 4 });
    dmaFreeCoherent(dma24, PAGE_SIZE, c24.cpuAddr, c24.dmaAddr);
    dmaFreeCoherent(fimc, 4 * PAGE_SIZE, cf.cpuAddr, cf.dmaAddr);
    expect(m.stats().cma.find((r) => r.name === "common")).toMatchObject({ usedPages: 0, peakPages: 4 });
    expect(cpuOf(m.kernel).checker.counts().alias).toBe(0);
    expect(m.shutdown().leaks).toEqual([]);
  });

  it("its MFC gets its no-map pool as coherent memory and its reusable pool as CMA area", () => {
    const m = bootBoard(S5PV210_BOARD);
    expect(m.describe().devices.find((d) => d.name === "mfc")).toMatchObject({
      coherentPool: "mfc-left@2a000000",
      cmaArea: "mfc-right@4a000000",
    });
    const mfc: Device = m.devices.get("mfc")!;
    const c = dmaAllocCoherent(mfc, SZ_64K)!;
    const left = m.reservedMem.get("mfc-left@2a000000")!;
    expect(c.dmaAddr >= left.base && c.dmaAddr < left.base + left.size).toBe(true);
    dmaFreeCoherent(mfc, SZ_64K, c.cpuAddr, c.dmaAddr);
    expect(m.shutdown().leaks).toEqual([]);
  });
});

describe("the kernel's UMP handle", () => {
  it("a buffer a driver still references through the kernel API is a leak", () => {
    const m = bootBoard(EXYNOS4210_BOARD);
    const p = m.spawn("app");
    umpOpen(p);
    const h = umpRefDrvAllocate(p, SZ_64K, UMP_REF_DRV_CONSTRAINT_NONE)!;
    const kh = umpDdHandleCreateFromSecureId(m.kernel, umpSecureIdGet(h))!;
    expect(kh).not.toBeNull();
    p.exit(0);
    const { leaks } = m.shutdown();
    expect(leaks).toEqual([{ what: "ump", detail: expect.stringMatching(/1 through the kernel API/) }]);
  });
});
