/**
 * The MFC's V4L2 mem2mem drivers (s5p-mfc/s5p_mfc_dec.c, s5p_mfc_enc.c), both multi-planar and
 * both scheduling on the one MFC through a shared mem2mem job queue:
 *
 * - **decoder** (`s5p-mfc-dec`): OUTPUT = UMMV bitstream, one frame per buffer (`bytesused` its
 *   size); CAPTURE = NV12M. The first bitstream buffer queued after STREAMON(OUTPUT) has its
 *   header parsed by the MFC, which sets the CAPTURE format to the stream's size (G_FMT then
 *   tells it, as a stateful decoder's initialization does); a decoded frame keeps its picture in
 *   the instance's DPB (bank B) as the next P frame's reference.
 * - **encoder** (`s5p-mfc-enc`): OUTPUT = NV12M; CAPTURE = UMMV, one frame per buffer, sized
 *   for the worst case of the OUTPUT format. An I frame every `MFC_ENC_GOP_SIZE` frames (and
 *   after each STREAMON), P frames against the previous frame kept in the DPB;
 *   V4L2_BUF_FLAG_KEYFRAME / PFRAME on the coded buffers.
 *
 * Each open file is an instance with a context buffer in bank A (allocated at open, freed at
 * close) and a DPB in bank B (allocated at STREAMON of the raw side, freed at close).
 *
 * v4l2-videobuf's format table knows only raw formats, so the coded side has no G/S/TRY_FMT
 * (EINVAL) and no ENUM_FMT entry; its buffers are sized by the driver
 * (`MFC_CODED_BUF_SIZE` for the decoder, the OUTPUT format's worst case for the encoder).
 *
 * @module
 */
import { DMA_BIDIRECTIONAL } from "@umm/dma-mapping-arm";
import { alignUp, type Kernel, KernelError, PAGE_SIZE } from "@umm/kernel-core";
import {
  V4L2_BUF_FLAG_KEYFRAME,
  V4L2_BUF_FLAG_PFRAME,
  V4L2_BUF_FLAG_TIMESTAMP_COPY,
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_M2M_MPLANE,
  V4L2_PIX_FMT_NV12M,
  type V4l2Fh,
  type V4l2Format,
  type V4l2M2mCtx,
  VB2_DMABUF,
  VB2_MMAP,
  VB2_USERPTR,
  type Vb2Buffer,
  Vb2BufferState,
  type Vb2Ops,
  type Vb2Queue,
  type VideoDevice,
  v4l2DeviceRegister,
  v4l2DeviceUnregister,
  v4l2FillPixFormatMplane,
  v4l2FormatPlaneSizes,
  v4l2Fourcc,
  v4l2M2mBufCopyMetadata,
  v4l2M2mBufQueue,
  v4l2M2mDstBufRemove,
  v4l2M2mGetDstVq,
  v4l2M2mJobFinish,
  v4l2M2mNextDstBuf,
  v4l2M2mNextSrcBuf,
  v4l2M2mSrcBufRemove,
  vb2BufferDone,
  vb2DmaContigMemops,
  vb2DmaContigPlaneDmaAddr,
  vb2GetPlanePayload,
  vb2IsBusy,
  vb2PlaneSize,
  vb2QueueInit,
  vb2SetPlanePayload,
} from "@umm/v4l2-videobuf";
import { UMMV_FRAME_I, UMMV_HEADER_SIZE, ummvMaxFrameSize } from "./codec.js";
import { mediaWarn } from "./common.js";
import type { Mfc, MfcBuf } from "./mfc.js";
import { MFC_CTX_BUF_ALIGN, MFC_CTX_BUF_SIZE, MFC_DPB_ALIGN, type MfcResult } from "./mfc-hw.js";

/** `V4L2_PIX_FMT_UMMV` ("UMMV"): the MFC model's bitstream format. */
export const V4L2_PIX_FMT_UMMV = v4l2Fourcc("UMMV");
/** The widest picture the MFC v5 codes. */
export const MFC_MAX_WIDTH = 1920;
/** The tallest picture the MFC v5 codes. */
export const MFC_MAX_HEIGHT = 1088;
/** Bytes of a decoder bitstream buffer: the worst-case UMMV frame of the largest picture. */
export const MFC_CODED_BUF_SIZE = alignUp(ummvMaxFrameSize(MFC_MAX_WIDTH, MFC_MAX_HEIGHT), PAGE_SIZE);
/** The encoder's key-frame interval. */
export const MFC_ENC_GOP_SIZE = 8;

const OUT = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;

/** One open decoder or encoder file: an MFC instance. */
export class MfcCtx {
  /** the MFC */
  readonly mfc: Mfc;
  /** the file handle */
  readonly fh: V4l2Fh;
  /** which node it was opened on */
  readonly role: "decoder" | "encoder";
  /** the instance context buffer (bank A) */
  ctxBuf: MfcBuf | null = null;
  /** the decoded / reference picture buffer (bank B) */
  dpb: MfcBuf | null = null;
  /** the picture width the instance codes (0 until known) */
  width = 0;
  /** the picture height (0 until known) */
  height = 0;
  /** decoder: the stream header was parsed */
  headerParsed = false;
  /** the DPB holds a reference picture */
  haveRef = false;
  /** frames coded since the last STREAMON of the raw side (encoder: the next frame number) */
  frames = 0;
  /** `sequence` of the next buffers returned */
  seq = 0;

  /** @internal */
  constructor(mfc: Mfc, fh: V4l2Fh, role: "decoder" | "encoder") {
    this.mfc = mfc;
    this.fh = fh;
    this.role = role;
  }
}

function ctxOf(fh: V4l2Fh): MfcCtx {
  const c = fh.drvPriv;
  if (!(c instanceof MfcCtx)) throw new KernelError("EINVAL", `${fh.vdev.path}: not an MFC instance`);
  return c;
}

function rawFormat(width: number, height: number): V4l2Format {
  return { type: CAP, fmt: { pix_mp: v4l2FillPixFormatMplane(V4L2_PIX_FMT_NV12M, width, height) } };
}

/** Gives back every buffer of `q` the driver holds, in `state`. */
function returnAll(
  ctx: V4l2M2mCtx,
  q: Vb2Queue,
  state: typeof Vb2BufferState.QUEUED | typeof Vb2BufferState.ERROR,
): void {
  for (;;) {
    const vb = q.isOutput ? v4l2M2mSrcBufRemove(ctx) : v4l2M2mDstBufRemove(ctx);
    if (!vb) break;
    vb2BufferDone(vb, state);
  }
}

function checkRawPlanes(ctx: MfcCtx, vb: Vb2Buffer, sizes: readonly number[], setPayload: boolean): void {
  if (vb.numPlanes !== sizes.length) {
    throw new KernelError(
      "EINVAL",
      `${ctx.mfc.dev.name}: buffer of ${vb.numPlanes} planes, format of ${sizes.length}`,
    );
  }
  for (let p = 0; p < sizes.length; p++) {
    if (vb2PlaneSize(vb, p) < sizes[p]!) {
      throw new KernelError(
        "EINVAL",
        `${ctx.mfc.dev.name}: plane ${p} of ${vb2PlaneSize(vb, p)} bytes is smaller than ${sizes[p]}`,
      );
    }
    if (setPayload) vb2SetPlanePayload(vb, p, sizes[p]!);
  }
}

/** The DPB for the context's size, (re)allocated when the size changed. */
function ensureDpb(ctx: MfcCtx): void {
  const need = alignUp((ctx.width * ctx.height * 3) / 2, PAGE_SIZE);
  if (ctx.dpb && ctx.dpb.size >= need) return;
  if (ctx.dpb) ctx.mfc.free(ctx.dpb);
  ctx.dpb = null;
  ctx.dpb = ctx.mfc.alloc("b", need, MFC_DPB_ALIGN, DMA_BIDIRECTIONAL, "dpb");
  ctx.haveRef = false;
}

/** The running instance of the MFC (one job at a time). */
const running = new WeakMap<Mfc, MfcCtx>();

function finishJob(ctx: MfcCtx, r: MfcResult | null): void {
  const mfc = ctx.mfc;
  running.delete(mfc);
  const m2mCtx = ctx.fh.m2mCtx!;
  const src = v4l2M2mSrcBufRemove(m2mCtx)!;
  const dst = v4l2M2mDstBufRemove(m2mCtx)!;
  v4l2M2mBufCopyMetadata(src, dst, false);
  src.sequence = ctx.seq;
  dst.sequence = ctx.seq;
  ctx.seq++;
  let ok = false;
  if (r?.ok) {
    ok = true;
    ctx.haveRef = true;
    ctx.frames++;
    const type = r.op === "encode" ? r.frameType : r.header.type;
    dst.flags =
      (dst.flags & ~(V4L2_BUF_FLAG_KEYFRAME | V4L2_BUF_FLAG_PFRAME)) |
      (type === UMMV_FRAME_I ? V4L2_BUF_FLAG_KEYFRAME : V4L2_BUF_FLAG_PFRAME);
    if (r.op === "encode") vb2SetPlanePayload(dst, 0, r.bytes);
    else {
      vb2SetPlanePayload(dst, 0, ctx.width * ctx.height);
      vb2SetPlanePayload(dst, 1, (ctx.width * ctx.height) / 2);
    }
  } else {
    ctx.haveRef = false;
    if (r && !r.ok) mediaWarn(mfc.kernel, mfc.dev.name, `${r.op}: ${r.error.message}`);
  }
  const state = ok ? Vb2BufferState.DONE : Vb2BufferState.ERROR;
  vb2BufferDone(src, state);
  vb2BufferDone(dst, state);
  v4l2M2mJobFinish(mfc.m2m, m2mCtx);
}

/** @internal the shared job queue's `device_run` */
export function mfcDeviceRun(mfc: Mfc, priv: unknown): void {
  const ctx = ctxOf(priv as V4l2Fh);
  const m2mCtx = ctx.fh.m2mCtx!;
  const src = v4l2M2mNextSrcBuf(m2mCtx)!;
  const dst = v4l2M2mNextDstBuf(m2mCtx)!;
  if (!mfc.hw.running || !ctx.dpb || !ctx.ctxBuf || !ctx.width) {
    mediaWarn(mfc.kernel, mfc.dev.name, `${ctx.role}: job not run (the instance is not set up)`);
    finishJob(ctx, null);
    return;
  }
  running.set(mfc, ctx);
  const done = (r: MfcResult): void => finishJob(ctx, r);
  if (ctx.role === "encoder") {
    mfc.hw.run(
      {
        op: "encode",
        src: { y: vb2DmaContigPlaneDmaAddr(src, 0), uv: vb2DmaContigPlaneDmaAddr(src, 1) },
        width: ctx.width,
        height: ctx.height,
        frameNum: ctx.frames,
        keyframe: ctx.frames % MFC_ENC_GOP_SIZE === 0 || !ctx.haveRef,
        dpb: ctx.dpb.daddr,
        ctx: ctx.ctxBuf.daddr,
        dst: vb2DmaContigPlaneDmaAddr(dst, 0),
        dstSize: vb2PlaneSize(dst, 0),
      },
      done,
    );
  } else {
    mfc.hw.run(
      {
        op: "decode",
        src: vb2DmaContigPlaneDmaAddr(src, 0),
        srcBytes: vb2GetPlanePayload(src, 0),
        width: ctx.width,
        height: ctx.height,
        dpb: ctx.dpb.daddr,
        haveRef: ctx.haveRef,
        ctx: ctx.ctxBuf.daddr,
        dst: { y: vb2DmaContigPlaneDmaAddr(dst, 0), uv: vb2DmaContigPlaneDmaAddr(dst, 1) },
      },
      done,
    );
  }
}

/** @internal the shared job queue's `job_abort` */
export function mfcJobAbort(mfc: Mfc, priv: unknown): void {
  const ctx = ctxOf(priv as V4l2Fh);
  if (running.get(mfc) !== ctx) return;
  mfc.hw.cancel();
  finishJob(ctx, null);
}

/** What the two nodes share: registration, open/close, the queues' common ops. */
abstract class MfcNode {
  /** the MFC */
  readonly mfc: Mfc;
  /** its kernel */
  readonly kernel: Kernel;
  /** the video node */
  readonly vdev: VideoDevice;
  /** which node */
  readonly role: "decoder" | "encoder";

  /** Registers the node. */
  constructor(mfc: Mfc, role: "decoder" | "encoder") {
    this.mfc = mfc;
    this.kernel = mfc.kernel;
    this.role = role;
    const coded = { pixelformats: [V4L2_PIX_FMT_UMMV] };
    const raw = {
      pixelformats: [V4L2_PIX_FMT_NV12M],
      defaultWidth: 640,
      defaultHeight: 480,
      maxWidth: MFC_MAX_WIDTH,
      maxHeight: MFC_MAX_HEIGHT,
      widthAlign: 16,
      heightAlign: 2,
    };
    this.vdev = v4l2DeviceRegister(this.kernel, {
      name: role === "decoder" ? "s5p-mfc-dec" : "s5p-mfc-enc",
      driver: "s5p-mfc",
      busInfo: `platform:${mfc.dev.name}`,
      deviceCaps: V4L2_CAP_VIDEO_M2M_MPLANE | V4L2_CAP_STREAMING,
      m2m: { dev: mfc.m2m, queueInit: (fh) => this.#queueInit(fh) },
      formats: role === "decoder" ? { output: coded, capture: raw } : { output: raw, capture: coded },
      hooks: {
        open: (fh) => this.#open(fh),
        release: (fh) => this.#release(fh),
        sFmt: (fh, f) => this.sFmt(ctxOf(fh), f),
      },
    });
  }

  #open(fh: V4l2Fh): void {
    const ctx = new MfcCtx(this.mfc, fh, this.role);
    ctx.ctxBuf = this.mfc.alloc("a", MFC_CTX_BUF_SIZE, MFC_CTX_BUF_ALIGN, DMA_BIDIRECTIONAL, "context");
    fh.drvPriv = ctx;
  }

  #release(fh: V4l2Fh): void {
    const ctx = ctxOf(fh);
    if (running.get(this.mfc) === ctx) {
      this.mfc.hw.cancel();
      finishJob(ctx, null);
    }
    if (ctx.dpb) this.mfc.free(ctx.dpb);
    if (ctx.ctxBuf) this.mfc.free(ctx.ctxBuf);
    ctx.dpb = null;
    ctx.ctxBuf = null;
  }

  #queueInit(fh: V4l2Fh): { src: Vb2Queue; dst: Vb2Queue } {
    const ops: Vb2Ops = {
      queueSetup: (q, s) => this.queueSetup(ctxOf(fh), q, s),
      bufPrepare: (vb) => this.bufPrepare(ctxOf(fh), vb),
      bufQueue: (vb) => this.bufQueue(ctxOf(fh), vb),
      startStreaming: (q) => {
        try {
          this.startStreaming(ctxOf(fh), q);
        } catch (e) {
          returnAll(fh.m2mCtx!, q, Vb2BufferState.QUEUED);
          throw e;
        }
      },
      stopStreaming: (q) => {
        const ctx = ctxOf(fh);
        ctx.haveRef = false;
        returnAll(fh.m2mCtx!, q, Vb2BufferState.ERROR);
      },
    };
    const common = {
      ioModes: VB2_MMAP | VB2_USERPTR | VB2_DMABUF,
      ops,
      memOps: vb2DmaContigMemops,
      dev: this.mfc.dev,
      timestampFlags: V4L2_BUF_FLAG_TIMESTAMP_COPY,
    };
    const tag = this.role === "decoder" ? "dec" : "enc";
    return {
      src: vb2QueueInit(this.kernel, { ...common, type: OUT, name: `${this.mfc.dev.name}-${tag}-src` }),
      dst: vb2QueueInit(this.kernel, { ...common, type: CAP, name: `${this.mfc.dev.name}-${tag}-dst` }),
    };
  }

  /** `queue_setup` of a coded queue: one plane of `size` bytes (CREATE_BUFS: at least a header). */
  protected codedSetup(s: { numPlanes: number; sizes: number[] }, size: number): void {
    if (s.numPlanes) {
      if (s.numPlanes !== 1 || s.sizes[0]! < UMMV_HEADER_SIZE) {
        throw new KernelError(
          "EINVAL",
          `${this.mfc.dev.name}: a bitstream buffer is one plane of at least ${UMMV_HEADER_SIZE} bytes`,
        );
      }
      return;
    }
    s.numPlanes = 1;
    s.sizes[0] = size;
  }

  /** `queue_setup` of a raw queue: the NV12M planes of its format. */
  protected rawSetup(ctx: MfcCtx, q: Vb2Queue, s: { numPlanes: number; sizes: number[] }): void {
    const sizes = v4l2FormatPlaneSizes(ctx.fh.formats.get(q.type));
    if (s.numPlanes) {
      if (s.numPlanes !== sizes.length || sizes.some((n, i) => s.sizes[i]! < n)) {
        throw new KernelError("EINVAL", `${this.mfc.dev.name}: CREATE_BUFS sizes below the format's`);
      }
      return;
    }
    s.numPlanes = sizes.length;
    sizes.forEach((n, i) => {
      s.sizes[i] = n;
    });
  }

  /** `queue_setup` of one of the instance's queues. */
  abstract queueSetup(ctx: MfcCtx, q: Vb2Queue, s: { numPlanes: number; sizes: number[] }): void;
  /** `buf_prepare`: plane sizes checked, payloads set. */
  abstract bufPrepare(ctx: MfcCtx, vb: Vb2Buffer): void;
  /** `start_streaming` (the caller gives the buffers back when it throws). */
  abstract startStreaming(ctx: MfcCtx, q: Vb2Queue): void;
  /** S_FMT passed the core's checks: refuse (throw) what the instance cannot take. */
  abstract sFmt(ctx: MfcCtx, f: V4l2Format): void;

  /** `buf_queue`: onto the instance's mem2mem ready list. */
  bufQueue(ctx: MfcCtx, vb: Vb2Buffer): void {
    v4l2M2mBufQueue(ctx.fh.m2mCtx!, vb);
  }

  /** Unregisters the node (remove). */
  remove(): void {
    v4l2DeviceUnregister(this.vdev);
  }
}

/** The decoder node. */
export class MfcDecoder extends MfcNode {
  /** Registers `/dev/videoN` "s5p-mfc-dec". */
  constructor(mfc: Mfc) {
    super(mfc, "decoder");
  }

  /** See `MfcNode`. */
  override queueSetup(ctx: MfcCtx, q: Vb2Queue, s: { numPlanes: number; sizes: number[] }): void {
    if (q.isOutput) this.codedSetup(s, MFC_CODED_BUF_SIZE);
    else this.rawSetup(ctx, q, s);
  }

  /** See `MfcNode`. */
  override bufPrepare(ctx: MfcCtx, vb: Vb2Buffer): void {
    if (vb.queue.isOutput) {
      const n = vb2GetPlanePayload(vb, 0);
      if (n < UMMV_HEADER_SIZE) {
        throw new KernelError(
          "EINVAL",
          `${this.mfc.dev.name}: bitstream buffer of ${n} bytes holds no frame`,
        );
      }
      return;
    }
    checkRawPlanes(ctx, vb, v4l2FormatPlaneSizes(ctx.fh.formats.get(CAP)), true);
  }

  /** See `MfcNode`. */
  override bufQueue(ctx: MfcCtx, vb: Vb2Buffer): void {
    if (vb.queue.isOutput && !ctx.headerParsed) {
      try {
        const h = this.mfc.hw.parseHeader(vb2DmaContigPlaneDmaAddr(vb, 0), vb2GetPlanePayload(vb, 0));
        const capQ = v4l2M2mGetDstVq(ctx.fh.m2mCtx!);
        const f = ctx.fh.formats.get(CAP).fmt.pix_mp!;
        if (vb2IsBusy(capQ) && (f.width !== h.width || f.height !== h.height)) {
          mediaWarn(
            this.kernel,
            this.mfc.dev.name,
            `decoder: the stream is ${h.width}x${h.height}, CAPTURE buffers are for ${f.width}x${f.height}`,
          );
        } else {
          ctx.fh.formats.set(rawFormat(h.width, h.height));
        }
        ctx.width = h.width;
        ctx.height = h.height;
        ctx.headerParsed = true;
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        mediaWarn(this.kernel, this.mfc.dev.name, `decoder: header parse failed: ${e.message}`);
      }
    }
    super.bufQueue(ctx, vb);
  }

  /** See `MfcNode`. */
  override startStreaming(ctx: MfcCtx, q: Vb2Queue): void {
    if (q.isOutput) return;
    const f = ctx.fh.formats.get(CAP).fmt.pix_mp!;
    if (ctx.headerParsed && (f.width !== ctx.width || f.height !== ctx.height)) {
      throw new KernelError(
        "EINVAL",
        `${this.mfc.dev.name}: CAPTURE is ${f.width}x${f.height}, the stream ${ctx.width}x${ctx.height}`,
      );
    }
    ctx.width = f.width;
    ctx.height = f.height;
    ensureDpb(ctx);
  }

  /** See `MfcNode`. */
  override sFmt(ctx: MfcCtx, f: V4l2Format): void {
    const p = f.fmt.pix_mp;
    if (f.type === CAP && ctx.headerParsed && p && (p.width !== ctx.width || p.height !== ctx.height)) {
      throw new KernelError(
        "EINVAL",
        `${this.mfc.dev.name}: the stream is ${ctx.width}x${ctx.height}, not ${p.width}x${p.height}`,
      );
    }
  }
}

/** The encoder node. */
export class MfcEncoder extends MfcNode {
  /** Registers `/dev/videoN` "s5p-mfc-enc". */
  constructor(mfc: Mfc) {
    super(mfc, "encoder");
  }

  #codedSize(ctx: MfcCtx): number {
    const f = ctx.fh.formats.get(OUT).fmt.pix_mp!;
    return alignUp(ummvMaxFrameSize(f.width, f.height), PAGE_SIZE);
  }

  /** See `MfcNode`. */
  override queueSetup(ctx: MfcCtx, q: Vb2Queue, s: { numPlanes: number; sizes: number[] }): void {
    if (q.isOutput) this.rawSetup(ctx, q, s);
    else this.codedSetup(s, this.#codedSize(ctx));
  }

  /** See `MfcNode`. */
  override bufPrepare(ctx: MfcCtx, vb: Vb2Buffer): void {
    if (vb.queue.isOutput) checkRawPlanes(ctx, vb, v4l2FormatPlaneSizes(ctx.fh.formats.get(OUT)), false);
  }

  /** See `MfcNode`. */
  override startStreaming(ctx: MfcCtx, q: Vb2Queue): void {
    if (!q.isOutput) return;
    const f = ctx.fh.formats.get(OUT).fmt.pix_mp!;
    ctx.width = f.width;
    ctx.height = f.height;
    ctx.frames = 0;
    ensureDpb(ctx);
  }

  /** See `MfcNode`. */
  override sFmt(ctx: MfcCtx, f: V4l2Format): void {
    const p = f.fmt.pix_mp;
    if (f.type !== OUT || !p) return;
    const capQ = v4l2M2mGetDstVq(ctx.fh.m2mCtx!);
    const need = alignUp(ummvMaxFrameSize(p.width, p.height), PAGE_SIZE);
    if (vb2IsBusy(capQ) && capQ.bufs.some((vb) => vb && vb2PlaneSize(vb, 0) < need)) {
      throw new KernelError(
        "EBUSY",
        `${this.mfc.dev.name}: the CAPTURE buffers are too small for ${p.width}x${p.height}`,
      );
    }
  }
}
