// Test assertions over the rig (test/rig.ts): no coherency hazard, every page returned.
import { createHash } from "node:crypto";
import { cpuOf } from "@umm/arch-arm";
import { cmaRegions } from "@umm/mm-cma";
import { expect } from "vitest";
import { type MediaRig, takeBooted } from "./rig.js";

export * from "./rig.js";

/** afterEach: every rig booted by this file had no coherency hazard. */
export function expectNoHazards(): void {
  for (const k of takeBooted()) {
    const c = cpuOf(k).checker;
    expect(c.reports.map((r) => `${r.kind} ${r.device} ${r.owner}: ${r.detail}`)).toEqual([]);
    expect(c.total).toBe(0);
  }
}

/** After `teardown`: every buddy page and every CMA region's free bytes are back. */
export function expectAllReturned(r: MediaRig): void {
  expect(r.mm.buddy.nrFreePages).toBe(r.freePages0);
  const now = new Map(cmaRegions(r.kernel).map((x) => [x.name ?? String(x.base), x.free]));
  expect(now).toEqual(r.cmaFree0);
}

/** sha256 of bytes, hex. */
export function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}
