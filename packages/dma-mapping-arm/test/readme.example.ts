import { strict as assert } from "node:assert";
import { cpuInit } from "@umm/arch-arm";
import {
  armIommuAttachDevice,
  armIommuCreateMapping,
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
  dmaAllocWc,
  dmaFreeWc,
  dmaMappingError,
  dmaMapSgtable,
  dmaMapSingle,
  dmaSetMaxSegSize,
  dmaSyncSingleForCpu,
  dmaUnmapSgtable,
  dmaUnmapSingle,
  sgAllocTableFromPages,
} from "@umm/dma-mapping-arm";
import { iommuFwspecInit, iommuProbeDevice } from "@umm/iommu-core";
import {
  busRegister,
  createKernel,
  Device,
  deviceRegister,
  driverRegister,
  PAGE_SIZE,
  SZ_1M,
} from "@umm/kernel-core";
import { cmaInit, cmaInitReservedAreas, dmaContiguousReserve } from "@umm/mm-cma";
import { DmaPort, GFP_KERNEL, mmInit } from "@umm/mm-core";
import {
  EXYNOS_SYSMMU_DRIVER,
  EXYNOS4210_SYSMMUS,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";

// Boot: 128 MiB of DRAM, a 32 MiB CMA area, and the CPU with its write-back cache.
const kernel = createKernel({ seed: 1 });
const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 128 * SZ_1M }] });
cmaInit(kernel, { cmdline: "cma=32M" });
dmaContiguousReserve(kernel);
mm.memblockFreeAll();
cmaInitReservedAreas(kernel);
const cpu = cpuInit(kernel);

// A display controller without an IOMMU: a write-combining framebuffer from CMA. Its linear-map
// pages are remapped write-combining too, so no cacheable alias of them exists anywhere.
const fimd = new Device(kernel, { name: "fimd0" });
const fb = dmaAllocWc(fimd, 1920 * 1080 * 4)!;
assert.equal(mm.kspace.linearMemtype(fb.dmaAddr / PAGE_SIZE), "writecombine");
cpu.write(mm.kspace, fb.cpuAddr, new Uint8Array([0xff, 0, 0, 0xff])); // straight to memory
const scanout = new Uint8Array(4);
new DmaPort(mm, fimd).read(fb.dmaAddr, scanout);
assert.deepEqual([...scanout], [0xff, 0, 0, 0xff]);
dmaFreeWc(fimd, 1920 * 1080 * 4, fb.cpuAddr, fb.dmaAddr);

// Streaming DMA from a kernel buffer: the map cleans the CPU's dirty lines for the device.
const pfn = mm.buddy.allocPages(0, GFP_KERNEL)!;
const va = mm.kspace.physToVirt(pfn * PAGE_SIZE);
cpu.write(mm.kspace, va, new TextEncoder().encode("command"));
const cmd = dmaMapSingle(fimd, va, 7, DMA_TO_DEVICE);
assert.equal(dmaMappingError(fimd, cmd), 0);
const seen = new Uint8Array(7);
new DmaPort(mm, fimd).read(cmd, seen);
assert.equal(new TextDecoder().decode(seen), "command");
dmaUnmapSingle(fimd, cmd, 7, DMA_TO_DEVICE);

// A camera behind its own System MMU: 16 scattered pages become one contiguous D.V segment.
const platform = busRegister(kernel, "platform");
driverRegister(platform, EXYNOS_SYSMMU_DRIVER);
const sysmmu = sysmmuPlatformDevice(kernel, EXYNOS4210_SYSMMUS.find((s) => s.name === "FIMC0")!);
deviceRegister(sysmmu, platform);
const fimc = new Device(kernel, { name: "fimc0" });
deviceRegister(fimc);
iommuFwspecInit(fimc, sysmmu);
iommuProbeDevice(fimc);
armIommuAttachDevice(fimc, armIommuCreateMapping(fimc, 0x20000000, 256 * SZ_1M));
dmaSetMaxSegSize(fimc, SZ_1M);
const pages = Array.from({ length: 16 }, () => mm.buddy.allocPages(0, GFP_KERNEL)!).reverse();
const sgt = sgAllocTableFromPages(pages, 0, 16 * PAGE_SIZE);
dmaMapSgtable(fimc, sgt, DMA_FROM_DEVICE);
assert.deepEqual(sgt.dmaSegments(), [{ dmaAddress: 0x20000000, dmaLength: 16 * PAGE_SIZE }]);
sysmmuDmaPort(fimc).write(0x20000000 + 5 * PAGE_SIZE, new Uint8Array([42]));
dmaSyncSingleForCpu(fimc, 0x20000000, 16 * PAGE_SIZE, DMA_FROM_DEVICE); // invalidate before reading
const got = new Uint8Array(1);
cpu.read(mm.kspace, mm.kspace.physToVirt(pages[5]! * PAGE_SIZE), got);
assert.equal(got[0], 42);
dmaUnmapSgtable(fimc, sgt, DMA_FROM_DEVICE);
assert.equal(cpu.checker.counts().alias, 0);
