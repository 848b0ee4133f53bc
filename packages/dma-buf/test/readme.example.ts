import { strict as assert } from "node:assert";
import { cpuInit } from "@umm/arch-arm";
import {
  addDefaultCmaHeap,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
  DMA_HEAP_IOCTL_ALLOC,
  dmaBufAttach,
  dmaBufDetach,
  dmaBufGet,
  dmaBufMapAttachment,
  dmaBufPut,
  dmaBufUnmapAttachment,
  systemHeapCreate,
} from "@umm/dma-buf";
import { DMA_TO_DEVICE } from "@umm/dma-mapping-arm";
import { createKernel, Device, DMA_BIT_MASK, deviceRegister, SZ_1M } from "@umm/kernel-core";
import { O_CLOEXEC, O_RDWR, spawn } from "@umm/kernel-process";
import { cmaDebugfs, cmaInit, cmaInitReservedAreas, dmaContiguousReserve } from "@umm/mm-cma";
import { DmaPort, MAP_SHARED, mmInit, PROT_READ, PROT_WRITE } from "@umm/mm-core";

// Boot: 128 MiB of DRAM with a 32 MiB CMA area, the CPU's write-back cache, the two heaps.
const kernel = createKernel({ seed: 1 });
const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 128 * SZ_1M }] });
cmaInit(kernel, { cmdline: "cma=32M" });
const area = dmaContiguousReserve(kernel)!;
mm.memblockFreeAll();
cmaInitReservedAreas(kernel);
const cpu = cpuInit(kernel);
systemHeapCreate(kernel); // /dev/dma_heap/system
addDefaultCmaHeap(kernel); // /dev/dma_heap/default_cma_region (+ /dev/dma_heap/reserved)
const used0 = cmaDebugfs(area).used;

// The camera process allocates a contiguous frame and passes the fd to the display process.
const camera = spawn(kernel, { comm: "camera" });
const display = spawn(kernel, { comm: "display" });
const listen = display.listen("/run/frames");
const heap = camera.open("/dev/dma_heap/default_cma_region", O_RDWR);
const req = { len: 4 * SZ_1M, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
camera.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, req);
camera.sendmsg(camera.connect("/run/frames"), { fds: [req.fd] });
const [fd] = display.recvmsg(display.accept(listen)).fds;

// The display's driver imports it for its scanout engine (a device without an IOMMU).
const fimd = new Device(kernel, { name: "fimd0", dmaMask: DMA_BIT_MASK(32) });
deviceRegister(fimd);
const buf = kernel.withCurrent(display, () => dmaBufGet(kernel, fd!));
const att = dmaBufAttach(buf, fimd);
const sgt = dmaBufMapAttachment(att, DMA_TO_DEVICE);

// The display process draws through a cacheable mapping, bracketed by DMA_BUF_IOCTL_SYNC:
// END cleans the CPU cache for every device that has the buffer mapped.
const va = display.mmap({ fd: fd!, length: 4 * SZ_1M, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
display.ioctl(fd!, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE });
display.memWrite(va, new TextEncoder().encode("overlay"));
display.ioctl(fd!, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE });

const scanout = new Uint8Array(7);
new DmaPort(mm, fimd).read(sgt.sgl[0]!.dmaAddress, scanout);
assert.equal(new TextDecoder().decode(scanout), "overlay");
assert.equal(cpu.checker.total, 0); // no stale or dirty line seen by anyone

// Everyone lets go, in any order; the last reference returns the pages to the CMA area.
camera.exit(0);
dmaBufUnmapAttachment(att, sgt, DMA_TO_DEVICE);
dmaBufDetach(buf, att);
dmaBufPut(buf);
assert.ok(cmaDebugfs(area).used > used0); // the display's fd and mapping still hold it
display.exit(0);
assert.equal(cmaDebugfs(area).used, used0);
