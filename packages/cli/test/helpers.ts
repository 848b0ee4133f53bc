// Test helpers: a strict little XML parser (well-formedness and element lookup) and a PNG decoder
// (all five filters, colour types 2 and 6, 8-bit) that checks every chunk's CRC with node:zlib's
// own crc32, independent of the encoder under test.
import { inflateSync, crc32 as zlibCrc32 } from "node:zlib";

export interface XmlElement {
  readonly name: string;
  readonly attrs: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeEntities(s: string, where: number): string {
  return s.replace(/&([^;&\s]*);?/g, (m, name: string) => {
    if (!m.endsWith(";")) throw new Error(`xml: bare & near offset ${where}`);
    if (name.startsWith("#x")) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(Number.parseInt(name.slice(1), 10));
    const v = ENTITIES[name];
    if (v === undefined) throw new Error(`xml: unknown entity &${name}; near offset ${where}`);
    return v;
  });
}

/** Parses an XML document strictly (throws on anything malformed); returns the root element. */
export function parseXml(src: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const NAME = /[A-Za-z_:][\w:.-]*/y;
  const readName = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(src);
    if (!m) throw new Error(`xml: expected a name at offset ${i}`);
    i += m[0].length;
    return m[0];
  };
  const skipWs = (): void => {
    while (i < src.length && /\s/.test(src[i]!)) i++;
  };
  while (i < src.length) {
    if (src.startsWith("<?", i)) {
      const e = src.indexOf("?>", i);
      if (e < 0) throw new Error("xml: unterminated processing instruction");
      i = e + 2;
    } else if (src.startsWith("<!--", i)) {
      const e = src.indexOf("-->", i);
      if (e < 0) throw new Error("xml: unterminated comment");
      i = e + 3;
    } else if (src.startsWith("</", i)) {
      i += 2;
      const name = readName();
      skipWs();
      if (src[i] !== ">") throw new Error(`xml: bad end tag at ${i}`);
      i++;
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`xml: </${name}> closes <${open?.name}>`);
    } else if (src[i] === "<") {
      i++;
      const el: XmlElement = { name: readName(), attrs: {}, children: [], text: "" };
      for (;;) {
        const before = i;
        skipWs();
        if (src.startsWith("/>", i) || src[i] === ">") break;
        if (i === before) throw new Error(`xml: attributes need white space at ${i}`);
        const an = readName();
        skipWs();
        if (src[i] !== "=") throw new Error(`xml: attribute ${an} has no value at ${i}`);
        i++;
        skipWs();
        const q = src[i];
        if (q !== '"' && q !== "'") throw new Error(`xml: attribute ${an} is not quoted at ${i}`);
        const e = src.indexOf(q, i + 1);
        if (e < 0) throw new Error(`xml: unterminated attribute ${an}`);
        const raw = src.slice(i + 1, e);
        if (raw.includes("<")) throw new Error(`xml: < in attribute ${an}`);
        if (an in el.attrs) throw new Error(`xml: attribute ${an} repeated on <${el.name}>`);
        el.attrs[an] = decodeEntities(raw, i);
        i = e + 1;
      }
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(el);
      else if (root) throw new Error("xml: more than one root element");
      else root = el;
      if (src.startsWith("/>", i)) i += 2;
      else {
        i++;
        stack.push(el);
      }
    } else {
      const e = src.indexOf("<", i);
      const text = src.slice(i, e < 0 ? src.length : e);
      const top = stack[stack.length - 1];
      if (!top) {
        if (text.trim() !== "") throw new Error(`xml: text outside the root at ${i}`);
      } else top.text += decodeEntities(text, i);
      if (text.includes(">") && text.includes("]]>")) throw new Error("xml: ]]> in text");
      i = e < 0 ? src.length : e;
    }
  }
  if (stack.length > 0) throw new Error(`xml: <${stack[stack.length - 1]!.name}> is never closed`);
  if (!root) throw new Error("xml: no root element");
  return root;
}

/** Every element below (and including) `el`, depth first. */
export function allElements(el: XmlElement): XmlElement[] {
  return [el, ...el.children.flatMap(allElements)];
}

/** Elements named `name` whose class list contains `cls`. */
export function byClass(root: XmlElement, name: string, cls: string): XmlElement[] {
  return allElements(root).filter((e) => e.name === name && (e.attrs.class ?? "").split(/\s+/).includes(cls));
}

export interface DecodedPng {
  readonly width: number;
  readonly height: number;
  readonly colorType: number;
  readonly chunks: string[];
  /** RGBA, 4 bytes a pixel */
  readonly rgba: Uint8Array;
}

/** Decodes an 8-bit RGB/RGBA non-interlaced PNG, checking the signature and every CRC. */
export function decodePng(png: Uint8Array): DecodedPng {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  sig.forEach((b, k) => {
    if (png[k] !== b) throw new Error("png: bad signature");
  });
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let off = 8;
  const chunks: string[] = [];
  const idat: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  let colorType = -1;
  while (off < png.length) {
    const len = view.getUint32(off);
    const type = String.fromCharCode(...png.subarray(off + 4, off + 8));
    const data = png.subarray(off + 8, off + 8 + len);
    const crc = view.getUint32(off + 8 + len);
    if (zlibCrc32(png.subarray(off + 4, off + 8 + len)) !== crc) throw new Error(`png: bad CRC in ${type}`);
    chunks.push(type);
    if (type === "IHDR") {
      const d = new DataView(data.buffer, data.byteOffset, data.byteLength);
      width = d.getUint32(0);
      height = d.getUint32(4);
      if (data[8] !== 8) throw new Error(`png: bit depth ${data[8]}`);
      colorType = data[9]!;
      if (data[12] !== 0) throw new Error("png: interlaced");
    } else if (type === "IDAT") idat.push(data);
    off += 12 + len;
    if (type === "IEND") break;
  }
  if (off !== png.length) throw new Error("png: bytes after IEND");
  const bpp = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  if (bpp === 0) throw new Error(`png: colour type ${colorType} not handled`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  if (raw.length !== (stride + 1) * height) throw new Error(`png: ${raw.length} bytes of image data`);
  const px = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x]!;
      const a = x >= bpp ? px[y * stride + x - bpp]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + x]! : 0;
      const c = x >= bpp && y > 0 ? px[(y - 1) * stride + x - bpp]! : 0;
      let p: number;
      if (f === 0) p = 0;
      else if (f === 1) p = a;
      else if (f === 2) p = b;
      else if (f === 3) p = (a + b) >> 1;
      else if (f === 4) {
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else throw new Error(`png: filter ${f}`);
      px[y * stride + x] = (v + p) & 0xff;
    }
  }
  let rgba = px;
  if (bpp === 3) {
    rgba = new Uint8Array(width * height * 4);
    for (let k = 0; k < width * height; k++) {
      rgba.set(px.subarray(k * 3, k * 3 + 3), k * 4);
      rgba[k * 4 + 3] = 255;
    }
  }
  return { width, height, colorType, chunks, rgba };
}

/** The RGBA of pixel (x, y). */
export function pixel(img: DecodedPng, x: number, y: number): [number, number, number, number] {
  const o = (y * img.width + x) * 4;
  return [img.rgba[o]!, img.rgba[o + 1]!, img.rgba[o + 2]!, img.rgba[o + 3]!];
}

/** `#rrggbb` as [r, g, b]. */
export function rgbOf(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}
