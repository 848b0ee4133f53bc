import { SZ_1M, SZ_4K } from "@umm/kernel-core";
import { describe, expect, it } from "vitest";
import {
  type AllocInterval,
  dvMapSvg,
  escapeXml,
  intervalsLiveAt,
  type MemRegion,
  memoryMapSvg,
  OWNER_PALETTE,
  ownerColor,
  regionSnapshotSvg,
  regionUsage,
  svgToPng,
} from "../src/index.js";
import { byClass, decodePng, parseXml, pixel, rgbOf } from "./helpers.js";

const MS = 1_000_000;
const cam: MemRegion = { name: "cam", base: 0x4000_0000, size: 16 * SZ_1M };
const disp: MemRegion = { name: "disp", base: 0x5000_0000, size: 8 * SZ_1M };

const intervals: AllocInterval[] = [
  {
    region: "cam",
    start: cam.base,
    size: 4 * SZ_1M,
    tStart: 0,
    tEnd: 10 * MS,
    owner: "camera",
    label: "frame 0",
  },
  {
    region: "cam",
    start: cam.base + 4 * SZ_1M,
    size: 4 * SZ_1M,
    tStart: 2 * MS,
    tEnd: null,
    owner: "camera",
  },
  {
    region: "cam",
    start: cam.base + 12 * SZ_1M,
    size: 2 * SZ_1M,
    tStart: 5 * MS,
    tEnd: 20 * MS,
    owner: "scaler",
  },
  { region: "disp", start: disp.base, size: 8 * SZ_1M, tStart: 1 * MS, tEnd: null, owner: "display <fb>" },
];

describe("escapeXml and ownerColor", () => {
  it("escapes the five XML specials", () => {
    expect(escapeXml(`a<b>&"c'`)).toBe("a&lt;b&gt;&amp;&quot;c&apos;");
  });
  it("gives an owner the same #rrggbb every time and different owners different colours", () => {
    expect(ownerColor("camera")).toMatch(/^#[0-9a-f]{6}$/);
    expect(ownerColor("camera")).toBe(ownerColor("camera"));
    const colours = new Set(["camera", "scaler", "display", "gpu", "codec"].map((n) => ownerColor(n)));
    expect(colours.size).toBe(5);
    for (const c of colours) expect(OWNER_PALETTE).toContain(c);
  });
  it("lets a picture pin an owner's colour", () => {
    expect(ownerColor("camera", { camera: "#123456" })).toBe("#123456");
    expect(ownerColor("scaler", { camera: "#123456" })).toBe(ownerColor("scaler"));
    const svg = dvMapSvg({
      device: "d",
      mappings: [{ iova: 0, size: 4096, paddr: 0, owner: "camera" }],
      colors: { camera: "#123456" },
    });
    expect(byClass(parseXml(svg), "rect", "iova")[0]!.attrs.fill).toBe("#123456");
    expect(byClass(parseXml(svg), "rect", "swatch")[0]!.attrs.fill).toBe("#123456");
  });
});

describe("memoryMapSvg", () => {
  const svg = memoryMapSvg({ regions: [cam, disp], intervals, tEnd: 30 * MS, title: "CMA over time" });
  const root = parseXml(svg);

  it("is a well-formed SVG document with one panel per region", () => {
    expect(root.name).toBe("svg");
    expect(root.attrs.xmlns).toBe("http://www.w3.org/2000/svg");
    expect(byClass(root, "g", "region").map((g) => g.attrs["data-region"])).toEqual(["cam", "disp"]);
  });

  it("draws one rectangle per allocation, coloured by owner, placed by address and time", () => {
    const rects = byClass(root, "rect", "alloc");
    expect(rects).toHaveLength(4);
    expect(rects.map((r) => r.attrs["data-owner"])).toEqual(["camera", "camera", "scaler", "display <fb>"]);
    for (const r of rects) expect(r.attrs.fill).toBe(ownerColor(r.attrs["data-owner"]!));
    const [a, b, c] = rects.map((r) => ({
      x: Number(r.attrs.x),
      y: Number(r.attrs.y),
      w: Number(r.attrs.width),
      h: Number(r.attrs.height),
    }));
    // a: 0..10 ms of 30, b: 2..30 ms (still held), both 4 MiB of 16 high; b lies below a
    expect(b!.x).toBeGreaterThan(a!.x);
    expect(a!.w / b!.w).toBeCloseTo(10 / 28, 2);
    expect(a!.h).toBeCloseTo(b!.h, 5);
    expect(b!.y).toBeCloseTo(a!.y + a!.h, 1);
    expect(c!.h / a!.h).toBeCloseTo(0.5, 2);
    const tips = rects.map((r) => r.children.find((e) => e.name === "title")?.text ?? "");
    expect(tips[0]).toContain("camera: frame 0");
    expect(tips[0]).toContain("0x40000000..0x403fffff (4 MiB)");
    expect(tips[1]).toContain("still held");
  });

  it("labels the axes in hex, MiB and ms and has a legend of every owner", () => {
    const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(texts).toContain("0x40000000 +0\u00a0B");
    expect(texts).toContain("0x40800000 +8\u00a0MiB");
    expect(texts).toContain("10 ms");
    const legend = byClass(root, "g", "legend")[0]!;
    expect(legend.children.filter((e) => e.name === "text").map((e) => e.text)).toEqual([
      "camera",
      "scaler",
      "display <fb>",
    ]);
  });

  it("rejects an interval outside its region or in an unknown one", () => {
    const bad = { ...intervals[0]!, start: cam.base + 15 * SZ_1M };
    expect(() => memoryMapSvg({ regions: [cam], intervals: [bad], tEnd: 1, title: "x" })).toThrow(
      /lies outside region cam/,
    );
    const lost = { ...intervals[0]!, region: "nope" };
    expect(() => memoryMapSvg({ regions: [cam], intervals: [lost], tEnd: 1, title: "x" })).toThrow(
      /unknown region nope/,
    );
  });
});

describe("fragmentation snapshot", () => {
  it("intervalsLiveAt keeps what was held at t", () => {
    expect(intervalsLiveAt(intervals, 0).map((i) => i.owner)).toEqual(["camera"]);
    expect(intervalsLiveAt(intervals, 6 * MS)).toHaveLength(4);
    expect(intervalsLiveAt(intervals, 10 * MS)).toHaveLength(3);
    expect(intervalsLiveAt(intervals, 25 * MS).map((i) => i.owner)).toEqual(["camera", "display <fb>"]);
  });

  it("regionUsage finds used and free ranges and the largest free chunk", () => {
    const u = regionUsage(cam, intervalsLiveAt(intervals, 6 * MS));
    expect(u.used).toBe(10 * SZ_1M);
    expect(u.free).toBe(6 * SZ_1M);
    expect(u.freeRanges).toEqual([
      { start: cam.base + 8 * SZ_1M, size: 4 * SZ_1M },
      { start: cam.base + 14 * SZ_1M, size: 2 * SZ_1M },
    ]);
    expect(u.usedRanges).toEqual([
      { start: cam.base, size: 8 * SZ_1M },
      { start: cam.base + 12 * SZ_1M, size: 2 * SZ_1M },
    ]);
    expect(u.largestFree).toEqual({ start: cam.base + 8 * SZ_1M, size: 4 * SZ_1M });
    expect(regionUsage(cam, []).largestFree).toEqual({ start: cam.base, size: cam.size });
  });

  it("draws used and free ranges with the largest free chunk marked", () => {
    const svg = regionSnapshotSvg(cam, intervalsLiveAt(intervals, 6 * MS), { t: 6 * MS });
    const root = parseXml(svg);
    expect(byClass(root, "rect", "used")).toHaveLength(3);
    const free = byClass(root, "rect", "free");
    expect(free.map((r) => r.attrs["data-start"])).toEqual(["0x40800000", "0x40e00000"]);
    const largest = byClass(root, "rect", "largest");
    expect(largest).toHaveLength(1);
    expect(largest[0]!.attrs["data-size"]).toBe(String(4 * SZ_1M));
    expect(svg).toContain("largest free: 4 MiB at 0x40800000");
    expect(svg).toContain("cam at 6 ms");
    expect(byClass(root, "text", "figures")[0]!.text).toBe(
      "used 10 MiB (62.5%) · free 6 MiB in 2 chunks · largest free 4 MiB",
    );
  });
});

describe("dvMapSvg", () => {
  const mappings = [
    { iova: 0x2000_0000, size: 2 * SZ_4K, paddr: 0x4100_0000, owner: "camera" },
    { iova: 0x2000_2000, size: SZ_4K, paddr: 0x4000_5000, owner: "camera" },
    { iova: 0x2010_0000, size: SZ_1M, paddr: 0x5000_0000, owner: "display" },
  ];
  const svg = dvMapSvg({ device: "fimc0", mappings });
  const root = parseXml(svg);

  it("draws an IOVA rect, a physical rect and a band per mapping", () => {
    expect(byClass(root, "rect", "iova")).toHaveLength(3);
    expect(byClass(root, "rect", "phys")).toHaveLength(3);
    expect(byClass(root, "polygon", "band")).toHaveLength(3);
    expect(byClass(root, "rect", "iova").map((r) => r.attrs["data-iova"])).toEqual([
      "0x20000000",
      "0x20002000",
      "0x20100000",
    ]);
    expect(byClass(root, "rect", "phys")[2]!.attrs.fill).toBe(ownerColor("display"));
    expect(svg).toContain("D.V map of fimc0");
  });

  it("squeezes the gaps: contiguous IOVA is one segment, scattered physical memory three", () => {
    expect(byClass(root, "rect", "segment")).toHaveLength(2 + 3);
    expect(byClass(root, "line", "gap")).toHaveLength(1 + 2);
    const iova = byClass(root, "rect", "iova").map((r) => [Number(r.attrs.y), Number(r.attrs.height)]);
    // the first two mappings touch
    expect(iova[1]![0]).toBeCloseTo(iova[0]![0]! + iova[0]![1]!, 1);
    const labels = byClass(root, "text", "phys-label").map((t) => t.text);
    expect(labels).toContain("0x40005000");
    expect(labels).toContain("0x50100000");
  });

  it("rejects overlapping IOVA ranges", () => {
    expect(() =>
      dvMapSvg({
        device: "fimc0",
        mappings: [mappings[0]!, { ...mappings[1]!, iova: 0x2000_1000 }],
      }),
    ).toThrow(/overlap/);
  });

  it("draws an empty map", () => {
    expect(parseXml(dvMapSvg({ device: "g2d", mappings: [] })).name).toBe("svg");
  });
});

describe("svgToPng", () => {
  it("renders the snapshot; a used range has its owner's colour", () => {
    const svg = regionSnapshotSvg(cam, intervalsLiveAt(intervals, 6 * MS), { width: 400 });
    const img = decodePng(svgToPng(svg));
    expect(img.width).toBe(400);
    const rect = byClass(parseXml(svg), "rect", "used").find((r) => r.attrs["data-owner"] === "scaler")!;
    const x = Math.round(Number(rect.attrs.x) + Number(rect.attrs.width) / 2);
    const y = Math.round(Number(rect.attrs.y) + Number(rect.attrs.height) / 2);
    const [r, g, b, a] = pixel(img, x, y);
    const want = rgbOf(ownerColor("scaler"));
    expect(Math.abs(r - want[0]) + Math.abs(g - want[1]) + Math.abs(b - want[2])).toBeLessThanOrEqual(3);
    expect(a).toBe(255);
  });

  it("scales to a width and reports SVG it cannot parse", () => {
    const svg = dvMapSvg({ device: "fimc0", mappings: [] });
    expect(decodePng(svgToPng(svg, { width: 1440 })).width).toBe(1440);
    expect(() => svgToPng("<svg><rect></svg>")).toThrow(/svgToPng: resvg could not render/);
    expect(() => svgToPng(svg, { width: 0 })).toThrow(/width 0/);
  });
});
