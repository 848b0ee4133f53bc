// The CPU cache's hot paths against the physical limit measured in the same run: raw
// Uint8Array.set of the same bytes.
import { defineBench } from "@umm/bench";
import { createKernel, SZ_1M } from "@umm/kernel-core";
import { GFP_KERNEL, mmInit } from "@umm/mm-core";
import { cpuInit } from "../src/index.js";

const FRAME = 3_110_400; // 1080p NV12

export default defineBench((b) => {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
  mm.memblockFreeAll();
  const cpu = cpuInit(kernel);
  const pfn = mm.buddy.allocPages(10, GFP_KERNEL, { tag: "frame" })!; // 4 MiB, contiguous
  const va = mm.kspace.physToVirt(pfn * 4096);
  const k = mm.kspace;
  const src = new Uint8Array(FRAME).map((_, i) => i * 7);
  const dst = new Uint8Array(FRAME);
  const raw = new Uint8Array(FRAME);
  const baseline = { name: "Uint8Array.set", run: () => raw.set(src) };

  b.throughput({
    name: "CPU store of a 1080p NV12 frame (3,110,400 B) through a cacheable mapping, then clean",
    bytes: FRAME,
    run: () => {
      cpu.write(k, va, src);
      cpu.cleanRange(k, va, FRAME);
    },
    baseline,
    goal: { op: ">=", value: 0.5 },
  });

  cpu.read(k, va, dst); // warm: every line valid
  b.throughput({
    name: "CPU read of the frame through the cache (warm)",
    bytes: FRAME,
    run: () => cpu.read(k, va, dst),
    baseline,
  });

  b.throughput({
    name: "CPU store of the frame, then flushRange (clean + invalidate)",
    bytes: FRAME,
    run: () => {
      cpu.write(k, va, src);
      cpu.flushRange(k, va, FRAME);
    },
    baseline,
  });

  // The physical floor of store + clean: the bytes go src → cache copy → memory, two copies. This
  // row shows how close to it the model gets (its ratio bounds the first row's from above).
  const shadow = new Uint8Array(64 * SZ_1M);
  const bank = mm.phys.banks[0]!.u8;
  const off = pfn * 4096 - 0x40000000;
  b.throughput({
    name: "floor of store + clean: two chained Uint8Array.set (src → copy → memory), no model",
    bytes: FRAME,
    run: () => {
      shadow.set(src, off);
      bank.set(shadow.subarray(off, off + FRAME), off);
    },
    baseline,
  });

  if (cpu.checker.total !== 0) throw new Error("the benchmark sequences must be coherent");
});
