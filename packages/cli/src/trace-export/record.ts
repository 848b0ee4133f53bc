/**
 * The record shape the exporters and report builders read: kernel-core's `TraceRecord`, with the
 * event name and payload left open so that events of packages this one does not import (mm-cma,
 * iommu-core, ...) type-check too.
 *
 * @module
 */

/**
 * A trace record as `TraceRecorder.records()` returns it (a `TraceRecord[]` is accepted as is).
 * `data` is the event's payload: plain numbers, strings, booleans or arrays of them.
 */
export interface TraceRecordLike {
  /** order of emission */
  readonly seq: number;
  /** virtual time in ns */
  readonly ts: number;
  /** the event name (`cma_alloc_finish`, `dma_xfer`, ...) */
  readonly name: string;
  /** the task current at emission */
  readonly pid: number;
  readonly task: string;
  readonly cpu: number;
  readonly data: object;
}

/** The payload of `r` as a string-keyed record. */
export function fieldsOf(r: TraceRecordLike): Readonly<Record<string, unknown>> {
  return r.data as Readonly<Record<string, unknown>>;
}

/** The number field `key` of `r`, or an `Error` naming the record when it is missing. */
export function numField(r: TraceRecordLike, key: string): number {
  const v = fieldsOf(r)[key];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`trace record #${r.seq} (${r.name}): field ${key} is ${JSON.stringify(v)}, not a number`);
  }
  return v;
}

/** The string field `key` of `r`, or an `Error` naming the record when it is missing. */
export function strField(r: TraceRecordLike, key: string): string {
  const v = fieldsOf(r)[key];
  if (typeof v !== "string") {
    throw new Error(`trace record #${r.seq} (${r.name}): field ${key} is ${JSON.stringify(v)}, not a string`);
  }
  return v;
}
