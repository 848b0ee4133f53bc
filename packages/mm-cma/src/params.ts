/**
 * Kernel command-line parameters of both CMAs:
 *
 * - the 2010 region list `cma=reg1=64M:bf;reg2=32M@0x100000:bf;reg3=64M/1M:bf`
 *   (`region ::= REG-NAME '=' size ['@' start] ['/' alignment] [':' ALLOC-NAME]`, at most 15
 *   regions, every number non-zero, alignment a power of two);
 * - the merged default area `cma=nn[KMG][@start[KMG][-end[KMG]]]` (`cma=0` disables it);
 * - the 2010 map `cma.map=` (`cma_map=` in v1–v3), see `./map`.
 *
 * A `cma=` value that contains `=` is the 2010 region list; otherwise it is the merged form.
 * Numbers go through `memparse` (C base prefixes 0x / 0, suffixes K M G T P E).
 *
 * @module
 */
import { alignUp, isPowerOfTwo, KernelError, PAGE_SIZE, pageAlign } from "@umm/kernel-core";
import { type CmaMap, parseCmaMap } from "./map.js";
import { CMA_MAX_CMDLINE_REGIONS, type CmaRegionDesc, DMA_ADDR_LIMIT } from "./types.js";

/** Result of `memparse`: the value and the offset just past what was read. */
export interface Memparse {
  readonly value: number;
  readonly end: number;
}

const SUFFIX: Readonly<Record<string, number>> = {
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
  P: 2 ** 50,
  E: 2 ** 60,
};

/**
 * `memparse(s + pos)`: an unsigned number with C base prefixes (`0x` hex, `0` octal) and an
 * optional size suffix (K, M, G, T, P, E; either case). No digits: value 0, `end == pos`.
 */
export function memparse(s: string, pos = 0): Memparse {
  let i = pos;
  let base = 10;
  if (s[i] === "0" && (s[i + 1] === "x" || s[i + 1] === "X") && /[0-9a-fA-F]/.test(s[i + 2] ?? "")) {
    base = 16;
    i += 2;
  } else if (s[i] === "0") base = 8;
  const digits = base === 16 ? /[0-9a-fA-F]/ : base === 8 ? /[0-7]/ : /[0-9]/;
  let v = 0;
  const start = i;
  while (i < s.length && digits.test(s[i]!)) v = v * base + Number.parseInt(s[i++]!, base);
  if (i === start && base !== 8) return { value: 0, end: pos };
  const mul = SUFFIX[(s[i] ?? "").toUpperCase()];
  if (mul !== undefined && s[i] !== undefined) {
    v *= mul;
    i++;
  }
  return { value: v, end: i };
}

/**
 * Parses the 2010 `cma=` region list (`cma_param_parse`). Sizes round up to a page, alignments
 * up to a page, starts up to the alignment; an empty `:` means the default allocator. Errors:
 * ENOSPC beyond 15 regions; EINVAL for a missing `name=`, a zero or malformed number, an
 * alignment that is not a power of two, a start+size beyond the 32-bit bus, or garbage where `;`
 * or the end was expected — each naming the position.
 */
export function parseCmaRegions(param: string): CmaRegionDesc[] {
  const out: CmaRegionDesc[] = [];
  let p = 0;
  const num = (at: number, what: string, cond: (v: number) => boolean): Memparse => {
    const m = memparse(param, at);
    if (m.end === at || m.value === 0 || m.value >= DMA_ADDR_LIMIT || !cond(m.value)) {
      throw new KernelError(
        "EINVAL",
        `cma=: invalid ${what} at position ${at} near "${param.slice(at, at + 16)}"`,
      );
    }
    return m;
  };
  while (p < param.length) {
    if (out.length === CMA_MAX_CMDLINE_REGIONS) {
      throw new KernelError(
        "ENOSPC",
        `cma=: too many early regions (at most ${CMA_MAX_CMDLINE_REGIONS}); region ${out.length + 1} at position ${p}`,
      );
    }
    const eq = param.indexOf("=", p);
    const semi = param.indexOf(";", p);
    if (eq < 0 || eq === p || (semi >= 0 && semi < eq)) {
      throw new KernelError("EINVAL", `cma=: expected "<name>=" at position ${p}`);
    }
    const name = param.slice(p, eq);
    let q = eq + 1;
    const size = num(q, "size", () => true);
    q = size.end;
    let start = 0;
    if (param[q] === "@") {
      const m = num(q + 1, "start", () => true);
      start = m.value;
      q = m.end;
    }
    let alignment = 0;
    if (param[q] === "/") {
      const m = num(q + 1, "alignment", isPowerOfTwo);
      alignment = m.value;
      q = m.end;
    }
    alignment = Math.max(alignment, PAGE_SIZE);
    start = alignUp(start, alignment);
    const sz = pageAlign(size.value);
    if (start + sz > DMA_ADDR_LIMIT) {
      throw new KernelError("EINVAL", `cma=: region "${name}" at position ${p}: start + size overflows`);
    }
    let allocName: string | null = null;
    if (param[q] === ":") {
      const from = ++q;
      while (q < param.length && param[q] !== ";") q++;
      allocName = q === from ? null : param.slice(from, q);
    }
    if (param[q] === ";") q++;
    else if (q < param.length) {
      throw new KernelError("EINVAL", `cma=: expecting ';' or end of parameter at position ${q}`);
    }
    out.push({ name, start, size: sz, alignment, allocName });
    p = q;
  }
  return out;
}

/** The merged `cma=` value: size, base and limit (`early_cma`). */
export interface CmaMergedParam {
  /** bytes; 0 disables the default area */
  readonly size: number;
  /** lowest base (0: anywhere) */
  readonly base: number;
  /** one past the highest end (0: no limit beyond the platform's) */
  readonly limit: number;
  /** `base + size == limit`: the area must sit exactly at `base` */
  readonly fixed: boolean;
}

/** Parses `cma=size[@start[-end]]` (`early_cma`); `@start` alone fixes the placement. */
export function parseCmaMerged(param: string): CmaMergedParam {
  if (param === "") throw new KernelError("EINVAL", "cma=: config string not provided");
  const size = memparse(param, 0);
  if (size.end === 0) throw new KernelError("EINVAL", `cma=: invalid size "${param}"`);
  if (param[size.end] !== "@") return { size: size.value, base: 0, limit: 0, fixed: false };
  const base = memparse(param, size.end + 1);
  if (param[base.end] !== "-") {
    return { size: size.value, base: base.value, limit: base.value + size.value, fixed: true };
  }
  const limit = memparse(param, base.end + 1);
  return {
    size: size.value,
    base: base.value,
    limit: limit.value,
    fixed: base.value + size.value === limit.value,
  };
}

/** What `cmaInit` read from the kernel command line. */
export interface CmaCmdline {
  /** 2010 `cma=` regions, or null */
  readonly regions: readonly CmaRegionDesc[] | null;
  /** merged `cma=`, or null */
  readonly merged: CmaMergedParam | null;
  /** `cma.map=` / `cma_map=`: undefined when absent, null when given empty */
  readonly map: CmaMap | null | undefined;
}

/**
 * Reads `cma=`, `cma.map=` and `cma_map=` from a kernel command line (space-separated
 * `key=value` words; the last occurrence of a key wins). Errors of the parsers above.
 */
export function parseCmaCmdline(cmdline: string): CmaCmdline {
  let regions: CmaRegionDesc[] | null = null;
  let merged: CmaMergedParam | null = null;
  let map: CmaMap | null | undefined;
  for (const word of cmdline.split(/\s+/)) {
    if (word.startsWith("cma=")) {
      const v = word.slice(4);
      if (v.includes("=")) {
        regions = parseCmaRegions(v);
        merged = null;
      } else {
        merged = parseCmaMerged(v);
        regions = null;
      }
    } else if (word.startsWith("cma.map=")) map = parseCmaMap(word.slice(8));
    else if (word.startsWith("cma_map=")) map = parseCmaMap(word.slice(8));
  }
  return { regions, merged, map };
}
