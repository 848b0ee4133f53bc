/**
 * Test helpers for PMM users:
 *
 * - `bootPmm(opts)`: a booted kernel with DRAM, PMM reserved before `memblockFreeAll` and
 *   initialised after it, optionally with a CPU cache model;
 * - `expectPmmConsistent(kernel)`: the RFC's invariants — areas and holes tile every pool
 *   exactly, no two holes touch, areas are page-aligned and start on their reported alignment.
 *
 * ```ts
 * const { kernel } = bootPmm({ cmdline: "pmm=32M", cpu: true });
 * expectPmmConsistent(kernel);
 * ```
 * @module
 */
import { type Cpu, type CpuOpts, cpuInit } from "@umm/arch-arm";
import { createKernel, type Kernel, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { type Mm, mmInit } from "@umm/mm-core";
import { expect } from "vitest";
import { pmmInfo, pmmItems } from "./debug.js";
import { type PmmInitOpts, pmmInit, pmmReserve } from "./init.js";
import type { PmmMemTypeDesc } from "./types.js";

/** Options of `bootPmm`. */
export interface BootPmmOpts {
  /** DRAM bytes at `ramStart` (default 128 MiB) */
  readonly size?: number;
  /** start of DRAM (default 0x40000000) */
  readonly ramStart?: number;
  /** kernel seed (default 1) */
  readonly seed?: number;
  /** kernel command line (default "pmm=32M") */
  readonly cmdline?: string;
  /** the platform's memory types (default: PMM_MEM_GENERAL only) */
  readonly types?: readonly PmmMemTypeDesc[];
  /** options of `pmmInit` */
  readonly init?: PmmInitOpts;
  /** attach a CPU cache model: true for the defaults (ideal, strict off) or its options */
  readonly cpu?: boolean | CpuOpts;
  /** runs between `pmmReserve` and `memblockFreeAll` (more reservations, CMA declarations) */
  readonly setup?: (kernel: Kernel, mm: Mm) => void;
}

/** A booted kernel with PMM: mmInit, pmmReserve, `setup`, memblockFreeAll, pmmInit, cpuInit. */
export function bootPmm(opts: BootPmmOpts = {}): { kernel: Kernel; mm: Mm; cpu: Cpu | null } {
  const kernel = createKernel({ seed: opts.seed ?? 1 });
  const mm = mmInit(kernel, {
    banks: [{ start: opts.ramStart ?? 0x40000000, size: opts.size ?? 128 * SZ_1M }],
  });
  pmmReserve(kernel, {
    cmdline: opts.cmdline ?? "pmm=32M",
    ...(opts.types ? { types: opts.types } : {}),
  });
  opts.setup?.(kernel, mm);
  mm.memblockFreeAll();
  pmmInit(kernel, opts.init ?? {});
  const cpu = opts.cpu ? cpuInit(kernel, opts.cpu === true ? {} : opts.cpu) : null;
  return { kernel, mm, cpu };
}

/**
 * Checks the RFC's invariants on every pool: items tile it exactly in address order, no two
 * holes are adjacent, every area is page-aligned, and `free` equals the holes' bytes.
 */
export function expectPmmConsistent(kernel: Kernel): void {
  const items = pmmItems(kernel);
  for (const t of pmmInfo(kernel).types) {
    if (t.size === 0) continue;
    const mine = items.filter((i) => i.type === t.type);
    let p = t.base;
    let holes = 0;
    for (let k = 0; k < mine.length; k++) {
      const i = mine[k]!;
      expect(i.start).toBe(p);
      expect(i.size).toBeGreaterThan(0);
      expect(i.size % PAGE_SIZE).toBe(0);
      if (i.kind === "hole") {
        holes += i.size;
        expect(mine[k - 1]?.kind === "hole").toBe(false);
      } else expect(i.refcount).toBeGreaterThan(0);
      p += i.size;
    }
    expect(p).toBe(t.base + t.size);
    expect(holes).toBe(t.free);
  }
}
