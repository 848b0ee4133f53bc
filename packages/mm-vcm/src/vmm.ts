/**
 * `vcm_vmm` (mm/vcm.c "VCM VMM driver"): the kernel's own address space as a VCM context. A
 * physical allocation mapped here gets a kernel virtual address in the vmalloc area (mm-core's
 * `vmap`), so the CPU reads and writes what devices see. The context is always active, has no
 * `res` or `bind` operation (`vcmReserve` and `vcmBind` fail with EOPNOTSUPP) and allocates
 * 4 KiB pages.
 *
 * @module
 */
import { hex, type Kernel, KernelBug, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { mmOf } from "@umm/mm-core";
import type { VcmDriver } from "./ops.js";
import { vcmPhysAlloc } from "./phys.js";
import { vcmState } from "./state.js";
import { Vcm, VcmRes } from "./types.js";

const VMM_ORDERS: readonly number[] = Object.freeze([0]);

const vmmDriver = Object.freeze({
  cleanup(vcm) {
    throw new KernelBug(`vcm_destroy(${vcm.name}): vcm_vmm is a static object and is never destroyed`);
  },
  map(vcm, phys) {
    const pfns = new Array<number>(phys.size / PAGE_SIZE);
    let n = 0;
    for (const part of phys.parts) {
      if (part.pfn === null) {
        throw new KernelError(
          "EOPNOTSUPP",
          `vcm_vmm map: part [${hex(part.start)}, +${hex(part.size)}) has no page frames`,
        );
      }
      for (let k = 0; k < part.size / PAGE_SIZE && n < pfns.length; k++) pfns[n++] = part.pfn + k;
    }
    const kaddr = mmOf(vcm.kernel).kspace.vmap(pfns.slice(0, n), "cacheable", "vcm_vmm");
    return new VcmRes(vcm, kaddr, phys.size);
  },
  phys(vcm, size, flags) {
    return vcmPhysAlloc(vcm.kernel, size, flags, VMM_ORDERS);
  },
  unbind(res) {
    mmOf(res.vcm.kernel).kspace.vunmap(res.start);
  },
  unreserve() {
    // the reservation was the vmap; vunmap already gave the addresses back
  },
  activate() {
    // all bindings are active at once
  },
  deactivate() {
    // bindings cannot be deactivated unless unbound
  },
} satisfies VcmDriver);

/**
 * `vcm_vmm`: the kernel's VMM context (one per kernel, created on first use; mm-core must be
 * booted). `start` 0, `size` 0xffffffff, `activations` preset to 1 so that activate/deactivate
 * never reach the driver. `vcmMap` / `vcmMakeBinding` give kernel virtual addresses; mapping a
 * part without page frames throws EOPNOTSUPP; `vcmUnmap` / `vcmDestroyBinding` vunmap.
 */
export function vcmVmm(kernel: Kernel): Vcm {
  const st = vcmState(kernel);
  if (st.vmm) return st.vmm;
  const vmm = new Vcm(kernel, { start: 0, size: 0xffffffff, driver: vmmDriver, name: "vcm_vmm" });
  vmm.activations = 1;
  st.vmm = vmm;
  st.contexts.add(vmm);
  return vmm;
}
