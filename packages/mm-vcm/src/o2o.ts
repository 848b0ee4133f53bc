/**
 * The one-to-one wrapper (mm/vcm.c "One-to-One wrapper", CONFIG_VCM_O2O) for devices without an
 * IOMMU: the bus address of a buffer is its physical address, so a binding needs one contiguous
 * part and its reservation starts where the part does. The context has no `res` operation
 * (`vcmReserve` fails with EOPNOTSUPP); `vcmMakeBinding` allocates and maps. VCM-CMA
 * (mm/vcm-cma.c) is this wrapper over CMA.
 *
 * @module
 */
import { hex, isPowerOfTwo, type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { type CmaRegion, cmaAllocFrom, cmaAllocFromRegion, cmaFree, cmaInfoAbout } from "@umm/mm-cma";
import { _freePhys, vcmInit } from "./core.js";
import type { VcmDriver, VcmO2oDriver } from "./ops.js";
import { Vcm, VcmPhys, VcmRes } from "./types.js";

/** Options of `vcmO2oInit`. */
export interface VcmO2oOpts {
  /** first address of the context (page-aligned); informational, as in the kernel */
  readonly start: number;
  /** bytes (page-aligned, non-zero) */
  readonly size: number;
  /** the contiguous allocator */
  readonly driver: VcmO2oDriver;
  /** name in messages and trace events */
  readonly name?: string;
}

/** A one-to-one context (`struct vcm_o2o`). */
export class VcmO2o extends Vcm {
  /** the contiguous allocator */
  readonly o2oDriver: VcmO2oDriver;

  /** @internal use `vcmO2oInit` or `vcmCmaCreate` */
  constructor(kernel: Kernel, opts: VcmO2oOpts, driver: VcmDriver) {
    super(kernel, { start: opts.start, size: opts.size, driver, ...(opts.name ? { name: opts.name } : {}) });
    this.o2oDriver = opts.driver;
  }
}

function badPart(phys: VcmPhys): boolean {
  const p = phys.parts[0];
  return !p || p.size === 0 || p.start % PAGE_SIZE !== 0 || p.size % PAGE_SIZE !== 0;
}

const o2oDriver = Object.freeze({
  cleanup(vcm) {
    (vcm as VcmO2o).o2oDriver.cleanup?.(vcm);
  },
  phys(vcm, size, flags) {
    const phys = (vcm as VcmO2o).o2oDriver.phys(vcm, size, flags);
    const p = phys.parts[0];
    if (!phys.free || badPart(phys) || (p?.size ?? 0) < size) {
      if (phys.free) _freePhys(phys);
      throw new KernelError(
        "EINVAL",
        `vcm_o2o phys: ${vcm.name} returned ${phys}, not one page-aligned part of ${hex(size)} bytes with a free callback`,
      );
    }
    return phys;
  },
  map(vcm, phys) {
    if (phys.count !== 1) {
      throw new KernelError("EOPNOTSUPP", `vcm_o2o map: ${phys} is not physically contiguous`);
    }
    if (badPart(phys)) throw new KernelError("EINVAL", `vcm_o2o map: ${phys} is empty or not page-aligned`);
    const p = phys.parts[0] as VcmPhys["parts"][number];
    return new VcmRes(vcm, p.start, p.size);
  },
  bind(res, phys) {
    if (phys.count !== 1) {
      throw new KernelError("EOPNOTSUPP", `vcm_o2o bind: ${phys} is not physically contiguous`);
    }
    if (badPart(phys)) throw new KernelError("EINVAL", `vcm_o2o bind: ${phys} is empty or not page-aligned`);
    const p = phys.parts[0] as VcmPhys["parts"][number];
    if (res.start !== p.start) {
      throw new KernelError(
        "EOPNOTSUPP",
        `vcm_o2o bind: reservation ${res} cannot show memory at ${hex(p.start)} (bus address = physical address)`,
      );
    }
  },
  unreserve() {
    // nothing was reserved: the address is the memory's own
  },
} satisfies VcmDriver);

/**
 * `vcm_o2o_init`: a one-to-one context whose physical memory comes from `opts.driver.phys`.
 * EINVAL without a driver or its `phys`, or for a start/size `vcmInit` refuses.
 */
export function vcmO2oInit(kernel: Kernel, opts: VcmO2oOpts): VcmO2o {
  if (!opts?.driver || typeof opts.driver.phys !== "function") {
    throw new KernelError("EINVAL", "vcm_o2o_init: the driver has no phys operation");
  }
  const vcm = new VcmO2o(kernel, opts, o2oDriver);
  vcmInit(vcm);
  return vcm;
}

/**
 * `vcm_cma_create`: a one-to-one context whose memory comes from CMA — from one region or
 * merged area (`cmaAllocFromRegion`, the RFCv2 form taking a context) or from a comma-separated
 * list of 2010 region names (`cmaAllocFrom`, the RFCv5 form) — aligned to `alignment` bytes
 * (0 or a power of two; EINVAL otherwise). Each physical allocation is one chunk, freed with
 * `cmaFree`. The context spans the region (or the listed regions' bounds).
 */
export function vcmCmaCreate(kernel: Kernel, source: CmaRegion | string, alignment = 0): VcmO2o {
  if (!Number.isSafeInteger(alignment) || alignment < 0 || (alignment !== 0 && !isPowerOfTwo(alignment))) {
    throw new KernelError("EINVAL", `vcm_cma_create: alignment ${String(alignment)} is not a power of two`);
  }
  if (!source) throw new KernelError("EINVAL", "vcm_cma_create: no region");
  let start = 0;
  let size = PAGE_SIZE;
  let label: string;
  if (typeof source === "string") {
    const info = cmaInfoAbout(kernel, source);
    if (info.count > 0) {
      start = info.lowerBound;
      size = info.upperBound - info.lowerBound;
    }
    label = source;
  } else {
    start = source.base;
    size = source.size;
    label = source.label;
  }
  const alloc = (sz: number): number =>
    typeof source === "string"
      ? cmaAllocFrom(kernel, source, sz, alignment)
      : cmaAllocFromRegion(source, sz, alignment);
  const driver = Object.freeze({
    phys(vcm, sz) {
      const at = alloc(sz);
      return new VcmPhys(vcm.kernel, {
        parts: [{ start: at, size: sz, pfn: at / PAGE_SIZE }],
        size: sz,
        free: () => cmaFree(kernel, at),
      });
    },
  } satisfies VcmO2oDriver);
  return vcmO2oInit(kernel, { start, size, driver, name: `vcm_cma:${label}` });
}
