import { strict as assert } from "node:assert";
import { DMA_HEAP_IOCTL_ALLOC } from "@umm/dma-buf";
import { DMA_TO_DEVICE, dmaMappingError, dmaMapSingle, dmaUnmapSingle } from "@umm/dma-mapping-arm";
import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { O_CLOEXEC, O_RDWR } from "@umm/kernel-process";
import { GFP_KERNEL } from "@umm/mm-core";
import { bootBoard, EXYNOS4210_BOARD } from "@umm/soc";

// The default board, booted: 16 SysMMUs, every master in a domain of its own, CMA, UMP, PMM.
const m = bootBoard(EXYNOS4210_BOARD, { seed: 1, trace: true });
assert.equal(m.sysmmus.size, 16);
assert.deepEqual(m.devPaths, [
  "/dev/dma_heap/common",
  "/dev/dma_heap/default_cma_region",
  "/dev/dma_heap/system",
  "/dev/dri/card0", // FIMD's DRM device
  "/dev/pmm",
  "/dev/udmabuf",
  "/dev/ump",
  "/dev/video0", // FIMC0 capture (camera)
  "/dev/video1", // FIMC1..3 mem-to-mem scalers
  "/dev/video2",
  "/dev/video3",
  "/dev/video4", // MFC decoder
  "/dev/video5", // MFC encoder
]);

// A driver maps a kernel buffer for the camera: its DMA port reaches it through FIMC0's SysMMU.
const pfn = m.mm.buddy.allocPages(0, GFP_KERNEL, { tag: "frame" })!;
const va = m.mm.kspace.physToVirt(pfn * PAGE_SIZE);
m.cpu.write(m.mm.kspace, va, new TextEncoder().encode("hello"));
const fimc0 = m.devices.get("fimc0")!;
const daddr = dmaMapSingle(fimc0, va, 5, DMA_TO_DEVICE); // cleans the CPU's dirty lines
assert.equal(dmaMappingError(fimc0, daddr), 0);
const seen = new Uint8Array(5);
m.dmaPort("fimc0").read(daddr, seen);
assert.equal(new TextDecoder().decode(seen), "hello");

// The display controller has a domain of its own: there the same D.V is a SysMMU page fault.
assert.throws(() => m.dmaPort("fimd0").read(daddr, seen), /^KernelError: EFAULT: .*PAGE FAULT/);
dmaUnmapSingle(fimc0, daddr, 5, DMA_TO_DEVICE);
m.mm.buddy.freePages(pfn, 0);
assert.deepEqual(m.stats().faults, { sysmmu: { PAGE: 1 }, iommu: 1, busErrors: 0 });

// A process takes 1 MiB of the CMA heap and never closes anything.
const app = m.spawn("app");
const heap = app.open("/dev/dma_heap/default_cma_region", O_RDWR);
const req = { len: SZ_1M, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
app.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, req);
assert.equal(m.stats().cma.find((r) => r.name === "common")?.usedPages, 256);

// Shutdown exits the process (its open fds are reported), unbinds every driver, tears the
// machine down and checks that everything came back: here it did, once the process was gone.
const report = m.shutdown();
assert.deepEqual(report.leaks, [
  { what: "open file", detail: `pid ${app.pid} (app) fd ${heap}: /dev/dma_heap/default_cma_region` },
  { what: "open file", detail: `pid ${app.pid} (app) fd ${req.fd}: anon_inode:dmabuf` },
]);
assert.equal(m.stats().cma.find((r) => r.name === "common")?.usedPages, 0);
assert.ok(m.recorder!.of("sysmmu_fault").length === 1);
