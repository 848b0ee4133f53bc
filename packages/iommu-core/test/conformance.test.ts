// iommu-core runs its own conformance suite against the fake driver, in the flavours real
// drivers come in: io-pgtable-like (many pages per call, unmap stops at holes and refuses to
// split) and Exynos-like (one page per call, holes count as unmapped).
import { SZ_1M, SZ_4K, SZ_64K } from "@umm/kernel-core";
import { describeIommuOps } from "../src/testing.js";
import { fakeRig } from "./fake-iommu.js";

describeIommuOps("fake (io-pgtable style)", () => fakeRig(), {
  pgsizes: [SZ_4K, SZ_64K, SZ_1M],
  faults: true,
});

describeIommuOps(
  "fake (exynos style)",
  () => fakeRig({ onePagePerCall: true, unmapHole: "skip", faultsAsReads: true }),
  { pgsizes: [SZ_4K, SZ_64K, SZ_1M], faults: true, faultDirection: false, unmapHole: "skip" },
);

describeIommuOps(
  "fake (whole-block unmap, identity default domain)",
  () => fakeRig({ partialUnmap: "whole", defDomainType: 4 }),
  { pgsizes: [SZ_4K, SZ_64K, SZ_1M], partialUnmap: "whole", maxIova: 0x3fffffff },
);
