/**
 * What VCM drivers implement (`struct vcm_driver`, `struct vcm_mmu_driver`,
 * `struct vcm_o2o_driver` in include/linux/vcm-drv.h, `struct s5p_vcm_driver` in
 * plat/s5p-vcm.h) — the custom-MMU-controller and custom-physical-allocator extension points —
 * and the helpers a driver calls back into the framework with.
 *
 * A driver fills one frozen object literal (`satisfies VcmDriver`); its per-context state lives
 * in the context object (a subclass of `Vcm`, as the kernel's drivers embed `struct vcm` and use
 * `container_of`). The core validates arguments, keeps the bookkeeping (`bindings`, `boundSize`,
 * `refcnt`, `activations`) and undoes partial work; a driver only allocates, reserves and
 * programs hardware. Every operation that can fail throws a `KernelError` (the kernel's
 * ERR_PTR / negative return) and must leave nothing behind when it does.
 *
 * @module
 */
import type { Vcm, VcmPhys, VcmRes } from "./types.js";

/** What the core asks a driver's `alloc` for: a phys, a reservation, or both. */
export interface VcmAllocRequest {
  /** a physical allocation is wanted */
  readonly phys: boolean;
  /** flags for the physical allocation (opaque to the core) */
  readonly allocFlags: number;
  /** a reservation is wanted */
  readonly res: boolean;
  /** flags for the reservation (opaque to the core) */
  readonly resFlags: number;
}

/** What a driver's `alloc` returns: the objects asked for, null for the others. */
export interface VcmAllocResult {
  readonly phys: VcmPhys | null;
  readonly res: VcmRes | null;
}

/**
 * The operations of a VCM context (`struct vcm_driver`). All optional except `unreserve`.
 * Sizes handed to a driver are non-zero page multiples (the core rounds up first).
 */
export interface VcmDriver {
  /**
   * Releases the context's private state when `vcmDestroy` runs (after a still-active context
   * was deactivated). Absent: nothing to release (the kernel kfree()s the context).
   */
  readonly cleanup?: (vcm: Vcm) => void;

  /**
   * Allocates physical memory and/or reserves address space in one step, for drivers that must
   * place the two together. Called by `vcmAlloc`, `vcmReserve` and `vcmMakeBinding` with what
   * they need; when present, `res` and `phys` are never called. Must return every object asked
   * for (reservations created with `new VcmRes`, physical allocations with a `free`), or throw
   * having allocated nothing. Absent: the core uses `res` and `phys`.
   */
  readonly alloc?: (vcm: Vcm, size: number, req: VcmAllocRequest) => VcmAllocResult;

  /**
   * Reserves `size` bytes of the context's address space (`vcmReserve`, `vcmMakeBinding`,
   * `vcmMap` without `map`): returns `new VcmRes(vcm, start, resSize ≥ size)` or throws (ENOSPC
   * when the space is full). Absent (and no `alloc`): `vcmReserve` throws EOPNOTSUPP.
   */
  readonly res?: (vcm: Vcm, size: number, flags: number) => VcmRes;

  /**
   * Allocates `size` bytes of physical memory this context can map (`vcmAlloc`,
   * `vcmMakeBinding`): returns a `VcmPhys` whose `free` releases it, or throws (ENOMEM).
   * Absent (and no `alloc`): `vcmAlloc` throws EOPNOTSUPP.
   */
  readonly phys?: (vcm: Vcm, size: number, flags: number) => VcmPhys;

  /**
   * Releases a reservation's address space, when its last reference goes (`vcmUnreserve`,
   * `vcmUnmap`, `vcmDestroyBinding`) or when `vcmMakeBinding` gives a reservation back. The
   * reservation is unbound by then. Required: `vcmInit` refuses a driver without it. Must not
   * throw.
   */
  readonly unreserve: (res: VcmRes) => void;

  /**
   * Reserves address space for `phys` and binds it in one step (`vcmMap`, and `vcmMakeBinding`
   * when there is no `alloc`): returns the reservation (the core then records the binding) or
   * throws (EOPNOTSUPP when this context cannot map that phys). While the context is active the
   * mapping must be live on return. Absent: `vcmMap` reserves with `res` and binds with `bind`.
   */
  readonly map?: (vcm: Vcm, phys: VcmPhys, flags: number) => VcmRes;

  /**
   * Binds `phys` to the unbound reservation `res` (`vcmBind`), after the core checked that it
   * fits. While the context is active the mapping must be on the hardware when `bind` returns;
   * on failure throw having programmed nothing. Absent: `vcmBind` throws EOPNOTSUPP.
   */
  readonly bind?: (res: VcmRes, phys: VcmPhys) => void;

  /**
   * Undoes a binding (`vcmUnbind`): `res.phys` is still set when called. Must remove the mapping
   * from the hardware if the context is active, and must not throw. Absent: nothing to undo.
   */
  readonly unbind?: (res: VcmRes) => void;

  /**
   * Puts every binding of the context on the hardware: called by `vcmActivate` on the 0 → 1
   * transition of `activations` only. On failure undo what was programmed and throw (the core
   * leaves `activations` at 1, as the kernel does). Absent: activation is bookkeeping only.
   */
  readonly activate?: (vcm: Vcm) => void;

  /**
   * Takes every binding of the context off the hardware: called by `vcmDeactivate` on the
   * 1 → 0 transition, and by `vcmDestroy` for a context still active. Must not throw.
   * Absent: nothing to do.
   */
  readonly deactivate?: (vcm: Vcm) => void;
}

/**
 * A page-table programmer for the MMU wrapper (`struct vcm_mmu_driver`): the extension point
 * for a custom MMU controller. The wrapper (`vcmMmuInit`) does address allocation, physical
 * allocation and activation bookkeeping; the driver only writes mappings. Provide `activate` and
 * `deactivate` to program whole bindings, or `activatePage` and `deactivatePage` to be called
 * once per page of one of `orders` (through `vcmPhysWalk`); `vcmMmuInit` throws EINVAL without
 * `activate` or both page callbacks, or without `deactivate` or `deactivatePage`.
 */
export interface VcmMmuDriver {
  /**
   * Page orders the MMU maps, largest first, the last one 0 (4 KiB): `[8, 4, 0]` is 1 MiB,
   * 64 KiB and 4 KiB. Used for physical allocation, reservation alignment and the page walk.
   */
  readonly orders: readonly number[];

  /** Releases the driver's state when the context is destroyed. Absent: nothing to release. */
  readonly cleanup?: (vcm: Vcm) => void;

  /**
   * Maps `phys` at `res.start` on the hardware: called when a binding is made while the context
   * is active, and for every binding when the context is activated. Throws having mapped nothing
   * (the wrapper then does not record the binding, or undoes the other bindings of an
   * activation). Absent: the wrapper calls `activatePage` per page, `deactivatePage` undoing.
   */
  readonly activate?: (res: VcmRes, phys: VcmPhys) => void;

  /**
   * Unmaps `phys` from `res.start`: on unbind of an active binding and for every binding when
   * the context is deactivated. Must not throw. Absent: `deactivatePage` per page.
   */
  readonly deactivate?: (res: VcmRes, phys: VcmPhys) => void;

  /**
   * Maps one page of order `order` (one of `orders`) at bus address `vaddr` to `paddr`; returns
   * nothing or 0 on success, a negative errno (or throws a `KernelError`) on failure.
   */
  readonly activatePage?: (vaddr: number, paddr: number, order: number, vcm: Vcm) => number | undefined;

  /** Unmaps one page mapped by `activatePage`; same conventions. */
  readonly deactivatePage?: (vaddr: number, paddr: number, order: number, vcm: Vcm) => number | undefined;
}

/**
 * A physical allocator for the one-to-one wrapper (`struct vcm_o2o_driver`): the extension point
 * for a custom contiguous allocator behind a device without an IOMMU.
 */
export interface VcmO2oDriver {
  /** Releases the driver's state when the context is destroyed. Absent: nothing to release. */
  readonly cleanup?: (vcm: Vcm) => void;

  /**
   * Allocates at least `size` bytes of physically contiguous memory: one page-aligned part with
   * a `free` callback, or throw (ENOMEM). Required. The wrapper frees and refuses (EINVAL) a
   * result whose first part is empty, smaller than `size` or not page-aligned, or that has no
   * `free`.
   */
  readonly phys: (vcm: Vcm, size: number, flags: number) => VcmPhys;
}

/**
 * Device callbacks of an S5P unified-address-space context (`struct s5p_vcm_driver`), all
 * optional. `vcmCreateUnified` takes one per device id (or null).
 */
export interface S5pVcmDriver {
  /** Invalidates the TLB of the device's System MMU (after unmapping, on activation). */
  readonly tlbInvalidator?: (id: number) => void;
  /** Points the device's System MMU at the shared lv1 table at physical address `base`. */
  readonly pgdBaseSpecifier?: (id: number, base: number) => void;
  /**
   * Allocates `size` bytes of physically contiguous memory (CMA, a carve-out) and returns its
   * physical address, or throws (a negative return is taken as -errno): the context's physical
   * allocations are then single-part. Absent: `vcmPhysAlloc` with orders {8, 4, 0}.
   */
  readonly physAlloc?: (size: number, flags: number) => number;
  /** Frees memory `physAlloc` returned; without it such allocations cannot be freed (EINVAL). */
  readonly physFree?: (phys: VcmPhys) => void;
}

export { vcmInit } from "./core.js";
export { type VcmWalkCallback, vcmPhysAlloc, vcmPhysAllocRaw, vcmPhysWalk } from "./phys.js";
export { Vcm, type VcmInit, VcmPhys, type VcmPhysInit, type VcmPhysPart, VcmRes } from "./types.js";
