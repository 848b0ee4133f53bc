/**
 * arch-arm's trace events. The kernel has no tracepoint for cache maintenance or coherency
 * hazards; these are umm's own, named in the kernel's style.
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /**
     * a coherency hazard: `kind` is dirty-read, stale-read, dirty-overwrite or alias; `missing`
     * names the maintenance that would have prevented it (see `CoherencyReport`)
     */
    coherency_hazard: {
      kind: string;
      device: string;
      paddr: number;
      size: number;
      owner: string;
      missing: string;
      detail: string;
    };
    /**
     * CPU cache maintenance: by physical range (one event per physical run of a VA range) or of
     * the whole cache (`scope` "all": `paddr`/`size` span all RAM)
     */
    cpu_cache_maint: {
      op: "clean" | "invalidate" | "flush";
      scope: "range" | "all";
      paddr: number;
      size: number;
    };
    /** a CPU load or store of `size` bytes at `va` in `space`, through a `memtype` mapping */
    cpu_access: { space: string; va: number; size: number; write: boolean; memtype: string };
    /** a CPU memcpy of `size` bytes (`Cpu.copy`) */
    cpu_copy: { size: number };
  }
}

export {};
