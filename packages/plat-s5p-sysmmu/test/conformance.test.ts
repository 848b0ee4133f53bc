// iommu-core's conformance suite first, for each register layout, then everything else.

import { describeIommuOps, type IommuRig } from "@umm/iommu-core/testing";
import { isKernelError, SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import type { SysMmuVersion } from "../src/index.js";
import { bootRig } from "./rig.js";

function makeRig(version: SysMmuVersion): IommuRig {
  const r = bootRig();
  const sysmmu = r.sysmmu(0x11a20000, { version });
  const dev = r.master("fimc0", [sysmmu]);
  const port = r.port(dev);
  return {
    kernel: r.kernel,
    dev,
    physBase: 0x42000000,
    physSize: 16 * SZ_1M,
    triggerFault(_domain, iova, write) {
      try {
        if (write) port.write(iova, new Uint8Array(16));
        else port.read(iova, new Uint8Array(16));
      } catch (e) {
        // the transaction is aborted after the interrupt handler ran
        if (!isKernelError(e)) throw e;
        return;
      }
      throw new Error(`the access at ${iova} did not fault`);
    },
    teardown() {
      r.kernel.shutdown();
    },
  };
}

for (const version of ["1.0", "2.0", "3.3", "5.0"] as const) {
  describeIommuOps(`exynos-iommu on SysMMU v${version}`, () => makeRig(version), {
    pgsizes: [SZ_4K, SZ_64K, SZ_1M],
    faults: true,
    // v1–v3 page faults carry no direction: exynos-iommu reports every one as
    // IOMMU_FAULT_READ (sysmmu_v1_faults[0]); v5 has AR and AW page-fault bits.
    faultDirection: version === "5.0",
    unmapHole: "skip",
    partialUnmap: "refuse",
  });
}
