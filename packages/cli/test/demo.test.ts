// umm demo and umm trace: small runs of the real pipeline (4 frames, a 640x360 camera) through
// the command line — the summary's fields and goals, the report folder, each --bug's report and
// picture, determinism, bad options, the Chrome trace's tracks and the ftrace text.
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEMO_SUMMARY_FIELDS,
  type DemoSummary,
  demoSummary,
  formatDemoSummary,
  parseDemoArgs,
  runDemo,
} from "../src/demo/index.js";
import { main } from "../src/index.js";
import { type DecodedPng, decodePng, pixel } from "./helpers.js";

const CHROMIUM = "/usr/bin/chromium";
const SMALL = ["--frames", "4", "--size", "640x360"];

/** Runs `umm <argv>` with captured output. */
async function umm(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const status = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { status, out, err };
}

let dir: string;
/** Two clean runs with the same seed, and a bug run of each kind. */
const runs: Record<string, { status: number; summary: DemoSummary; err: string; dir: string }> = {};

async function demo(name: string, extra: string[] = []): Promise<void> {
  const out = join(dir, name);
  const r = await umm(["demo", ...SMALL, "--json", "--out", out, ...extra]);
  runs[name] = { status: r.status, summary: JSON.parse(r.out) as DemoSummary, err: r.err, dir: out };
}

const frameOf = async (name: string): Promise<DecodedPng> =>
  decodePng(new Uint8Array(await readFile(join(runs[name]!.dir, "frame.png"))));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "umm-demo-"));
  await demo("a");
  await demo("b");
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("umm demo", () => {
  it("runs the pipeline with no CPU copy, no hazard and nothing held after shutdown", () => {
    const { status, summary: s, err } = runs.a!;
    expect(status).toBe(0);
    expect(Object.keys(s)).toEqual(DEMO_SUMMARY_FIELDS);
    expect(s).toMatchObject({
      board: "exynos4210",
      seed: 1,
      bug: null,
      cache: "ideal",
      cameraSize: "640x360",
      displaySize: "1920x1080",
      frames: 4,
      fps: 30,
      cpuCopies: 0,
      cpuCopyBytes: 0,
      faults: { total: 0, sysmmu: {}, iommu: 0, busErrors: 0 },
      coherencyHazards: 0,
      staleTlbReports: 0,
      dmaDebugReports: 0,
      hazards: [],
      leaks: 0,
      leakDetails: [],
    });
    // the camera wrote 4 NV12 frames, the scaler read them and wrote 1080p XRGB, the display read
    expect(s.dmaBytesByDevice.fimc0).toBe(4 * 640 * 360 * 1.5);
    expect(s.dmaBytesByDevice.fimc1).toBe(4 * (640 * 360 * 1.5 + 1920 * 1080 * 4));
    expect(s.dmaBytesByDevice.fimd0! % (1920 * 1080 * 4)).toBe(0);
    expect(s.dmaBytes).toBe(Object.values(s.dmaBytesByDevice).reduce((a, b) => a + b, 0));
    // three 1080p scanout buffers from the CMA heap, in use while the last frame was shown
    const common = s.cma.find((c) => c.region === "common")!;
    expect(common.usedBytes).toBe(3 * 2025 * 4096);
    expect(common.peakBytes).toBe(3 * 2025 * 4096);
    expect(s.iommuMaps).toBeGreaterThan(0);
    // the progress lines (not a TTY) and the closing line go to stderr
    expect(err).toContain("frame 4/4 (100%)");
    expect(err).toMatch(/4 frames in [\d.]+ s wall time/);
  });

  it("writes the report folder: the last frame, the memory map, the D.V maps, the traces, report.html", async () => {
    const files = (await readdir(runs.a!.dir)).sort();
    expect(files).toEqual([
      "dv-fimc0.png",
      "dv-fimc0.svg",
      "dv-fimc1.png",
      "dv-fimc1.svg",
      "dv-fimd0.png",
      "dv-fimd0.svg",
      "frame.png",
      "memory-map.png",
      "memory-map.svg",
      "report.html",
      "summary.json",
      "trace.json",
      "trace.txt",
    ]);
    const frame = await frameOf("a");
    expect([frame.width, frame.height]).toEqual([1920, 1080]);
    // the scaled test pattern: the first colour bar is 75 % white, the seventh blue
    expect(pixel(frame, 100, 500)).toEqual([191, 191, 191, 255]);
    expect(pixel(frame, 1560, 500)).toEqual([0, 1, 191, 255]);
    const map = await readFile(join(runs.a!.dir, "memory-map.svg"), "utf8");
    for (const name of [
      "common",
      "mfc_fw",
      "bank1 (page allocator)",
      "scanout buffer 0",
      "camera buffer 3",
    ]) {
      expect(map).toContain(name);
    }
    const dv = await readFile(join(runs.a!.dir, "dv-fimd0.svg"), "utf8");
    expect(dv).toContain('data-owner="scanout buffer');
    const html = await readFile(join(runs.a!.dir, "report.html"), "utf8");
    for (const f of [
      "frame.png",
      "memory-map.png",
      "dv-fimc1.png",
      "trace.json",
      "trace.txt",
      "summary.json",
    ]) {
      expect(html).toContain(`"${f}"`);
    }
    expect(html).toContain("CPU copies");
    const summary = JSON.parse(await readFile(join(runs.a!.dir, "summary.json"), "utf8"));
    expect(summary).toEqual(runs.a!.summary);
  });

  it("is deterministic: the same seed gives the same summary, trace and pictures", async () => {
    expect(runs.b!.summary).toEqual(runs.a!.summary);
    for (const f of [
      "trace.txt",
      "trace.json",
      "frame.png",
      "memory-map.svg",
      "memory-map.png",
      "dv-fimc1.png",
    ]) {
      const [x, y] = await Promise.all([readFile(join(runs.a!.dir, f)), readFile(join(runs.b!.dir, f))]);
      expect(x.equals(y), f).toBe(true);
    }
  });

  it("--bug missing-sync: a dirty read by the display of the last scanout buffer; its HUD never reaches memory", async () => {
    await demo("missing-sync", ["--bug", "missing-sync"]);
    const { status, summary: s } = runs["missing-sync"]!;
    expect(status).toBe(1);
    expect(s).toMatchObject({ bug: "missing-sync", coherencyHazards: 1, staleTlbReports: 0, leaks: 0 });
    expect(s.faults.total).toBe(0);
    expect(s.hazards).toHaveLength(1);
    expect(s.hazards[0]).toMatchObject({
      source: "coherency",
      kind: "dirty-read",
      device: "fimd0",
      missing: "clean (dma_sync_*_for_device)",
    });
    expect(s.hazards[0]!.buffer).toMatch(/^scanout buffer 0 \(dma-buf \d+, P\.A 0x[0-9a-f]+\)$/);
    // the picture: the HUD bar is missing (the clean run darkens it)
    const clean = await frameOf("a");
    const bad = await frameOf("missing-sync");
    expect(pixel(clean, 40, 1030)).toEqual([95, 95, 95, 255]);
    expect(pixel(bad, 40, 1030)).toEqual([191, 191, 191, 255]);
    expect(pixel(bad, 1000, 500)).toEqual(pixel(clean, 1000, 500));
  }, 20_000);

  it("--bug no-tlb-flush: the TLB sanitizer names the stale entry; the top of the last frame comes from an older buffer", async () => {
    await demo("no-tlb-flush", ["--bug", "no-tlb-flush"]);
    const { status, summary: s } = runs["no-tlb-flush"]!;
    expect(status).toBe(1);
    expect(s).toMatchObject({ bug: "no-tlb-flush", staleTlbReports: 1, coherencyHazards: 0, leaks: 0 });
    expect(s.hazards).toHaveLength(1);
    const h = s.hazards[0]!;
    expect(h).toMatchObject({ source: "stale-tlb", device: "fimd0" });
    expect(h.missing).toMatch(/^TLB invalidation after the unmap/);
    expect(h.buffer).toMatch(/^scanout buffer 0 /);
    expect(h.detail).toMatch(/through a stale TLB entry/);
    expect(h.detail).toMatch(/scanout buffer 1 \(/); // the buffer the stale entry still points at
    // the picture: the frame counter at the top is an older frame's, the rest is this frame
    const clean = await frameOf("a");
    const bad = await frameOf("no-tlb-flush");
    const rowDiffers = (y: number) =>
      Array.from({ length: 320 }, (_, x) => pixel(bad, x, y).join() !== pixel(clean, x, y).join()).some(
        Boolean,
      );
    expect(rowDiffers(40)).toBe(true);
    expect(rowDiffers(900)).toBe(false);
  }, 20_000);

  it("--bug use-after-free: the display fetches the freed buffer on screen, a SysMMU page fault; the screen goes black", async () => {
    await demo("use-after-free", ["--bug", "use-after-free"]);
    const { status, summary: s } = runs["use-after-free"]!;
    expect(status).toBe(1);
    expect(s).toMatchObject({
      bug: "use-after-free",
      faults: { total: 1, sysmmu: { PAGE: 1 }, iommu: 1, busErrors: 0 },
      coherencyHazards: 0,
      staleTlbReports: 0,
      leaks: 0,
    });
    expect(s.hazards).toHaveLength(1);
    const h = s.hazards[0]!;
    expect(h).toMatchObject({ source: "iommu-fault", kind: "PAGE FAULT", device: "fimd0" });
    expect(h.buffer).toMatch(/^scanout buffer 0 /);
    expect(h.missing).toMatch(
      /^a reference that keeps scanout buffer 0 mapped while fimd0 uses it \(unmapped at [\d.]+ ms, freed at/,
    );
    const bad = await frameOf("use-after-free");
    for (const [x, y] of [
      [100, 500],
      [1560, 500],
      [40, 1030],
    ] as const) {
      expect(pixel(bad, x, y)).toEqual([0, 0, 0, 255]);
    }
  }, 20_000);

  it("bad options exit 2 with a message naming the option", async () => {
    const cases: [string[], RegExp][] = [
      [["--frames", "0"], /--frames "0" is not a whole number/],
      [["--frames", "x"], /--frames "x"/],
      [["--size", "12x"], /--size "12x" is not WIDTHxHEIGHT/],
      [["--size", "641x360"], /--size 641x360: NV12 frames need an even width and height/],
      [["--seed=-1"], /--seed "-1" is not a non-negative integer/],
      [["--board", "nope"], /--board: no board named "nope" \(boards: exynos4210, s5pv210; or a \.dts/],
      [["--board", "missing.dtb"], /--board missing.dtb: cannot read it/],
      [["--cache", "big"], /--cache "big" is not "ideal" or "sized"/],
      [["--bug", "nope"], /--bug "nope" is not one of missing-sync, no-tlb-flush, use-after-free/],
      [["--bug", "no-tlb-flush", "--frames", "3"], /--bug no-tlb-flush needs --frames 4 or more/],
      [["--bug", "use-after-free", "--board", "s5pv210"], /s5pv210's fimd0 has none/],
      [["--out", ""], /--out is empty/],
      [["--frobnicate"], /Unknown option '--frobnicate'/],
      [["extra"], /Unexpected argument 'extra'/],
    ];
    for (const [args, message] of cases) {
      const r = await umm(["demo", ...args]);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.err, args.join(" ")).toMatch(message);
      expect(r.out).toBe("");
    }
    // the scaler refuses more than 4x up: found when the pipeline starts, still exit 2
    const far = await umm(["demo", "--frames", "1", "--size", "320x240", "--out", join(dir, "far")]);
    expect(far.status).toBe(2);
    expect(far.err).toMatch(/--size 320x240: the scaler refuses it \(.*scales up more than 4x\)/);
    const t = await umm(["trace", "--format", "svg"]);
    expect(t.status).toBe(2);
    expect(t.err).toMatch(/--format "svg" is not "chrome" or "ftrace"/);
  }, 20_000);

  it("the README's summary is what the default run prints", async () => {
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## The pipeline demo"));
    const table = /```text\n([\s\S]*?)```/.exec(section)![1];
    // what `umm demo` prints with no options (the command also writes the report; not needed here)
    const run = await runDemo(parseDemoArgs([], { json: true }).run);
    expect(formatDemoSummary(demoSummary(run))).toBe(table);
  }, 30_000);

  it("--help prints the usage of each command", async () => {
    for (const cmd of ["demo", "trace"]) {
      const r = await umm([cmd, "--help"]);
      expect(r.status).toBe(0);
      expect(r.out).toMatch(new RegExp(`^umm ${cmd} — `));
    }
  });

  it.skipIf(!existsSync(CHROMIUM))(
    "report.html opens in headless Chromium with every picture loaded and no network (skipped when /usr/bin/chromium is absent)",
    async () => {
      const { chromium } = await import("playwright-core");
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--no-first-run",
        ],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
        const requests: string[] = [];
        const failed: string[] = [];
        page.on("request", (r) => requests.push(r.url()));
        page.on("requestfailed", (r) => failed.push(r.url()));
        await page.goto(pathToFileURL(join(runs.a!.dir, "report.html")).href, { waitUntil: "load" });
        const images = await page.$$eval("img", (imgs) =>
          imgs.map((i) => ({ src: i.getAttribute("src"), complete: i.complete, width: i.naturalWidth })),
        );
        expect(images.map((i) => i.src)).toEqual([
          "frame.png",
          "memory-map.png",
          "dv-fimc0.png",
          "dv-fimc1.png",
          "dv-fimd0.png",
        ]);
        for (const i of images) {
          expect(i.complete, i.src ?? "").toBe(true);
          expect(i.width, i.src ?? "").toBeGreaterThan(0);
        }
        expect(images[0]!.width).toBe(1920);
        expect(await page.locator("pre.summary").textContent()).toContain("CPU copies");
        expect(requests.filter((u) => !u.startsWith("file://"))).toEqual([]);
        expect(failed).toEqual([]);
      } finally {
        await browser.close();
      }
    },
    60_000,
  );
});

describe("umm trace", () => {
  it("--format chrome: valid JSON with one track per device and one per process", async () => {
    const r = await umm(["trace", ...SMALL]);
    expect(r.status).toBe(0);
    const trace = JSON.parse(r.out) as {
      traceEvents: { name: string; ph: string; pid: number; tid: number; args: Record<string, unknown> }[];
    };
    const meta = trace.traceEvents.filter((e) => e.ph === "M");
    const processes = meta.filter((e) => e.name === "process_name").map((e) => e.args.name);
    expect(processes).toEqual(expect.arrayContaining(["devices", "compositor", "camera", "swapper"]));
    const devicesPid = meta.find((e) => e.name === "process_name" && e.args.name === "devices")!.pid;
    const tracks = meta
      .filter((e) => e.name === "thread_name" && e.pid === devicesPid)
      .map((e) => e.args.name);
    expect(tracks).toEqual(expect.arrayContaining(["fimc0", "fimc1", "fimd0", "exynos"]));
    expect(new Set(tracks).size).toBe(tracks.length);
    // every event sits on a named track
    const named = new Set(meta.filter((e) => e.name === "thread_name").map((e) => `${e.pid}/${e.tid}`));
    for (const e of trace.traceEvents) if (e.ph !== "M") expect(named.has(`${e.pid}/${e.tid}`)).toBe(true);
    const xfer = trace.traceEvents.filter((e) => e.name === "dma_xfer" && e.args.device === "fimd0");
    expect(xfer.length).toBeGreaterThan(0);
    // the same events as the demo's report (the same run)
    const report = JSON.parse(await readFile(join(runs.a!.dir, "trace.json"), "utf8"));
    expect(report).toEqual(trace);
  }, 20_000);

  it("--format ftrace --out: the text of /sys/kernel/tracing/trace, the same as the demo's", async () => {
    const file = join(dir, "trace.txt");
    const r = await umm(["trace", ...SMALL, "--format", "ftrace", "--out", file]);
    expect(r.status).toBe(0);
    expect(r.out).toBe("");
    const text = await readFile(file, "utf8");
    expect(text.startsWith("# tracer: nop\n#\n# entries-in-buffer/entries-written: ")).toBe(true);
    expect(text).toMatch(/^compositor-1 +\[000\] +[\d.]+: dma_buf_mmap: ino=\d+ pid=1 /m);
    expect(text).toMatch(/^camera-2 +\[000\] +[\d.]+: v4l2_dqbuf: node=\/dev\/video0 /m);
    expect(text).toMatch(/: fimd_scanout: device=fimd0 seq=\d+ bytes=8294400$/m);
    expect(text).toBe(await readFile(join(runs.a!.dir, "trace.txt"), "utf8"));
  }, 20_000);
});
