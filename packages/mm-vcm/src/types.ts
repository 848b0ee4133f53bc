/**
 * The VCM object model (`include/linux/vcm.h`, `vcm-drv.h`): a context (`Vcm`, an address
 * space), a reservation in it (`VcmRes`, a range of bus addresses), and a physical allocation
 * (`VcmPhys`, page-aligned parts that may be discontiguous). A binding ties a reservation to a
 * physical allocation; one allocation may be bound to many reservations, in many contexts.
 *
 * Fields the core maintains (`activations`, `boundSize`, `phys`, `refcnt`, `bindings`) are
 * writable only for the core and drivers; users read them.
 *
 * @module
 */
import { hex, type Kernel } from "@umm/kernel-core";
import type { VcmDriver } from "./ops.js";
import { vcmState } from "./state.js";

/** Options of `new Vcm` (what a driver fills before `vcmInit`). */
export interface VcmInit {
  /** first bus address of the context (page-aligned) */
  readonly start: number;
  /** bytes of address space (page-aligned, non-zero) */
  readonly size: number;
  /** the driver's operations; `unreserve` is required */
  readonly driver: VcmDriver;
  /** shown in trace events and messages (default `vcm<n>`) */
  readonly name?: string;
}

let nextVcmId = 0;

/**
 * A VCM context (`struct vcm`): one address space — a device's IOMMU space, the kernel's
 * vmalloc area, or the physical bus of a device without an IOMMU. Drivers create one with
 * `new Vcm(kernel, { start, size, driver })` (or a subclass holding their private state, as the
 * kernel's drivers embed `struct vcm`) and hand it to `vcmInit`; users get one from a driver's
 * create function (`vcmMmuInit`, `vcmO2oInit`, `vcmCmaCreate`, `vcmCreateUnified`, `vcmVmm`).
 */
export class Vcm {
  /** the kernel this context belongs to */
  readonly kernel: Kernel;
  /** name for messages and trace events */
  readonly name: string;
  /** first bus address */
  start: number;
  /** bytes of address space */
  size: number;
  /** `activations`: how many `vcmActivate` calls are not yet undone (core-maintained) */
  activations = 0;
  /** the driver's operations */
  driver: VcmDriver;
  /** @internal live reservations of this context */
  readonly _res = new Set<VcmRes>();
  /** @internal vcmDestroy ran */
  _destroyed = false;

  constructor(kernel: Kernel, init: VcmInit) {
    this.kernel = kernel;
    this.start = init.start;
    this.size = init.size;
    this.driver = init.driver;
    this.name = init.name ?? `vcm${nextVcmId++}`;
  }

  /** Live reservations of this context, in creation order. */
  get reservations(): readonly VcmRes[] {
    return [...this._res];
  }

  /** True once `vcmDestroy` ran. */
  get destroyed(): boolean {
    return this._destroyed;
  }

  /** `name [start, +size)` */
  toString(): string {
    return `${this.name} [${hex(this.start)}, +${hex(this.size)})`;
  }
}

/**
 * A reservation (`struct vcm_res`): `resSize` bytes of the context's address space from `start`
 * (the bus address the device uses; for `vcm_vmm` the kernel virtual address). Unbound while
 * `phys` is null; bound, `boundSize === phys.size`. Drivers create reservations in their `res`
 * and `map` operations with `new VcmRes(vcm, start, resSize)`; the core sets the rest.
 */
export class VcmRes {
  /** the context */
  readonly vcm: Vcm;
  /** bus address of the first byte */
  readonly start: number;
  /** bytes reserved */
  readonly resSize: number;
  /** bytes bound: `phys.size` while bound, else 0 (core-maintained) */
  boundSize = 0;
  /** the bound physical allocation, or null (core-maintained) */
  phys: VcmPhys | null = null;
  /** `refcnt` (CONFIG_VCM_RES_REFCNT): users holding the reservation (core-maintained) */
  refcnt = 1;
  /** @internal unreserved: any further use is a bug */
  _dead = false;

  constructor(vcm: Vcm, start: number, resSize: number) {
    this.vcm = vcm;
    this.start = start;
    this.resSize = resSize;
  }

  /** True once the reservation has been released (its last reference dropped). */
  get released(): boolean {
    return this._dead;
  }

  /** `[start, +resSize)` */
  toString(): string {
    return `[${hex(this.start)}, +${hex(this.resSize)})`;
  }
}

/**
 * One physically contiguous part of a `VcmPhys` (`struct vcm_phys_part`): `size` bytes from
 * physical address `start`; `pfn` is the first page frame when the part is RAM with page
 * frames (the kernel's `part->page`), null otherwise (then `vcm_vmm` cannot map it).
 */
export interface VcmPhysPart {
  readonly start: number;
  readonly size: number;
  readonly pfn: number | null;
}

/** Options of `new VcmPhys`. */
export interface VcmPhysInit {
  /** the parts, in bus-address order (the first part is mapped first) */
  readonly parts: readonly VcmPhysPart[];
  /** total bytes (default: the sum of the part sizes) */
  readonly size?: number;
  /**
   * Releases the memory (`phys->free`); the core calls it once, from `vcmFree` /
   * `vcmDestroyBinding` or when a failed call gives back what it allocated. A phys without
   * `free` is refused by the core (EINVAL) where the kernel requires one.
   */
  readonly free: ((phys: VcmPhys) => void) | null;
}

/**
 * A physical allocation (`struct vcm_phys`): `count` parts of page-multiple sizes, `count === 1`
 * meaning physically contiguous. `bindings` counts the reservations it is bound to, in any
 * context. Drivers create one in their `phys`/`alloc` operations (or use `vcmPhysAlloc`).
 */
export class VcmPhys {
  /** the kernel whose memory this is */
  readonly kernel: Kernel;
  /** physically contiguous parts, in bus order */
  readonly parts: readonly VcmPhysPart[];
  /** total bytes */
  readonly size: number;
  /** releases the memory (internal to the core and the allocating driver) */
  readonly free: ((phys: VcmPhys) => void) | null;
  /** reservations this allocation is bound to (core-maintained) */
  bindings = 0;
  /** @internal the free callback ran */
  _freed = false;

  constructor(kernel: Kernel, init: VcmPhysInit) {
    this.kernel = kernel;
    this.parts = Object.freeze(init.parts.map((p) => Object.freeze({ ...p })));
    let sum = 0;
    for (const p of this.parts) sum += p.size;
    this.size = init.size ?? sum;
    this.free = init.free;
    vcmState(kernel).livePhys.add(this);
  }

  /** `count`: number of parts; 1 means physically contiguous. */
  get count(): number {
    return this.parts.length;
  }

  /** True once its memory was released. */
  get freed(): boolean {
    return this._freed;
  }

  /** `phys <size> in <count> parts` */
  toString(): string {
    return `phys ${hex(this.size)} in ${this.parts.length} part(s) from ${hex(this.parts[0]?.start ?? 0)}`;
  }
}
