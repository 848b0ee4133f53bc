/**
 * What a user program does with its own memory: loads and stores through its address space.
 *
 * When the kernel has a CPU (arch-arm's `cpuInit`), accesses go through it: cacheable mappings
 * hit the data cache, with everything that implies for devices that read memory behind it.
 * Without one, bytes move straight to and from simulated DRAM. Either way the whole range is
 * translated before a byte moves, so an access that faults (EFAULT: unmapped, or not permitted
 * by the mapping's protection) changes nothing.
 *
 * @module
 */
import { type Cpu, cpuOf } from "@umm/arch-arm";
import { hex, KernelBug, KernelError } from "@umm/kernel-core";
import { type AddressSpace, RunList } from "@umm/mm-core";

const runs = new RunList();

/**
 * The kernel's CPU, or null. `cpuInit` plugs the CPU's cache ops into mm, so a kernel whose mm
 * has none has no CPU and needs no lookup; `cpuOf` is asked only otherwise (its `KernelBug`
 * means cache ops came from something else).
 */
function cpuFor(space: AddressSpace): Cpu | null {
  const mm = space.mm;
  if (!mm.hooks.cache) return null;
  try {
    return cpuOf(mm.kernel);
  } catch (e) {
    if (e instanceof KernelBug) return null;
    throw e;
  }
}

function checkAccess(what: string, uaddr: number, len: number): void {
  if (!Number.isSafeInteger(uaddr) || uaddr < 0) {
    throw new KernelError("EFAULT", `${what}: address ${String(uaddr)} is not a user address`);
  }
  if (!Number.isSafeInteger(len) || len < 0) {
    throw new KernelError("EINVAL", `${what}: length ${len} is not a byte count`);
  }
}

/** Stores `src` at `uaddr` of `space`. EFAULT when any byte is unmapped or not writable. */
export function userWrite(space: AddressSpace, uaddr: number, src: Uint8Array): void {
  checkAccess("memWrite", uaddr, src.length);
  if (src.length === 0) return;
  const cpu = cpuFor(space);
  if (cpu) {
    cpu.write(space, uaddr, src);
    return;
  }
  const phys = space.mm.phys;
  space.translateRange(uaddr, src.length, true, runs);
  let off = 0;
  for (let i = 0; i < runs.count; i++) {
    const n = runs.len[i]!;
    phys.write(runs.paddr[i]!, src, off, n);
    off += n;
  }
}

/** Loads `len` bytes from `uaddr` of `space`. EFAULT when any byte is unmapped or not readable. */
export function userRead(space: AddressSpace, uaddr: number, len: number): Uint8Array {
  checkAccess("memRead", uaddr, len);
  const dst = new Uint8Array(len);
  if (len === 0) return dst;
  const cpu = cpuFor(space);
  if (cpu) {
    cpu.read(space, uaddr, dst);
    return dst;
  }
  const phys = space.mm.phys;
  space.translateRange(uaddr, len, false, runs);
  let off = 0;
  for (let i = 0; i < runs.count; i++) {
    const n = runs.len[i]!;
    phys.read(runs.paddr[i]!, dst, off, n);
    off += n;
  }
  return dst;
}

/** Sets `len` bytes at `uaddr` of `space` to `value`. EFAULT as `userWrite`. */
export function userFill(space: AddressSpace, uaddr: number, value: number, len: number): void {
  checkAccess("memFill", uaddr, len);
  if (!Number.isInteger(value) || value < 0 || value > 0xff) {
    throw new KernelError("EINVAL", `memFill: value ${hex(value)} is not a byte`);
  }
  if (len === 0) return;
  const cpu = cpuFor(space);
  if (cpu) {
    cpu.fill(space, uaddr, value, len);
    return;
  }
  const phys = space.mm.phys;
  space.translateRange(uaddr, len, true, runs);
  for (let i = 0; i < runs.count; i++) phys.fill(runs.paddr[i]!, value, runs.len[i]!);
}
