#!/usr/bin/env node
// The `umm` command. In the workspace it runs the TypeScript source (through tsx, with the
// "@umm/source" export condition); an installed build runs dist/.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const pkgDir = dirname(dirname(fileURLToPath(import.meta.url)));
const source = join(pkgDir, "src", "bin.ts");

if (existsSync(source)) {
  let tsx;
  try {
    tsx = import.meta.resolve("tsx");
  } catch {
    console.error(
      "umm: running from source needs the workspace installed (npm test or npm run demo does that)",
    );
    process.exit(1);
  }
  const r = spawnSync(
    process.execPath,
    ["--conditions=@umm/source", "--import", tsx, source, ...process.argv.slice(2)],
    { stdio: "inherit" },
  );
  process.exit(r.status ?? 1);
} else {
  const { main } = await import(pathToFileURL(join(pkgDir, "dist", "index.js")).href);
  process.exit(await main(process.argv.slice(2)));
}
