/**
 * Test helpers for every package: `kerr(errno)` matches a thrown `KernelError` of that errno;
 * `readmeUsage(dir)` reads a README's usage example and the test file that runs it;
 * `pattern(len, seed)` makes deterministic test bytes and `firstDiff(a, b)` compares them.
 *
 * ```ts
 * expect(() => iommuMap(d, 0x1001, pa, SZ_4K, prot)).toThrow(kerr("EINVAL"));
 * expect(() => cmaFree(kernel, 0x1234)).toThrow(kerr("ENOENT", /not the start of a chunk/));
 * ```
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ErrnoName } from "./errno.js";

/**
 * A RegExp that matches the message of a `KernelError` of `errno` (messages read
 * `"ERRNO: detail"`), and optionally whose detail matches `detail`.
 */
export function kerr(errno: ErrnoName, detail?: RegExp | string): RegExp {
  if (detail === undefined) return new RegExp(`^${errno}: `);
  const d = typeof detail === "string" ? detail.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") : detail.source;
  return new RegExp(`^${errno}: [\\s\\S]*${d}`);
}

/**
 * The README usage example of the package in `pkgDir`: the first ```ts block under "## Usage"
 * (`inReadme`) and the file `test/readme.example.ts` (`inFile`). A package's README test checks
 * the two are equal and imports the file, so the README shows code that runs.
 */
export function readmeUsage(pkgDir: string): { inReadme: string; inFile: string } {
  const readme = readFileSync(join(pkgDir, "README.md"), "utf8");
  const usage = readme.split(/^## Usage\s*$/m)[1] ?? "";
  const block = /```ts\n([\s\S]*?)```/.exec(usage)?.[1] ?? "";
  const file = readFileSync(join(pkgDir, "test", "readme.example.ts"), "utf8");
  return { inReadme: block.trim(), inFile: file.trim() };
}

/**
 * Index of the first byte where `a` and `b` differ, or -1 when they are equal (a length
 * difference counts as a difference at the shorter length). Use as
 * `expect(firstDiff(actual, expected)).toBe(-1)`: fast on megabytes, and a failure names the
 * offset instead of dumping both arrays.
 */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  const ab = Buffer.from(a.buffer, a.byteOffset, n);
  const bb = Buffer.from(b.buffer, b.byteOffset, n);
  if (ab.equals(bb)) return a.length === b.length ? -1 : n;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/**
 * `len` deterministic test bytes: the same `(len, seed)` always gives the same bytes, and
 * different seeds give different streams, so a test can tell two buffers' contents apart
 * (`pattern(n, 1)` written by one device, `pattern(n, 2)` by another). The bytes are the top
 * byte of each step of a linear congruential generator whose state starts at
 * `(seed * 2654435761) >>> 0`; `pattern(len, seed)` is a prefix of `pattern(len + k, seed)`.
 * The product is plain `number` arithmetic, rounded beyond 2^53 (so not `Math.imul`'s exact
 * 32-bit generator), and stays so: the bytes must not change under the tests that use them.
 *
 * ```ts
 * const data = pattern(8192, 4);
 * port.write(0x40200000, data);
 * expect(firstDiff(mm.phys.view(0x40200000, 8192), data)).toBe(-1);
 * ```
 */
export function pattern(len: number, seed = 1): Uint8Array {
  const out = new Uint8Array(len);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
