// Invariants over random operations: live IOVA ranges never overlap and are all given back; every
// byte one side writes is what the other reads after the right map, sync and unmap, on a direct
// device, behind the SysMMU and through swiotlb, with no coherency hazard.

import { PAGE_SIZE, pageAlign, SZ_1M, SZ_16M } from "@umm/kernel-core";
import { firstDiff } from "@umm/kernel-core/testing";
import { GFP_KERNEL } from "@umm/mm-core";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_MAPPING_ERROR,
  DMA_TO_DEVICE,
  type DmaDataDirection,
  dmaMapPage,
  dmaMapSingle,
  dmaUnmapPage,
  dmaUnmapSingle,
} from "../src/index.js";
import {
  boot,
  cpuRead,
  DRAM,
  devRead,
  directDevice,
  expectNoAliases,
  IOVA_BASE,
  pattern,
  sysmmuDevice,
} from "./helpers.js";

afterEach(expectNoAliases);

describe("IOVA ranges", () => {
  it("live mappings never overlap, stay in the window, and all come back", () => {
    const r = boot();
    const { dev, mapping } = sysmmuDevice(r, "fimc0", 64 * SZ_1M);
    const pfn = r.mm.buddy.allocPages(10, GFP_KERNEL)!;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            pages: fc.integer({ min: 1, max: 700 }),
            offset: fc.integer({ min: 0, max: 4095 }),
            drop: fc.nat(10),
          }),
          {
            maxLength: 40,
          },
        ),
        (ops) => {
          const live: { addr: number; size: number }[] = [];
          for (const op of ops) {
            const size = op.pages * PAGE_SIZE - op.offset;
            const addr = dmaMapPage(dev, pfn, op.offset, size, DMA_TO_DEVICE);
            if (addr !== DMA_MAPPING_ERROR) {
              const lo = addr - op.offset;
              const hi = lo + pageAlign(size + op.offset);
              expect(lo).toBeGreaterThanOrEqual(IOVA_BASE);
              expect(hi).toBeLessThanOrEqual(IOVA_BASE + 64 * SZ_1M);
              for (const l of live) {
                const llo = l.addr - (l.addr % PAGE_SIZE);
                const lhi = llo + pageAlign(l.size + (l.addr % PAGE_SIZE));
                expect(hi <= llo || lhi <= lo).toBe(true);
              }
              live.push({ addr, size });
            }
            if (op.drop < 4 && live.length) {
              const [l] = live.splice(op.drop % live.length, 1);
              dmaUnmapPage(dev, l!.addr, l!.size, DMA_TO_DEVICE);
            }
          }
          for (const l of live) dmaUnmapPage(dev, l.addr, l.size, DMA_TO_DEVICE);
          expect(mapping.usedPages).toBe(0);
          expect(mapping.liveRanges).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("bytes cross the CPU/device boundary only through the right maintenance", () => {
  const rigs = {
    direct: () => {
      const r = boot();
      return { r, ...directDevice(r, "dev") };
    },
    sysmmu: () => {
      const r = boot();
      return { r, ...sysmmuDevice(r, "dev") };
    },
    swiotlb: () => {
      const r = boot({ dmaZoneSize: SZ_16M, swiotlb: { size: 2 * SZ_1M, belowPhys: DRAM + SZ_16M } });
      return { r, ...directDevice(r, "dev", { dmaMask: 0xffffff, dmaPfnOffset: DRAM / PAGE_SIZE }) };
    },
  };
  for (const [name, make] of Object.entries(rigs)) {
    it(`${name}: what the CPU wrote the device reads, what the device wrote the CPU reads`, () => {
      const { r, dev, port } = make();
      const pfn = r.mm.buddy.allocPages(6, GFP_KERNEL)!; // 256 KiB
      const va = r.mm.kspace.physToVirt(pfn * PAGE_SIZE);
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 64 * 1024 }),
          fc.integer({ min: 1, max: 128 * 1024 }),
          fc.constantFrom<DmaDataDirection>(DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_BIDIRECTIONAL),
          fc.integer({ min: 1, max: 1000 }),
          (off, size, dir, seed) => {
            const out = pattern(size, seed);
            const back = pattern(size, seed + 1);
            r.cpu.write(r.mm.kspace, va + off, out);
            const addr = dmaMapSingle(dev, va + off, size, dir);
            expect(addr).not.toBe(DMA_MAPPING_ERROR);
            if (dir !== DMA_FROM_DEVICE) expect(firstDiff(devRead(port, addr, size), out)).toBe(-1);
            if (dir !== DMA_TO_DEVICE) port.write(addr, back);
            dmaUnmapSingle(dev, addr, size, dir);
            expect(firstDiff(cpuRead(r, va + off, size), dir === DMA_TO_DEVICE ? out : back)).toBe(-1);
          },
        ),
        { numRuns: 60 },
      );
      expect(r.cpu.checker.total).toBe(0);
    });
  }
});
