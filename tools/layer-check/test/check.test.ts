import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkLayers, importsOf } from "../check.mjs";

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

type Manifest = Record<string, unknown>;
/** A fixture workspace: file path → JSON manifest or source text. */
function workspace(files: Record<string, Manifest | string>): string {
  const root = mkdtempSync(join(tmpdir(), "layer-check-"));
  made.push(root);
  for (const [path, content] of Object.entries(files)) {
    const p = join(root, path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  }
  return root;
}

const pkg = (name: string, rank: number | undefined, extra: Manifest = {}): Manifest => ({
  name: `@umm/${name}`,
  ...(rank === undefined ? {} : { umm: { rank } }),
  exports: { ".": "./src/index.ts", "./ops": "./src/ops.ts" },
  ...extra,
});

/** A clean base: core (0) ← mm (1) ← plat-x (5) ← soc (10). */
const base = (): Record<string, Manifest | string> => ({
  "packages/core/package.json": pkg("core", 0),
  "packages/core/src/index.ts": "export const a = 1;\n",
  "packages/mm/package.json": pkg("mm", 1, { dependencies: { "@umm/core": "workspace:*" } }),
  "packages/mm/src/index.ts":
    'import { a } from "@umm/core";\nimport type { X } from "@umm/core/ops";\nexport const b = a;\n',
  "packages/plat-x/package.json": pkg("plat-x", 5, { dependencies: { "@umm/mm": "workspace:*" } }),
  "packages/plat-x/src/index.ts": 'export { b } from "@umm/mm";\n',
  "packages/plat-x/test/x.test.ts": 'import { b } from "@umm/plat-x";\n',
  "packages/soc/package.json": pkg("soc", 10, { dependencies: { "@umm/plat-x": "workspace:*" } }),
  "packages/soc/src/index.ts": 'import { b } from "@umm/plat-x";\nexport const c = b;\n',
});

describe("layer check", () => {
  it("accepts a workspace that keeps every rule", () => {
    const { errors, packages } = checkLayers(workspace(base()));
    expect(errors).toEqual([]);
    expect(packages).toBe(4);
  });

  it("rejects a package without a rank, naming its package.json", () => {
    const w = base();
    w["packages/core/package.json"] = pkg("core", undefined);
    const { errors } = checkLayers(workspace(w));
    expect(errors).toEqual([
      expect.stringMatching(/^packages\/core\/package\.json: "umm": \{ "rank": N \} is missing/),
    ]);
  });

  it("rejects a package.json dependency on a higher rank", () => {
    const w = base();
    w["packages/core/package.json"] = pkg("core", 0, { dependencies: { "@umm/mm": "workspace:*" } });
    const { errors } = checkLayers(workspace(w));
    expect(errors).toEqual([
      expect.stringMatching(
        /^packages\/core\/package\.json: dependencies names @umm\/mm \(rank 1\), but @umm\/core has rank 0/,
      ),
    ]);
  });

  it("rejects a dependency on a package of equal rank", () => {
    const w = base();
    w["packages/mm2/package.json"] = pkg("mm2", 1, { dependencies: { "@umm/mm": "workspace:*" } });
    w["packages/mm2/src/index.ts"] = 'export * from "@umm/mm";\n';
    const { errors } = checkLayers(workspace(w));
    expect(errors).toContainEqual(
      expect.stringMatching(/packages\/mm2\/package\.json: dependencies names @umm\/mm \(rank 1\)/),
    );
    expect(errors).toContainEqual(
      expect.stringMatching(
        /^packages\/mm2\/src\/index\.ts: import "@umm\/mm" goes up: @umm\/mm has rank 1, @umm\/mm2 has rank 1/,
      ),
    );
  });

  it("rejects a src import of a higher rank even when declared, naming the file and the import", () => {
    const w = base();
    w["packages/mm/src/up.ts"] = 'import { c } from "@umm/soc";\nexport const d = c;\n';
    w["packages/mm/package.json"] = pkg("mm", 1, {
      dependencies: { "@umm/core": "workspace:*", "@umm/soc": "workspace:*" },
    });
    const { errors } = checkLayers(workspace(w));
    expect(errors).toContainEqual(
      expect.stringMatching(
        /^packages\/mm\/src\/up\.ts: import "@umm\/soc" goes up: @umm\/soc has rank 10, @umm\/mm has rank 1$/,
      ),
    );
  });

  it("rejects a src import of an undeclared @umm package", () => {
    const w = base();
    w["packages/mm/src/index.ts"] = 'import { a } from "@umm/core";\nimport "@umm/core";\n';
    w["packages/plat-x/src/extra.ts"] = 'import { a } from "@umm/core";\nexport const e = a;\n';
    const { errors } = checkLayers(workspace(w));
    expect(errors).toEqual([
      expect.stringMatching(
        /^packages\/plat-x\/src\/extra\.ts: import "@umm\/core": @umm\/core is not declared in packages\/plat-x\/package\.json/,
      ),
    ]);
  });

  it("rejects a src import that reaches into another package by a relative path", () => {
    const w = base();
    w["packages/mm/src/sneak.ts"] = 'export { a } from "../../core/src/index.ts";\n';
    const { errors } = checkLayers(workspace(w));
    expect(errors).toEqual([
      expect.stringMatching(
        /^packages\/mm\/src\/sneak\.ts: import "\.\.\/\.\.\/core\/src\/index\.ts" reaches out of @umm\/mm by path/,
      ),
    ]);
  });

  it("rejects an @umm subpath the target does not export", () => {
    const w = base();
    w["packages/mm/src/deep.ts"] = 'import { a } from "@umm/core/src/index.ts";\nexport const f = a;\n';
    const { errors } = checkLayers(workspace(w));
    expect(errors).toEqual([
      expect.stringMatching(
        /^packages\/mm\/src\/deep\.ts: import "@umm\/core\/src\/index\.ts" reaches into @umm\/core by path; @umm\/core does not export "\.\/src\/index\.ts"/,
      ),
    ]);
  });

  it("rejects a plat-* import from any src but soc's", () => {
    const w = base();
    w["packages/app/package.json"] = pkg("app", 11, { dependencies: { "@umm/plat-x": "workspace:*" } });
    w["packages/app/src/index.ts"] = 'import { b } from "@umm/plat-x";\nexport const g = b;\n';
    const { errors } = checkLayers(workspace(w));
    expect(errors).toEqual([
      expect.stringMatching(
        /^packages\/app\/package\.json: dependencies names @umm\/plat-x; only soc may depend on a plat-\* package/,
      ),
      expect.stringMatching(
        /^packages\/app\/src\/index\.ts: import "@umm\/plat-x": only soc may import a plat-\* package$/,
      ),
    ]);
  });

  it("lets another package's tests use a lower plat-* through devDependencies only", () => {
    const w = base();
    w["packages/dma/package.json"] = pkg("dma", 6, {
      dependencies: { "@umm/mm": "workspace:*" },
      devDependencies: { "@umm/plat-x": "workspace:*" },
    });
    w["packages/dma/src/index.ts"] = 'export { b } from "@umm/mm";\n';
    w["packages/dma/test/dma.test.ts"] = 'import { b } from "@umm/plat-x";\n';
    expect(checkLayers(workspace(w)).errors).toEqual([]);
    w["packages/dma/src/index.ts"] = 'export { b } from "@umm/plat-x";\n';
    expect(checkLayers(workspace(w)).errors).toEqual([
      expect.stringMatching(
        /^packages\/dma\/src\/index\.ts: import "@umm\/plat-x": @umm\/plat-x is not declared/,
      ),
      expect.stringMatching(
        /^packages\/dma\/src\/index\.ts: import "@umm\/plat-x": only soc may import a plat-\* package$/,
      ),
    ]);
  });

  it("ignores imports inside comments and finds multi-line and dynamic ones", () => {
    expect(
      importsOf(
        '// import "@umm/a";\n/* import { x } from "@umm/b"; */\nimport {\n  y,\n  z,\n} from "@umm/c";\nconst m = await import("@umm/d");\nexport * from "./e.js";\n',
      ),
    ).toEqual(["@umm/c", "./e.js", "@umm/d"]);
  });
});
