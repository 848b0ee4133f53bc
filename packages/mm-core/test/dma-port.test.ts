import { DMA_BIT_MASK, KernelError, TraceRecorder } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  DmaPort,
  devDmaPort,
  devDmaPortSet,
  devDmaPorts,
  devDmaPortsClear,
  type RunList,
  type Translator,
} from "../src/index.js";
import { bootMm, pattern } from "./helpers.js";

describe("DMA ports", () => {
  it("a direct device reads and writes physical memory; observers see each run", () => {
    const { mm } = bootMm();
    const seen: string[] = [];
    mm.addDmaObserver({
      onDmaRead: (a, pa, n) => seen.push(`R ${a.name} ${pa.toString(16)} ${n}`),
      onDmaWrite: (a, pa, n) => seen.push(`W ${a.name} ${pa.toString(16)} ${n}`),
    });
    const port = new DmaPort(mm, { id: 3, name: "fimc0", dmaMask: DMA_BIT_MASK(32) });
    const data = pattern(5000);
    port.write(0x40100000, data);
    const back = new Uint8Array(5000);
    port.read(0x40100000, back);
    expect(back).toEqual(data);
    expect(seen).toEqual(["W fimc0 40100000 5000", "R fimc0 40100000 5000"]);
    expect(port.bytesRead + port.bytesWritten).toBe(10000);
  });

  it("beyond the DMA mask is a bus error: EIO, an event, and no byte moves", () => {
    const { mm, kernel } = bootMm();
    const rec = new TraceRecorder(kernel.trace, { events: ["dma_bus_error"] });
    const port = new DmaPort(mm, { id: 4, name: "mfc", dmaMask: 0x400fffff });
    mm.phys.fill(0x400ff000, 0x77, 0x2000);
    expect(() => port.write(0x400ff000, new Uint8Array(0x2000))).toThrow(
      kerr("EIO", /beyond the DMA mask 0x400fffff/),
    );
    expect(mm.phys.read8(0x400ff000)).toBe(0x77);
    expect(rec.records()).toHaveLength(1);
    expect(() => port.read(0x30000000, new Uint8Array(4))).toThrow(kerr("EIO"));
  });

  it("through a translator: runs come from it, and a fault moves nothing", () => {
    const { mm } = bootMm();
    const scatter: Translator = {
      translate(daddr, len, _write, out: RunList) {
        // D.V page k maps to P.A page (7 - k) of a 8-page window
        for (let p = daddr; p < daddr + len; ) {
          const page = Math.floor(p / 4096);
          if (page >= 8) throw new KernelError("EFAULT", `page fault at ${p.toString(16)}`);
          const n = Math.min(4096 - (p % 4096), daddr + len - p);
          out.push(0x40200000 + (7 - page) * 4096 + (p % 4096), n);
          p += n;
        }
      },
    };
    const port = new DmaPort(mm, { id: 5, name: "g2d", dmaMask: DMA_BIT_MASK(32) }, scatter);
    const data = pattern(8192, 4);
    port.write(4096, data);
    expect(mm.phys.view(0x40206000, 4096)).toEqual(data.subarray(0, 4096));
    expect(mm.phys.view(0x40205000, 4096)).toEqual(data.subarray(4096));
    const before = mm.phys.view(0x40200000, 4096).slice();
    expect(() => port.write(7 * 4096, new Uint8Array(8192).fill(1))).toThrow(kerr("EFAULT"));
    expect(mm.phys.view(0x40200000, 4096)).toEqual(before);
    expect(port.resolve(4096, 8192)).toEqual([
      { paddr: 0x40206000, len: 4096 },
      { paddr: 0x40205000, len: 4096 },
    ]);
  });

  it("copy and fill work inside the device's address space", () => {
    const { mm } = bootMm();
    const port = new DmaPort(mm, { id: 6, name: "mdma", dmaMask: DMA_BIT_MASK(32) });
    port.fill(0x40300000, 0x42, 64);
    port.copy(0x40301000, 0x40300000, 64);
    expect(mm.phys.view(0x40301000, 64).every((b) => b === 0x42)).toBe(true);
    const nodma = new DmaPort(mm, { id: 7, name: "nodma", dmaMask: null });
    expect(() => nodma.fill(0x40300000, 0, 4)).toThrow(kerr("EIO", /no DMA mask/));
  });

  it("a device with a dma_pfn_offset reaches RAM at bus address = physical - offset", () => {
    const { mm } = bootMm();
    // a 24-bit master: bus 0x000000..0xffffff is physical 0x40000000..0x40ffffff
    const port = new DmaPort(mm, {
      id: 8,
      name: "isa-like",
      dmaMask: DMA_BIT_MASK(24),
      dmaPfnOffset: 0x40000,
    });
    port.write(0x1000, new Uint8Array([9, 8, 7]));
    expect(mm.phys.read8(0x40001002)).toBe(7);
    expect(port.resolve(0x1000, 3)).toEqual([{ paddr: 0x40001000, len: 3 }]);
    expect(() => port.write(0xfffffe, new Uint8Array(4))).toThrow(
      kerr("EIO", /beyond the DMA mask 0xffffff/),
    );
  });

  it("boards wire ports per device; drivers look them up by index", () => {
    const { mm } = bootMm();
    const mfc = { id: 9, name: "mfc", dmaMask: DMA_BIT_MASK(32) };
    const other = { id: 10, name: "g2d", dmaMask: DMA_BIT_MASK(32) };
    const left = new DmaPort(mm, mfc);
    const right = new DmaPort(mm, mfc);
    devDmaPortSet(mfc, left, 0);
    devDmaPortSet(mfc, right, 1);
    expect(devDmaPort(mfc)).toBe(left);
    expect(devDmaPort(mfc, 1)).toBe(right);
    expect(devDmaPorts(mfc)).toEqual([left, right]);
    expect(() => devDmaPortSet(mfc, left, 0)).toThrow(kerr("EBUSY"));
    expect(() => devDmaPortSet(other, left, 0)).toThrow(kerr("EINVAL", /dma port of mfc/));
    expect(() => devDmaPort(other)).toThrow(kerr("ENODEV", /g2d has no dma port 0/));
    devDmaPortsClear(mfc);
    expect(devDmaPorts(mfc)).toEqual([]);
  });
});
