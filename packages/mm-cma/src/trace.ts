/**
 * CMA trace events (include/trace/events/cma.h), emitted by both APIs: the 2010 framework's
 * allocations and frees use the same events as merged `cma_alloc` / `cma_release`, with `count`
 * in pages and `align` as an order of pages. The migration an allocation over a reusable region
 * causes is mm-core's `mm_migrate_pages`. `cma_warn` marks the places where the kernel WARNs or
 * prints an error and carries on.
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /** an allocation of `count` pages aligned to 2^`align` pages begins on area `name` */
    cma_alloc_start: { name: string; count: number; align: number };
    /** it ended: `pfn` is the first page (0 on failure), `errorno` 0 or a negative errno */
    cma_alloc_finish: { name: string; pfn: number; count: number; align: number; errorno: number };
    /** the candidate at `pfn` could not be emptied (a page would not migrate); trying the next */
    cma_alloc_busy_retry: { name: string; pfn: number; count: number; align: number };
    /** `count` pages from `pfn` went back to area `name` */
    cma_release: { name: string; pfn: number; count: number };
    /** the kernel would WARN or pr_err here and carry on (a failed allocation, a leak at shutdown) */
    cma_warn: { message: string };
  }
}

/** Names of the events this package emits. */
export type CmaTraceEvent =
  | "cma_alloc_start"
  | "cma_alloc_finish"
  | "cma_alloc_busy_retry"
  | "cma_release"
  | "cma_warn";
