/**
 * Translation between address spaces (what Samsung asked VCMM for, "address translation between
 * address spaces": D.V ↔ P.A ↔ K.V). A binding maps its reservation onto its physical parts in
 * order, so a bus address in a bound reservation has one physical address, and a physical
 * address has one bus address per reservation bound to memory containing it — in any context,
 * the kernel's `vcm_vmm` (K.V) included. These are queries of the framework's bookkeeping; the
 * hardware (an IOMMU's tables) says the same while the context is active.
 *
 * @module
 */
import { hex, type Kernel, KernelError } from "@umm/kernel-core";
import type { Vcm, VcmPhys, VcmRes } from "./types.js";
import { vcmVmm } from "./vmm.js";

/** A bus address of a physical address in one reservation. */
export interface VcmDvHit {
  /** the reservation that maps it */
  readonly res: VcmRes;
  /** the bus (device virtual) address: `res.start` + the offset of the byte in the phys */
  readonly daddr: number;
}

/** Physical address of byte `offset` of `phys` (mapped in part order), or -1 beyond it. */
function physAt(phys: VcmPhys, offset: number): number {
  let o = offset;
  for (const p of phys.parts) {
    if (o < p.size) return p.start + o;
    o -= p.size;
  }
  return -1;
}

/**
 * D.V → P.A in one binding: the physical address of byte `offset` of the bound reservation
 * `res`. EINVAL when `res` is not bound or `offset` is outside `[0, boundSize)`.
 */
export function vcmResToPhys(res: VcmRes, offset: number): number {
  if (!res?.phys) throw new KernelError("EINVAL", `vcm_res_to_phys: reservation ${res} is not bound`);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= res.boundSize) {
    throw new KernelError(
      "EINVAL",
      `vcm_res_to_phys: offset ${String(offset)} is outside the ${hex(res.boundSize)} bound bytes`,
    );
  }
  return physAt(res.phys, offset);
}

/**
 * D.V → P.A in a context: the physical address bus address `daddr` of `vcm` reaches through a
 * bound reservation, or null when none covers it.
 */
export function vcmDvToPhys(vcm: Vcm, daddr: number): number | null {
  for (const r of vcm._res) {
    if (r.phys && daddr >= r.start && daddr < r.start + r.boundSize) return physAt(r.phys, daddr - r.start);
  }
  return null;
}

/**
 * P.A → D.V in a context: every bound reservation of `vcm` whose memory contains physical
 * address `paddr`, with the bus address it has there (several when the memory is mapped
 * twice). Empty when the context does not map it.
 */
export function vcmPhysToDv(vcm: Vcm, paddr: number): VcmDvHit[] {
  const out: VcmDvHit[] = [];
  for (const r of vcm._res) {
    const phys = r.phys;
    if (!phys) continue;
    let off = 0;
    for (const p of phys.parts) {
      if (paddr >= p.start && paddr < p.start + p.size && off + (paddr - p.start) < r.boundSize) {
        out.push({ res: r, daddr: r.start + off + (paddr - p.start) });
      }
      off += p.size;
    }
  }
  return out;
}

/**
 * P.A → K.V: the kernel virtual addresses at which the kernel's `vcm_vmm` maps `paddr`
 * (empty when no VMM binding holds it; the linear map is mm-core's `physToVirt`).
 */
export function vcmPhysToKv(kernel: Kernel, paddr: number): number[] {
  return vcmPhysToDv(vcmVmm(kernel), paddr).map((h) => h.daddr);
}

/**
 * D.V → D.V: the bus addresses in context `to` of the byte at bus address `daddr` of context
 * `from` (through its physical address). Empty when `from` does not map `daddr` or `to` does not
 * map that memory.
 */
export function vcmTranslate(from: Vcm, daddr: number, to: Vcm): number[] {
  const pa = vcmDvToPhys(from, daddr);
  return pa === null ? [] : vcmPhysToDv(to, pa).map((h) => h.daddr);
}
