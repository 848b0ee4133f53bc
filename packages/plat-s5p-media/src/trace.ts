/**
 * The media blocks' trace events. Mainline has no tracepoints in exynos4-is, s5p-mfc or
 * exynos_drm_fimd; these are umm's own, one per unit of hardware work, named after the block.
 * DMA transfers themselves are mm-core's `dma_xfer` events.
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /** the FIMC camera path wrote frame `seq` (`bytes` over all planes) to the buffer at `daddr` */
    fimc_capture_frame: { device: string; seq: number; daddr: number; bytes: number };
    /** the sensor delivered frame `seq` while no buffer was queued: the FIMC dropped it */
    fimc_capture_drop: { device: string; seq: number };
    /** a FIMC mem-to-mem job: NV12 at `src` scaled and converted to `width`×`height` XRGB8888 at `dst` */
    fimc_m2m_job: { device: string; src: number; dst: number; width: number; height: number };
    /** an MFC job: `in_bytes` read by DMA, `out_bytes` written (encode: raw → bitstream) */
    mfc_job: { device: string; op: "encode" | "decode"; in_bytes: number; out_bytes: number };
    /** the FIMD read frame `seq` of the scanout framebuffer (`bytes` over all planes) */
    fimd_scanout: { device: string; seq: number; bytes: number };
    /** where a driver warns and carries on (a job that failed, a stream that does not decode) */
    s5p_media_warn: { device: string; message: string };
  }
}

/** The names of this package's trace events. */
export type S5pMediaTraceEventName =
  | "fimc_capture_frame"
  | "fimc_capture_drop"
  | "fimc_m2m_job"
  | "mfc_job"
  | "fimd_scanout"
  | "s5p_media_warn";
