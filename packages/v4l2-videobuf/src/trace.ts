/**
 * The trace events of videobuf2 and the V4L2 buffer ioctls, named and shaped as
 * `include/trace/events/vb2.h` (`vb2_qbuf`, `vb2_dqbuf`, `vb2_buf_queue`, `vb2_buf_done`) and
 * `include/trace/events/v4l2.h` (`v4l2_qbuf`, `v4l2_dqbuf`), plus `vb2_warn` for the places the
 * kernel WARNs and carries on, and `v4l2_m2m_job` for mem2mem scheduling.
 *
 * @module
 */

/** The fields of the kernel's `vb2_event_class`, plus the queue's name and device. */
export interface Vb2TraceEvent {
  /** the queue's name (`q->name`) */
  queue: string;
  /** the allocating device, or "" for a queue without one (vmalloc) */
  device: string;
  /** buffer index */
  index: number;
  /** the buffer type (V4L2_BUF_TYPE_*) */
  type: number;
  /** the buffer state after the event ("queued", "active", "done", "error", "dequeued") */
  state: string;
  /** bytes used in plane 0 */
  bytesused: number;
  /** the buffer's timestamp in ns */
  timestamp: number;
  /** buffers queued in vb2 (`q->queued_count`) */
  queued_count: number;
  /** buffers owned by the driver (`q->owned_by_drv_count`) */
  owned_by_drv_count: number;
}

/** The fields of the kernel's `v4l2_event_class`: the user-space view of a buffer. */
export interface V4l2BufTraceEvent {
  /** the device node ("/dev/video0") */
  node: string;
  index: number;
  type: number;
  bytesused: number;
  flags: number;
  field: number;
  /** timestamp in ns */
  timestamp: number;
  sequence: number;
}

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /** QBUF put a buffer on the queued list (trace_vb2_qbuf) */
    vb2_qbuf: Vb2TraceEvent;
    /** DQBUF took a buffer off the done list (trace_vb2_dqbuf) */
    vb2_dqbuf: Vb2TraceEvent;
    /** a buffer went to the driver: buf_queue (trace_vb2_buf_queue) */
    vb2_buf_queue: Vb2TraceEvent;
    /** the driver returned a buffer: vb2_buffer_done (trace_vb2_buf_done) */
    vb2_buf_done: Vb2TraceEvent;
    /** VIDIOC_QBUF succeeded (trace_v4l2_qbuf) */
    v4l2_qbuf: V4l2BufTraceEvent;
    /** VIDIOC_DQBUF succeeded (trace_v4l2_dqbuf) */
    v4l2_dqbuf: V4l2BufTraceEvent;
    /** a place where the kernel WARNs and carries on (driver bugs, orphaned buffers) */
    vb2_warn: { queue: string; message: string };
    /** mem2mem: a job started (`device_run`) or finished (`v4l2_m2m_job_finish`) */
    v4l2_m2m_job: { device: string; ctx: number; event: "run" | "finish" | "abort" };
  }
}

/** Names of the events this package emits. */
export type Vb2TraceEventName =
  | "vb2_qbuf"
  | "vb2_dqbuf"
  | "vb2_buf_queue"
  | "vb2_buf_done"
  | "v4l2_qbuf"
  | "v4l2_dqbuf"
  | "vb2_warn"
  | "v4l2_m2m_job";
