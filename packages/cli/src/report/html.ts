/**
 * The report folder: a self-contained report.html (inline CSS, relative image paths, no scripts,
 * fonts or anything else from the network) next to the PNG/SVG pictures and trace files it links.
 *
 * @module
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { svgToPng } from "./render.js";
import { escapeXml } from "./svg.js";
import {
  type SummaryColumn,
  type SummaryRow,
  summaryAlignRight,
  summaryCell,
  summaryColumns,
} from "./table.js";

/** A picture of the report, by its file name in the report folder. */
export interface ReportImage {
  /** the caption */
  readonly title: string;
  /** path relative to report.html (e.g. "memory-map.png") */
  readonly file: string;
  /** text for the `alt` attribute */
  readonly alt: string;
  /** an SVG version to link under the picture (relative path) */
  readonly svgFile?: string;
  /** width in CSS px to show it at (default its own, shrunk to fit the page) */
  readonly width?: number;
  /** scale without smoothing (for small frames shown large) */
  readonly pixelated?: boolean;
}

/** An SVG drawn inline in the page. */
export interface ReportInlineSvg {
  readonly title: string;
  /** the SVG document */
  readonly svg: string;
}

/** A file of the report folder listed under "Files" (a trace, a log). */
export interface ReportLink {
  /** path relative to report.html */
  readonly file: string;
  /** what it is */
  readonly title: string;
}

/** What `reportHtml` puts on the page. */
export interface ReportParts {
  /** the page title and heading */
  readonly title: string;
  /** preformatted text (a `summaryTable`) or rows drawn as an HTML table */
  readonly summary: string | readonly SummaryRow[];
  /** columns of a row summary (default: the rows' keys) */
  readonly summaryColumns?: readonly (string | SummaryColumn)[];
  readonly images: readonly ReportImage[];
  /** pictures drawn inline instead of from files */
  readonly svgs?: readonly ReportInlineSvg[];
  /** a Chrome/Perfetto trace JSON in the folder (relative path), linked with how to open it */
  readonly traceFile?: string;
  /** more files of the folder to list */
  readonly links?: readonly ReportLink[];
}

/** Throws unless `file` is a plain relative path that stays inside the report folder. */
function checkRelative(fn: string, what: string, file: string): void {
  const bad =
    typeof file !== "string" ||
    file === "" ||
    file.startsWith("/") ||
    file.includes("\\") ||
    /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(file) ||
    file.split("/").some((p) => p === ".." || p === "" || p === ".");
  if (bad) {
    throw new Error(
      `${fn}: ${what} ${JSON.stringify(file)} must be a relative path inside the report folder (no "..", no scheme, no leading "/")`,
    );
  }
}

/** Percent-encodes a relative path for an href/src, keeping the slashes. */
const hrefOf = (file: string): string => escapeXml(file.split("/").map(encodeURIComponent).join("/"));

const CSS = `
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; margin: 24px auto;
  max-width: 1100px; padding: 0 16px; color: #1a1a1a; background: #ffffff; line-height: 1.4; }
h1 { font-size: 1.6em; margin: 0 0 0.6em; }
h2 { font-size: 1.2em; margin: 1.6em 0 0.5em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
pre.summary { background: #f6f6f6; border: 1px solid #ddd; padding: 10px 12px; overflow-x: auto;
  font-family: "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; font-size: 13px; }
table.summary { border-collapse: collapse; font-size: 14px; }
table.summary th, table.summary td { border: 1px solid #ddd; padding: 3px 10px; }
table.summary th { background: #f0f0f0; text-align: left; }
table.summary td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0 0 24px; }
figure img, figure svg { max-width: 100%; height: auto; border: 1px solid #ddd; display: block; }
figure img.pixelated { image-rendering: pixelated; }
figcaption { margin-top: 4px; color: #444; font-size: 14px; }
code { font-family: "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; }
ul.files li { margin: 2px 0; }
`;

function summaryHtml(parts: ReportParts): string {
  if (typeof parts.summary === "string") return `<pre class="summary">${escapeXml(parts.summary)}</pre>`;
  const rows = parts.summary;
  const cols = summaryColumns(rows, parts.summaryColumns);
  const right = cols.map((c) => summaryAlignRight(c, rows));
  const head = cols.map((c) => `<th>${escapeXml(c.title ?? c.key)}</th>`).join("");
  const body = rows
    .map(
      (r) =>
        `<tr>${cols.map((c, i) => `<td${right[i] ? ' class="num"' : ""}>${escapeXml(summaryCell(c, r[c.key]))}</td>`).join("")}</tr>`,
    )
    .join("\n");
  return `<table class="summary"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/**
 * The report page: title, summary, pictures (`<img>` with relative paths), inline SVGs, and the
 * trace and other files. Self-contained: inline CSS, no scripts, no external fonts, and a
 * Content-Security-Policy that lets the page load nothing but its own folder's images. Throws an
 * `Error` for a path that is absolute, has a scheme or leaves the folder.
 */
export function reportHtml(parts: ReportParts): string {
  const fn = "reportHtml";
  for (const im of parts.images) {
    checkRelative(fn, "image file", im.file);
    if (im.svgFile !== undefined) checkRelative(fn, "svg file", im.svgFile);
  }
  if (parts.traceFile !== undefined) checkRelative(fn, "trace file", parts.traceFile);
  for (const l of parts.links ?? []) checkRelative(fn, "linked file", l.file);
  const out: string[] = [
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeXml(parts.title)}</title>`,
    `<style>${CSS}</style>`,
    "</head>",
    "<body>",
    `<h1>${escapeXml(parts.title)}</h1>`,
    '<section id="summary">',
    "<h2>Summary</h2>",
    summaryHtml(parts),
    "</section>",
  ];
  if (parts.images.length > 0 || (parts.svgs?.length ?? 0) > 0) {
    out.push('<section id="pictures">', "<h2>Pictures</h2>");
    for (const im of parts.images) {
      if (im.width !== undefined && (!Number.isInteger(im.width) || im.width <= 0)) {
        throw new Error(`${fn}: image ${im.file} width ${im.width} must be a positive integer`);
      }
      const size = im.width === undefined ? "" : ` width="${im.width}"`;
      const cls = im.pixelated ? ' class="pixelated"' : "";
      const svgLink = im.svgFile === undefined ? "" : ` (<a href="${hrefOf(im.svgFile)}">SVG</a>)`;
      out.push(
        `<figure><img${cls} src="${hrefOf(im.file)}" alt="${escapeXml(im.alt)}"${size}>` +
          `<figcaption>${escapeXml(im.title)}${svgLink}</figcaption></figure>`,
      );
    }
    for (const s of parts.svgs ?? []) {
      const svg = s.svg.replace(/^\s*<\?xml[^>]*\?>\s*/, "");
      if (!/^<svg[\s>]/.test(svg)) throw new Error(`${fn}: inline svg "${s.title}" does not start with <svg`);
      out.push(`<figure class="inline-svg">${svg}<figcaption>${escapeXml(s.title)}</figcaption></figure>`);
    }
    out.push("</section>");
  }
  const links = parts.links ?? [];
  if (parts.traceFile !== undefined || links.length > 0) {
    out.push('<section id="files">', "<h2>Files</h2>", '<ul class="files">');
    if (parts.traceFile !== undefined) {
      out.push(
        `<li><a href="${hrefOf(parts.traceFile)}">${escapeXml(parts.traceFile)}</a>: the trace in Chrome trace format; ` +
          "open it in Perfetto (ui.perfetto.dev, “Open trace file”) or chrome://tracing</li>",
      );
    }
    for (const l of links) {
      out.push(`<li><a href="${hrefOf(l.file)}">${escapeXml(l.file)}</a>: ${escapeXml(l.title)}</li>`);
    }
    out.push("</ul>", "</section>");
  }
  out.push("</body>", "</html>", "");
  return out.join("\n");
}

/** A picture for `writeReport`: its bytes (PNG) or its SVG, or both. */
export interface ReportImageData extends Omit<ReportImage, "svgFile"> {
  /** PNG bytes (written to `file`, which must end in .png) */
  readonly png?: Uint8Array;
  /**
   * The SVG. With a .png `file` and no `png`, it is rendered with `svgToPng`; it is also written
   * next to the PNG (same name, .svg) and linked. With a .svg `file` it is the file.
   */
  readonly svg?: string;
  /** width in px of the PNG rendered from `svg` (default the SVG's own) */
  readonly pngWidth?: number;
}

/** A file for `writeReport` to write as is (a trace JSON, ftrace text). */
export interface ReportFileData {
  /** path relative to the report folder */
  readonly file: string;
  readonly data: string | Uint8Array;
  /** listed under "Files" with this description; omit to write it unlisted */
  readonly title?: string;
}

/** What `writeReport` writes. */
export interface WriteReportParts extends Omit<ReportParts, "images" | "links"> {
  readonly images: readonly ReportImageData[];
  /** more files (the trace named by `traceFile`, an ftrace text) */
  readonly files?: readonly ReportFileData[];
}

/** What `writeReport` wrote. */
export interface WrittenReport {
  /** absolute path of report.html */
  readonly html: string;
  /** every file written, relative to the folder, in order */
  readonly files: readonly string[];
}

/** The `ReportImage` fields of a `ReportImageData`. */
function shown(im: ReportImageData): ReportImage {
  return {
    title: im.title,
    file: im.file,
    alt: im.alt,
    ...(im.width === undefined ? {} : { width: im.width }),
    ...(im.pixelated === undefined ? {} : { pixelated: im.pixelated }),
  };
}

/**
 * Writes a report folder: creates `dir`, writes each picture (PNG given or rendered from its SVG,
 * plus the SVG beside it), each extra file, and report.html linking them. Validates everything
 * before writing anything; throws an `Error` for a picture with neither PNG nor SVG, a file name
 * that leaves the folder, or a name used twice.
 */
export async function writeReport(dir: string, parts: WriteReportParts): Promise<WrittenReport> {
  const fn = "writeReport";
  const root = resolve(dir);
  const writes: { file: string; data: string | Uint8Array }[] = [];
  const images: ReportImage[] = [];
  for (const im of parts.images) {
    checkRelative(fn, "image file", im.file);
    if (im.file.endsWith(".png")) {
      if (im.png === undefined && im.svg === undefined) {
        throw new Error(`${fn}: image ${im.file} has neither png bytes nor an svg to render`);
      }
      const png = im.png ?? svgToPng(im.svg!, im.pngWidth === undefined ? {} : { width: im.pngWidth });
      writes.push({ file: im.file, data: png });
      let svgFile: string | undefined;
      if (im.svg !== undefined) {
        svgFile = im.file.replace(/\.png$/, ".svg");
        writes.push({ file: svgFile, data: im.svg });
      }
      images.push({ ...shown(im), ...(svgFile ? { svgFile } : {}) });
    } else if (im.file.endsWith(".svg")) {
      if (im.svg === undefined || im.png !== undefined) {
        throw new Error(`${fn}: image ${im.file} is an .svg file: give its svg (and no png)`);
      }
      writes.push({ file: im.file, data: im.svg });
      images.push(shown(im));
    } else {
      throw new Error(`${fn}: image ${im.file} must be a .png or .svg file`);
    }
  }
  const links: ReportLink[] = [];
  for (const f of parts.files ?? []) {
    checkRelative(fn, "file", f.file);
    writes.push({ file: f.file, data: f.data });
    if (f.title !== undefined && f.file !== parts.traceFile) links.push({ file: f.file, title: f.title });
  }
  const html = reportHtml({
    title: parts.title,
    summary: parts.summary,
    images,
    links,
    ...(parts.summaryColumns === undefined ? {} : { summaryColumns: parts.summaryColumns }),
    ...(parts.svgs === undefined ? {} : { svgs: parts.svgs }),
    ...(parts.traceFile === undefined ? {} : { traceFile: parts.traceFile }),
  });
  writes.push({ file: "report.html", data: html });
  const seen = new Set<string>();
  for (const w of writes) {
    if (seen.has(w.file)) throw new Error(`${fn}: ${w.file} would be written twice`);
    seen.add(w.file);
  }
  await mkdir(root, { recursive: true });
  for (const w of writes) {
    const path = join(root, ...w.file.split("/"));
    if (!path.startsWith(root + sep)) throw new Error(`${fn}: ${w.file} leaves ${root}`);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, w.data);
  }
  return { html: join(root, "report.html"), files: writes.map((w) => w.file) };
}
