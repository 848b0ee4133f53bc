// The test pattern: deterministic frames with bars, a moving box and the frame number.
import { describe, expect, it } from "vitest";
import {
  BOX_COLOUR,
  COLOUR_BARS,
  patternBox,
  patternFontScale,
  TestPatternGenerator,
  testPatternFrame,
} from "../src/index.js";
import { sha256 } from "./helpers.js";

const W = 320;
const H = 240;

describe("test pattern", () => {
  it("golden: frames 0, 1 and 7 at 320x240 have fixed checksums", () => {
    const sums = [0, 1, 7].map((n) => sha256(testPatternFrame(W, H, n)));
    expect(sums).toMatchInlineSnapshot(`
      [
        "103b1c4a65d7405f6bd5f2a59cb4ea30747952dac4953bb7f0c2dd6a839540a2",
        "a1e064f31a95675da10d185e74b7c7369f073ba53d8830340a88ef02814300ce",
        "1f3b43a74191e9ec7f6bffb36856b4c5e6b0eedf8a6c24d6dfd76b3cbe551ee1",
      ]
    `);
  });

  it("is the same frame whatever was rendered before it", () => {
    const g = new TestPatternGenerator(W, H);
    const direct = [0, 1, 7, 100, 3].map((n) => testPatternFrame(W, H, n));
    const again = [3, 100, 7, 1, 0].map((n) => g.render(n).slice()).reverse();
    for (let i = 0; i < direct.length; i++) expect(sha256(again[i]!)).toBe(sha256(direct[i]!));
  });

  it("has the colour bars, the box where patternBox says, and consecutive frames differ", () => {
    const f = testPatternFrame(W, H, 5);
    const box = patternBox(W, H, 5);
    const row = H - 2; // bottom line, below the digits
    const inBox = (x: number, y: number) =>
      x >= box.x && x < box.x + box.w && y >= box.y && y < box.y + box.h;
    for (let b = 0; b < 8; b++) {
      const x = Math.floor(((b + 0.5) * W) / 8);
      if (!inBox(x, row)) expect(f[row * W + x]).toBe(COLOUR_BARS[b]!.y);
    }
    expect(f[(box.y + 1) * W + box.x + 1]).toBe(BOX_COLOUR.y);
    const uv = W * H + ((box.y + 2) >> 1) * W + box.x + 2;
    expect([f[uv], f[uv + 1]]).toEqual([BOX_COLOUR.cb, BOX_COLOUR.cr]);
    expect(sha256(testPatternFrame(W, H, 6))).not.toBe(sha256(f));
  });

  it("draws the frame number in luma: digits differ, the text box is black and white only", () => {
    const s = patternFontScale(H);
    const a = testPatternFrame(W, H, 1);
    const b = testPatternFrame(W, H, 2);
    let diff = 0;
    const values = new Set<number>();
    for (let y = 0; y < 9 * s; y++)
      for (let x = 0; x < 37 * s; x++) {
        if (a[y * W + x] !== b[y * W + x]) diff++;
        values.add(a[y * W + x]!);
      }
    expect(diff).toBeGreaterThan(0);
    expect([...values].sort((p, q) => p - q)).toEqual([16, 235]);
  });

  it("refuses odd or tiny sizes", () => {
    expect(() => new TestPatternGenerator(321, 240)).toThrow(/EINVAL: test pattern: width 321/);
    expect(() => new TestPatternGenerator(320, 8)).toThrow(/height 8/);
    expect(() => new TestPatternGenerator(W, H).render(-1)).toThrow(/frame number -1/);
  });

  it("renders a 1080p frame in well under a frame time (typed-array runs)", () => {
    const g = new TestPatternGenerator(1920, 1080);
    const t0 = performance.now();
    for (let n = 0; n < 60; n++) g.render(n);
    expect((performance.now() - t0) / 60).toBeLessThan(5);
  });
});
