/**
 * A device's D.V map as SVG: its device-virtual (IOVA) ranges on the left, the physical ranges
 * they translate to on the right, joined by bands coloured by owner.
 *
 * @module
 */
import {
  escapeXml,
  formatAddr,
  formatBytes,
  legendEntries,
  legendSvg,
  ownerColor,
  r2,
  svgOpen,
} from "./svg.js";

/** One IOMMU mapping of a device: `size` bytes at `iova` translating to `paddr`. */
export interface DvMapping {
  readonly iova: number;
  readonly size: number;
  readonly paddr: number;
  /** who the buffer belongs to: picks the colour */
  readonly owner: string;
}

/** The input of `dvMapSvg`. */
export interface DvMapInput {
  /** the device's name (the heading) */
  readonly device: string;
  readonly mappings: readonly DvMapping[];
  /** heading (default "D.V map of <device>") */
  readonly title?: string;
  /** picture width in px (default 720) */
  readonly width?: number;
  /** height of the two address columns in px (default 420) */
  readonly height?: number;
  /** owner → `#rrggbb` for owners whose colour should not come from `ownerColor`'s hash */
  readonly colors?: Readonly<Record<string, string>>;
}

interface Segment {
  start: number;
  end: number;
  y0: number;
  y1: number;
}

/**
 * An address axis that keeps the mapped ranges and squeezes every gap between them to `gapPx`:
 * the ranges share `height` in proportion to their sizes, each at least `minPx`.
 */
function compressedAxis(
  ranges: readonly { start: number; end: number }[],
  top: number,
  height: number,
  gapPx = 12,
  minPx = 3,
): { segments: Segment[]; y: (addr: number) => number } {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const segs: Segment[] = [];
  for (const r of sorted) {
    const last = segs[segs.length - 1];
    if (last && r.start <= last.end) {
      last.end = Math.max(last.end, r.end);
    } else segs.push({ start: r.start, end: r.end, y0: 0, y1: 0 });
  }
  const avail = Math.max(height - gapPx * Math.max(segs.length - 1, 0), segs.length * minPx);
  const total = segs.reduce((n, s) => n + (s.end - s.start), 0);
  const spare = Math.max(avail - segs.length * minPx, 0);
  let y = top;
  for (const s of segs) {
    const h = minPx + (total > 0 ? ((s.end - s.start) / total) * spare : 0);
    s.y0 = y;
    s.y1 = y + h;
    y += h + gapPx;
  }
  const yOf = (addr: number): number => {
    let lo = 0;
    let hi = segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (segs[mid]!.start <= addr) lo = mid;
      else hi = mid - 1;
    }
    const s = segs[lo]!;
    const f = s.end > s.start ? (Math.min(Math.max(addr, s.start), s.end) - s.start) / (s.end - s.start) : 0;
    return s.y0 + f * (s.y1 - s.y0);
  };
  return { segments: segs, y: yOf };
}

function axisLabels(segs: readonly Segment[], x: number, anchor: "start" | "end", cls: string): string[] {
  const out: string[] = [];
  let lastY = -Infinity;
  const label = (y: number, addr: number): void => {
    if (y - lastY < 11) return;
    lastY = y;
    out.push(
      `<text class="${cls}" x="${x}" y="${r2(y + 4)}" text-anchor="${anchor}">${formatAddr(addr)}</text>`,
    );
  };
  for (const s of segs) {
    label(s.y0, s.start);
    label(s.y1, s.end);
  }
  return out;
}

/**
 * Draws the D.V map of one device: the IOVA column (`<rect class="iova">` per mapping), the
 * physical column (`<rect class="phys">` per mapping) and a `<polygon class="band">` joining the
 * two, all coloured by owner. Each column keeps its mapped ranges and squeezes the gaps between
 * them (dashed lines mark a squeezed gap), so a scattered buffer stays readable; ranges are
 * labelled in hex. Throws an `Error` for a bad range or IOVA ranges that overlap.
 */
export function dvMapSvg(input: DvMapInput): string {
  const fn = "dvMapSvg";
  for (const m of input.mappings) {
    for (const [k, v] of [
      ["iova", m.iova],
      ["paddr", m.paddr],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0)
        throw new Error(`${fn}: ${input.device}: ${k} ${v} is not an address`);
    }
    if (!Number.isSafeInteger(m.size) || m.size <= 0) {
      throw new Error(`${fn}: ${input.device}: mapping at iova ${formatAddr(m.iova)} has size ${m.size}`);
    }
  }
  const byIova = [...input.mappings].sort((a, b) => a.iova - b.iova);
  for (let i = 1; i < byIova.length; i++) {
    const a = byIova[i - 1]!;
    const b = byIova[i]!;
    if (b.iova < a.iova + a.size) {
      throw new Error(
        `${fn}: ${input.device}: iova ranges ${formatAddr(a.iova)}+${formatAddr(a.size)} and ` +
          `${formatAddr(b.iova)}+${formatAddr(b.size)} overlap`,
      );
    }
  }
  const width = input.width ?? 720;
  const colH = input.height ?? 420;
  const top = 74;
  const colW = 110;
  const ivX = 150;
  const phX = width - 150 - colW;
  const title = input.title ?? `D.V map of ${input.device}`;
  const total = byIova.reduce((n, m) => n + m.size, 0);
  const body: string[] = [
    `<text class="title" x="20" y="24" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="20" y="42" fill="#555">${byIova.length} mapping${byIova.length === 1 ? "" : "s"}, ${formatBytes(total)} mapped</text>`,
    `<text x="${ivX + colW / 2}" y="${top - 8}" text-anchor="middle" font-weight="bold">device virtual (IOVA)</text>`,
    `<text x="${phX + colW / 2}" y="${top - 8}" text-anchor="middle" font-weight="bold">physical</text>`,
  ];
  if (byIova.length === 0) {
    body.push(`<text x="${width / 2}" y="${top + 30}" text-anchor="middle" fill="#555">no mappings</text>`);
    return `${svgOpen(width, top + 60, "dv-map")}${body.join("")}</svg>`;
  }
  const iv = compressedAxis(
    byIova.map((m) => ({ start: m.iova, end: m.iova + m.size })),
    top,
    colH,
  );
  const ph = compressedAxis(
    byIova.map((m) => ({ start: m.paddr, end: m.paddr + m.size })),
    top,
    colH,
  );
  const bottom = Math.max(iv.segments.at(-1)!.y1, ph.segments.at(-1)!.y1);
  for (const [axis, x] of [
    [iv, ivX],
    [ph, phX],
  ] as const) {
    for (const s of axis.segments) {
      body.push(
        `<rect class="segment" x="${x}" y="${r2(s.y0)}" width="${colW}" height="${r2(s.y1 - s.y0)}" fill="#f4f4f4" stroke="#888" stroke-width="0.5"/>`,
      );
    }
    for (let i = 1; i < axis.segments.length; i++) {
      const gy = r2((axis.segments[i - 1]!.y1 + axis.segments[i]!.y0) / 2);
      body.push(
        `<line class="gap" x1="${x}" y1="${gy}" x2="${x + colW}" y2="${gy}" stroke="#999" stroke-dasharray="3 3"/>`,
      );
    }
  }
  body.push(...axisLabels(iv.segments, ivX - 6, "end", "iova-label"));
  body.push(...axisLabels(ph.segments, phX + colW + 6, "start", "phys-label"));
  for (const m of byIova) {
    const c = ownerColor(m.owner, input.colors);
    const a0 = r2(iv.y(m.iova));
    const a1 = r2(Math.max(iv.y(m.iova + m.size), a0 + 1));
    const p0 = r2(ph.y(m.paddr));
    const p1 = r2(Math.max(ph.y(m.paddr + m.size), p0 + 1));
    const tip = escapeXml(
      `${m.owner}: iova ${formatAddr(m.iova)} → phys ${formatAddr(m.paddr)} (${formatBytes(m.size)})`,
    );
    body.push(
      `<polygon class="band" data-owner="${escapeXml(m.owner)}" points="${ivX + colW},${a0} ${phX},${p0} ${phX},${p1} ${ivX + colW},${a1}" fill="${c}" fill-opacity="0.35" stroke="${c}" stroke-width="0.5"><title>${tip}</title></polygon>`,
      `<rect class="iova" data-owner="${escapeXml(m.owner)}" data-iova="${formatAddr(m.iova)}" data-size="${m.size}" x="${ivX}" y="${a0}" width="${colW}" height="${r2(a1 - a0)}" fill="${c}" stroke="#222" stroke-width="0.3"><title>${tip}</title></rect>`,
      `<rect class="phys" data-owner="${escapeXml(m.owner)}" data-paddr="${formatAddr(m.paddr)}" data-size="${m.size}" x="${phX}" y="${p0}" width="${colW}" height="${r2(p1 - p0)}" fill="${c}" stroke="#222" stroke-width="0.3"><title>${tip}</title></rect>`,
    );
  }
  const legend = legendSvg(
    legendEntries(
      byIova.map((m) => m.owner),
      input.colors,
    ),
    20,
    bottom + 20,
    width - 40,
  );
  body.push(legend.svg);
  const height = Math.ceil(bottom + 20 + legend.height + 8);
  return `${svgOpen(width, height, "dv-map")}${body.join("")}</svg>`;
}
