/**
 * The seam of UMP's memory backends (`ump_kernel_memory_backend.h`, `struct
 * ump_memory_backend`): what a backend fills so that `umpInit(kernel, { backend })` can allocate
 * from it. umm ships three — dedicated carve-out, OS pages and Samsung's VCM — and accepts any
 * object of this shape.
 *
 * The core validates the request (size page-aligned, at least one page), takes care of secure
 * IDs, sessions, references and mappings; a backend only finds memory and gives it back.
 *
 * @module
 */
import type { UmpDdPhysicalBlock } from "./types.js";

/** What the core asks a backend for (`ump_dd_mem` before `allocate`). */
export interface UmpAllocRequest {
  /** bytes, page-aligned, at least 4 KiB (`size_bytes`) */
  readonly size: number;
  /** the `constraints` word of `UMP_IOC_ALLOCATE`, as user space passed it */
  readonly constraints: number;
  /** whether the caller asked for cacheable memory (`is_cached`) */
  readonly cached: boolean;
}

/** What a backend hands back for one buffer. */
export interface UmpBackendAllocation {
  /** the physical blocks, each 4 KiB-aligned in address and size, in buffer order */
  readonly blocks: readonly UmpDdPhysicalBlock[];
  /** the buffer's size: the sum of the blocks (a backend may round up, as the dedicated one does) */
  readonly size: number;
  /** whether the buffer is cached (a backend may force false, as the dedicated one does) */
  readonly cached: boolean;
  /** the backend's own data (`backend_info`) */
  readonly info?: unknown;
}

/** A UMP memory backend (`struct ump_memory_backend`). */
export interface UmpMemoryBackend {
  /** shown in `ump_alloc` events and reports: "dedicated", "os", "vcm", ... */
  readonly name: string;
  /**
   * `allocate`: memory for `req`, or null when there is none (ARM's `return 0`). It may also
   * throw a `KernelError`, whose message the core passes on. Either way it must leave nothing
   * allocated.
   */
  allocate(req: UmpAllocRequest): UmpBackendAllocation | null;
  /** `release`: gives back everything `allocate` returned for one buffer; never throws. */
  release(alloc: UmpBackendAllocation): void;
  /** `stat`: bytes in use (debugfs `ump/memory_usage`). */
  stat(): number;
  /**
   * umm: the buffer became cached (a `MAP_PRIVATE` mapping flipped it, §1.6); a backend that
   * remapped the kernel linear map write-combined for an uncached buffer maps it cacheable again.
   */
  setCached?(alloc: UmpBackendAllocation): void;
  /** Backend-specific numbers for reports (free blocks, pages allocated, ...). */
  info?(): Readonly<Record<string, number | string>>;
  /** `shutdown`: the driver is unloading; every buffer has been released. */
  shutdown?(): void;
}
