// Probe: each driver reads its device's properties and the board's wiring, with clear errors.
import { DRM_IOCTL_MODE_CREATE_DUMB } from "@umm/drm-gem";
import { DMA_BIT_MASK, driverRegister, driverUnregister, SZ_64K, TraceRecorder } from "@umm/kernel-core";
import { kerr } from "@umm/kernel-core/testing";
import { O_RDWR } from "@umm/kernel-process";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
  V4L2_MEMORY_MMAP,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  v4l2QbufMmap,
  v4l2Reqbufs,
} from "@umm/v4l2-videobuf";
import { afterEach, describe, expect, it } from "vitest";
import {
  FIMC_DRIVER,
  FIMD_DRIVER,
  fimcOf,
  fimdOf,
  MFC_DRIVER,
  mfcOf,
  S5P_MEDIA_DRIVERS,
  sensorOf,
  TEST_PATTERN_SENSOR_DRIVER,
} from "../src/index.js";
import { bootMedia, expectAllReturned, expectNoHazards } from "./helpers.js";

const CAP = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
const OUT = V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;

afterEach(expectNoHazards);

function failures(rec: TraceRecorder): string[] {
  return rec.of("device_probe_failed").map((e) => `${e.data.device}:${e.data.errno}`);
}

describe("drivers", () => {
  it("S5P_MEDIA_DRIVERS: sensor, FIMC, MFC, FIMD, binding the board's compatibles", () => {
    expect(S5P_MEDIA_DRIVERS).toEqual([TEST_PATTERN_SENSOR_DRIVER, FIMC_DRIVER, MFC_DRIVER, FIMD_DRIVER]);
    expect(S5P_MEDIA_DRIVERS.map((d) => d.compatible![0])).toEqual([
      "umm,test-pattern-sensor",
      "samsung,exynos4210-fimc",
      "samsung,mfc-v5",
      "samsung,exynos4210-fimd",
    ]);
    const r = bootMedia();
    expect(sensorOf(r.dev("sensor0"))).not.toBeNull();
    expect([fimcOf(r.dev("fimc0"))!.role, fimcOf(r.dev("fimc1"))!.role]).toEqual(["capture", "m2m"]);
    expect(mfcOf(r.dev("mfc"))!.hw.running).toBe(true);
    expect(fimdOf(r.dev("fimd0"))).not.toBeNull();
    expect(r.platform.probed.map((d) => d.name).filter((n) => !n.endsWith("sysmmu"))).toEqual([
      "sensor0",
      "fimc0",
      "fimc1",
      "mfc",
      "fimd0",
    ]);
  });

  it("every master gets a 32-bit mask and, behind its SysMMU, 4 GiB - 1 segments; a direct one keeps 64 KiB", () => {
    const r = bootMedia({ devices: ["fimc1", "fimd0", "mfc"], direct: ["fimd0"] });
    for (const n of ["fimc1", "fimd0", "mfc"]) {
      expect(r.dev(n).dmaMask).toBe(DMA_BIT_MASK(32));
      expect(r.dev(n).coherentDmaMask).toBe(DMA_BIT_MASK(32));
    }
    expect(r.dev("fimc1").dmaParms.maxSegmentSize).toBe(DMA_BIT_MASK(32));
    expect(r.dev("mfc").dmaParms.maxSegmentSize).toBe(DMA_BIT_MASK(32));
    expect(r.dev("fimd0").dmaParms.maxSegmentSize).toBe(SZ_64K);
  });

  it("the V4L2 drivers (FIMC, MFC) take 4 GiB - 1 segments without an IOMMU too; the DRM display does not", () => {
    const r = bootMedia({ devices: ["fimc1", "fimd0", "mfc"], direct: ["fimc1", "fimd0", "mfc"] });
    expect(r.dev("fimc1").dmaParms.maxSegmentSize).toBe(DMA_BIT_MASK(32));
    expect(r.dev("mfc").dmaParms.maxSegmentSize).toBe(DMA_BIT_MASK(32));
    expect(r.dev("fimd0").dmaParms.maxSegmentSize).toBe(SZ_64K);
  });

  it("FIMC: umm,sensor must name a device (EINVAL / ENODEV); an unbound sensor defers the probe until it binds", () => {
    const bad = bootMedia({
      devices: ["sensor0", "fimc0"],
      properties: { fimc0: { "umm,sensor": 7 } },
      drivers: [],
    });
    const rec = new TraceRecorder(bad.kernel.trace, { events: ["device_probe_failed"] });
    driverRegister(bad.platform, TEST_PATTERN_SENSOR_DRIVER);
    expect(() => FIMC_DRIVER.probe(bad.dev("fimc0"))).toThrow(kerr("EINVAL", /"umm,sensor" is 7/));
    driverRegister(bad.platform, FIMC_DRIVER);
    expect(failures(rec)).toEqual(["fimc0:EINVAL"]);
    expect(fimcOf(bad.dev("fimc0"))).toBeNull();

    const missing = bootMedia({ devices: ["fimc0"], drivers: [] });
    expect(() => FIMC_DRIVER.probe(missing.dev("fimc0"))).toThrow(
      kerr("ENODEV", /names "sensor0", which is not a device/),
    );

    const late = bootMedia({ devices: ["sensor0", "fimc0"], drivers: [] });
    driverRegister(late.platform, FIMC_DRIVER);
    expect(late.platform.deferred.map((d) => d.name)).toEqual(["fimc0"]);
    driverRegister(late.platform, TEST_PATTERN_SENSOR_DRIVER);
    expect(late.platform.deferred).toEqual([]);
    expect(fimcOf(late.dev("fimc0"))!.role).toBe("capture");
  });

  it("a master whose board wired no DMA port does not probe (ENODEV)", () => {
    const r = bootMedia({
      devices: ["fimc1", "fimd0", "mfc"],
      noPorts: ["fimc1", "fimd0", "mfc"],
      drivers: [],
    });
    for (const [drv, n] of [
      [FIMC_DRIVER, "fimc1"],
      [FIMD_DRIVER, "fimd0"],
      [MFC_DRIVER, "mfc"],
    ] as const) {
      expect(() => drv.probe(r.dev(n))).toThrow(
        kerr("ENODEV", /has no dma port 0 \(the board wires ports\)/),
      );
    }
  });

  it("sensor: umm,max-width/height and umm,frame-rate are checked; the rate sets the frame interval", () => {
    const r = bootMedia({
      devices: ["sensor0"],
      sensor: { "umm,frame-rate": 60, "umm,max-width": 640, "umm,max-height": [480] },
    });
    const s = sensorOf(r.dev("sensor0"))!;
    expect([s.maxWidth, s.maxHeight, s.frameIntervalNs]).toEqual([640, 480, 1e9 / 60]);
    expect(() => s.streamOn(1280, 720, () => {})).toThrow(kerr("EINVAL", /larger than the sensor's 640x480/));
    for (const [k, v, re] of [
      ["umm,frame-rate", 0, /"umm,frame-rate" is 0/],
      ["umm,max-width", "wide", /"umm,max-width" is "wide"/],
      ["umm,max-height", 241, /must be even/],
    ] as const) {
      const b = bootMedia({ devices: ["sensor0"], sensor: { [k]: v }, drivers: [] });
      expect(() => TEST_PATTERN_SENSOR_DRIVER.probe(b.dev("sensor0"))).toThrow(kerr("EINVAL", re));
    }
  });

  it("MFC: memory-region is a list of region names; without a map rule a kind comes from them", async () => {
    const bad = bootMedia({ devices: ["mfc"], properties: { mfc: { "memory-region": [7] } }, drivers: [] });
    expect(() => MFC_DRIVER.probe(bad.dev("mfc"))).toThrow(kerr("EINVAL", /"memory-region" is \[7\]/));
    const unknown = bootMedia({
      devices: ["mfc"],
      cmaMap: "fimc*=mfc_b1",
      properties: { mfc: { "memory-region": ["mfc-left@4a000000"] } },
      drivers: [],
    });
    expect(() => MFC_DRIVER.probe(unknown.dev("mfc"))).toThrow(
      kerr(
        "EINVAL",
        /kind "f" needs memory-region "mfc-left@4a000000", which is not a registered CMA region/,
      ),
    );
    const none = bootMedia({ devices: ["mfc"], cmaMap: "fimc*=mfc_b1", drivers: [] });
    expect(() => MFC_DRIVER.probe(none.dev("mfc"))).toThrow(kerr("ENODEV", /no memory of kind "f"/));
    const fallback = bootMedia({
      devices: ["mfc"],
      cmaMap: "fimc*=mfc_b1",
      properties: { mfc: { "memory-region": ["mfc_b1", "mfc_b2"] } },
    });
    const mfc = mfcOf(fallback.dev("mfc"))!;
    expect(mfc.sources).toEqual({ f: "mfc_b1", a: "mfc_b1", b: "mfc_b2" });
    expect(mfc.hw.running).toBe(true);
    await fallback.teardown();
    expectAllReturned(fallback);
  });

  it("unbinding every driver while files are open and streaming, then closing them, returns every page", async () => {
    const r = bootMedia();
    const app = r.spawn("app");
    const cam = app.open(fimcOf(r.dev("fimc0"))!.path, O_RDWR);
    v4l2Reqbufs(app, cam, CAP, V4L2_MEMORY_MMAP, 2);
    v4l2QbufMmap(app, cam, CAP, 0, 2);
    app.ioctl(cam, VIDIOC_STREAMON, CAP);
    const sc = app.open(fimcOf(r.dev("fimc1"))!.path, O_RDWR);
    v4l2Reqbufs(app, sc, OUT, V4L2_MEMORY_MMAP, 1);
    app.open(mfcOf(r.dev("mfc"))!.decoder!.vdev.path, O_RDWR); // an instance: its context buffer in bank A
    const card = app.open(fimdOf(r.dev("fimd0"))!.drm.path, O_RDWR);
    app.ioctl(card, DRM_IOCTL_MODE_CREATE_DUMB, {
      width: 64,
      height: 64,
      bpp: 32,
      handle: 0,
      pitch: 0,
      size: 0,
    });
    await r.kernel.clock.runFor(100_000_000);
    expect(fimcOf(r.dev("fimc0"))!.hw.capturedFrames).toBeGreaterThan(0);
    for (const d of [...S5P_MEDIA_DRIVERS].reverse()) driverUnregister(r.platform, d);
    expect(() => app.ioctl(cam, VIDIOC_STREAMOFF, CAP)).toThrow(kerr("ENODEV"));
    app.exit(0);
    await r.kernel.clock.runUntilIdle();
    await r.teardown();
    expectAllReturned(r);
  });
});
