/**
 * The UMP backend of a booted machine: the dedicated carve-out and, on a board with System MMUs,
 * Samsung's VCM backend behind one `UmpMemoryBackend`, chosen per allocation by the constraints
 * word as the two would be on an Exynos4210 vendor kernel that loads both: constraints that name
 * no device (`UMP_REF_DRV_CONSTRAINT_NONE`, `…_PHYSICALLY_LINEAR`, with or without
 * `…_USE_CACHE`) come from the carve-out; constraints that encode a VCM device
 * (`umpVcmConstraints(VCM_DEV_MFC)`) are bound in that device's S5P VCM context. Without a
 * carve-out every allocation goes to the VCM backend (G2D for NONE, as Samsung's); without VCM
 * contexts every one to the carve-out.
 *
 * @module
 */
import { KernelError } from "@umm/kernel-core";
import {
  UMP_REF_DRV_CONSTRAINT_PHYSICALLY_LINEAR,
  UMP_REF_DRV_CONSTRAINT_USE_CACHE,
  type UmpAllocRequest,
  type UmpBackendAllocation,
  type UmpMemoryBackend,
} from "@umm/ump";

interface Routed {
  readonly via: UmpMemoryBackend;
  readonly inner: UmpBackendAllocation;
}

/**
 * A backend that routes each allocation to `dedicated` or `vcm` (either may be null, not both):
 * device constraints to `vcm`, the others to `dedicated` (see the module comment). Its name joins
 * the two ("dedicated+vcm"); `stat` and `info` add theirs up (`info` keys prefixed with the
 * backend's name); `shutdown` shuts both down.
 */
export function socUmpBackend(
  dedicated: UmpMemoryBackend | null,
  vcm: UmpMemoryBackend | null,
): UmpMemoryBackend {
  const parts = [dedicated, vcm].filter((b): b is UmpMemoryBackend => b !== null);
  if (parts.length === 0)
    throw new KernelError("EINVAL", "socUmpBackend: neither a dedicated nor a VCM backend");
  const pick = (constraints: number): UmpMemoryBackend => {
    const c = (constraints & ~UMP_REF_DRV_CONSTRAINT_USE_CACHE) >>> 0;
    if (!vcm) return dedicated!;
    if (!dedicated) return vcm;
    return c <= UMP_REF_DRV_CONSTRAINT_PHYSICALLY_LINEAR ? dedicated : vcm;
  };
  const wrap = (via: UmpMemoryBackend, inner: UmpBackendAllocation): UmpBackendAllocation => ({
    blocks: inner.blocks,
    size: inner.size,
    cached: inner.cached,
    info: { via, inner } satisfies Routed,
  });
  return {
    name: parts.map((b) => b.name).join("+"),
    allocate(req: UmpAllocRequest): UmpBackendAllocation | null {
      const via = pick(req.constraints);
      const inner = via.allocate(req);
      return inner ? wrap(via, inner) : null;
    },
    release(alloc: UmpBackendAllocation): void {
      const r = alloc.info as Routed;
      r.via.release(r.inner);
    },
    setCached(alloc: UmpBackendAllocation): void {
      const r = alloc.info as Routed;
      r.via.setCached?.(r.inner);
    },
    stat: () => parts.reduce((s, b) => s + b.stat(), 0),
    info: () => {
      const out: Record<string, number | string> = {};
      for (const b of parts) {
        for (const [k, v] of Object.entries(b.info?.() ?? {})) out[`${b.name}.${k}`] = v;
      }
      return out;
    },
    shutdown(): void {
      for (const b of parts) b.shutdown?.();
    },
  };
}
