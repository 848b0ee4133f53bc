/**
 * dma-fence (drivers/dma-buf/dma-fence.c): a one-shot completion event of a device job on a
 * timeline (`context`, `seqno`). Signalled exactly once, optionally with an error; callbacks run
 * at signal time; waits are promises settled on virtual time.
 *
 * Fences have no reference count here: a JavaScript fence holds no resource, so the garbage
 * collector plays `dma_fence_put`.
 *
 * @module
 */
import { ERRNO, hex, type Kernel, KernelBug, KernelError, WaitQueue } from "@umm/kernel-core";
import "./trace.js";

/** The driver side of a fence (`struct dma_fence_ops`). */
export interface DmaFenceOps {
  /** name of the driver that signals it */
  readonly getDriverName: (f: DmaFence) => string;
  /** name of the timeline */
  readonly getTimelineName: (f: DmaFence) => string;
  /** asked once when someone first waits or adds a callback; false means "already done" */
  readonly enableSignaling?: (f: DmaFence) => boolean;
  /** polled by `isSignaled`; true makes the fence signal now */
  readonly signaled?: (f: DmaFence) => boolean;
}

/** A fence callback (`dma_fence_func_t`). */
export type DmaFenceCallback = (f: DmaFence) => void;

interface FenceState {
  contexts: number;
  waitq: WaitQueue;
  stub: DmaFence | null;
}

const states = new WeakMap<Kernel, FenceState>();
function state(kernel: Kernel): FenceState {
  let s = states.get(kernel);
  if (!s) {
    s = { contexts: 1, waitq: new WaitQueue(kernel.clock), stub: null };
    states.set(kernel, s);
  }
  return s;
}

/** `dma_fence_context_alloc(num)`: the first of `num` fresh timeline contexts. */
export function dmaFenceContextAlloc(kernel: Kernel, num = 1): number {
  if (!Number.isInteger(num) || num < 1)
    throw new KernelError("EINVAL", `dma_fence_context_alloc: num ${num} must be >= 1`);
  const s = state(kernel);
  const first = s.contexts;
  s.contexts += num;
  return first;
}

/** A fence. */
export class DmaFence {
  readonly kernel: Kernel;
  readonly ops: DmaFenceOps;
  readonly context: number;
  readonly seqno: number;
  #signaled = false;
  #error = 0;
  #timestamp: number | null = null;
  #enabled = false;
  #callbacks: DmaFenceCallback[] = [];

  /** `dma_fence_init` */
  constructor(kernel: Kernel, ops: DmaFenceOps, context: number, seqno: number) {
    this.kernel = kernel;
    this.ops = ops;
    this.context = context;
    this.seqno = seqno;
    kernel.trace.emit("dma_fence_init", {
      driver: ops.getDriverName(this),
      timeline: ops.getTimelineName(this),
      context,
      seqno,
    });
  }

  /** Virtual time of the signal (ns), or null while pending. */
  get timestamp(): number | null {
    return this.#timestamp;
  }

  /** The error set with `setError` (negative errno), 0 when none. */
  get error(): number {
    return this.#error;
  }

  /** True once signalled (without polling the driver). */
  get signaledFlag(): boolean {
    return this.#signaled;
  }

  /** @internal */
  _enableSignaling(): void {
    if (this.#enabled || this.#signaled) return;
    this.#enabled = true;
    if (this.ops.enableSignaling && !this.ops.enableSignaling(this)) this.#doSignal();
  }

  #doSignal(): void {
    this.#signaled = true;
    this.#timestamp = this.kernel.clock.now();
    this.kernel.trace.emit("dma_fence_signaled", {
      driver: this.ops.getDriverName(this),
      timeline: this.ops.getTimelineName(this),
      context: this.context,
      seqno: this.seqno,
    });
    const cbs = this.#callbacks;
    this.#callbacks = [];
    for (const cb of cbs) cb(this);
    state(this.kernel).waitq.wakeUp();
  }

  /** @internal signal if not yet signalled; false when it already was */
  _signal(): boolean {
    if (this.#signaled) return false;
    this.#doSignal();
    return true;
  }

  /** @internal */
  _setError(errno: number): void {
    this.#error = errno;
  }

  /** @internal */
  _addCallback(cb: DmaFenceCallback): boolean {
    if (this.#signaled) return false;
    this._enableSignaling();
    if (this.#signaled) return false;
    this.#callbacks.push(cb);
    return true;
  }

  /** @internal */
  _removeCallback(cb: DmaFenceCallback): boolean {
    const i = this.#callbacks.indexOf(cb);
    if (i < 0) return false;
    this.#callbacks.splice(i, 1);
    return true;
  }

  toString(): string {
    return `fence ${this.context}:${this.seqno}${this.#signaled ? " (signaled)" : ""}`;
  }
}

/**
 * `dma_fence_signal`: signals `f`, stamping the virtual time and running its callbacks. Returns 0,
 * or -EINVAL when it was already signalled (as the kernel).
 */
export function dmaFenceSignal(f: DmaFence): number {
  return f._signal() ? 0 : -ERRNO.EINVAL;
}

/**
 * `dma_fence_is_signaled`: true once signalled; asks the driver's `signaled` op and signals the
 * fence when it answers true.
 */
export function dmaFenceIsSignaled(f: DmaFence): boolean {
  if (f.signaledFlag) return true;
  if (f.ops.signaled?.(f)) {
    f._signal();
    return true;
  }
  return false;
}

/** `dma_fence_enable_sw_signaling` */
export function dmaFenceEnableSwSignaling(f: DmaFence): void {
  f._enableSignaling();
}

/**
 * `dma_fence_add_callback`: 0 when installed, -ENOENT when the fence is already signalled (the
 * callback is then not installed and never called).
 */
export function dmaFenceAddCallback(f: DmaFence, cb: DmaFenceCallback): number {
  if (dmaFenceIsSignaled(f)) return -ERRNO.ENOENT;
  return f._addCallback(cb) ? 0 : -ERRNO.ENOENT;
}

/** `dma_fence_remove_callback`: true when the callback was still pending. */
export function dmaFenceRemoveCallback(f: DmaFence, cb: DmaFenceCallback): boolean {
  return f._removeCallback(cb);
}

/**
 * `dma_fence_set_error`: records a negative errno to report at signal time. Setting it after the
 * fence signalled, or a value that is not a negative errno, is a bug (the kernel WARNs).
 */
export function dmaFenceSetError(f: DmaFence, errno: number): void {
  if (f.signaledFlag) throw new KernelBug(`dma_fence_set_error on ${f} after it signaled`);
  if (!(errno < 0 && errno >= -4095))
    throw new KernelBug(`dma_fence_set_error: ${errno} is not a negative errno`);
  f._setError(errno);
}

/** `dma_fence_get_status`: 0 pending, 1 signalled fine, the negative error when it failed. */
export function dmaFenceGetStatus(f: DmaFence): number {
  if (!dmaFenceIsSignaled(f)) return 0;
  return f.error < 0 ? f.error : 1;
}

/**
 * `dma_fence_wait_timeout` with the default wait's return values, in virtual nanoseconds: the
 * time left (at least 1) when the fence signals in time, 0 on timeout. `timeout` 0 only polls.
 * `undefined` waits forever (MAX_SCHEDULE_TIMEOUT).
 */
export async function dmaFenceWaitTimeout(f: DmaFence, timeout?: number): Promise<number> {
  if (timeout !== undefined && !(timeout >= 0)) {
    throw new KernelError("EINVAL", `dma_fence_wait_timeout: timeout ${timeout} must be >= 0`);
  }
  const start = f.kernel.clock.now();
  if (dmaFenceIsSignaled(f)) return timeout === undefined || timeout === 0 ? 1 : timeout;
  if (timeout === 0) return 0;
  f._enableSignaling();
  f.kernel.trace.emit("dma_fence_wait_start", { context: f.context, seqno: f.seqno });
  const ok = await state(f.kernel).waitq.wait(() => dmaFenceIsSignaled(f), timeout);
  f.kernel.trace.emit("dma_fence_wait_end", { context: f.context, seqno: f.seqno });
  if (!ok) return 0;
  if (timeout === undefined) return 1;
  return Math.max(1, timeout - (f.kernel.clock.now() - start));
}

/**
 * Waits like `dmaFenceWaitTimeout` but throws `KernelError("ETIME")` on timeout (the sync_file
 * and driver-level convention).
 */
export async function dmaFenceWait(f: DmaFence, timeout?: number): Promise<void> {
  if ((await dmaFenceWaitTimeout(f, timeout)) === 0) {
    throw new KernelError("ETIME", `${f} did not signal within ${timeout} ns`);
  }
}

const stubOps: DmaFenceOps = Object.freeze({
  getDriverName: () => "stub",
  getTimelineName: () => "stub",
});

/** `dma_fence_get_stub`: the kernel's one always-signalled fence. */
export function dmaFenceGetStub(kernel: Kernel): DmaFence {
  const s = state(kernel);
  if (!s.stub) {
    s.stub = new DmaFence(kernel, stubOps, 0, 0);
    s.stub._signal();
  }
  return s.stub;
}

/** `dma_fence_allocate_private_stub`: a new fence, already signalled. */
export function dmaFenceAllocatePrivateStub(kernel: Kernel): DmaFence {
  const f = new DmaFence(kernel, stubOps, dmaFenceContextAlloc(kernel), 0);
  f._signal();
  return f;
}

/** `dma_fence_is_later(a, b)`: same context, `a` later than `b`. */
export function dmaFenceIsLater(a: DmaFence, b: DmaFence): boolean {
  if (a.context !== b.context)
    throw new KernelBug(`dma_fence_is_later: ${a} and ${b} are on different contexts`);
  return a.seqno > b.seqno;
}

/** A software fence driver for tests and simple timelines (like the kernel selftests' mock). */
export function mockFenceOps(driver = "mock", timeline = "mock"): DmaFenceOps {
  return Object.freeze({ getDriverName: () => driver, getTimelineName: () => timeline });
}

/** Formats a context:seqno pair for messages. */
export function fenceName(f: DmaFence): string {
  return `${f.ops.getDriverName(f)}:${f.ops.getTimelineName(f)} ${f.context}:${hex(f.seqno)}`;
}
