#!/usr/bin/env node
// `pnpm fuzz`: runs tools/fuzz/src/cli.ts (the model-based fuzzer) from source through tsx with
// the "@umm/source" export condition, so nothing needs building. Arguments pass through.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = dirname(dirname(fileURLToPath(import.meta.url)));
let tsx;
try {
  tsx = import.meta.resolve("tsx");
} catch {
  console.error("fuzz: the workspace is not installed (run: node tools/bootstrap.mjs)");
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ["--conditions=@umm/source", "--import", tsx, join(dir, "src", "cli.ts"), ...process.argv.slice(2)],
  { stdio: "inherit" },
);
process.exit(r.status ?? 1);
