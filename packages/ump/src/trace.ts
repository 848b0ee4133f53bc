/**
 * UMP trace events. ARM's driver had no tracepoints (only `DBG_MSG`); the events follow the
 * kernel's naming: one per allocation, final release, mapping, unmapping, cache operation, usage
 * switch and refused import.
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /**
     * A buffer got secure ID `secure_id`: `size` bytes from `backend` ("dedicated", "os", "vcm",
     * a custom backend's name, "phys_blocks" for `umpDdHandleCreateFromPhysBlocks`, "dmabuf" for an
     * imported dma-buf), `cached` as created.
     */
    ump_alloc: { secure_id: number; size: number; backend: string; cached: boolean };
    /** The last reference of `secure_id` went: the ID is free and the memory back in its backend. */
    ump_release: { secure_id: number };
    /** Process `pid` mapped `secure_id` (the mapping holds a reference). */
    ump_map: { secure_id: number; pid: number };
    /** The last piece of a mapping of `secure_id` in process `pid` went (its reference dropped). */
    ump_unmap: { secure_id: number; pid: number };
    /**
     * `UMP_IOC_MSYNC` on `secure_id` with `op` ("clean", "clean_and_invalidate", "invalidate",
     * "readout", or the op number), and `UMP_CACHE_OP_FINISH`'s level-1 flush (`secure_id` 0,
     * `op` "flush_l1"). The maintenance itself shows as arch-arm's `cpu_cache_maint`.
     */
    ump_msync: { secure_id: number; op: string };
    /** `UMP_IOC_SWITCH_HW_USAGE`: the buffer's user went from `from` to `to` (UMP_USED_BY_*). */
    ump_switch_hw_usage: { secure_id: number; from: number; to: number };
    /** A process of `uid` tried to import `secure_id` (size, map, handle, sync) without rights. */
    ump_denied: { secure_id: number; uid: number };
    /** The driver would log an error and carry on (or a leak at shutdown). */
    ump_warn: { message: string };
  }
}

/** Names of the events this package emits. */
export type UmpTraceEvent =
  | "ump_alloc"
  | "ump_release"
  | "ump_map"
  | "ump_unmap"
  | "ump_msync"
  | "ump_switch_hw_usage"
  | "ump_denied"
  | "ump_warn";
