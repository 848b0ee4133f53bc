/**
 * Boards for `umm cma-plan`: finding one by name or reading it from a device tree, and the same
 * board with one CMA region resized — the description the smallest-size search boots.
 *
 * A region is resized where the board declares it: a `/reserved-memory` node (`reg` or `size`),
 * an entry of the 2010 `cma=` list, or the merged `cma=` default area ("reserved"). A region with
 * a fixed place keeps its base when it can; when the bigger region no longer fits there
 * (`relocate`), its placement is dropped and the kernel places it, with its old alignment, in
 * the DRAM bank it was in.
 *
 * @module
 */
import { PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { CMA_MIN_ALIGNMENT_BYTES, memparse, type ReservedMemNode } from "@umm/mm-cma";
import type { BoardDescription } from "@umm/soc";
import { readBoardArg } from "../board-arg.js";
import { CmaPlanError } from "./workload.js";

/**
 * The board `spec` names (see `readBoardArg`). Throws `CmaPlanError` naming the problem.
 */
export function loadBoard(spec: string): BoardDescription {
  return readBoardArg(spec, (m) => new CmaPlanError(m));
}

/** Where a board declares a CMA region, and how it may be resized. */
export interface CmaPlanRegionDecl {
  /** the region's name (as the machine's stats and the workloads name it) */
  readonly region: string;
  /** a `/reserved-memory` node, an entry of the 2010 `cma=` list, or the merged `cma=` area */
  readonly kind: "reserved-memory" | "cma-2010" | "cma-merged";
  /** bytes, as declared */
  readonly size: number;
  /** its pages serve movable allocations while free: its size is a multiple of 4 MiB pageblocks */
  readonly reusable: boolean;
  /** it has a fixed place (`reg`, `@start`) */
  readonly placed: boolean;
}

/** The merged `cma=` default area's name (`dma_contiguous_reserve`). */
const MERGED_AREA = "reserved";

/** Splits the 2010 `cma=` list into `name=` entries. */
const cma2010Entries = (cma: string): string[] => cma.split(";").filter((e) => e !== "");

/** The size field of a 2010 `cma=` entry, `name=SIZE[@start][/align][:alloc]`: [start, end). */
function entrySize(entry: string): [number, number] {
  const eq = entry.indexOf("=");
  return [eq + 1, memparse(entry, eq + 1).end];
}

/** A byte count as `cma=` writes it: `64M`, `512K` or bytes. */
export function cmdlineSize(size: number): string {
  if (size % SZ_1M === 0) return `${size / SZ_1M}M`;
  if (size % 1024 === 0) return `${size / 1024}K`;
  return String(size);
}

/** Where `board` declares region `name`, or null when it does not (a PMM pool, say). */
export function boardRegionDecl(board: BoardDescription, name: string): CmaPlanRegionDecl | null {
  const node = board.reservedMemory.find((n) => n.name === name);
  if (node) {
    return {
      region: name,
      kind: "reserved-memory",
      size: node.reg?.size ?? node.size ?? 0,
      reusable: node.reusable === true,
      placed: node.reg !== undefined,
    };
  }
  const cma = board.cmdline.cma;
  if (cma === undefined) return null;
  if (cma.includes("=")) {
    const entry = cma2010Entries(cma).find((e) => e.slice(0, e.indexOf("=")) === name);
    if (!entry) return null;
    const [a, b] = entrySize(entry);
    return {
      region: name,
      kind: "cma-2010",
      size: Math.ceil(memparse(entry.slice(a, b), 0).value / PAGE_SIZE) * PAGE_SIZE,
      reusable: false,
      placed: entry[b] === "@",
    };
  }
  if (name !== MERGED_AREA) return null;
  const m = memparse(cma, 0);
  return { region: name, kind: "cma-merged", size: m.value, reusable: true, placed: cma[m.end] === "@" };
}

/**
 * The granule the smallest-size search steps in for `decl`: a pageblock multiple for a reusable
 * region (4 MiB, `CMA_MIN_ALIGNMENT_BYTES`, or `step` rounded up to one), else `step` (default
 * 1 MiB) rounded up to a page.
 */
export function regionSizeStep(decl: CmaPlanRegionDecl, step?: number): number {
  if (decl.reusable)
    return Math.ceil((step ?? CMA_MIN_ALIGNMENT_BYTES) / CMA_MIN_ALIGNMENT_BYTES) * CMA_MIN_ALIGNMENT_BYTES;
  return Math.ceil((step ?? SZ_1M) / PAGE_SIZE) * PAGE_SIZE;
}

/** The bank of `board` holding `addr` as an `alloc-ranges` entry. */
function bankOf(board: BoardDescription, addr: number): { base: number; size: number }[] {
  const b = board.banks.find((x) => addr >= x.start && addr < x.start + x.size);
  return b ? [{ base: b.start, size: b.size }] : [];
}

/** The largest power of two dividing `base` (0: none), capped at 4 MiB. */
const placedAlign = (base: number): number => {
  let a = PAGE_SIZE;
  while (a < CMA_MIN_ALIGNMENT_BYTES && base % (a * 2) === 0) a *= 2;
  return a;
};

/**
 * `board` with region `name` resized to `size` bytes (a plain copy; the original is untouched).
 * With `relocate`, a placed region loses its place: a `reg` node becomes a `size` node
 * (alignment: the old base's, at most 4 MiB; allocated in its old bank), a 2010 entry loses its
 * `@start`, the merged area its `@base`. Throws `CmaPlanError` when the board does not declare
 * the region.
 */
export function resizeBoardRegion(
  board: BoardDescription,
  name: string,
  size: number,
  opts: { readonly relocate?: boolean } = {},
): BoardDescription {
  const decl = boardRegionDecl(board, name);
  if (!decl)
    throw new CmaPlanError(`board ${board.name} declares no resizable CMA region ${JSON.stringify(name)}`);
  if (!Number.isSafeInteger(size) || size <= 0)
    throw new CmaPlanError(`region ${name}: size ${size} is not positive`);
  const copy = structuredClone(board) as BoardDescription;
  const relocate = opts.relocate === true;
  if (decl.kind === "reserved-memory") {
    const nodes = copy.reservedMemory.map((n): ReservedMemNode => {
      if (n.name !== name) return n;
      if (!n.reg) return { ...n, size };
      if (!relocate) return { ...n, reg: { base: n.reg.base, size } };
      const { reg, ...rest } = n;
      return {
        ...rest,
        size,
        alignment: n.reusable ? CMA_MIN_ALIGNMENT_BYTES : placedAlign(reg.base),
        allocRanges: bankOf(board, reg.base),
      };
    });
    return { ...copy, reservedMemory: nodes };
  }
  const cma = copy.cmdline.cma!;
  let next: string;
  if (decl.kind === "cma-2010") {
    next = cma2010Entries(cma)
      .map((e) => {
        if (e.slice(0, e.indexOf("=")) !== name) return e;
        const [a, b] = entrySize(e);
        let rest = e.slice(b);
        if (relocate && rest.startsWith("@")) rest = rest.replace(/^@[^/:]*/, "");
        return `${e.slice(0, a)}${cmdlineSize(size)}${rest}`;
      })
      .join(";");
  } else {
    const m = memparse(cma, 0);
    next = `${cmdlineSize(size)}${relocate ? "" : cma.slice(m.end)}`;
  }
  return { ...copy, cmdline: { ...copy.cmdline, cma: next } };
}
