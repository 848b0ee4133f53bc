import { strict as assert } from "node:assert";
import { cpuInit } from "@umm/arch-arm";
import {
  addDefaultCmaHeap,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
  DMA_HEAP_IOCTL_ALLOC,
} from "@umm/dma-buf";
import {
  DRM_EVENT_FLIP_COMPLETE,
  DRM_FORMAT_XRGB8888,
  DRM_IOCTL_MODE_ADDFB2,
  DRM_IOCTL_MODE_CREATE_DUMB,
  DRM_IOCTL_MODE_MAP_DUMB,
  DRM_IOCTL_MODE_PAGE_FLIP,
  DRM_IOCTL_MODE_SETCRTC,
  DRM_IOCTL_PRIME_FD_TO_HANDLE,
  DRM_MODE_PAGE_FLIP_EVENT,
  DRM_MODE_PAGE_FLIP_OUT_FENCE,
  drmDevRegister,
  drmParseEvents,
  drmSimpleMode,
} from "@umm/drm-gem";
import { createKernel, Device, DMA_BIT_MASK, deviceRegister, SZ_1M } from "@umm/kernel-core";
import { O_CLOEXEC, O_RDWR, POLLIN, spawn } from "@umm/kernel-process";
import { cmaDebugfs, cmaInit, cmaInitReservedAreas, dmaContiguousReserve } from "@umm/mm-cma";
import { DmaPort, MAP_SHARED, mmInit, PROT_READ, PROT_WRITE } from "@umm/mm-core";

// Boot: 64 MiB of DRAM with a 16 MiB CMA area, the CPU cache, the CMA dma-heap.
const kernel = createKernel({ seed: 1 });
const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
cmaInit(kernel, { cmdline: "cma=16M" });
const area = dmaContiguousReserve(kernel)!;
mm.memblockFreeAll();
cmaInitReservedAreas(kernel);
cpuInit(kernel);
addDefaultCmaHeap(kernel);
const used0 = cmaDebugfs(area).used;

// The display controller (no IOMMU) as a DRM device. Its model fetches each frame by DMA at vblank.
const fimd = new Device(kernel, { name: "fimd0", dmaMask: DMA_BIT_MASK(32) });
deviceRegister(fimd);
const port = new DmaPort(mm, fimd);
let shown = "";
const mode = drmSimpleMode(320, 240, 60); // 320x240 at 60 Hz
const card = drmDevRegister(kernel, {
  name: "exynos",
  dev: fimd,
  driver: {
    modes: [mode],
    display: {
      scanout: (frame) => {
        const line = new Uint8Array(8);
        if (frame) port.read(frame.planes[0]!.daddr, line); // the first pixels of the frame
        shown = frame ? new TextDecoder().decode(line) : "";
      },
    },
  },
});

// A capture process fills a contiguous buffer from the CMA heap and hands the fd to the compositor.
const camera = spawn(kernel, { comm: "camera" });
const compositor = spawn(kernel, { comm: "compositor" });
const listen = compositor.listen("/run/frames");
const size = 320 * 240 * 4;
const heap = camera.open("/dev/dma_heap/default_cma_region", O_RDWR);
const req = { len: size, fd: 0, fd_flags: O_RDWR | O_CLOEXEC, heap_flags: 0 };
camera.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, req);
const pixels = camera.mmap({ fd: req.fd, length: size, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
camera.ioctl(req.fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE });
camera.memWrite(pixels, new TextEncoder().encode("camera 1"));
camera.ioctl(req.fd, DMA_BUF_IOCTL_SYNC, { flags: DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE });
camera.sendmsg(camera.connect("/run/frames"), { fds: [req.fd] });
const [bufFd] = compositor.recvmsg(compositor.accept(listen)).fds;

// The compositor imports it with PRIME, wraps it in a framebuffer and turns the display on.
const fd = compositor.open(card.path, O_RDWR); // the first opener is the DRM master
const prime = { fd: bufFd!, flags: 0, handle: 0 };
compositor.ioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, prime);
const fb1 = {
  fb_id: 0,
  width: 320,
  height: 240,
  pixel_format: DRM_FORMAT_XRGB8888,
  handles: [prime.handle],
  pitches: [1280],
};
compositor.ioctl(fd, DRM_IOCTL_MODE_ADDFB2, fb1);
const crtc = {
  crtc_id: card.crtc.id,
  fb_id: fb1.fb_id,
  x: 0,
  y: 0,
  mode_valid: 1,
  mode,
  set_connectors_ptr: [card.connector.id],
};
compositor.ioctl(fd, DRM_IOCTL_MODE_SETCRTC, crtc);
await kernel.clock.runFor(20_000_000); // one vblank later the display has read the frame
assert.equal(shown, "camera 1");

// Its own overlay frame in a dumb buffer (write-combining mapping), then a page flip to it with
// an event and an out-fence; the flip completes at the next vblank.
const dumb = { width: 320, height: 240, bpp: 32, handle: 0, pitch: 0, size: 0 };
compositor.ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, dumb);
const map = { handle: dumb.handle, offset: 0 };
compositor.ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, map);
const va = compositor.mmap({
  fd,
  length: dumb.size,
  prot: PROT_READ | PROT_WRITE,
  flags: MAP_SHARED,
  offset: map.offset,
});
compositor.memWrite(va, new TextEncoder().encode("overlay!"));
const fb2 = {
  fb_id: 0,
  width: 320,
  height: 240,
  pixel_format: DRM_FORMAT_XRGB8888,
  handles: [dumb.handle],
  pitches: [dumb.pitch],
};
compositor.ioctl(fd, DRM_IOCTL_MODE_ADDFB2, fb2);
const flags = DRM_MODE_PAGE_FLIP_EVENT | DRM_MODE_PAGE_FLIP_OUT_FENCE;
const flip = { crtc_id: card.crtc.id, fb_id: fb2.fb_id, flags, user_data: 42, out_fence_fd: -1 };
compositor.ioctl(fd, DRM_IOCTL_MODE_PAGE_FLIP, flip);
const [ready, fenced] = await kernel.clock.runUntil(
  compositor.poll([
    { fd, events: POLLIN },
    { fd: flip.out_fence_fd, events: POLLIN },
  ]),
);
assert.deepEqual([ready, fenced], [POLLIN, POLLIN]); // the event and the out-fence, at the same vblank
const [event] = drmParseEvents(compositor.read(fd, 4096));
assert.equal(event!.type, DRM_EVENT_FLIP_COMPLETE);
assert.equal(event!.user_data, 42);
assert.equal(event!.sequence, 2);
assert.equal(shown, "overlay!");

// The camera buffer left the screen and every process lets go: the CMA pages come back.
camera.exit(0);
compositor.exit(0);
await kernel.clock.runUntilIdle(); // the CRTC turns off at the next vblank, then the timer stops
assert.equal(card.objectCount, 0);
assert.equal(cmaDebugfs(area).used, used0);
