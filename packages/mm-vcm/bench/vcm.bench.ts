// vcmMakeBinding + vcmDestroyBinding of a 1080p NV12 frame (3,110,400 B, page-aligned to
// 3,112,960 B as vcm_make_binding requires) — allocation from the buddy allocator in
// 1 MiB / 64 KiB / 4 KiB pages, a bus-address reservation, the binding and its undoing. No goal:
// the rate is recorded for comparison across changes.
import { defineBench } from "@umm/bench";
import { createKernel, pageAlign, SZ_1M } from "@umm/kernel-core";
import { mmInit } from "@umm/mm-core";
import {
  VCM_DEV_G2D,
  vcmActivate,
  vcmCreateUnified,
  vcmDestroyBinding,
  vcmMakeBinding,
  vcmMmuInit,
} from "../src/index.js";
import { softIommu } from "../test/soft-iommu.js";

const FRAME = pageAlign(3_110_400);

export default defineBench((b) => {
  const kernel = createKernel({ seed: 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 256 * SZ_1M }] });
  mm.memblockFreeAll();
  const iommu = softIommu(kernel);
  const { domain } = iommu.masterWithDomain("mfc");
  const active = vcmMmuInit(kernel, { start: 0x2000_0000, size: 256 * SZ_1M, domain, name: "mfc" });
  vcmActivate(active);
  b.rate({
    name: "vcmMakeBinding + vcmDestroyBinding, 1080p frame, active MMU context (iommu-core domain programmed)",
    ops: 1,
    run: () => vcmDestroyBinding(vcmMakeBinding(active, FRAME)),
  });

  const { domain: d2 } = iommu.masterWithDomain("fimc0");
  const idle = vcmMmuInit(kernel, { start: 0x4000_0000, size: 256 * SZ_1M, domain: d2, name: "fimc0" });
  b.rate({
    name: "vcmMakeBinding + vcmDestroyBinding, 1080p frame, inactive MMU context (no hardware)",
    ops: 1,
    run: () => vcmDestroyBinding(vcmMakeBinding(idle, FRAME)),
  });

  const g2d = vcmCreateUnified(kernel, 256 * SZ_1M, VCM_DEV_G2D, null);
  vcmActivate(g2d);
  b.rate({
    name: "vcmMakeBinding + vcmDestroyBinding, 1080p frame, S5P unified context (descriptors in DRAM)",
    ops: 1,
    run: () => vcmDestroyBinding(vcmMakeBinding(g2d, FRAME)),
  });
});
