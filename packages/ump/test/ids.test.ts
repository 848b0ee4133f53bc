// Secure IDs: ARM's descriptor mapping (compatibility mode) and umm's random names.
import { fc, test } from "@fast-check/vitest";
import { PAGE_SIZE, type Prng } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import { DescriptorMapping, randomIds, UMP_MAX_LIVE_IDS } from "../src/ids.js";
import { UMP_INVALID_SECURE_ID, umpDdHandleGet, umpLiveHandles } from "../src/index.js";
import { bootUmp } from "../src/testing.js";
import { rawAlloc, rawClient, rawRelease } from "./helpers.js";

describe("DescriptorMapping", () => {
  it("hands out the lowest free descriptor from 1, doubling 128 → 4096, then -1", () => {
    const m = new DescriptorMapping<number>(128, 4096);
    expect(m.allocate(10)).toBe(1);
    for (let i = 2; i < 128; i++) expect(m.allocate(i)).toBe(i);
    expect(m.capacity).toBe(128);
    expect(m.allocate(128)).toBe(128);
    expect(m.capacity).toBe(256);
    m.free(5);
    expect(m.get(5)).toBeUndefined();
    expect(m.allocate(5)).toBe(5);
    for (let i = 129; i < 4096; i++) m.allocate(i);
    expect([m.capacity, m.size, m.full]).toEqual([4096, 4095, true]);
    expect(m.allocate(0)).toBe(-1);
  });
});

describe("random secure IDs", () => {
  it("skip 0, UMP_INVALID_SECURE_ID and live IDs", () => {
    const draws = [0, UMP_INVALID_SECURE_ID, 5, 5, 0, 7];
    const rng = { nextU32: () => draws.shift()! } as unknown as Prng;
    const t = randomIds<string>(rng);
    expect(t.allocate((id) => `a${id}`)).toBe("a5");
    expect(t.allocate((id) => `b${id}`)).toBe("b7");
    expect(t.entries().map(([id]) => id)).toEqual([5, 7]);
  });

  test.prop([fc.array(fc.nat(7), { minLength: 1, maxLength: 60 })], { numRuns: 30 })(
    "live IDs are unique, never 0 or 0xFFFFFFFF, and a freed ID is not handed out again at once",
    (sizes) => {
      const { kernel } = bootUmp({ cpu: false });
      const { proc, fd } = rawClient(kernel, "app");
      let last = -1;
      for (const n of sizes) {
        const a = rawAlloc(proc, fd, (n + 1) * PAGE_SIZE);
        expect(a.secure_id).not.toBe(0);
        expect(a.secure_id).not.toBe(UMP_INVALID_SECURE_ID);
        expect(a.secure_id).not.toBe(last);
        if (n % 2) {
          rawRelease(proc, fd, a.secure_id);
          last = a.secure_id;
        }
      }
      const ids = umpLiveHandles(kernel).map((h) => h.secureId);
      expect(new Set(ids).size).toBe(ids.length);
    },
  );

  it("come from the seeded PRNG: the same seed gives the same IDs", () => {
    const ids = (seed: number) => {
      const { kernel } = bootUmp({ seed, cpu: false });
      const { proc, fd } = rawClient(kernel, "app");
      return [0, 1, 2].map(() => rawAlloc(proc, fd, PAGE_SIZE).secure_id);
    };
    expect(ids(7)).toEqual(ids(7));
    expect(ids(7)).not.toEqual(ids(8));
  });
});

describe("compatibility mode (compatSequentialIds)", () => {
  test.prop([fc.array(fc.boolean(), { minLength: 1, maxLength: 80 })], { numRuns: 30 })(
    "issues the lowest free ID in [1, 4095] and reuses a freed one at once",
    (ops) => {
      const { kernel } = bootUmp({ compatSequentialIds: true, cpu: false });
      const { proc, fd } = rawClient(kernel, "app");
      const live = new Set<number>();
      for (const alloc of ops) {
        if (alloc || live.size === 0) {
          let lowest = 1;
          while (live.has(lowest)) lowest++;
          const a = rawAlloc(proc, fd, PAGE_SIZE);
          expect(a.secure_id).toBe(lowest);
          live.add(a.secure_id);
        } else {
          const id = [...live][live.size >> 1]!;
          rawRelease(proc, fd, id);
          live.delete(id);
        }
      }
    },
  );
});

describe("a full table", () => {
  it.each([false, true])("fails ALLOCATE with EFAULT at 4095 live IDs (compat %s)", (compat) => {
    const { kernel } = bootUmp({ compatSequentialIds: compat, cpu: false, ramSize: 32 * 1024 * 1024 });
    const { proc, fd } = rawClient(kernel, "app");
    for (let i = 0; i < UMP_MAX_LIVE_IDS; i++) rawAlloc(proc, fd, PAGE_SIZE);
    expect(() => rawAlloc(proc, fd, PAGE_SIZE)).toThrow(kerr("EFAULT", /no secure ID left/));
    if (compat) expect(umpDdHandleGet(kernel, 4095)).not.toBeNull();
    rawRelease(proc, fd, umpLiveHandles(kernel)[17]!.secureId);
    expect(() => rawAlloc(proc, fd, PAGE_SIZE)).not.toThrow();
  });
});
