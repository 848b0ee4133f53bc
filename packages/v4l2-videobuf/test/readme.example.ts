import { strict as assert } from "node:assert";
import { cpuInit } from "@umm/arch-arm";
import {
  createKernel,
  Device,
  DMA_BIT_MASK,
  deviceRegister,
  SZ_1M,
  type TimerHandle,
} from "@umm/kernel-core";
import { O_RDWR, spawn } from "@umm/kernel-process";
import { cmaInit, cmaInitReservedAreas, dmaContiguousReserve } from "@umm/mm-cma";
import { DmaPort, MAP_SHARED, mmInit, PROT_READ } from "@umm/mm-core";
import {
  V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_CAPTURE,
  V4L2_MEMORY_MMAP,
  V4L2_PIX_FMT_NV12,
  VB2_MMAP,
  type Vb2Buffer,
  Vb2BufferState,
  VIDIOC_DQBUF,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_REQBUFS,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  v4l2Buffer,
  v4l2DeviceRegister,
  v4l2FormatPlaneSizes,
  vb2BufferDone,
  vb2DmaContigMemops,
  vb2DmaContigPlaneDmaAddr,
  vb2PlaneSize,
  vb2QueueInit,
  vb2SetPlanePayload,
} from "@umm/v4l2-videobuf";

// Boot: 64 MiB of DRAM with a 16 MiB CMA area, and the CPU with its write-back cache.
const kernel = createKernel({ seed: 1 });
const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
cmaInit(kernel, { cmdline: "cma=16M" });
dmaContiguousReserve(kernel);
mm.memblockFreeAll();
cmaInitReservedAreas(kernel);
const cpu = cpuInit(kernel);
const free0 = mm.buddy.nrFreePages;

// A camera driver: 30 times a second the sensor writes a frame by DMA into the next buffer.
const sensor = new Device(kernel, { name: "fimc0", dmaMask: DMA_BIT_MASK(32) });
deviceRegister(sensor);
const port = new DmaPort(mm, sensor);
const active: Vb2Buffer[] = [];
let timer: TimerHandle | null = null;
let frame = 0;
const tick = (): void => {
  const vb = active.shift();
  if (vb) {
    port.fill(vb2DmaContigPlaneDmaAddr(vb, 0), 0x40 + frame, vb2PlaneSize(vb, 0));
    vb2SetPlanePayload(vb, 0, vb2PlaneSize(vb, 0));
    vb.sequence = frame++;
    vb.timestamp = kernel.clock.now();
    vb2BufferDone(vb, Vb2BufferState.DONE);
  }
  timer = kernel.clock.after(33_333_333, tick);
};
const queue = vb2QueueInit(kernel, {
  type: V4L2_BUF_TYPE_VIDEO_CAPTURE,
  ioModes: VB2_MMAP,
  memOps: vb2DmaContigMemops, // one contiguous D.V range per buffer, from the DMA mapping API
  dev: sensor,
  timestampFlags: V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
  ops: {
    queueSetup: (q, setup) => {
      setup.numPlanes = 1;
      setup.sizes[0] = v4l2FormatPlaneSizes(vdev.formats.get(q.type))[0]!;
    },
    bufQueue: (vb) => active.push(vb),
    startStreaming: () => {
      timer = kernel.clock.after(33_333_333, tick);
    },
    stopStreaming: () => {
      timer?.cancel();
      for (const vb of active.splice(0)) vb2BufferDone(vb, Vb2BufferState.ERROR);
    },
  },
});
const vdev = v4l2DeviceRegister(kernel, {
  name: "fimc0",
  deviceCaps: V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING,
  queue,
  formats: { capture: { pixelformats: [V4L2_PIX_FMT_NV12], defaultWidth: 640, defaultHeight: 480 } },
});
assert.equal(vdev.path, "/dev/video0");

// A process captures: REQBUFS, QUERYBUF + mmap, QBUF, STREAMON, then DQBUF → read → QBUF.
const app = spawn(kernel, { comm: "capture" });
const fd = app.open("/dev/video0", O_RDWR);
const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;
const req = { count: 4, type: CAP, memory: V4L2_MEMORY_MMAP, capabilities: 0, flags: 0 };
app.ioctl(fd, VIDIOC_REQBUFS, req);
const maps: number[] = [];
for (let i = 0; i < req.count; i++) {
  const b = v4l2Buffer({ index: i, type: CAP, memory: V4L2_MEMORY_MMAP });
  app.ioctl(fd, VIDIOC_QUERYBUF, b);
  maps.push(app.mmap({ fd, length: b.length, prot: PROT_READ, flags: MAP_SHARED, offset: b.m.offset }));
  app.ioctl(fd, VIDIOC_QBUF, b);
}
app.ioctl(fd, VIDIOC_STREAMON, CAP);
for (let n = 0; n < 6; n++) {
  const b = v4l2Buffer({ type: CAP, memory: V4L2_MEMORY_MMAP });
  await kernel.clock.runUntil(Promise.resolve(app.ioctl(fd, VIDIOC_DQBUF, b))); // blocks on virtual time
  assert.equal(b.sequence, n);
  assert.equal(b.bytesused, (640 * 480 * 3) / 2);
  assert.deepEqual([...app.memRead(maps[b.index]! + 1000, 2)], [0x40 + n, 0x40 + n]);
  app.ioctl(fd, VIDIOC_QBUF, b);
}
assert.equal(kernel.clock.now(), 6 * 33_333_333);
assert.equal(cpu.checker.total, 0); // uncached coherent buffers: no cache hazard anywhere

app.ioctl(fd, VIDIOC_STREAMOFF, CAP);
app.exit(0); // unmaps, closes: the queue is released and every page returns
assert.equal(mm.buddy.nrFreePages, free0);
