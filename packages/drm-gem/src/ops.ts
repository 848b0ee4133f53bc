/**
 * The seams of the DRM core (`@umm/drm-gem/ops`): what a display driver plugs in when it
 * registers a DRM device — its identity and limits (`DrmDriverDesc`), and the display hardware
 * model (`DrmDisplayHw`) that reads the scanout framebuffer by DMA at every vblank. The core owns
 * GEM objects, handles, PRIME, framebuffers, the CRTC state, vblank timing and events; the
 * hardware only scans out what it is handed.
 *
 * @module
 */
import type { DrmModeModeinfo } from "./types.js";

/** One plane of a frame as the display fetches it. */
export interface DrmScanoutPlane {
  /** device address (the display's D.V: bus address or IOVA) of the first byte of the viewport */
  readonly daddr: number;
  /** bytes from one row to the next */
  readonly pitch: number;
  /** bytes of one row inside the viewport (width × cpp of this plane) */
  readonly rowBytes: number;
  /** rows of this plane inside the viewport */
  readonly rows: number;
}

/**
 * What the core hands the display at a vblank: the primary plane's framebuffer as the hardware
 * sees it (the viewport at the CRTC's x, y, of the mode's size).
 */
export interface DrmScanout {
  /** the CRTC's mode object id */
  readonly crtc: number;
  /** the framebuffer's id */
  readonly fb: number;
  /** the fourcc (`DRM_FORMAT_*`) */
  readonly format: number;
  /** pixels per line (the mode's hdisplay) */
  readonly width: number;
  /** lines (the mode's vdisplay) */
  readonly height: number;
  /** one entry per plane of the format */
  readonly planes: readonly DrmScanoutPlane[];
  /** the vblank count that starts this frame */
  readonly seq: number;
  /** virtual time of that vblank (ns) */
  readonly time: number;
}

/**
 * The display controller model a driver plugs in (FIMD, a mixer, or a test display). The core
 * calls it from its vblank timer; nothing here may block. Errors it throws are reported as
 * `drm_warn` events and otherwise ignored (the kernel's interrupt handler carries on).
 */
export interface DrmDisplayHw {
  /**
   * May the CRTC run `mode`? Return a reason to refuse it (SETCRTC fails with EINVAL naming it),
   * or null. Default: every mode is accepted.
   */
  readonly modeValid?: (mode: Readonly<DrmModeModeinfo>) => string | null;
  /** The CRTC was turned on with `mode` (`atomic_enable`). */
  readonly enable?: (mode: Readonly<DrmModeModeinfo>) => void;
  /** The CRTC was turned off (`atomic_disable`): no scanout until the next `enable`. */
  readonly disable?: () => void;
  /**
   * One refresh: fetch `frame` by DMA through the display's port (null: the primary plane is
   * off, the display shows black). The buffers stay allocated and mapped until the core hands
   * over a different frame at a later vblank.
   */
  readonly scanout: (frame: DrmScanout | null) => void;
}

/** What a display driver tells `drmDevRegister` (`struct drm_driver` + `drm_mode_config`). */
export interface DrmDriverDesc {
  /** description (`DRM_IOCTL_VERSION`'s desc; default: the device's name) */
  readonly desc?: string;
  /** date string of the driver version (default "20110530") */
  readonly date?: string;
  /** version major.minor.patchlevel (default 1.0.0) */
  readonly version?: readonly [number, number, number];
  /** modes the connector reports, preferred first (default: `DRM_MODE_1080P60`) */
  readonly modes?: readonly Readonly<DrmModeModeinfo>[];
  /** fourccs the primary plane can scan out (default XRGB8888, ARGB8888, RGB565, NV12, NV21) */
  readonly planeFormats?: readonly number[];
  /** `mode_config.min_width` / `max_width` / `min_height` / `max_height` (default 1..4096) */
  readonly minWidth?: number;
  readonly maxWidth?: number;
  readonly minHeight?: number;
  readonly maxHeight?: number;
  /** dumb buffer pitch alignment in bytes (a power of two; default 1, i.e. none) */
  readonly pitchAlign?: number;
  /** connector type (`DRM_MODE_CONNECTOR_*`, default HDMI-A) */
  readonly connectorType?: number;
  /** the display hardware model that scans out frames (default: none, frames are not read) */
  readonly display?: DrmDisplayHw;
}
