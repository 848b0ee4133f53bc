/**
 * PMM and UPBuffer trace events. The RFC had no tracepoints (only the debugfs operation log,
 * which `pmmDebugfsRead(kernel, "operation")` reproduces); the events follow the kernel's
 * naming: one per allocation, free, reference, share, attach, transaction and sync.
 *
 * @module
 */
import type { UpbufMode } from "./types.js";

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /** `pmm_alloc` made an area: its physical start, page-aligned size, type bit and flags */
    pmm_alloc: { paddr: number; size: number; type: number; flags: number };
    /** `pmm_alloc` found no room (or was asked for nothing valid): the request */
    pmm_alloc_failed: { size: number; type: number; alignment: number };
    /** an area's last reference went: it is a hole again */
    pmm_free: { paddr: number; size: number };
    /** `pmm_get`: `refcount` after the get */
    pmm_get: { paddr: number; refcount: number };
    /** `pmm_put`: `refcount` after the put (0: freed) */
    pmm_put: { paddr: number; refcount: number };
    /** the kernel would printk a warning here and carry on */
    pmm_warn: { message: string };
    /** IOCTL_PMM_SHMGET created segment `shmid` (`SYSV%08x` of `key`) over the area at `paddr` */
    pmm_shm_create: { shmid: number; key: number; size: number; paddr: number };
    /** `shmat`: process `pid` mapped segment `shmid` at `uaddr` */
    pmm_shm_attach: { shmid: number; pid: number; uaddr: number; size: number };
    /** `shmdt`: process `pid` unmapped the attach at `uaddr` */
    pmm_shm_detach: { shmid: number; pid: number; uaddr: number };
    /** the segment is gone (removed and unattached); its area reference was dropped */
    pmm_shm_destroy: { shmid: number; key: number };
    /** `upbuf_prepare`: a transaction over `[uaddr, uaddr + size)` of process `pid` began */
    upbuf_prepare: { pid: number; uaddr: number; size: number; mode: UpbufMode; paddr: number };
    /** `upbuf_release`: the transaction ended (file reference dropped / pages unpinned / shadow freed) */
    upbuf_release: { pid: number; uaddr: number; size: number; mode: UpbufMode; paddr: number };
    /** `upbuf_sync` of `[paddr, paddr + size)` in direction `dir`; `noop` for NO_CACHE memory */
    upbuf_sync: { dir: string; mode: UpbufMode; paddr: number; size: number; noop: boolean };
  }
}

/** Names of the events this package emits. */
export type PmmTraceEvent =
  | "pmm_alloc"
  | "pmm_alloc_failed"
  | "pmm_free"
  | "pmm_get"
  | "pmm_put"
  | "pmm_warn"
  | "pmm_shm_create"
  | "pmm_shm_attach"
  | "pmm_shm_detach"
  | "pmm_shm_destroy"
  | "upbuf_prepare"
  | "upbuf_release"
  | "upbuf_sync";
