/**
 * The built-in workloads of `umm cma-plan`:
 *
 * - `demo`: what one run of `umm demo` allocates (the programs of `src/demo/pipeline.ts` and the
 *   drivers under them): the MFC driver's firmware at probe; the camera application's four NV12
 *   capture buffers (V4L2 MMAP buffers of the FIMC camera interface, which vb2-dma-contig takes
 *   with `dma_alloc_coherent` on fimc0); the compositor's three XRGB8888 scanout buffers from the
 *   CMA dma-heap. The scaler and the display import those buffers (DMABUF, PRIME) and allocate
 *   nothing. The camera and the display run at 1080p.
 * - `churn-10h`: ten hours of the same stack restarting, drawn from a seed: camera sessions at
 *   720p, 1080p and 4K, compositor restarts, and MFC decoder sessions at 720p and 1080p.
 *
 * Steps ask as the drivers and programs do: 2010 `cma_alloc(dev, type)` where umm's MFC driver
 * uses it (firmware, context, DPB), `via: "dma"` for vb2 buffers, `via: "heap"` for the heap. So
 * the replay finds, board by board, whether a buffer comes from CMA at all: on the Exynos4210
 * every media device sits behind a System MMU, and its vb2 buffers come from scattered pages.
 *
 * Frame sizes as in workloads-and-costs §5: NV12 1080p 1920 × 1080 × 1.5 = 3,110,400 B, NV12 4K
 * 12,441,600 B; likewise NV12 720p 1,382,400 B and XRGB8888 1080p 1920 × 1080 × 4 = 8,294,400 B.
 *
 * @module
 */
import { PAGE_SIZE, Prng, type Seed } from "@umm/kernel-core";
import {
  CmaPlanError,
  type CmaPlanStep,
  type CmaPlanVia,
  type CmaPlanWorkload,
  checkWorkloadSteps,
} from "./workload.js";

/** A picture size. */
export interface CmaPlanResolution {
  /** "720p", "1080p", "4K" */
  readonly name: string;
  readonly width: number;
  readonly height: number;
}

/** 1280 × 720. */
export const RES_720P: CmaPlanResolution = Object.freeze({ name: "720p", width: 1280, height: 720 });
/** 1920 × 1080. */
export const RES_1080P: CmaPlanResolution = Object.freeze({ name: "1080p", width: 1920, height: 1080 });
/** 3840 × 2160. */
export const RES_4K: CmaPlanResolution = Object.freeze({ name: "4K", width: 3840, height: 2160 });

/** Bytes of an NV12 frame (Y, then interleaved CbCr at half resolution): 3,110,400 at 1080p. */
export function nv12Size(r: CmaPlanResolution): number {
  return (r.width * r.height * 3) / 2;
}

/** Bytes of an XRGB8888 frame: 8,294,400 at 1080p. */
export function xrgbSize(r: CmaPlanResolution): number {
  return r.width * r.height * 4;
}

/** The MFC firmware buffer: 512 KiB (plat-s5p-media's `MFC_FW_BUF_SIZE`), from the "f" kind. */
export const MFC_FW_SIZE = 512 * 1024;
/** Alignment of the MFC firmware buffer (`MFC_FW_BUF_ALIGN`): 128 KiB. */
export const MFC_FW_ALIGN = 128 * 1024;
/** One MFC instance's context buffer in bank A (`MFC_CTX_BUF_SIZE`): 128 KiB. */
export const MFC_CTX_SIZE = 128 * 1024;
/** Alignment of MFC context buffers and DPBs (`MFC_CTX_BUF_ALIGN`, `MFC_DPB_ALIGN`): 8 KiB. */
export const MFC_BUF_ALIGN = 8 * 1024;
/**
 * The MFC decoder's bitstream (OUTPUT) buffer: the worst coded 1920 × 1088 frame of umm's codec
 * (a 32-byte header, the planes and a byte of flags per 128), page-aligned, as plat-s5p-media's
 * `MFC_CODED_BUF_SIZE` (3,158,016 B).
 */
export const MFC_BITSTREAM_SIZE = (() => {
  const ys = 1920 * 1088;
  const uvs = ys / 2;
  const n = 32 + ys + Math.ceil(ys / 128) + uvs + Math.ceil(uvs / 128);
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
})();

/** The MFC decoder's DPB in bank B: one NV12 frame of the stream, page-aligned (`ensureDpb`). */
export function mfcDpbSize(r: CmaPlanResolution): number {
  return Math.ceil(nv12Size(r) / PAGE_SIZE) * PAGE_SIZE;
}

const MS = 1e6;
const SEC = 1e9;
/** The test-pattern sensor's frame interval: 30 frames a second. */
const FRAME = SEC / 30;

/** Collects steps from several tracks and orders them by time (then by creation). */
class Timeline {
  readonly #steps: { s: CmaPlanStep; seq: number }[] = [];

  /** A step of `cma_alloc` (2010, by `type` through the map) or of `via`. */
  alloc(
    t: number,
    id: string,
    dev: string,
    size: number,
    how: { readonly type?: string; readonly align?: number } | CmaPlanVia,
  ): void {
    const s: CmaPlanStep =
      typeof how === "string"
        ? { t, op: "alloc", id, dev, size, align: 0, via: how }
        : {
            t,
            op: "alloc",
            id,
            dev,
            size,
            align: how.align ?? 0,
            ...(how.type === undefined ? {} : { type: how.type }),
          };
    this.#steps.push({ s, seq: this.#steps.length });
  }

  free(t: number, id: string): void {
    this.#steps.push({ s: { t, op: "free", id, dev: "", size: 0, align: 0 }, seq: this.#steps.length });
  }

  steps(): CmaPlanStep[] {
    return this.#steps.sort((a, b) => a.s.t - b.s.t || a.seq - b.seq).map((x) => x.s);
  }
}

/** The ids of one group of buffers, allocated together and freed together. */
class Group {
  readonly ids: string[] = [];
  readonly tl: Timeline;
  readonly prefix: string;

  constructor(tl: Timeline, prefix: string) {
    this.tl = tl;
    this.prefix = prefix;
  }

  alloc(
    t: number,
    n: number,
    dev: string,
    size: number,
    how: { readonly type?: string; readonly align?: number } | CmaPlanVia,
  ): void {
    for (let i = 0; i < n; i++) {
      const id = `${this.prefix}${this.ids.length}`;
      this.ids.push(id);
      this.tl.alloc(t, id, dev, size, how);
    }
  }

  freeAll(t: number): void {
    for (const id of this.ids.splice(0)) this.tl.free(t, id);
  }
}

/** Camera buffers of the demo (`PipelineConfig.cameraBuffers`' default). */
const DEMO_CAMERA_BUFFERS = 4;
/** Scanout buffers of the demo's compositor (`PipelineConfig.displayBuffers`' default and least). */
const DEMO_SCANOUT_BUFFERS = 3;
/** Frames the built-in demo workload runs for: `umm demo`'s default (`DEMO_DEFAULT_FRAMES`). */
const DEMO_FRAMES = 120;
/** Bitstream (OUTPUT) buffers of a decoder session. */
const DECODER_BITSTREAM_BUFFERS = 2;

/** The camera application's capture buffers: `REQBUFS` on fimc0, vb2-dma-contig. */
function capture(g: Group, t: number, r: CmaPlanResolution): void {
  g.alloc(t, DEMO_CAMERA_BUFFERS, "fimc0", nv12Size(r), "dma");
}

/** The compositor's scanout buffers from the CMA heap, at the display's 1080p. */
function scanouts(g: Group, t: number): void {
  g.alloc(t, DEMO_SCANOUT_BUFFERS, "compositor", xrgbSize(RES_1080P), "heap");
}

/**
 * The `demo` workload: one run of `umm demo` at 1080p. At probe the MFC driver takes its
 * firmware (512 KiB, kind "f"); the camera application asks fimc0 for four NV12 capture buffers
 * (3,110,400 B each, `dma_alloc_coherent`); the compositor takes three XRGB8888 scanout buffers
 * (8,294,400 B each) from the CMA heap. All of them live while the pipeline shows its frames (120,
 * `umm demo`'s default: 4 s at the sensor's 30 fps; the count moves only the time axis). Then the programs exit
 * and free their buffers, and the firmware goes when the machine shuts down.
 */
export function demoWorkload(): CmaPlanWorkload {
  const tl = new Timeline();
  tl.alloc(0, "mfc-fw", "mfc", MFC_FW_SIZE, { type: "f", align: MFC_FW_ALIGN });
  const cam = new Group(tl, "cap");
  capture(cam, 0, RES_1080P);
  const out = new Group(tl, "scanout");
  scanouts(out, 0);
  const end = Math.round((DEMO_FRAMES + 1) * FRAME);
  out.freeAll(end);
  cam.freeAll(end);
  tl.free(end + Math.round(FRAME), "mfc-fw");
  return {
    name: "demo",
    description:
      "umm demo at 1080p: MFC firmware, camera 4 × NV12 (dma_alloc_coherent on fimc0), compositor 3 × XRGB8888 scanout (CMA heap)",
    steps: checkWorkloadSteps(tl.steps(), "demo"),
  };
}

/** Options of `churnWorkload`. */
export interface ChurnWorkloadOpts {
  /** seed of every random choice (default 1) */
  readonly seed?: Seed;
  /** virtual ns the churn lasts (default 10 hours) */
  readonly duration?: number;
}

function pick<T>(rng: Prng, items: readonly (readonly [T, number])[]): T {
  const total = items.reduce((n, [, w]) => n + w, 0);
  let x = rng.next() * total;
  for (const [v, w] of items) {
    x -= w;
    if (x < 0) return v;
  }
  return items[items.length - 1]![0];
}

/** A random time in [lo, hi] ns, in whole ms (lo when the range holds no whole ms). */
function between(rng: Prng, lo: number, hi: number): number {
  const a = Math.ceil(lo / MS);
  const b = Math.floor(hi / MS);
  return b > a ? rng.int(a, b) * MS : a * MS;
}

const CAMERA_RES: readonly (readonly [CmaPlanResolution, number])[] = [
  [RES_720P, 3],
  [RES_1080P, 5],
  [RES_4K, 2],
];
/** The MFC v5 decodes up to 1920 × 1088: its streams are 720p or 1080p. */
const DECODER_RES: readonly (readonly [CmaPlanResolution, number])[] = [
  [RES_720P, 4],
  [RES_1080P, 6],
];

/** A decoder's CAPTURE buffers: NV12M, the luma and the chroma plane each its own allocation. */
function decoded(g: Group, t: number, n: number, r: CmaPlanResolution): void {
  for (let i = 0; i < n; i++) {
    g.alloc(t, 1, "mfc", r.width * r.height, "dma");
    g.alloc(t, 1, "mfc", (r.width * r.height) / 2, "dma");
  }
}

/**
 * The `churn-10h` workload: ten hours (or `duration`) of the demo's stack and a video decoder,
 * deterministic from `seed`. Three independent tracks, merged by time:
 *
 * - compositor: three 1080p XRGB8888 scanout buffers from the CMA heap, taken again when the
 *   compositor restarts (every 1 to 3 hours);
 * - camera: sessions of 10 s to 10 min with 2 to 60 s between them, each with four NV12 capture
 *   buffers on fimc0 at 720p, 1080p or 4K (weights 3 : 5 : 2); in 40 % of them the camera changes
 *   resolution part way (the buffers are freed and taken again at another size);
 * - decoder (umm's MFC, s5p-mfc-dec): sessions of 20 s to 15 min with 3 s to 2 min between them:
 *   a context (kind "a") at open, two bitstream buffers, 4 to 8 NV12M pictures (two planes each;
 *   vb2 buffers, `via: "dma"`) and a DPB (kind "b") at 720p or 1080p (weights 4 : 6); in 30 % the
 *   stream changes resolution part way (new pictures; a new DPB when the frame grew);
 *
 * plus the MFC firmware for the whole run. Everything is freed at the end.
 */
export function churnWorkload(opts: ChurnWorkloadOpts = {}): CmaPlanWorkload {
  const seed = opts.seed ?? 1;
  const end = opts.duration ?? 10 * 3600 * SEC;
  if (!Number.isSafeInteger(end) || end < 60 * SEC) {
    throw new CmaPlanError(
      `churn workload: duration ${end} ns is not a whole number of ns of at least a minute`,
    );
  }
  const root = new Prng(seed);
  const tl = new Timeline();
  tl.alloc(0, "mfc-fw", "mfc", MFC_FW_SIZE, { type: "f", align: MFC_FW_ALIGN });

  // compositor
  {
    const rng = root.fork("display");
    let t = 500 * MS;
    let gen = 0;
    for (;;) {
      const g = new Group(tl, `comp${gen++}-scanout`);
      scanouts(g, t);
      const next = t + between(rng, 3600 * SEC, 3 * 3600 * SEC);
      if (next >= end) {
        g.freeAll(end);
        break;
      }
      g.freeAll(next);
      t = next + 200 * MS;
    }
  }

  // camera
  {
    const rng = root.fork("camera");
    let t = SEC;
    let n = 0;
    while (t + SEC < end) {
      const cap = new Group(tl, `cam${n++}-cap`);
      let res = pick(rng, CAMERA_RES);
      capture(cap, t, res);
      const stop = Math.min(t + between(rng, 10 * SEC, 600 * SEC), end);
      if (rng.chance(0.4)) {
        const tc = between(rng, t + (stop - t) * 0.2, t + (stop - t) * 0.8);
        if (tc > t + 5 * MS && tc + MS < stop) {
          const was = res;
          res = pick(
            rng,
            CAMERA_RES.filter(([r]) => r !== was),
          );
          cap.freeAll(tc);
          capture(cap, tc + MS, res);
        }
      }
      cap.freeAll(stop);
      t = stop + between(rng, 2 * SEC, 60 * SEC);
    }
  }

  // decoder
  {
    const rng = root.fork("decoder");
    let t = 2 * SEC;
    let n = 0;
    while (t + SEC < end) {
      const s = n++;
      const ctx = new Group(tl, `dec${s}-ctx`);
      const bs = new Group(tl, `dec${s}-bitstream`);
      const pics = new Group(tl, `dec${s}-pic`);
      const dpb = new Group(tl, `dec${s}-dpb`);
      let res = pick(rng, DECODER_RES);
      ctx.alloc(t, 1, "mfc", MFC_CTX_SIZE, { type: "a", align: MFC_BUF_ALIGN });
      bs.alloc(t + MS, DECODER_BITSTREAM_BUFFERS, "mfc", MFC_BITSTREAM_SIZE, "dma");
      decoded(pics, t + 2 * MS, rng.int(4, 8), res);
      dpb.alloc(t + 3 * MS, 1, "mfc", mfcDpbSize(res), { type: "b", align: MFC_BUF_ALIGN });
      const stop = Math.min(t + between(rng, 20 * SEC, 900 * SEC), end);
      if (rng.chance(0.3)) {
        const tc = between(rng, t + (stop - t) * 0.2, t + (stop - t) * 0.8);
        if (tc > t + 3 * MS && tc + 2 * MS < stop) {
          const was = res;
          res = pick(
            rng,
            DECODER_RES.filter(([r]) => r !== was),
          );
          pics.freeAll(tc);
          decoded(pics, tc + MS, rng.int(4, 8), res);
          // the driver keeps a DPB that is big enough, and replaces a smaller one
          if (mfcDpbSize(res) > mfcDpbSize(was)) {
            dpb.freeAll(tc + 2 * MS);
            dpb.alloc(tc + 2 * MS, 1, "mfc", mfcDpbSize(res), { type: "b", align: MFC_BUF_ALIGN });
          }
        }
      }
      pics.freeAll(stop);
      bs.freeAll(stop);
      dpb.freeAll(stop);
      ctx.freeAll(stop);
      t = stop + between(rng, 3 * SEC, 120 * SEC);
    }
  }
  tl.free(end, "mfc-fw");
  const hours = end / (3600 * SEC);
  return {
    name: end === 10 * 3600 * SEC ? "churn-10h" : `churn-${Number(hours.toFixed(3))}h`,
    description: `${Number(hours.toFixed(3))} h of camera (720p/1080p/4K), compositor and MFC decoder (720p/1080p) churn, seed ${String(seed)}`,
    steps: checkWorkloadSteps(tl.steps(), "churn"),
  };
}

/** Names of the built-in workloads. */
export const BUILTIN_WORKLOADS: readonly string[] = Object.freeze(["demo", "churn-10h"]);

/** The built-in workload `name` (`demo`, `churn-10h`), or null when there is none of that name. */
export function builtinWorkload(name: string, seed: Seed = 1): CmaPlanWorkload | null {
  if (name === "demo") return demoWorkload();
  if (name === "churn-10h") return churnWorkload({ seed });
  return null;
}
