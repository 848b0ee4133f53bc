/**
 * Test helpers: `bootUmp` (a booted kernel with a CPU, processes and UMP on the backend of your
 * choice), `umpRefAudit` (every live buffer's references counted from the sessions, mappings and
 * kernel handles that hold them) and `umpCheckInvariants` / `expectUmpConsistent` (§1.9).
 *
 * @module
 */
import { type Cpu, cpuInit } from "@umm/arch-arm";
import { createKernel, hex, type Kernel, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { type Mm, mmInit } from "@umm/mm-core";
import { S5P_VCM_SIZE, VCM_DEV_G2D, vcmCreateUnified } from "@umm/mm-vcm";
import { expect } from "vitest";
import { type UmpCarveout, type UmpDriver, type UmpInitOpts, umpInit, umpReserve } from "./init.js";
import { umpState } from "./state.js";
import { UMP_BLOCK_SIZE, UMP_INVALID_SECURE_ID, type UmpBackendName } from "./types.js";

/** Options of `bootUmp`. */
export interface BootUmpOpts extends Omit<UmpInitOpts, "backend"> {
  /** PRNG seed (default 1) */
  readonly seed?: number;
  /** DRAM at 0x40000000 (default 64 MiB) */
  readonly ramSize?: number;
  /** the backend (default "os") */
  readonly backend?: UmpBackendName;
  /** dedicated: carve-out size reserved at boot (default 8 MiB) */
  readonly carveoutSize?: number;
  /** a CPU with a data cache (default true) */
  readonly cpu?: boolean;
  /** the CPU's strict mode: a coherency hazard also throws EIO (default false) */
  readonly strict?: boolean;
  /** vcm: VCM contexts to create as `[VCM_DEV_*, size]` (default G2D, 64 MiB) */
  readonly vcmContexts?: readonly (readonly [number, number])[];
}

/** What `bootUmp` returns. */
export interface BootedUmp {
  /** the booted kernel */
  readonly kernel: Kernel;
  /** its memory management */
  readonly mm: Mm;
  /** the CPU, or null with `cpu: false` */
  readonly cpu: Cpu | null;
  /** what `umpInit` returned */
  readonly driver: UmpDriver;
  /** the dedicated carve-out, or null */
  readonly carveout: UmpCarveout | null;
}

/** A kernel with DRAM, optionally a CPU, and UMP loaded on `opts.backend`. */
export function bootUmp(opts: BootUmpOpts = {}): BootedUmp {
  const kernel = createKernel({ seed: opts.seed ?? 1 });
  const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: opts.ramSize ?? 64 * SZ_1M }] });
  const backend = opts.backend ?? "os";
  const carveout =
    backend === "dedicated" ? umpReserve(kernel, { size: opts.carveoutSize ?? 8 * SZ_1M }) : null;
  mm.memblockFreeAll();
  const cpu = opts.cpu === false ? null : cpuInit(kernel, { strict: opts.strict ?? false });
  if (backend === "vcm") {
    for (const [id, size] of opts.vcmContexts ?? [[VCM_DEV_G2D, 64 * SZ_1M] as const]) {
      vcmCreateUnified(kernel, Math.min(size, S5P_VCM_SIZE), id, null);
    }
  }
  const { seed: _s, ramSize: _r, carveoutSize: _c, cpu: _cpu, strict: _st, vcmContexts: _v, ...init } = opts;
  const driver = umpInit(kernel, { ...init, backend });
  return { kernel, mm, cpu, driver, carveout };
}

/** One live buffer's references, each kind counted from what holds it. */
export interface UmpAuditEntry {
  /** the buffer's secure ID */
  readonly secureId: number;
  /** its size in bytes */
  readonly size: number;
  /** the descriptor's `ref_count` */
  readonly refCount: number;
  /** entries on sessions' allocation lists */
  readonly sessionEntries: number;
  /** live mappings (sessions' mapping lists) */
  readonly mappings: number;
  /** references taken through the kernel API */
  readonly kernelRefs: number;
}

/** Every live buffer with its references counted from the sessions and mappings (by ID). */
export function umpRefAudit(kernel: Kernel): UmpAuditEntry[] {
  const st = umpState(kernel);
  const sessionEntries = new Map<number, number>();
  const mappings = new Map<number, number>();
  for (const s of st.sessions) {
    for (const m of s.memoryList) sessionEntries.set(m.secureId, (sessionEntries.get(m.secureId) ?? 0) + 1);
    for (const m of s.mappings.values())
      mappings.set(m.mem.secureId, (mappings.get(m.mem.secureId) ?? 0) + 1);
  }
  return st.ids
    .entries()
    .sort((a, b) => a[0] - b[0])
    .map(([id, mem]) => ({
      secureId: id,
      size: mem.size,
      refCount: mem.refCount,
      sessionEntries: sessionEntries.get(id) ?? 0,
      mappings: mappings.get(id) ?? 0,
      kernelRefs: mem.kernelRefs,
    }));
}

/**
 * §1.9's invariants over the live state; returns what is violated (empty when all hold): IDs
 * unique, never 0 or `UMP_INVALID_SECURE_ID` (and in [1, 4095] in compatibility mode); blocks
 * 4 KiB-aligned, summing to the size; sizes page-aligned (256 KiB multiples on the dedicated
 * backend); `ref_count` = session entries + mappings + kernel handles, and positive; the
 * backend's bytes in use = the sizes of its live buffers.
 */
export function umpCheckInvariants(kernel: Kernel): string[] {
  const st = umpState(kernel);
  const bad: string[] = [];
  const seen = new Set<number>();
  let backendBytes = 0;
  for (const [id, mem] of st.ids.entries()) {
    const name = `secure ID ${id} (${hex(id)})`;
    if (seen.has(id)) bad.push(`${name} is live twice`);
    seen.add(id);
    if (id === 0 || id === UMP_INVALID_SECURE_ID) bad.push(`${name} must never be issued`);
    if (st.config.compat && (id < 1 || id > 4095)) bad.push(`${name} is outside [1, 4095]`);
    if (mem.secureId !== id) bad.push(`${name} names a descriptor of ID ${mem.secureId}`);
    let sum = 0;
    for (const b of mem.blocks) {
      if (b.addr % PAGE_SIZE !== 0 || b.size % PAGE_SIZE !== 0) {
        bad.push(`${name}: block [${hex(b.addr)}, +${hex(b.size)}) is not 4 KiB-aligned`);
      }
      sum += b.size;
    }
    if (sum !== mem.size) bad.push(`${name}: blocks sum to ${hex(sum)}, size is ${hex(mem.size)}`);
    if (mem._alloc) {
      if (mem.size === 0 || mem.size % PAGE_SIZE !== 0)
        bad.push(`${name}: size ${hex(mem.size)} not page-aligned`);
      if (mem.backend === "dedicated" && mem.size % UMP_BLOCK_SIZE !== 0) {
        bad.push(`${name}: dedicated size ${hex(mem.size)} is not a multiple of 256 KiB`);
      }
      backendBytes += mem.size;
    }
    if (mem.released) bad.push(`${name} is in the table but released`);
  }
  for (const a of umpRefAudit(kernel)) {
    const expected = a.sessionEntries + a.mappings + a.kernelRefs;
    if (a.refCount !== expected || a.refCount <= 0) {
      bad.push(
        `secure ID ${a.secureId}: ref_count ${a.refCount} != ${a.sessionEntries} session entries + ${a.mappings} mappings + ${a.kernelRefs} kernel handles`,
      );
    }
  }
  if (st.backend.stat() !== backendBytes) {
    bad.push(
      `backend ${st.backend.name} reports ${hex(st.backend.stat())} bytes in use, live buffers hold ${hex(backendBytes)}`,
    );
  }
  return bad;
}

/** `expect(umpCheckInvariants(kernel)).toEqual([])`. */
export function expectUmpConsistent(kernel: Kernel): void {
  expect(umpCheckInvariants(kernel)).toEqual([]);
}
