import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import {
  boardCmdline,
  boardDeviceOpts,
  boardFromDt,
  EXYNOS4210_BOARD,
  parseFdt,
  validateBoard,
  writeFdt,
} from "@umm/soc";

// The embedded default board is plain data, checked as a whole before anything is built.
validateBoard(EXYNOS4210_BOARD);
const mfc = EXYNOS4210_BOARD.devices.find((d) => d.name === "mfc")!;
assert.deepEqual(mfc.iommus, ["MFC_L", "MFC_R"]); // the codec's two System MMUs
assert.deepEqual(mfc.memoryRegions, ["mfc-left@4a000000", "mfc-right@6a000000"]);
assert.equal(boardDeviceOpts(mfc).dmaMask, 0xffffffff); // kernel-core Device options
assert.match(
  boardCmdline(EXYNOS4210_BOARD),
  /cma=mfc_fw=4M@0x4d000000;.* cma\.map=mfc\/f=mfc_fw;.*;\*=common pmm=32M/,
);

// The same machine from its device tree: the .dtb that dtc made of fixtures/exynos4210.dts.
const dtb = new Uint8Array(readFileSync(new URL("../fixtures/exynos4210.dtb", import.meta.url)));
const tree = parseFdt(dtb);
const node = tree.node("mfc")!; // an alias
assert.equal(node.path, "/soc/mfc@13400000");
assert.deepEqual(node.reg(), [{ base: 0x13400000, size: 0x10000 }]);
assert.deepEqual(
  tree.phandleList(node, "iommus", "#iommu-cells").map((r) => r.node.path),
  ["/soc/sysmmu@13620000", "/soc/sysmmu@13630000"],
);
const fromDt = boardFromDt(dtb, { name: "exynos4210", ump: EXYNOS4210_BOARD.ump });
assert.deepEqual(fromDt.devices.find((d) => d.name === "mfc")!.iommus, mfc.iommus);
assert.deepEqual(fromDt.reservedMemory, EXYNOS4210_BOARD.reservedMemory);

// A broken tree fails naming the node and the property (trees can be written without dtc).
const broken = writeFdt({
  name: "",
  props: { "#address-cells": [1], "#size-cells": [1] },
  children: [
    { name: "memory@40000000", props: { device_type: "memory", reg: [0x40000000, 0x10000000] } },
    { name: "mfc@13400000", props: { compatible: "samsung,mfc-v5", iommus: [0x17] } },
  ],
});
assert.throws(
  () => boardFromDt(broken, { name: "broken" }),
  /EINVAL: \/mfc@13400000: property "iommus" references phandle 0x17, which no node has/,
);
