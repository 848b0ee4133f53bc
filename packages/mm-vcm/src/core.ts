/**
 * The VCM core (mm/vcm.c "Devices API" and "VCM Drivers API"): contexts, reservations, physical
 * allocations and bindings, with the kernel's order of checks and its warnings.
 *
 * Where the kernel returns an ERR_PTR or a negative errno, umm throws `KernelError`; where it
 * only WARNs and goes on (freeing a bound phys, unreserving a bound reservation, unbinding an
 * unbound one, deactivating an inactive context), umm does the same and emits `vcm_warn`.
 *
 * @module
 */
import { hex, KernelBug, KernelError, kassert, PAGE_SIZE, pageAlign } from "@umm/kernel-core";
import { vcmState, vcmWarn } from "./state.js";
import type { Vcm, VcmPhys, VcmRes } from "./types.js";

// ---- helpers ------------------------------------------------------------------------------------

function isSize(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

function liveVcm(vcm: Vcm, what: string): void {
  if (vcm._destroyed) throw new KernelBug(`${what}: context ${vcm.name} was destroyed`);
}

function liveRes(res: VcmRes, what: string): void {
  if (res._dead) throw new KernelBug(`${what}: reservation ${res} of ${res.vcm.name} was already released`);
}

function livePhys(phys: VcmPhys, what: string): void {
  if (phys._freed) throw new KernelBug(`${what}: ${phys} was already freed`);
}

/** @internal Records a reservation a driver just created (what the kernel's core sets up). */
export function _adoptRes(vcm: Vcm, res: VcmRes, what: string): void {
  kassert(res.vcm === vcm, `${what}: the driver returned a reservation of another context`);
  kassert(!vcm._res.has(res) && !res._dead, `${what}: the driver returned a reservation already in use`);
  res.boundSize = 0;
  res.phys = null;
  res.refcnt = 1;
  vcm._res.add(res);
  vcmState(vcm.kernel).liveRes.add(res);
}

/** @internal The driver's `unreserve` and the core's bookkeeping. */
export function _releaseRes(res: VcmRes): void {
  const vcm = res.vcm;
  vcm.driver.unreserve(res);
  res._dead = true;
  res.refcnt = 0;
  vcm._res.delete(res);
  vcmState(vcm.kernel).liveRes.delete(res);
}

/** @internal Runs `phys->free` once (a second time is a bug). */
export function _freePhys(phys: VcmPhys): void {
  livePhys(phys, "vcm_phys free");
  kassert(phys.free !== null, `${phys} has no free callback`);
  phys.free(phys);
  phys._freed = true;
  vcmState(phys.kernel).livePhys.delete(phys);
}

function traceBind(res: VcmRes, phys: VcmPhys, bind: boolean): void {
  const tp = bind ? vcmState(res.vcm.kernel).tp.bind : vcmState(res.vcm.kernel).tp.unbind;
  if (tp.enabled) {
    tp.emit({ vcm: res.vcm.name, res_start: res.start, size: phys.size, nparts: phys.parts.length });
  }
}

/** `__vcm_alloc_and_reserve`: the shared front half of vcmAlloc, vcmReserve and vcmMakeBinding. */
function allocAndReserve(
  vcm: Vcm,
  size: number,
  wantPhys: boolean,
  allocFlags: number,
  wantRes: boolean,
  resFlags: number,
  what: string,
): { phys: VcmPhys | null; res: VcmRes | null } {
  if (!vcm) throw new KernelError("EINVAL", `${what}: vcm is NULL`);
  liveVcm(vcm, what);
  if (!isSize(size) || size === 0) {
    throw new KernelError("EINVAL", `${what}: size ${String(size)} must be a positive number of bytes`);
  }
  size = pageAlign(size);
  const d = vcm.driver;
  let phys: VcmPhys | null = null;
  let res: VcmRes | null = null;
  if (d.alloc) {
    const out = d.alloc(vcm, size, { phys: wantPhys, allocFlags, res: wantRes, resFlags });
    kassert(!wantPhys || out.phys, `${what}: ${vcm.name}'s alloc returned no phys`);
    kassert(!wantRes || out.res, `${what}: ${vcm.name}'s alloc returned no reservation`);
    if (wantRes) {
      res = out.res as VcmRes;
      _adoptRes(vcm, res, what);
    }
    if (wantPhys) {
      phys = out.phys as VcmPhys;
      phys.bindings = 0;
    }
    return { phys, res };
  }
  if ((wantRes && !d.res) || (wantPhys && !d.phys)) {
    throw new KernelError(
      "EOPNOTSUPP",
      `${what}: ${vcm.name} cannot ${wantRes && !d.res ? "reserve address space" : "allocate physical memory"}`,
    );
  }
  if (wantRes) {
    res = (d.res as NonNullable<typeof d.res>)(vcm, size, resFlags);
    _adoptRes(vcm, res, what);
  }
  if (wantPhys) {
    try {
      phys = (d.phys as NonNullable<typeof d.phys>)(vcm, size, allocFlags);
    } catch (e) {
      if (res) vcmUnreserve(res);
      throw e;
    }
    if (!phys.free) {
      vcmWarn(vcm.kernel, `${what}: ${vcm.name}'s phys returned memory without a free callback`);
      if (res) vcmUnreserve(res);
      throw new KernelError("EINVAL", `${what}: ${vcm.name}'s phys returned memory without a free callback`);
    }
    phys.bindings = 0;
  }
  return { phys, res };
}

// ---- drivers API --------------------------------------------------------------------------------

/**
 * `vcm_init`: validates a context a driver set up (`start`, `size`, `driver`) and makes it live
 * with no activations. Returns `vcm`. EINVAL when `vcm` is null, `size` is 0, `start` or `size`
 * is not page-aligned, or the driver or its `unreserve` is missing.
 */
export function vcmInit(vcm: Vcm): Vcm {
  if (!vcm) throw new KernelError("EINVAL", "vcm_init: vcm is NULL");
  if (!isSize(vcm.size) || vcm.size === 0) {
    throw new KernelError("EINVAL", `vcm_init: ${vcm.name}: size ${String(vcm.size)} must be non-zero`);
  }
  if (!isSize(vcm.start) || vcm.start % PAGE_SIZE !== 0 || vcm.size % PAGE_SIZE !== 0) {
    throw new KernelError(
      "EINVAL",
      `vcm_init: ${vcm.name}: start ${hex(vcm.start)} and size ${hex(vcm.size)} must be page-aligned`,
    );
  }
  if (!vcm.driver || typeof vcm.driver.unreserve !== "function") {
    throw new KernelError("EINVAL", `vcm_init: ${vcm.name}: the driver has no unreserve operation`);
  }
  vcm.activations = 0;
  vcmState(vcm.kernel).contexts.add(vcm);
  return vcm;
}

// ---- devices API --------------------------------------------------------------------------------

/**
 * `vcm_destroy`: a context still active is deactivated first (with a warning, as the kernel
 * WARNs), then the driver's `cleanup` runs. Using the context afterwards is a `KernelBug`.
 * Reservations still alive are leaked (reported at shutdown), as in the kernel.
 */
export function vcmDestroy(vcm: Vcm): void {
  if (!vcm) throw new KernelError("EINVAL", "vcm_destroy: vcm is NULL");
  liveVcm(vcm, "vcm_destroy");
  if (vcm.activations !== 0) {
    vcmWarn(vcm.kernel, `vcm_destroy: ${vcm.name} is still activated ${vcm.activations} time(s)`);
    vcm.driver.deactivate?.(vcm);
  }
  vcm.driver.cleanup?.(vcm);
  vcm._destroyed = true;
  vcmState(vcm.kernel).contexts.delete(vcm);
}

/**
 * `vcm_make_binding`: allocates `size` bytes of physical memory, reserves address space for it
 * and binds the two; returns the bound reservation (`res.phys` is the memory, `res.start` the bus
 * address). `size` is not rounded: EINVAL unless it is a positive multiple of PAGE_SIZE. Contexts
 * with a `map` operation and no `alloc` allocate and map (the one-to-one and VMM contexts), the
 * others reserve, allocate and bind. Errors of those steps propagate (EOPNOTSUPP, ENOSPC,
 * ENOMEM, the driver's); everything allocated is given back first.
 */
export function vcmMakeBinding(vcm: Vcm, size: number, allocFlags = 0, resFlags = 0): VcmRes {
  if (!vcm || !isSize(size) || size === 0 || size % PAGE_SIZE !== 0) {
    throw new KernelError(
      "EINVAL",
      !vcm
        ? "vcm_make_binding: vcm is NULL"
        : `vcm_make_binding: size ${String(size)} must be a positive multiple of PAGE_SIZE`,
    );
  }
  liveVcm(vcm, "vcm_make_binding");
  const d = vcm.driver;
  if (d.alloc || !d.map) {
    const { phys, res } = allocAndReserve(vcm, size, true, allocFlags, true, resFlags, "vcm_make_binding");
    const r = res as VcmRes;
    const p = phys as VcmPhys;
    try {
      vcmBind(r, p);
    } catch (e) {
      // as the kernel: the driver's unreserve directly, then phys->free
      _releaseRes(r);
      _freePhys(p);
      throw e;
    }
    return r;
  }
  // [discrepancy] mm/vcm.c returns ERR_CAST of an uninitialised res when phys fails; umm
  // propagates the phys error.
  const { phys } = allocAndReserve(vcm, size, true, allocFlags, false, 0, "vcm_make_binding");
  const p = phys as VcmPhys;
  try {
    return vcmMap(vcm, p, resFlags);
  } catch (e) {
    _freePhys(p);
    throw e;
  }
}

/**
 * `vcm_destroy_binding`: drops one reference of `res`; on the last, unbinds it, frees the
 * physical memory it held (unless still bound elsewhere: then a warning and the memory stays)
 * and releases the reservation.
 */
export function vcmDestroyBinding(res: VcmRes): void {
  if (!res) {
    vcmWarnNull("vcm_destroy_binding");
    return;
  }
  liveRes(res, "vcm_destroy_binding");
  if (res.refcnt > 1) {
    res.refcnt--;
    return;
  }
  const phys = vcmUnbind(res);
  if (phys) vcmFree(phys);
  vcmUnreserve(res);
}

/**
 * `vcm_alloc`: `size` bytes (rounded up to pages) of physical memory the context can map, not
 * bound anywhere. EINVAL for a null `vcm` or size 0; EOPNOTSUPP when the context cannot
 * allocate (no `phys`/`alloc` operation); EINVAL when the driver's memory has no `free`; the
 * driver's error (ENOMEM).
 */
export function vcmAlloc(vcm: Vcm, size: number, flags = 0): VcmPhys {
  return allocAndReserve(vcm, size, true, flags, false, 0, "vcm_alloc").phys as VcmPhys;
}

/**
 * `vcm_free`: releases physical memory. Refused with a warning (the memory leaks, as in the
 * kernel) while it is bound to any reservation.
 */
export function vcmFree(phys: VcmPhys): void {
  if (!phys) {
    vcmWarnNull("vcm_free");
    return;
  }
  livePhys(phys, "vcm_free");
  if (phys.bindings !== 0) {
    vcmWarn(phys.kernel, `vcm_free: ${phys} is still bound ${phys.bindings} time(s); not freed`);
    return;
  }
  _freePhys(phys);
}

/**
 * `vcm_reserve`: `size` bytes (rounded up to pages) of the context's address space, unbound,
 * with one reference. EINVAL for a null `vcm` or size 0; EOPNOTSUPP when the context cannot
 * reserve (no `res`/`alloc`: the VMM and one-to-one contexts); the driver's error (ENOSPC).
 */
export function vcmReserve(vcm: Vcm, size: number, flags = 0): VcmRes {
  return allocAndReserve(vcm, size, false, 0, true, flags, "vcm_reserve").res as VcmRes;
}

/**
 * `vcm_ref_reserve`: takes another reference on a reservation (`vcmUnreserve`, `vcmUnmap` and
 * `vcmDestroyBinding` then only drop it). EINVAL for null or a released reservation.
 */
export function vcmRefReserve(res: VcmRes): void {
  if (!res) throw new KernelError("EINVAL", "vcm_ref_reserve: res is NULL");
  // [deviation] the kernel increments first and fails after (0 -> 1 on a dead reservation);
  // umm changes nothing on a rejected call.
  if (res.refcnt < 1 || res._dead) {
    throw new KernelError("EINVAL", `vcm_ref_reserve: reservation ${res} has no reference left`);
  }
  res.refcnt++;
}

/**
 * `vcm_map`: makes `phys` visible in the context — the driver's `map` when it has one, else a
 * reservation of `phys.size` plus `vcmBind` (the reservation is released again if the bind
 * fails). Returns the bound reservation. EINVAL for a null `vcm` or `phys`; then the errors of
 * `map`, `vcmReserve` and `vcmBind`.
 */
export function vcmMap(vcm: Vcm, phys: VcmPhys, flags = 0): VcmRes {
  if (!vcm) throw new KernelError("EINVAL", "vcm_map: vcm is NULL");
  if (!phys) throw new KernelError("EINVAL", "vcm_map: phys is NULL");
  liveVcm(vcm, "vcm_map");
  livePhys(phys, "vcm_map");
  const d = vcm.driver;
  if (d.map) {
    const res = d.map(vcm, phys, flags);
    _adoptRes(vcm, res, "vcm_map");
    phys.bindings++;
    res.phys = phys;
    res.boundSize = phys.size;
    traceBind(res, phys, true);
    return res;
  }
  const res = vcmReserve(vcm, phys.size, flags);
  try {
    vcmBind(res, phys);
  } catch (e) {
    vcmUnreserve(res);
    throw e;
  }
  return res;
}

/**
 * `vcm_unreserve`: drops one reference of `res`; on the last, a still-bound reservation is
 * unbound (with a warning) and the driver releases the address space.
 */
export function vcmUnreserve(res: VcmRes): void {
  if (!res) {
    vcmWarnNull("vcm_unreserve");
    return;
  }
  liveRes(res, "vcm_unreserve");
  if (--res.refcnt > 0) return;
  if (res.phys) {
    vcmWarn(res.vcm.kernel, `vcm_unreserve: reservation ${res} of ${res.vcm.name} is still bound; unbinding`);
    vcmUnbind(res);
  }
  _releaseRes(res);
}

/**
 * `vcm_unmap`: the inverse of `vcmMap` — drops a reference, and on the last unbinds and
 * releases the reservation (the physical memory stays allocated).
 */
export function vcmUnmap(res: VcmRes): void {
  if (!res) {
    vcmWarnNull("vcm_unmap");
    return;
  }
  liveRes(res, "vcm_unmap");
  if (res.refcnt > 1) {
    res.refcnt--;
    return;
  }
  vcmUnbind(res);
  vcmUnreserve(res);
}

/**
 * `vcm_bind`: binds `phys` to the unbound reservation `res`; while the context is active the
 * mapping is on the hardware when this returns. Errors, in this order: EINVAL (`res` or `phys`
 * null), EALREADY (already bound to this phys), EADDRINUSE (bound to another), ENOSPC
 * (`phys.size > res.resSize`), EOPNOTSUPP (the context cannot bind), then the driver's.
 */
export function vcmBind(res: VcmRes, phys: VcmPhys): void {
  if (!res || !phys) {
    throw new KernelError("EINVAL", `vcm_bind: ${!res ? "res" : "phys"} is NULL`);
  }
  liveRes(res, "vcm_bind");
  livePhys(phys, "vcm_bind");
  if (res.phys === phys) {
    throw new KernelError("EALREADY", `vcm_bind: reservation ${res} is already bound to this phys`);
  }
  if (res.phys) {
    throw new KernelError("EADDRINUSE", `vcm_bind: reservation ${res} is bound to another phys`);
  }
  if (phys.size > res.resSize) {
    throw new KernelError(
      "ENOSPC",
      `vcm_bind: phys of ${hex(phys.size)} bytes does not fit reservation ${res} of ${hex(res.resSize)}`,
    );
  }
  const d = res.vcm.driver;
  if (!d.bind) throw new KernelError("EOPNOTSUPP", `vcm_bind: ${res.vcm.name} cannot bind`);
  d.bind(res, phys);
  phys.bindings++;
  res.phys = phys;
  res.boundSize = phys.size;
  traceBind(res, phys, true);
}

/**
 * `vcm_unbind`: undoes the binding of `res` (the driver takes it off the hardware) and returns
 * the phys it held, or null with a warning when `res` was not bound.
 */
export function vcmUnbind(res: VcmRes): VcmPhys | null {
  if (!res) {
    vcmWarnNull("vcm_unbind");
    return null;
  }
  liveRes(res, "vcm_unbind");
  const phys = res.phys;
  if (!phys) {
    vcmWarn(res.vcm.kernel, `vcm_unbind: reservation ${res} of ${res.vcm.name} is not bound`);
    return null;
  }
  res.vcm.driver.unbind?.(res);
  if (phys.bindings === 0) vcmWarn(res.vcm.kernel, `vcm_unbind: ${phys} had no bindings left`);
  else phys.bindings--;
  res.phys = null;
  res.boundSize = 0;
  traceBind(res, phys, false);
  return phys;
}

/**
 * `vcm_activate`: counts an activation; on the 0 → 1 transition the driver's `activate` puts
 * every binding on the hardware. Its error propagates and, as in the kernel, the count stays
 * incremented (a second `vcmActivate` then does not retry). EINVAL for a null `vcm`.
 */
export function vcmActivate(vcm: Vcm): void {
  if (!vcm) throw new KernelError("EINVAL", "vcm_activate: vcm is NULL");
  liveVcm(vcm, "vcm_activate");
  if (++vcm.activations !== 1) return;
  vcm.driver.activate?.(vcm);
  const tp = vcmState(vcm.kernel).tp.activate;
  if (tp.enabled) tp.emit({ vcm: vcm.name });
}

/**
 * `vcm_deactivate`: undoes one activation; on the 1 → 0 transition the driver's `deactivate`
 * takes the bindings off the hardware. A warning, and nothing else, when not active.
 */
export function vcmDeactivate(vcm: Vcm): void {
  if (!vcm) {
    vcmWarnNull("vcm_deactivate");
    return;
  }
  liveVcm(vcm, "vcm_deactivate");
  if (vcm.activations === 0) {
    vcmWarn(vcm.kernel, `vcm_deactivate: ${vcm.name} is not activated`);
    return;
  }
  if (--vcm.activations !== 0) return;
  vcm.driver.deactivate?.(vcm);
  const tp = vcmState(vcm.kernel).tp.deactivate;
  if (tp.enabled) tp.emit({ vcm: vcm.name });
}

/**
 * The kernel WARNs on a NULL argument and returns; umm has no kernel to report to without the
 * object, and TypeScript callers cannot pass null, so a null from JavaScript is EINVAL.
 */
function vcmWarnNull(what: string): never {
  throw new KernelError("EINVAL", `${what}: argument is NULL`);
}
