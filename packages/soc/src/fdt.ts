/**
 * The flattened device tree (FDT, "DTB"): a reader that turns a blob into a tree of nodes with
 * paths and typed property accessors, and a minimal writer (scripts/dtc/libfdt/fdt.h,
 * Documentation/devicetree/booting-without-of.rst, the Devicetree Specification chapter 5).
 *
 * Layout: a 40-byte big-endian header (magic 0xd00dfeed, totalsize, the offsets of the structure
 * block, the strings block and the memory reservation map, version, last compatible version,
 * boot CPU, the strings and structure sizes); the reservation map (u64 address/size pairs ended by
 * a zero pair); the structure block, a stream of 32-bit tokens — BEGIN_NODE (name, NUL, padding),
 * END_NODE, PROP (length, name offset, value, padding), NOP, END; the strings block (property
 * names, NUL-terminated). Cells are big-endian 32-bit words.
 *
 * Address and size cells follow Linux (`of_n_addr_cells`): a node's `reg` is read with the
 * `#address-cells` / `#size-cells` of its parent, or of the nearest ancestor that has them, and
 * 1 / 1 when none has (`OF_ROOT_NODE_{ADDR,SIZE}_CELLS_DEFAULT`).
 *
 * @module
 */
import { hex, KernelError } from "@umm/kernel-core";

/** `FDT_MAGIC` */
export const FDT_MAGIC = 0xd00dfeed;
/** `FDT_BEGIN_NODE`: start of a node, followed by its NUL-terminated name padded to 4 bytes. */
export const FDT_BEGIN_NODE = 0x1;
/** `FDT_END_NODE`: end of the current node. */
export const FDT_END_NODE = 0x2;
/** `FDT_PROP`: a property: u32 length, u32 name offset, value padded to 4 bytes. */
export const FDT_PROP = 0x3;
/** `FDT_NOP`: ignored. */
export const FDT_NOP = 0x4;
/** `FDT_END`: end of the structure block. */
export const FDT_END = 0x9;
/** Size of the version-17 header in bytes (version 16 lacks `size_dt_struct`: 36). */
export const FDT_V17_SIZE = 40;
/** `OF_ROOT_NODE_ADDR_CELLS_DEFAULT` */
export const OF_ROOT_NODE_ADDR_CELLS_DEFAULT = 1;
/** `OF_ROOT_NODE_SIZE_CELLS_DEFAULT` */
export const OF_ROOT_NODE_SIZE_CELLS_DEFAULT = 1;

const TWO_32 = 2 ** 32;
const UTF8 = new TextDecoder();

/** An address range: a `reg` entry, a reservation, a `ranges` window. */
export interface DtRegion {
  /** first address */
  readonly base: number;
  /** bytes */
  readonly size: number;
}

/** One entry of a phandle list with arguments (`of_parse_phandle_with_args`). */
export interface DtPhandleArgs {
  /** the referenced node */
  readonly node: DtNode;
  /** the phandle value */
  readonly phandle: number;
  /** the argument cells that follow the phandle (as many as the target's `#…-cells` says) */
  readonly args: readonly number[];
}

function fail(detail: string): never {
  throw new KernelError("EINVAL", detail);
}

/** Reads `n` big-endian cells at `cells[at..]` as one number (EINVAL beyond 2^53). */
export function cellsToNumber(cells: readonly number[], at: number, n: number, what = "value"): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = cells[at + i];
    if (c === undefined) fail(`${what}: ${n} cells wanted at cell ${at}, only ${cells.length} present`);
    v = v * TWO_32 + c;
    if (!Number.isSafeInteger(v)) fail(`${what}: a ${n}-cell number does not fit in 53 bits`);
  }
  return v;
}

/** A node of a parsed device tree. */
export class DtNode {
  /** the full node name, unit address included ("mfc@13400000"); "" for the root */
  readonly name: string;
  /** the full path ("/soc/mfc@13400000"; "/" for the root) */
  readonly path: string;
  /** the parent node, null for the root */
  readonly parent: DtNode | null;
  /** the child nodes in blob order */
  readonly children: DtNode[] = [];
  /** the raw property values in blob order */
  readonly props = new Map<string, Uint8Array>();
  /** offset of the node's BEGIN_NODE token in the blob (0 for nodes not read from a blob) */
  readonly offset: number;

  /** Creates a node; readers and tests build trees with `parseFdt`, not with this. */
  constructor(name: string, parent: DtNode | null, offset = 0) {
    this.name = name;
    this.parent = parent;
    this.offset = offset;
    this.path = parent === null ? "/" : parent.path === "/" ? `/${name}` : `${parent.path}/${name}`;
  }

  /** The name without the unit address ("mfc"). */
  get nodeName(): string {
    const at = this.name.indexOf("@");
    return at < 0 ? this.name : this.name.slice(0, at);
  }

  /** The unit address ("13400000"), or "" when the name has none. */
  get unitAddress(): string {
    const at = this.name.indexOf("@");
    return at < 0 ? "" : this.name.slice(at + 1);
  }

  /** The child named `name` (full name, or the name without a unit address when unique). */
  child(name: string): DtNode | null {
    const exact = this.children.find((c) => c.name === name);
    if (exact) return exact;
    const base = this.children.filter((c) => c.nodeName === name);
    return base.length === 1 ? base[0]! : null;
  }

  /** True when the node has property `name`. */
  has(name: string): boolean {
    return this.props.has(name);
  }

  /** The raw value of property `name`, or undefined. */
  prop(name: string): Uint8Array | undefined {
    return this.props.get(name);
  }

  /** `of_property_read_bool`: the property exists (empty or not). */
  bool(name: string): boolean {
    return this.props.has(name);
  }

  #need(name: string): Uint8Array {
    const v = this.props.get(name);
    if (v === undefined) fail(`${this.path}: no property "${name}"`);
    return v;
  }

  /** Property `name` as big-endian 32-bit cells. EINVAL when missing or not a multiple of 4 bytes. */
  u32s(name: string): number[] {
    const v = this.#need(name);
    if (v.length % 4 !== 0) {
      fail(`${this.path}: property "${name}" is ${v.length} bytes, not a whole number of 32-bit cells`);
    }
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    const out: number[] = [];
    for (let i = 0; i < v.length; i += 4) out.push(dv.getUint32(i));
    return out;
  }

  /** Property `name` as one 32-bit cell (`of_property_read_u32`). EINVAL when missing or not 4 bytes. */
  u32(name: string): number {
    const v = this.#need(name);
    if (v.length !== 4) fail(`${this.path}: property "${name}" is ${v.length} bytes, not one 32-bit cell`);
    return this.u32s(name)[0]!;
  }

  /** Property `name` as one 64-bit number (two cells; EINVAL when not 8 bytes or beyond 2^53). */
  u64(name: string): number {
    const v = this.#need(name);
    if (v.length !== 8) fail(`${this.path}: property "${name}" is ${v.length} bytes, not a 64-bit value`);
    return cellsToNumber(this.u32s(name), 0, 2, `${this.path}: property "${name}"`);
  }

  /**
   * Property `name` as one number of exactly `n` cells (`size` with `#size-cells`, ...): EINVAL,
   * naming the property, when its length is not `n` cells.
   */
  number(name: string, n: number): number {
    const v = this.#need(name);
    if (v.length !== n * 4) {
      fail(`${this.path}: property "${name}" is ${v.length} bytes, expected ${n} cell${n === 1 ? "" : "s"}`);
    }
    return cellsToNumber(this.u32s(name), 0, n, `${this.path}: property "${name}"`);
  }

  /** Property `name` as a string list (each NUL-terminated). EINVAL when missing or not NUL-terminated. */
  strings(name: string): string[] {
    const v = this.#need(name);
    if (v.length === 0) return [];
    if (v[v.length - 1] !== 0) fail(`${this.path}: property "${name}" is not a NUL-terminated string`);
    return UTF8.decode(v.subarray(0, v.length - 1)).split("\0");
  }

  /** Property `name` as a string (the first of a list). EINVAL when missing or not a string. */
  string(name: string): string {
    const s = this.strings(name);
    if (s.length === 0) fail(`${this.path}: property "${name}" is empty, not a string`);
    return s[0]!;
  }

  /** The `compatible` strings, most specific first ([] when absent). */
  get compatible(): string[] {
    return this.has("compatible") ? this.strings("compatible") : [];
  }

  /** True when `compatible` lists `c`. */
  isCompatible(c: string): boolean {
    return this.compatible.includes(c);
  }

  /** `of_device_is_available`: `status` absent, "okay" or "ok". */
  get available(): boolean {
    if (!this.has("status")) return true;
    const s = this.string("status");
    return s === "okay" || s === "ok";
  }

  /** The node's `phandle` (or `linux,phandle`), or null. */
  get phandle(): number | null {
    if (this.has("phandle")) return this.u32("phandle");
    if (this.has("linux,phandle")) return this.u32("linux,phandle");
    return null;
  }

  /** `of_bus_n_addr_cells`: `#address-cells` of this node or its nearest ancestor that has it (its children's). */
  childAddressCells(): number {
    for (let n: DtNode | null = this; n; n = n.parent)
      if (n.has("#address-cells")) return n.u32("#address-cells");
    return OF_ROOT_NODE_ADDR_CELLS_DEFAULT;
  }

  /** `of_bus_n_size_cells`: `#size-cells` of this node or its nearest ancestor that has it (its children's). */
  childSizeCells(): number {
    for (let n: DtNode | null = this; n; n = n.parent) if (n.has("#size-cells")) return n.u32("#size-cells");
    return OF_ROOT_NODE_SIZE_CELLS_DEFAULT;
  }

  /** `of_n_addr_cells`: address cells of this node's own `reg` (its parent's `#address-cells`). */
  addressCells(): number {
    return this.parent ? this.parent.childAddressCells() : this.childAddressCells();
  }

  /** `of_n_size_cells`: size cells of this node's own `reg` (its parent's `#size-cells`). */
  sizeCells(): number {
    return this.parent ? this.parent.childSizeCells() : this.childSizeCells();
  }

  /**
   * Property `name` (default `reg`) as (address, size) pairs read with this node's address and
   * size cells — bus addresses in the parent's space. EINVAL when the length is not a whole
   * number of entries or a number exceeds 2^53.
   */
  reg(name = "reg"): DtRegion[] {
    return this.pairs(name, this.addressCells(), this.sizeCells());
  }

  /** Property `name` as (address, size) pairs of `na` and `ns` cells (`alloc-ranges`, `reg`). */
  pairs(name: string, na: number, ns: number): DtRegion[] {
    const cells = this.u32s(name);
    const per = na + ns;
    if (per === 0 || cells.length % per !== 0) {
      fail(
        `${this.path}: property "${name}" has ${cells.length} cells, not a multiple of ${per} (#address-cells ${na} + #size-cells ${ns})`,
      );
    }
    const out: DtRegion[] = [];
    for (let i = 0; i < cells.length; i += per) {
      out.push({
        base: cellsToNumber(cells, i, na, `${this.path}: property "${name}"`),
        size: cellsToNumber(cells, i + na, ns, `${this.path}: property "${name}"`),
      });
    }
    return out;
  }
}

/**
 * A parsed flattened device tree. Paths, phandles and aliases are indexed when it is built:
 * change a tree by editing its `fdtSpecOf` and writing and parsing it again.
 */
export class DeviceTree {
  /** the root node */
  readonly root: DtNode;
  /** header `version` (16 or 17 for blobs; 17 for trees not read from a blob) */
  readonly version: number;
  /** header `last_comp_version` */
  readonly lastCompVersion: number;
  /** header `boot_cpuid_phys` */
  readonly bootCpuidPhys: number;
  /** the memory reservation block (`/memreserve/` entries) */
  readonly memReserve: readonly DtRegion[];
  readonly #byPhandle = new Map<number, DtNode>();
  readonly #byPath = new Map<string, DtNode>();
  #aliases: Map<string, string> | null = null;

  /**
   * Indexes a tree: paths and phandles. EINVAL for two nodes with one phandle, a phandle of 0 or
   * 0xffffffff, or two siblings with one name.
   */
  constructor(
    root: DtNode,
    header: {
      version?: number;
      lastCompVersion?: number;
      bootCpuidPhys?: number;
      memReserve?: DtRegion[];
    } = {},
  ) {
    this.root = root;
    this.version = header.version ?? 17;
    this.lastCompVersion = header.lastCompVersion ?? 16;
    this.bootCpuidPhys = header.bootCpuidPhys ?? 0;
    this.memReserve = Object.freeze([...(header.memReserve ?? [])]);
    for (const n of this.nodes()) {
      if (this.#byPath.has(n.path))
        fail(`${n.path}: two nodes have this path (blob offset ${hex(n.offset)})`);
      this.#byPath.set(n.path, n);
      const ph = n.phandle;
      if (ph === null) continue;
      if (ph === 0 || ph === 0xffffffff)
        fail(`${n.path}: property "phandle" has the invalid value ${hex(ph)}`);
      const other = this.#byPhandle.get(ph);
      if (other) fail(`${n.path}: property "phandle" ${hex(ph)} is also the phandle of ${other.path}`);
      this.#byPhandle.set(ph, n);
    }
  }

  /** Every node, depth first in blob order (the root first). */
  *nodes(from: DtNode = this.root): Generator<DtNode> {
    yield from;
    for (const c of from.children) yield* this.nodes(c);
  }

  /** The node with phandle `ph`, or null. */
  byPhandle(ph: number): DtNode | null {
    return this.#byPhandle.get(ph) ?? null;
  }

  /** `/aliases` as alias → path (properties that are not strings are skipped, as Linux does). */
  get aliases(): ReadonlyMap<string, string> {
    if (this.#aliases) return this.#aliases;
    const out = new Map<string, string>();
    this.#aliases = out;
    const al = this.root.child("aliases");
    if (!al) return out;
    for (const [name, v] of al.props) {
      if (name === "name" || name === "phandle" || name === "linux,phandle") continue;
      if (v.length < 2 || v[v.length - 1] !== 0 || v[0] !== 0x2f) continue;
      out.set(name, UTF8.decode(v.subarray(0, v.length - 1)));
    }
    return out;
  }

  /** The first alias (in `/aliases` order) that names `node`, or null. */
  aliasOf(node: DtNode): string | null {
    for (const [alias, path] of this.aliases) if (path === node.path) return alias;
    return null;
  }

  /**
   * `of_find_node_by_path`: a full path ("/soc/mfc@13400000"; a component without a unit address
   * matches when unique), or an alias with an optional rest ("fimc0", "serial0/child"). Null when
   * nothing matches.
   */
  node(path: string): DtNode | null {
    let at: DtNode | null;
    let rest: string[];
    if (path.startsWith("/")) {
      at = this.root;
      rest = path.split("/").filter((s) => s !== "");
    } else {
      const [alias, ...more] = path.split("/");
      const target = this.aliases.get(alias!);
      if (target === undefined) return null;
      at = this.#byPath.get(target) ?? this.node(target);
      rest = more.filter((s) => s !== "");
    }
    for (const part of rest) {
      if (!at) return null;
      at = at.child(part);
    }
    return at;
  }

  /**
   * `of_parse_phandle_with_args`: property `prop` of `node` as a list of phandles, each followed
   * by as many argument cells as the target's `cellsName` property says (0 when `cellsName` is
   * null: a plain phandle list). EINVAL, naming the node and property, for a phandle no node has,
   * a target without `cellsName`, or a list cut short.
   */
  phandleList(node: DtNode, prop: string, cellsName: string | null = null): DtPhandleArgs[] {
    const cells = node.u32s(prop);
    const out: DtPhandleArgs[] = [];
    let i = 0;
    while (i < cells.length) {
      const ph = cells[i]!;
      const target = this.byPhandle(ph);
      if (!target) fail(`${node.path}: property "${prop}" references phandle ${hex(ph)}, which no node has`);
      let n = 0;
      if (cellsName !== null) {
        if (!target.has(cellsName)) {
          fail(`${node.path}: property "${prop}" references ${target.path}, which has no "${cellsName}"`);
        }
        n = target.u32(cellsName);
      }
      if (i + 1 + n > cells.length) {
        fail(
          `${node.path}: property "${prop}" ends inside the arguments of ${target.path} (${cellsName} = ${n})`,
        );
      }
      out.push({ node: target, phandle: ph, args: cells.slice(i + 1, i + 1 + n) });
      i += 1 + n;
    }
    return out;
  }

  /**
   * `of_translate_address`: a bus address of `node`'s `reg` as a CPU physical address, through
   * every ancestor's `ranges` (empty: identity). EINVAL when an ancestor below the root has no
   * `ranges` (its children's addresses do not reach the CPU) or no window holds the address.
   */
  translateAddress(node: DtNode, addr: number): number {
    let a = addr;
    for (let bus = node.parent; bus?.parent; bus = bus.parent) {
      const r = bus.prop("ranges");
      if (r === undefined) {
        fail(
          `${bus.path}: no property "ranges": the addresses of its children do not translate (${node.path})`,
        );
      }
      if (r.length === 0) continue;
      const na = bus.childAddressCells();
      const ns = bus.childSizeCells();
      const pna = bus.addressCells();
      const cells = bus.u32s("ranges");
      const per = na + pna + ns;
      if (cells.length % per !== 0) {
        fail(`${bus.path}: property "ranges" has ${cells.length} cells, not a multiple of ${per}`);
      }
      let hit: number | null = null;
      for (let i = 0; i < cells.length && hit === null; i += per) {
        const child = cellsToNumber(cells, i, na, `${bus.path}: property "ranges"`);
        const parent = cellsToNumber(cells, i + na, pna, `${bus.path}: property "ranges"`);
        const size = cellsToNumber(cells, i + na + pna, ns, `${bus.path}: property "ranges"`);
        if (a >= child && a < child + size) hit = a - child + parent;
      }
      if (hit === null) fail(`${bus.path}: property "ranges" has no window for ${hex(a)} (${node.path})`);
      a = hit;
    }
    return a;
  }
}

// ---- reader --------------------------------------------------------------------------------

/**
 * Parses a flattened device tree blob. Versions 16 and 17 (and later ones that declare
 * `last_comp_version` ≤ 17). EINVAL, with the offset, for a bad magic, an unsupported version, a
 * blob shorter than its header or `totalsize`, blocks outside the blob, an unknown token, a
 * property outside a node or with a name offset outside the strings block, an unterminated name,
 * unbalanced nodes, or data after the root node; and the tree errors of `new DeviceTree`.
 */
export function parseFdt(blob: Uint8Array): DeviceTree {
  if (!(blob instanceof Uint8Array)) fail("fdt: the blob is not a Uint8Array");
  if (blob.length < 4) fail(`fdt: truncated at offset ${hex(blob.length)}: no room for the magic`);
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const magic = dv.getUint32(0);
  if (magic !== FDT_MAGIC) fail(`fdt: bad magic ${hex(magic)} at offset 0x0 (expected ${hex(FDT_MAGIC)})`);
  if (blob.length < 36) {
    fail(
      `fdt: truncated at offset ${hex(blob.length)}: a header is 36 (version 16) or 40 (version 17) bytes`,
    );
  }
  const totalsize = dv.getUint32(4);
  const version = dv.getUint32(20);
  const lastComp = dv.getUint32(24);
  if (version < 16 || lastComp > 17) {
    fail(
      `fdt: version ${version} (last compatible ${lastComp}) at offset 0x14 is not supported (versions 16 and 17 are)`,
    );
  }
  const headerSize = version >= 17 ? FDT_V17_SIZE : 36;
  if (blob.length < headerSize) {
    fail(`fdt: truncated at offset ${hex(blob.length)}: a version ${version} header is ${headerSize} bytes`);
  }
  if (totalsize < headerSize)
    fail(`fdt: totalsize ${hex(totalsize)} at offset 0x4 is smaller than the header`);
  if (totalsize > blob.length) {
    fail(`fdt: truncated at offset ${hex(blob.length)}: totalsize says ${hex(totalsize)} bytes`);
  }
  const offStruct = dv.getUint32(8);
  const offStrings = dv.getUint32(12);
  const offRsv = dv.getUint32(16);
  const bootCpuidPhys = dv.getUint32(28);
  const sizeStrings = dv.getUint32(32);
  const sizeStruct = version >= 17 ? dv.getUint32(36) : totalsize - offStruct;
  const block = (what: string, hdrOff: number, off: number, size: number, align: number) => {
    if (off < headerSize || off + size > totalsize || off % align !== 0) {
      fail(
        `fdt: ${what} block [${hex(off)}, ${hex(off + size)}) (header offset ${hex(hdrOff)}) is not an aligned range inside the ${hex(totalsize)}-byte blob`,
      );
    }
  };
  block("structure", 8, offStruct, sizeStruct, 4);
  block("strings", 12, offStrings, sizeStrings, 1);
  block("memory reservation", 16, offRsv, 16, 8);

  const memReserve: DtRegion[] = [];
  for (let p = offRsv; ; p += 16) {
    if (p + 16 > totalsize) fail(`fdt: memory reservation map runs past the blob at offset ${hex(p)}`);
    const ah = dv.getUint32(p);
    const al = dv.getUint32(p + 4);
    const sh = dv.getUint32(p + 8);
    const sl = dv.getUint32(p + 12);
    if (ah === 0 && al === 0 && sh === 0 && sl === 0) break;
    memReserve.push({
      base: cellsToNumber([ah, al], 0, 2, `fdt: reservation at offset ${hex(p)}`),
      size: cellsToNumber([sh, sl], 0, 2, `fdt: reservation at offset ${hex(p)}`),
    });
  }

  const strEnd = offStrings + sizeStrings;
  const nameAt = (nameoff: number, at: number): string => {
    if (nameoff >= sizeStrings) {
      fail(
        `fdt: property at offset ${hex(at)} names string offset ${hex(nameoff)}, outside the ${hex(sizeStrings)}-byte strings block`,
      );
    }
    const start = offStrings + nameoff;
    const end = blob.indexOf(0, start);
    if (end < 0 || end >= strEnd) fail(`fdt: property name at offset ${hex(start)} is not NUL-terminated`);
    return UTF8.decode(blob.subarray(start, end));
  };

  const end = offStruct + sizeStruct;
  const stack: DtNode[] = [];
  let root: DtNode | null = null;
  let p = offStruct;
  for (;;) {
    if (p + 4 > end) fail(`fdt: structure block ends at offset ${hex(p)} without FDT_END`);
    const tokAt = p;
    const tok = dv.getUint32(p);
    p += 4;
    if (tok === FDT_NOP) continue;
    if (tok === FDT_BEGIN_NODE) {
      const nul = blob.indexOf(0, p);
      if (nul < 0 || nul >= end) fail(`fdt: node name at offset ${hex(p)} is not NUL-terminated`);
      const name = UTF8.decode(blob.subarray(p, nul));
      p = (nul + 4) & ~3;
      const parent = stack[stack.length - 1] ?? null;
      if (!parent && root) fail(`fdt: second root node at offset ${hex(tokAt)}`);
      if (parent && name === "") fail(`fdt: node without a name at offset ${hex(tokAt)} (in ${parent.path})`);
      const node = new DtNode(parent ? name : "", parent, tokAt);
      if (parent) {
        if (parent.children.some((c) => c.name === name)) {
          fail(`fdt: node ${node.path} at offset ${hex(tokAt)} duplicates a sibling's name`);
        }
        parent.children.push(node);
      } else root = node;
      stack.push(node);
      continue;
    }
    if (tok === FDT_END_NODE) {
      if (!stack.pop()) fail(`fdt: FDT_END_NODE at offset ${hex(tokAt)} closes no node`);
      continue;
    }
    if (tok === FDT_PROP) {
      if (p + 8 > end) fail(`fdt: property header at offset ${hex(tokAt)} runs past the structure block`);
      const len = dv.getUint32(p);
      const nameoff = dv.getUint32(p + 4);
      p += 8;
      const node = stack[stack.length - 1];
      if (!node) fail(`fdt: property at offset ${hex(tokAt)} is outside any node`);
      if (p + len > end) {
        fail(`fdt: property value at offset ${hex(p)} (${len} bytes) runs past the structure block`);
      }
      const name = nameAt(nameoff, tokAt);
      if (node.props.has(name))
        fail(`fdt: ${node.path}: property "${name}" at offset ${hex(tokAt)} is repeated`);
      node.props.set(name, blob.slice(p, p + len));
      p = (p + len + 3) & ~3;
      continue;
    }
    if (tok === FDT_END) {
      if (stack.length > 0) {
        fail(
          `fdt: FDT_END at offset ${hex(tokAt)} with ${stack.length} node(s) still open (${stack.at(-1)!.path})`,
        );
      }
      break;
    }
    fail(`fdt: unknown token ${hex(tok)} at offset ${hex(tokAt)}`);
  }
  if (!root) fail(`fdt: the structure block at offset ${hex(offStruct)} has no root node`);
  return new DeviceTree(root, { version, lastCompVersion: lastComp, bootCpuidPhys, memReserve });
}

// ---- writer --------------------------------------------------------------------------------

/**
 * A property value for the writer: `true` (empty, a boolean property), a string, a string list,
 * a list of 32-bit cells, or raw bytes.
 */
export type FdtPropValue = true | string | readonly string[] | readonly number[] | Uint8Array;

/** A node for the writer: its full name ("" for the root), properties in order, children. */
export interface FdtNodeSpec {
  /** the full node name with its unit address ("mfc@13400000"); "" for the root */
  readonly name: string;
  /** properties, written in key order */
  readonly props?: Readonly<Record<string, FdtPropValue>>;
  /** child nodes, in order */
  readonly children?: readonly FdtNodeSpec[];
}

/** Options of `writeFdt`. */
export interface FdtWriteOpts {
  /** header version, 16 or 17 (default 17) */
  readonly version?: 16 | 17;
  /** `/memreserve/` entries */
  readonly memReserve?: readonly DtRegion[];
  /** `boot_cpuid_phys` (default 0) */
  readonly bootCpuidPhys?: number;
}

/** Splits a number (< 2^53) into big-endian cells: `fdtCells(0x100000000, 2)` → [1, 0]. */
export function fdtCells(value: number, n: number): number[] {
  if (!Number.isSafeInteger(value) || value < 0) fail(`fdtCells: ${value} is not a non-negative integer`);
  const out: number[] = [];
  let v = value;
  for (let i = 0; i < n; i++) {
    out.unshift(v % TWO_32);
    v = Math.floor(v / TWO_32);
  }
  if (v !== 0) fail(`fdtCells: ${hex(value)} does not fit in ${n} cell(s)`);
  return out;
}

function encodeValue(v: FdtPropValue, where: string): Uint8Array {
  if (v === true) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v;
  const enc = new TextEncoder();
  if (typeof v === "string") return enc.encode(`${v}\0`);
  if (!Array.isArray(v)) fail(`writeFdt: ${where}: unsupported value ${String(v)}`);
  if (v.every((x) => typeof x === "string")) return enc.encode((v as string[]).map((s) => `${s}\0`).join(""));
  const out = new Uint8Array(v.length * 4);
  const dv = new DataView(out.buffer);
  (v as number[]).forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c >= TWO_32) fail(`writeFdt: ${where}: ${c} is not a 32-bit cell`);
    dv.setUint32(i * 4, c);
  });
  return out;
}

/**
 * Writes a flattened device tree blob (version 17 by default; 16 omits `size_dt_struct`) with
 * dtc's layout: header, reservation map, structure block, strings block (names shared).
 * EINVAL for a value it cannot encode.
 */
export function writeFdt(root: FdtNodeSpec, opts: FdtWriteOpts = {}): Uint8Array {
  const version = opts.version ?? 17;
  const strings: number[] = [];
  const strOff = new Map<string, number>();
  const enc = new TextEncoder();
  const words: Uint8Array[] = [];
  let structSize = 0;
  const push = (b: Uint8Array) => {
    const padded = new Uint8Array((b.length + 3) & ~3);
    padded.set(b);
    words.push(padded);
    structSize += padded.length;
  };
  const u32 = (x: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, x);
    return b;
  };
  const nameOff = (name: string): number => {
    let off = strOff.get(name);
    if (off === undefined) {
      off = strings.length;
      strOff.set(name, off);
      strings.push(...enc.encode(name), 0);
    }
    return off;
  };
  const node = (n: FdtNodeSpec, path: string) => {
    push(u32(FDT_BEGIN_NODE));
    push(enc.encode(`${n.name}\0`));
    for (const [k, v] of Object.entries(n.props ?? {})) {
      const val = encodeValue(v, `${path} "${k}"`);
      push(u32(FDT_PROP));
      push(u32(val.length));
      push(u32(nameOff(k)));
      if (val.length) push(val);
    }
    for (const c of n.children ?? []) node(c, path === "/" ? `/${c.name}` : `${path}/${c.name}`);
    push(u32(FDT_END_NODE));
  };
  node(root, "/");
  push(u32(FDT_END));

  const headerSize = version >= 17 ? FDT_V17_SIZE : 36;
  const offRsv = (headerSize + 7) & ~7;
  const rsv = opts.memReserve ?? [];
  const offStruct = offRsv + (rsv.length + 1) * 16;
  const offStrings = offStruct + structSize;
  const totalsize = offStrings + strings.length;
  const out = new Uint8Array(totalsize);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, FDT_MAGIC);
  dv.setUint32(4, totalsize);
  dv.setUint32(8, offStruct);
  dv.setUint32(12, offStrings);
  dv.setUint32(16, offRsv);
  dv.setUint32(20, version);
  dv.setUint32(24, 16);
  dv.setUint32(28, opts.bootCpuidPhys ?? 0);
  dv.setUint32(32, strings.length);
  if (version >= 17) dv.setUint32(36, structSize);
  rsv.forEach((r, i) => {
    const [ah, al] = fdtCells(r.base, 2);
    const [sh, sl] = fdtCells(r.size, 2);
    dv.setUint32(offRsv + i * 16, ah!);
    dv.setUint32(offRsv + i * 16 + 4, al!);
    dv.setUint32(offRsv + i * 16 + 8, sh!);
    dv.setUint32(offRsv + i * 16 + 12, sl!);
  });
  let p = offStruct;
  for (const w of words) {
    out.set(w, p);
    p += w.length;
  }
  out.set(strings, offStrings);
  return out;
}

/** A parsed tree (or one node of it) back as a writer spec: raw property bytes, children in order. */
export function fdtSpecOf(node: DtNode | DeviceTree): FdtNodeSpec {
  const n = node instanceof DeviceTree ? node.root : node;
  return {
    name: n.name,
    props: Object.fromEntries([...n.props].map(([k, v]) => [k, v.slice()])),
    children: n.children.map((c) => fdtSpecOf(c)),
  };
}
