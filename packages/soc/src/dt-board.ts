/**
 * A device tree as a board description — what the kernel's early FDT scan and
 * `of_platform_populate` take from the tree:
 *
 * - `memory` nodes (`device_type = "memory"`, children of the root) → DRAM banks, named bank0,
 *   bank1, ... in address order (`early_init_dt_scan_memory`);
 * - `/reserved-memory` children → mm-cma `ReservedMemNode`s (`fdt_scan_reserved_mem`): `reg`
 *   (static) or `size` + `alignment` + `alloc-ranges` (dynamic), `reusable`, `no-map`,
 *   `linux,cma-default`, `linux,dma-default`, with the binding's length rules;
 * - `samsung,exynos-sysmmu` nodes → System MMUs (named after the Exynos4210 instance at their
 *   register address, else their alias or node name; version from a `samsung,sysmmu-vN`
 *   compatible or the instance table);
 * - every other node with a `compatible` that `of_platform_populate` would make a platform device
 *   of — on the SoC bus (`/soc` and nested `simple-bus` nodes) or a child of the root — → a
 *   device named by its `/aliases` entry, else as Linux names platform devices
 *   ("13400000.mfc"); `iommus` phandles → SysMMU names, `memory-region` phandles → reserved
 *   node names, `dma-ranges` (its own or an ancestor's) → `dmaPfnOffset` and the mask width;
 * - `/chosen/bootargs` → the command line pieces.
 *
 * Disabled nodes (`status` other than "okay") and nodes it does not know are ignored. A broken
 * reference or property is an EINVAL naming the node and the property; the result then passes
 * `validateBoard`, whose errors name nodes and properties too.
 *
 * @module
 */
import { hex, KernelError, PAGE_SIZE, SZ_1M, SZ_32K } from "@umm/kernel-core";
import type { DtRange, ReservedMemNode } from "@umm/mm-cma";
import { DEFAULT_LOWMEM_SIZE } from "@umm/mm-core";
import { EXYNOS_SYSMMU_COMPATIBLE, EXYNOS4210_SYSMMUS, type SysMmuVersion } from "@umm/plat-s5p-sysmmu";
import {
  BOARD_DEVICE_REF_PROPS,
  type BoardBank,
  type BoardCache,
  type BoardCmdline,
  type BoardDescription,
  type BoardDevice,
  type BoardPropValue,
  type BoardSysmmu,
  type BoardUmp,
  validateBoard,
} from "./board.js";
import { cellsToNumber, DeviceTree, type DtNode, parseFdt } from "./fdt.js";

/** Options of `boardFromDt`: what a device tree does not say. */
export interface BoardFromDtOpts {
  /** the board's name */
  readonly name: string;
  /** lowmem bytes (default mm-core's 760 MiB) */
  readonly lowmemSize?: number;
  /** the CPU cache (default `DT_DEFAULT_CACHE`) */
  readonly cache?: BoardCache;
  /** the UMP dedicated carve-out (default none) */
  readonly ump?: BoardUmp | null;
}

/** The cache of a device-tree board unless told otherwise: ideal, Cortex-A9 + PL310 sizes. */
export const DT_DEFAULT_CACHE: BoardCache = Object.freeze({
  mode: "ideal",
  lineSize: 32,
  l1Size: SZ_32K,
  l2Size: SZ_1M,
});

/** Properties a device carries as fields, or that describe the tree rather than the device. */
const STRUCTURAL = new Set([
  "compatible",
  "reg",
  "iommus",
  "memory-region",
  "dma-ranges",
  "phandle",
  "linux,phandle",
  "status",
  "name",
  "#address-cells",
  "#size-cells",
  "ranges",
  "device_type",
]);

const UTF8 = new TextDecoder();

function bad(detail: string): never {
  throw new KernelError("EINVAL", detail);
}

function isSysmmu(n: DtNode): boolean {
  return n.compatible.some((c) => c === EXYNOS_SYSMMU_COMPATIBLE || /^samsung,sysmmu-v\d/.test(c));
}

function isBus(n: DtNode): boolean {
  return n.compatible.includes("simple-bus");
}

/** dtc's guess at a property's type: empty → true, printable NUL-terminated text → string(s), cells, bytes. */
function decodeProp(v: Uint8Array): BoardPropValue {
  if (v.length === 0) return true;
  const printable =
    v[v.length - 1] === 0 &&
    v[0] !== 0 &&
    v.every((b, i) => (b >= 0x20 && b < 0x7f) || (b === 0 && v[i + 1] !== 0));
  if (printable) {
    const parts = UTF8.decode(v.subarray(0, v.length - 1)).split("\0");
    return parts.length === 1 ? parts[0]! : parts;
  }
  if (v.length % 4 === 0) {
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    const cells: number[] = [];
    for (let i = 0; i < v.length; i += 4) cells.push(dv.getUint32(i));
    return cells.length === 1 ? cells[0]! : cells;
  }
  return { bytes: [...v] };
}

function memoryBanks(tree: DeviceTree): BoardBank[] {
  const found: { start: number; size: number; dtPath: string }[] = [];
  for (const n of tree.root.children) {
    if (!n.has("device_type") || n.string("device_type") !== "memory" || !n.available) continue;
    for (const r of n.reg()) {
      if (r.size === 0) continue;
      found.push({ start: r.base, size: r.size, dtPath: n.path });
    }
  }
  if (found.length === 0)
    bad(`/: no memory node (a child of the root with device_type = "memory" and a "reg")`);
  found.sort((a, b) => a.start - b.start);
  return found.map((b, i) => ({ name: `bank${i}`, start: b.start, size: b.size, dtPath: b.dtPath }));
}

function reservedNode(n: DtNode, na: number, ns: number): ReservedMemNode {
  const out: { -readonly [K in keyof ReservedMemNode]: ReservedMemNode[K] } = { name: n.name };
  const compat = n.compatible;
  if (compat.length === 1) out.compatible = compat[0]!;
  else if (compat.length > 1) out.compatible = compat;
  if (n.has("reg")) {
    const regs = n.pairs("reg", na, ns);
    if (regs.length !== 1) {
      bad(
        `${n.path}: property "reg" has ${regs.length} entries; a reserved-memory node takes one range here`,
      );
    }
    out.reg = { base: regs[0]!.base, size: regs[0]!.size };
  } else if (n.has("size")) {
    out.size = n.number("size", ns);
    if (n.has("alignment")) out.alignment = n.number("alignment", na);
    if (n.has("alloc-ranges")) {
      out.allocRanges = n.pairs("alloc-ranges", na, ns).map((r): DtRange => ({ base: r.base, size: r.size }));
    }
  } else {
    bad(`${n.path}: property "reg": neither "reg" nor "size" is given`);
  }
  if (n.bool("reusable")) out.reusable = true;
  if (n.bool("no-map")) out.noMap = true;
  if (n.bool("linux,cma-default")) out.cmaDefault = true;
  if (n.bool("linux,dma-default")) out.dmaDefault = true;
  return out;
}

function reservedMemory(tree: DeviceTree): { nodes: ReservedMemNode[]; parent: DtNode | null } {
  const rm = tree.root.child("reserved-memory");
  if (!rm) return { nodes: [], parent: null };
  const na = tree.root.childAddressCells();
  const ns = tree.root.childSizeCells();
  for (const [prop, want] of [
    ["#address-cells", na],
    ["#size-cells", ns],
  ] as const) {
    if (!rm.has(prop)) bad(`${rm.path}: no property "${prop}"`);
    const got = rm.u32(prop);
    if (got !== want) bad(`${rm.path}: property "${prop}" is ${got}, the root's is ${want}`);
  }
  if (!rm.has("ranges")) bad(`${rm.path}: no property "ranges"`);
  const nodes = rm.children.filter((c) => c.available).map((c) => reservedNode(c, na, ns));
  return { nodes, parent: rm };
}

function sysmmuVersion(n: DtNode, base: number): SysMmuVersion {
  for (const c of n.compatible) {
    const m = /^samsung,sysmmu-v(\d+)(?:\.(\d+))?$/.exec(c);
    if (m) return `${m[1]}.${m[2] ?? "0"}` as SysMmuVersion;
  }
  return EXYNOS4210_SYSMMUS.find((s) => s.sfrBase === base)?.version ?? "1.0";
}

function sysmmuOf(tree: DeviceTree, n: DtNode): BoardSysmmu {
  const reg = n.reg();
  if (reg.length === 0) bad(`${n.path}: property "reg" is empty`);
  const base = tree.translateAddress(n, reg[0]!.base);
  if (!n.has("#iommu-cells")) bad(`${n.path}: no property "#iommu-cells"`);
  const cells = n.u32("#iommu-cells");
  if (cells !== 0) bad(`${n.path}: property "#iommu-cells" is ${cells}; a samsung,exynos-sysmmu takes 0`);
  const known = EXYNOS4210_SYSMMUS.find((s) => s.sfrBase === base);
  const out: { -readonly [K in keyof BoardSysmmu]: BoardSysmmu[K] } = {
    name: known?.name ?? tree.aliasOf(n) ?? n.name,
    base,
    version: sysmmuVersion(n, base),
    dtPath: n.path,
  };
  if (n.has("tlb-entries")) out.tlbEntries = n.u32("tlb-entries");
  if (n.has("secure-window")) {
    const w = n.pairs("secure-window", n.addressCells(), n.sizeCells());
    if (w.length !== 1) bad(`${n.path}: property "secure-window" is not one (base, size) pair`);
    out.secureWindow = { base: w[0]!.base, size: w[0]!.size };
  }
  return out;
}

/**
 * `of_platform_default_populate`: walks the root and the buses below it (`simple-bus` nodes, and
 * a root child named "soc") collecting SysMMU nodes and device nodes — available nodes with a
 * `compatible`; a device's own children are not devices.
 */
function collect(bus: DtNode, sysmmus: DtNode[], devices: DtNode[]): void {
  for (const c of bus.children) {
    if (!c.available) continue;
    const isSoc = bus.parent === null && c.nodeName === "soc";
    if (isSoc || isBus(c)) collect(c, sysmmus, devices);
    else if (c.compatible.length === 0) continue;
    else if (isSysmmu(c)) sysmmus.push(c);
    else devices.push(c);
  }
}

/** `of_translate_dma_address` for the parent side of a `dma-ranges` entry of `holder`. */
function translateDma(holder: DtNode, addr: number): number {
  let a = addr;
  for (let bus = holder.parent; bus?.parent; bus = bus.parent) {
    const r = bus.prop("dma-ranges");
    if (!r || r.length === 0) continue;
    const na = bus.childAddressCells();
    const pna = bus.addressCells();
    const ns = bus.childSizeCells();
    const cells = bus.u32s("dma-ranges");
    let hit: number | null = null;
    for (let i = 0; i + na + pna + ns <= cells.length && hit === null; i += na + pna + ns) {
      const child = cellsToNumber(cells, i, na, `${bus.path}: property "dma-ranges"`);
      const parent = cellsToNumber(cells, i + na, pna, `${bus.path}: property "dma-ranges"`);
      const size = cellsToNumber(cells, i + na + pna, ns, `${bus.path}: property "dma-ranges"`);
      if (a >= child && a < child + size) hit = a - child + parent;
    }
    if (hit === null) bad(`${bus.path}: property "dma-ranges" has no window for ${hex(a)} (${holder.path})`);
    a = hit;
  }
  return a;
}

/**
 * `of_dma_get_range` + `of_dma_configure`: the first non-empty `dma-ranges` on the device or its
 * ancestors (an empty one means identity and the search goes on; a node without one ends it).
 * Its first entry gives the DMA offset (physical − bus, in pages) and caps the mask at
 * `ilog2(bus start + size − 1) + 1` bits.
 */
function dmaConfig(dev: DtNode): { dmaPfnOffset: number; maskBits: number } {
  let n: DtNode | null = dev;
  while (n?.parent) {
    const r = n.prop("dma-ranges");
    if (r === undefined && n !== dev) break;
    if (r && r.length > 0) {
      const na = n.childAddressCells();
      const pna = n.addressCells();
      const ns = n.childSizeCells();
      const per = na + pna + ns;
      const cells = n.u32s("dma-ranges");
      if (cells.length % per !== 0) {
        bad(
          `${n.path}: property "dma-ranges" has ${cells.length} cells, not a multiple of ${per} (${na} bus + ${pna} parent address cells + ${ns} size cells)`,
        );
      }
      const at = `${n.path}: property "dma-ranges"`;
      const busAddr = cellsToNumber(cells, 0, na, at);
      const paddr = translateDma(n, cellsToNumber(cells, na, pna, at));
      const size = cellsToNumber(cells, na + pna, ns, at);
      if (size === 0) bad(`${at}: the first window has size 0`);
      const end = busAddr + size - 1;
      const bits = end === 0 ? 1 : Math.floor(Math.log2(end)) + 1;
      if (paddr < busAddr) bad(`${at}: bus ${hex(busAddr)} above physical ${hex(paddr)} is not supported`);
      return { dmaPfnOffset: Math.floor((paddr - busAddr) / PAGE_SIZE), maskBits: Math.min(32, bits) };
    }
    n = n.parent;
  }
  return { dmaPfnOffset: 0, maskBits: 32 };
}

function deviceName(tree: DeviceTree, n: DtNode): string {
  const alias = tree.aliasOf(n);
  if (alias) return alias;
  if (n.has("reg")) {
    const reg = n.reg();
    if (reg.length > 0) return `${tree.translateAddress(n, reg[0]!.base).toString(16)}.${n.nodeName}`;
  }
  return n.name;
}

function cmdlineOf(tree: DeviceTree): BoardCmdline {
  const chosen = tree.root.child("chosen");
  if (!chosen?.has("bootargs")) return {};
  const words = chosen
    .string("bootargs")
    .split(/\s+/)
    .filter((w) => w !== "");
  const out: { -readonly [K in keyof BoardCmdline]: BoardCmdline[K] } = { dtPath: chosen.path };
  const extra: string[] = [];
  for (const w of words) {
    if (w.startsWith("cma=")) out.cma = w.slice(4);
    else if (w.startsWith("cma.map=") || w.startsWith("cma_map=")) out.cmaMap = w.slice(8);
    else if (w.startsWith("pmm=")) out.pmm = w.slice(4);
    else extra.push(w);
  }
  if (extra.length) out.extra = extra;
  return out;
}

/**
 * Reads a board description from a device tree (a blob or a parsed `DeviceTree`). EINVAL —
 * naming the node and the property — for a malformed blob, a missing memory node, a bad
 * `/reserved-memory` (cells unlike the root's, no `ranges`, a child with neither `reg` nor
 * `size`, a `size` / `alignment` / `alloc-ranges` / `reg` of the wrong length), a SysMMU without
 * `reg` or with `#iommu-cells` other than 0, an `iommus` entry that references a phandle no node
 * has, a node that is not an available SysMMU, a `memory-region` entry that is not an available
 * `/reserved-memory` child, a `umm,sensor` that is not a device, a bad `dma-ranges`; then every
 * error of `validateBoard`. Nothing is built: the result is data.
 */
export function boardFromDt(input: Uint8Array | DeviceTree, opts: BoardFromDtOpts): BoardDescription {
  if (!opts || typeof opts.name !== "string" || opts.name === "") bad("boardFromDt: opts.name is required");
  const tree = input instanceof DeviceTree ? input : parseFdt(input);
  const banks = memoryBanks(tree);
  const rmem = reservedMemory(tree);

  const sysmmuNodes: DtNode[] = [];
  const deviceNodes: DtNode[] = [];
  collect(tree.root, sysmmuNodes, deviceNodes);
  const sysmmuByNode = new Map(sysmmuNodes.map((n) => [n, sysmmuOf(tree, n)]));
  const nameByNode = new Map(deviceNodes.map((n) => [n, deviceName(tree, n)]));

  const devices: BoardDevice[] = deviceNodes.map((n) => {
    const iommus: string[] = [];
    if (n.has("iommus")) {
      for (const ref of tree.phandleList(n, "iommus", "#iommu-cells")) {
        const s = sysmmuByNode.get(ref.node);
        if (!s) {
          const why = isSysmmu(ref.node) ? "which is disabled" : "which is not a samsung,exynos-sysmmu";
          bad(
            `${n.path}: property "iommus" references ${ref.node.path} (phandle ${hex(ref.phandle)}), ${why}`,
          );
        }
        iommus.push(s.name);
      }
    }
    const memoryRegions: string[] = [];
    if (n.has("memory-region")) {
      for (const ref of tree.phandleList(n, "memory-region")) {
        if (ref.node.parent !== rmem.parent || !ref.node.available) {
          bad(
            `${n.path}: property "memory-region" references ${ref.node.path} (phandle ${hex(ref.phandle)}), which is not an available /reserved-memory node`,
          );
        }
        memoryRegions.push(ref.node.name);
      }
    }
    const properties: Record<string, BoardPropValue> = {};
    for (const [k, v] of n.props) {
      if (STRUCTURAL.has(k)) continue;
      if (BOARD_DEVICE_REF_PROPS.includes(k)) {
        const [ref] = tree.phandleList(n, k);
        const name = ref ? nameByNode.get(ref.node) : undefined;
        if (!ref || !name) {
          bad(`${n.path}: property "${k}" references ${ref?.node.path ?? "nothing"}, which is not a device`);
        }
        properties[k] = name;
      } else properties[k] = decodeProp(v);
    }
    const dma = dmaConfig(n);
    const reg = n.has("reg")
      ? n.reg().map((r) => ({ base: tree.translateAddress(n, r.base), size: r.size }))
      : undefined;
    return {
      name: nameByNode.get(n)!,
      compatible: n.compatible,
      ...(reg?.length ? { reg } : {}),
      dmaMaskBits: dma.maskBits,
      coherentDmaMaskBits: dma.maskBits,
      ...(dma.dmaPfnOffset ? { dmaPfnOffset: dma.dmaPfnOffset } : {}),
      iommus,
      memoryRegions,
      properties,
      dtPath: n.path,
    };
  });

  const desc: BoardDescription = {
    name: opts.name,
    banks,
    lowmemSize: opts.lowmemSize ?? DEFAULT_LOWMEM_SIZE,
    cmdline: cmdlineOf(tree),
    reservedMemory: rmem.nodes,
    ump: opts.ump ?? null,
    cache: opts.cache ?? DT_DEFAULT_CACHE,
    sysmmus: [...sysmmuByNode.values()],
    devices,
  };
  validateBoard(desc);
  return desc;
}
