/**
 * poll(2) (fs/select.c `do_poll`): ask every file which POLL* bits hold; if none asked for does
 * and the timeout allows, sleep on the wait queues the files registered (`poll_wait`) until one
 * is woken or virtual time runs out, then ask again.
 *
 * @module
 */
import type { Clock, TimerHandle, WaitQueue } from "@umm/kernel-core";
import type { FdTable } from "./fdtable.js";
import type { PollTable } from "./ops.js";
import { DEFAULT_POLLMASK, POLLERR, POLLHUP, POLLNVAL } from "./types.js";

/** One entry of a poll set (`struct pollfd` without `revents`, which `poll` returns). */
export interface PollFd {
  /** the fd to watch; a negative fd is skipped (its revents is 0) */
  readonly fd: number;
  /** the POLL* bits of interest; POLLERR, POLLHUP and POLLNVAL are always reported */
  readonly events: number;
}

/** @internal one pass over the poll set; registers wait queues with `pt` when given */
export function pollScan(table: FdTable, fds: readonly PollFd[], pt: PollTable | null): number[] {
  const out = new Array<number>(fds.length);
  for (let i = 0; i < fds.length; i++) {
    const { fd, events } = fds[i]!;
    if (fd < 0) {
      out[i] = 0;
      continue;
    }
    const file = table.get(fd);
    if (!file) {
      out[i] = POLLNVAL;
      continue;
    }
    const mask = file.ops.poll ? file.ops.poll(file, pt) : DEFAULT_POLLMASK;
    out[i] = mask & (events | POLLERR | POLLHUP);
  }
  return out;
}

/**
 * @internal waits until `scan()` reports something, waking on any of `wqs`, or until `timeout` ns
 * pass (undefined: no limit). Resolves with the last scan.
 */
export function pollWait(
  clock: Clock,
  wqs: ReadonlySet<WaitQueue>,
  scan: () => number[],
  timeout: number | undefined,
): Promise<number[]> {
  return new Promise((resolve) => {
    let done = false;
    let timer: TimerHandle | undefined;
    const finish = (revents: number[]): void => {
      done = true;
      timer?.cancel();
      resolve(revents);
      // our waiters on the other queues leave at their next check; make it now
      queueMicrotask(() => {
        for (const wq of wqs) wq.wakeUp();
      });
    };
    const ready = (): boolean => {
      if (done) return true;
      const r = scan();
      if (!r.some((x) => x !== 0)) return false;
      finish(r);
      return true;
    };
    for (const wq of wqs) void wq.wait(ready);
    if (timeout !== undefined) {
      timer = clock.after(
        timeout,
        () => {
          if (!done) finish(scan());
        },
        "poll-timeout",
      );
    }
  });
}
