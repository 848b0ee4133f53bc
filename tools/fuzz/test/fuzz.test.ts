// The CI slice of the model-based fuzzer: fixed seeds, a few hundred sequences. `pnpm fuzz` runs
// as many as asked outside vitest.

import { describe, expect, it } from "vitest";
import { fuzzSequences } from "../src/fuzz.js";

describe("model-based fuzzing across packages (fixed seeds)", () => {
  for (const seed of [20260101, 7]) {
    it(`seed ${seed}: 150 sequences, every invariant after every step, everything returns`, () => {
      const r = fuzzSequences({ sequences: 150, seed });
      expect(r.failure).toBeNull();
      expect(r.passed).toBe(150);
      expect(r.leaks).toEqual([]);
      // the slice really exercises the stack: allocations of every kind, sharing, devices, exits
      for (const c of [
        "Alloc",
        "Mmap",
        "CpuWrite",
        "CpuRead",
        "Send",
        "Recv",
        "UmpImport",
        "Attach",
        "DevWrite",
        "DevRead",
        "DevStray",
        "Probe",
        "Exit",
        "Detach",
      ]) {
        expect(r.byCommand[c] ?? 0, c).toBeGreaterThan(5);
      }
    });
  }
});
