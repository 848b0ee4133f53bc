// The scaler's arithmetic: BT.601 limited range with the CLI's coefficients, exact at 1:1, bilinear
// otherwise.
import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  fimcScalerRatioError,
  type Nv12Image,
  nv12ToXrgb,
  testPatternFrame,
  ycbcrToXrgb,
} from "../src/index.js";
import { sha256 } from "./helpers.js";

/** The CLI's nv12ToRgba, written out plainly (the reference the converter must equal at 1:1). */
function reference(buf: Uint8Array, w: number, h: number): Uint32Array {
  const clamp8 = (v: number): number => Math.min(Math.max(v, 0), 255);
  const out = new Uint32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const c = 298 * (buf[y * w + x]! - 16);
      const ci = w * h + (y >> 1) * w + (x >> 1) * 2;
      const u = buf[ci]! - 128;
      const v = buf[ci + 1]! - 128;
      const r = clamp8((c + 409 * v + 128) >> 8);
      const g = clamp8((c - 100 * u - 208 * v + 128) >> 8);
      const b = clamp8((c + 516 * u + 128) >> 8);
      out[y * w + x] = (0xff000000 | (r << 16) | (g << 8) | b) >>> 0;
    }
  }
  return out;
}

function image(buf: Uint8Array, w: number, h: number): Nv12Image {
  return { y: buf, yPitch: w, uv: buf.subarray(w * h), uvPitch: w, width: w, height: h };
}

function convert(buf: Uint8Array, w: number, h: number, dw: number, dh: number): Uint32Array {
  const out = new Uint32Array(dw * dh);
  nv12ToXrgb(image(buf, w, h), { data: out, pitch: dw, width: dw, height: dh });
  return out;
}

function random(len: number, seed: number): Uint8Array {
  const a = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    a[i] = x & 255;
  }
  return a;
}

const bytes = (w: Uint32Array) => new Uint8Array(w.buffer, w.byteOffset, w.byteLength);

describe("NV12 -> XRGB8888", () => {
  it("1:1 equals nv12ToRgba's formula on random data, every byte value included", () => {
    const w = 64;
    const h = 48;
    const buf = random((w * h * 3) / 2, 7);
    expect([...convert(buf, w, h, w, h)]).toEqual([...reference(buf, w, h)]);
  });

  fcTest.prop([fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.integer()], {
    numRuns: 40,
  })("1:1 equals the reference for any even size", (hw, hh, seed) => {
    const w = hw * 2;
    const h = hh * 2;
    const buf = random((w * h * 3) / 2, seed);
    expect([...convert(buf, w, h, w, h)]).toEqual([...reference(buf, w, h)]);
  });

  it("1:1 from planes at odd byte offsets (byte loads) equals the reference too", () => {
    const w = 34;
    const h = 10;
    const buf = random((w * h * 3) / 2, 3);
    const odd = new Uint8Array(buf.length + 1);
    odd.set(buf, 1);
    const src = odd.subarray(1);
    const out = new Uint32Array(w * h);
    nv12ToXrgb(image(src, w, h), { data: out, pitch: w, width: w, height: h });
    expect([...out]).toEqual([...reference(buf, w, h)]);
  });

  it("known colours: black, white, and 75% red of the bars", () => {
    expect(ycbcrToXrgb(16, 128, 128).toString(16)).toBe("ff000000");
    expect(ycbcrToXrgb(235, 128, 128).toString(16)).toBe("ffffffff");
    // 75 % red: B = (298·49 − 516·28 + 128) >> 8 = 1 (limited-range rounding)
    expect(ycbcrToXrgb(65, 100, 212).toString(16)).toBe("ffbf0001");
  });

  it("golden: pattern frame 0 at 320x240, converted 1:1 and scaled to 160x120 and 200x100", () => {
    const f = testPatternFrame(320, 240, 0);
    expect([
      sha256(bytes(convert(f, 320, 240, 320, 240))),
      sha256(bytes(convert(f, 320, 240, 160, 120))),
      sha256(bytes(convert(f, 320, 240, 200, 100))),
    ]).toMatchInlineSnapshot(`
      [
        "dea7aa3c408d3caa96bbccc76f5d95fe43f156c07d914b58b8d8609262c37348",
        "6db940d0b71e2437040d83ef74601f80e34168053b8296783e875f4685d357bd",
        "37ce0de2348f22577d26af1feec7f04ffad46844a723f845b18917a579f1fd30",
      ]
    `);
  });

  it("bilinear: a flat picture stays flat at any scale; a 2:1 downscale averages pixel pairs", () => {
    const w = 32;
    const h = 16;
    const flat = new Uint8Array((w * h * 3) / 2);
    flat.fill(100, 0, w * h);
    flat.fill(128, w * h);
    const want = ycbcrToXrgb(100, 128, 128);
    for (const [dw, dh] of [
      [16, 8],
      [50, 30],
      [7, 3],
    ] as const) {
      expect(new Set(convert(flat, w, h, dw, dh))).toEqual(new Set([want]));
    }
    // columns alternating 50 / 150: 2:1 samples between them -> 100 everywhere
    const stripes = flat.slice();
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) stripes[y * w + x] = x % 2 ? 150 : 50;
    expect(new Set(convert(stripes, w, h, w / 2, h / 2))).toEqual(new Set([want]));
  });

  fcTest.prop(
    [
      fc.integer({ min: 2, max: 12 }),
      fc.integer({ min: 2, max: 12 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.integer({ min: 1, max: 30 }),
      fc.integer({ min: 1, max: 30 }),
      fc.integer(),
    ],
    { numRuns: 60 },
  )(
    "with the previous source given, only changed lines are redone and the result is exact",
    (hw, hh, touched, dw, dh, seed) => {
      const w = hw * 2;
      const h = hh * 2;
      const n = (w * h * 3) / 2;
      // runs of equal lines, so that lines copy each other too
      const a = random(n, seed);
      for (let y = 1; y < h; y++) if (y % 3) a.copyWithin(y * w, (y - 1) * w, y * w);
      const b = a.slice();
      for (const t of touched) b[t % n] = (b[t % n]! + 1) & 255;
      const out = new Uint32Array(dw * dh);
      nv12ToXrgb(image(a, w, h), { data: out, pitch: dw, width: dw, height: dh });
      nv12ToXrgb(image(b, w, h), { data: out, pitch: dw, width: dw, height: dh }, image(a, w, h));
      expect([...out]).toEqual([...convert(b, w, h, dw, dh)]);
    },
  );

  it("rejects planes too small for the size", () => {
    const out = new Uint32Array(16);
    expect(() =>
      nv12ToXrgb(
        { y: new Uint8Array(10), yPitch: 4, uv: new Uint8Array(8), uvPitch: 4, width: 4, height: 4 },
        {
          data: out,
          pitch: 4,
          width: 4,
          height: 4,
        },
      ),
    ).toThrow(/EINVAL: nv12 source: Y plane/);
  });

  it("scaler limits: 1/16 down, 4x up", () => {
    expect(fimcScalerRatioError(1920, 1080, 120, 68)).toBeNull();
    expect(fimcScalerRatioError(1920, 1080, 100, 1080)).toMatch(/down more than 1\/16/);
    expect(fimcScalerRatioError(320, 240, 1281, 240)).toMatch(/up more than 4x/);
  });
});
