/**
 * A progress reporter: a redrawn bar on a terminal, plain periodic lines in a log.
 *
 * @module
 */

/** Options of `progress`. */
export interface ProgressOpts {
  /** how many steps make 100% (a non-negative integer) */
  readonly total: number;
  /** true: draw a bar redrawn in place with "\r"; false: print plain lines (CI logs, files) */
  readonly isTTY: boolean;
  /** where output goes (e.g. `(s) => process.stderr.write(s)`) */
  readonly write: (s: string) => void;
  /** what a step is called (default "frame") */
  readonly label?: string;
  /** plain mode: print a line every this many steps (default ceil(total / 10)) */
  readonly every?: number;
  /** bar width in characters on a TTY (default 30) */
  readonly width?: number;
}

/** A running progress report. */
export interface Progress {
  /** steps done so far */
  readonly current: number;
  /** adds `n` steps (default 1) */
  tick(n?: number): void;
  /** sets the steps done */
  update(done: number): void;
  /** ends the report: the final state is shown and a TTY line is closed with a newline */
  done(): void;
}

/**
 * Starts a progress report. On a TTY it draws `frame [=======>      ] 30/120  25%` and redraws it
 * in place when it changes; otherwise it prints plain lines such as `frame 30/120 (25%)` every
 * `every` steps and at the end, with no control characters. Throws an `Error` for a bad total.
 */
export function progress(opts: ProgressOpts): Progress {
  const { total, isTTY, write } = opts;
  if (!Number.isInteger(total) || total < 0)
    throw new Error(`progress: total ${total} must be a non-negative integer`);
  const label = opts.label ?? "frame";
  const every = opts.every ?? Math.max(1, Math.ceil(total / 10));
  if (!Number.isInteger(every) || every < 1)
    throw new Error(`progress: every ${every} must be a positive integer`);
  const barWidth = opts.width ?? 30;
  if (!Number.isInteger(barWidth) || barWidth < 1)
    throw new Error(`progress: width ${barWidth} must be a positive integer`);
  let current = 0;
  let lastDrawn = "";
  let lastPrinted = 0;
  let printedAny = false;
  let finished = false;
  const pct = (n: number): number => (total === 0 ? 100 : Math.floor((Math.min(n, total) / total) * 100));
  const bar = (n: number): string => {
    const filled = total === 0 ? barWidth : Math.floor((Math.min(n, total) / total) * barWidth);
    const body = `${"=".repeat(filled)}${filled < barWidth ? ">" : ""}`.padEnd(barWidth);
    return `${label} [${body}] ${String(n).padStart(String(total).length)}/${total} ${String(pct(n)).padStart(3)}%`;
  };
  const print = (): void => {
    write(`${label} ${current}/${total} (${pct(current)}%)\n`);
    lastPrinted = current;
    printedAny = true;
  };
  const show = (final: boolean): void => {
    if (isTTY) {
      const s = bar(current);
      if (s !== lastDrawn) {
        write(`\r${s}`);
        lastDrawn = s;
      }
      if (final) write("\n");
    } else if (final) {
      if (!printedAny || current !== lastPrinted) print();
    } else if (
      current !== lastPrinted &&
      (Math.floor(current / every) > Math.floor(lastPrinted / every) || current >= total)
    ) {
      print();
    }
  };
  const set = (n: number): void => {
    if (finished) throw new Error("progress: update after done()");
    if (!Number.isInteger(n) || n < 0) throw new Error(`progress: ${n} steps is not a non-negative integer`);
    current = n;
    show(false);
  };
  return {
    get current() {
      return current;
    },
    tick(n = 1) {
      set(current + n);
    },
    update(done: number) {
      set(done);
    },
    done() {
      if (finished) return;
      show(true);
      finished = true;
    },
  };
}
