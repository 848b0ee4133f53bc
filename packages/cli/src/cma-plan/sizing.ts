/**
 * The smallest size of one CMA region with which a workload replays without a failure in it: a
 * search over sizes in the region's granule (pageblocks for reusable regions), each candidate
 * replayed on the board with that region resized (`resizeBoardRegion`). The answer is checked by
 * replay on both sides: the size it returns succeeded, and one granule less failed.
 *
 * @module
 */
import { formatSize, isKernelError, type Seed } from "@umm/kernel-core";
import type { BoardDescription } from "@umm/soc";
import { boardRegionDecl, regionSizeStep, resizeBoardRegion } from "./board.js";
import { bootForPlan, replayOn } from "./replay.js";
import type { CmaPlanWorkload } from "./workload.js";

/** One candidate size the search replayed. */
export interface CmaPlanProbe {
  /** bytes */
  readonly size: number;
  /** "ok": no failure in the region; "fail": some; "no-room": the board cannot hold the region at this size */
  readonly result: "ok" | "fail" | "no-room";
  /** the region had to leave its fixed place to fit */
  readonly relocated: boolean;
}

/** The answer of `smallestRegionSize`. */
export interface CmaPlanSizing {
  readonly region: string;
  /** the board declares the region where it can be resized (false: a PMM pool, say; no search) */
  readonly resizable: boolean;
  /** bytes, as the board declares it */
  readonly boardSize: number;
  /** the granule searched in, bytes */
  readonly step: number;
  /** the smallest size that replayed without a failure in the region, or null when none was found */
  readonly smallest: number | null;
  /** the size one granule below `smallest` that was replayed and failed (null when `smallest` is one granule or 0) */
  readonly failsAt: number | null;
  /** `smallest` needed the region moved from its fixed place */
  readonly relocated: boolean;
  /** the sizes replayed, in order (the board's own size is not among them) */
  readonly probes: readonly CmaPlanProbe[];
  /** why there is no answer, or what to know about it */
  readonly note: string | null;
}

/** Options of `smallestRegionSize`. */
export interface SmallestRegionSizeOpts {
  /** seed of the booted kernels (default 1) */
  readonly seed?: Seed;
  /** search granule in bytes (default: 4 MiB for reusable regions, 1 MiB for others) */
  readonly step?: number;
  /**
   * What the replay on the board as it is found for this region, when the caller has it (saves a
   * replay): its failures and peak use in bytes.
   */
  readonly atBoardSize?: { readonly failures: number; readonly peakUsed: number };
}

/**
 * Finds the smallest size of `region` with which `workload` replays on `board` with no failed
 * allocation trying that region (other regions keep their sizes; their failures do not count).
 * Searches up from the board's size when it fails (doubling the distance, then bisecting), down
 * when it succeeds (from the peak use, which no smaller region can hold), in granules of `step`;
 * then replays the granule below the answer when the search had not. A region with a fixed place
 * is moved when it no longer fits there. A region the board does not declare where it can be
 * resized (a PMM pool, see `boardRegionDecl`) gets `resizable: false` and no search. Throws
 * `CmaPlanError` for a step the board cannot route.
 */
export function smallestRegionSize(
  board: BoardDescription,
  workload: CmaPlanWorkload,
  region: string,
  opts: SmallestRegionSizeOpts = {},
): CmaPlanSizing {
  const decl = boardRegionDecl(board, region);
  if (!decl) {
    return {
      region,
      resizable: false,
      boardSize: 0,
      step: 0,
      smallest: null,
      failsAt: null,
      relocated: false,
      probes: [],
      note: `board ${board.name} declares no resizable region ${region} (not a reserved-memory node or a cma= region)`,
    };
  }
  const seed = opts.seed ?? 1;
  const step = regionSizeStep(decl, opts.step);
  const probes: CmaPlanProbe[] = [];
  const results = new Map<number, CmaPlanProbe>();

  const replayFails = (b: BoardDescription): boolean | null => {
    let m: ReturnType<typeof bootForPlan>;
    try {
      m = bootForPlan(b, seed);
    } catch (e) {
      if (isKernelError(e)) return null; // the board has no room for the region at this size
      throw e;
    }
    try {
      const r = replayOn(m, workload, { seed, intervals: false, stopOnFailureIn: region });
      return r.failures.some((f) => f.regions.some((x) => x.name === region));
    } finally {
      m.shutdown();
    }
  };
  const probe = (size: number): CmaPlanProbe => {
    const known = results.get(size);
    if (known) return known;
    let relocated = false;
    let fails = replayFails(resizeBoardRegion(board, region, size));
    if (fails === null && decl.placed) {
      relocated = true;
      fails = replayFails(resizeBoardRegion(board, region, size, { relocate: true }));
    }
    const p: CmaPlanProbe = { size, result: fails === null ? "no-room" : fails ? "fail" : "ok", relocated };
    probes.push(p);
    results.set(size, p);
    return p;
  };

  const at =
    opts.atBoardSize ??
    (() => {
      const m = bootForPlan(board, seed);
      try {
        const r = replayOn(m, workload, { seed, intervals: false });
        const mine = r.regions.find((x) => x.name === region);
        return { failures: mine?.failures ?? 0, peakUsed: mine?.peakUsed ?? 0 };
      } finally {
        m.shutdown();
      }
    })();
  const boardOk = at.failures === 0;
  const done = (smallest: number | null, note: string | null): CmaPlanSizing => {
    const below = smallest === null ? null : Math.ceil(smallest / step) * step - step;
    const failsAt = below !== null && below > 0 && results.get(below)?.result === "fail" ? below : null;
    return {
      region,
      resizable: true,
      boardSize: decl.size,
      step,
      smallest,
      failsAt,
      relocated: smallest !== null && results.get(smallest)?.relocated === true,
      probes,
      note,
    };
  };
  if (boardOk && at.peakUsed === 0) return done(0, "the workload does not use it");

  // lo: a size that fails (0 always does); hi: a size that succeeds
  let lo: number;
  let hi: number | null;
  if (boardOk) {
    hi = decl.size;
    lo = Math.min((Math.ceil(at.peakUsed / step) - 1) * step, Math.ceil(decl.size / step) * step - step);
  } else {
    lo = decl.size;
    hi = null;
    let d = step;
    let roof: number | null = null; // a size the board has no room for
    while (hi === null) {
      const cand: number =
        roof === null ? Math.floor(lo / step) * step + d : lo + Math.floor((roof - lo) / step / 2) * step;
      if (roof !== null && cand <= lo) {
        return done(
          null,
          `no size up to ${formatSize(lo)} (the most board ${board.name} has room for) replays without a failure`,
        );
      }
      const p = probe(cand);
      if (p.result === "ok") hi = cand;
      else if (p.result === "fail") {
        lo = cand;
        if (roof === null) d *= 2;
      } else roof = cand;
    }
  }
  let top: number = hi!;
  for (;;) {
    // bisect the granules strictly between lo and top
    for (;;) {
      const kLo = Math.floor(lo / step) + 1;
      const kHi = Math.ceil(top / step) - 1;
      if (kLo > kHi) break;
      const mid = Math.floor((kLo + kHi) / 2) * step;
      if (probe(mid).result === "ok") top = mid;
      else lo = mid;
    }
    // the granule below the answer must have been replayed (not only presumed from the peak)
    const below = Math.ceil(top / step) * step - step;
    if (below <= 0 || results.has(below)) break;
    if (probe(below).result === "ok") {
      top = below;
      lo = 0;
    } else break;
  }
  return done(top, null);
}
