/**
 * kernel-process's trace events. The kernel has `task_newtask`/`sched_process_exit`
 * (include/trace/events/task.h, sched.h); the file events are umm's own. Every record also
 * carries the current task (`pid`, `task`) of the system call that caused it.
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /** a process was created */
    proc_spawn: { pid: number; comm: string };
    /** a process replaced its program (`exec`): FD_CLOEXEC fds closed, a fresh address space */
    proc_exec: { pid: number; comm: string };
    /** a process exited with `code`, after releasing everything it held */
    proc_exit: { pid: number; comm: string; code: number };
    /** a new file got fd `fd` in process `pid` (open, socket creation, accept, driver install) */
    file_open: { pid: number; fd: number; path: string };
    /** the last reference to a file went and its `release` ran */
    file_release: { path: string };
    /** fd `fd` of process `pid` was closed (the file may live on) */
    fd_close: { pid: number; fd: number };
    /** `count` files passed with SCM_RIGHTS arrived in `to_pid` (emitted at receive) */
    scm_rights: { from_pid: number; to_pid: number; count: number };
    /** something the kernel only warns about: an error from a release, a leak at shutdown */
    proc_warn: { message: string };
  }
}

export {};
