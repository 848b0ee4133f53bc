/**
 * Virtual time: a clock in nanoseconds that moves only when the simulation says so, timers on it,
 * and wait queues. Blocking calls (a DQBUF that waits for a buffer, a fence wait with a timeout)
 * are promises that a wake-up or a timer settles; `runUntilIdle` drives them, firing timers in
 * time order with every microtask settled in between, so that the same program always sees the
 * same interleaving.
 *
 * @module
 */
import { KernelBug } from "./error.js";

/** A scheduled timer; `cancel` stops it if it has not fired. */
export interface TimerHandle {
  /** absolute fire time in ns */
  readonly at: number;
  readonly label: string;
  /** True until it fires or is cancelled. */
  readonly pending: boolean;
  cancel(): void;
}

interface Timer extends TimerHandle {
  seq: number;
  fn: () => void;
  pending: boolean;
}

/** Lets pending promise continuations run (they all run before the next macrotask). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Nanoseconds per unit, for readability at call sites. */
export const NSEC_PER_USEC = 1_000;
export const NSEC_PER_MSEC = 1_000_000;
export const NSEC_PER_SEC = 1_000_000_000;

/** A virtual clock with timers (a binary heap ordered by time, then by scheduling order). */
export class Clock {
  #now = 0;
  #seq = 0;
  readonly #heap: Timer[] = [];

  /** Current virtual time in ns. */
  now(): number {
    return this.#now;
  }

  /** Number of timers waiting to fire. */
  get pending(): number {
    return this.#heap.length;
  }

  /** Time of the next timer, or `undefined`. */
  get nextAt(): number | undefined {
    return this.#heap[0]?.at;
  }

  /** Schedules `fn` at absolute time `at` (not before now). */
  at(at: number, fn: () => void, label = "timer"): TimerHandle {
    if (!(at >= this.#now) || !Number.isFinite(at)) {
      throw new RangeError(`Clock.at: time ${at} is before now (${this.#now}) or not finite`);
    }
    const t: Timer = {
      at,
      label,
      seq: this.#seq++,
      fn,
      pending: true,
      cancel: () => {
        if (!t.pending) return;
        t.pending = false;
        this.#remove(t);
      },
    };
    this.#push(t);
    return t;
  }

  /** Schedules `fn` after `delay` ns. */
  after(delay: number, fn: () => void, label = "timer"): TimerHandle {
    if (!(delay >= 0)) throw new RangeError(`Clock.after: delay ${delay} must be >= 0`);
    return this.at(this.#now + delay, fn, label);
  }

  /** A promise that resolves after `delay` ns of virtual time. */
  sleep(delay: number): Promise<void> {
    return new Promise((resolve) => this.after(delay, resolve, "sleep"));
  }

  /**
   * Fires timers in order until none is left, or until the next would fire after `until` (then
   * the clock stops at `until` when given). Microtasks settle after each timer. Returns the
   * number of timers fired.
   */
  async runUntilIdle(opts: { until?: number; maxTimers?: number } = {}): Promise<number> {
    const until = opts.until ?? Number.POSITIVE_INFINITY;
    const max = opts.maxTimers ?? Number.POSITIVE_INFINITY;
    let fired = 0;
    await settle();
    while (fired < max) {
      const next = this.#heap[0];
      if (!next || next.at > until) break;
      this.#pop();
      this.#now = next.at;
      next.pending = false;
      next.fn();
      fired++;
      await settle();
    }
    if (until !== Number.POSITIVE_INFINITY && until > this.#now && fired < max) this.#now = until;
    return fired;
  }

  /** Runs timers for `delay` ns of virtual time from now. */
  runFor(delay: number): Promise<number> {
    return this.runUntilIdle({ until: this.#now + delay });
  }

  /** Runs until `promise` settles (firing timers as needed) and returns its value. */
  async runUntil<T>(promise: Promise<T>): Promise<T> {
    let done = false;
    const p = promise.finally(() => {
      done = true;
    });
    // the caller handles the outcome when we return p; until then, don't let a rejection that
    // happens between two timers count as unhandled
    p.catch(() => {});
    await settle();
    while (!done) {
      if (this.#heap.length === 0) {
        await settle();
        if (!done) throw new KernelBug("Clock.runUntil: the promise can never settle (no timer left)");
        break;
      }
      await this.runUntilIdle({ maxTimers: 1 });
    }
    return p;
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i] as Timer, h[p] as Timer)) break;
      [h[i], h[p]] = [h[p] as Timer, h[i] as Timer];
      i = p;
    }
  }

  #pop(): Timer | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      this.#sift(0);
    }
    return top;
  }

  #remove(t: Timer): void {
    const h = this.#heap;
    const i = h.indexOf(t);
    if (i < 0) return;
    const last = h.pop() as Timer;
    if (i < h.length) {
      h[i] = last;
      this.#sift(i);
      let j = i;
      while (j > 0) {
        const p = (j - 1) >> 1;
        if (!this.#less(h[j] as Timer, h[p] as Timer)) break;
        [h[j], h[p]] = [h[p] as Timer, h[j] as Timer];
        j = p;
      }
    }
  }

  #sift(i: number): void {
    const h = this.#heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l] as Timer, h[m] as Timer)) m = l;
      if (r < h.length && this.#less(h[r] as Timer, h[m] as Timer)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m] as Timer, h[i] as Timer];
      i = m;
    }
  }

  #less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}

/**
 * A wait queue (include/linux/wait.h): tasks wait until a condition holds; whoever changes the
 * state calls `wakeUp` and every waiter re-checks its condition.
 */
export class WaitQueue {
  readonly #clock: Clock;
  readonly #waiters = new Set<() => void>();
  #wakePending = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Number of tasks waiting. */
  get waiters(): number {
    return this.#waiters.size;
  }

  /**
   * `wait_event_timeout`: resolves true as soon as `cond()` holds (checked now and at every
   * wake-up), or false when `timeout` ns of virtual time pass first (no timeout: waits forever).
   */
  wait(cond: () => boolean, timeout?: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      let timer: TimerHandle | undefined;
      const check = (): void => {
        if (cond()) {
          this.#waiters.delete(check);
          timer?.cancel();
          resolve(true);
        }
      };
      this.#waiters.add(check);
      if (timeout !== undefined) {
        timer = this.#clock.after(
          timeout,
          () => {
            if (!this.#waiters.has(check)) return;
            this.#waiters.delete(check);
            resolve(cond());
          },
          "wait-timeout",
        );
      }
    });
  }

  /**
   * `wake_up_all`: every waiter re-checks its condition — when it next runs, as in Linux: the
   * checks happen in a microtask, after the waker has finished updating its state.
   */
  wakeUp(): void {
    if (this.#wakePending || this.#waiters.size === 0) return;
    this.#wakePending = true;
    queueMicrotask(() => {
      this.#wakePending = false;
      for (const w of [...this.#waiters]) w();
    });
  }
}
