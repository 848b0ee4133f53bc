/**
 * The per-kernel state of PMM (what `pmm.c` keeps in globals: the items, the per-type trees,
 * the operation log) in a kernel slot, and the shapes the other modules share.
 *
 * @module
 */
import { defineSlot, type Kernel, KernelBug, type Kref, type Tracepoint } from "@umm/kernel-core";
import type { Chrdev, File } from "@umm/kernel-process";
import type { CmaRegion } from "@umm/mm-cma";
import type { Mm } from "@umm/mm-core";
import "./trace.js";

/** One memory type of the platform and its pool. */
export interface PmmType {
  /** the type's bit */
  readonly bit: number;
  /** log2 of the bit (the debugfs `types/<n>` index is the position in the table instead) */
  readonly index: number;
  readonly name: string;
  /** allocatable from /dev/pmm */
  readonly user: boolean;
  /** highest bus address the pool may reach, or null */
  readonly busLimit: number | null;
  /** the pool lies in one window of this many bytes of bus space, or null */
  readonly boundary: number | null;
  /** `dma_pfn_offset` of the devices the pool serves */
  readonly dmaPfnOffset: number;
  /** requested bytes (0: no pool) */
  readonly wanted: number;
  /** the fixed base asked for, or null */
  readonly fixedBase: number | null;
  /** physical start of the reserved pool (0 when none was reserved) */
  base: number;
  /** bytes reserved (0 when none) */
  size: number;
  /** the private CMA region managing the pool, once `pmmInit` ran */
  region: CmaRegion | null;
  /** memblock reservation name, also the owner tag of free pool pages */
  readonly resName: string;
}

/** An allocated area (`struct pmm_item` that is not a hole). */
export interface PmmArea {
  /** physical start */
  readonly start: number;
  /** bytes, page-aligned */
  readonly size: number;
  readonly type: PmmType;
  /** raw area flags: PMM_NO_CACHE and PMM_ITEM_LAST */
  readonly flags: number;
  /** bytes asked for (before PAGE_ALIGN) */
  readonly requested: number;
  /** the area's references (`kref`): the allocation, /dev/pmm files, SHM segments, transactions */
  readonly kref: Kref;
  /** owner tag of its pages */
  readonly owner: string;
}

/** One line of the operation log (`CONFIG_PMM_DEBUG_OPERATIONS`). */
export interface PmmOperation {
  /** virtual time in ns */
  readonly timestamp: number;
  /** the task current at the operation */
  readonly pid: number;
  /** `a` alloc, `f` failed alloc, `r` release (freed), `g` get, `p` put */
  readonly op: "a" | "f" | "r" | "g" | "p";
  /** bytes asked for (alloc and failed alloc; else 0) */
  readonly requiredSize: number;
  /** the area's size (0 for a failed alloc) */
  readonly size: number;
  /** the area's start (0 for a failed alloc) */
  readonly start: number;
}

/** A SysV segment over a PMM area (`struct shmid_kernel` of the ipc/shm.c patch). */
export interface ShmSegment {
  readonly id: number;
  /** the key it was created with; IPC_PRIVATE once marked for destruction */
  key: number;
  readonly size: number;
  readonly area: PmmArea;
  /** the shm file (`SYSV%08x`): attaches map it; its release drops the area reference */
  readonly file: File;
  readonly cuid: number;
  readonly cgid: number;
  uid: number;
  gid: number;
  mode: number;
  nattch: number;
  /** marked for destruction (`SHM_DEST`) */
  dest: boolean;
  readonly cpid: number;
  lpid: number;
  atime: number;
  dtime: number;
  ctime: number;
  /** gone: removed from the id table */
  destroyed: boolean;
  /** the namespace it lives in */
  readonly ns: ShmState;
}

/** The SysV side (`struct ipc_namespace` shm fields). */
export interface ShmState {
  /** `shm_ctlmax`: largest segment in bytes */
  readonly ctlmax: number;
  /** `shm_ctlall`: most pages in all segments */
  readonly ctlall: number;
  /** `shm_ctlmni`: most segments */
  readonly ctlmni: number;
  /** pages in all segments (`shm_tot`) */
  tot: number;
  /** live segments by index (id % IPCMNI) */
  readonly byIndex: Map<number, ShmSegment>;
  /** segments by key (IPC_PRIVATE ones are not here) */
  readonly byKey: Map<number, ShmSegment>;
  /** sequence number of the next id */
  seq: number;
  readonly tp: {
    readonly create: Tracepoint<"pmm_shm_create">;
    readonly attach: Tracepoint<"pmm_shm_attach">;
    readonly detach: Tracepoint<"pmm_shm_detach">;
    readonly destroy: Tracepoint<"pmm_shm_destroy">;
  };
}

/** The PMM state of one kernel. */
export interface PmmState {
  readonly kernel: Kernel;
  readonly mm: Mm;
  /** the platform's memory types, lowest bit first */
  readonly types: PmmType[];
  /** OR of every defined type bit */
  readonly typesMask: number;
  /** `PMM_USER_MEMORY_TYPES_MASK` */
  readonly userMask: number;
  /** live areas by start */
  readonly areas: Map<number, PmmArea>;
  /** `pmmInit` ran */
  initialised: boolean;
  /** /dev/pmm, when registered */
  cdev: Chrdev | null;
  /** SysV sharing, or null without CONFIG_PMM_SHM */
  shm: ShmState | null;
  /** the operation log ring (`opLogSize` slots, oldest at `opHead`) */
  readonly opLog: (PmmOperation | undefined)[];
  readonly opLogSize: number;
  opHead: number;
  opCount: number;
  readonly tp: {
    readonly alloc: Tracepoint<"pmm_alloc">;
    readonly failed: Tracepoint<"pmm_alloc_failed">;
    readonly free: Tracepoint<"pmm_free">;
    readonly get: Tracepoint<"pmm_get">;
    readonly put: Tracepoint<"pmm_put">;
    readonly warn: Tracepoint<"pmm_warn">;
  };
}

const PMM = defineSlot<PmmState>("pmm");

/** @internal stores a new state */
export function setPmmState(kernel: Kernel, st: PmmState): void {
  kernel.setSlot(PMM, st);
}

/** @internal the PMM state of `kernel`, or undefined before `pmmReserve` / `pmmInit` */
export function tryPmmState(kernel: Kernel): PmmState | undefined {
  return kernel.trySlot(PMM);
}

/** @internal the PMM state of `kernel`; a `KernelBug` when PMM was never set up */
export function pmmState(kernel: Kernel): PmmState {
  const st = kernel.trySlot(PMM);
  if (!st) throw new KernelBug(`pmm is not set up on kernel "${kernel.name}" (call pmmReserve/pmmInit)`);
  return st;
}

/** @internal emits `pmm_warn` */
export function pmmWarn(st: PmmState, message: string): void {
  if (st.tp.warn.enabled) st.tp.warn.emit({ message });
}

/** @internal appends to the operation log */
export function logOp(
  st: PmmState,
  op: PmmOperation["op"],
  requiredSize: number,
  size: number,
  start: number,
): void {
  const n = st.opLogSize;
  if (n === 0) return;
  const e = { timestamp: st.kernel.clock.now(), pid: st.kernel.current.pid, op, requiredSize, size, start };
  if (st.opCount < n) st.opLog[(st.opHead + st.opCount++) % n] = e;
  else {
    st.opLog[st.opHead] = e;
    st.opHead = (st.opHead + 1) % n;
  }
}

/** @internal the operation log, oldest first */
export function opLogEntries(st: PmmState): PmmOperation[] {
  const out: PmmOperation[] = [];
  for (let k = 0; k < st.opCount; k++) out.push(st.opLog[(st.opHead + k) % st.opLogSize]!);
  return out;
}
