import { cpuInit } from "@umm/arch-arm";
import { PAGE_SIZE } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import { spawn } from "../src/index.js";
import { boot, bytes } from "./helpers.js";

describe("user memory", () => {
  it("memWrite, memRead and memFill cross page boundaries", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const va = p.malloc(3 * PAGE_SIZE);
    p.memWrite(va + 10, bytes(2 * PAGE_SIZE, 5));
    expect(p.memRead(va + 10, 2 * PAGE_SIZE)).toEqual(bytes(2 * PAGE_SIZE, 5));
    p.memFill(va + PAGE_SIZE - 3, 0xab, 6);
    expect([...p.memRead(va + PAGE_SIZE - 4, 8)]).toEqual([
      bytes(2 * PAGE_SIZE, 5)[PAGE_SIZE - 14],
      0xab,
      0xab,
      0xab,
      0xab,
      0xab,
      0xab,
      bytes(2 * PAGE_SIZE, 5)[PAGE_SIZE - 7],
    ]);
    expect(p.memRead(va, 0)).toEqual(new Uint8Array(0));
  });

  it("an access that faults anywhere moves no byte (EFAULT)", () => {
    const { kernel } = boot();
    const p = spawn(kernel, { comm: "app" });
    const va = p.malloc(2 * PAGE_SIZE);
    p.munmap(va + PAGE_SIZE, PAGE_SIZE);
    expect(() => p.memWrite(va + PAGE_SIZE - 4, bytes(8, 1))).toThrow(kerr("EFAULT", /not mapped/));
    expect(p.memRead(va + PAGE_SIZE - 4, 4)).toEqual(new Uint8Array(4));
    expect(() => p.memFill(va, 1, 2 * PAGE_SIZE)).toThrow(kerr("EFAULT"));
    expect(p.memRead(va, 4)).toEqual(new Uint8Array(4));
    expect(() => p.memRead(va, 2 * PAGE_SIZE)).toThrow(kerr("EFAULT"));
    const ro = p.mmap({ length: PAGE_SIZE, prot: PROT_READ, flags: MAP_PRIVATE | MAP_ANONYMOUS });
    expect(() => p.memWrite(ro, bytes(1))).toThrow(kerr("EFAULT", /not permitted/));
    expect(() => p.memRead(-1, 1)).toThrow(kerr("EFAULT"));
    expect(() => p.memFill(va, 256, 1)).toThrow(kerr("EINVAL", /not a byte/));
  });

  it("goes through the CPU's data cache when the kernel has a CPU", () => {
    const { kernel, mm } = boot();
    const cpu = cpuInit(kernel);
    const p = spawn(kernel, { comm: "app" });
    const va = p.malloc(PAGE_SIZE);
    const pa = p.space.translate(va);
    p.memWrite(va, bytes(64, 1));
    // write-back cache: the store is in dirty lines, DRAM still holds zeros
    expect(cpu.lineState(pa).dirty).toBe(true);
    const dram = new Uint8Array(64);
    mm.phys.read(pa, dram);
    expect(dram).toEqual(new Uint8Array(64));
    expect(p.memRead(va, 64)).toEqual(bytes(64, 1));
    cpu.cleanRange(p.space, va, 64);
    mm.phys.read(pa, dram);
    expect(dram).toEqual(bytes(64, 1));
    p.memFill(va, 7, 32);
    expect(p.memRead(va, 2)).toEqual(new Uint8Array([7, 7]));
  });
});
