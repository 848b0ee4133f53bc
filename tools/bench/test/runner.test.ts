import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const runner = join(here, "..", "run.mjs");
const harness = join(here, "..", "src", "index.ts");
const tmp = mkdtempSync(join(tmpdir(), "bench-runner-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("bench runner", () => {
  it("runs a package's bench files and writes rows in the documented format", () => {
    const pkg = join(tmp, "toy-pkg");
    mkdirSync(join(pkg, "bench"), { recursive: true });
    writeFileSync(
      join(pkg, "bench", "copy.bench.ts"),
      `import { defineBench } from ${JSON.stringify(harness)};
export default defineBench((b) => {
  const src = new Uint8Array(1 << 14), dst = new Uint8Array(1 << 14);
  b.throughput({ name: "copy", bytes: src.length, run: () => dst.set(src),
    baseline: { name: "Uint8Array.set", run: () => dst.set(src) }, goal: { op: ">=", value: 1e9 },
    time: { samples: 3, minSampleMs: 2 } });
  b.rate({ name: "noop", ops: 1, run: () => {}, time: { samples: 3, minSampleMs: 2 } });
});
`,
    );
    const out = join(tmp, "results.json");
    const r = spawnSync(process.execPath, [runner, pkg, "--out", out], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const rows = JSON.parse(readFileSync(out, "utf8"));
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(
        ["package", "name", "metric", "value", "unit", "baseline", "baselineValue", "ratio", "goal"].sort(),
      );
      expect(row.package).toBe("toy-pkg");
    }
    expect(rows[0]).toMatchObject({
      name: "copy",
      unit: "GB/s",
      baseline: "Uint8Array.set",
      goal: { op: ">=", value: 1e9 },
    });
    expect(rows[1]).toMatchObject({ name: "noop", baseline: null, ratio: null, goal: null });
    // the impossible goal is marked in the table
    expect(r.stdout).toMatch(/^✗\s+toy-pkg\s+copy/m);
    expect(r.stdout).toMatch(/1 short of goal/);
  });
});
