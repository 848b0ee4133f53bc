#!/usr/bin/env node
// Runs every test of every package (one vitest project per package, plus the tools) and prints the
// plain line "N passed, N failed" at the end, which CI reads.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const out = join(root, ".vitest-results.json");
rmSync(out, { force: true });

const localVitest = join(root, "node_modules", ".bin", process.platform === "win32" ? "vitest.cmd" : "vitest");
const r = spawnSync(
  existsSync(localVitest) ? localVitest : "vitest",
  ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${out}`, ...process.argv.slice(2)],
  { cwd: root, stdio: "inherit", env: process.env },
);

if (r.error) console.error(`test-all: could not start vitest: ${r.error.message} (run the README's command: npm test)`);

let passed = 0;
let failed = 0;
if (existsSync(out)) {
  const j = JSON.parse(readFileSync(out, "utf8"));
  passed = j.numPassedTests ?? 0;
  failed = j.numFailedTests ?? 0;
  // A suite that failed to load has no tests of its own; count it so it cannot hide.
  for (const suite of j.testResults ?? []) {
    if (suite.status === "failed" && (suite.assertionResults ?? []).length === 0) failed += 1;
  }
} else {
  failed = 1;
  console.error("test-all: vitest wrote no results file");
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || r.status !== 0 ? 1 : 0);
