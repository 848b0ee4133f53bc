import { createKernel, type Kernel, SZ_1M } from "@umm/kernel-core";
import { type Mm, type MmOpts, mmInit } from "../src/index.js";

export { pattern } from "@umm/kernel-core/testing";

/** A booted Mm over `size` bytes of DRAM at 0x40000000 (one bank), or the given banks. */
export function bootMm(opts: Partial<MmOpts> & { size?: number; seed?: number } = {}): {
  kernel: Kernel;
  mm: Mm;
} {
  const kernel = createKernel({ seed: opts.seed ?? 1 });
  const mm = mmInit(kernel, {
    banks: opts.banks ?? [{ start: 0x40000000, size: opts.size ?? 64 * SZ_1M }],
    ...(opts.lowmemSize !== undefined ? { lowmemSize: opts.lowmemSize } : {}),
    ...(opts.dmaZoneSize !== undefined ? { dmaZoneSize: opts.dmaZoneSize } : {}),
  });
  mm.memblockFreeAll();
  return { kernel, mm };
}
