import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SZ_1M, SZ_4K } from "@umm/kernel-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  dvMapSvg,
  encodePng,
  intervalsFromTrace,
  intervalsLiveAt,
  type MemRegion,
  memoryMapSvg,
  nv12ToRgba,
  regionSnapshotSvg,
  reportHtml,
  summaryTable,
  toChromeTrace,
  toFtraceText,
  type WriteReportParts,
  writeReport,
} from "../src/index.js";
import { decodePng } from "./helpers.js";
import { RECORDS } from "./records.js";

const CHROMIUM = "/usr/bin/chromium";
const cam: MemRegion = { name: "cam", base: 0x4000_0000, size: 16 * SZ_1M };

/** A 32x16 NV12 test frame: four vertical bars (black, red, blue, white). */
function nv12Frame(w = 32, h = 16): Uint8Array {
  const buf = new Uint8Array((w * h * 3) / 2);
  const bars: [number, number, number][] = [
    [16, 128, 128],
    [81, 90, 240],
    [41, 240, 110],
    [235, 128, 128],
  ];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) buf[y * w + x] = bars[Math.floor((x * 4) / w)]![0];
  for (let y = 0; y < h / 2; y++)
    for (let x = 0; x < w / 2; x++) {
      const [, u, v] = bars[Math.floor((x * 2 * 4) / w)]!;
      buf[w * h + y * w + 2 * x] = u;
      buf[w * h + y * w + 2 * x + 1] = v;
    }
  return buf;
}

function syntheticReport(): WriteReportParts {
  const intervals = intervalsFromTrace(RECORDS, { regions: [cam] });
  const rows = [
    { stage: "camera", frames: 120, dropped: 0 },
    { stage: "display", frames: 118, dropped: 2 },
  ];
  return {
    title: "umm demo <synthetic> & friends",
    summary: summaryTable(rows),
    images: [
      {
        title: "CMA area cam over time",
        file: "memory-map.png",
        alt: "memory map of cam",
        svg: memoryMapSvg({ regions: [cam], intervals, tEnd: 100_000, title: "cam" }),
      },
      {
        title: "cam at 60 µs",
        file: "cam-60us.svg",
        alt: "fragmentation of cam",
        svg: regionSnapshotSvg(cam, intervalsLiveAt(intervals, 60_000), { t: 60_000 }),
      },
      {
        title: "D.V map of fimc0",
        file: "maps/dv-fimc0.png",
        alt: "D.V map of fimc0",
        svg: dvMapSvg({
          device: "fimc0",
          mappings: [
            { iova: 0x2000_0000, size: SZ_1M, paddr: 0x4000_0000, owner: "camera" },
            { iova: 0x2010_0000, size: SZ_4K, paddr: 0x4100_0000, owner: "display" },
          ],
        }),
        pngWidth: 600,
      },
      {
        title: "frame 0 (NV12)",
        file: "frames/frame-000.png",
        alt: "captured frame 0",
        png: encodePng(nv12ToRgba(nv12Frame(), 32, 16), 32, 16),
        width: 256,
        pixelated: true,
      },
    ],
    svgs: [{ title: "inline D.V map", svg: dvMapSvg({ device: "g2d", mappings: [] }) }],
    traceFile: "trace.json",
    files: [
      { file: "trace.json", data: JSON.stringify(toChromeTrace(RECORDS)), title: "trace" },
      { file: "trace.txt", data: toFtraceText(RECORDS), title: "the trace as ftrace text" },
    ],
  };
}

describe("reportHtml", () => {
  it("is self-contained: inline CSS, no scripts, no external URLs, escaped text", () => {
    const html = reportHtml({
      title: "a <b> & c",
      summary: "x < y\n",
      images: [{ title: "pic", file: "dir/a b.png", alt: 'say "hi"' }],
      traceFile: "trace.json",
    });
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).toContain("<title>a &lt;b&gt; &amp; c</title>");
    expect(html).toContain('<pre class="summary">x &lt; y\n</pre>');
    expect(html).toContain('<img src="dir/a%20b.png" alt="say &quot;hi&quot;">');
    expect(html).toContain("<style>");
    expect(html).not.toMatch(/<script|<link|@import|url\(|https?:\/\/(?!ui\.perfetto)/i);
    expect(html).toContain("default-src 'none'");
  });

  it("draws row summaries as an HTML table", () => {
    const html = reportHtml({ title: "t", summary: [{ a: "x", n: 3 }], images: [] });
    expect(html).toContain("<th>a</th><th>n</th>");
    expect(html).toContain('<tr><td>x</td><td class="num">3</td></tr>');
  });

  it("rejects paths that leave the folder or name a scheme", () => {
    for (const file of ["../x.png", "/tmp/x.png", "http://example.com/x.png", "a//b.png", "C:\\x.png", ""]) {
      expect(() => reportHtml({ title: "t", summary: "", images: [{ title: "t", file, alt: "" }] })).toThrow(
        /must be a relative path inside the report folder/,
      );
    }
  });
});

describe("writeReport", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "umm-report-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes the pictures (PNG and SVG), the extra files and report.html", async () => {
    const out = await writeReport(join(dir, "unit"), syntheticReport());
    expect(out.files).toEqual([
      "memory-map.png",
      "memory-map.svg",
      "cam-60us.svg",
      "maps/dv-fimc0.png",
      "maps/dv-fimc0.svg",
      "frames/frame-000.png",
      "trace.json",
      "trace.txt",
      "report.html",
    ]);
    const dv = decodePng(await readFile(join(dir, "unit", "maps/dv-fimc0.png")));
    expect(dv.width).toBe(600);
    const frame = decodePng(await readFile(join(dir, "unit", "frames/frame-000.png")));
    expect([frame.width, frame.height]).toEqual([32, 16]);
    const html = await readFile(out.html, "utf8");
    expect(html).toContain('<a href="memory-map.svg">SVG</a>');
    expect(html).toContain(
      '<img class="pixelated" src="frames/frame-000.png" alt="captured frame 0" width="256">',
    );
    expect(html).toContain('<a href="trace.txt">trace.txt</a>: the trace as ftrace text');
    expect(html.match(/href="trace\.json"/g)).toHaveLength(1);
    expect(
      JSON.parse(await readFile(join(dir, "unit", "trace.json"), "utf8")).traceEvents.length,
    ).toBeGreaterThan(0);
  });

  it("checks everything before writing anything", async () => {
    const parts = syntheticReport();
    const bad = { ...parts, images: [...parts.images, { title: "x", file: "x.png", alt: "x" }] };
    await expect(writeReport(join(dir, "bad"), bad)).rejects.toThrow(
      /x.png has neither png bytes nor an svg/,
    );
    expect(existsSync(join(dir, "bad"))).toBe(false);
    const twice = { ...parts, files: [{ file: "memory-map.svg", data: "" }] };
    await expect(writeReport(join(dir, "twice"), twice)).rejects.toThrow(
      /memory-map.svg would be written twice/,
    );
    expect(existsSync(join(dir, "twice"))).toBe(false);
  });

  it.skipIf(!existsSync(CHROMIUM))(
    "report.html opens in headless Chromium with every image loaded and no network (skipped when /usr/bin/chromium is absent: apt-get install chromium)",
    async () => {
      const { chromium } = await import("playwright-core");
      const out = await writeReport(join(dir, "browser"), syntheticReport());
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--no-first-run",
          "--disable-quic",
        ],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
        const requests: string[] = [];
        const failed: string[] = [];
        const problems: string[] = [];
        page.on("request", (r) => requests.push(r.url()));
        page.on("requestfailed", (r) => failed.push(r.url()));
        page.on("console", (m) => {
          if (m.type() === "error" || m.type() === "warning") problems.push(m.text());
        });
        await page.goto(pathToFileURL(out.html).href, { waitUntil: "load" });
        const images = await page.$$eval("img", (imgs) =>
          imgs.map((i) => ({ src: i.getAttribute("src"), complete: i.complete, width: i.naturalWidth })),
        );
        expect(images.map((i) => i.src)).toEqual([
          "memory-map.png",
          "cam-60us.svg",
          "maps/dv-fimc0.png",
          "frames/frame-000.png",
        ]);
        for (const i of images) {
          expect(i.complete, i.src ?? "").toBe(true);
          expect(i.width, i.src ?? "").toBeGreaterThan(0);
        }
        expect(images[2]!.width).toBe(600);
        expect(images[3]!.width).toBe(32);
        expect(await page.locator("img.pixelated").evaluate((i) => (i as { width: number }).width)).toBe(256);
        expect(await page.locator("svg.dv-map").count()).toBe(1);
        expect(await page.locator("pre.summary").isVisible()).toBe(true);
        const summary = await page.locator("pre.summary").textContent();
        expect(summary).toContain("display     118        2");
        expect(await page.title()).toBe("umm demo <synthetic> & friends");
        expect(requests.length).toBeGreaterThan(0);
        expect(requests.filter((u) => !u.startsWith("file://"))).toEqual([]);
        expect(failed).toEqual([]);
        expect(problems).toEqual([]);
        const shot = await page.screenshot({ path: join(dir, "browser", "screenshot.png"), fullPage: true });
        const img = decodePng(new Uint8Array(shot));
        expect(img.width).toBe(1200);
        expect(img.height).toBeGreaterThan(900);
      } finally {
        await browser.close();
      }
    },
    60_000,
  );
});
