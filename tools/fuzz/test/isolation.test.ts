// Isolation: 10^4 attempts by an unprivileged process to reach what it was never given, and DMA
// by devices where their domain maps nothing — every one refused, none moving a byte.

import { umpGrant, umpRevoke } from "@umm/ump";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ISOLATION_KINDS, runIsolation } from "../src/isolation.js";
import { bootTestbed, type Testbed } from "../src/testbed.js";

let tb: Testbed;
beforeAll(() => {
  tb = bootTestbed(5);
});
afterAll(() => {
  expect(tb.teardown()).toEqual([]);
});

describe("isolation", () => {
  it("10^4 attempts by uid 2000 — guessed, foreign, revoked and released UMP IDs, stale and foreign fds, posing files, forged objects, guessed SysV keys, stray DMA — are all refused", () => {
    const r = runIsolation(tb, 10_000, 20260101);
    expect(r.failures).toEqual([]);
    expect(r.refused).toBe(10_000);
    for (const k of ISOLATION_KINDS) expect(r.byKind[k], k).toBeGreaterThan(700);
  });

  it("the checks can fail: an attempt that is let through is reported", () => {
    // grant the intruder's uid: the "foreign ID" attempts then import the buffer, a breach
    const h = tb.ump;
    umpGrant(h, 2000);
    try {
      const r = runIsolation(tb, ISOLATION_KINDS.length * 3, 7);
      expect(r.failures.filter((f) => f.includes("ump foreign ID")).length).toBe(3);
    } finally {
      umpRevoke(h, 2000);
    }
  });
});
