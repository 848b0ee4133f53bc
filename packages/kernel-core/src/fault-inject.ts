/**
 * Fault injection (lib/fault-inject.c, mm/failslab.c, mm/fail_page_alloc.c,
 * Documentation/fault-injection/): named allocation sites that can be told to fail, so that
 * every error path above them runs in tests.
 *
 * A subsystem looks its site up once, like a tracepoint, and keeps it:
 *
 * ```ts
 * const fail = faultSite(kernel, "page");
 * // ...at the allocation site, one line, one property read while injection is off:
 * if (fail.armed && fail.shouldFail()) return null;
 * ```
 *
 * A test (or a debugfs write) configures a site with `faultInjectSet(kernel, "page", attrs)`:
 * `failNth` (the n-th call from now fails once, like `/proc/<pid>/fail-nth`), `probability` (per
 * cent), `interval` (only every n-th call is a candidate), `times` (at most this many failures,
 * -1 for no limit). `faultInjectFailNth(kernel, n)` is the task-wide `fail-nth`: the n-th call at
 * any site fails. Each failure emits `fault_injected { site, count }` (count: the calls the site
 * saw while armed, this one included). Random choices come from `kernel.rng.fork("fault-inject/<site>")`,
 * so a run is reproducible from the kernel's seed.
 *
 * The sites umm's allocators declare are `FAULT_SITES`: buddy pages ("page"), CMA allocations
 * ("cma"), IOVA ranges ("iova": iommu-core's allocator and the ARM IOMMU bitmap), SysMMU level-2
 * page tables ("pgtable") and swiotlb slots ("swiotlb").
 *
 * @module
 */
import { KernelError } from "./error.js";
import type { Kernel, SlotKey } from "./kernel.js";
import { defineSlot } from "./kernel.js";
import type { Prng } from "./prng.js";
import type { Tracepoint } from "./trace.js";

declare module "./trace.js" {
  interface TraceEventMap {
    /** an allocation site was made to fail (lib/fault-inject.c `fail_dump`) */
    fault_injected: { site: string; count: number };
  }
}

/** The allocation sites umm's packages declare. */
export const FAULT_SITES: readonly string[] = Object.freeze(["page", "cma", "iova", "pgtable", "swiotlb"]);

/** What `faultInjectSet` configures on a site (the debugfs attributes of a `fault_attr`). */
export interface FaultAttrs {
  /** the n-th call from now fails, once (1: the next one); 0 turns it off */
  readonly failNth?: number;
  /** per cent chance that a candidate call fails (0..100; 0: only `failNth` fails) */
  readonly probability?: number;
  /** only every `interval`-th call is a candidate for `probability` (≥ 1) */
  readonly interval?: number;
  /** at most this many `probability` failures; -1: no limit (debugfs's default is 1) */
  readonly times?: number;
}

/** One site's counters, as `faultInjectStats` reports them. */
export interface FaultSiteStats {
  readonly site: string;
  /** calls seen while the site was armed */
  readonly calls: number;
  /** failures injected */
  readonly injected: number;
}

const ATTR_NAMES: ReadonlySet<string> = new Set(["failNth", "probability", "interval", "times"]);
const SITE_NAME = /^[a-z][a-z0-9_-]*$/;

/** The kernel's fault-injection state: the sites and the task-wide `fail-nth`. */
class FaultInjector {
  readonly kernel: Kernel;
  readonly sites = new Map<string, FaultSite>();
  readonly tp: Tracepoint<"fault_injected">;
  /** task-wide fail-nth: the n-th call at any site fails (0: off) */
  failNth = 0;

  constructor(kernel: Kernel) {
    this.kernel = kernel;
    this.tp = kernel.trace.tracepoint("fault_injected");
  }

  /** Re-derives every site's `armed` after a change. */
  rearm(): void {
    for (const s of this.sites.values()) s._rearm();
  }
}

/**
 * One named allocation site (`struct fault_attr`). Allocation code reads `armed` and calls
 * `shouldFail()` only when it is true; everything else is for tests and reports.
 */
export class FaultSite {
  /** the site's name ("page", "cma", ...) */
  readonly name: string;
  /** true while the site is configured (or a task-wide fail-nth is pending): the one property allocators read */
  armed = false;
  /** calls seen while armed */
  calls = 0;
  /** failures injected */
  injected = 0;
  /** pending fail-nth of this site (0: none) */
  failNth = 0;
  /** per cent */
  probability = 0;
  /** every n-th call is a candidate */
  interval = 1;
  /** failures left (-1: unlimited) */
  times = -1;
  /** configured by `faultInjectSet` */
  configured = false;
  readonly #inj: FaultInjector | null;
  readonly #rng: Prng | null;
  #intervalCount = 0;

  /** @internal use `faultSite` */
  constructor(name: string, inj: FaultInjector | null) {
    this.name = name;
    this.#inj = inj;
    this.#rng = inj ? inj.kernel.rng.fork(`fault-inject/${name}`) : null;
    this._rearm();
  }

  /** @internal */
  _rearm(): void {
    if (Object.isFrozen(this)) return;
    this.armed = this.configured || (this.#inj !== null && this.#inj.failNth > 0);
  }

  /**
   * `should_fail`: counts the call and decides whether it fails (and if so, traces it). Call it
   * only when `armed` is true; a site that is not armed never fails.
   */
  shouldFail(): boolean {
    const inj = this.#inj;
    if (!this.armed || inj === null) return false;
    this.calls++;
    if (inj.failNth > 0) {
      if (--inj.failNth === 0) {
        inj.rearm();
        return this.#fail();
      }
      return false;
    }
    if (this.failNth > 0) {
      if (--this.failNth === 0) return this.#fail();
      return false;
    }
    if (this.probability === 0 || this.times === 0) return false;
    if (this.interval > 1 && ++this.#intervalCount % this.interval !== 0) return false;
    if (this.probability < 100 && this.#rng!.int(0, 99) >= this.probability) return false;
    if (this.times > 0) this.times--;
    return this.#fail();
  }

  #fail(): boolean {
    this.injected++;
    const tp = this.#inj!.tp;
    if (tp.enabled) tp.emit({ site: this.name, count: this.calls });
    return true;
  }
}

/** A site that is never armed, for allocators that run without a kernel (a bare IOVA domain). */
export const FAULT_SITE_OFF: FaultSite = Object.freeze(new FaultSite("off", null)) as FaultSite;

const KEY: SlotKey<FaultInjector> = defineSlot<FaultInjector>("fault-inject");

function injector(kernel: Kernel): FaultInjector {
  let inj = kernel.trySlot(KEY);
  if (!inj) {
    inj = new FaultInjector(kernel);
    kernel.setSlot(KEY, inj);
  }
  return inj;
}

function checkName(name: string): void {
  if (typeof name !== "string" || !SITE_NAME.test(name)) {
    throw new KernelError(
      "EINVAL",
      `fault injection: site name ${JSON.stringify(name)} is not [a-z][a-z0-9_-]*`,
    );
  }
}

/**
 * The site `name` of `kernel`, created unarmed on first use. Allocators look theirs up once and
 * keep it. EINVAL for a name that is not `[a-z][a-z0-9_-]*`.
 */
export function faultSite(kernel: Kernel, name: string): FaultSite {
  checkName(name);
  const inj = injector(kernel);
  let site = inj.sites.get(name);
  if (!site) {
    site = new FaultSite(name, inj);
    inj.sites.set(name, site);
  }
  return site;
}

function intIn(attrs: FaultAttrs, key: keyof FaultAttrs, lo: number, hi: number): number | undefined {
  const v = attrs[key];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < lo || v > hi) {
    throw new KernelError(
      "EINVAL",
      `fault injection: ${key} ${String(v)} is not an integer in ${lo}..${hi === Number.MAX_SAFE_INTEGER ? "" : hi}`,
    );
  }
  return v;
}

/**
 * Configures site `name` (a debugfs write of its attributes) and arms it; attributes not given
 * keep their values. `faultInjectSet(kernel, site, {})` arms a site without making it fail, which
 * counts its calls. EINVAL for an unknown attribute or a value out of range (nothing changes).
 */
export function faultInjectSet(kernel: Kernel, name: string, attrs: FaultAttrs = {}): FaultSite {
  checkName(name);
  if (attrs === null || typeof attrs !== "object") {
    throw new KernelError("EINVAL", "fault injection: attributes must be an object");
  }
  for (const k of Object.keys(attrs)) {
    if (!ATTR_NAMES.has(k)) throw new KernelError("EINVAL", `fault injection: unknown attribute "${k}"`);
  }
  const failNth = intIn(attrs, "failNth", 0, Number.MAX_SAFE_INTEGER);
  const probability = intIn(attrs, "probability", 0, 100);
  const interval = intIn(attrs, "interval", 1, Number.MAX_SAFE_INTEGER);
  const times = intIn(attrs, "times", -1, Number.MAX_SAFE_INTEGER);
  const site = faultSite(kernel, name);
  if (failNth !== undefined) site.failNth = failNth;
  if (probability !== undefined) site.probability = probability;
  if (interval !== undefined) site.interval = interval;
  if (times !== undefined) site.times = times;
  site.configured = true;
  site._rearm();
  return site;
}

/**
 * The task-wide fail-nth (`/proc/self/fail-nth`): the n-th call from now at any site fails, once.
 * Arms every site until then. 0 cancels. EINVAL unless `n` is a non-negative integer.
 */
export function faultInjectFailNth(kernel: Kernel, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new KernelError("EINVAL", `fault injection: fail-nth ${String(n)} is not a non-negative integer`);
  }
  const inj = injector(kernel);
  inj.failNth = n;
  inj.rearm();
}

/** The pending task-wide fail-nth (0: none, or it fired). */
export function faultInjectPendingNth(kernel: Kernel): number {
  return kernel.trySlot(KEY)?.failNth ?? 0;
}

/**
 * Disarms site `name` (every site when no name is given) and forgets its attributes and
 * counters; the task-wide fail-nth too when no name is given.
 */
export function faultInjectClear(kernel: Kernel, name?: string): void {
  const inj = kernel.trySlot(KEY);
  if (!inj) return;
  const one = name === undefined ? undefined : inj.sites.get(name);
  const sites = name === undefined ? [...inj.sites.values()] : one ? [one] : [];
  if (name === undefined) inj.failNth = 0;
  for (const s of sites) {
    s.configured = false;
    s.failNth = 0;
    s.probability = 0;
    s.interval = 1;
    s.times = -1;
    s.calls = 0;
    s.injected = 0;
    s._rearm();
  }
}

/** Every site's counters, by name. */
export function faultInjectStats(kernel: Kernel): FaultSiteStats[] {
  const inj = kernel.trySlot(KEY);
  if (!inj) return [];
  return [...inj.sites.values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((s) => ({ site: s.name, calls: s.calls, injected: s.injected }));
}
