/**
 * The VCM framework's trace events. The 2010 series defined no tracepoints; these follow the
 * kernel's naming habits (`<subsystem>_<verb>`, address fields in hex) and carry what a report
 * needs: which context, which bus address, how many bytes in how many physical parts.
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /** a physical allocation was bound to a reservation (`vcm_bind`, or `vcm_map` through a driver's map) */
    vcm_bind: { vcm: string; res_start: number; size: number; nparts: number };
    /** a reservation was unbound (`vcm_unbind`); `size` and `nparts` describe the phys it held */
    vcm_unbind: { vcm: string; res_start: number; size: number; nparts: number };
    /** a context went from 0 to 1 activations and its driver's activate succeeded */
    vcm_activate: { vcm: string };
    /** a context went from 1 to 0 activations (its driver's deactivate ran) */
    vcm_deactivate: { vcm: string };
    /** the kernel would WARN here and carry on (vcm_free of a bound phys, unbind of an unbound res, ...) */
    vcm_warn: { message: string };
  }
}

/** Names of the events this package emits. */
export type VcmTraceEvent = "vcm_bind" | "vcm_unbind" | "vcm_activate" | "vcm_deactivate" | "vcm_warn";
