/**
 * The 2010 device-to-region map (`cma.map=`, `cma_set_defaults`' map, sysfs `map`):
 *
 * ```
 * map-attr ::= [ rules [ ';' ] ]          rules    ::= rule [ ';' rules ]
 * rule     ::= patterns '=' regions        patterns ::= pattern [ ',' patterns ]
 * regions  ::= REG-NAME [ ',' regions ]    pattern  ::= dev-pattern [ '/' TYPE-NAME ] | '/' TYPE-NAME
 * ```
 *
 * Validation is the kernel's: every rule needs a non-empty pattern list and an `=`; a newline
 * ends the map (sysfs writes). Matching: rules in order, the first matching rule wins. In a
 * device pattern `?` matches one character and a final `*` the rest of the name (empty
 * included); other characters match themselves. A pattern without `/type` matches every type;
 * `/type` compares the type literally. A pattern that starts with `/` takes the device match of
 * the pattern before it in the rule (`foo/a,/b=...`: device foo with type a or b); at the start
 * of a rule it matches every device.
 *
 * @module
 */
import { KernelError } from "@umm/kernel-core";

/** One pattern of a rule. */
export interface CmaMapPattern {
  /** device pattern, or null for a `/type` pattern (device part of the previous pattern) */
  readonly dev: string | null;
  /** type to match literally, or null for any type */
  readonly type: string | null;
}

/** One rule: patterns → ordered region names. */
export interface CmaMapRule {
  readonly patterns: readonly CmaMapPattern[];
  /** region names, tried left to right */
  readonly regions: readonly string[];
  /** offset of the rule in the map text */
  readonly pos: number;
  /** the rule's text */
  readonly text: string;
}

/** A validated map: its text (what sysfs shows) and its rules. */
export interface CmaMap {
  readonly text: string;
  readonly rules: readonly CmaMapRule[];
}

/**
 * Validates and parses map text (`cma_map_validate`). Returns null for an empty map (empty text,
 * or text that starts with a newline). EINVAL names the offset of the bad rule.
 */
export function parseCmaMap(param: string): CmaMap | null {
  const nl = param.indexOf("\n");
  const src = nl >= 0 ? param.slice(0, nl) : param;
  if (src === "") return null;
  const rules: CmaMapRule[] = [];
  let p = 0;
  for (;;) {
    let q = p;
    while (q < src.length && src[q] !== ";" && src[q] !== "=") q++;
    if (src[q] !== "=" || q === p) {
      throw new KernelError(
        "EINVAL",
        `map: expecting "<patterns>=<regions>" at position ${p} near "${src.slice(p, p + 24)}"`,
      );
    }
    let r = q + 1;
    while (r < src.length && src[r] !== ";") r++;
    const lhs = src.slice(p, q);
    const rhs = src.slice(q + 1, r);
    rules.push({
      patterns: lhs.split(",").map((pat) => {
        if (pat.startsWith("/")) return { dev: null, type: pat.slice(1) };
        const slash = pat.indexOf("/");
        return slash < 0
          ? { dev: pat, type: null }
          : { dev: pat.slice(0, slash), type: pat.slice(slash + 1) };
      }),
      regions: rhs.split(","),
      pos: p,
      text: src.slice(p, r),
    });
    if (r >= src.length || r + 1 >= src.length) {
      // end of map, or a trailing ';' (which the stored map drops)
      return { text: src.slice(0, r), rules };
    }
    p = r + 1;
  }
}

/** True when device-name pattern `pat` matches `name` (`?`: one character; final `*`: the rest). */
export function cmaMatchDevice(pat: string, name: string): boolean {
  for (let i = 0; i < pat.length; i++) {
    const c = pat[i];
    if (c === "*") return i === pat.length - 1;
    if (i >= name.length) return false;
    if (c !== "?" && c !== name[i]) return false;
  }
  return pat.length === name.length;
}

/** The first rule of `map` that matches device `devName` and memory type `type`, or null. */
export function cmaMapLookup(map: CmaMap, devName: string, type: string): CmaMapRule | null {
  for (const rule of map.rules) {
    let devMatched = true;
    for (const pat of rule.patterns) {
      if (pat.dev !== null) devMatched = cmaMatchDevice(pat.dev, devName);
      if (devMatched && (pat.type === null || pat.type === type)) return rule;
    }
  }
  return null;
}
