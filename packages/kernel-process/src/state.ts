/**
 * The per-kernel state of the process layer: the process table, the path namespace (/dev nodes
 * and bound Unix sockets), every live file, and the tracepoints. Created on first use.
 *
 * @module
 */
import { defineSlot, type Kernel, type Tracepoint } from "@umm/kernel-core";
import type { Chrdev } from "./chrdev.js";
import type { File } from "./file.js";
import type { Process } from "./process.js";
import "./trace.js";
import type { UnixSock } from "./unix.js";

/** What a path names: a character device node or a listening Unix socket. */
export type PathEntry =
  | { readonly kind: "chrdev"; readonly cdev: Chrdev }
  | { readonly kind: "unix"; readonly sock: UnixSock };

/** @internal the state of one kernel's process layer */
export interface ProcLayer {
  readonly kernel: Kernel;
  readonly procs: Map<number, Process>;
  nextPid: number;
  readonly paths: Map<string, PathEntry>;
  readonly files: Set<File>;
  nextIno: number;
  /**
   * set by the Unix socket code: `file` lost a reference and every one it has left is in flight;
   * collects in-flight socket cycles nobody can reach any more
   */
  gc: ((file: File) => void) | null;
  readonly tp: {
    readonly spawn: Tracepoint<"proc_spawn">;
    readonly exec: Tracepoint<"proc_exec">;
    readonly exit: Tracepoint<"proc_exit">;
    readonly open: Tracepoint<"file_open">;
    readonly release: Tracepoint<"file_release">;
    readonly close: Tracepoint<"fd_close">;
    readonly scm: Tracepoint<"scm_rights">;
    readonly warn: Tracepoint<"proc_warn">;
  };
}

const PROC = defineSlot<ProcLayer>("proc");

/** Exit code a process gets when the kernel shuts down under it (128 + SIGKILL, as a shell shows). */
export const SHUTDOWN_EXIT_CODE = 137;

/**
 * @internal The process layer of `kernel`, created on first use with its shutdown step: every
 * live process exits, then each file still referenced is reported with a `proc_warn` event.
 */
export function procLayer(kernel: Kernel): ProcLayer {
  const have = kernel.trySlot(PROC);
  if (have) return have;
  const t = kernel.trace;
  const st: ProcLayer = {
    kernel,
    procs: new Map(),
    nextPid: 1,
    paths: new Map(),
    files: new Set(),
    nextIno: 1,
    gc: null,
    tp: {
      spawn: t.tracepoint("proc_spawn"),
      exec: t.tracepoint("proc_exec"),
      exit: t.tracepoint("proc_exit"),
      open: t.tracepoint("file_open"),
      release: t.tracepoint("file_release"),
      close: t.tracepoint("fd_close"),
      scm: t.tracepoint("scm_rights"),
      warn: t.tracepoint("proc_warn"),
    },
  };
  kernel.setSlot(PROC, st);
  kernel.onShutdown("proc", () => procShutdown(st));
  return st;
}

/** @internal emits a `proc_warn` event */
export function procWarn(st: ProcLayer, message: string): void {
  if (st.tp.warn.enabled) st.tp.warn.emit({ message });
}

function procShutdown(st: ProcLayer): void {
  const errors: unknown[] = [];
  for (const p of [...st.procs.values()]) {
    try {
      p.exit(SHUTDOWN_EXIT_CODE);
    } catch (e) {
      errors.push(e);
    }
  }
  for (const f of st.files) {
    procWarn(st, `leak: ${f.path} still has ${f.refcount} reference(s) (${f.inflight} in flight)`);
  }
  if (errors.length > 0) throw errors[0];
}
