import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dtcAvailable } from "@umm/soc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CMA_PLAN_HELP, type CmaPlanReport, cmaPlanCommand } from "../src/cma-plan/index.js";
import { main } from "../src/main.js";
import { byClass, decodePng, parseXml } from "./helpers.js";

function capture() {
  let out = "";
  let err = "";
  return {
    io: { out: (s: string) => (out += s), err: (s: string) => (err += s) },
    get: () => ({ out, err }),
  };
}

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = capture();
  const code = await cmaPlanCommand(argv, c.io);
  return { code, ...c.get() };
}

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../soc/fixtures/${name}`, import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "umm-cma-plan-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("umm cma-plan: the command", () => {
  it("--out that cannot be written exits 2 naming it", async () => {
    const file = join(dir, "a-file");
    await writeFile(file, "");
    const r = await run("--out", join(file, "report"));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^umm cma-plan: --out .*a-file\/report: cannot write the report: /);
  });

  it("--help prints the usage with the workload format", async () => {
    const r = await run("--help");
    expect(r).toEqual({ code: 0, out: CMA_PLAN_HELP, err: "" });
    expect(CMA_PLAN_HELP).toMatch(/^Usage:\n {2}umm cma-plan \[--board/m);
    expect(CMA_PLAN_HELP).toContain('"op": "alloc"');
  });

  it("defaults to the demo workload on the default board and exits 0", async () => {
    const r = await run();
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(r.out).toContain("umm cma-plan: board exynos4210, workload demo");
    expect(r.out).toMatch(/^common +merged +96 MiB +23\.73 MiB/m);
  });

  it("umm cma-plan runs it from the umm command line", async () => {
    const c = capture();
    const code = await main(["cma-plan", "--board", "exynos4210", "--workload", "demo", "--seed", "2"], c.io);
    expect(code).toBe(0);
    const direct = await run("--board", "exynos4210", "--workload", "demo", "--seed", "2");
    expect(c.get()).toEqual({ out: direct.out, err: "" });
    expect(direct.out).toContain("seed 2: 0 failures");
    const bad = capture();
    expect(await main(["cma-plan", "--seed", "-1"], bad.io)).toBe(2);
    expect(bad.get().err).toBe('umm cma-plan: --seed "-1" is not a non-negative integer\n');
  });

  it("prints what the README shows", async () => {
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    const blocks = [...readme.matchAll(/\(([^()]*?cma-plan[^()]*)\):\n\n```text\n([\s\S]*?)```\n/g)];
    expect(blocks).toHaveLength(2);
    const [demo, churn] = blocks;
    expect(demo![1]).toMatch(/a test checks that this is what it prints/);
    const c = capture();
    expect(await main(["cma-plan", "--board", "exynos4210", "--workload", "demo"], c.io)).toBe(0);
    expect(c.get().out).toBe(demo![2]);
    // an excerpt: each line is a line of the output
    expect(churn![1]).toMatch(/umm cma-plan --board s5pv210 --workload churn-10h`, which exits 1/);
    const r = await run("--board", "s5pv210", "--workload", "churn-10h");
    expect(r.code).toBe(1);
    const lines = r.out.split("\n");
    for (const line of churn![2]!.trimEnd().split("\n")) expect(lines).toContain(line);
  });

  it("--json prints the report, the same for the same seed", async () => {
    const a = await run("--workload", "churn-10h", "--seed", "3", "--json");
    const b = await run("--workload", "churn-10h", "--seed", "3", "--json");
    const c = await run("--workload", "churn-10h", "--seed", "4", "--json");
    expect(a.code).toBe(0);
    expect(b.out).toBe(a.out);
    expect(c.out).not.toBe(a.out);
    const report = JSON.parse(a.out) as CmaPlanReport;
    expect(report).toMatchObject({
      board: "exynos4210",
      seed: 3,
      workload: { name: "churn-10h", duration: 36e12 },
    });
    expect(report.regions.map((r) => r.name)).toEqual(["mfc_fw", "mfc_b1", "common", "mfc_b2"]);
  });

  it("exits 1 when allocations fail, listing them and the sizes that would succeed", async () => {
    const file = join(dir, "big.json");
    const steps = [0, 1, 2, 3, 4, 5].map((i) => ({
      op: "alloc",
      id: `b${i}`,
      dev: "mfc",
      type: "b",
      size: "6M",
    }));
    await writeFile(file, JSON.stringify({ name: "big", steps }));
    const r = await run("--workload", file);
    expect(r.code).toBe(1);
    expect(r.out).toContain("6 steps, 6 allocations over 0 ms of virtual time, seed 1: 1 failure");
    expect(r.out).toMatch(/^mfc_b2 +2010 +32 MiB +30 MiB +5 +1 +36 MiB +-4 MiB$/m);
    expect(r.out).toContain(
      "step 5 at 0 ms: mfc/b b5: 6 MiB (align 4 KiB) from mfc_b2 (2 MiB free, largest free chunk 2 MiB): ENOMEM",
    );
    expect(r.out).toMatch(
      /^ {2}mfc_b2 +36 MiB succeeds, 35 MiB fails; board has 32 MiB; 1 MiB steps, \d+ replays$/m,
    );
  });

  it("reads a board from a .dtb (and a .dts when dtc is installed)", async () => {
    const dtb = await run("--board", fixture("exynos4210.dtb"), "--json");
    expect(dtb.code).toBe(0);
    const fromDt = JSON.parse(dtb.out) as CmaPlanReport;
    const builtin = JSON.parse((await run("--json")).out) as CmaPlanReport;
    expect(fromDt.board).toBe("exynos4210"); // the file's base name
    // The same machine but for the UMP carve-out, which is a module parameter and no device-tree
    // node: without its 32 MiB at the top of bank 0, the kernel places the 96 MiB default area
    // (top-down, 4 MiB aligned) right at the top of the bank instead of below the carve-out.
    const strip = (r: CmaPlanReport) => r.regions.map(({ base: _base, ...rest }) => rest);
    expect(strip(fromDt)).toEqual(strip(builtin));
    expect(fromDt.regions.map((r) => [r.name, r.base])).toEqual([
      ["mfc_fw", 0x4d000000],
      ["common", 0x60000000 - 96 * 2 ** 20],
    ]);
    expect(builtin.regions.map((r) => [r.name, r.base])).toEqual([
      ["mfc_fw", 0x4d000000],
      ["common", 0x5e000000 - 96 * 2 ** 20],
    ]);
    if (dtcAvailable()) {
      const dts = await run("--board", fixture("s5pv210.dts"));
      // no System MMU on the S5PV210: the camera's capture buffers come from the default area too
      expect(dts.code).toBe(0);
      expect(dts.out).toContain("board s5pv210, workload demo");
      expect(dts.out).toMatch(/^common +merged +64 MiB +35\.61 MiB +7 +0 /m);
    }
  });

  it("--out writes the fragmentation pictures as valid SVG and PNG, the JSON and report.html", async () => {
    const out = join(dir, "report");
    const r = await run("--out", out);
    expect(r.code).toBe(0);
    const files = ["mfc_fw", "common"].flatMap((n) =>
      ["map", "worst"].flatMap((k) => [`${n}-${k}.png`, `${n}-${k}.svg`]),
    );
    expect(r.out).toContain(
      `wrote ${files.length + 2} files to ${out}: ${[...files, "cma-plan.json", "report.html"].join(", ")}`,
    );
    const map = parseXml(await readFile(join(out, "common-map.svg"), "utf8"));
    expect(map.name).toBe("svg");
    expect(byClass(map, "rect", "alloc")).toHaveLength(3);
    const worst = parseXml(await readFile(join(out, "common-worst.svg"), "utf8"));
    expect(byClass(worst, "rect", "used")).toHaveLength(3); // the three scanout buffers at peak
    // the gaps the 1 MiB alignment leaves, and the rest of the area: the largest, outlined
    expect(byClass(worst, "rect", "free")).toHaveLength(3);
    const largest = byClass(worst, "rect", "largest");
    expect(largest).toHaveLength(1);
    expect(largest[0]!.attrs["data-size"]).toBe(String(80 * 2 ** 20 - 8_294_400));
    for (const f of ["common-map.png", "common-worst.png", "mfc_fw-worst.png"]) {
      const png = decodePng(new Uint8Array(await readFile(join(out, f))));
      expect(png.width).toBeGreaterThan(100);
      expect(png.height).toBeGreaterThan(50);
    }
    const json = JSON.parse(await readFile(join(out, "cma-plan.json"), "utf8")) as CmaPlanReport;
    expect(json.workload.name).toBe("demo");
    const html = await readFile(join(out, "report.html"), "utf8");
    expect(html).toContain('src="common-worst.png"');
  });

  it.each([
    [["--bogus"], /^umm cma-plan: Unknown option '--bogus'/],
    [["extra"], /^umm cma-plan: Unexpected argument 'extra'/],
    [["--board"], /^umm cma-plan: Option '--board <value>' argument missing/],
    [
      ["--board", "omap3"],
      /^umm cma-plan: --board: no board named "omap3" \(boards: exynos4210, s5pv210; or a \.dts \/ \.dtb file\)\n$/,
    ],
    [
      ["--board", "/nonexistent/board.dtb"],
      /^umm cma-plan: --board \/nonexistent\/board\.dtb: cannot read it: ENOENT/,
    ],
    [
      ["--workload", "churn-1d"],
      /^umm cma-plan: --workload: no built-in workload named "churn-1d" \(built-in: demo, churn-10h; or a JSON file\)\n$/,
    ],
    [
      ["--workload", "/nonexistent/w.json"],
      /^umm cma-plan: --workload \/nonexistent\/w\.json: cannot read it/,
    ],
    [["--seed", "-1"], /^umm cma-plan: --seed "-1" is not a non-negative integer\n$/],
    [["--seed", "x"], /^umm cma-plan: --seed "x" is not a non-negative integer\n$/],
    [["--seed=-2"], /^umm cma-plan: --seed "-2" is not a non-negative integer\n$/],
    [["--step", "3K"], /^umm cma-plan: --step "3K" is not a positive multiple of 4 KiB/],
    [["--step", "-4M"], /^umm cma-plan: --step "-4M" is not a positive multiple of 4 KiB/],
    [["--board", "-x"], /^umm cma-plan: Option '--board' argument is ambiguous/],
    [["--out", ""], /^umm cma-plan: --out is empty\n$/],
  ])("%j exits 2 naming the problem", async (argv, msg) => {
    const r = await run(...argv);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toMatch(msg);
  });

  it.each([
    ["bad.json", "{ not json", /^umm cma-plan: --workload .*bad\.json: bad JSON: /],
    [
      "region.json",
      JSON.stringify([{ op: "alloc", id: "a", dev: "x", region: "vram", size: 4096 }]),
      /^umm cma-plan: workload region step 0 \(id "a"\): region "vram" is not a CMA region of board exynos4210 \(regions: mfc-left@4a000000, mfc_fw, mfc_b1, common, pmm:general, mfc-right@6a000000, mfc_b2\)\n$/,
    ],
    [
      "dev.json",
      JSON.stringify([{ op: "alloc", id: "a", dev: "gpu", size: 4096 }]),
      /^umm cma-plan: workload dev step 0 \(id "a"\): device "gpu" is not a device of board exynos4210 \(devices: fimc0, /,
    ],
    [
      "via.json",
      JSON.stringify([{ op: "alloc", id: "a", dev: "fimc0", via: "dma", type: "a", size: 4096 }]),
      /^umm cma-plan: workload step 0 \(id "a"\): via "dma" lets the kernel choose the region and the alignment; give no type, region or align\n$/,
    ],
    ["rule.json", JSON.stringify([{ op: "alloc", id: "a", dev: "fimc0", size: 4096 }]), null],
  ])("a workload file %s with a problem exits 2 naming it", async (name, text, msg) => {
    const file = join(dir, name);
    await writeFile(file, text);
    const r = await run("--workload", file);
    if (msg === null) {
      expect(r.code).toBe(0); // a good one, for contrast
      return;
    }
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toMatch(msg);
  });
});
