// The exporters of this package against the dma-buf contract (describeDmaBufExporter).
import { PAGE_SIZE, SZ_64K } from "@umm/kernel-core";
import {
  F_ADD_SEALS,
  F_SEAL_SHRINK,
  fcntl,
  ftruncate,
  MFD_ALLOW_SEALING,
  memfdCreate,
  O_RDWR,
} from "@umm/kernel-process";
import { dmaBufGet, UDMABUF_CREATE } from "../src/index.js";
import { describeDmaBufExporter } from "../src/testing.js";
import { boot, cmaUsed, directDevice, proc, sysmmuDevice } from "./helpers.js";

const LEN = SZ_64K + 3 * PAGE_SIZE;

for (const which of ["system", "cma"] as const) {
  describeDmaBufExporter(`${which} heap`, () => {
    const r = boot();
    const heap = which === "system" ? r.system : r.cmaHeap;
    return {
      kernel: r.kernel,
      make: () => heap.ops.allocate(heap, LEN, O_RDWR, 0),
      devices: [directDevice(r, "direct0"), sysmmuDevice(r, "mmu0")],
      inUse: () => (which === "system" ? -r.mm.buddy.nrFreePages : cmaUsed(r)),
    };
  });
}

describeDmaBufExporter("udmabuf", () => {
  const r = boot();
  const owner = proc(r, "owner");
  const dev = owner.open("/dev/udmabuf", O_RDWR);
  const pinned = () => r.mm.frames.pincount.reduce((s, n) => s + n, 0);
  return {
    kernel: r.kernel,
    make: () => {
      const mfd = memfdCreate(owner, "conformance", MFD_ALLOW_SEALING);
      ftruncate(owner, mfd, LEN);
      fcntl(owner, mfd, F_ADD_SEALS, F_SEAL_SHRINK);
      const fd = owner.ioctl(dev, UDMABUF_CREATE, { memfd: mfd, flags: 0, offset: 0, size: LEN }) as number;
      const buf = r.kernel.withCurrent(owner, () => dmaBufGet(r.kernel, fd));
      owner.close(fd);
      owner.close(mfd);
      return buf;
    },
    devices: [directDevice(r, "direct0"), sysmmuDevice(r, "mmu0")],
    inUse: pinned,
  };
});
