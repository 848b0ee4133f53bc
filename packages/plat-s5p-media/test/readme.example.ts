import { strict as assert } from "node:assert";
import { cpuInit } from "@umm/arch-arm";
import { armIommuAttachDevice, armIommuCreateMapping } from "@umm/dma-mapping-arm";
import { iommuFwspecInit, iommuProbeDevice } from "@umm/iommu-core";
import { busRegister, createKernel, Device, deviceRegister, driverRegister, SZ_256M } from "@umm/kernel-core";
import { O_RDWR, spawn } from "@umm/kernel-process";
import { devDmaPortSet, MAP_SHARED, mmInit, PROT_READ } from "@umm/mm-core";
import { fimcOf, nv12ToXrgb, S5P_MEDIA_DRIVERS, testPatternFrame } from "@umm/plat-s5p-media";
import {
  EXYNOS_SYSMMU_DRIVER,
  EXYNOS4210_SYSMMUS,
  sysmmuDmaPort,
  sysmmuPlatformDevice,
} from "@umm/plat-s5p-sysmmu";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE as CAP,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE as OUT,
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  V4L2_PIX_FMT_NV12,
  V4L2_PIX_FMT_XRGB32,
  VIDIOC_DQBUF,
  VIDIOC_EXPBUF,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_REQBUFS,
  VIDIOC_S_FMT,
  VIDIOC_STREAMON,
  v4l2Buffer,
  v4l2Planes,
} from "@umm/v4l2-videobuf";

// A board: DRAM, the CPU cache, a platform bus with the SysMMU driver; a sensor, and two FIMCs
// each behind its own SysMMU with its DMA port wired (what soc's bootBoard does).
const kernel = createKernel({ seed: 1 });
mmInit(kernel, { banks: [{ start: 0x40000000, size: SZ_256M }] }).memblockFreeAll();
const cpu = cpuInit(kernel);
const bus = busRegister(kernel, "platform");
driverRegister(bus, EXYNOS_SYSMMU_DRIVER);
deviceRegister(new Device(kernel, { name: "sensor0", compatible: ["umm,test-pattern-sensor"] }), bus);
for (const [name, mmu, properties] of [
  ["fimc0", "FIMC0", { "umm,sensor": "sensor0" }], // the camera path
  ["fimc1", "FIMC1", {}], // the mem-to-mem scaler
] as const) {
  const sysmmu = sysmmuPlatformDevice(kernel, EXYNOS4210_SYSMMUS.find((s) => s.name === mmu)!);
  deviceRegister(sysmmu, bus);
  const dev = new Device(kernel, { name, compatible: ["samsung,exynos4210-fimc"], properties });
  deviceRegister(dev, bus);
  iommuFwspecInit(dev, sysmmu);
  iommuProbeDevice(dev);
  armIommuAttachDevice(dev, armIommuCreateMapping(dev, 0x20000000, SZ_256M));
  devDmaPortSet(dev, sysmmuDmaPort(dev));
}
for (const drv of S5P_MEDIA_DRIVERS) driverRegister(bus, drv);
const camera = fimcOf(kernel.devices.get("fimc0")!)!;
const scaler = fimcOf(kernel.devices.get("fimc1")!)!;
assert.deepEqual(
  [camera.role, camera.path, scaler.role, scaler.path],
  ["capture", "/dev/video0", "m2m", "/dev/video1"],
);

// An application: capture 640x480 NV12 into MMAP buffers, export one (EXPBUF) ...
const app = spawn(kernel, { comm: "app" });
const pix = (pixelformat: number, width: number, height: number) => ({
  pix_mp: { width, height, pixelformat },
});
const buf = (type: number, memory: number, index = 0) =>
  v4l2Buffer({ type, memory, index, length: 1, m: { planes: v4l2Planes(1) } });
const cam = app.open(camera.path, O_RDWR);
app.ioctl(cam, VIDIOC_S_FMT, { type: CAP, fmt: pix(V4L2_PIX_FMT_NV12, 640, 480) });
app.ioctl(cam, VIDIOC_REQBUFS, { count: 1, type: CAP, memory: V4L2_MEMORY_MMAP });
const exp = { type: CAP, index: 0, plane: 0, flags: O_RDWR, fd: -1 };
app.ioctl(cam, VIDIOC_EXPBUF, exp);
app.ioctl(cam, VIDIOC_QBUF, buf(CAP, V4L2_MEMORY_MMAP));
app.ioctl(cam, VIDIOC_STREAMON, CAP);
const frame = buf(CAP, V4L2_MEMORY_MMAP);
await kernel.clock.runUntil(Promise.resolve(app.ioctl(cam, VIDIOC_DQBUF, frame))); // 33 ms of virtual time
assert.equal(frame.sequence, 0);

// ... and hand it to the scaler as a dma-buf: NV12 640x480 in, XRGB8888 320x240 out.
const sc = app.open(scaler.path, O_RDWR);
app.ioctl(sc, VIDIOC_S_FMT, { type: OUT, fmt: pix(V4L2_PIX_FMT_NV12, 640, 480) });
app.ioctl(sc, VIDIOC_S_FMT, { type: CAP, fmt: pix(V4L2_PIX_FMT_XRGB32, 320, 240) });
app.ioctl(sc, VIDIOC_REQBUFS, { count: 1, type: OUT, memory: V4L2_MEMORY_DMABUF });
app.ioctl(sc, VIDIOC_REQBUFS, { count: 1, type: CAP, memory: V4L2_MEMORY_MMAP });
const src = buf(OUT, V4L2_MEMORY_DMABUF);
src.m.planes![0] = { bytesused: 640 * 480 * 1.5, length: 640 * 480 * 1.5, m: { fd: exp.fd }, data_offset: 0 };
app.ioctl(sc, VIDIOC_QBUF, src);
app.ioctl(sc, VIDIOC_QBUF, buf(CAP, V4L2_MEMORY_MMAP));
app.ioctl(sc, VIDIOC_STREAMON, OUT);
app.ioctl(sc, VIDIOC_STREAMON, CAP);
const out = buf(CAP, V4L2_MEMORY_MMAP);
await kernel.clock.runUntil(Promise.resolve(app.ioctl(sc, VIDIOC_DQBUF, out)));
const q = buf(CAP, V4L2_MEMORY_MMAP);
app.ioctl(sc, VIDIOC_QUERYBUF, q);
const va = app.mmap({
  fd: sc,
  length: q.m.planes![0]!.length,
  prot: PROT_READ,
  flags: MAP_SHARED,
  offset: q.m.planes![0]!.m.mem_offset,
});

// The pixels are the sensor's frame 0, scaled (bilinear) and converted (BT.601) — by DMA only.
const want = new Uint32Array(320 * 240);
const nv12 = testPatternFrame(640, 480, 0);
nv12ToXrgb(
  { y: nv12, yPitch: 640, uv: nv12.subarray(640 * 480), uvPitch: 640, width: 640, height: 480 },
  { data: want, pitch: 320, width: 320, height: 240 },
);
assert.deepEqual(app.memRead(va, 320 * 240 * 4), new Uint8Array(want.buffer));
assert.equal(cpu.checker.total, 0); // no coherency hazard anywhere
app.exit(0);
