import { inflateSync, crc32 as zlibCrc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { crc32, encodePng, nv12ToRgba, PNG_SIGNATURE, xrgb8888ToRgba } from "../src/index.js";
import { decodePng, pixel } from "./helpers.js";

function gradient(w: number, h: number): Uint8Array {
  const px = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) px.set([x * 20, y * 30, (x * y) & 0xff, 255 - x], (y * w + x) * 4);
  return px;
}

describe("encodePng", () => {
  it("writes signature, IHDR, IDAT, IEND with correct CRCs and the exact pixels", () => {
    const px = gradient(7, 5);
    const png = encodePng(px, 7, 5);
    expect([...png.subarray(0, 8)]).toEqual([...PNG_SIGNATURE]);
    const img = decodePng(png);
    expect(img.chunks).toEqual(["IHDR", "IDAT", "IEND"]);
    expect(img.width).toBe(7);
    expect(img.height).toBe(5);
    expect(img.colorType).toBe(6);
    expect(img.rgba).toEqual(px);
    expect(pixel(img, 3, 2)).toEqual([60, 60, 6, 252]);
  });

  it("lays out IHDR as the PNG spec says and filters every row with type 0", () => {
    const png = encodePng(gradient(3, 2), 3, 2, { level: 0 });
    const view = new DataView(png.buffer, png.byteOffset);
    expect(view.getUint32(8)).toBe(13);
    expect(String.fromCharCode(...png.subarray(12, 16))).toBe("IHDR");
    expect([...png.subarray(16, 29)]).toEqual([0, 0, 0, 3, 0, 0, 0, 2, 8, 6, 0, 0, 0]);
    const idatLen = view.getUint32(33);
    const raw = inflateSync(png.subarray(41, 41 + idatLen));
    expect(raw.length).toBe(2 * (1 + 3 * 4));
    expect(raw[0]).toBe(0);
    expect(raw[13]).toBe(0);
    // IEND is the fixed 12 bytes every PNG ends with
    expect([...png.subarray(png.length - 12)]).toEqual([
      0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ]);
  });

  it("crc32 agrees with zlib's and with the standard check value", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    const bytes = gradient(9, 9);
    expect(crc32(bytes)).toBe(zlibCrc32(bytes));
    expect(crc32(bytes.subarray(40), crc32(bytes.subarray(0, 40)))).toBe(zlibCrc32(bytes));
  });

  it("rejects a buffer of the wrong size and bad dimensions", () => {
    expect(() => encodePng(new Uint8Array(10), 2, 2)).toThrow(/10 bytes, 2x2 RGBA needs 16/);
    expect(() => encodePng(new Uint8Array(0), 0, 2)).toThrow(/width 0/);
    expect(() => encodePng(new Uint8Array(4), 1, 1, { level: 12 })).toThrow(/level 12/);
  });
});

describe("xrgb8888ToRgba", () => {
  it("reads B, G, R, X bytes and skips the pitch padding", () => {
    // 2x2, pitch 12 (4 bytes of padding a line)
    const buf = new Uint8Array([
      0x30, 0x20, 0x10, 0xff, 0x00, 0x00, 0xff, 0x00, 0xee, 0xee, 0xee, 0xee, 0x00, 0xff, 0x00, 0x12, 0xff,
      0x00, 0x00, 0x34, 0xee, 0xee, 0xee, 0xee,
    ]);
    const rgba = xrgb8888ToRgba(buf, 2, 2, 12);
    expect([...rgba]).toEqual([0x10, 0x20, 0x30, 255, 255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255]);
  });

  it("rejects a short buffer or a small pitch", () => {
    expect(() => xrgb8888ToRgba(new Uint8Array(15), 2, 2)).toThrow(/needs 16/);
    expect(() => xrgb8888ToRgba(new Uint8Array(64), 2, 2, 4)).toThrow(/pitch 4/);
  });
});

describe("nv12ToRgba (BT.601 limited range)", () => {
  const cases: [string, number, number, number, [number, number, number]][] = [
    ["black", 16, 128, 128, [0, 0, 0]],
    ["white", 235, 128, 128, [255, 255, 255]],
    ["grey", 126, 128, 128, [128, 128, 128]],
    ["red", 81, 90, 240, [255, 0, 0]],
    ["green", 145, 54, 34, [0, 255, 1]],
    ["blue", 41, 240, 110, [0, 0, 255]],
    ["below black clamps", 0, 128, 128, [0, 0, 0]],
  ];
  for (const [what, y, u, v, rgb] of cases) {
    it(`converts ${what} (Y ${y}, Cb ${u}, Cr ${v})`, () => {
      const buf = new Uint8Array([y, y, y, y, u, v]);
      const out = nv12ToRgba(buf, 2, 2);
      for (let k = 0; k < 4; k++) expect([...out.subarray(k * 4, k * 4 + 4)]).toEqual([...rgb, 255]);
    });
  }

  it("shares one CbCr pair per 2x2 block and honours pitches and the plane offset", () => {
    // 4x2 frame, Y pitch 6, CbCr plane at offset 16 with pitch 8
    const buf = new Uint8Array(24).fill(0xaa);
    buf.set([81, 81, 41, 41], 0);
    buf.set([81, 81, 41, 41], 6);
    buf.set([90, 240, 240, 110], 16);
    const out = nv12ToRgba(buf, 4, 2, { pitch: 6, uvOffset: 16, uvPitch: 8 });
    const px = (x: number, y: number) => [...out.subarray((y * 4 + x) * 4, (y * 4 + x) * 4 + 3)];
    expect(px(0, 0)).toEqual([255, 0, 0]);
    expect(px(1, 1)).toEqual([255, 0, 0]);
    expect(px(2, 0)).toEqual([0, 0, 255]);
    expect(px(3, 1)).toEqual([0, 0, 255]);
  });

  it("handles odd sizes and rejects short buffers", () => {
    // 3x3: Y 9 bytes, chroma 2x2 pairs (ceil) with uvPitch 4 = 8 bytes
    const buf = new Uint8Array(9 + 8).fill(128);
    expect(nv12ToRgba(buf, 3, 3, { uvPitch: 4 })).toHaveLength(36);
    expect(() => nv12ToRgba(new Uint8Array(5), 2, 2)).toThrow(/needs 6/);
    expect(() => nv12ToRgba(new Uint8Array(64), 4, 2, { uvPitch: 2 })).toThrow(/uvPitch 2/);
  });

  it("round-trips through encodePng", () => {
    const w = 16;
    const h = 8;
    const buf = new Uint8Array(w * h * 1.5);
    for (let k = 0; k < w * h; k++) buf[k] = 16 + ((k * 7) % 220);
    buf.fill(128, w * h);
    const rgba = nv12ToRgba(buf, w, h);
    expect(decodePng(encodePng(rgba, w, h)).rgba).toEqual(rgba);
  });
});
