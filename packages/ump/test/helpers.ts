import { type Kernel, PAGE_SIZE, type TraceEventName, type TraceRecord } from "@umm/kernel-core";
import { O_RDWR, type Process, spawn } from "@umm/kernel-process";
import { MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "@umm/mm-core";
import {
  UMP_IOC_ALLOCATE,
  UMP_IOC_QUERY_API_VERSION,
  UMP_IOC_RELEASE,
  UMP_IOCTL_API_VERSION,
  type UmpUkAllocate,
} from "../src/index.js";

/** A process with /dev/ump open and the API agreed (what libump's open does), by hand. */
export function rawClient(kernel: Kernel, comm: string, uid = 1000): { proc: Process; fd: number } {
  const proc = spawn(kernel, { comm, uid });
  const fd = proc.open("/dev/ump", O_RDWR);
  proc.ioctl(fd, UMP_IOC_QUERY_API_VERSION, { version: UMP_IOCTL_API_VERSION, compatible: 0 });
  return { proc, fd };
}

/** UMP_IOC_ALLOCATE by hand: the session's reference, secure ID and size. */
export function rawAlloc(proc: Process, fd: number, size: number, constraints = 0): UmpUkAllocate {
  const a = { secure_id: 0, size, constraints };
  proc.ioctl(fd, UMP_IOC_ALLOCATE, a);
  return a;
}

/** mmap of a secure ID (`pgoff = secure_id`). */
export function rawMap(proc: Process, fd: number, id: number, size: number, priv = false): number {
  return proc.mmap({
    fd,
    length: size,
    prot: PROT_READ | PROT_WRITE,
    flags: priv ? MAP_PRIVATE : MAP_SHARED,
    offset: id * PAGE_SIZE,
  });
}

/** UMP_IOC_RELEASE by hand. */
export function rawRelease(proc: Process, fd: number, id: number): void {
  proc.ioctl(fd, UMP_IOC_RELEASE, { secure_id: id });
}

/** Records events of the given names while `fn` runs. */
export function recording<T, K extends TraceEventName>(
  kernel: Kernel,
  names: K[],
  fn: () => T,
): { result: T; events: TraceRecord<K>[] } {
  const events: TraceRecord<K>[] = [];
  const off = kernel.trace.on(names, (r) => events.push(r));
  try {
    return { result: fn(), events };
  } finally {
    off();
  }
}

/** The `op` of every `cpu_cache_maint` among `events`. */
export function maintOps(events: readonly TraceRecord[]): string[] {
  return events
    .filter((e): e is TraceRecord<"cpu_cache_maint"> => e.name === "cpu_cache_maint")
    .map((e) => e.data.op);
}

/** Text helpers. */
export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
