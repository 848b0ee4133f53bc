// Shared rigs for mm-vcm's tests: a booted kernel, deterministic bytes, trace capture, and a
// counting VCM driver.
import {
  createKernel,
  type Kernel,
  type KernelError,
  PAGE_SIZE,
  SZ_1M,
  type TraceEventName,
  TraceRecorder,
} from "@umm/kernel-core";
import { type Mm, mmInit } from "@umm/mm-core";
import { expect } from "vitest";
import { Vcm, type VcmDriver, VcmPhys, VcmRes, vcmInit, vcmLeaks } from "../src/index.js";

export { pattern } from "@umm/kernel-core/testing";

/** A booted kernel with `size` bytes of DRAM at 0x40000000 (default 64 MiB). */
export function boot(opts: { size?: number; seed?: number } = {}): { kernel: Kernel; mm: Mm } {
  const kernel = createKernel({ seed: opts.seed ?? 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: opts.size ?? 64 * SZ_1M }] });
  mm.memblockFreeAll();
  return { kernel, mm };
}

/** Records the events of `names` on `kernel`. */
export function record(kernel: Kernel, ...names: TraceEventName[]): TraceRecorder {
  return new TraceRecorder(kernel.trace, names.length ? { events: names } : {});
}

/** Messages of the vcm_warn events a recorder holds. */
export function warnings(rec: TraceRecorder): string[] {
  return rec.of("vcm_warn").map((r) => r.data.message);
}

/** Asserts that the VCM framework of `kernel` holds nothing any more. */
export function expectNoLeaks(kernel: Kernel): void {
  const l = vcmLeaks(kernel);
  expect(l.reservations.map(String)).toEqual([]);
  expect(l.phys.map(String)).toEqual([]);
}

/** A hand-made physical allocation over `parts` whose free is counted. */
export function fakePhys(
  kernel: Kernel,
  parts: { start: number; size: number }[],
  opts: { size?: number; noFree?: boolean } = {},
): VcmPhys & { freedCount: () => number } {
  let n = 0;
  const p = new VcmPhys(kernel, {
    parts: parts.map((x) => ({ ...x, pfn: x.start / PAGE_SIZE })),
    ...(opts.size === undefined ? {} : { size: opts.size }),
    free: opts.noFree ? null : () => n++,
  });
  return Object.assign(p, { freedCount: () => n });
}

/** Call log and failure switches of a `countingVcm`. */
export interface Counting {
  readonly log: string[];
  activate: number;
  deactivate: number;
  /** the next activate throws this errno */
  failActivate: KernelError | null;
  /** the next bind throws this errno */
  failBind: KernelError | null;
  /** the next phys throws this errno */
  failPhys: KernelError | null;
  /** bump allocator of bus addresses */
  next: number;
}

/**
 * A context whose driver has every operation (or the ones listed in `ops`), each logged; `res`
 * hands out consecutive addresses, `phys` fake parts at 0x40000000.
 */
export function countingVcm(
  kernel: Kernel,
  ops: readonly (keyof VcmDriver)[] = ["res", "phys", "bind", "unbind", "activate", "deactivate", "cleanup"],
): { vcm: Vcm; c: Counting } {
  const c: Counting = {
    log: [],
    activate: 0,
    deactivate: 0,
    failActivate: null,
    failBind: null,
    failPhys: null,
    next: 0x1000_0000,
  };
  const all: VcmDriver = {
    cleanup: () => {
      c.log.push("cleanup");
    },
    res: (vcm, size) => {
      c.log.push(`res ${size}`);
      const r = new VcmRes(vcm, c.next, size);
      c.next += size;
      return r;
    },
    phys: (vcm, size) => {
      c.log.push(`phys ${size}`);
      if (c.failPhys) {
        const e = c.failPhys;
        c.failPhys = null;
        throw e;
      }
      return new VcmPhys(vcm.kernel, { parts: [{ start: 0x4000_0000, size, pfn: 0x40000 }], free: () => {} });
    },
    bind: (res) => {
      c.log.push(`bind ${res.start.toString(16)}`);
      if (c.failBind) {
        const e = c.failBind;
        c.failBind = null;
        throw e;
      }
    },
    unbind: (res) => {
      c.log.push(`unbind ${res.start.toString(16)}`);
    },
    unreserve: (res) => {
      c.log.push(`unreserve ${res.start.toString(16)}`);
    },
    activate: () => {
      c.activate++;
      c.log.push("activate");
      if (c.failActivate) {
        const e = c.failActivate;
        c.failActivate = null;
        throw e;
      }
    },
    deactivate: () => {
      c.deactivate++;
      c.log.push("deactivate");
    },
  };
  const driver: Record<string, unknown> = { unreserve: all.unreserve };
  for (const k of ops) driver[k] = all[k];
  const vcm = vcmInit(
    new Vcm(kernel, {
      start: 0x1000_0000,
      size: 0x1000_0000,
      driver: driver as unknown as VcmDriver,
      name: "counting",
    }),
  );
  return { vcm, c };
}
