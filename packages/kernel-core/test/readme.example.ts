import { strict as assert } from "node:assert";
import { ERRNO, hex, isKernelError, KernelError, lookupErrno, strerror } from "@umm/kernel-core";

function checkAligned(iova: number, size: number): void {
  if (iova % 4096 !== 0) throw new KernelError("EINVAL", `iova ${hex(iova)} is not aligned to 4 KiB`);
  if (size === 0) throw new KernelError("EINVAL", "size 0: nothing to map");
}

try {
  checkAligned(0x1001, 4096);
} catch (e) {
  assert.ok(isKernelError(e, "EINVAL"));
  assert.equal(e.message, "EINVAL: iova 0x1001 is not aligned to 4 KiB");
  assert.equal(e.code, ERRNO.EINVAL); // 22, the Linux number
}
assert.equal(lookupErrno("EWOULDBLOCK"), "EAGAIN");
assert.equal(strerror("ENOMEM"), "Cannot allocate memory");
