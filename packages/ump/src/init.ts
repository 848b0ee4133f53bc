/**
 * Loading UMP: the boot-time carve-out for the dedicated backend (`umpReserve`), module init
 * (`umpInit`: `ump_kernel_constructor` + `ump_kernel_device_initialize` with the module
 * parameters `ump_backend`, `ump_memory_address`, `ump_memory_size`) and unload (`umpExit`).
 *
 * @module
 */
import { defineSlot, hex, type Kernel, KernelError, SZ_1M } from "@umm/kernel-core";
import { registerChrdev } from "@umm/kernel-process";
import { mmOf } from "@umm/mm-core";
import { umpDedicatedBackend } from "./backend-dedicated.js";
import { umpOsBackend } from "./backend-os.js";
import { umpVcmBackend } from "./backend-vcm.js";
import { umpFileOps } from "./device.js";
import { randomIds, sequentialIds } from "./ids.js";
import type { UmpMemoryBackend } from "./ops.js";
import {
  clearUmpState,
  setUmpState,
  tryUmpState,
  type UmpDdMem,
  type UmpState,
  umpState,
  umpWarn,
} from "./state.js";
import {
  UMP_BLOCK_SIZE,
  UMP_SECURE_ID_TABLE_ENTRIES_INITIAL,
  UMP_SECURE_ID_TABLE_ENTRIES_MAXIMUM,
  type UmpBackendName,
} from "./types.js";

/** Options of `umpReserve`. */
export interface UmpReserveOpts {
  /** bytes, a positive multiple of 256 KiB (`UMP_BLOCK_SIZE`) */
  readonly size: number;
  /** physical start (page-aligned); default: memblock picks one, 1 MiB-aligned, top-down */
  readonly base?: number;
}

/** The carve-out `umpReserve` made. */
export interface UmpCarveout {
  /** physical start */
  readonly base: number;
  /** bytes */
  readonly size: number;
}

const BOOT = defineSlot<UmpCarveout>("ump-carveout");

/**
 * Boot time (between `mmInit` and `mm.memblockFreeAll()`): takes the dedicated backend's window
 * out of memory as a no-map region (`memblock_remove`), so neither the page allocator nor the
 * cacheable linear map ever sees it. Returns it; `umpInit` uses it by default. EINVAL for a size
 * that is not a positive multiple of 256 KiB or a misaligned base; EBUSY after boot or when
 * called twice; memblock's EINVAL/EBUSY when the range is not free memory; ENOMEM when memblock
 * finds no room.
 */
export function umpReserve(kernel: Kernel, opts: UmpReserveOpts): UmpCarveout {
  const mm = mmOf(kernel);
  if (kernel.trySlot(BOOT))
    throw new KernelError("EBUSY", "umpReserve: the UMP carve-out is already reserved");
  if (mm.booted) throw new KernelError("EBUSY", "umpReserve: boot is over (memblock is retired)");
  const { size } = opts;
  if (!Number.isSafeInteger(size) || size <= 0 || size % UMP_BLOCK_SIZE !== 0) {
    throw new KernelError("EINVAL", `umpReserve: size ${hex(size)} is not a positive multiple of 256 KiB`);
  }
  let base = opts.base;
  if (base === undefined) {
    const found = mm.memblock.alloc(size, SZ_1M, { name: "ump" });
    if (found === null) throw new KernelError("ENOMEM", `umpReserve: no ${hex(size)} bytes free for UMP`);
    // memblock_alloc + mark no-map, as of_reserved_mem does for a dynamic no-map node
    mm.memblock.free(found, size);
    base = found;
  }
  mm.memblockRemove(base, size, "ump");
  const carveout = Object.freeze({ base, size });
  kernel.setSlot(BOOT, carveout);
  return carveout;
}

/** Options of `umpInit` (ARM's module parameters, and umm's). */
export interface UmpInitOpts {
  /**
   * `ump_backend`: "dedicated" (0), "os" (1), "vcm" (2) or a custom `UmpMemoryBackend`.
   * Default: "dedicated" when a carve-out exists (`umpReserve` or `memoryAddress`), else "os".
   */
  readonly backend?: UmpBackendName | UmpMemoryBackend;
  /** `ump_memory_address`: the dedicated window (default: `umpReserve`'s) */
  readonly memoryAddress?: number;
  /** `ump_memory_size`: the dedicated window's size, or the OS backend's recorded limit */
  readonly memorySize?: number;
  /**
   * ARM's secure IDs: the lowest free slot in [1, 4095], reused at once, and no access control
   * (every process may import every ID). Default false: random 32-bit IDs with access lists.
   */
  readonly compatSequentialIds?: boolean;
  /** The driver's API version: 2 (default; cached UMP) or 1 (r1-era: no cache, no msync). */
  readonly apiVersion?: 1 | 2;
  /** The device node (default "/dev/ump"); mode 0666 as udev makes it. */
  readonly path?: string;
}

/** What `umpInit` set up. */
export interface UmpDriver {
  /** the backend allocations come from */
  readonly backend: UmpMemoryBackend;
  /** the device node */
  readonly path: string;
}

function isBackend(b: unknown): b is UmpMemoryBackend {
  const o = b as UmpMemoryBackend;
  return (
    typeof b === "object" &&
    b !== null &&
    typeof o.name === "string" &&
    typeof o.allocate === "function" &&
    typeof o.release === "function" &&
    typeof o.stat === "function"
  );
}

/**
 * Loads UMP: the backend, the secure-ID table and `/dev/ump`. The kernel must be booted
 * (`memblockFreeAll`). EINVAL for a bad option or dedicated window (see `umpDedicatedBackend`),
 * or before boot; EBUSY when UMP is already loaded; EEXIST when the path is taken.
 */
export function umpInit(kernel: Kernel, opts: UmpInitOpts = {}): UmpDriver {
  if (tryUmpState(kernel)) throw new KernelError("EBUSY", "umpInit: UMP is already loaded");
  const mm = mmOf(kernel);
  if (!mm.booted)
    throw new KernelError("EINVAL", "umpInit: the kernel has not finished booting (memblockFreeAll)");
  const apiVersion = opts.apiVersion ?? 2;
  if (apiVersion !== 1 && apiVersion !== 2) {
    throw new KernelError("EINVAL", `umpInit: apiVersion ${String(apiVersion)} is neither 1 nor 2`);
  }
  const path = opts.path ?? "/dev/ump";
  const carve = kernel.trySlot(BOOT);
  const choice = opts.backend ?? (carve || opts.memoryAddress !== undefined ? "dedicated" : "os");
  let backend: UmpMemoryBackend;
  if (choice === "dedicated") {
    const base = opts.memoryAddress ?? carve?.base;
    const size = opts.memorySize ?? (opts.memoryAddress === undefined ? carve?.size : undefined);
    if (base === undefined || size === undefined) {
      throw new KernelError(
        "EINVAL",
        "umpInit: the dedicated backend needs ump_memory_address and ump_memory_size (or umpReserve at boot)",
      );
    }
    backend = umpDedicatedBackend(mm, base, size);
  } else if (choice === "os") {
    backend = umpOsBackend(mm, opts.memorySize ?? 0);
  } else if (choice === "vcm") {
    backend = umpVcmBackend(kernel);
  } else if (isBackend(choice)) {
    backend = choice;
  } else {
    throw new KernelError("EINVAL", `umpInit: backend ${JSON.stringify(String(choice))} is unknown`);
  }
  const t = kernel.trace;
  const st: UmpState = {
    kernel,
    mm,
    config: { compat: opts.compatSequentialIds === true, apiVersion, path },
    ids: opts.compatSequentialIds
      ? sequentialIds<UmpDdMem>(UMP_SECURE_ID_TABLE_ENTRIES_INITIAL, UMP_SECURE_ID_TABLE_ENTRIES_MAXIMUM)
      : randomIds<UmpDdMem>(kernel.rng.fork("ump")),
    backend,
    cdev: null,
    sessions: new Set(),
    dmaBufDevice: null,
    nextSessionId: 1,
    tp: {
      alloc: t.tracepoint("ump_alloc"),
      release: t.tracepoint("ump_release"),
      map: t.tracepoint("ump_map"),
      unmap: t.tracepoint("ump_unmap"),
      msync: t.tracepoint("ump_msync"),
      switchHwUsage: t.tracepoint("ump_switch_hw_usage"),
      denied: t.tracepoint("ump_denied"),
      warn: t.tracepoint("ump_warn"),
    },
  };
  // files (sessions, mappings) are the process layer's to report; what UMP reports at
  // shutdown is what drivers still hold through the kernel API
  kernel.onShutdown("ump", () => {
    if (tryUmpState(kernel) === st) reportLeaks(st);
  });
  st.cdev = registerChrdev(kernel, path, { ops: umpFileOps(st), mode: 0o666 });
  setUmpState(kernel, st);
  return { backend, path };
}

function reportLeaks(st: UmpState): void {
  for (const [id, mem] of st.ids.entries()) {
    if (mem.kernelRefs === 0) continue;
    umpWarn(
      st,
      `leak: secure ID ${id} (${hex(id)}, ${hex(mem.size)} bytes, ${mem.backend}) still has ${mem.refCount} reference(s), ${mem.kernelRefs} through the kernel API`,
    );
  }
}

/**
 * Unloads UMP (`ump_cleanup_module`): removes `/dev/ump`, shuts the backend down and forgets
 * the state. EBUSY while any buffer or session is alive; ENODEV when UMP is not loaded.
 */
export function umpExit(kernel: Kernel): void {
  const st = umpState(kernel);
  if (st.ids.size > 0 || st.sessions.size > 0) {
    throw new KernelError(
      "EBUSY",
      `umpExit: ${st.ids.size} buffer(s) and ${st.sessions.size} session(s) are still alive`,
    );
  }
  st.cdev?.unregister();
  st.cdev = null;
  st.backend.shutdown?.();
  clearUmpState(kernel);
}
