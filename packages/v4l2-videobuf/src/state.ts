/**
 * The per-kernel state of videobuf2: tracepoints looked up once, the live queues (for the
 * shutdown report), the registered video nodes and the next free `/dev/videoN` number.
 *
 * @module
 */
import { defineSlot, type Kernel, type Tracepoint } from "@umm/kernel-core";
import "./trace.js";

/** What the shutdown report needs to know of a queue. @internal */
export interface QueueInfo {
  readonly name: string;
  readonly numBuffers: number;
}

/** @internal */
export interface Vb2State {
  readonly kernel: Kernel;
  readonly queues: Set<QueueInfo>;
  /** registered video nodes by path */
  readonly nodes: Map<string, unknown>;
  nextMinor: number;
  nextCtxId: number;
  readonly tp: {
    readonly qbuf: Tracepoint<"vb2_qbuf">;
    readonly dqbuf: Tracepoint<"vb2_dqbuf">;
    readonly bufQueue: Tracepoint<"vb2_buf_queue">;
    readonly bufDone: Tracepoint<"vb2_buf_done">;
    readonly v4l2Qbuf: Tracepoint<"v4l2_qbuf">;
    readonly v4l2Dqbuf: Tracepoint<"v4l2_dqbuf">;
    readonly warn: Tracepoint<"vb2_warn">;
    readonly m2mJob: Tracepoint<"v4l2_m2m_job">;
  };
}

const VB2 = defineSlot<Vb2State>("videobuf2");

/** The videobuf2 state of `kernel`, created on first use. @internal */
export function vb2State(kernel: Kernel): Vb2State {
  const have = kernel.trySlot(VB2);
  if (have) return have;
  const t = kernel.trace;
  const st: Vb2State = {
    kernel,
    queues: new Set(),
    nodes: new Map(),
    nextMinor: 0,
    nextCtxId: 1,
    tp: {
      qbuf: t.tracepoint("vb2_qbuf"),
      dqbuf: t.tracepoint("vb2_dqbuf"),
      bufQueue: t.tracepoint("vb2_buf_queue"),
      bufDone: t.tracepoint("vb2_buf_done"),
      v4l2Qbuf: t.tracepoint("v4l2_qbuf"),
      v4l2Dqbuf: t.tracepoint("v4l2_dqbuf"),
      warn: t.tracepoint("vb2_warn"),
      m2mJob: t.tracepoint("v4l2_m2m_job"),
    },
  };
  kernel.setSlot(VB2, st);
  kernel.onShutdown("videobuf2", () => {
    for (const q of st.queues) {
      const n = q.numBuffers;
      if (n > 0) vb2Warn(st, q.name, `${n} buffer(s) still allocated at shutdown`);
    }
  });
  return st;
}

/** A WARN: one `vb2_warn` event. @internal */
export function vb2Warn(st: Vb2State, queue: string, message: string): void {
  if (st.tp.warn.enabled) st.tp.warn.emit({ queue, message });
}
