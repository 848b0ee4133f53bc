/**
 * Device-tree `/reserved-memory` (drivers/of/of_reserved_mem.c, `rmem_cma_setup` in
 * kernel/dma/contiguous.c, `rmem_dma_setup` in kernel/dma/coherent.c) over a typed node
 * description a board loader fills in:
 *
 * - `shared-dma-pool` + `reusable` → a CMA area (`linux,cma-default`: the default area);
 * - `shared-dma-pool` + `no-map` → a no-map coherent pool: removed from memblock and the linear
 *   map, registered as a private non-reusable region (dma-mapping uses it as a per-device pool);
 * - any other node → a plain reservation (`no-map` removes it from the linear map).
 *
 * Everything is checked before memory is touched, so a rejected node reserves nothing (the
 * kernel keeps a bypassed `linux,cma-default` node's memory reserved).
 *
 * @module
 */
import { type Device, hex, isPowerOfTwo, type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import { devSetCmaArea, dmaContiguousSetDefault } from "./contiguous.js";
import { cmaInitReservedMem } from "./merged.js";
import { CmaRegion } from "./region.js";
import { type CmaState, cmaState, listAdd } from "./state.js";
import { CMA_MIN_ALIGNMENT_BYTES, type DtRange, type ReservedMemNode } from "./types.js";

/** What one reserved-memory node became. */
export type ReservedMem =
  | {
      readonly kind: "cma";
      readonly name: string;
      readonly base: number;
      readonly size: number;
      /** the CMA area (activated by `cmaInitReservedAreas`) */
      readonly cma: CmaRegion;
      readonly cmaDefault: boolean;
    }
  | {
      readonly kind: "dma-pool";
      readonly name: string;
      readonly base: number;
      readonly size: number;
      /** a private non-reusable region over the pool */
      readonly region: CmaRegion;
      readonly dmaDefault: boolean;
    }
  | {
      readonly kind: "reserved";
      readonly name: string;
      readonly base: number;
      readonly size: number;
      readonly noMap: boolean;
    };

/** Outcome of one node in `ofReservedMemInit`. */
export type ReservedMemResult =
  | { readonly node: ReservedMemNode; readonly rmem: ReservedMem; readonly error?: undefined }
  | { readonly node: ReservedMemNode; readonly rmem?: undefined; readonly error: KernelError };

function isSharedDmaPool(node: ReservedMemNode): boolean {
  const c = node.compatible;
  return c === "shared-dma-pool" || (Array.isArray(c) && c.includes("shared-dma-pool"));
}

function checkRange(r: DtRange, what: string): void {
  if (!Number.isSafeInteger(r.base) || r.base < 0 || !Number.isSafeInteger(r.size) || r.size <= 0) {
    throw new KernelError("EINVAL", `${what}: invalid range ${r.base}+${r.size}`);
  }
}

/** Validates a node and returns what it will become; throws before anything is reserved. */
function plan(st: CmaState, node: ReservedMemNode): { cma: boolean; pool: boolean; align: number } {
  const what = `reserved-memory node '${node.name}'`;
  if (!node.name) throw new KernelError("EINVAL", "reserved-memory node without a name");
  if (node.reusable && node.noMap) {
    throw new KernelError("EINVAL", `${what}: 'reusable' and 'no-map' are mutually exclusive`);
  }
  const pool = isSharedDmaPool(node);
  const cma = pool && !!node.reusable;
  if (!node.reg && node.size === undefined) throw new KernelError("EINVAL", `${what}: neither reg nor size`);
  if (node.reg) {
    checkRange(node.reg, `${what}: reg`);
    if (node.reg.base % PAGE_SIZE || node.reg.size % PAGE_SIZE) {
      throw new KernelError(
        "EINVAL",
        `${what}: reg ${hex(node.reg.base)}+${hex(node.reg.size)} is not page-aligned`,
      );
    }
  } else {
    const size = node.size!;
    if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE) {
      throw new KernelError("EINVAL", `${what}: invalid size property ${size}`);
    }
    const a = node.alignment ?? 0;
    if (!Number.isSafeInteger(a) || a < 0 || (a !== 0 && !isPowerOfTwo(a))) {
      throw new KernelError("EINVAL", `${what}: invalid alignment property ${a}`);
    }
    for (const r of node.allocRanges ?? [])
      checkRange(r, `${what}: invalid alloc-ranges property, skipping node`);
  }
  let align = Math.max(node.alignment ?? 0, PAGE_SIZE);
  if (cma) {
    if (node.cmaDefault && st.cmdline.merged) {
      throw new KernelError(
        "EBUSY",
        `Reserved memory: bypass ${node.name} node, using cmdline CMA params instead`,
      );
    }
    align = Math.max(align, CMA_MIN_ALIGNMENT_BYTES);
    const base = node.reg?.base ?? 0;
    const size = node.reg?.size ?? node.size!;
    if (base % CMA_MIN_ALIGNMENT_BYTES || size % CMA_MIN_ALIGNMENT_BYTES) {
      throw new KernelError("EINVAL", `Reserved memory: incorrect alignment of CMA region '${node.name}'`);
    }
    if (st.areas.length >= st.maxAreas) {
      throw new KernelError("ENOSPC", `${what}: not enough slots for CMA reserved regions`);
    }
  } else if (pool && !node.noMap) {
    throw new KernelError(
      "EINVAL",
      `Reserved memory: regions without no-map are not yet supported ('${node.name}')`,
    );
  }
  if (st.mm.memblock.retired) throw new KernelError("EBUSY", `${what}: memblock is retired (boot finished)`);
  return { cma, pool, align };
}

/** Reserves (or removes, for no-map) the node's memory; returns its base and size. */
function reserve(st: CmaState, node: ReservedMemNode, align: number): DtRange {
  const mb = st.mm.memblock;
  const tag = `rmem:${node.name}`;
  if (node.reg) {
    const { base, size } = node.reg;
    if (node.noMap) {
      if (mb.isReserved(base, size)) {
        throw new KernelError(
          "EBUSY",
          `reserved-memory '${node.name}' overlaps in-use memory at ${hex(base)}`,
        );
      }
      st.mm.memblockRemove(base, size, tag);
    } else mb.reserve(base, size, tag);
    return { base, size };
  }
  const size = node.size!;
  const ranges = node.allocRanges?.length ? node.allocRanges : [{ base: 0, size: Number.MAX_SAFE_INTEGER }];
  for (const r of ranges) {
    const base = mb.alloc(size, align, { start: r.base, end: r.base + r.size, name: tag });
    if (base === null) continue;
    if (node.noMap) {
      mb.free(base, size);
      st.mm.memblockRemove(base, size, tag);
    }
    return { base, size };
  }
  throw new KernelError(
    "ENOMEM",
    `failed to allocate memory for node '${node.name}': size ${size / 2 ** 20} MiB`,
  );
}

/** Undoes `reserve`. */
function unreserve(st: CmaState, node: ReservedMemNode, r: DtRange): void {
  if (!node.noMap) st.mm.memblock.free(r.base, r.size);
}

/**
 * Sets up one `/reserved-memory` node (reservation + `rmem_cma_setup` / `rmem_dma_setup`),
 * before `mm.memblockFreeAll()`. Errors (nothing reserved then): EINVAL for `reusable` with
 * `no-map`, neither `reg` nor `size`, bad numbers, a CMA pool not aligned to 4 MiB, or a
 * `shared-dma-pool` that is neither reusable nor no-map (ARM); EBUSY for a `linux,cma-default`
 * node when `cma=` was given on the command line, or overlapping memory; ENOSPC when the CMA area
 * slots are full; ENOMEM when a dynamic node finds no room.
 */
export function ofReservedMemSetup(kernel: Kernel, node: ReservedMemNode): ReservedMem {
  const st = cmaState(kernel);
  const p = plan(st, node);
  const r = reserve(st, node, p.align);
  if (p.cma) {
    let cma: CmaRegion;
    try {
      cma = cmaInitReservedMem(kernel, r.base, r.size, 0, node.name);
    } catch (e) {
      unreserve(st, node, r);
      throw e;
    }
    if (node.cmaDefault) dmaContiguousSetDefault(kernel, cma);
    return { kind: "cma", name: node.name, base: r.base, size: r.size, cma, cmaDefault: !!node.cmaDefault };
  }
  if (p.pool) {
    const region = new CmaRegion({
      kernel,
      name: null,
      base: r.base,
      size: r.size,
      alignment: p.align,
      reusable: false,
      orderPerBit: 0,
      allocName: null,
      alloc: null,
      origin: "dt-pool",
    });
    region._reserved = true;
    region._resTag = `rmem:${node.name}`;
    listAdd(st, region);
    return {
      kind: "dma-pool",
      name: node.name,
      base: r.base,
      size: r.size,
      region,
      dmaDefault: !!node.dmaDefault,
    };
  }
  return { kind: "reserved", name: node.name, base: r.base, size: r.size, noMap: !!node.noMap };
}

/**
 * `fdt_scan_reserved_mem` + `fdt_init_reserved_mem`: sets up every node, static (`reg`) ones
 * first, then dynamic (`size`) ones, each in the given order. A failing node is skipped (its
 * error is in the result, as the kernel logs it and boots on).
 */
export function ofReservedMemInit(kernel: Kernel, nodes: readonly ReservedMemNode[]): ReservedMemResult[] {
  const order = [...nodes.filter((n) => n.reg), ...nodes.filter((n) => !n.reg)];
  const out: ReservedMemResult[] = [];
  for (const node of order) {
    try {
      out.push({ node, rmem: ofReservedMemSetup(kernel, node) });
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      out.push({ node, error: e });
    }
  }
  return out;
}

/**
 * `of_reserved_mem_device_init` for CMA: a device whose `memory-region` names a CMA node gets it
 * as its area. Returns false for other kinds (dma-mapping assigns coherent pools itself).
 */
export function ofReservedMemDeviceInit(dev: Device, rmem: ReservedMem): boolean {
  if (rmem.kind !== "cma") return false;
  devSetCmaArea(dev, rmem.cma);
  return true;
}
