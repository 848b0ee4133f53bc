#!/usr/bin/env node
// Benchmark runner: runs every packages/*/bench/*.bench.ts (or those of the package folders named
// on the command line), one process per file, one file at a time, and writes the results as a
// JSON array to bench-results.json at the workspace root (or --out FILE). Prints a table; a ✗
// marks a ratio short of its goal. Never fails on time: the exit code is 0 unless a bench crashes.
//
//   node tools/bench/run.mjs [package-folder ...] [--out FILE] [--grep TEXT]
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const harness = join(here, "src", "index.ts");

const argv = process.argv.slice(2);
let out = join(root, "bench-results.json");
let grep = null;
const dirs = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--out") out = resolve(argv[++i]);
  else if (argv[i] === "--grep") grep = argv[++i];
  else dirs.push(resolve(argv[i]));
}
if (dirs.length === 0) {
  const pk = join(root, "packages");
  for (const d of readdirSync(pk).sort()) dirs.push(join(pk, d));
}

const files = [];
for (const dir of dirs) {
  const bd = join(dir, "bench");
  if (!existsSync(bd)) continue;
  for (const f of readdirSync(bd).sort()) {
    if (f.endsWith(".bench.ts") && (!grep || f.includes(grep) || basename(dir).includes(grep))) {
      files.push({ pkg: basename(dir), file: join(bd, f) });
    }
  }
}

// one private folder per run: two runs at once must not delete each other's bundles
const tmp = mkdtempSync(join(tmpdir(), "umm-bench-"));
const results = [];
let crashed = 0;

for (const { pkg, file } of files) {
  const name = `${pkg}--${basename(file, ".ts")}`;
  const bundle = join(tmp, `${name}.mjs`);
  const resultFile = join(tmp, `${name}.json`);
  rmSync(resultFile, { force: true });
  const entry = `
import fn from ${JSON.stringify(file)};
import { createBench } from ${JSON.stringify(harness)};
import { writeFileSync } from "node:fs";
const fmt = (r) => \`  \${r.name}: \${r.value.toPrecision(4)} \${r.unit}\${r.ratio === null ? "" : \` (ratio \${r.ratio.toFixed(3)} vs \${r.baseline})\`}\`;
const b = createBench(${JSON.stringify(pkg)}, (r) => console.error(fmt(r)));
await fn(b);
writeFileSync(${JSON.stringify(resultFile)}, JSON.stringify(b.results));
`;
  await build({
    stdin: { contents: entry, resolveDir: dirname(file), sourcefile: `${name}-entry.mjs`, loader: "js" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["@umm/source"],
    outfile: bundle,
    logLevel: "error",
    sourcemap: "inline",
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  console.error(`bench: ${relative(root, file)}`);
  const r = spawnSync(process.execPath, ["--expose-gc", "--enable-source-maps", bundle], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0 || !existsSync(resultFile)) {
    crashed += 1;
    console.error(`bench: ${relative(root, file)} failed (exit ${r.status ?? r.signal})`);
    continue;
  }
  results.push(...JSON.parse(readFileSync(resultFile, "utf8")));
}
rmSync(tmp, { recursive: true, force: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);

const meets = (r) =>
  r.goal === null || r.ratio === null
    ? true
    : r.goal.op === ">="
      ? r.ratio >= r.goal.value
      : r.ratio <= r.goal.value;
const rows = results.map((r) => [
  meets(r) ? " " : "✗",
  r.package,
  r.name,
  `${r.value.toPrecision(4)} ${r.unit}`,
  r.baseline === null ? "-" : `${r.baselineValue.toPrecision(4)} (${r.baseline})`,
  r.ratio === null ? "-" : r.ratio.toFixed(3),
  r.goal === null ? "-" : `${r.goal.op} ${r.goal.value}`,
]);
const head = ["", "package", "benchmark", "value", "baseline", "ratio", "goal"];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
const line = (cells) =>
  cells
    .map((c, i) => c.padEnd(widths[i]))
    .join("  ")
    .trimEnd();
console.log(line(head));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const row of rows) console.log(line(row));
const short = results.filter((r) => !meets(r)).length;
console.log(
  `\n${results.length} results from ${files.length} files; ${short} short of goal${crashed ? `; ${crashed} crashed` : ""}; written to ${relative(process.cwd(), out) || out}`,
);
process.exit(crashed > 0 ? 1 : 0);
