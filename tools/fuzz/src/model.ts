/**
 * The reference model of the model-based fuzzer: who holds what, and what each byte should be.
 *
 * The model does not predict the numbers the kernel picks (fd numbers, addresses, secure IDs,
 * inode numbers): it records them when the real call returns. What it predicts is everything
 * that follows from the rules — which process may reach which memory (through an fd, a mapping,
 * a UMP handle, an in-flight message), which device may reach which memory (through a live
 * attachment mapping, nothing else), how many references each buffer has and when it must be
 * gone, and the last byte legitimately written at every offset.
 *
 * @module
 */
import type { DmaBuf, DmaBufAttachment } from "@umm/dma-buf";
import type { SgTable } from "@umm/dma-mapping-arm";
import type { File, Process } from "@umm/kernel-process";
import type { UmpHandle } from "@umm/ump";

/** Physical memory one allocation owns: its pages and what they should hold. */
export interface MStore {
  readonly id: number;
  /** the allocation's page frames, in buffer order */
  readonly pfns: readonly number[];
  readonly size: number;
  /** expected bytes (meaningful where `known` is 1) */
  readonly data: Uint8Array;
  /** 1 where the content is known: written by someone legitimately, or zeroed at allocation */
  readonly known: Uint8Array;
  /** CPU mappings of this memory are cacheable (so CPU access needs maintenance) */
  readonly cached: boolean;
  /**
   * A device wrote since the CPU last took the buffer back for reading. A legitimate user then
   * syncs for read (DMA_BUF_SYNC_READ or _RW) before even a partial write: on ARM a write-only
   * sync (DMA_TO_DEVICE for the CPU) invalidates nothing, and a CPU store into a line the device
   * wrote behind it would write the line's stale bytes back over the device's.
   */
  devWrote: boolean;
  alive: boolean;
}

/** Buffer kinds the fuzzer allocates or derives. */
export type MBufKind = "system" | "cma" | "pmm" | "ump" | "ump-dmabuf";

/** A buffer object: a dma-buf, a PMM area (its /dev/pmm file) or a UMP buffer (its secure ID). */
export interface MBuf {
  readonly id: number;
  readonly kind: MBufKind;
  readonly store: MStore;
  /** the file (dma-buf, PMM); null for a UMP buffer */
  readonly file: File | null;
  /** the dma-buf (heaps, UMP exports) */
  readonly dmabuf: DmaBuf | null;
  /** UMP: secure ID, owner uid and the uids granted access */
  readonly secureId: number;
  readonly ownerUid: number;
  readonly grants: Set<number>;
  /** a UMP export: the UMP buffer it keeps alive (one kernel reference) */
  readonly parent: MBuf | null;
  alive: boolean;
}

/** What an fd of a fuzzed process is. */
export type MFd =
  | { readonly kind: "buf"; readonly buf: MBuf }
  | { readonly kind: "listen" }
  | { readonly kind: "sock"; readonly chan: MChan }
  | { readonly kind: "ump" }
  | { readonly kind: "video" };

/** A mapping of a buffer's file in a process. */
export interface MMap {
  readonly buf: MBuf;
  readonly va: number;
  readonly len: number;
}

/** A libump handle: the buffer mapped whole in the process. */
export interface MHandle {
  readonly buf: MBuf;
  readonly h: UmpHandle;
  readonly va: number;
}

/** A fuzzed process (one of the slots). */
export interface MProc {
  readonly slot: number;
  readonly uid: number;
  proc: Process | null;
  alive: boolean;
  readonly fds: Map<number, MFd>;
  readonly maps: MMap[];
  readonly handles: MHandle[];
  listenPath: string;
}

/** A Unix socket connection between two processes, with its queue of messages carrying files. */
export interface MChan {
  readonly from: MProc;
  readonly fromPid: number;
  readonly to: MProc;
  readonly toPid: number;
  readonly fromFd: number;
  readonly toFd: number;
  fromOpen: boolean;
  toOpen: boolean;
  /** messages sent and not received: the buffers each carries */
  readonly queue: MBuf[][];
}

/** A device's attachment to a dma-buf, mapped (a driver's import). */
export interface MAtt {
  readonly buf: MBuf;
  readonly dev: string;
  readonly dmabuf: DmaBuf;
  readonly att: DmaBufAttachment;
  readonly sgt: SgTable;
  /** the D.V segments, in buffer order */
  readonly segs: readonly { readonly iova: number; readonly len: number }[];
}

/** Memory a device could once reach and must not reach any more. */
export interface MGhost {
  readonly dev: string;
  readonly iova: number;
  readonly len: number;
}

/** One buffer slot of the capture queue (DMABUF memory). */
export interface MSlot {
  /** the dma-buf the slot imported (vb2 keeps it, attached and mapped, until the slot is re-used or freed) */
  buf: MBuf | null;
  /** its D.V segments in the capture master's domain (contiguous, one IOVA range each) */
  segs: readonly { readonly iova: number; readonly len: number }[];
  state: "dequeued" | "queued" | "done";
}

/**
 * The capture device's videobuf2 queue: which file owns it (REQBUFS), its slots, and the order in
 * which the hardware fills and user space dequeues them.
 */
export interface MVideo {
  /** the master the capture device does DMA through */
  readonly dev: string;
  owner: { readonly p: MProc; readonly pid: number; readonly fd: number } | null;
  slots: MSlot[];
  streaming: boolean;
  /** slots queued, oldest first (the hardware fills them in this order once streaming) */
  readonly queued: number[];
  /** slots the hardware filled, oldest first (DQBUF takes them in this order) */
  readonly done: number[];
}

/** A D.V range a device may reach: `len` bytes at `iova`, mapping `buf` from byte `offset` on. */
export interface MRange {
  readonly iova: number;
  readonly len: number;
  readonly buf: MBuf;
  readonly offset: number;
}

/** The whole model of one sequence. */
export class Model {
  readonly procs: MProc[];
  readonly bufs: MBuf[] = [];
  readonly chans: MChan[] = [];
  readonly atts: MAtt[] = [];
  readonly ghosts: MGhost[] = [];
  readonly video: MVideo;
  #nextId = 1;

  /** `uids`: one process slot each; `captureDev`: the capture device's master */
  constructor(uids: readonly number[], captureDev = "") {
    this.video = { dev: captureDev, owner: null, slots: [], streaming: false, queued: [], done: [] };
    this.procs = uids.map((uid, slot) => ({
      slot,
      uid,
      proc: null,
      alive: false,
      fds: new Map(),
      maps: [],
      handles: [],
      listenPath: "",
    }));
  }

  nextId(): number {
    return this.#nextId++;
  }

  /** Live buffers. */
  liveBufs(): MBuf[] {
    return this.bufs.filter((b) => b.alive);
  }

  /** Live processes. */
  liveProcs(): MProc[] {
    return this.procs.filter((p) => p.alive);
  }

  /** Messages in flight that still hold their files (the receiving end is open). */
  inflight(buf: MBuf): number {
    let n = 0;
    for (const c of this.chans) {
      if (!c.toOpen) continue;
      for (const msg of c.queue) for (const b of msg) if (b === buf) n++;
    }
    return n;
  }

  /**
   * The D.V ranges device `dev` may reach: the segments of its live attachments, then (the capture
   * master) the buffer of each queue slot holding one.
   */
  deviceRanges(dev: string): MRange[] {
    const out: MRange[] = [];
    for (const a of this.atts) {
      if (a.dev !== dev) continue;
      let offset = 0;
      for (const s of a.segs) {
        out.push({ iova: s.iova, len: s.len, buf: a.buf, offset });
        offset += s.len;
      }
    }
    if (dev === this.video.dev) {
      for (const sl of this.video.slots) {
        if (!sl.buf) continue;
        let offset = 0;
        for (const s of sl.segs) {
          out.push({ iova: s.iova, len: s.len, buf: sl.buf, offset });
          offset += s.len;
        }
      }
    }
    return out;
  }

  /** Slots of the capture queue holding `buf`. */
  slotsHolding(buf: MBuf): number {
    let n = 0;
    for (const s of this.video.slots) if (s.buf === buf) n++;
    return n;
  }

  /** The capture queue is released (its owner's file went): every slot lets its dma-buf go. */
  releaseVideo(): void {
    const v = this.video;
    v.owner = null;
    v.slots = [];
    v.streaming = false;
    v.queued.length = 0;
    v.done.length = 0;
  }

  /**
   * The references a buffer's file must have: fds, mappings, in-flight copies, attachments, and
   * the capture queue's slots (each holds one, as `dma_buf_get` in vb2's DMABUF import).
   */
  expectedFileRefs(buf: MBuf): number {
    let n = this.slotsHolding(buf);
    for (const p of this.procs) {
      if (!p.alive) continue;
      for (const fd of p.fds.values()) if (fd.kind === "buf" && fd.buf === buf) n++;
      for (const m of p.maps) if (m.buf === buf) n++;
    }
    n += this.inflight(buf);
    for (const a of this.atts) if (a.buf === buf) n++;
    return n;
  }

  /** The references a UMP buffer must have: handles (each one mapping) and live exports. */
  expectedUmpRefs(buf: MBuf): number {
    let n = 0;
    for (const p of this.procs) if (p.alive) for (const h of p.handles) if (h.buf === buf) n++;
    for (const b of this.bufs) if (b.alive && b.parent === buf) n++;
    return n;
  }

  /**
   * Kills what nothing holds any more, in dependency order (a UMP export going drops its UMP
   * buffer's kernel reference); returns the buffers that died.
   */
  settle(): MBuf[] {
    const died: MBuf[] = [];
    for (let changed = true; changed; ) {
      changed = false;
      for (const b of this.bufs) {
        if (!b.alive) continue;
        const refs = b.kind === "ump" ? this.expectedUmpRefs(b) : this.expectedFileRefs(b);
        if (refs > 0) continue;
        b.alive = false;
        if (b.kind !== "ump-dmabuf") b.store.alive = false;
        died.push(b);
        changed = true;
      }
    }
    return died;
  }

  /** May a process of `uid` import UMP buffer `buf` by its secure ID? */
  umpMayImport(buf: MBuf, uid: number): boolean {
    return buf.alive && (uid === 0 || uid === buf.ownerUid || buf.grants.has(uid));
  }

  /** Records that `len` bytes at `offset` of `store` now hold `bytes`. */
  static write(store: MStore, offset: number, bytes: Uint8Array): void {
    store.data.set(bytes, offset);
    store.known.fill(1, offset, offset + bytes.length);
  }

  /** The first offset in `[offset, offset + got.length)` whose byte differs from the model, or -1. */
  static mismatch(store: MStore, offset: number, got: Uint8Array): number {
    for (let i = 0; i < got.length; i++) {
      if (store.known[offset + i] && store.data[offset + i] !== got[i]) return offset + i;
    }
    return -1;
  }
}
