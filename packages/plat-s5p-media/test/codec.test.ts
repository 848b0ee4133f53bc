// UMMV, the MFC model's lossless bitstream: bit-exact round trips, bounded size, corrupt streams refused.
import { fc, test as fcTest } from "@fast-check/vitest";
import { firstDiff, kerr } from "@umm/kernel-core/testing";
import { describe, expect, it } from "vitest";
import {
  type RawFrame,
  testPatternFrame,
  UMMV_FRAME_I,
  UMMV_FRAME_P,
  UMMV_HEADER_SIZE,
  ummvDecode,
  ummvEncode,
  ummvMaxFrameSize,
  ummvParseHeader,
} from "../src/index.js";

function raw(nv12: Uint8Array, w: number, h: number): RawFrame {
  return { y: nv12.subarray(0, w * h), uv: nv12.subarray(w * h) };
}

function blank(w: number, h: number): RawFrame {
  return { y: new Uint8Array(w * h), uv: new Uint8Array((w * h) / 2) };
}

function encode(f: RawFrame, w: number, h: number, n: number, ref: RawFrame | null): Uint8Array {
  const out = new Uint8Array(ummvMaxFrameSize(w, h));
  return out.slice(0, ummvEncode(f, w, h, n, ref, out));
}

describe("UMMV", () => {
  it("I and P frames of the test pattern round-trip bit-exactly and compress well", () => {
    const w = 320;
    const h = 240;
    const f0 = raw(testPatternFrame(w, h, 0), w, h);
    const f1 = raw(testPatternFrame(w, h, 1), w, h);
    const i0 = encode(f0, w, h, 0, null);
    const p1 = encode(f1, w, h, 1, f0);
    expect(ummvParseHeader(i0)).toMatchObject({ type: UMMV_FRAME_I, width: w, height: h, frameNum: 0 });
    expect(ummvParseHeader(p1)).toMatchObject({ type: UMMV_FRAME_P, frameNum: 1 });
    expect(i0.length).toBeLessThan((w * h * 3) / 2 / 100);
    expect(p1.length).toBeLessThan((w * h * 3) / 2 / 100);
    expect(encode(f0, w, h, 2, f0).length).toBeLessThan(UMMV_HEADER_SIZE + 16); // a still frame
    const d0 = blank(w, h);
    const d1 = blank(w, h);
    ummvDecode(i0, null, d0);
    ummvDecode(p1, d0, d1);
    expect(firstDiff(d0.y, f0.y)).toBe(-1);
    expect(firstDiff(d0.uv, f0.uv)).toBe(-1);
    expect(firstDiff(d1.y, f1.y)).toBe(-1);
    expect(firstDiff(d1.uv, f1.uv)).toBe(-1);
  });

  fcTest.prop(
    [
      fc.integer({ min: 1, max: 24 }),
      fc.integer({ min: 1, max: 24 }),
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      fc.boolean(),
    ],
    { numRuns: 60 },
  )("any frame round-trips and fits ummvMaxFrameSize (noise and runs alike)", (hw, hh, seed, runs) => {
    const w = hw * 2;
    const h = hh * 2;
    const n = (w * h * 3) / 2;
    const a = new Uint8Array(n);
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = runs ? seed[(i >> 4) % seed.length]! : seed[i % seed.length]! ^ (i * 131);
      b[i] = (a[i]! + (i % 7 === 0 ? 1 : 0)) & 255;
    }
    const fa = raw(a, w, h);
    const fb = raw(b, w, h);
    const ia = encode(fa, w, h, 0, null);
    const pb = encode(fb, w, h, 1, fa);
    expect(ia.length).toBeLessThanOrEqual(ummvMaxFrameSize(w, h));
    const da = blank(w, h);
    const db = blank(w, h);
    ummvDecode(ia, null, da);
    ummvDecode(pb, da, db);
    expect(firstDiff(new Uint8Array([...da.y, ...da.uv]), a)).toBe(-1);
    expect(firstDiff(new Uint8Array([...db.y, ...db.uv]), b)).toBe(-1);
  });

  it("refuses corrupt streams: bad magic, truncated, flipped payload (checksum), P frame without reference", () => {
    const w = 64;
    const h = 32;
    const f = raw(testPatternFrame(64, 32, 5), w, h);
    const i = encode(f, w, h, 0, null);
    const p = encode(f, w, h, 1, f);
    const out = blank(w, h);
    expect(() => ummvDecode(new Uint8Array(UMMV_HEADER_SIZE), null, out)).toThrow(
      kerr("EINVAL", /bad magic/),
    );
    expect(() => ummvDecode(i.subarray(0, i.length - 1), null, out)).toThrow(kerr("EINVAL", /only/));
    const bad = i.slice();
    bad[UMMV_HEADER_SIZE + 1]! ^= 0x01;
    expect(() => ummvDecode(bad, null, out)).toThrow(kerr("EINVAL"));
    expect(() => ummvDecode(p, null, out)).toThrow(kerr("EINVAL", /without a 64x32 reference/));
    expect(() => ummvEncode(f, 63, 32, 0, null, new Uint8Array(1 << 16))).toThrow(kerr("EINVAL", /63x32/));
    expect(() => ummvEncode(f, w, h, 0, null, new Uint8Array(100))).toThrow(kerr("ENOSPC"));
  });
});
