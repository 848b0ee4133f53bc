// mem2mem: one context (OUTPUT + CAPTURE queue) per open file, one job at a time across
// contexts, the capture-queue mmap offsets, job abort on STREAMOFF and close.
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { O_NONBLOCK, O_RDWR, POLLIN, POLLOUT, type Process, spawn } from "@umm/kernel-process";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import { describe, expect, it } from "vitest";
import {
  DST_QUEUE_OFF_BASE,
  V4L2_BUF_FLAG_ERROR,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_MEMORY_MMAP,
  type V4l2M2mCtx,
  VB2_MMAP,
  Vb2BufferState,
  type Vb2Ops,
  VIDIOC_DQBUF,
  VIDIOC_QBUF,
  VIDIOC_QUERYBUF,
  VIDIOC_REQBUFS,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  v4l2Buffer,
  v4l2M2mBufDoneAndJobFinish,
  v4l2M2mBufQueue,
  v4l2M2mCtxInit,
  v4l2M2mCtxRelease,
  v4l2M2mGetVq,
  v4l2M2mInit,
  v4l2M2mRelease,
  v4l2M2mResume,
  v4l2M2mSuspend,
  v4l2M2mTrySchedule,
  vb2Qbuf,
  vb2QueueInit,
  vb2Reqbufs,
  vb2Streamon,
  vb2VmallocMemops,
} from "../src/index.js";
import { boot, freeCounts, type Rig, record, sysmmuDevice } from "./helpers.js";
import { TestInverter } from "./m2m-driver.js";

const OUT = V4L2_BUF_TYPE_VIDEO_OUTPUT;
const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;
const MMAP = V4L2_MEMORY_MMAP;
const SIZE = 64 * 32; // GREY 64×32

interface Ctx {
  proc: Process;
  fd: number;
  src: number[];
  dst: number[];
}

function openCtx(r: Rig, inv: TestInverter, comm: string, n = 2): Ctx {
  const proc = spawn(r.kernel, { comm });
  const fd = proc.open(inv.vdev.path, O_RDWR);
  const src: number[] = [];
  const dst: number[] = [];
  for (const [type, list, prot] of [
    [OUT, src, PROT_WRITE],
    [CAP, dst, PROT_READ],
  ] as const) {
    proc.ioctl(fd, VIDIOC_REQBUFS, { count: n, type, memory: MMAP, capabilities: 0, flags: 0 });
    for (let i = 0; i < n; i++) {
      const b = v4l2Buffer({ index: i, type, memory: MMAP });
      proc.ioctl(fd, VIDIOC_QUERYBUF, b);
      list.push(
        proc.mmap({ fd, length: b.length, prot: prot | PROT_READ, flags: MAP_SHARED, offset: b.m.offset }),
      );
    }
  }
  return { proc, fd, src, dst };
}

function fill(seed: number): Uint8Array {
  return Uint8Array.from({ length: SIZE }, (_, i) => (i * 13 + seed) & 0xff);
}

function queueFrame(c: Ctx, i: number, seed: number): void {
  c.proc.memWrite(c.src[i]!, fill(seed));
  c.proc.ioctl(
    c.fd,
    VIDIOC_QBUF,
    v4l2Buffer({
      index: i,
      type: OUT,
      memory: MMAP,
      bytesused: SIZE,
      timestamp: { tv_sec: seed, tv_usec: 0 },
    }),
  );
  c.proc.ioctl(c.fd, VIDIOC_QBUF, v4l2Buffer({ index: i, type: CAP, memory: MMAP }));
}

async function dq(r: Rig, c: Ctx, type: number) {
  const b = v4l2Buffer({ type, memory: MMAP });
  await r.kernel.clock.runUntil(Promise.resolve(c.proc.ioctl(c.fd, VIDIOC_DQBUF, b)));
  return b;
}

describe("mem2mem", () => {
  it("the CAPTURE queue's MMAP offsets carry DST_QUEUE_OFF_BASE and map the capture buffers", () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "rotator");
    const inv = new TestInverter(r.kernel, dev, port);
    const c = openCtx(r, inv, "app", 1);
    const b = v4l2Buffer({ index: 0, type: CAP, memory: MMAP });
    c.proc.ioctl(c.fd, VIDIOC_QUERYBUF, b);
    expect(b.m.offset).toBe(DST_QUEUE_OFF_BASE);
    const o = v4l2Buffer({ index: 0, type: OUT, memory: MMAP });
    c.proc.ioctl(c.fd, VIDIOC_QUERYBUF, o);
    expect(o.m.offset).toBe(0);
    expect(c.dst).toHaveLength(1);
    c.proc.exit(0);
  });

  it("inverts source into destination by DMA, copying the timestamp", async () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "rotator");
    const inv = new TestInverter(r.kernel, dev, port);
    const c = openCtx(r, inv, "app");
    queueFrame(c, 0, 5);
    c.proc.ioctl(c.fd, VIDIOC_STREAMON, OUT);
    c.proc.ioctl(c.fd, VIDIOC_STREAMON, CAP);
    const d = await dq(r, c, CAP);
    const s = await dq(r, c, OUT);
    expect(s.index).toBe(0);
    expect(d.bytesused).toBe(SIZE);
    expect(d.timestamp).toEqual({ tv_sec: 5, tv_usec: 0 });
    const want = fill(5).map((x) => 255 - x);
    expect(firstDiff(c.proc.memRead(c.dst[d.index]!, SIZE), want)).toBe(-1);
    expect(r.cpu.checker.total).toBe(0);
    c.proc.exit(0);
  });

  it("schedules one job at a time across two contexts, alternating as they become ready", async () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "rotator");
    const inv = new TestInverter(r.kernel, dev, port);
    const rec = record(r.kernel, ["v4l2_m2m_job"]);
    const a = openCtx(r, inv, "a", 3);
    const b = openCtx(r, inv, "b", 3);
    for (let i = 0; i < 3; i++) {
      queueFrame(a, i, 10 + i);
      queueFrame(b, i, 20 + i);
    }
    for (const c of [a, b]) {
      c.proc.ioctl(c.fd, VIDIOC_STREAMON, OUT);
      c.proc.ioctl(c.fd, VIDIOC_STREAMON, CAP);
    }
    expect(inv.jobs).toHaveLength(1); // b waits for a's job
    for (let i = 0; i < 3; i++) {
      for (const [c, seed] of [
        [a, 10 + i],
        [b, 20 + i],
      ] as const) {
        const d = await dq(r, c, CAP);
        await dq(r, c, OUT);
        expect(
          firstDiff(
            c.proc.memRead(c.dst[d.index]!, SIZE),
            fill(seed).map((x) => 255 - x),
          ),
        ).toBe(-1);
      }
    }
    const [ia, ib] = [inv.jobs[0]!, inv.jobs[1]!];
    expect(inv.jobs).toEqual([ia, ib, ia, ib, ia, ib]);
    let running = 0;
    for (const e of rec.of("v4l2_m2m_job")) {
      running += e.data.event === "run" ? 1 : e.data.event === "finish" ? -1 : 0;
      expect(running).toBeLessThanOrEqual(1);
    }
    expect(r.kernel.clock.now()).toBe(6 * inv.jobNs);
    a.proc.exit(0);
    b.proc.exit(0);
  });

  it("poll reports POLLOUT and POLLIN when the job's buffers are done", async () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "rotator");
    const inv = new TestInverter(r.kernel, dev, port);
    const c = openCtx(r, inv, "app");
    queueFrame(c, 0, 1);
    c.proc.ioctl(c.fd, VIDIOC_STREAMON, OUT);
    c.proc.ioctl(c.fd, VIDIOC_STREAMON, CAP);
    expect(await c.proc.poll([{ fd: c.fd, events: POLLIN | POLLOUT }], 0)).toEqual([0]);
    const [first] = await r.kernel.clock.runUntil(c.proc.poll([{ fd: c.fd, events: POLLIN | POLLOUT }]));
    expect(first).toBeGreaterThan(0);
    expect(r.kernel.clock.now()).toBe(inv.jobNs);
    const [both] = await c.proc.poll([{ fd: c.fd, events: POLLIN | POLLOUT }], 0);
    expect(both! & (POLLIN | POLLOUT)).toBe(POLLIN | POLLOUT);
    c.proc.exit(0);
  });

  it("STREAMOFF during a job aborts it (buffers ERROR) and waits for it when the abort is not immediate", async () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "rotator");
    const inv = new TestInverter(r.kernel, dev, port);
    const c = openCtx(r, inv, "app");
    queueFrame(c, 0, 1);
    c.proc.ioctl(c.fd, VIDIOC_STREAMON, OUT);
    c.proc.ioctl(c.fd, VIDIOC_STREAMON, CAP);
    expect(inv.jobs).toHaveLength(1);
    // an immediate abort: STREAMOFF returns at once; the done buffers of the other queue carry ERROR
    expect(c.proc.ioctl(c.fd, VIDIOC_STREAMOFF, OUT)).toBe(0);
    expect(inv.aborts).toBe(1);
    c.proc.setFileFlags(c.fd, O_NONBLOCK);
    const d = v4l2Buffer({ type: CAP, memory: MMAP });
    c.proc.ioctl(c.fd, VIDIOC_DQBUF, d);
    expect(d.flags & V4L2_BUF_FLAG_ERROR).toBeTruthy();
    c.proc.setFileFlags(c.fd, 0);
    // a lazy abort: STREAMOFF waits for the job to finish on virtual time
    queueFrame(c, 1, 2);
    c.proc.ioctl(c.fd, VIDIOC_STREAMON, OUT);
    expect(inv.jobs).toHaveLength(2);
    inv.lazyAbort = true;
    const p = c.proc.ioctl(c.fd, VIDIOC_STREAMOFF, CAP);
    expect(p).toBeInstanceOf(Promise);
    await expect(r.kernel.clock.runUntil(p as Promise<number>)).resolves.toBe(0);
    expect(r.kernel.clock.now()).toBe(inv.jobNs);
    c.proc.exit(0);
  });

  it("closing a context with a job running releases it when the job finishes; nothing leaks", async () => {
    const r = boot();
    const { dev, port } = sysmmuDevice(r, "rotator");
    const inv = new TestInverter(r.kernel, dev, port);
    const warm = openCtx(r, inv, "warm");
    warm.proc.exit(0);
    const before = freeCounts(r);
    const c = openCtx(r, inv, "app");
    queueFrame(c, 0, 1);
    c.proc.ioctl(c.fd, VIDIOC_STREAMON, OUT);
    c.proc.ioctl(c.fd, VIDIOC_STREAMON, CAP);
    inv.lazyAbort = true;
    c.proc.exit(0);
    expect(freeCounts(r)).not.toEqual(before);
    await r.kernel.clock.runUntilIdle();
    expect(inv.m2m.currCtx).toBeNull();
    expect(freeCounts(r)).toEqual(before);
  });

  it("job_ready gates scheduling; suspend waits for the running job and resume restarts the queue", async () => {
    const r = boot({ dramMiB: 32, cmaMiB: 0 });
    let ready = false;
    const runs: string[] = [];
    let ctx!: V4l2M2mCtx;
    const m2m = v4l2M2mInit(r.kernel, {
      deviceRun: (priv) => {
        runs.push(String(priv));
        r.kernel.clock.after(1000, () => v4l2M2mBufDoneAndJobFinish(m2m, ctx, Vb2BufferState.DONE));
      },
      jobReady: () => ready,
    });
    const ops: Vb2Ops = {
      queueSetup: (_q, s) => {
        s.numPlanes = 1;
        s.sizes[0] = 4096;
      },
      bufQueue: (vb) => v4l2M2mBufQueue(ctx, vb),
    };
    const mk = (type: number) =>
      vb2QueueInit(r.kernel, {
        type,
        ioModes: VB2_MMAP,
        ops,
        memOps: vb2VmallocMemops,
        timestampFlags: 0x4000,
      });
    ctx = v4l2M2mCtxInit(m2m, "ctx-a", () => ({ src: mk(OUT), dst: mk(CAP) }));
    for (const type of [OUT, CAP]) {
      const q = v4l2M2mGetVq(ctx, type);
      vb2Reqbufs(q, { count: 2, type, memory: MMAP, capabilities: 0, flags: 0 });
      vb2Qbuf(q, v4l2Buffer({ index: 0, type, memory: MMAP, bytesused: 1 }));
      vb2Streamon(q, type);
    }
    v4l2M2mTrySchedule(ctx);
    expect(runs).toEqual([]); // not ready
    ready = true;
    v4l2M2mTrySchedule(ctx);
    expect(runs).toEqual(["ctx-a"]);
    const s = v4l2M2mSuspend(m2m);
    for (const type of [OUT, CAP]) {
      vb2Qbuf(v4l2M2mGetVq(ctx, type), v4l2Buffer({ index: 1, type, memory: MMAP, bytesused: 1 }));
    }
    await r.kernel.clock.runUntil(s);
    expect(r.kernel.clock.now()).toBe(1000);
    v4l2M2mTrySchedule(ctx);
    await r.kernel.clock.runFor(5000);
    expect(runs).toEqual(["ctx-a"]); // paused
    v4l2M2mResume(m2m);
    expect(runs).toEqual(["ctx-a", "ctx-a"]);
    await r.kernel.clock.runUntilIdle();
    expect(v4l2M2mGetVq(ctx, CAP).doneList).toHaveLength(2);
    v4l2M2mCtxRelease(ctx);
    expect(ctx.released).toBe(true);
    expect(() => v4l2M2mRelease(m2m)).not.toThrow();
  });

  it("v4l2_m2m_init needs device_run", () => {
    const r = boot();
    expect(() => v4l2M2mInit(r.kernel, {} as never)).toThrow(kerr("EINVAL", /deviceRun/));
  });
});
