// The vb2 core through its kernel API (as a driver and the V4L2 layer call it): queue init
// checks, the buffer state machine and the order of the driver's ops, driver-bug warnings,
// partial allocations, and the memory back ends' kernel-side views (vaddr, dma addresses).
import { DMA_ATTR_NO_KERNEL_MAPPING } from "@umm/dma-mapping-arm";
import { KernelError } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_MEMORY_MMAP,
  VB2_MMAP,
  type Vb2Buffer,
  Vb2BufferState,
  type Vb2MemOps,
  type Vb2Ops,
  type Vb2QueueOpts,
  v4l2Buffer,
  vb2BufferDone,
  vb2CoreStreamoff,
  vb2DmaContigMemops,
  vb2DmaContigPlaneDmaAddr,
  vb2DmaSgMemops,
  vb2DmaSgPlaneDesc,
  vb2Dqbuf,
  vb2PlaneCookie,
  vb2PlaneVaddr,
  vb2Qbuf,
  vb2QueueInit,
  vb2QueueRelease,
  vb2Reqbufs,
  vb2StateName,
  vb2Streamon,
  vb2VmallocMemops,
} from "../src/index.js";
import { boot, directDevice, record, sysmmuDevice } from "./helpers.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE;

/** A driver that logs every op with the buffer's state at the time. */
function loggingOps(
  log: string[],
  opts: { planes?: number; size?: number; active?: Vb2Buffer[] } = {},
): Vb2Ops {
  const st = (vb: Vb2Buffer) => vb2StateName(vb.state);
  return {
    queueSetup: (_q, s) => {
      log.push(`queue_setup(${s.numBuffers},${s.numPlanes})`);
      if (!s.numPlanes) {
        s.numPlanes = opts.planes ?? 1;
        for (let i = 0; i < s.numPlanes; i++) s.sizes[i] = opts.size ?? 8192;
      }
    },
    bufInit: (vb) => log.push(`buf_init(${vb.index})`),
    bufPrepare: (vb) => log.push(`buf_prepare(${vb.index},${st(vb)})`),
    bufFinish: (vb) => log.push(`buf_finish(${vb.index},${st(vb)})`),
    bufCleanup: (vb) => log.push(`buf_cleanup(${vb.index})`),
    bufQueue: (vb) => {
      log.push(`buf_queue(${vb.index},${st(vb)})`);
      opts.active?.push(vb);
    },
    startStreaming: (_q, n) => log.push(`start_streaming(${n})`),
    stopStreaming: () => {
      log.push("stop_streaming");
      for (const vb of opts.active?.splice(0) ?? []) vb2BufferDone(vb, Vb2BufferState.ERROR);
    },
  };
}

function queueOpts(over: Partial<Vb2QueueOpts> = {}): Vb2QueueOpts {
  return {
    type: CAP,
    ioModes: VB2_MMAP,
    ops: loggingOps([]),
    memOps: vb2VmallocMemops,
    timestampFlags: V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
    ...over,
  };
}

const req = (count: number) => ({ count, type: CAP, memory: V4L2_MEMORY_MMAP, capabilities: 0, flags: 0 });

describe("vb2QueueInit", () => {
  it("rejects what vb2_core_queue_init WARNs about with EINVAL", () => {
    const { kernel } = boot({ dramMiB: 32, cmaMiB: 0 });
    const ops = loggingOps([]);
    expect(() => vb2QueueInit(kernel, queueOpts({ type: 0 }))).toThrow(kerr("EINVAL", /type/));
    expect(() => vb2QueueInit(kernel, queueOpts({ ioModes: 0 }))).toThrow(kerr("EINVAL", /ioModes/));
    expect(() => vb2QueueInit(kernel, queueOpts({ ops: { ...ops, bufQueue: undefined as never } }))).toThrow(
      kerr("EINVAL", /bufQueue/),
    );
    expect(() => vb2QueueInit(kernel, queueOpts({ maxNumBuffers: 16 }))).toThrow(kerr("EINVAL", /below 32/));
    expect(() => vb2QueueInit(kernel, queueOpts({ minQueuedBuffers: 40 }))).toThrow(
      kerr("EINVAL", /minQueuedBuffers/),
    );
    expect(() => vb2QueueInit(kernel, queueOpts({ ops: { ...ops, waitPrepare: () => {} } }))).toThrow(
      kerr("EINVAL", /waitPrepare/),
    );
    expect(() => vb2QueueInit(kernel, queueOpts({ timestampFlags: 1 }))).toThrow(kerr("EINVAL", /timestamp/));
    const q = vb2QueueInit(kernel, queueOpts({ maxNumBuffers: 100000, minQueuedBuffers: 3 }));
    expect(q.maxNumBuffers).toBe(32768);
    expect(q.minReqbufsAllocation).toBe(4);
    expect(q.dmaDir).toBe(2); // DMA_FROM_DEVICE for capture
    expect(vb2QueueInit(kernel, queueOpts({ type: V4L2_BUF_TYPE_VIDEO_OUTPUT })).dmaDir).toBe(1);
    expect(vb2QueueInit(kernel, queueOpts({ bidirectional: true })).dmaDir).toBe(0);
  });
});

describe("the buffer state machine", () => {
  it("DEQUEUED → PREPARING → QUEUED → ACTIVE → DONE → DEQUEUED, with the ops in the kernel's order", async () => {
    const { kernel } = boot({ dramMiB: 32, cmaMiB: 0 });
    const log: string[] = [];
    const active: Vb2Buffer[] = [];
    const q = vb2QueueInit(kernel, queueOpts({ ops: loggingOps(log, { active }) }));
    vb2Reqbufs(q, req(2));
    expect(log).toEqual(["queue_setup(2,0)", "buf_init(0)", "buf_init(1)"]);
    log.length = 0;
    const b = v4l2Buffer({ index: 0, type: CAP, memory: V4L2_MEMORY_MMAP });
    vb2Qbuf(q, b);
    expect(q.bufs[0]!.state).toBe(Vb2BufferState.QUEUED);
    vb2Qbuf(q, v4l2Buffer({ index: 1, type: CAP, memory: V4L2_MEMORY_MMAP }));
    vb2Streamon(q, CAP);
    expect(log).toEqual([
      "buf_prepare(0,preparing)",
      "buf_prepare(1,preparing)",
      "buf_queue(0,active)",
      "buf_queue(1,active)",
      "start_streaming(2)",
    ]);
    log.length = 0;
    const vb = active.shift()!;
    vb.timestamp = 1234;
    vb2BufferDone(vb, Vb2BufferState.DONE);
    expect(vb.state).toBe(Vb2BufferState.DONE);
    const d = v4l2Buffer({ type: CAP, memory: V4L2_MEMORY_MMAP });
    expect(vb2Dqbuf(q, d, true)).toBeUndefined();
    expect(vb.state).toBe(Vb2BufferState.DEQUEUED);
    expect(log).toEqual(["buf_finish(0,done)"]);
    log.length = 0;
    vb2CoreStreamoff(q, CAP);
    expect(log).toEqual(["stop_streaming", "buf_finish(1,error)"]); // buf_finish before __vb2_dqbuf, as the kernel
    log.length = 0;
    vb2QueueRelease(q);
    expect(log).toEqual(["buf_cleanup(0)", "buf_cleanup(1)"]);
  });

  it("a blocking DQBUF calls wait_prepare before it sleeps and wait_finish when it wakes", async () => {
    const { kernel } = boot({ dramMiB: 32, cmaMiB: 0 });
    const log: string[] = [];
    const active: Vb2Buffer[] = [];
    const ops: Vb2Ops = {
      ...loggingOps([], { active }),
      waitPrepare: () => log.push("wait_prepare"),
      waitFinish: () => log.push("wait_finish"),
    };
    const q = vb2QueueInit(kernel, queueOpts({ ops }));
    vb2Reqbufs(q, req(1));
    vb2Qbuf(q, v4l2Buffer({ index: 0, type: CAP, memory: V4L2_MEMORY_MMAP }));
    vb2Streamon(q, CAP);
    const p = vb2Dqbuf(q, v4l2Buffer({ type: CAP, memory: V4L2_MEMORY_MMAP }), false)!;
    expect(log).toEqual(["wait_prepare"]);
    kernel.clock.after(5000, () => vb2BufferDone(active.shift()!, Vb2BufferState.DONE));
    await kernel.clock.runUntil(p);
    expect(log).toEqual(["wait_prepare", "wait_finish"]);
    expect(kernel.clock.now()).toBe(5000);
  });

  it("driver bugs are warnings: vb2_buffer_done on a buffer the driver does not own, buffers left active by stop_streaming", () => {
    const { kernel } = boot({ dramMiB: 32, cmaMiB: 0 });
    const rec = record(kernel, ["vb2_warn"]);
    const active: Vb2Buffer[] = [];
    const ops = { ...loggingOps([], { active }), stopStreaming: () => {} };
    const q = vb2QueueInit(kernel, queueOpts({ ops, name: "buggy" }));
    vb2Reqbufs(q, req(2));
    vb2BufferDone(q.bufs[0]!, Vb2BufferState.DONE);
    expect(q.bufs[0]!.state).toBe(Vb2BufferState.DEQUEUED);
    vb2Qbuf(q, v4l2Buffer({ index: 0, type: CAP, memory: V4L2_MEMORY_MMAP }));
    vb2Streamon(q, CAP);
    vb2BufferDone(active[0]!, 99 as never);
    expect(active[0]!.state).toBe(Vb2BufferState.ERROR);
    vb2Qbuf(q, v4l2Buffer({ index: 1, type: CAP, memory: V4L2_MEMORY_MMAP }));
    vb2CoreStreamoff(q, CAP);
    expect(q.bufs[1]!.state).toBe(Vb2BufferState.DEQUEUED);
    expect(q.ownedByDrvCount).toBe(0);
    expect(rec.of("vb2_warn").map((e) => e.data.message)).toEqual([
      "vb2_buffer_done on buffer 0 in state dequeued",
      "vb2_buffer_done with state unknown: forced to error",
      "driver bug: stop_streaming operation is leaving buffer 1 in active state",
    ]);
  });

  it("REQBUFS: queue_setup errors propagate and leave no memory type; 0 planes is EINVAL", () => {
    const { kernel } = boot({ dramMiB: 32, cmaMiB: 0 });
    const refuse: Vb2Ops = {
      ...loggingOps([]),
      queueSetup: () => {
        throw new KernelError("EINVAL", "no format set");
      },
    };
    const q = vb2QueueInit(kernel, queueOpts({ ops: refuse }));
    expect(() => vb2Reqbufs(q, req(2))).toThrow(kerr("EINVAL", /no format/));
    expect(q.memory).toBe(0);
    const none: Vb2Ops = { ...loggingOps([]), queueSetup: () => {} };
    const q2 = vb2QueueInit(kernel, queueOpts({ ops: none }));
    expect(() => vb2Reqbufs(q2, req(2))).toThrow(kerr("EINVAL", /0 planes/));
  });

  it("REQBUFS with memory for only some buffers: the driver is asked again and may accept fewer", () => {
    const { kernel } = boot({ dramMiB: 32, cmaMiB: 0 });
    let left = 3;
    const scarce: Vb2MemOps = {
      ...vb2VmallocMemops,
      alloc: (vb, dev, size) => {
        if (left-- <= 0) throw new KernelError("ENOMEM", "out of test memory");
        return vb2VmallocMemops.alloc!(vb, dev, size);
      },
    };
    const log: string[] = [];
    const q = vb2QueueInit(kernel, queueOpts({ memOps: scarce, ops: loggingOps(log) }));
    const r = req(5);
    vb2Reqbufs(q, r);
    expect(r.count).toBe(3);
    expect(log.filter((l) => l.startsWith("queue_setup"))).toEqual(["queue_setup(5,0)", "queue_setup(3,0)"]);
    // below min_reqbufs_allocation: ENOMEM and nothing kept
    left = 1;
    const q2 = vb2QueueInit(kernel, queueOpts({ memOps: scarce, minQueuedBuffers: 2 }));
    expect(() => vb2Reqbufs(q2, req(4))).toThrow(kerr("ENOMEM", /fewer than the minimum 3/));
    expect(q2.numBuffers).toBe(0);
    left = 0;
    expect(() => vb2Reqbufs(q2, req(4))).toThrow(kerr("ENOMEM"));
  });
});

describe("memory back ends, kernel side", () => {
  it("dma-contig: the plane's D.V address, kernel address, and none with DMA_ATTR_NO_KERNEL_MAPPING", () => {
    const r = boot();
    const { dev } = sysmmuDevice(r, "fimc0");
    const q = vb2QueueInit(r.kernel, queueOpts({ memOps: vb2DmaContigMemops, dev }));
    vb2Reqbufs(q, req(1));
    const vb = q.bufs[0]!;
    expect(vb2DmaContigPlaneDmaAddr(vb, 0)).toBeGreaterThanOrEqual(0x20000000);
    expect(vb2PlaneCookie(vb, 0)).toEqual({ dmaAddr: vb2DmaContigPlaneDmaAddr(vb, 0) });
    expect(vb2PlaneVaddr(vb, 0)).toBeGreaterThan(0);
    expect(() => vb2DmaContigPlaneDmaAddr(vb, 1)).toThrow(kerr("EINVAL"));
    const q2 = vb2QueueInit(
      r.kernel,
      queueOpts({ memOps: vb2DmaContigMemops, dev, dmaAttrs: DMA_ATTR_NO_KERNEL_MAPPING }),
    );
    vb2Reqbufs(q2, req(1));
    expect(vb2PlaneVaddr(q2.bufs[0]!, 0)).toBeNull();
    vb2QueueRelease(q);
    vb2QueueRelease(q2);
  });

  it("dma-contig needs a device: allocation without one fails and REQBUFS is ENOMEM", () => {
    const r = boot({ dramMiB: 32, cmaMiB: 0 });
    const q = vb2QueueInit(r.kernel, queueOpts({ memOps: vb2DmaContigMemops, dev: null }));
    expect(() => vb2Reqbufs(q, req(1))).toThrow(kerr("ENOMEM"));
  });

  it("dma-sg: the scatterlist of the plane, pages in the largest orders that fit", () => {
    const r = boot();
    const { dev } = directDevice(r, "fimc0");
    const q = vb2QueueInit(
      r.kernel,
      queueOpts({ memOps: vb2DmaSgMemops, dev, ops: loggingOps([], { size: 3 * 1024 * 1024 }) }),
    );
    vb2Reqbufs(q, req(1));
    const sgt = vb2DmaSgPlaneDesc(q.bufs[0]!, 0);
    expect(sgt.size).toBe(3 * 1024 * 1024);
    expect(sgt.origNents).toBeLessThanOrEqual(2); // 2 MiB + 1 MiB blocks
    vb2QueueRelease(q);
  });
});
