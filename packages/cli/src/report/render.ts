/**
 * SVG to PNG through @resvg/resvg-js (a prebuilt native module, loaded on first use so that
 * `umm --help` does not pay for it).
 *
 * @module
 */
import { createRequire } from "node:module";
import type * as ResvgModule from "@resvg/resvg-js";

let resvg: typeof ResvgModule | undefined;

function loadResvg(): typeof ResvgModule {
  if (!resvg) {
    try {
      resvg = createRequire(import.meta.url)("@resvg/resvg-js") as typeof ResvgModule;
    } catch (e) {
      throw new Error(
        `svgToPng: cannot load @resvg/resvg-js (its prebuilt binary for ${process.platform}-${process.arch} ` +
          `should come with the package; run pnpm install): ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  return resvg;
}

/** Options of `svgToPng`. */
export interface SvgToPngOpts {
  /** output width in px; the height follows the SVG's aspect ratio (default: the SVG's width) */
  readonly width?: number;
  /** background colour painted under the SVG (CSS colour; default transparent) */
  readonly background?: string;
}

/**
 * Renders an SVG document to PNG bytes with resvg (system fonts; the pictures of this package
 * name DejaVu Sans first). Throws an `Error` naming the problem when the SVG does not parse.
 */
export function svgToPng(svg: string, opts: SvgToPngOpts = {}): Uint8Array {
  if (opts.width !== undefined && (!Number.isInteger(opts.width) || opts.width <= 0)) {
    throw new Error(`svgToPng: width ${opts.width} must be a positive integer`);
  }
  const { Resvg } = loadResvg();
  let png: Buffer;
  try {
    const r = new Resvg(svg, {
      fitTo: opts.width === undefined ? { mode: "original" } : { mode: "width", value: opts.width },
      ...(opts.background === undefined ? {} : { background: opts.background }),
      font: { loadSystemFonts: true },
      logLevel: "off",
    });
    png = r.render().asPng();
  } catch (e) {
    throw new Error(`svgToPng: resvg could not render the SVG: ${(e as Error).message}`, { cause: e });
  }
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}
