/**
 * A minimal V4L2 capture driver on one of the machine's SysMMU masters, for the fuzzers and the
 * catalogue: a videobuf2 queue (dma-contig memory: MMAP through the DMA API, DMABUF imports)
 * whose "hardware" fills the oldest queued buffer by DMA through the master's port when told
 * to (`captureFrame`), so that tests decide exactly when frames land.
 *
 * @module
 */
import { type Device, DMA_BIT_MASK } from "@umm/kernel-core";
import type { DmaPort } from "@umm/mm-core";
import type { Machine } from "@umm/soc";
import {
  V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_CAPTURE,
  V4L2_PIX_FMT_GREY,
  VB2_DMABUF,
  VB2_MMAP,
  type Vb2Buffer,
  Vb2BufferState,
  type Vb2Queue,
  type VideoDevice,
  v4l2DeviceRegister,
  v4l2DeviceUnregister,
  v4l2FormatPlaneSizes,
  vb2BufferDone,
  vb2DmaContigMemops,
  vb2DmaContigPlaneDmaAddr,
  vb2DmaContigSetMaxSegSize,
  vb2PlaneSize,
  vb2QueueInit,
  vb2SetPlanePayload,
} from "@umm/v4l2-videobuf";

/** The capture device: its node, queue, master and DMA port, and the buffers the hardware owns. */
export interface FuzzCapture {
  readonly vdev: VideoDevice;
  readonly queue: Vb2Queue;
  readonly dev: Device;
  readonly port: DmaPort;
  /** buffers queued to the hardware, oldest first */
  readonly active: Vb2Buffer[];
  /** frames captured */
  frames: number;
}

/** Frame size of the capture device: a 64×32 GREY image, half a page. */
export const CAPTURE_WIDTH = 64;
export const CAPTURE_HEIGHT = 32;

/** Registers the capture device on master `devName` of `machine`. */
export function captureInit(machine: Machine, devName: string): FuzzCapture {
  const kernel = machine.kernel;
  const dev = machine.devices.get(devName)!;
  // as every vb2-dma-contig driver behind an IOMMU does: one IOVA range per imported buffer,
  // however many physical chunks it has (the ARM IOMMU code maps each max-seg-size chunk apart)
  vb2DmaContigSetMaxSegSize(dev, DMA_BIT_MASK(32));
  const active: Vb2Buffer[] = [];
  const queue = vb2QueueInit(kernel, {
    type: V4L2_BUF_TYPE_VIDEO_CAPTURE,
    ioModes: VB2_MMAP | VB2_DMABUF,
    memOps: vb2DmaContigMemops,
    dev,
    timestampFlags: V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
    ops: {
      queueSetup: (q, setup) => {
        setup.numPlanes = 1;
        setup.sizes[0] = v4l2FormatPlaneSizes(vdev.formats.get(q.type))[0]!;
      },
      bufQueue: (vb) => {
        active.push(vb);
      },
      stopStreaming: () => {
        for (const vb of active.splice(0)) vb2BufferDone(vb, Vb2BufferState.ERROR);
      },
    },
  });
  const vdev = v4l2DeviceRegister(kernel, {
    name: `fuzz-${devName}`,
    deviceCaps: V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING,
    queue,
    formats: {
      capture: {
        pixelformats: [V4L2_PIX_FMT_GREY],
        defaultWidth: CAPTURE_WIDTH,
        defaultHeight: CAPTURE_HEIGHT,
      },
    },
  });
  return { vdev, queue, dev, port: machine.dmaPort(devName), active, frames: 0 };
}

/**
 * The hardware writes one frame (`bytes`, repeated to the plane's size) into the oldest buffer
 * it owns and completes it. Returns that buffer, or null when none is queued.
 */
export function captureFrame(cap: FuzzCapture, bytes: Uint8Array): Vb2Buffer | null {
  const vb = cap.active.shift();
  if (!vb) return null;
  const size = vb2PlaneSize(vb, 0);
  const frame = new Uint8Array(size);
  for (let i = 0; i < size; i += bytes.length)
    frame.set(bytes.subarray(0, Math.min(bytes.length, size - i)), i);
  cap.port.write(vb2DmaContigPlaneDmaAddr(vb, 0), frame);
  vb2SetPlanePayload(vb, 0, size);
  vb.sequence = cap.frames++;
  vb.timestamp = cap.vdev.kernel.clock.now();
  vb2BufferDone(vb, Vb2BufferState.DONE);
  return vb;
}

/** Unregisters the device (its queue is released with it). */
export function captureExit(cap: FuzzCapture): void {
  v4l2DeviceUnregister(cap.vdev);
}
