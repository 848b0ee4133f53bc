import { strict as assert } from "node:assert";
import { createKernel, Device, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import {
  cmaAlloc,
  cmaEarlyRegionsReserve,
  cmaFree,
  cmaInfo,
  cmaInit,
  cmaInitReservedAreas,
  cmaRelease,
  cmaSetDefaults,
  dmaAllocFromContiguous,
  dmaContiguousReserve,
} from "@umm/mm-cma";
import { mmInit } from "@umm/mm-core";

// Boot: 128 MiB of DRAM. The command line sizes the merged default area; the platform declares
// 2010 regions and a map. Everything is reserved from memblock before the buddy allocator exists.
const kernel = createKernel({ seed: 1 });
const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 128 * SZ_1M }] });
cmaInit(kernel, { cmdline: "console=ttySAC2 cma=32M" });
cmaSetDefaults(
  kernel,
  [
    { name: "video", size: 16 * SZ_1M },
    { name: "common", size: 8 * SZ_1M },
  ],
  "fimc*=video,common;*=common",
);
cmaEarlyRegionsReserve(kernel);
const area = dmaContiguousReserve(kernel); // the 32 MiB "reserved" area
mm.memblockFreeAll();
cmaInitReservedAreas(kernel); // the area's pages go to the buddy allocator as MIGRATE_CMA

// 2010 API: a camera asks by device name; the map sends fimc* to "video", then "common".
const fimc = new Device(kernel, { name: "fimc0" });
const frame = cmaAlloc(fimc, null, 3_110_400, SZ_1M); // a 1080p NV12 frame, 1 MiB aligned
assert.equal(frame % SZ_1M, 0);
assert.equal(mm.frames.ownerOf(frame / PAGE_SIZE), "cma:video:fimc0");
const info = cmaInfo(fimc); // what the matching rule's regions hold
assert.equal(info.count, 2);
assert.equal(info.totalSize, 24 * SZ_1M);
assert.equal(info.freeSize, 24 * SZ_1M - 3_112_960); // the frame, rounded up to pages
cmaFree(kernel, frame);

// Merged API: pages of the default area serve movable allocations until a driver needs them.
assert.ok(area?.reusable && area.activated);
const codec = new Device(kernel, { name: "mfc" });
const pfn = dmaAllocFromContiguous(codec, 1024, 8); // 4 MiB aligned to 2^8 pages (1 MiB)
assert.ok(pfn !== null && pfn % 256 === 0);
assert.equal(mm.frames.ownerOf(pfn), "cma:reserved:mfc");
assert.equal(cmaAlloc(area, 0, 0), null); // count 0: nothing, no accounting
assert.ok(cmaRelease(area, pfn, 1024));
