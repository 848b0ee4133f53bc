/**
 * A board as plain data: DRAM banks, the kernel command line, reserved memory, the UMP carve-out,
 * the CPU cache, the System MMUs and the devices — what `arch/arm/mach-*` board files and a
 * device tree say about a machine. A description is JSON-serialisable (numbers, strings,
 * booleans, arrays and plain objects only) and is checked as a whole by `validateBoard` before
 * anything is built from it.
 *
 * The parts map onto the layers that consume them: `banks` and `lowmemSize` → `mmInit`;
 * `cmdline` → `cmaInit` (`cma=`, `cma.map=`) and PMM (`pmm=`); `reservedMemory` → mm-cma's
 * `ofReservedMemInit`; `ump` → the UMP dedicated backend; `cache` → arch-arm's `cpuInit`;
 * `sysmmus` → `sysmmuPlatformDevice`; `devices` → `new Device(kernel, boardDeviceOpts(d))` with
 * their IOMMUs (`iommus`) and pools (`memoryRegions`).
 *
 * @module
 */
import {
  type DeviceOpts,
  DMA_BIT_MASK,
  hex,
  isPowerOfTwo,
  KernelError,
  PAGE_SIZE,
  SZ_1G,
} from "@umm/kernel-core";
import {
  CMA_MIN_ALIGNMENT_BYTES,
  type CmaMap,
  type CmaRegionDesc,
  CONFIG_CMA_AREAS,
  cmaMatchDevice,
  DMA_ADDR_LIMIT,
  memparse,
  parseCmaCmdline,
  parseCmaMap,
  type ReservedMemNode,
} from "@umm/mm-cma";
import {
  SYSMMU_SFR_SIZE,
  SYSMMU_VERSIONS,
  type SysMmuInstance,
  type SysMmuVersion,
  type SysmmuDeviceOpts,
} from "@umm/plat-s5p-sysmmu";

/** An address range in bytes. */
export interface BoardRange {
  /** first byte */
  readonly base: number;
  /** bytes */
  readonly size: number;
}

/** One DRAM bank (`mmInit`'s `BankSpec`). */
export interface BoardBank {
  /** "bank0", "bank1", ... */
  readonly name: string;
  /** physical address of the first byte, page-aligned */
  readonly start: number;
  /** bytes, a multiple of 4 KiB */
  readonly size: number;
  /** the device-tree node it was read from ("/memory@40000000"); errors name it */
  readonly dtPath?: string;
}

/**
 * The board's kernel command line, by piece. `boardCmdline` joins them:
 * `<extra...> cma=<cma> cma.map=<device rules;cmaMap> pmm=<pmm>`.
 */
export interface BoardCmdline {
  /**
   * The value of `cma=`: the 2010 region list (`mfc_fw=4M@0x48000000;common=16M`, it contains
   * `=`) or the merged default area (`64M`, `64M@0x50000000-0x60000000`).
   */
  readonly cma?: string;
  /**
   * 2010 map rules that follow the devices' own rules (`cmaRegionKinds`) in `cma.map=`, usually
   * the catch-all (`*=common`). A device tree's whole `cma.map=` lands here.
   */
  readonly cmaMap?: string;
  /** the value of `pmm=` (`32M`): the PMM pool size */
  readonly pmm?: string;
  /** every other command-line word, in order (`console=ttySAC2,115200`) */
  readonly extra?: readonly string[];
  /** the device-tree node it was read from ("/chosen"); errors name its `bootargs` */
  readonly dtPath?: string;
}

/** The UMP dedicated-memory window (`ump_memory_address`, `ump_memory_size`). */
export interface BoardUmp {
  /** physical address, page-aligned */
  readonly base: number;
  /** bytes, a multiple of 4 KiB */
  readonly size: number;
}

/** The CPU data cache model of arch-arm ("ideal": never evicts; "sized": L1 + L2 capacity). */
export type CacheMode = "ideal" | "sized";

/** arch-arm `cpuInit` options a board fixes. */
export interface BoardCache {
  /** "ideal" (never evicts) or "sized" (evicts at l1Size + l2Size) */
  readonly mode: CacheMode;
  /** bytes per line, a power of two from 4 to 4096 */
  readonly lineSize: number;
  /** L1 data cache bytes, a multiple of the line size */
  readonly l1Size: number;
  /** L2 bytes, a multiple of the line size */
  readonly l2Size: number;
}

/** One System MMU (`samsung,exynos-sysmmu`). */
export interface BoardSysmmu {
  /** the IP it serves ("FIMC0", "MFC_L"): masters name it in `iommus` */
  readonly name: string;
  /** physical address of its 4 KiB register window */
  readonly base: number;
  /** its hardware version */
  readonly version: SysMmuVersion;
  /** TLB entries (default: the model's 64) */
  readonly tlbEntries?: number;
  /** a physical window its master may not reach */
  readonly secureWindow?: BoardRange;
  /** the device-tree node it was read from; errors name it */
  readonly dtPath?: string;
}

/**
 * A device property value: `true` (a boolean property), a number (one cell), a string, a list of
 * numbers (cells) or strings, or raw bytes that are none of those.
 */
export type BoardPropValue =
  | boolean
  | number
  | string
  | readonly number[]
  | readonly string[]
  | { readonly bytes: readonly number[] };

/** Device properties that are fields of `BoardDevice` and may not appear in `properties`. */
export const BOARD_DEVICE_FIELD_PROPS: readonly string[] = Object.freeze([
  "compatible",
  "reg",
  "iommus",
  "memory-region",
  "dma-ranges",
]);

/**
 * Device properties whose value names another device (a device tree holds a phandle there):
 * `umm,sensor` on a capture interface names the sensor that feeds it.
 */
export const BOARD_DEVICE_REF_PROPS: readonly string[] = Object.freeze(["umm,sensor"]);

/** One device (a platform device, as `of_platform_populate` creates from a node). */
export interface BoardDevice {
  /** unique on the board: "fimc0", "mfc" (drivers and the CMA map match it) */
  readonly name: string;
  /** `compatible`, most specific first (drivers match any) */
  readonly compatible: readonly string[];
  /** register windows (CPU physical addresses) */
  readonly reg?: readonly BoardRange[];
  /** streaming DMA mask, in bits (`DMA_BIT_MASK(n)`) */
  readonly dmaMaskBits: number;
  /** coherent DMA mask, in bits */
  readonly coherentDmaMaskBits: number;
  /** `dma_pfn_offset`: the device sees physical page `pfn` at bus page `pfn - dmaPfnOffset` (default 0) */
  readonly dmaPfnOffset?: number;
  /** its System MMUs, by name, in port order (MFC: ["MFC_L", "MFC_R"]); [] for none */
  readonly iommus: readonly string[];
  /** its reserved-memory nodes (`memory-region`), by node name, in order */
  readonly memoryRegions: readonly string[];
  /**
   * Its rules of the 2010 CMA map (`mfc/f=mfc_fw;mfc/a=mfc_b1;mfc/b=mfc_b2`): memory kinds to
   * regions. Every pattern must match this device; `boardCmaMap` puts them before `cmaMap`.
   */
  readonly cmaRegionKinds?: string;
  /** other properties drivers read (`samsung,cam-if`, `umm,sensor`, `iommu-names`) */
  readonly properties: Readonly<Record<string, BoardPropValue>>;
  /** the device-tree node it was read from; errors name it */
  readonly dtPath?: string;
}

/** A whole board. */
export interface BoardDescription {
  /** the board's name ("exynos4210") */
  readonly name: string;
  /** DRAM banks, non-overlapping */
  readonly banks: readonly BoardBank[];
  /** bytes of RAM in the kernel linear map, counted from the lowest bank (the rest is highmem) */
  readonly lowmemSize: number;
  /** the kernel command line */
  readonly cmdline: BoardCmdline;
  /** `/reserved-memory` nodes (mm-cma's `ReservedMemNode`; `name` is the DT node name) */
  readonly reservedMemory: readonly ReservedMemNode[];
  /** the UMP dedicated carve-out, or null */
  readonly ump: BoardUmp | null;
  /** the CPU cache */
  readonly cache: BoardCache;
  /** the System MMUs */
  readonly sysmmus: readonly BoardSysmmu[];
  /** the devices */
  readonly devices: readonly BoardDevice[];
}

// ---- helpers for assembly ------------------------------------------------------------------

function joinRules(parts: readonly (string | undefined)[]): string {
  return parts
    .map((p) => (p ?? "").replace(/^;+|;+$/g, ""))
    .filter((p) => p !== "")
    .join(";");
}

/** The `cma.map=` value of a board: every device's `cmaRegionKinds` in device order, then `cmdline.cmaMap`. */
export function boardCmaMap(desc: BoardDescription): string {
  return joinRules([...desc.devices.map((d) => d.cmaRegionKinds), desc.cmdline.cmaMap]);
}

/** The board's kernel command line as one string (what `cmaInit` and PMM read). */
export function boardCmdline(desc: BoardDescription): string {
  const c = desc.cmdline;
  const words = [...(c.extra ?? [])];
  if (c.cma !== undefined) words.push(`cma=${c.cma}`);
  const map = boardCmaMap(desc);
  if (map !== "") words.push(`cma.map=${map}`);
  if (c.pmm !== undefined) words.push(`pmm=${c.pmm}`);
  return words.join(" ");
}

/**
 * kernel-core `DeviceOpts` for a board device: masks from the bit counts, the DMA offset, the
 * compatible list, and properties — the device's own plus `reg` (flat [base, size, ...]),
 * `iommus` (SysMMU names) and `memory-region` (reserved-memory node names) when it has them.
 */
export function boardDeviceOpts(dev: BoardDevice): DeviceOpts {
  const properties: Record<string, unknown> = { ...dev.properties };
  if (dev.reg?.length) properties.reg = dev.reg.flatMap((r) => [r.base, r.size]);
  if (dev.iommus.length) properties.iommus = [...dev.iommus];
  if (dev.memoryRegions.length) properties["memory-region"] = [...dev.memoryRegions];
  return {
    name: dev.name,
    compatible: [...dev.compatible],
    dmaMask: DMA_BIT_MASK(dev.dmaMaskBits),
    coherentDmaMask: DMA_BIT_MASK(dev.coherentDmaMaskBits),
    dmaPfnOffset: dev.dmaPfnOffset ?? 0,
    properties,
  };
}

/** plat-s5p-sysmmu's `SysMmuInstance` of a board SysMMU (for `sysmmuPlatformDevice`). */
export function boardSysmmuInstance(s: BoardSysmmu): SysMmuInstance {
  return { name: s.name, sfrBase: s.base, version: s.version };
}

/** The `sysmmuPlatformDevice` options of a board SysMMU (TLB size, secure window). */
export function boardSysmmuOpts(s: BoardSysmmu): SysmmuDeviceOpts {
  return {
    ...(s.tlbEntries !== undefined ? { tlbEntries: s.tlbEntries } : {}),
    ...(s.secureWindow ? { secureWindow: { base: s.secureWindow.base, size: s.secureWindow.size } } : {}),
  };
}

/** The platform-device name `sysmmuPlatformDevice` gives a SysMMU ("11a20000.sysmmu"). */
export function boardSysmmuDeviceName(s: BoardSysmmu): string {
  return `${s.base.toString(16)}.sysmmu`;
}

/** Freezes a description and everything in it (boards shipped as data are immutable). */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

// ---- validation ----------------------------------------------------------------------------

function bad(detail: string): never {
  throw new KernelError("EINVAL", detail);
}

const isInt = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x);
const range = (base: number, size: number) => `[${hex(base)}, ${hex(base + size)})`;
const mib = (n: number) => `${+(n / 2 ** 20).toFixed(2)} MiB`;

/** A fixed physical range the board claims, for the overlap check. */
interface Claim {
  readonly base: number;
  readonly size: number;
  readonly what: string;
}

function where(dtPath: string | undefined, prop: string, fallback: string): string {
  return dtPath ? `${dtPath}: property "${prop}"` : fallback;
}

const bankWhere = (b: BoardBank) => where(b.dtPath, "reg", `bank "${b.name}"`);
const rmemWhere = (n: ReservedMemNode, prop: string) => `/reserved-memory/${n.name}: property "${prop}"`;
const sysWhere = (s: BoardSysmmu, prop: string, field: string) =>
  where(s.dtPath, prop, `SysMMU "${s.name}": ${field}`);
const devWhere = (d: BoardDevice, prop: string, field: string) =>
  where(d.dtPath, prop, `device "${d.name}": ${field}`);

class Ram {
  /** merged, sorted RAM segments */
  readonly segs: { start: number; end: number }[] = [];
  readonly total: number;
  readonly lowest: number;

  constructor(banks: readonly BoardBank[]) {
    const sorted = [...banks].sort((a, b) => a.start - b.start);
    for (const b of sorted) {
      const last = this.segs.at(-1);
      if (last && last.end === b.start) last.end = b.start + b.size;
      else this.segs.push({ start: b.start, end: b.start + b.size });
    }
    this.total = sorted.reduce((s, b) => s + b.size, 0);
    this.lowest = sorted[0]?.start ?? 0;
  }

  /** True when [base, base + size) is RAM throughout. */
  covers(base: number, size: number): boolean {
    return this.segs.some((s) => base >= s.start && base + size <= s.end);
  }

  /** Bytes of RAM inside [base, base + size). */
  within(base: number, size: number): number {
    let n = 0;
    for (const s of this.segs) n += Math.max(0, Math.min(s.end, base + size) - Math.max(s.start, base));
    return n;
  }

  /** The largest run of RAM inside [base, base + size). */
  largestRun(base: number, size: number): number {
    let n = 0;
    for (const s of this.segs) n = Math.max(n, Math.min(s.end, base + size) - Math.max(s.start, base));
    return n;
  }
}

function checkRangeValue(r: unknown, what: string): asserts r is BoardRange {
  const x = r as BoardRange;
  if (!x || typeof x !== "object" || !isInt(x.base) || !isInt(x.size) || x.base < 0 || x.size <= 0) {
    bad(`${what}: ${JSON.stringify(r)} is not a range { base, size } with base ≥ 0 and size > 0`);
  }
}

function checkBanks(desc: BoardDescription): Ram {
  if (!Array.isArray(desc.banks) || desc.banks.length === 0) bad(`board "${desc.name}": no DRAM bank`);
  const names = new Set<string>();
  desc.banks.forEach((b, i) => {
    if (!b || typeof b.name !== "string" || b.name === "") bad(`bank ${i}: no name`);
    if (names.has(b.name)) bad(`${bankWhere(b)}: a second bank is named "${b.name}"`);
    names.add(b.name);
    if (!isInt(b.start) || b.start < 0 || b.start % PAGE_SIZE !== 0) {
      bad(`${bankWhere(b)}: start ${b.start} is not a page-aligned address`);
    }
    if (!isInt(b.size) || b.size <= 0 || b.size % PAGE_SIZE !== 0) {
      bad(`${bankWhere(b)}: size ${b.size} is not a positive multiple of 4 KiB`);
    }
    if (b.start + b.size > DMA_ADDR_LIMIT) {
      bad(`${bankWhere(b)}: ${range(b.start, b.size)} goes beyond the 32-bit physical address space`);
    }
  });
  const sorted = [...desc.banks].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.start < a.start + a.size) {
      bad(
        `${bankWhere(b)}: bank "${b.name}" ${range(b.start, b.size)} overlaps bank "${a.name}" ${range(a.start, a.size)}`,
      );
    }
  }
  return new Ram(desc.banks);
}

function checkCache(c: BoardCache): void {
  if (!c || typeof c !== "object") bad("cache: missing");
  if (c.mode !== "ideal" && c.mode !== "sized")
    bad(`cache: mode ${JSON.stringify(c.mode)} is not "ideal" or "sized"`);
  if (!isPowerOfTwo(c.lineSize) || c.lineSize < 4 || c.lineSize > PAGE_SIZE) {
    bad(`cache: lineSize ${c.lineSize} is not a power of two from 4 to ${PAGE_SIZE}`);
  }
  for (const k of ["l1Size", "l2Size"] as const) {
    if (!isInt(c[k]) || c[k] < 0 || c[k] % c.lineSize !== 0) {
      bad(`cache: ${k} ${c[k]} is not a non-negative multiple of lineSize ${c.lineSize}`);
    }
  }
  if (c.mode === "sized" && c.l1Size + c.l2Size === 0) bad("cache: a sized cache needs l1Size + l2Size > 0");
}

interface CmdlinePlan {
  readonly regions: readonly CmaRegionDesc[];
  readonly merged: { size: number; base: number; limit: number; fixed: boolean } | null;
  readonly pmmSize: number;
}

function rethrow(e: unknown, prefix: string): never {
  if (e instanceof KernelError) throw new KernelError(e.errno, `${prefix}: ${e.detail}`, { cause: e });
  throw e;
}

function checkCmdline(desc: BoardDescription): CmdlinePlan {
  const c = desc.cmdline;
  if (!c || typeof c !== "object") bad(`board "${desc.name}": no cmdline`);
  const at = (piece: string) =>
    c.dtPath ? `${c.dtPath}: property "bootargs": ${piece}` : `command line: ${piece}`;
  for (const [k, v] of [
    ["cma", c.cma],
    ["cmaMap", c.cmaMap],
    ["pmm", c.pmm],
  ] as const) {
    if (v !== undefined && (typeof v !== "string" || /\s/.test(v))) {
      bad(`${at(k)}: ${JSON.stringify(v)} is not a word (a string without spaces)`);
    }
  }
  for (const w of c.extra ?? []) {
    if (typeof w !== "string" || w === "" || /\s/.test(w))
      bad(`${at("extra")}: ${JSON.stringify(w)} is not a word`);
    const key = /^(cma|cma\.map|cma_map|pmm)=/.exec(w)?.[1];
    if (key)
      bad(
        `${at("extra")}: "${w}" belongs in the ${key === "pmm" ? "pmm" : key === "cma" ? "cma" : "cmaMap"} piece`,
      );
  }
  let regions: readonly CmaRegionDesc[] = [];
  let merged: CmdlinePlan["merged"] = null;
  if (c.cma !== undefined) {
    try {
      const parsed = parseCmaCmdline(`cma=${c.cma}`);
      regions = parsed.regions ?? [];
      merged = parsed.merged;
    } catch (e) {
      rethrow(e, at("cma="));
    }
  }
  let pmmSize = 0;
  if (c.pmm !== undefined) {
    const m = memparse(c.pmm);
    if (m.end !== c.pmm.length || m.end === 0) bad(`${at("pmm=")}: "${c.pmm}" is not a size`);
    if (m.value <= 0) bad(`${at("pmm=")}: size must be greater than 0`);
    if (m.value > SZ_1G) bad(`${at("pmm=")}: ${mib(m.value)}: refusing to allocate more than 1 GiB`);
    pmmSize = Math.ceil(m.value / PAGE_SIZE) * PAGE_SIZE;
  }
  return { regions, merged, pmmSize };
}

function isSharedDmaPool(n: ReservedMemNode): boolean {
  return (
    n.compatible === "shared-dma-pool" ||
    (Array.isArray(n.compatible) && n.compatible.includes("shared-dma-pool"))
  );
}

function checkReserved(desc: BoardDescription, ram: Ram, lowmemEnd: number, cmd: CmdlinePlan): Claim[] {
  if (!Array.isArray(desc.reservedMemory)) bad(`board "${desc.name}": reservedMemory is not a list`);
  const claims: Claim[] = [];
  const names = new Set<string>();
  let cmaAreas = cmd.merged && cmd.merged.size > 0 ? 1 : 0;
  let cmaDefault: ReservedMemNode | null = null;
  let dmaDefault: ReservedMemNode | null = null;
  for (const n of desc.reservedMemory) {
    if (!n || typeof n.name !== "string" || n.name === "") bad("/reserved-memory: a node without a name");
    if (names.has(n.name)) bad(`/reserved-memory/${n.name}: a second node has this name`);
    names.add(n.name);
    const c = n.compatible;
    if (
      c !== undefined &&
      typeof c !== "string" &&
      !(Array.isArray(c) && c.every((s) => typeof s === "string"))
    ) {
      bad(`${rmemWhere(n, "compatible")}: ${JSON.stringify(c)} is not a string or a string list`);
    }
    if (n.reusable && n.noMap)
      bad(`${rmemWhere(n, "reusable")}: "reusable" and "no-map" are mutually exclusive`);
    const pool = isSharedDmaPool(n);
    const cma = pool && !!n.reusable;
    if (!n.reg && n.size === undefined) bad(`${rmemWhere(n, "reg")}: neither "reg" nor "size" is given`);
    if (n.reg) {
      checkRangeValue(n.reg, rmemWhere(n, "reg"));
      const { base, size } = n.reg;
      if (base % PAGE_SIZE || size % PAGE_SIZE)
        bad(`${rmemWhere(n, "reg")}: ${range(base, size)} is not page-aligned`);
      if (!ram.covers(base, size)) bad(`${rmemWhere(n, "reg")}: ${range(base, size)} is outside DRAM`);
      if (cma && base < lowmemEnd && base + size > lowmemEnd) {
        bad(
          `${rmemWhere(n, "reg")}: CMA region ${range(base, size)} crosses the lowmem/highmem boundary ${hex(lowmemEnd)}`,
        );
      }
      claims.push({ base, size, what: `/reserved-memory/${n.name}` });
    } else {
      const size = n.size!;
      if (!isInt(size) || size <= 0 || size % PAGE_SIZE)
        bad(`${rmemWhere(n, "size")}: ${size} is not a positive multiple of 4 KiB`);
      const a = n.alignment ?? 0;
      if (!isInt(a) || a < 0 || (a !== 0 && !isPowerOfTwo(a)))
        bad(`${rmemWhere(n, "alignment")}: ${a} is not a power of two`);
      const ranges: readonly BoardRange[] = n.allocRanges ?? [];
      for (const r of ranges) {
        checkRangeValue(r, rmemWhere(n, "alloc-ranges"));
        if (ram.within(r.base, r.size) === 0)
          bad(`${rmemWhere(n, "alloc-ranges")}: ${range(r.base, r.size)} holds no DRAM`);
      }
      const room = ranges.length
        ? Math.max(...ranges.map((r) => ram.largestRun(r.base, r.size)))
        : ram.largestRun(0, 2 ** 53);
      if (room < size) {
        bad(
          `${rmemWhere(n, "size")}: ${mib(size)} does not fit in the DRAM it may use (at most ${mib(room)} in one run)`,
        );
      }
    }
    if (cma) {
      cmaAreas++;
      const base = n.reg?.base ?? 0;
      const size = n.reg?.size ?? n.size!;
      if (base % CMA_MIN_ALIGNMENT_BYTES || size % CMA_MIN_ALIGNMENT_BYTES) {
        bad(
          `${rmemWhere(n, n.reg ? "reg" : "size")}: a reusable (CMA) pool must be ${mib(CMA_MIN_ALIGNMENT_BYTES)}-aligned in base and size (${n.reg ? range(base, size) : hex(size)})`,
        );
      }
    } else if (pool && !n.noMap) {
      bad(
        `${rmemWhere(n, "compatible")}: a shared-dma-pool must be "reusable" or "no-map" (regions without no-map are not yet supported on ARM)`,
      );
    }
    if (n.cmaDefault) {
      if (!cma) bad(`${rmemWhere(n, "linux,cma-default")}: the node is not a reusable shared-dma-pool`);
      if (cmaDefault)
        bad(
          `${rmemWhere(n, "linux,cma-default")}: /reserved-memory/${cmaDefault.name} is already the default CMA area`,
        );
      if (cmd.merged) {
        bad(
          `${rmemWhere(n, "linux,cma-default")}: the merged cma= on the command line would bypass this node`,
        );
      }
      cmaDefault = n;
    }
    if (n.dmaDefault) {
      if (!pool || cma) bad(`${rmemWhere(n, "linux,dma-default")}: the node is not a no-map shared-dma-pool`);
      if (dmaDefault)
        bad(
          `${rmemWhere(n, "linux,dma-default")}: /reserved-memory/${dmaDefault.name} is already the default pool`,
        );
      dmaDefault = n;
    }
  }
  if (cmaAreas > CONFIG_CMA_AREAS) {
    bad(`/reserved-memory: ${cmaAreas} CMA areas wanted, CONFIG_CMA_AREAS is ${CONFIG_CMA_AREAS}`);
  }
  return claims;
}

function checkSysmmus(desc: BoardDescription, ram: Ram): Map<string, BoardSysmmu> {
  if (!Array.isArray(desc.sysmmus)) bad(`board "${desc.name}": sysmmus is not a list`);
  const byName = new Map<string, BoardSysmmu>();
  const byBase = new Map<number, BoardSysmmu>();
  let v5: BoardSysmmu | null = null;
  let v1: BoardSysmmu | null = null;
  for (const s of desc.sysmmus) {
    if (!s || typeof s.name !== "string" || s.name === "") bad("sysmmus: a SysMMU without a name");
    if (byName.has(s.name)) bad(`${sysWhere(s, "reg", "name")}: a second SysMMU is named "${s.name}"`);
    byName.set(s.name, s);
    if (
      !isInt(s.base) ||
      s.base < 0 ||
      s.base % SYSMMU_SFR_SIZE ||
      s.base + SYSMMU_SFR_SIZE > DMA_ADDR_LIMIT
    ) {
      bad(`${sysWhere(s, "reg", "base")}: ${s.base} is not a 4 KiB-aligned register window address`);
    }
    const other = byBase.get(s.base);
    if (other)
      bad(
        `${sysWhere(s, "reg", "base")}: ${hex(s.base)} is also the register window of SysMMU "${other.name}"`,
      );
    byBase.set(s.base, s);
    if (ram.within(s.base, SYSMMU_SFR_SIZE) > 0)
      bad(`${sysWhere(s, "reg", "base")}: register window ${hex(s.base)} is in DRAM`);
    if (!(SYSMMU_VERSIONS as readonly string[]).includes(s.version)) {
      bad(
        `${sysWhere(s, "compatible", "version")}: "${s.version}" is not a System MMU version (${SYSMMU_VERSIONS.join(", ")})`,
      );
    }
    if (s.version === "5.0") v5 ??= s;
    else v1 ??= s;
    if (s.tlbEntries !== undefined && (!isInt(s.tlbEntries) || s.tlbEntries < 1 || s.tlbEntries > 4096)) {
      bad(`${sysWhere(s, "tlb-entries", "tlbEntries")}: ${s.tlbEntries} is not an entry count in 1..4096`);
    }
    if (s.secureWindow !== undefined)
      checkRangeValue(s.secureWindow, sysWhere(s, "secure-window", "secureWindow"));
  }
  if (v5 && v1) {
    bad(
      `${sysWhere(v5, "compatible", "version")}: a v5 System MMU ("${v5.name}") and a v1–v3 one ("${v1.name}") use different page-table formats; the driver takes one`,
    );
  }
  return byName;
}

function isPropValue(v: unknown): v is BoardPropValue {
  if (typeof v === "boolean" || typeof v === "string") return true;
  if (typeof v === "number") return Number.isSafeInteger(v);
  if (Array.isArray(v))
    return v.every((x) => typeof x === "string") || v.every((x) => Number.isSafeInteger(x));
  if (v && typeof v === "object") {
    const b = (v as { bytes?: unknown }).bytes;
    return (
      Object.keys(v).length === 1 &&
      Array.isArray(b) &&
      b.every((x) => Number.isInteger(x) && x >= 0 && x < 256)
    );
  }
  return false;
}

function checkMapRules(
  map: CmaMap | null,
  known: ReadonlySet<string>,
  at: string,
  dev: BoardDevice | null,
): void {
  for (const rule of map?.rules ?? []) {
    if (dev) {
      for (const p of rule.patterns) {
        if (p.dev !== null && !cmaMatchDevice(p.dev, dev.name)) {
          bad(`${at}: rule "${rule.text}" has pattern "${p.dev}", which does not match device "${dev.name}"`);
        }
      }
    }
    for (const r of rule.regions) {
      if (!known.has(r))
        bad(`${at}: rule "${rule.text}" names region "${r}", which the board does not declare`);
    }
  }
}

function parseMap(text: string, at: string): CmaMap | null {
  try {
    return parseCmaMap(text);
  } catch (e) {
    rethrow(e, at);
  }
}

function checkDevices(
  desc: BoardDescription,
  ram: Ram,
  sysmmus: ReadonlyMap<string, BoardSysmmu>,
  regionNames: ReadonlySet<string>,
): void {
  if (!Array.isArray(desc.devices)) bad(`board "${desc.name}": devices is not a list`);
  const byName = new Map<string, BoardDevice>();
  const sysmmuDevNames = new Set([...sysmmus.values()].map(boardSysmmuDeviceName));
  const master = new Map<string, BoardDevice>();
  const rmem = new Map(desc.reservedMemory.map((n) => [n.name, n]));
  for (const d of desc.devices) {
    if (!d || typeof d.name !== "string" || d.name === "" || /\s/.test(d.name)) {
      bad(`devices: ${JSON.stringify(d?.name)} is not a device name`);
    }
    const prev = byName.get(d.name);
    if (prev) {
      bad(
        `${d.dtPath ? `${d.dtPath}: device name` : "device"} "${d.name}" is also the name of ${prev.dtPath ?? "another device"}`,
      );
    }
    if (sysmmuDevNames.has(d.name)) bad(`device "${d.name}": the name of a SysMMU's platform device`);
    byName.set(d.name, d);
  }
  for (const d of desc.devices) {
    const compat: unknown = d.compatible;
    if (
      !Array.isArray(compat) ||
      compat.length === 0 ||
      !compat.every((c) => typeof c === "string" && c !== "")
    ) {
      bad(
        `${devWhere(d, "compatible", "compatible")}: ${JSON.stringify(d.compatible)} is not a non-empty string list`,
      );
    }
    for (const r of d.reg ?? []) checkRangeValue(r, devWhere(d, "reg", "reg"));
    for (const k of ["dmaMaskBits", "coherentDmaMaskBits"] as const) {
      if (!isInt(d[k]) || d[k] < 1 || d[k] > 64)
        bad(`${devWhere(d, "dma-ranges", k)}: ${d[k]} is not a mask width in bits (1..64)`);
    }
    const off = d.dmaPfnOffset ?? 0;
    if (!isInt(off) || off < 0)
      bad(`${devWhere(d, "dma-ranges", "dmaPfnOffset")}: ${off} is not a page count ≥ 0`);
    if (!Array.isArray(d.iommus)) bad(`${devWhere(d, "iommus", "iommus")}: not a list`);
    const seen = new Set<string>();
    for (const name of d.iommus) {
      const s = sysmmus.get(name);
      if (!s)
        bad(`${devWhere(d, "iommus", "iommus")}: names SysMMU "${name}", which the board does not have`);
      if (seen.has(name)) bad(`${devWhere(d, "iommus", "iommus")}: lists SysMMU "${name}" twice`);
      seen.add(name);
      const other = master.get(name);
      if (other)
        bad(`${devWhere(d, "iommus", "iommus")}: SysMMU "${name}" already serves device "${other.name}"`);
      master.set(name, d);
    }
    if (!Array.isArray(d.memoryRegions)) bad(`${devWhere(d, "memory-region", "memoryRegions")}: not a list`);
    const seenR = new Set<string>();
    for (const r of d.memoryRegions) {
      if (!rmem.has(r))
        bad(
          `${devWhere(d, "memory-region", "memoryRegions")}: names "${r}", which is not a /reserved-memory node`,
        );
      if (seenR.has(r)) bad(`${devWhere(d, "memory-region", "memoryRegions")}: lists "${r}" twice`);
      seenR.add(r);
    }
    if (d.iommus.length === 0) {
      // Without an IOMMU the device reaches physical memory directly, within its mask.
      const lo = off * PAGE_SIZE;
      const reach = (bits: number) => 2 ** bits;
      if (ram.within(lo, reach(d.dmaMaskBits)) === 0) {
        bad(
          `${devWhere(d, "dma-ranges", "dmaMaskBits")}: a ${d.dmaMaskBits}-bit DMA mask with offset ${hex(lo)} reaches no DRAM (${range(lo, reach(d.dmaMaskBits))})`,
        );
      }
      for (const r of d.memoryRegions) {
        const reg = rmem.get(r)!.reg;
        if (reg && (reg.base < lo || reg.base + reg.size > lo + reach(d.coherentDmaMaskBits))) {
          bad(
            `${devWhere(d, "memory-region", "memoryRegions")}: "${r}" ${range(reg.base, reg.size)} is beyond the reach of its ${d.coherentDmaMaskBits}-bit coherent DMA mask`,
          );
        }
      }
    }
    if (!d.properties || typeof d.properties !== "object" || Array.isArray(d.properties)) {
      bad(`device "${d.name}": properties is not an object`);
    }
    for (const [k, v] of Object.entries(d.properties)) {
      if (BOARD_DEVICE_FIELD_PROPS.includes(k))
        bad(`${devWhere(d, k, `properties["${k}"]`)}: is a field of the device, not a property`);
      if (!isPropValue(v))
        bad(`${devWhere(d, k, `properties["${k}"]`)}: ${JSON.stringify(v)} is not a property value`);
      if (BOARD_DEVICE_REF_PROPS.includes(k) && (typeof v !== "string" || !byName.has(v))) {
        bad(`${devWhere(d, k, `properties["${k}"]`)}: ${JSON.stringify(v)} is not a device of the board`);
      }
    }
    if (d.cmaRegionKinds !== undefined) {
      const at = devWhere(d, "cmaRegionKinds", "cmaRegionKinds");
      if (typeof d.cmaRegionKinds !== "string" || /\s/.test(d.cmaRegionKinds))
        bad(`${at}: not a map fragment`);
      checkMapRules(parseMap(d.cmaRegionKinds, at), regionNames, at, d);
    }
  }
}

/**
 * Checks everything a boot of `desc` would trip over and throws the first problem as a
 * `KernelError` — EINVAL, or the errno of mm-cma's `cma=` parser (ENOSPC beyond 15 regions) —
 * naming the part (the device-tree node and property when the part came from one):
 *
 * - banks: none, unnamed or twice named, unaligned, beyond 4 GiB, overlapping;
 * - `lowmemSize` not a positive multiple of 4 KiB; a bad cache configuration;
 * - command line: a bad `cma=` (either grammar) or `cma.map=`, a bad `pmm=` (0, > 1 GiB, not a
 *   size), `cma=`/`pmm=` words among `extra`;
 * - reserved memory: unnamed or twice named nodes, neither `reg` nor `size`, `reusable` with
 *   `no-map`, a `shared-dma-pool` that is neither, a CMA pool not 4 MiB-aligned or across the
 *   lowmem boundary, a static region outside DRAM, a dynamic one that cannot fit, `alloc-ranges`
 *   holding no DRAM, two default areas or a default area the merged `cma=` bypasses, more CMA
 *   areas than `CONFIG_CMA_AREAS`; 2010 regions and the UMP carve-out outside DRAM; any two fixed
 *   ranges (static nodes, placed 2010 regions, a placed merged area, UMP) overlapping; more
 *   memory claimed than the banks hold; two regions with one name;
 * - SysMMUs: unnamed or twice named, unaligned, sharing a window, in DRAM, an unknown version, a
 *   bad TLB size or secure window, v5 mixed with v1–v3;
 * - devices: bad or duplicate names, an empty compatible list, bad `reg`, mask widths outside
 *   1..64, a negative DMA offset, an unknown, repeated or shared SysMMU, an unknown or repeated
 *   memory region, a device without IOMMU whose mask reaches no DRAM or not its static pools, a
 *   field given as a property, a property that is not a `BoardPropValue`, a `umm,sensor` that
 *   names no device, `cmaRegionKinds` that do not parse, match other devices, or name unknown
 *   regions; a board-wide `cmaMap` naming unknown regions.
 *
 * A description that passes builds: the assembly may then assume it.
 */
export function validateBoard(desc: BoardDescription): void {
  if (!desc || typeof desc !== "object") bad("validateBoard: the description is not an object");
  if (typeof desc.name !== "string" || desc.name === "") bad("validateBoard: the board has no name");
  const ram = checkBanks(desc);
  if (!isInt(desc.lowmemSize) || desc.lowmemSize <= 0 || desc.lowmemSize % PAGE_SIZE) {
    bad(`board "${desc.name}": lowmemSize ${desc.lowmemSize} is not a positive multiple of 4 KiB`);
  }
  const lowmemEnd = ram.lowest + desc.lowmemSize;
  checkCache(desc.cache);
  const cmd = checkCmdline(desc);
  const claims = checkReserved(desc, ram, lowmemEnd, cmd);
  const cmdAt = desc.cmdline.dtPath
    ? `${desc.cmdline.dtPath}: property "bootargs": cma=`
    : "command line: cma=";

  const regionNames = new Set(desc.reservedMemory.map((n) => n.name));
  let dynamic = desc.reservedMemory.reduce((s, n) => s + (n.reg ? 0 : n.size!), 0) + cmd.pmmSize;
  for (const r of cmd.regions) {
    const name = r.name ?? "";
    if (regionNames.has(name))
      bad(`${cmdAt}: region "${name}" has the name of another region or reserved-memory node`);
    regionNames.add(name);
    if (r.start) {
      if (!ram.covers(r.start, r.size))
        bad(`${cmdAt}: region "${name}" ${range(r.start, r.size)} is outside DRAM`);
      claims.push({ base: r.start, size: r.size, what: `cma= region "${name}"` });
    } else dynamic += r.size;
  }
  if (cmd.merged && cmd.merged.size > 0) {
    regionNames.add("reserved");
    if (cmd.merged.fixed) {
      const { base, size } = cmd.merged;
      if (!ram.covers(base, size)) bad(`${cmdAt}: the default area ${range(base, size)} is outside DRAM`);
      claims.push({ base, size, what: "the cma= default area" });
    } else dynamic += cmd.merged.size;
  }
  if (desc.ump !== null) {
    checkRangeValue(desc.ump, "ump");
    const { base, size } = desc.ump;
    if (base % PAGE_SIZE || size % PAGE_SIZE) bad(`ump: ${range(base, size)} is not page-aligned`);
    if (!ram.covers(base, size)) bad(`ump: the carve-out ${range(base, size)} is outside DRAM`);
    claims.push({ base, size, what: "the UMP carve-out" });
  }
  claims.sort((a, b) => a.base - b.base);
  for (let i = 1; i < claims.length; i++) {
    let a = claims[i - 1]!;
    let b = claims[i]!;
    if (b.base < a.base + a.size) {
      // name a reserved-memory node (and its "reg") as the culprit when one is involved
      if (a.what.startsWith("/reserved-memory/") && !b.what.startsWith("/reserved-memory/")) [a, b] = [b, a];
      const whereB = b.what.startsWith("/reserved-memory/") ? `${b.what}: property "reg"` : b.what;
      bad(`${whereB}: ${range(b.base, b.size)} overlaps ${a.what} ${range(a.base, a.size)}`);
    }
  }
  const fixed = claims.reduce((s, c) => s + c.size, 0);
  if (fixed + dynamic > ram.total) {
    bad(
      `board "${desc.name}": reserved memory (${mib(fixed)} placed + ${mib(dynamic)} to place) exceeds the ${mib(ram.total)} of DRAM`,
    );
  }

  const sysmmus = checkSysmmus(desc, ram);
  checkDevices(desc, ram, sysmmus, regionNames);
  if (desc.cmdline.cmaMap !== undefined) {
    const at = desc.cmdline.dtPath
      ? `${desc.cmdline.dtPath}: property "bootargs": cma.map=`
      : "command line: cma.map=";
    checkMapRules(parseMap(desc.cmdline.cmaMap, at), regionNames, at, null);
  }
  const whole = boardCmaMap(desc);
  if (whole !== "") parseMap(whole, "command line: cma.map=");
}
