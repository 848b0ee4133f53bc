/**
 * Memory maps as SVG: who held which physical range when (address × time, one rectangle per
 * allocation), and a snapshot of one region at one moment (used and free ranges, largest free
 * chunk marked) that shows fragmentation.
 *
 * @module
 */
import {
  escapeXml,
  formatAddr,
  formatBytes,
  formatMs,
  legendEntries,
  legendSvg,
  niceStep,
  ownerColor,
  pow2Step,
  r2,
  svgOpen,
} from "./svg.js";

/** A physical memory region (a CMA area, a carveout, a bank). */
export interface MemRegion {
  /** the name intervals refer to (a CMA area's name) */
  readonly name: string;
  /** first physical address */
  readonly base: number;
  /** bytes */
  readonly size: number;
}

/** One allocation's life: `size` bytes at physical `start` in `region`, from `tStart` to `tEnd`. */
export interface AllocInterval {
  /** the `MemRegion.name` it lies in */
  readonly region: string;
  /** first physical address */
  readonly start: number;
  /** bytes */
  readonly size: number;
  /** virtual ns when it was allocated */
  readonly tStart: number;
  /** virtual ns when it was freed, or null while still held */
  readonly tEnd: number | null;
  /** who holds it (a process, a driver): picks the colour */
  readonly owner: string;
  /** optional text for the tooltip (a buffer name) */
  readonly label?: string;
}

/** The input of `memoryMapSvg`. */
export interface MemoryMapInput {
  readonly regions: readonly MemRegion[];
  readonly intervals: readonly AllocInterval[];
  /** virtual ns the picture ends at (intervals still held are drawn up to it) */
  readonly tEnd: number;
  /** virtual ns the picture starts at (default 0) */
  readonly tStart?: number;
  readonly title: string;
  /** picture width in px (default 960) */
  readonly width?: number;
  /** plot height of each region in px (default 220) */
  readonly regionHeight?: number;
  /** owner → `#rrggbb` for owners whose colour should not come from `ownerColor`'s hash */
  readonly colors?: Readonly<Record<string, string>>;
}

function checkRegion(fn: string, r: MemRegion): void {
  if (typeof r.name !== "string" || r.name === "") throw new Error(`${fn}: a region has no name`);
  if (!Number.isSafeInteger(r.base) || r.base < 0) {
    throw new Error(`${fn}: region ${r.name} base ${r.base} is not a non-negative integer`);
  }
  if (!Number.isSafeInteger(r.size) || r.size <= 0) {
    throw new Error(`${fn}: region ${r.name} size ${r.size} is not a positive integer`);
  }
}

function checkInterval(fn: string, iv: AllocInterval, region: MemRegion | undefined): asserts region {
  if (!region)
    throw new Error(`${fn}: interval at ${formatAddr(iv.start)} names unknown region ${iv.region}`);
  if (!Number.isSafeInteger(iv.start) || !Number.isSafeInteger(iv.size) || iv.size <= 0) {
    throw new Error(`${fn}: interval start ${iv.start} size ${iv.size} are not a positive range`);
  }
  if (iv.start < region.base || iv.start + iv.size > region.base + region.size) {
    throw new Error(
      `${fn}: interval ${formatAddr(iv.start)}+${formatAddr(iv.size)} lies outside region ${region.name} ` +
        `(${formatAddr(region.base)}+${formatAddr(region.size)})`,
    );
  }
  if (!Number.isFinite(iv.tStart) || (iv.tEnd !== null && !(iv.tEnd >= iv.tStart))) {
    throw new Error(
      `${fn}: interval ${formatAddr(iv.start)} in ${region.name} has tStart ${iv.tStart} and tEnd ${iv.tEnd}`,
    );
  }
}

function regionMap(fn: string, regions: readonly MemRegion[]): Map<string, MemRegion> {
  const m = new Map<string, MemRegion>();
  for (const r of regions) {
    checkRegion(fn, r);
    if (m.has(r.name)) throw new Error(`${fn}: region ${r.name} is listed twice`);
    m.set(r.name, r);
  }
  return m;
}

function tooltip(iv: AllocInterval, tEndShown: number): string {
  const when = `${formatMs(iv.tStart)} to ${iv.tEnd === null ? `${formatMs(tEndShown)} (still held)` : formatMs(iv.tEnd)}`;
  const what = iv.label ? `${iv.owner}: ${iv.label}` : iv.owner;
  return `${what}\n${formatAddr(iv.start)}..${formatAddr(iv.start + iv.size - 1)} (${formatBytes(iv.size)})\n${when}`;
}

/**
 * Draws the allocations of every region over time: for each region a panel with time (ms) across
 * and physical address down (base at the top, hex ticks with the MiB offset), one
 * `<rect class="alloc">` per interval coloured by owner (`ownerColor`), with a `<title>` tooltip
 * and `data-owner`/`data-start`/`data-size` attributes; a legend of owners at the bottom.
 * Throws an `Error` for an interval outside its region or naming an unknown one.
 */
export function memoryMapSvg(input: MemoryMapInput): string {
  const fn = "memoryMapSvg";
  const regions = regionMap(fn, input.regions);
  const t0 = input.tStart ?? 0;
  const t1 = input.tEnd;
  if (!Number.isFinite(t0) || !Number.isFinite(t1) || t1 < t0) {
    throw new Error(`${fn}: tEnd ${t1} must be a number no less than tStart ${t0}`);
  }
  for (const iv of input.intervals) checkInterval(fn, iv, regions.get(iv.region));
  const width = input.width ?? 960;
  const plotH = input.regionHeight ?? 220;
  const left = 170;
  const right = 24;
  const plotW = width - left - right;
  const span = t1 > t0 ? t1 - t0 : 1;
  const xOf = (t: number): number => left + ((Math.min(Math.max(t, t0), t1) - t0) / span) * plotW;

  const body: string[] = [];
  let y = 40;
  body.push(
    `<text class="title" x="${left}" y="24" font-size="15" font-weight="bold">${escapeXml(input.title)}</text>`,
  );
  const tStep = niceStep(span / 1e6, 8) * 1e6;
  for (const region of regions.values()) {
    const mine = input.intervals.filter((iv) => iv.region === region.name);
    const held = mine.filter((iv) => iv.tStart <= t1 && (iv.tEnd === null || iv.tEnd > t1)).length;
    body.push(
      `<g class="region" data-region="${escapeXml(region.name)}">`,
      `<text x="${left}" y="${y + 12}" font-size="12" font-weight="bold">${escapeXml(region.name)}: ` +
        `${formatAddr(region.base)}..${formatAddr(region.base + region.size - 1)} (${formatBytes(region.size)}), ` +
        `${mine.length} allocation${mine.length === 1 ? "" : "s"}</text>`,
    );
    const py = y + 20;
    const yOf = (addr: number): number => py + ((addr - region.base) / region.size) * plotH;
    body.push(
      `<rect class="plot" x="${left}" y="${py}" width="${plotW}" height="${plotH}" fill="#f4f4f4" stroke="#888" stroke-width="0.5"/>`,
    );
    // address ticks
    const aStep = pow2Step(region.size, 8);
    for (let off = 0; off <= region.size; off += aStep) {
      const ty = r2(yOf(region.base + off));
      body.push(
        `<line class="tick" x1="${left - 4}" y1="${ty}" x2="${left}" y2="${ty}" stroke="#555"/>`,
        `<line class="grid" x1="${left}" y1="${ty}" x2="${left + plotW}" y2="${ty}" stroke="#ddd" stroke-width="0.5"/>`,
        `<text x="${left - 6}" y="${ty + 4}" text-anchor="end">${formatAddr(region.base + off)} +${formatBytes(off).replace(" ", "\u00a0")}</text>`,
      );
    }
    // time ticks
    const first = Math.ceil(t0 / tStep);
    for (let k = first; k * tStep <= t1 * (1 + 1e-12); k++) {
      const t = k * tStep;
      const tx = r2(xOf(t));
      body.push(
        `<line class="tick" x1="${tx}" y1="${py + plotH}" x2="${tx}" y2="${py + plotH + 4}" stroke="#555"/>`,
        `<text x="${tx}" y="${py + plotH + 16}" text-anchor="middle">${formatMs(t)}</text>`,
      );
    }
    // allocations
    for (const iv of mine) {
      const end = iv.tEnd ?? t1;
      if (end < t0 || iv.tStart > t1) continue;
      const x1 = xOf(iv.tStart);
      const x2 = Math.max(xOf(end), x1 + 1);
      const y1 = yOf(iv.start);
      const y2 = Math.max(yOf(iv.start + iv.size), y1 + 1);
      body.push(
        `<rect class="alloc" data-owner="${escapeXml(iv.owner)}" data-start="${formatAddr(iv.start)}" data-size="${iv.size}" ` +
          `x="${r2(x1)}" y="${r2(y1)}" width="${r2(x2 - x1)}" height="${r2(y2 - y1)}" fill="${ownerColor(iv.owner, input.colors)}" ` +
          `fill-opacity="0.85" stroke="#222" stroke-width="0.3"><title>${escapeXml(tooltip(iv, t1))}</title></rect>`,
      );
    }
    body.push(
      `<text x="${left + plotW}" y="${y + 12}" text-anchor="end" fill="#555">${held} held at ${formatMs(t1)}</text>`,
      "</g>",
    );
    y = py + plotH + 34;
  }
  body.push(
    `<text x="${left + plotW / 2}" y="${y - 6}" text-anchor="middle" fill="#555">time (virtual ms)</text>`,
  );
  const legend = legendSvg(
    legendEntries(
      input.intervals.map((iv) => iv.owner),
      input.colors,
    ),
    left,
    y + 4,
    plotW,
  );
  body.push(legend.svg);
  const height = Math.ceil(y + 4 + legend.height + 8);
  return `${svgOpen(width, height, "memory-map")}${body.join("")}</svg>`;
}

/** The intervals live at virtual time `t`: allocated at or before `t` and not yet freed. */
export function intervalsLiveAt(intervals: readonly AllocInterval[], t: number): AllocInterval[] {
  return intervals.filter((iv) => iv.tStart <= t && (iv.tEnd === null || iv.tEnd > t));
}

/** An address range. */
export interface AddrRange {
  readonly start: number;
  readonly size: number;
}

/** How a region is used by a set of allocations (see `regionUsage`). */
export interface RegionUsage {
  /** bytes covered by at least one allocation */
  readonly used: number;
  /** bytes covered by none */
  readonly free: number;
  /** the covered ranges, merged, ascending */
  readonly usedRanges: readonly AddrRange[];
  /** the gaps, ascending */
  readonly freeRanges: readonly AddrRange[];
  /** the largest gap (the lowest of equals), or null when the region is full */
  readonly largestFree: AddrRange | null;
}

/**
 * Used and free ranges of `region` under `intervals` (those of other regions are ignored;
 * overlapping ones merge). Pass `intervalsLiveAt(all, t)` for the state at one moment.
 */
export function regionUsage(region: MemRegion, intervals: readonly AllocInterval[]): RegionUsage {
  checkRegion("regionUsage", region);
  const mine = intervals
    .filter((iv) => iv.region === region.name)
    .map((iv) => {
      checkInterval("regionUsage", iv, region);
      return { start: iv.start, end: iv.start + iv.size };
    })
    .sort((a, b) => a.start - b.start);
  const usedRanges: AddrRange[] = [];
  const freeRanges: AddrRange[] = [];
  let cursor = region.base;
  let cur: { start: number; end: number } | null = null;
  for (const r of mine) {
    if (cur && r.start <= cur.end) {
      cur.end = Math.max(cur.end, r.end);
      continue;
    }
    if (cur) usedRanges.push({ start: cur.start, size: cur.end - cur.start });
    cur = { ...r };
  }
  if (cur) usedRanges.push({ start: cur.start, size: cur.end - cur.start });
  for (const u of usedRanges) {
    if (u.start > cursor) freeRanges.push({ start: cursor, size: u.start - cursor });
    cursor = u.start + u.size;
  }
  const end = region.base + region.size;
  if (cursor < end) freeRanges.push({ start: cursor, size: end - cursor });
  let largestFree: AddrRange | null = null;
  for (const f of freeRanges) if (!largestFree || f.size > largestFree.size) largestFree = f;
  const used = usedRanges.reduce((n, u) => n + u.size, 0);
  return { used, free: region.size - used, usedRanges, freeRanges, largestFree };
}

/** Options of `regionSnapshotSvg`. */
export interface RegionSnapshotOpts {
  /** heading (default "<region> at <t>" when `t` is given, else the region's name) */
  readonly title?: string;
  /** the moment shown, for the heading */
  readonly t?: number;
  /** picture width in px (default 960) */
  readonly width?: number;
  /** owner → `#rrggbb` for owners whose colour should not come from `ownerColor`'s hash */
  readonly colors?: Readonly<Record<string, string>>;
}

/**
 * Draws `region` at one moment (pass `intervalsLiveAt(all, t)`): the address range across, each
 * allocation a `<rect class="used">` coloured by owner, each gap a `<rect class="free">`, the
 * largest gap outlined in red (`class="free largest"`) and labelled, and a line of figures (used,
 * free, free chunks, largest free chunk) under it.
 */
export function regionSnapshotSvg(
  region: MemRegion,
  intervals: readonly AllocInterval[],
  opts: RegionSnapshotOpts = {},
): string {
  const usage = regionUsage(region, intervals);
  const mine = intervals.filter((iv) => iv.region === region.name);
  const width = opts.width ?? 960;
  const left = 20;
  const plotW = width - 2 * left;
  const barY = 70;
  const barH = 60;
  const xOf = (addr: number): number => left + ((addr - region.base) / region.size) * plotW;
  const title = opts.title ?? (opts.t === undefined ? region.name : `${region.name} at ${formatMs(opts.t)}`);
  const body: string[] = [
    `<text class="title" x="${left}" y="24" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${left}" y="42" fill="#555">${formatAddr(region.base)}..${formatAddr(region.base + region.size - 1)} (${formatBytes(region.size)})</text>`,
  ];
  for (const f of usage.freeRanges) {
    const largest = usage.largestFree === f;
    const x1 = xOf(f.start);
    const w = Math.max(xOf(f.start + f.size) - x1, 1);
    body.push(
      `<rect class="${largest ? "free largest" : "free"}" data-start="${formatAddr(f.start)}" data-size="${f.size}" ` +
        `x="${r2(x1)}" y="${barY}" width="${r2(w)}" height="${barH}" fill="#ffffff" ` +
        `stroke="${largest ? "#d00000" : "#999"}" stroke-width="${largest ? 2 : 0.5}">` +
        `<title>free ${formatAddr(f.start)}..${formatAddr(f.start + f.size - 1)} (${formatBytes(f.size)})</title></rect>`,
    );
  }
  for (const iv of mine) {
    const x1 = xOf(iv.start);
    const w = Math.max(xOf(iv.start + iv.size) - x1, 1);
    body.push(
      `<rect class="used" data-owner="${escapeXml(iv.owner)}" data-start="${formatAddr(iv.start)}" data-size="${iv.size}" ` +
        `x="${r2(x1)}" y="${barY}" width="${r2(w)}" height="${barH}" fill="${ownerColor(iv.owner, opts.colors)}" stroke="#222" stroke-width="0.3">` +
        `<title>${escapeXml(iv.label ? `${iv.owner}: ${iv.label}` : iv.owner)} ${formatAddr(iv.start)} (${formatBytes(iv.size)})</title></rect>`,
    );
  }
  if (usage.largestFree) {
    const f = usage.largestFree;
    const mid = r2((xOf(f.start) + xOf(f.start + f.size)) / 2);
    const anchor = mid < left + 120 ? "start" : mid > left + plotW - 120 ? "end" : "middle";
    body.push(
      `<line class="largest-marker" x1="${mid}" y1="${barY - 14}" x2="${mid}" y2="${barY}" stroke="#d00000" stroke-width="1.5"/>`,
      `<text x="${mid}" y="${barY - 18}" text-anchor="${anchor}" fill="#d00000">largest free: ${formatBytes(f.size)} at ${formatAddr(f.start)}</text>`,
    );
  }
  // address ticks under the bar
  const aStep = pow2Step(region.size, 8);
  for (let off = 0; off <= region.size; off += aStep) {
    const tx = r2(xOf(region.base + off));
    const anchor = off === 0 ? "start" : off + aStep > region.size ? "end" : "middle";
    body.push(
      `<line class="tick" x1="${tx}" y1="${barY + barH}" x2="${tx}" y2="${barY + barH + 4}" stroke="#555"/>`,
      `<text x="${tx}" y="${barY + barH + 16}" text-anchor="${anchor}">+${formatBytes(off)}</text>`,
    );
  }
  const pct = ((usage.used / region.size) * 100).toFixed(1);
  body.push(
    `<text class="figures" x="${left}" y="${barY + barH + 38}">used ${formatBytes(usage.used)} (${pct}%) · free ${formatBytes(usage.free)} in ` +
      `${usage.freeRanges.length} chunk${usage.freeRanges.length === 1 ? "" : "s"} · largest free ${formatBytes(usage.largestFree?.size ?? 0)}</text>`,
  );
  const legend = legendSvg(
    legendEntries(
      mine.map((iv) => iv.owner),
      opts.colors,
    ),
    left,
    barY + barH + 50,
    plotW,
  );
  body.push(legend.svg);
  const height = Math.ceil(barY + barH + 50 + legend.height + 8);
  return `${svgOpen(width, height, "region-snapshot")}${body.join("")}</svg>`;
}
