/**
 * What a kernel's VCM framework still holds: the leak report tests assert empty and the
 * shutdown step prints as `vcm_warn` events.
 *
 * @module
 */
import type { Kernel } from "@umm/kernel-core";
import { vcmState } from "./state.js";
import type { Vcm, VcmPhys, VcmRes } from "./types.js";

/** Live objects of one kernel's VCM framework. */
export interface VcmLeaks {
  /** contexts created and not destroyed (the kernel's `vcm_vmm` excluded) */
  readonly contexts: readonly Vcm[];
  /** reservations not released */
  readonly reservations: readonly VcmRes[];
  /** physical allocations not freed */
  readonly phys: readonly VcmPhys[];
}

/** The contexts, reservations and physical allocations `kernel`'s VCM framework still holds. */
export function vcmLeaks(kernel: Kernel): VcmLeaks {
  const st = vcmState(kernel);
  return {
    contexts: [...st.contexts].filter((v) => v !== st.vmm),
    reservations: [...st.liveRes],
    phys: [...st.livePhys],
  };
}
