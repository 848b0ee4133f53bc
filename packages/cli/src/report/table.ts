/**
 * Summary tables: aligned plain text for the terminal (bold headers only when asked, i.e. on a
 * TTY) and the same rows as JSON with stable field names.
 *
 * @module
 */

/** A cell: printed as is (null as "-"). */
export type SummaryValue = string | number | boolean | null;

/** One row: column key → value. */
export type SummaryRow = Readonly<Record<string, SummaryValue>>;

/** A column of a summary table. */
export interface SummaryColumn {
  /** the field name (the JSON key) */
  readonly key: string;
  /** the text header (default the key) */
  readonly title?: string;
  /** default: right for a column whose values are all numbers, else left */
  readonly align?: "left" | "right";
  /** how the text table prints a value (JSON keeps the raw value) */
  readonly format?: (v: SummaryValue) => string;
}

/** Options of `summaryTable`. */
export interface SummaryTableOpts {
  /** true: return the JSON twin instead of text */
  readonly json?: boolean;
  /** the columns, in order (default: every key of the rows in order of first appearance) */
  readonly columns?: readonly (string | SummaryColumn)[];
  /** bold header (ANSI); pass the stream's isTTY, never true for a log or a file (default false) */
  readonly color?: boolean;
}

/** The columns of `rows`: `columns` normalised, or the rows' keys in order of appearance. */
export function summaryColumns(
  rows: readonly SummaryRow[],
  columns?: readonly (string | SummaryColumn)[],
): SummaryColumn[] {
  if (columns) {
    const cols = columns.map((c) => (typeof c === "string" ? { key: c } : c));
    const seen = new Set<string>();
    for (const c of cols) {
      if (seen.has(c.key)) throw new Error(`summaryTable: column ${c.key} is listed twice`);
      seen.add(c.key);
    }
    return cols;
  }
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const r of rows)
    for (const k of Object.keys(r)) {
      if (!seen.has(k)) {
        seen.add(k);
        keys.push(k);
      }
    }
  return keys.map((key) => ({ key }));
}

/** The text of one cell. */
export function summaryCell(col: SummaryColumn, v: SummaryValue | undefined): string {
  if (col.format) return col.format(v ?? null);
  if (v === null || v === undefined) return "-";
  return String(v);
}

/** Whether `col` is right-aligned in `rows`. */
export function summaryAlignRight(col: SummaryColumn, rows: readonly SummaryRow[]): boolean {
  if (col.align) return col.align === "right";
  let any = false;
  for (const r of rows) {
    const v = r[col.key];
    if (v === null || v === undefined) continue;
    if (typeof v !== "number") return false;
    any = true;
  }
  return any;
}

/**
 * Formats `rows` as a table: a header, a dashed rule, one line a row, columns two spaces apart,
 * numbers right-aligned, no trailing spaces, a final newline; plain text unless `color`. With
 * `json` it returns the JSON twin instead: an array of objects with exactly the columns' keys in
 * column order (missing values null), pretty-printed, with a final newline.
 */
export function summaryTable(rows: readonly SummaryRow[], opts: SummaryTableOpts = {}): string {
  const cols = summaryColumns(rows, opts.columns);
  if (opts.json) {
    const out = rows.map((r) => {
      const o: Record<string, SummaryValue> = {};
      for (const c of cols) o[c.key] = r[c.key] ?? null;
      return o;
    });
    return `${JSON.stringify(out, null, 2)}\n`;
  }
  const heads = cols.map((c) => c.title ?? c.key);
  const cells = rows.map((r) => cols.map((c) => summaryCell(c, r[c.key])));
  const widths = cols.map((_, i) => Math.max(heads[i]!.length, ...cells.map((row) => row[i]!.length)));
  const right = cols.map((c) => summaryAlignRight(c, rows));
  const line = (vals: readonly string[]): string =>
    vals
      .map((v, i) => (right[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  let head = line(heads);
  if (opts.color) head = `\x1b[1m${head}\x1b[22m`;
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return `${[head, rule, ...cells.map(line)].join("\n")}\n`;
}
