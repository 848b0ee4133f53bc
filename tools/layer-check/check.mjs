// The layer rule (ARCHITECTURE.md "Layers"), as a check over a workspace folder.
//
// Every package under packages/ declares "umm": { "rank": N }. The check reports, naming the file
// and the import:
//   - a package.json dependency on a workspace package of equal or higher rank;
//   - a src/ import of an @umm/* package the package.json does not declare (dependencies or
//     peerDependencies), or of one of equal or higher rank;
//   - an import that reaches into another package by path (a relative path leaving the package,
//     or an @umm/* subpath the target does not export);
//   - a plat-* package used by anything but soc's src and tests that declare it as a
//     devDependency (a plat's own tests import it by its own name).
// test/ and bench/ files follow the same rules, except that devDependencies count as declared.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

const SOURCE_EXT = /\.(?:[cm]?[jt]sx?)$/;
const BOARD_PACKAGE = "soc";

/** @param {string} dir */
function listFiles(dir) {
  /** @type {string[]} */
  const out = [];
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir)) {
    if (entry === "node_modules" || entry === "dist") continue;
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else if (SOURCE_EXT.test(entry) && !entry.endsWith(".d.ts")) out.push(p);
  }
  return out.sort();
}

/** Strips comments so that commented-out imports do not count. */
function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

/** Every module specifier a file imports or re-exports, statically or dynamically. */
export function importsOf(text) {
  const src = stripComments(text);
  const specs = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'"`;]*?\sfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of src.matchAll(re)) specs.push(m[1]);
  return specs;
}

function readJson(p) {
  return JSON.parse(readFileSync(p, "utf8"));
}

/** Splits "@umm/foo/bar" into ["@umm/foo", "./bar"]. */
function splitSpecifier(spec) {
  const parts = spec.split("/");
  const name = parts.slice(0, 2).join("/");
  const rest = parts.slice(2).join("/");
  return [name, rest ? `./${rest}` : "."];
}

/**
 * Checks the workspace at `root`.
 * @param {string} root
 * @returns {{ errors: string[], packages: number, files: number }}
 */
export function checkLayers(root) {
  const errors = [];
  const pkgsDir = join(root, "packages");
  /** @type {Map<string, {name: string, dir: string, folder: string, rank: number|undefined, manifest: any}>} */
  const packages = new Map();
  const tools = new Set();

  for (const folder of existsSync(pkgsDir) ? readdirSync(pkgsDir).sort() : []) {
    const manifestPath = join(pkgsDir, folder, "package.json");
    if (!existsSync(manifestPath)) continue;
    const manifest = readJson(manifestPath);
    const rank = manifest.umm?.rank;
    const rel = relative(root, manifestPath);
    if (!Number.isInteger(rank) || rank < 0) {
      errors.push(
        `${rel}: "umm": { "rank": N } is missing or not a whole number (got ${JSON.stringify(rank)})`,
      );
    }
    packages.set(manifest.name, { name: manifest.name, dir: join(pkgsDir, folder), folder, rank, manifest });
  }
  const toolsDir = join(root, "tools");
  for (const folder of existsSync(toolsDir) ? readdirSync(toolsDir) : []) {
    const manifestPath = join(toolsDir, folder, "package.json");
    if (existsSync(manifestPath)) tools.add(readJson(manifestPath).name);
  }

  const isPlat = (name) => name.startsWith("@umm/plat-");
  let files = 0;

  for (const pkg of packages.values()) {
    const m = pkg.manifest;
    const manifestRel = relative(root, join(pkg.dir, "package.json"));
    const runtime = { ...(m.dependencies ?? {}), ...(m.peerDependencies ?? {}) };
    const dev = m.devDependencies ?? {};
    const isBoard = pkg.folder === BOARD_PACKAGE;

    // package.json edges
    for (const [field, deps] of [
      ["dependencies", m.dependencies],
      ["peerDependencies", m.peerDependencies],
      ["devDependencies", m.devDependencies],
    ]) {
      for (const dep of Object.keys(deps ?? {})) {
        if (tools.has(dep)) {
          if (field !== "devDependencies") {
            errors.push(`${manifestRel}: ${field} names the tool ${dep}; tools may only be devDependencies`);
          }
          continue;
        }
        const target = packages.get(dep);
        if (!target) continue;
        if (target.rank !== undefined && pkg.rank !== undefined && target.rank >= pkg.rank) {
          errors.push(
            `${manifestRel}: ${field} names ${dep} (rank ${target.rank}), but ${pkg.name} has rank ${pkg.rank}; a package may depend only on packages of lower rank`,
          );
        }
        if (isPlat(dep) && !isBoard && field !== "devDependencies") {
          errors.push(
            `${manifestRel}: ${field} names ${dep}; only soc may depend on a plat-* package (tests of other packages may use it as a devDependency)`,
          );
        }
      }
    }

    // imports
    for (const [area, allowDev] of [
      ["src", false],
      ["test", true],
      ["bench", true],
    ]) {
      for (const file of listFiles(join(pkg.dir, area))) {
        files += 1;
        const fileRel = relative(root, file);
        for (const spec of importsOf(readFileSync(file, "utf8"))) {
          if (spec.startsWith(".") || spec.startsWith("/")) {
            const target = resolve(dirname(file), spec);
            if (target !== pkg.dir && !target.startsWith(pkg.dir + sep)) {
              errors.push(
                `${fileRel}: import "${spec}" reaches out of ${pkg.name} by path; import the package by name`,
              );
            }
            continue;
          }
          if (!spec.startsWith("@umm/")) continue;
          const [name, subpath] = splitSpecifier(spec);
          if (name === pkg.name) continue;
          if (tools.has(name)) {
            if (!allowDev) errors.push(`${fileRel}: import "${spec}" uses the tool ${name} from src/`);
            else if (!(name in dev))
              errors.push(`${fileRel}: import "${spec}": ${name} is not declared in devDependencies`);
            continue;
          }
          const target = packages.get(name);
          if (!target) {
            errors.push(`${fileRel}: import "${spec}" names no package of this workspace`);
            continue;
          }
          const declared = name in runtime || (allowDev && name in dev);
          if (!declared) {
            errors.push(
              `${fileRel}: import "${spec}": ${name} is not declared in ${manifestRel} (${allowDev ? "dependencies, peerDependencies or devDependencies" : "dependencies or peerDependencies"})`,
            );
          }
          if (target.rank !== undefined && pkg.rank !== undefined && target.rank >= pkg.rank) {
            errors.push(
              `${fileRel}: import "${spec}" goes up: ${name} has rank ${target.rank}, ${pkg.name} has rank ${pkg.rank}`,
            );
          }
          if (isPlat(name) && !isBoard && !(allowDev && name in dev)) {
            errors.push(`${fileRel}: import "${spec}": only soc may import a plat-* package`);
          }
          const exportsField = target.manifest.exports;
          const exported =
            exportsField === undefined
              ? subpath === "."
              : typeof exportsField === "string"
                ? subpath === "."
                : Object.hasOwn(exportsField, subpath);
          if (!exported) {
            errors.push(
              `${fileRel}: import "${spec}" reaches into ${name} by path; ${name} does not export "${subpath}"`,
            );
          }
        }
      }
    }
  }
  return { errors, packages: packages.size, files };
}
