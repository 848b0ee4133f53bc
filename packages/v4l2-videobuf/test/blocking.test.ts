// Blocking DQBUF on virtual time: woken by the driver's vb2_buffer_done, by STREAMOFF from another
// caller (and then failing as vb2 does), by a queue error or by the file's release.
import { kerr } from "@umm/kernel-core/testing";
import { O_RDWR, spawn } from "@umm/kernel-process";
import { describe, expect, it } from "vitest";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_MEMORY_MMAP,
  VIDIOC_DQBUF,
  VIDIOC_QBUF,
  VIDIOC_REQBUFS,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  v4l2Buffer,
  vb2QueueError,
} from "../src/index.js";
import { TestCapture } from "./capture-driver.js";
import { boot, directDevice } from "./helpers.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;
const MMAP = V4L2_MEMORY_MMAP;

function streaming(n = 2) {
  const r = boot({ dramMiB: 64, cmaMiB: 16 });
  const { dev, port } = directDevice(r, "fimc0");
  const cam = new TestCapture(r.kernel, dev, port);
  const proc = spawn(r.kernel, { comm: "app" });
  const fd = proc.open(cam.vdev.path, O_RDWR);
  proc.ioctl(fd, VIDIOC_REQBUFS, { count: n, type: CAP, memory: MMAP, capabilities: 0, flags: 0 });
  for (let i = 0; i < n; i++) proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: i, type: CAP, memory: MMAP }));
  proc.ioctl(fd, VIDIOC_STREAMON, CAP);
  return { r, cam, proc, fd };
}

describe("blocking DQBUF", () => {
  it("is a promise that the driver's vb2_buffer_done settles at the frame's virtual time", async () => {
    const { r, cam, proc, fd } = streaming();
    const b = v4l2Buffer({ type: CAP, memory: MMAP });
    const p = proc.ioctl(fd, VIDIOC_DQBUF, b);
    expect(p).toBeInstanceOf(Promise);
    expect(cam.queue.waitingInDqbuf).toBe(true);
    await expect(r.kernel.clock.runUntil(p as Promise<number>)).resolves.toBe(0);
    expect(r.kernel.clock.now()).toBe(cam.frameIntervalNs);
    expect(b.index).toBe(0);
    expect(cam.queue.waitingInDqbuf).toBe(false);
  });

  it("does not prevent STREAMOFF from another caller; the DQBUF then fails EINVAL", async () => {
    const { r, cam, proc, fd } = streaming();
    const b = v4l2Buffer({ type: CAP, memory: MMAP });
    const p = proc.ioctl(fd, VIDIOC_DQBUF, b) as Promise<number>;
    const dup = proc.dup(fd); // another thread of the program, same open file
    await r.kernel.clock.runFor(cam.frameIntervalNs / 2);
    expect(proc.ioctl(dup, VIDIOC_STREAMOFF, CAP)).toBe(0);
    await expect(r.kernel.clock.runUntil(p)).rejects.toThrow(kerr("EINVAL", /streaming off/));
    expect(b.index).toBe(0); // not filled
    expect(cam.queue.waitingInDqbuf).toBe(false);
    expect(cam.queue.queuedCount).toBe(0);
  });

  it("a second DQBUF while one waits is EBUSY", async () => {
    const { r, proc, fd } = streaming();
    const p = proc.ioctl(fd, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: MMAP })) as Promise<number>;
    expect(() => proc.ioctl(fd, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: MMAP }))).toThrow(
      kerr("EBUSY", /waiting/),
    );
    await r.kernel.clock.runUntil(p);
  });

  it("wakes with EIO on vb2_queue_error", async () => {
    const { r, cam, proc, fd } = streaming();
    const p = proc.ioctl(fd, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: MMAP })) as Promise<number>;
    r.kernel.clock.after(1000, () => vb2QueueError(cam.queue));
    await expect(r.kernel.clock.runUntil(p)).rejects.toThrow(kerr("EIO"));
  });

  it("an exiting process's pending DQBUF holds the file until the next frame; then the queue is released", async () => {
    const { r, cam, proc, fd } = streaming();
    const p = proc.ioctl(fd, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: MMAP })) as Promise<number>;
    proc.exit(0); // closes the fd; the call in progress keeps the file (no signals in the model)
    expect(cam.queue.numBuffers).toBe(2);
    await expect(r.kernel.clock.runUntil(p)).resolves.toBe(0);
    await r.kernel.clock.runFor(0);
    expect(cam.queue.numBuffers).toBe(0);
    expect(cam.queue.streaming).toBe(false);
    expect(cam.log).toContain("stop_streaming");
  });
});
