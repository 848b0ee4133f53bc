/**
 * Shared pieces of the hand-written SVG pictures: escaping, owner colours, number formatting,
 * axis ticks and the legend.
 *
 * @module
 */
import { formatSize, hex } from "@umm/kernel-core";

/** Escapes `s` for XML text and attribute values (`&`, `<`, `>`, `"`, `'`). */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&apos;",
  );
}

/** The font stack of every picture (DejaVu on Debian, Liberation with chromium). */
export const SVG_FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif";

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // murmur3's finaliser: FNV alone leaves names that differ in one letter with close hues
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Kenneth Kelly's colours of maximum contrast (1965), without white and black: the palette owners
 * draw from.
 */
export const OWNER_PALETTE: readonly string[] = [
  "#f3c300",
  "#875692",
  "#f38400",
  "#a1caf1",
  "#be0032",
  "#c2b280",
  "#848482",
  "#008856",
  "#e68fac",
  "#0067a5",
  "#f99379",
  "#604e97",
  "#f6a600",
  "#b3446c",
  "#dcd300",
  "#882d17",
  "#8db600",
  "#654522",
  "#e25822",
  "#2b3d26",
];

/**
 * The colour of an owner (a process, a device, a buffer name) as `#rrggbb`: a hash of the name
 * picks one of `OWNER_PALETTE`, so one owner has the same colour in every picture and every run.
 * Two owners may share a colour; pictures take a `colors` map to pin the ones that matter.
 */
export function ownerColor(owner: string, colors?: Readonly<Record<string, string>>): string {
  const pinned = colors?.[owner];
  if (pinned !== undefined) return pinned;
  return OWNER_PALETTE[fnv1a(owner) % OWNER_PALETTE.length]!;
}

/** Formats a byte count for labels: "4 KiB", "1.50 MiB", "0 B". */
export function formatBytes(size: number): string {
  return formatSize(size);
}

/** Formats an address for labels: `0x40000000`. */
export function formatAddr(addr: number): string {
  return hex(addr);
}

/** Formats virtual nanoseconds as milliseconds for labels: "12.5 ms". */
export function formatMs(ns: number): string {
  const ms = ns / 1e6;
  const s = Number.isInteger(ms) ? String(ms) : ms.toPrecision(6).replace(/\.?0+$/, "");
  return `${s} ms`;
}

/** A 1-2-5 step that cuts `span` into about `count` parts (at least `min`). */
export function niceStep(span: number, count: number, min = 0): number {
  if (!(span > 0) || !(count > 0)) return Math.max(min, 1);
  const raw = span / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  const step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  return Math.max(step, min);
}

/** A power-of-two step (at least `min`) that cuts `span` into at most about `count` parts. */
export function pow2Step(span: number, count: number, min = 4096): number {
  let step = min;
  while (span / step > count) step *= 2;
  return step;
}

/** One owner in a legend. */
export interface LegendEntry {
  readonly owner: string;
  readonly color: string;
}

/** The owners of `names` in first-appearance order, each with its colour. */
export function legendEntries(
  names: Iterable<string>,
  colors?: Readonly<Record<string, string>>,
): LegendEntry[] {
  const seen = new Set<string>();
  const out: LegendEntry[] = [];
  for (const n of names) {
    if (seen.has(n)) continue;
    seen.add(n);
    out.push({ owner: n, color: ownerColor(n, colors) });
  }
  return out;
}

/**
 * Lays out a legend (swatch + name, wrapping at `width`) from `x`,`y`; returns the SVG and the
 * height it took.
 */
export function legendSvg(
  entries: readonly LegendEntry[],
  x: number,
  y: number,
  width: number,
): { svg: string; height: number } {
  if (entries.length === 0) return { svg: "", height: 0 };
  const row = 18;
  let cx = x;
  let cy = y;
  const parts: string[] = [`<g class="legend">`];
  for (const e of entries) {
    const w = 22 + Math.ceil(e.owner.length * 7.2) + 16;
    if (cx > x && cx + w > x + width) {
      cx = x;
      cy += row;
    }
    parts.push(
      `<rect class="swatch" x="${cx}" y="${cy}" width="12" height="12" fill="${e.color}" stroke="#333" stroke-width="0.5"/>`,
      `<text x="${cx + 17}" y="${cy + 10}">${escapeXml(e.owner)}</text>`,
    );
    cx += w;
  }
  parts.push("</g>");
  return { svg: parts.join(""), height: cy - y + row };
}

/** Rounds to 2 decimals so that SVG numbers stay short. */
export function r2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** Opens an SVG document of `width`×`height` with the shared font and a white background. */
export function svgOpen(width: number, height: number, cls: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="${cls}" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="${SVG_FONT}" font-size="11">` +
    `<rect class="background" x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`
  );
}
