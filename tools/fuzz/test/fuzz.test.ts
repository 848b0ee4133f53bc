// The CI slice of the model-based fuzzer: fixed seeds, a few hundred sequences. `pnpm fuzz` runs
// as many as asked outside vitest.

import { describe, expect, it } from "vitest";
import { fuzzSequences } from "../src/fuzz.js";

describe("model-based fuzzing across packages (fixed seeds)", () => {
  for (const seed of [20260101, 7]) {
    it(`seed ${seed}: 120 sequences, every invariant after every step, everything returns`, () => {
      const r = fuzzSequences({ sequences: 120, seed });
      expect(r.failure).toBeNull();
      expect(r.passed).toBe(120);
      expect(r.leaks).toEqual([]);
      // the slice really exercises the stack: allocations of every kind, sharing by fd and by
      // UMP ID, devices, V4L2 queueing, exits
      for (const c of [
        "Alloc",
        "Mmap",
        "CpuWrite",
        "CpuRead",
        "SyncIoctl",
        "Send",
        "Recv",
        "UmpImport",
        "UmpExport",
        "Attach",
        "DevWrite",
        "DevRead",
        "DevStray",
        "Probe",
        "Reqbufs",
        "Qbuf",
        "Dqbuf",
        "Frame",
        "Close",
        "Exit",
        "Detach",
      ]) {
        expect(r.byCommand[c] ?? 0, c).toBeGreaterThan(5);
      }
      // ...down to frames captured into dma-bufs and dequeued
      for (const o of ["QBUF ok", "STREAMON ok", "frame filled", "DQBUF ok", "DQBUF EAGAIN"]) {
        expect(r.outcomes[o] ?? 0, o).toBeGreaterThan(0);
      }
    });
  }
});
