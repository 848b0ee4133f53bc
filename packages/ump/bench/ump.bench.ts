// umpRefDrvAllocate + umpReferenceRelease of 1 MiB, as a process runs it through libump, on each
// backend: ALLOCATE (backend allocation, secure ID), mmap (the mapping's reference), RELEASE,
// msync READOUT, then munmap and the final release (the memory back to the backend). Uncached
// and cached (MAP_PRIVATE) requests. No goal named: the rates are recorded for comparison across
// changes.
import { defineBench } from "@umm/bench";
import { SZ_1M } from "@umm/kernel-core";
import { spawn } from "@umm/kernel-process";
import {
  UMP_REF_DRV_CONSTRAINT_NONE,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  umpOpen,
  umpRefDrvAllocate,
  umpReferenceRelease,
} from "../src/index.js";
import { bootUmp } from "../src/testing.js";

export default defineBench((b) => {
  for (const backend of ["dedicated", "os", "vcm"] as const) {
    const { kernel } = bootUmp({ backend, ramSize: 128 * SZ_1M, carveoutSize: 16 * SZ_1M });
    const proc = spawn(kernel, { comm: "bench", uid: 1000 });
    umpOpen(proc);
    for (const [label, constraints] of [
      ["uncached", UMP_REF_DRV_CONSTRAINT_NONE],
      ["cached", UMP_REF_DRV_CONSTRAINT_USE_CACHE],
    ] as const) {
      const once = (): void => {
        const h = umpRefDrvAllocate(proc, SZ_1M, constraints);
        if (!h) throw new Error(`bench: umpRefDrvAllocate failed on ${backend}`);
        umpReferenceRelease(h);
      };
      once();
      b.rate({
        name: `umpRefDrvAllocate + umpReferenceRelease, 1 MiB, ${backend} backend, ${label}`,
        ops: 1,
        run: once,
      });
    }
  }
});
