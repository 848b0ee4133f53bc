// Properties of the state machine under any sequence of user-space calls and frame completions:
// the queue's bookkeeping always matches its buffers' states, a rejected call changes nothing,
// and closing the file gives every page back.
import { isKernelError } from "@umm/kernel-core";
import { O_NONBLOCK, O_RDWR, spawn } from "@umm/kernel-process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_MEMORY_MMAP,
  Vb2BufferState,
  type Vb2Queue,
  VIDIOC_CREATE_BUFS,
  VIDIOC_DQBUF,
  VIDIOC_PREPARE_BUF,
  VIDIOC_QBUF,
  VIDIOC_REMOVE_BUFS,
  VIDIOC_REQBUFS,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  v4l2Buffer,
} from "../src/index.js";
import { TestCapture } from "./capture-driver.js";
import { boot, directDevice, freeCounts } from "./helpers.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;
const MMAP = V4L2_MEMORY_MMAP;
const { DEQUEUED, QUEUED, ACTIVE, DONE, ERROR } = Vb2BufferState;

type Op =
  | { op: "reqbufs"; n: number }
  | { op: "create"; n: number }
  | { op: "qbuf" | "prepare"; i: number }
  | { op: "dqbuf" | "streamon" | "streamoff" | "frame" | "fail" }
  | { op: "remove"; i: number; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("reqbufs" as const), n: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ op: fc.constant("create" as const), n: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ op: fc.constantFrom("qbuf" as const, "prepare" as const), i: fc.integer({ min: 0, max: 6 }) }),
  fc.record({
    op: fc.constantFrom(
      "dqbuf" as const,
      "streamon" as const,
      "streamoff" as const,
      "frame" as const,
      "fail" as const,
    ),
  }),
  fc.record({
    op: fc.constant("remove" as const),
    i: fc.integer({ min: 0, max: 6 }),
    n: fc.integer({ min: 0, max: 3 }),
  }),
);

function snapshot(q: Vb2Queue): string {
  return JSON.stringify({
    states: q.bufs.map((b) => (b ? [b.state, b.prepared, b.planes[0]!.bytesused] : null)),
    queued: q.queuedList.map((b) => b.index),
    done: q.doneList.map((b) => b.index),
    counts: [q.queuedCount, q.ownedByDrvCount, q.streaming, q.startStreamingCalled, q.memory],
  });
}

function checkInvariants(q: Vb2Queue): void {
  expect(q.queuedCount).toBe(q.queuedList.length);
  expect(q.ownedByDrvCount).toBe(q.bufs.filter((b) => b?.state === ACTIVE).length);
  for (const b of q.doneList) expect([DONE, ERROR]).toContain(b.state);
  for (const b of q.bufs) {
    if (!b) continue;
    if (q.queuedList.includes(b)) expect([QUEUED, ACTIVE, DONE, ERROR]).toContain(b.state);
    else expect(b.state).toBe(DEQUEUED);
  }
  if (!q.streaming) expect(q.startStreamingCalled).toBe(false);
  if (q.numBuffers === 0) expect(q.memory).toBe(0);
}

describe("properties", () => {
  it("any call sequence keeps the bookkeeping consistent, rejected calls change nothing, close frees all", () => {
    const r = boot({ dramMiB: 64, cmaMiB: 16 });
    const { dev, port } = directDevice(r, "fimc0");
    const cam = new TestCapture(r.kernel, dev, port, { minQueuedBuffers: 1 });
    const q = cam.queue;
    const size = (320 * 240 * 3) / 2;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 10, maxLength: 60 }), (ops) => {
        const before = freeCounts(r);
        const proc = spawn(r.kernel, { comm: "fuzz" });
        const fd = proc.open(cam.vdev.path, O_RDWR | O_NONBLOCK);
        for (const o of ops) {
          const snap = snapshot(q);
          try {
            switch (o.op) {
              case "reqbufs":
                proc.ioctl(fd, VIDIOC_REQBUFS, {
                  count: o.n,
                  type: CAP,
                  memory: MMAP,
                  capabilities: 0,
                  flags: 0,
                });
                break;
              case "create":
                proc.ioctl(fd, VIDIOC_CREATE_BUFS, {
                  index: 0,
                  count: o.n,
                  memory: MMAP,
                  format: { type: CAP, fmt: { pix: { sizeimage: size } } },
                  capabilities: 0,
                  flags: 0,
                  max_num_buffers: 0,
                });
                break;
              case "qbuf":
                proc.ioctl(fd, VIDIOC_QBUF, v4l2Buffer({ index: o.i, type: CAP, memory: MMAP }));
                break;
              case "prepare":
                proc.ioctl(fd, VIDIOC_PREPARE_BUF, v4l2Buffer({ index: o.i, type: CAP, memory: MMAP }));
                break;
              case "dqbuf":
                proc.ioctl(fd, VIDIOC_DQBUF, v4l2Buffer({ type: CAP, memory: MMAP }));
                break;
              case "streamon":
                proc.ioctl(fd, VIDIOC_STREAMON, CAP);
                break;
              case "streamoff":
                proc.ioctl(fd, VIDIOC_STREAMOFF, CAP);
                break;
              case "remove":
                proc.ioctl(fd, VIDIOC_REMOVE_BUFS, { index: o.i, count: o.n, type: CAP });
                break;
              case "fail":
                cam.failNext = true;
                cam.completeNext();
                break;
              case "frame":
                cam.completeNext();
                break;
            }
          } catch (e) {
            if (!isKernelError(e)) throw e;
            expect(snapshot(q)).toBe(snap);
          }
          checkInvariants(q);
        }
        proc.exit(0);
        checkInvariants(q);
        expect(q.numBuffers).toBe(0);
        expect(freeCounts(r)).toEqual(before);
      }),
      { numRuns: 150, seed: 42 },
    );
  });
});
