// The tests' user space makes the V4L2 calls of @umm/v4l2-videobuf (v4l2SFmt, v4l2QbufMmap, ...);
// what is the tests' own is running virtual time while a blocking DQBUF waits.
import type { Kernel } from "@umm/kernel-core";
import type { Process } from "@umm/kernel-process";
import { type V4l2Buffer, v4l2Dqbuf } from "@umm/v4l2-videobuf";

/** `v4l2Dqbuf` on a blocking file, with the test running `k`'s virtual clock until it settles. */
export function runDqbuf(
  k: Kernel,
  p: Process,
  fd: number,
  type: number,
  memory: number,
  planes = 1,
): Promise<V4l2Buffer> {
  return k.clock.runUntil(v4l2Dqbuf(p, fd, type, memory, planes));
}
