#!/usr/bin/env node
// Bootstrap for a bare machine (Node 20+ and npm only): install the pinned pnpm into .tools/,
// install the workspace with the frozen lockfile when node_modules is missing or stale, then run
// the given command with .tools and node_modules/.bin on PATH.
//
//   node tools/bootstrap.mjs <command> [args...]
//
// The README's two commands go through this file, so a fresh clone needs nothing else.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const pnpmVersion = pkg.packageManager.replace(/^pnpm@/, "");
const toolsBin = join(root, ".tools", "node_modules", ".bin");
const pnpmBin = join(toolsBin, process.platform === "win32" ? "pnpm.cmd" : "pnpm");

const env = {
  ...process.env,
  TURBO_TELEMETRY_DISABLED: "1",
  DO_NOT_TRACK: "1",
  PATH: [toolsBin, join(root, "node_modules", ".bin"), process.env.PATH ?? ""].join(delimiter),
};

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, env, stdio: "inherit" });
  if (r.error) {
    console.error(`bootstrap: ${what} could not start: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`bootstrap: ${what} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

function installedPnpmVersion() {
  if (!existsSync(pnpmBin)) return null;
  try {
    const p = join(root, ".tools", "node_modules", "pnpm", "package.json");
    return JSON.parse(readFileSync(p, "utf8")).version;
  } catch {
    return null;
  }
}

if (installedPnpmVersion() !== pnpmVersion) {
  console.error(`bootstrap: installing pnpm ${pnpmVersion} into .tools/`);
  run(
    "npm",
    [
      "install",
      "--prefix",
      join(root, ".tools"),
      "--no-audit",
      "--no-fund",
      "--no-save",
      `pnpm@${pnpmVersion}`,
    ],
    "npm install pnpm",
  );
}

// Install when node_modules is missing or older than the lockfile.
const marker = join(root, "node_modules", ".modules.yaml");
const lock = join(root, "pnpm-lock.yaml");
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
if (stale) {
  console.error("bootstrap: installing the workspace (pnpm install --frozen-lockfile)");
  run(pnpmBin, ["install", "--frozen-lockfile"], "pnpm install");
}

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) process.exit(0);
const r = spawnSync(cmd, args, { cwd: root, env, stdio: "inherit", shell: process.platform === "win32" });
if (r.error) {
  console.error(`bootstrap: ${cmd} could not start: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
