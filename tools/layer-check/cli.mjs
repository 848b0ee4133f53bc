#!/usr/bin/env node
// Usage: node tools/layer-check/cli.mjs [workspace-root]
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { checkLayers } from "./check.mjs";

const root = resolve(process.argv[2] ?? resolve(dirname(fileURLToPath(import.meta.url)), "..", ".."));
const { errors, packages, files } = checkLayers(root);
for (const e of errors) console.error(`layer-check: ${e}`);
if (errors.length > 0) {
  console.error(`layer-check: ${errors.length} violation(s) in ${packages} packages`);
  process.exit(1);
}
console.log(`layer-check: ${packages} packages, ${files} files, no violations`);
