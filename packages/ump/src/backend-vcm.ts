/**
 * Samsung's VCM backend (`ump_kernel_memory_backend_vcm.c`, `ump_backend=2`): a buffer is a
 * `vcm_make_binding` in the S5P unified context of a device chosen by the constraints word —
 * `c = constraints & ~UMP_REF_DRV_CONSTRAINT_USE_CACHE`: 0 → the G2D context, 1
 * (PHYSICALLY_LINEAR) → refused, anything else → VCM device id `c - 2` — so the buffer is at once
 * bound in that device's SysMMU page table. UMP blocks are the binding's physical parts (mixed
 * 1 MiB / 64 KiB / 4 KiB pages); their cache lines are invalidated (`dmac_unmap_area` +
 * `outer_inv_range`); release is `vcm_destroy_binding`.
 *
 * Because the USE_CACHE bit is masked out, a device id whose `id + 2` has bit 2 set (FIMC0..3,
 * G2D..MDMA2) cannot be chosen: its constraint decodes to another device, as in Samsung's code.
 *
 * @module
 */
import { type Cpu, cpuOf } from "@umm/arch-arm";
import { type Kernel, KernelBug, KernelError } from "@umm/kernel-core";
import { mmOf } from "@umm/mm-core";
import {
  VCM_DEV_G2D,
  VCM_DEV_NAMES,
  type VcmRes,
  vcmDestroyBinding,
  vcmFindVcm,
  vcmMakeBinding,
} from "@umm/mm-vcm";
import { setLinearMemtype } from "./linear.js";
import type { UmpAllocRequest, UmpBackendAllocation, UmpMemoryBackend } from "./ops.js";
import {
  UMP_REF_DRV_CONSTRAINT_NONE,
  UMP_REF_DRV_CONSTRAINT_PHYSICALLY_LINEAR,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
} from "./types.js";

interface VcmInfo {
  readonly res: VcmRes;
  readonly devId: number;
  wc: boolean;
}

/** The VCM backend, with its block counter exposed. */
export interface UmpVcmBackend extends UmpMemoryBackend {
  readonly name: "vcm";
  /** `num_vcm_blocks`: physical parts of every live buffer */
  readonly numVcmBlocks: number;
}

/**
 * The VCM device id the backend uses for `constraints`, or null for PHYSICALLY_LINEAR (which it
 * refuses). The value may name no context (then the allocation fails).
 */
export function umpVcmDeviceId(constraints: number): number | null {
  const c = (constraints & ~UMP_REF_DRV_CONSTRAINT_USE_CACHE) >>> 0;
  if (c === UMP_REF_DRV_CONSTRAINT_NONE) return VCM_DEV_G2D;
  if (c === UMP_REF_DRV_CONSTRAINT_PHYSICALLY_LINEAR) return null;
  return c - 2;
}

/**
 * The constraints word that selects VCM device `devId` (`devId + 2`), or with `cached` also
 * USE_CACHE. Throws EINVAL for a device the encoding cannot reach (see the module comment).
 */
export function umpVcmConstraints(devId: number, cached = false): number {
  const c = devId + 2;
  if (!Number.isInteger(devId) || devId < 0 || (c & UMP_REF_DRV_CONSTRAINT_USE_CACHE) !== 0) {
    throw new KernelError(
      "EINVAL",
      `ump vcm: device ${devId} (${VCM_DEV_NAMES[devId] ?? "?"}) cannot be encoded: ${c} has the USE_CACHE bit`,
    );
  }
  return cached ? c | UMP_REF_DRV_CONSTRAINT_USE_CACHE : c;
}

function cpuOrNull(kernel: Kernel): Cpu | null {
  if (!mmOf(kernel).hooks.cache) return null;
  try {
    return cpuOf(kernel);
  } catch (e) {
    if (e instanceof KernelBug) return null;
    throw e;
  }
}

/** `ump_vcm_memory_backend_create`. */
export function umpVcmBackend(kernel: Kernel): UmpVcmBackend {
  const mm = mmOf(kernel);
  let numVcmBlocks = 0;
  let bytes = 0;
  return {
    name: "vcm",
    get numVcmBlocks() {
      return numVcmBlocks;
    },
    allocate(req: UmpAllocRequest): UmpBackendAllocation | null {
      const devId = umpVcmDeviceId(req.constraints);
      if (devId === null) {
        throw new KernelError(
          "EINVAL",
          "ump vcm: UMP_REF_DRV_CONSTRAINT_PHYSICALLY_LINEAR is not supported by the VCM backend",
        );
      }
      const vcm = vcmFindVcm(kernel, devId);
      if (!vcm) {
        throw new KernelError(
          "ENODEV",
          `ump vcm: no VCM context for device ${devId} (${VCM_DEV_NAMES[devId] ?? "not a VCM_DEV_* id"}), constraints ${req.constraints}`,
        );
      }
      // Samsung passes the device id as vcm_make_binding's allocation flags
      const res = vcmMakeBinding(vcm, req.size, devId, 0);
      const parts = res.phys!.parts;
      const blocks = parts.map((p) => ({ addr: p.start, size: p.size }));
      const cpu = cpuOrNull(kernel);
      if (cpu) for (const b of blocks) cpu.invalidatePhys(b.addr, b.size);
      if (!req.cached) setLinearMemtype(mm, blocks, "writecombine");
      numVcmBlocks += blocks.length;
      bytes += req.size;
      const info: VcmInfo = { res, devId, wc: !req.cached };
      return { blocks, size: req.size, cached: req.cached, info };
    },
    release(alloc: UmpBackendAllocation): void {
      const info = alloc.info as VcmInfo;
      if (info.wc) setLinearMemtype(mm, alloc.blocks, "cacheable");
      numVcmBlocks -= alloc.blocks.length;
      bytes -= alloc.size;
      vcmDestroyBinding(info.res);
    },
    setCached(alloc: UmpBackendAllocation): void {
      const info = alloc.info as VcmInfo;
      if (!info.wc) return;
      setLinearMemtype(mm, alloc.blocks, "cacheable");
      info.wc = false;
    },
    stat: () => bytes,
    info: () => ({ vcmBlocks: numVcmBlocks, bytesInUse: bytes }),
  };
}
