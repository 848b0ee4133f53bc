/**
 * The MFC (Multi Format Codec v5) hardware model: two bus-master ports — port 0 behind the
 * MFC_L SysMMU (memory bank A: firmware, instance contexts, bitstreams, chroma), port 1 behind
 * MFC_R (bank B: luma and the decoded/reference picture buffers), as s5p-mfc v5 splits its
 * buffers between its two AXI masters — a RISC that boots from firmware it reads by DMA, and a
 * codec core for UMMV (`codec.ts`). Every byte the codec consumes or produces moves by DMA
 * through the port of its bank; a job's bytes move when it completes, after
 * width × height × `MFC_NS_PER_PIXEL` of virtual time.
 *
 * @module
 */
import { type Device, KernelError, type TimerHandle, type Tracepoint } from "@umm/kernel-core";
import type { DmaPort } from "@umm/mm-core";
import {
  fnv1a32,
  type RawFrame,
  UMMV_FRAME_I,
  UMMV_FRAME_P,
  UMMV_HEADER_SIZE,
  type UmmvHeader,
  UmmvScratch,
  ummvDecode,
  ummvEncode,
  ummvMaxFrameSize,
  ummvParseHeader,
} from "./codec.js";
import "./trace.js";

/** Virtual nanoseconds per pixel of a codec job (1080p in about 16.6 ms). */
export const MFC_NS_PER_PIXEL = 8;

/** Bytes of the firmware image umm's MFC runs (`s5p-mfc.fw`). */
export const MFC_FW_SIZE = 256 * 1024;
/** Bytes of the firmware header. */
export const MFC_FW_HEADER_SIZE = 32;
/** The firmware header's magic. */
const FW_MAGIC = "S5P-MFC-v5-UMM\0\0";
/** Bytes of an instance context buffer (bank A). */
export const MFC_CTX_BUF_SIZE = 128 * 1024;
/** Alignment of an instance context buffer. */
export const MFC_CTX_BUF_ALIGN = 8 * 1024;
/** Alignment of a decoded picture buffer (bank B). */
export const MFC_DPB_ALIGN = 8 * 1024;
/** Bytes of the instance context record the MFC keeps in bank A. */
export const MFC_CTX_RECORD_SIZE = 64;

/**
 * The MFC firmware image (deterministic): a 32-byte header — 16 bytes of magic
 * "S5P-MFC-v5-UMM", the version (u32 5), the payload size (u32), the payload's FNV-1a 32, 4
 * reserved bytes — then `MFC_FW_SIZE − 32` bytes of code (a fixed pseudo-random sequence).
 */
export function mfcFirmwareImage(): Uint8Array {
  const img = new Uint8Array(MFC_FW_SIZE);
  for (let i = 0; i < 16; i++) img[i] = FW_MAGIC.charCodeAt(i);
  const payload = img.subarray(MFC_FW_HEADER_SIZE);
  let x = 0x5eed5a5a;
  for (let i = 0; i < payload.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    payload[i] = x >>> 24;
  }
  const dv = new DataView(img.buffer);
  dv.setUint32(16, 5, true);
  dv.setUint32(20, payload.length, true);
  dv.setUint32(24, fnv1a32(payload), true);
  return img;
}

/** The device addresses of a two-plane raw frame. */
export interface MfcPlanes {
  readonly y: number;
  readonly uv: number;
}

/** An encode job. */
export interface MfcEncodeJob {
  readonly op: "encode";
  /** the raw frame */
  readonly src: MfcPlanes;
  readonly width: number;
  readonly height: number;
  readonly frameNum: number;
  /** code an I frame (else a P frame against the picture in `dpb`) */
  readonly keyframe: boolean;
  /** the reference picture buffer (bank B): read for a P frame, then overwritten with this frame */
  readonly dpb: number;
  /** the instance context buffer (bank A) */
  readonly ctx: number;
  /** where the bitstream goes and how many bytes fit */
  readonly dst: number;
  readonly dstSize: number;
}

/** A decode job. */
export interface MfcDecodeJob {
  readonly op: "decode";
  /** the bitstream and its bytes */
  readonly src: number;
  readonly srcBytes: number;
  /** the size the instance decodes */
  readonly width: number;
  readonly height: number;
  /** the decoded picture buffer (bank B): the reference of a P frame, then this frame */
  readonly dpb: number;
  /** a reference picture is in the DPB */
  readonly haveRef: boolean;
  /** the instance context buffer (bank A) */
  readonly ctx: number;
  /** the raw frame's planes */
  readonly dst: MfcPlanes;
}

/** What a finished job reports. */
export type MfcResult =
  | { readonly ok: true; readonly op: "encode"; readonly bytes: number; readonly frameType: number }
  | { readonly ok: true; readonly op: "decode"; readonly header: UmmvHeader }
  | { readonly ok: false; readonly op: "encode" | "decode"; readonly error: KernelError };

/** The MFC. */
export class MfcHw {
  /** the MFC's device */
  readonly dev: Device;
  /** port 0 (MFC_L, bank A) and port 1 (MFC_R, bank B; port 0 when the board wired only one) */
  readonly ports: readonly [DmaPort, DmaPort];
  /** the firmware booted */
  running = false;
  /** jobs completed */
  jobs = 0;
  #job: { timer: TimerHandle; job: MfcEncodeJob | MfcDecodeJob; done: (r: MfcResult) => void } | null = null;
  #raw = new Uint8Array(0);
  #ref = new Uint8Array(0);
  #bits = new Uint8Array(0);
  readonly #scratch = new UmmvScratch();
  readonly #record = new Uint8Array(MFC_CTX_RECORD_SIZE);

  readonly #tp: Tracepoint<"mfc_job">;

  /** The model of `dev`'s MFC with its two ports. */
  constructor(dev: Device, left: DmaPort, right: DmaPort) {
    this.dev = dev;
    this.ports = [left, right];
    this.#tp = dev.kernel.trace.tracepoint("mfc_job");
  }

  /**
   * Boots the RISC from the firmware at `daddr` (read through port 0) and checks it. EIO when the
   * image is not the MFC's firmware or its checksum does not match (a missing cache clean shows
   * here); the DMA's own errors.
   */
  boot(daddr: number, size: number): void {
    if (size < MFC_FW_SIZE)
      throw new KernelError("EINVAL", `${this.dev.name}: firmware buffer of ${size} bytes`);
    const img = new Uint8Array(MFC_FW_SIZE);
    this.ports[0].read(daddr, img);
    for (let i = 0; i < 16; i++) {
      if (img[i] !== FW_MAGIC.charCodeAt(i)) {
        throw new KernelError(
          "EIO",
          `${this.dev.name}: no MFC firmware at ${daddr.toString(16)} (bad magic)`,
        );
      }
    }
    const dv = new DataView(img.buffer);
    const len = dv.getUint32(20, true);
    if (
      len !== MFC_FW_SIZE - MFC_FW_HEADER_SIZE ||
      fnv1a32(img.subarray(MFC_FW_HEADER_SIZE)) !== dv.getUint32(24, true)
    ) {
      throw new KernelError("EIO", `${this.dev.name}: firmware checksum mismatch`);
    }
    this.running = true;
  }

  /** Stops the RISC (a running job is cancelled). */
  halt(): void {
    this.cancel();
    this.running = false;
  }

  /**
   * Reads and parses the stream header of the bitstream at `daddr` (port 0): the sequence-header
   * parse the decoder runs before it knows the picture size. EINVAL for something that is not a
   * UMMV frame; EIO while the firmware is not running.
   */
  parseHeader(daddr: number, bytes: number): UmmvHeader {
    this.#checkRunning();
    if (bytes < UMMV_HEADER_SIZE) {
      throw new KernelError("EINVAL", `${this.dev.name}: ${bytes} bytes of bitstream hold no header`);
    }
    const h = new Uint8Array(UMMV_HEADER_SIZE);
    this.ports[0].read(daddr, h);
    return ummvParseHeader(h);
  }

  /** True while a job runs. */
  get busy(): boolean {
    return this.#job !== null;
  }

  /** Starts a job; `done` gets its result when it completes. EBUSY while one runs; EIO without firmware. */
  run(job: MfcEncodeJob | MfcDecodeJob, done: (r: MfcResult) => void): void {
    this.#checkRunning();
    if (this.#job) throw new KernelError("EBUSY", `${this.dev.name}: a job is running`);
    const timer = this.dev.kernel.clock.after(
      Math.round(job.width * job.height * MFC_NS_PER_PIXEL),
      () => this.#complete(),
      `${this.dev.name} ${job.op}`,
    );
    this.#job = { timer, job, done };
  }

  /** Cancels the running job (nothing moves; `done` is not called). Returns whether one ran. */
  cancel(): boolean {
    const j = this.#job;
    if (!j) return false;
    j.timer.cancel();
    this.#job = null;
    return true;
  }

  #checkRunning(): void {
    if (!this.running) throw new KernelError("EIO", `${this.dev.name}: the MFC firmware is not running`);
  }

  #complete(): void {
    const j = this.#job;
    if (!j) return;
    this.#job = null;
    let r: MfcResult;
    try {
      r = j.job.op === "encode" ? this.#encode(j.job) : this.#decode(j.job);
      this.jobs++;
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      r = { ok: false, op: j.job.op, error: e };
    }
    j.done(r);
  }

  #buffers(width: number, height: number): { raw: RawFrame; ref: RawFrame } {
    const n = (width * height * 3) / 2;
    if (this.#raw.length < n) {
      this.#raw = new Uint8Array(n);
      this.#ref = new Uint8Array(n);
    }
    const ys = width * height;
    return {
      raw: { y: this.#raw.subarray(0, ys), uv: this.#raw.subarray(ys, n) },
      ref: { y: this.#ref.subarray(0, ys), uv: this.#ref.subarray(ys, n) },
    };
  }

  #bitsBuffer(n: number): Uint8Array {
    if (this.#bits.length < n) this.#bits = new Uint8Array(n);
    return this.#bits;
  }

  /** Reads the DPB (port 1) into `ref`. */
  #readRef(dpb: number, ref: RawFrame): void {
    this.ports[1].read(dpb, ref.y);
    this.ports[1].read(dpb + ref.y.length, ref.uv);
  }

  #writeRecord(
    ctx: number,
    op: number,
    h: { width: number; height: number },
    frame: number,
    type: number,
    bytes: number,
  ): void {
    const dv = new DataView(this.#record.buffer);
    dv.setUint32(0, 0x4343464d, true); // "MFCC"
    dv.setUint32(4, op, true);
    dv.setUint32(8, h.width, true);
    dv.setUint32(12, h.height, true);
    dv.setUint32(16, frame >>> 0, true);
    dv.setUint32(20, type, true);
    dv.setUint32(24, bytes, true);
    this.ports[0].write(ctx, this.#record);
  }

  #encode(job: MfcEncodeJob): MfcResult {
    const { raw, ref } = this.#buffers(job.width, job.height);
    const [left, right] = this.ports;
    right.read(job.src.y, raw.y);
    left.read(job.src.uv, raw.uv);
    let inBytes = raw.y.length + raw.uv.length;
    if (!job.keyframe) {
      this.#readRef(job.dpb, ref);
      inBytes += raw.y.length + raw.uv.length;
    }
    const max = ummvMaxFrameSize(job.width, job.height);
    const bits = this.#bitsBuffer(max);
    const n = ummvEncode(
      raw,
      job.width,
      job.height,
      job.frameNum,
      job.keyframe ? null : ref,
      bits,
      this.#scratch,
    );
    if (n > job.dstSize) {
      throw new KernelError(
        "ENOSPC",
        `${this.dev.name}: frame of ${n} bytes, the buffer holds ${job.dstSize}`,
      );
    }
    left.write(job.dst, bits, 0, n);
    right.write(job.dpb, raw.y);
    right.write(job.dpb + raw.y.length, raw.uv);
    const type = job.keyframe ? UMMV_FRAME_I : UMMV_FRAME_P;
    this.#writeRecord(job.ctx, 1, job, job.frameNum, type, n);
    const tp = this.#tp;
    if (tp.enabled) tp.emit({ device: this.dev.name, op: "encode", in_bytes: inBytes, out_bytes: n });
    return { ok: true, op: "encode", bytes: n, frameType: type };
  }

  #decode(job: MfcDecodeJob): MfcResult {
    const [left, right] = this.ports;
    const bits = this.#bitsBuffer(job.srcBytes);
    left.read(job.src, bits, 0, job.srcBytes);
    const stream = bits.subarray(0, job.srcBytes);
    const h = ummvParseHeader(stream);
    if (h.width !== job.width || h.height !== job.height) {
      throw new KernelError(
        "EINVAL",
        `${this.dev.name}: frame ${h.frameNum} is ${h.width}x${h.height}, the instance decodes ${job.width}x${job.height}`,
      );
    }
    const { raw, ref } = this.#buffers(h.width, h.height);
    let inBytes = job.srcBytes;
    if (h.type === UMMV_FRAME_P) {
      if (!job.haveRef)
        throw new KernelError("EINVAL", `${this.dev.name}: P frame ${h.frameNum} without a reference`);
      this.#readRef(job.dpb, ref);
      inBytes += ref.y.length + ref.uv.length;
    }
    ummvDecode(stream, h.type === UMMV_FRAME_P ? ref : null, raw);
    right.write(job.dst.y, raw.y);
    left.write(job.dst.uv, raw.uv);
    right.write(job.dpb, raw.y);
    right.write(job.dpb + raw.y.length, raw.uv);
    this.#writeRecord(job.ctx, 2, h, h.frameNum, h.type, job.srcBytes);
    const tp = this.#tp;
    if (tp.enabled) {
      tp.emit({
        device: this.dev.name,
        op: "decode",
        in_bytes: inBytes,
        out_bytes: raw.y.length + raw.uv.length,
      });
    }
    return { ok: true, op: "decode", header: h };
  }
}
