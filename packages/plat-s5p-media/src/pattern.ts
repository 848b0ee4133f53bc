/**
 * The test-pattern sensor's picture, as NV12 (a Y plane of `width` × `height` bytes, then an
 * interleaved CbCr plane of `width` × `height / 2` bytes), BT.601 limited range:
 *
 * - eight vertical 75 % colour bars (white, yellow, cyan, green, magenta, red, blue, black);
 * - a moving box whose position is a function of the frame number only (it bounces between the
 *   edges, `width / 64` pixels a frame across and `height / 48` down);
 * - the frame number, six decimal digits, drawn with a 5×7 bitmap font in the luma plane (white
 *   on a black box, chroma neutral) in the top-left corner.
 *
 * Frame N is the same bytes whoever asks and in whatever order: the generator keeps the
 * background once and per frame only restores what the previous frame drew over it and draws
 * the box and the digits again — typed-array `set`/`fill` per run, no per-pixel JavaScript
 * outside the glyphs.
 *
 * @module
 */
import { KernelError } from "@umm/kernel-core";

/** One colour in BT.601 limited-range YCbCr. */
export interface YCbCr {
  readonly y: number;
  readonly cb: number;
  readonly cr: number;
}

/** The eight 75 % colour bars, left to right (ITU-R BT.801 / EBU values, BT.601 limited range). */
export const COLOUR_BARS: readonly YCbCr[] = Object.freeze([
  { y: 180, cb: 128, cr: 128 }, // white
  { y: 162, cb: 44, cr: 142 }, // yellow
  { y: 131, cb: 156, cr: 44 }, // cyan
  { y: 112, cb: 72, cr: 58 }, // green
  { y: 84, cb: 184, cr: 198 }, // magenta
  { y: 65, cb: 100, cr: 212 }, // red
  { y: 35, cb: 212, cr: 114 }, // blue
  { y: 16, cb: 128, cr: 128 }, // black
]);

/** The moving box's colour (a saturated orange). */
export const BOX_COLOUR: YCbCr = Object.freeze({ y: 150, cb: 44, cr: 200 });

/** Luma of the digits and of the box behind them. */
const TEXT_Y = 235;
const TEXT_BG_Y = 16;
/** Digits drawn (the frame number modulo 10^6, zero-padded). */
export const PATTERN_DIGITS = 6;

// 5×7 glyphs of 0-9, one row per entry, bit 4 = leftmost column.
const FONT: readonly (readonly number[])[] = [
  [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
  [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
  [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
  [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
  [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
  [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
  [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
  [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
  [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
  [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
];

/** A rectangle in luma pixels; x, y, w, h all even. */
interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

const even = (v: number): number => v & ~1;

/** Position along a bouncing path of `range` pixels after `travel` pixels of travel. */
function bounce(travel: number, range: number): number {
  if (range <= 0) return 0;
  const m = travel % (2 * range);
  return m <= range ? m : 2 * range - m;
}

/** Where the moving box of frame `n` is, and its side, for a `width` × `height` picture. */
export function patternBox(width: number, height: number, n: number): Rect {
  const side = Math.max(8, even(Math.floor(Math.min(width, height) / 6)));
  const s = Math.min(side, even(width), even(height));
  const vx = Math.max(2, even(Math.floor(width / 64)));
  const vy = Math.max(2, even(Math.floor(height / 48)));
  return {
    x: even(bounce(n * vx, width - s)),
    y: even(bounce(n * vy, height - s)),
    w: s,
    h: s,
  };
}

/** Pixels per font dot for a picture `height` lines high. */
export function patternFontScale(height: number): number {
  return Math.max(1, Math.floor(height / 120));
}

/** The validated size of a test pattern: even, 16..8192 in each direction. */
export function checkPatternSize(width: number, height: number): void {
  for (const [what, v] of [
    ["width", width],
    ["height", height],
  ] as const) {
    if (!Number.isInteger(v) || v < 16 || v > 8192 || v % 2) {
      throw new KernelError("EINVAL", `test pattern: ${what} ${String(v)} is not an even number in 16..8192`);
    }
  }
}

/**
 * Renders the test pattern's NV12 frames of one size. `render(n)` returns the generator's own
 * buffer (valid until the next call); `testPatternFrame` gives a copy.
 */
export class TestPatternGenerator {
  /** pixels per line */
  readonly width: number;
  /** lines */
  readonly height: number;
  /** bytes of one frame: width × height × 3 / 2 */
  readonly frameSize: number;
  /** the frame last rendered (Y plane, then CbCr) */
  readonly frame: Uint8Array;
  readonly #bg: Uint8Array;
  readonly #uv16: Uint16Array;
  readonly #scale: number;
  #dirty: Rect[] = [];
  #last = -1;

  /** A generator for `width` × `height` frames. EINVAL for odd sizes or sizes outside 16..8192. */
  constructor(width: number, height: number) {
    checkPatternSize(width, height);
    this.width = width;
    this.height = height;
    this.frameSize = (width * height * 3) / 2;
    this.#scale = patternFontScale(height);
    this.#bg = new Uint8Array(this.frameSize);
    this.#buildBackground();
    this.frame = this.#bg.slice();
    this.#uv16 = new Uint16Array(this.frame.buffer, width * height, (width * height) / 4);
  }

  #buildBackground(): void {
    const { width: w, height: h } = this;
    const bg = this.#bg;
    const uv = new Uint16Array(bg.buffer, w * h, (w * h) / 4);
    const bars = COLOUR_BARS.length;
    for (let b = 0; b < bars; b++) {
      const x0 = even(Math.floor((b * w) / bars));
      const x1 = b === bars - 1 ? w : even(Math.floor(((b + 1) * w) / bars));
      const c = COLOUR_BARS[b]!;
      bg.fill(c.y, x0, x1);
      uv.fill(c.cb | (c.cr << 8), x0 >> 1, x1 >> 1);
    }
    for (let y = 1; y < h; y++) bg.copyWithin(y * w, 0, w);
    const uvBase = w * h;
    for (let y = 1; y < h / 2; y++) bg.copyWithin(uvBase + y * w, uvBase, uvBase + w);
  }

  /** The rectangle the digits' box covers. */
  textRect(): Rect {
    const s = this.#scale;
    const w = even((PATTERN_DIGITS * 6 + 1) * s + 1);
    const h = even(9 * s + 1);
    return { x: 0, y: 0, w: Math.min(w, this.width), h: Math.min(h, this.height) };
  }

  /** Frame `n` (a non-negative integer) in the generator's buffer. */
  render(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new KernelError(
        "EINVAL",
        `test pattern: frame number ${String(n)} is not a non-negative integer`,
      );
    }
    if (n === this.#last) return this.frame;
    for (const r of this.#dirty) this.#restore(r);
    const box = patternBox(this.width, this.height, n);
    this.#fillRect(box, BOX_COLOUR);
    const text = this.textRect();
    this.#fillRect(text, { y: TEXT_BG_Y, cb: 128, cr: 128 });
    this.#drawNumber(n, text);
    this.#dirty = [box, text];
    this.#last = n;
    return this.frame;
  }

  #restore(r: Rect): void {
    const w = this.width;
    const f = this.frame;
    const bg = this.#bg;
    for (let y = r.y; y < r.y + r.h; y++) {
      const o = y * w + r.x;
      f.set(bg.subarray(o, o + r.w), o);
    }
    const base = w * this.height;
    for (let y = r.y >> 1; y < (r.y + r.h) >> 1; y++) {
      const o = base + y * w + r.x;
      f.set(bg.subarray(o, o + r.w), o);
    }
  }

  #fillRect(r: Rect, c: YCbCr): void {
    const w = this.width;
    const f = this.frame;
    for (let y = r.y; y < r.y + r.h; y++) f.fill(c.y, y * w + r.x, y * w + r.x + r.w);
    const v = c.cb | (c.cr << 8);
    const uv = this.#uv16;
    for (let y = r.y >> 1; y < (r.y + r.h) >> 1; y++) {
      const o = (y * w + r.x) >> 1;
      uv.fill(v, o, o + (r.w >> 1));
    }
  }

  #drawNumber(n: number, box: Rect): void {
    const s = this.#scale;
    const w = this.width;
    const f = this.frame;
    const text = String(n % 10 ** PATTERN_DIGITS).padStart(PATTERN_DIGITS, "0");
    for (let i = 0; i < text.length; i++) {
      const glyph = FONT[text.charCodeAt(i) - 48]!;
      const gx = s + i * 6 * s;
      for (let row = 0; row < 7; row++) {
        const bits = glyph[row]!;
        const y0 = s + row * s;
        for (let col = 0; col < 5; col++) {
          if (!(bits & (0x10 >> col))) continue;
          const x0 = gx + col * s;
          if (x0 + s > box.w || y0 + s > box.h) continue;
          for (let dy = 0; dy < s; dy++) f.fill(TEXT_Y, (y0 + dy) * w + x0, (y0 + dy) * w + x0 + s);
        }
      }
    }
  }
}

/** Frame `n` of the `width` × `height` test pattern as a new NV12 buffer. */
export function testPatternFrame(width: number, height: number, n: number): Uint8Array {
  return new TestPatternGenerator(width, height).render(n).slice();
}
