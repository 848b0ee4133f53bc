import { strict as assert } from "node:assert";
import { createKernel, DMA_BIT_MASK, KernelError, SZ_1M, SZ_4K } from "@umm/kernel-core";
import { cmaInit, cmaRegionRegister } from "@umm/mm-cma";
import { DmaPort, mmInit, type Translator } from "@umm/mm-core";
import {
  type Vcm,
  vcmActivate,
  vcmCmaCreate,
  vcmDestroyBinding,
  vcmMakeBinding,
  vcmMap,
  vcmMmuInit,
  vcmPhysToDv,
  vcmResToPhys,
  vcmUnmap,
  vcmVmm,
} from "@umm/mm-vcm";

// Boot: 64 MiB of DRAM, 16 MiB of it a CMA region for a camera without an IOMMU.
const kernel = createKernel({ seed: 1 });
const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 64 * SZ_1M }] });
cmaInit(kernel);
mm.memblock.reserve(0x43000000, 16 * SZ_1M, "camera");
mm.memblockFreeAll();
const camRegion = cmaRegionRegister(kernel, { name: "camera", start: 0x43000000, size: 16 * SZ_1M });

// A scaler behind a custom MMU: the VCM MMU wrapper calls activatePage per 1M/64K/4K page.
const pte = new Map<number, number>(); // bus page -> physical page
const scaler = vcmMmuInit(kernel, {
  start: 0x1000_0000,
  size: 256 * SZ_1M,
  name: "scaler",
  driver: {
    orders: [8, 4, 0],
    activatePage: (va, pa, order) => {
      for (let i = 0; i < 2 ** order; i++) pte.set(va + i * SZ_4K, pa + i * SZ_4K);
      return 0;
    },
    deactivatePage: (va, _pa, order) => {
      for (let i = 0; i < 2 ** order; i++) pte.delete(va + i * SZ_4K);
      return 0;
    },
  },
});
vcmActivate(scaler); // from now on every binding is on the "hardware" at once
const mmuWalk: Translator = {
  translate(daddr, len, _write, out) {
    for (let va = daddr; va < daddr + len; ) {
      const page = pte.get(va - (va % SZ_4K));
      if (page === undefined) throw new KernelError("EFAULT", `scaler: fault at ${va}`);
      const n = Math.min(daddr + len - va, SZ_4K - (va % SZ_4K));
      out.push(page + (va % SZ_4K), n);
      va += n;
    }
  },
};
const scalerPort = new DmaPort(mm, { id: 1, name: "scaler", dmaMask: DMA_BIT_MASK(32) }, mmuWalk);

// The camera: one-to-one (bus address = physical address), memory from CMA.
const camera = vcmCmaCreate(kernel, camRegion, SZ_1M);
const cameraPort = new DmaPort(mm, { id: 2, name: "camera", dmaMask: DMA_BIT_MASK(32) });

// The same driver code runs on both: allocate + reserve + bind, then DMA to the bus address.
function fill(vcm: Vcm, port: DmaPort, value: number) {
  const res = vcmMakeBinding(vcm, 2 * SZ_1M + 8 * SZ_4K);
  port.fill(res.start, value, res.boundSize);
  return res;
}
const a = fill(scaler, scalerPort, 0xaa);
const b = fill(camera, cameraPort, 0xbb);
assert.deepEqual(
  a.phys?.parts.map((p) => p.size / SZ_4K),
  [256, 256, 1, 1, 1, 1, 1, 1, 1, 1],
); // scattered: two 1 MiB blocks, then eight 4 KiB pages
assert.equal(b.phys?.count, 1); // one contiguous CMA chunk ...
assert.equal(b.start, b.phys?.parts[0]?.start); // ... seen at its physical address

// D.V -> P.A, and the CPU sees the bytes through a kernel mapping (vcm_vmm, K.V).
assert.equal(mm.phys.read8(vcmResToPhys(a, SZ_1M + 5)), 0xaa);
const kv = vcmMap(vcmVmm(kernel), a.phys!);
assert.deepEqual(
  vcmPhysToDv(vcmVmm(kernel), vcmResToPhys(a, 100)).map((h) => h.daddr),
  [kv.start + 100],
);
assert.equal(mm.phys.read8(mm.kspace.translate(kv.start + 2 * SZ_1M)), 0xaa);

vcmUnmap(kv);
vcmDestroyBinding(a); // unbind (unmaps from the MMU), free the pages, release the bus addresses
vcmDestroyBinding(b); // back to CMA
assert.equal(pte.size, 0);
assert.equal(camRegion.free, camRegion.size);
