/**
 * The kernel context: one simulated kernel's clock, PRNG, trace bus, current task, devices and
 * subsystem state. Everything the real kernel keeps in globals, umm keeps here, so that tests
 * can boot as many independent kernels as they like.
 *
 * Subsystems keep their state in typed slots: a package declares `defineSlot<State>("cma")`, its
 * init function stores the state with `kernel.setSlot`, and its API finds it with `kernel.slot`.
 *
 * @module
 */
import type { Device } from "./device.js";
import { KernelBug } from "./error.js";
import { Prng, type Seed } from "./prng.js";
import { Clock } from "./time.js";
import { TraceBus } from "./trace.js";

/** The task a kernel call runs on behalf of (for trace records and permission checks). */
export interface Task {
  readonly pid: number;
  readonly comm: string;
}

/**
 * Bus notifier events (`BUS_NOTIFY_*` in include/linux/device/bus.h), for every bus of a kernel:
 * a device was added or is being deleted, a driver is about to bind / has bound / failed to
 * bind (`BUS_NOTIFY_DRIVER_NOT_BOUND`), is about to unbind / has unbound.
 */
export type DeviceEvent =
  | "add_device"
  | "del_device"
  | "bind_driver"
  | "bound_driver"
  | "unbind_driver"
  | "unbound_driver"
  | "driver_not_bound";

/** A bus notifier callback; it must not throw (errors are a `KernelBug`). */
export type DeviceNotifier = (event: DeviceEvent, dev: Device) => void;

/** The idle task: what is current outside any process. */
export const SWAPPER: Task = Object.freeze({ pid: 0, comm: "swapper" });

/** A typed key for one subsystem's state in a `Kernel`. */
export interface SlotKey<T> {
  readonly name: string;
  /** phantom: carries T */
  readonly _type?: T;
}

/** Declares a slot key; keep it module-private to the package that owns the state. */
export function defineSlot<T>(name: string): SlotKey<T> {
  return Object.freeze({ name });
}

/** Options of `createKernel`. */
export interface KernelOpts {
  /** seed of every random choice (default 0) */
  readonly seed?: Seed;
  /** shown in reports (default "umm") */
  readonly name?: string;
}

/** One simulated kernel. */
export class Kernel {
  readonly name: string;
  /** the root PRNG; subsystems take `rng.fork("<subsystem>")` */
  readonly rng: Prng;
  readonly clock: Clock;
  readonly trace: TraceBus;
  /** every registered device, by name */
  readonly devices: Map<string, Device> = new Map();
  #current: Task = SWAPPER;
  #nextDeviceId = 1;
  readonly #slots = new Map<SlotKey<unknown>, unknown>();
  readonly #shutdown: { name: string; fn: () => void }[] = [];
  readonly #notifiers: DeviceNotifier[] = [];
  #down = false;

  constructor(opts: KernelOpts = {}) {
    this.name = opts.name ?? "umm";
    this.rng = new Prng(opts.seed ?? 0);
    this.clock = new Clock();
    this.trace = new TraceBus({ now: () => this.clock.now(), current: () => this.#current });
  }

  /** The task current now. */
  get current(): Task {
    return this.#current;
  }

  /** Runs `fn` with `task` current (a system call's entry and exit). */
  withCurrent<T>(task: Task, fn: () => T): T {
    const prev = this.#current;
    this.#current = task;
    try {
      return fn();
    } finally {
      this.#current = prev;
    }
  }

  /**
   * `bus_register_notifier` for every bus of this kernel: `fn` hears each device event. Returns
   * the function that unregisters it.
   */
  onDeviceEvent(fn: DeviceNotifier): () => void {
    this.#notifiers.push(fn);
    return () => {
      const i = this.#notifiers.indexOf(fn);
      if (i >= 0) this.#notifiers.splice(i, 1);
    };
  }

  /** @internal called by the device core */
  _notifyDevice(event: DeviceEvent, dev: Device): void {
    for (const fn of [...this.#notifiers]) fn(event, dev);
  }

  /** A fresh small device id (1, 2, ...), used to tag device accesses. */
  allocDeviceId(): number {
    return this.#nextDeviceId++;
  }

  /** The state of subsystem `key`; a `KernelBug` when the subsystem was never initialised. */
  slot<T>(key: SlotKey<T>): T {
    if (!this.#slots.has(key)) throw new KernelBug(`${key.name} is not initialised on kernel "${this.name}"`);
    return this.#slots.get(key) as T;
  }

  /** The state of `key`, or `undefined`. */
  trySlot<T>(key: SlotKey<T>): T | undefined {
    return this.#slots.get(key) as T | undefined;
  }

  /** Stores a subsystem's state; storing twice is a bug (init ran twice). */
  setSlot<T>(key: SlotKey<T>, value: T): void {
    if (this.#slots.has(key))
      throw new KernelBug(`${key.name} is already initialised on kernel "${this.name}"`);
    this.#slots.set(key, value);
  }

  /** Removes a subsystem's state (its exit function). */
  clearSlot<T>(key: SlotKey<T>): void {
    this.#slots.delete(key);
  }

  /** Registers a teardown step; `shutdown` runs them in reverse order of registration. */
  onShutdown(name: string, fn: () => void): void {
    this.#shutdown.push({ name, fn });
  }

  /** True once `shutdown` ran. */
  get isDown(): boolean {
    return this.#down;
  }

  /** Runs every teardown step, last registered first. Errors are collected and rethrown together. */
  shutdown(): void {
    if (this.#down) return;
    this.#down = true;
    const errors: unknown[] = [];
    for (const step of this.#shutdown.reverse()) {
      try {
        step.fn();
      } catch (e) {
        errors.push(e);
      }
    }
    this.#shutdown.length = 0;
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1)
      throw new AggregateError(errors, `kernel "${this.name}": ${errors.length} teardown steps failed`);
  }
}

/** Creates a kernel. */
export function createKernel(opts: KernelOpts = {}): Kernel {
  return new Kernel(opts);
}
