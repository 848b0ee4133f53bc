/**
 * Per-kernel state of the VCM framework: tracepoints, the kernel's `vcm_vmm` context, the S5P
 * unified address space, and what is still alive (for the leak report at shutdown). The kernel
 * keeps these in globals; umm keeps them in a slot, created on first use.
 *
 * @module
 */
import { defineSlot, type Kernel, type Tracepoint } from "@umm/kernel-core";
import "./trace.js";
import type { S5pUnified } from "./s5p.js";
import type { Vcm, VcmPhys, VcmRes } from "./types.js";

/** @internal */
export interface VcmState {
  readonly kernel: Kernel;
  readonly tp: {
    readonly bind: Tracepoint<"vcm_bind">;
    readonly unbind: Tracepoint<"vcm_unbind">;
    readonly activate: Tracepoint<"vcm_activate">;
    readonly deactivate: Tracepoint<"vcm_deactivate">;
    readonly warn: Tracepoint<"vcm_warn">;
  };
  /** the kernel's vcm_vmm, created on first use */
  vmm: Vcm | null;
  /** the S5P unified address space, created by s5pVcmInit */
  s5p: S5pUnified | null;
  /** contexts that passed vcmInit and were not destroyed */
  readonly contexts: Set<Vcm>;
  /** reservations not yet unreserved */
  readonly liveRes: Set<VcmRes>;
  /** physical allocations not yet freed */
  readonly livePhys: Set<VcmPhys>;
}

const VCM = defineSlot<VcmState>("vcm");

/** @internal The VCM state of `kernel`, created (with its shutdown report) on first use. */
export function vcmState(kernel: Kernel): VcmState {
  const existing = kernel.trySlot(VCM);
  if (existing) return existing;
  const t = kernel.trace;
  const st: VcmState = {
    kernel,
    tp: {
      bind: t.tracepoint("vcm_bind"),
      unbind: t.tracepoint("vcm_unbind"),
      activate: t.tracepoint("vcm_activate"),
      deactivate: t.tracepoint("vcm_deactivate"),
      warn: t.tracepoint("vcm_warn"),
    },
    vmm: null,
    s5p: null,
    contexts: new Set(),
    liveRes: new Set(),
    livePhys: new Set(),
  };
  kernel.setSlot(VCM, st);
  kernel.onShutdown("vcm", () => {
    for (const r of st.liveRes) {
      vcmWarn(kernel, `shutdown: reservation ${r} of ${r.vcm.name} was never unreserved`);
    }
    for (const p of st.livePhys) {
      vcmWarn(kernel, `shutdown: ${p} was never freed`);
    }
  });
  return st;
}

/** @internal Emits `vcm_warn` (the kernel's WARN_ON: report and carry on). */
export function vcmWarn(kernel: Kernel, message: string): void {
  const tp = vcmState(kernel).tp.warn;
  if (tp.enabled) tp.emit({ message });
}
