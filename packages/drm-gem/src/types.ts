/**
 * The DRM user/kernel interface this package serves (include/uapi/drm/drm.h, drm_mode.h): ioctl
 * numbers as the kernel encodes them for 32-bit ARM, the flags and capability values, and the
 * argument structs as JS objects whose fields carry the uapi header's names as they are
 * (`fb_id`, `pixel_format`, `count_connectors`; docs/design.md §6). Output fields are written
 * into the object the caller passes.
 *
 * @module
 */
import { _IO, _IOW, _IOWR, O_CLOEXEC, O_RDWR } from "@umm/kernel-process";

/** `DRM_IOCTL_BASE`: the ioctl type of every DRM command. */
export const DRM_IOCTL_BASE = "d";

// ---- struct sizes on 32-bit ARM (EABI: u64 aligned to 8) -------------------------------------

const SIZEOF_DRM_VERSION = 36;
const SIZEOF_DRM_GEM_CLOSE = 8;
const SIZEOF_DRM_GET_CAP = 16;
const SIZEOF_DRM_PRIME_HANDLE = 12;
const SIZEOF_DRM_WAIT_VBLANK = 16;
const SIZEOF_DRM_MODE_CARD_RES = 64;
const SIZEOF_DRM_MODE_CRTC = 104;
const SIZEOF_DRM_MODE_GET_ENCODER = 20;
const SIZEOF_DRM_MODE_GET_CONNECTOR = 80;
const SIZEOF_DRM_MODE_CRTC_PAGE_FLIP = 24;
const SIZEOF_DRM_MODE_CREATE_DUMB = 32;
const SIZEOF_DRM_MODE_MAP_DUMB = 16;
const SIZEOF_DRM_MODE_DESTROY_DUMB = 4;
const SIZEOF_DRM_MODE_GET_PLANE_RES = 16;
const SIZEOF_DRM_MODE_GET_PLANE = 32;
const SIZEOF_DRM_MODE_FB_CMD2 = 104;

// ---- ioctl numbers (drm.h) ------------------------------------------------------------------

/** `DRM_IOCTL_VERSION`: driver name, date, description and version numbers. */
export const DRM_IOCTL_VERSION = _IOWR(DRM_IOCTL_BASE, 0x00, SIZEOF_DRM_VERSION);
/** `DRM_IOCTL_GEM_CLOSE`: drops one GEM handle of the file. */
export const DRM_IOCTL_GEM_CLOSE = _IOW(DRM_IOCTL_BASE, 0x09, SIZEOF_DRM_GEM_CLOSE);
/** `DRM_IOCTL_GET_CAP`: a `DRM_CAP_*` value. */
export const DRM_IOCTL_GET_CAP = _IOWR(DRM_IOCTL_BASE, 0x0c, SIZEOF_DRM_GET_CAP);
/** `DRM_IOCTL_SET_MASTER`: become the DRM master (the client allowed to modeset). */
export const DRM_IOCTL_SET_MASTER = _IO(DRM_IOCTL_BASE, 0x1e);
/** `DRM_IOCTL_DROP_MASTER`: stop being the DRM master. */
export const DRM_IOCTL_DROP_MASTER = _IO(DRM_IOCTL_BASE, 0x1f);
/** `DRM_IOCTL_PRIME_HANDLE_TO_FD`: exports a GEM object as a dma-buf fd. */
export const DRM_IOCTL_PRIME_HANDLE_TO_FD = _IOWR(DRM_IOCTL_BASE, 0x2d, SIZEOF_DRM_PRIME_HANDLE);
/** `DRM_IOCTL_PRIME_FD_TO_HANDLE`: imports a dma-buf fd as a GEM handle. */
export const DRM_IOCTL_PRIME_FD_TO_HANDLE = _IOWR(DRM_IOCTL_BASE, 0x2e, SIZEOF_DRM_PRIME_HANDLE);
/** `DRM_IOCTL_WAIT_VBLANK`: waits for (or queues an event at) a vblank count. */
export const DRM_IOCTL_WAIT_VBLANK = _IOWR(DRM_IOCTL_BASE, 0x3a, SIZEOF_DRM_WAIT_VBLANK);

// ---- ioctl numbers (drm_mode.h, DRM_IOCTL_MODE_*) --------------------------------------------

/** `DRM_IOCTL_MODE_GETRESOURCES`: ids of the fbs, CRTCs, connectors and encoders. */
export const DRM_IOCTL_MODE_GETRESOURCES = _IOWR(DRM_IOCTL_BASE, 0xa0, SIZEOF_DRM_MODE_CARD_RES);
/** `DRM_IOCTL_MODE_GETCRTC`: a CRTC's fb, position and mode. */
export const DRM_IOCTL_MODE_GETCRTC = _IOWR(DRM_IOCTL_BASE, 0xa1, SIZEOF_DRM_MODE_CRTC);
/** `DRM_IOCTL_MODE_SETCRTC`: sets (or turns off) a CRTC's mode and primary framebuffer. */
export const DRM_IOCTL_MODE_SETCRTC = _IOWR(DRM_IOCTL_BASE, 0xa2, SIZEOF_DRM_MODE_CRTC);
/** `DRM_IOCTL_MODE_GETENCODER`. */
export const DRM_IOCTL_MODE_GETENCODER = _IOWR(DRM_IOCTL_BASE, 0xa6, SIZEOF_DRM_MODE_GET_ENCODER);
/** `DRM_IOCTL_MODE_GETCONNECTOR`: status and mode list of a connector. */
export const DRM_IOCTL_MODE_GETCONNECTOR = _IOWR(DRM_IOCTL_BASE, 0xa7, SIZEOF_DRM_MODE_GET_CONNECTOR);
/** `DRM_IOCTL_MODE_RMFB`: removes a framebuffer of the file. */
export const DRM_IOCTL_MODE_RMFB = _IOWR(DRM_IOCTL_BASE, 0xaf, 4);
/** `DRM_IOCTL_MODE_PAGE_FLIP`: schedules a framebuffer switch at the next vblank. */
export const DRM_IOCTL_MODE_PAGE_FLIP = _IOWR(DRM_IOCTL_BASE, 0xb0, SIZEOF_DRM_MODE_CRTC_PAGE_FLIP);
/** `DRM_IOCTL_MODE_CREATE_DUMB`: a scanout-capable buffer from width, height and bpp. */
export const DRM_IOCTL_MODE_CREATE_DUMB = _IOWR(DRM_IOCTL_BASE, 0xb2, SIZEOF_DRM_MODE_CREATE_DUMB);
/** `DRM_IOCTL_MODE_MAP_DUMB`: the fake mmap offset of a dumb buffer. */
export const DRM_IOCTL_MODE_MAP_DUMB = _IOWR(DRM_IOCTL_BASE, 0xb3, SIZEOF_DRM_MODE_MAP_DUMB);
/** `DRM_IOCTL_MODE_DESTROY_DUMB`: drops the handle of a dumb buffer. */
export const DRM_IOCTL_MODE_DESTROY_DUMB = _IOWR(DRM_IOCTL_BASE, 0xb4, SIZEOF_DRM_MODE_DESTROY_DUMB);
/** `DRM_IOCTL_MODE_GETPLANERESOURCES`: the plane ids. */
export const DRM_IOCTL_MODE_GETPLANERESOURCES = _IOWR(DRM_IOCTL_BASE, 0xb5, SIZEOF_DRM_MODE_GET_PLANE_RES);
/** `DRM_IOCTL_MODE_GETPLANE`: a plane's CRTC, fb and formats. */
export const DRM_IOCTL_MODE_GETPLANE = _IOWR(DRM_IOCTL_BASE, 0xb6, SIZEOF_DRM_MODE_GET_PLANE);
/** `DRM_IOCTL_MODE_ADDFB2`: a framebuffer from GEM handles, a fourcc and per-plane pitches/offsets. */
export const DRM_IOCTL_MODE_ADDFB2 = _IOWR(DRM_IOCTL_BASE, 0xb8, SIZEOF_DRM_MODE_FB_CMD2);

// ---- flags and constants --------------------------------------------------------------------

/** `DRM_CLOEXEC` (= O_CLOEXEC): PRIME_HANDLE_TO_FD's fd gets FD_CLOEXEC. */
export const DRM_CLOEXEC = O_CLOEXEC;
/** `DRM_RDWR` (= O_RDWR): PRIME_HANDLE_TO_FD's dma-buf file is opened read-write. */
export const DRM_RDWR = O_RDWR;

/** `DRM_CAP_DUMB_BUFFER` */
export const DRM_CAP_DUMB_BUFFER = 0x1;
/** `DRM_CAP_VBLANK_HIGH_CRTC` */
export const DRM_CAP_VBLANK_HIGH_CRTC = 0x2;
/** `DRM_CAP_DUMB_PREFERRED_DEPTH` */
export const DRM_CAP_DUMB_PREFERRED_DEPTH = 0x3;
/** `DRM_CAP_DUMB_PREFER_SHADOW` */
export const DRM_CAP_DUMB_PREFER_SHADOW = 0x4;
/** `DRM_CAP_PRIME`: bits `DRM_PRIME_CAP_IMPORT` | `DRM_PRIME_CAP_EXPORT`. */
export const DRM_CAP_PRIME = 0x5;
/** `DRM_PRIME_CAP_IMPORT` */
export const DRM_PRIME_CAP_IMPORT = 0x1;
/** `DRM_PRIME_CAP_EXPORT` */
export const DRM_PRIME_CAP_EXPORT = 0x2;
/** `DRM_CAP_TIMESTAMP_MONOTONIC`: event timestamps are CLOCK_MONOTONIC (here: the virtual clock). */
export const DRM_CAP_TIMESTAMP_MONOTONIC = 0x6;
/** `DRM_CAP_ASYNC_PAGE_FLIP` */
export const DRM_CAP_ASYNC_PAGE_FLIP = 0x7;
/** `DRM_CAP_CURSOR_WIDTH` */
export const DRM_CAP_CURSOR_WIDTH = 0x8;
/** `DRM_CAP_CURSOR_HEIGHT` */
export const DRM_CAP_CURSOR_HEIGHT = 0x9;
/** `DRM_CAP_ADDFB2_MODIFIERS` */
export const DRM_CAP_ADDFB2_MODIFIERS = 0x10;
/** `DRM_CAP_PAGE_FLIP_TARGET` */
export const DRM_CAP_PAGE_FLIP_TARGET = 0x11;
/** `DRM_CAP_CRTC_IN_VBLANK_EVENT`: events carry the CRTC id. */
export const DRM_CAP_CRTC_IN_VBLANK_EVENT = 0x12;
/** `DRM_CAP_SYNCOBJ` */
export const DRM_CAP_SYNCOBJ = 0x13;

/** `DRM_EVENT_VBLANK`: a WAIT_VBLANK event. */
export const DRM_EVENT_VBLANK = 0x01;
/** `DRM_EVENT_FLIP_COMPLETE`: a page flip completed. */
export const DRM_EVENT_FLIP_COMPLETE = 0x02;
/** `sizeof(struct drm_event_vblank)`: both event types are this long. */
export const DRM_EVENT_VBLANK_SIZE = 32;

/** `DRM_MODE_PAGE_FLIP_EVENT`: send a DRM_EVENT_FLIP_COMPLETE when the flip completes. */
export const DRM_MODE_PAGE_FLIP_EVENT = 0x01;
/** `DRM_MODE_PAGE_FLIP_ASYNC`: flip without waiting for vblank (tearing); not supported here. */
export const DRM_MODE_PAGE_FLIP_ASYNC = 0x02;
/** `DRM_MODE_PAGE_FLIP_TARGET_ABSOLUTE` */
export const DRM_MODE_PAGE_FLIP_TARGET_ABSOLUTE = 0x4;
/** `DRM_MODE_PAGE_FLIP_TARGET_RELATIVE` */
export const DRM_MODE_PAGE_FLIP_TARGET_RELATIVE = 0x8;
/** `DRM_MODE_PAGE_FLIP_TARGET` */
export const DRM_MODE_PAGE_FLIP_TARGET =
  DRM_MODE_PAGE_FLIP_TARGET_ABSOLUTE | DRM_MODE_PAGE_FLIP_TARGET_RELATIVE;
/**
 * umm: also return the flip's out-fence (a dma-fence signalled at the vblank that completes the
 * flip) as a sync_file fd in `out_fence_fd` — what the atomic ioctl's OUT_FENCE_PTR property does.
 */
export const DRM_MODE_PAGE_FLIP_OUT_FENCE = 0x100;
/** `DRM_MODE_PAGE_FLIP_FLAGS` (+ umm's OUT_FENCE): every flag PAGE_FLIP accepts. */
export const DRM_MODE_PAGE_FLIP_FLAGS =
  DRM_MODE_PAGE_FLIP_EVENT |
  DRM_MODE_PAGE_FLIP_ASYNC |
  DRM_MODE_PAGE_FLIP_TARGET |
  DRM_MODE_PAGE_FLIP_OUT_FENCE;

/** `_DRM_VBLANK_ABSOLUTE`: `sequence` is an absolute vblank count. */
export const DRM_VBLANK_ABSOLUTE = 0x0;
/** `_DRM_VBLANK_RELATIVE`: `sequence` is relative to the current count. */
export const DRM_VBLANK_RELATIVE = 0x1;
/** `_DRM_VBLANK_HIGH_CRTC_MASK`: the CRTC index in bits 1..5. */
export const DRM_VBLANK_HIGH_CRTC_MASK = 0x3e;
/** `_DRM_VBLANK_HIGH_CRTC_SHIFT` */
export const DRM_VBLANK_HIGH_CRTC_SHIFT = 1;
/** `_DRM_VBLANK_EVENT`: send a DRM_EVENT_VBLANK instead of blocking. */
export const DRM_VBLANK_EVENT = 0x4000000;
/** `_DRM_VBLANK_FLIP`: obsolete, ignored. */
export const DRM_VBLANK_FLIP = 0x8000000;
/** `_DRM_VBLANK_NEXTONMISS`: if the count already passed, wait for the next vblank. */
export const DRM_VBLANK_NEXTONMISS = 0x10000000;
/** `_DRM_VBLANK_SECONDARY`: the second CRTC. */
export const DRM_VBLANK_SECONDARY = 0x20000000;
/** `_DRM_VBLANK_SIGNAL`: obsolete (send a signal); EINVAL. */
export const DRM_VBLANK_SIGNAL = 0x40000000;
/** `_DRM_VBLANK_TYPES_MASK` */
export const DRM_VBLANK_TYPES_MASK = DRM_VBLANK_ABSOLUTE | DRM_VBLANK_RELATIVE;
/** `_DRM_VBLANK_FLAGS_MASK` */
export const DRM_VBLANK_FLAGS_MASK =
  DRM_VBLANK_EVENT | DRM_VBLANK_SIGNAL | DRM_VBLANK_SECONDARY | DRM_VBLANK_NEXTONMISS;

/** `DRM_MODE_FB_INTERLACED` */
export const DRM_MODE_FB_INTERLACED = 1 << 0;
/** `DRM_MODE_FB_MODIFIERS`: `modifier[]` is valid (modifiers are not supported here: EINVAL). */
export const DRM_MODE_FB_MODIFIERS = 1 << 1;

/** `DRM_MODE_FLAG_PHSYNC` */
export const DRM_MODE_FLAG_PHSYNC = 1 << 0;
/** `DRM_MODE_FLAG_NHSYNC` */
export const DRM_MODE_FLAG_NHSYNC = 1 << 1;
/** `DRM_MODE_FLAG_PVSYNC` */
export const DRM_MODE_FLAG_PVSYNC = 1 << 2;
/** `DRM_MODE_FLAG_NVSYNC` */
export const DRM_MODE_FLAG_NVSYNC = 1 << 3;
/** `DRM_MODE_FLAG_INTERLACE`: interlaced modes are refused here. */
export const DRM_MODE_FLAG_INTERLACE = 1 << 4;
/** `DRM_MODE_TYPE_PREFERRED` */
export const DRM_MODE_TYPE_PREFERRED = 1 << 3;
/** `DRM_MODE_TYPE_DRIVER` */
export const DRM_MODE_TYPE_DRIVER = 1 << 6;
/** `DRM_DISPLAY_MODE_LEN`: longest mode name + NUL. */
export const DRM_DISPLAY_MODE_LEN = 32;

/** `DRM_MODE_CONNECTED` */
export const DRM_MODE_CONNECTED = 1;
/** `DRM_MODE_DISCONNECTED` */
export const DRM_MODE_DISCONNECTED = 2;
/** `DRM_MODE_CONNECTOR_HDMIA` */
export const DRM_MODE_CONNECTOR_HDMIA = 11;
/** `DRM_MODE_CONNECTOR_DPI` (a parallel RGB panel, as on FIMD boards) */
export const DRM_MODE_CONNECTOR_DPI = 17;
/** `DRM_MODE_ENCODER_TMDS` */
export const DRM_MODE_ENCODER_TMDS = 2;
/** `DRM_MODE_ENCODER_DPI` */
export const DRM_MODE_ENCODER_DPI = 8;
/** `DRM_PLANE_TYPE_PRIMARY` */
export const DRM_PLANE_TYPE_PRIMARY = 1;

/** `DRIVER_GEM`: the driver uses GEM. */
export const DRIVER_GEM = 1 << 0;
/** `DRIVER_MODESET`: the driver supports mode setting (KMS). */
export const DRIVER_MODESET = 1 << 1;
/** `DRIVER_RENDER`: the driver has a render node (not modelled). */
export const DRIVER_RENDER = 1 << 3;

// ---- structs ---------------------------------------------------------------------------------

/** `struct drm_version` (out): the driver's identity. */
export interface DrmVersion {
  version_major: number;
  version_minor: number;
  version_patchlevel: number;
  name: string;
  date: string;
  desc: string;
}

/** `struct drm_gem_close` (in): `handle`. */
export interface DrmGemClose {
  handle: number;
  pad?: number;
}

/** `struct drm_get_cap`: `capability` (in), `value` (out). */
export interface DrmGetCap {
  capability: number;
  value: number;
}

/** `struct drm_prime_handle`: `handle`, `flags` (DRM_CLOEXEC | DRM_RDWR), `fd`. */
export interface DrmPrimeHandle {
  handle: number;
  flags: number;
  fd: number;
}

/** `struct drm_mode_modeinfo`: a display mode (timings in pixels/lines, `clock` in kHz). */
export interface DrmModeModeinfo {
  clock: number;
  hdisplay: number;
  hsync_start: number;
  hsync_end: number;
  htotal: number;
  hskew: number;
  vdisplay: number;
  vsync_start: number;
  vsync_end: number;
  vtotal: number;
  vscan: number;
  vrefresh: number;
  flags: number;
  type: number;
  name: string;
}

/** `struct drm_mode_card_res`: counts in/out, id arrays filled when the count given is large enough. */
export interface DrmModeCardRes {
  fb_id_ptr?: number[];
  crtc_id_ptr?: number[];
  connector_id_ptr?: number[];
  encoder_id_ptr?: number[];
  count_fbs: number;
  count_crtcs: number;
  count_connectors: number;
  count_encoders: number;
  min_width?: number;
  max_width?: number;
  min_height?: number;
  max_height?: number;
}

/** `struct drm_mode_crtc` (GETCRTC / SETCRTC). `fb_id` -1 (0xffffffff) in SETCRTC keeps the current fb. */
export interface DrmModeCrtc {
  set_connectors_ptr?: number[];
  count_connectors?: number;
  crtc_id: number;
  fb_id: number;
  x: number;
  y: number;
  gamma_size?: number;
  mode_valid: number;
  mode?: DrmModeModeinfo;
}

/** `struct drm_mode_get_encoder`. */
export interface DrmModeGetEncoder {
  encoder_id: number;
  encoder_type?: number;
  crtc_id?: number;
  possible_crtcs?: number;
  possible_clones?: number;
}

/** `struct drm_mode_get_connector`: the mode list is filled when `count_modes` is large enough. */
export interface DrmModeGetConnector {
  connector_id: number;
  encoders_ptr?: number[];
  modes_ptr?: DrmModeModeinfo[];
  count_modes: number;
  count_encoders: number;
  count_props?: number;
  encoder_id?: number;
  connector_type?: number;
  connector_type_id?: number;
  connection?: number;
  mm_width?: number;
  mm_height?: number;
  subpixel?: number;
}

/**
 * `struct drm_mode_crtc_page_flip_target` (+ umm's `out_fence_fd`, written with
 * DRM_MODE_PAGE_FLIP_OUT_FENCE).
 */
export interface DrmModeCrtcPageFlip {
  crtc_id: number;
  fb_id: number;
  flags: number;
  /** `reserved` of the legacy struct, the target vblank with DRM_MODE_PAGE_FLIP_TARGET_* */
  sequence?: number;
  /** returned in the DRM_EVENT_FLIP_COMPLETE event (a u64, here a safe integer) */
  user_data?: number;
  /** out: the sync_file fd of the flip's out-fence (DRM_MODE_PAGE_FLIP_OUT_FENCE), else -1 */
  out_fence_fd?: number;
}

/** `struct drm_mode_create_dumb`: `width`, `height`, `bpp`, `flags` in; `handle`, `pitch`, `size` out. */
export interface DrmModeCreateDumb {
  height: number;
  width: number;
  bpp: number;
  flags?: number;
  handle: number;
  pitch: number;
  size: number;
}

/** `struct drm_mode_map_dumb`: `handle` in, `offset` (the fake mmap offset, bytes) out. */
export interface DrmModeMapDumb {
  handle: number;
  pad?: number;
  offset: number;
}

/** `struct drm_mode_destroy_dumb`: `handle`. */
export interface DrmModeDestroyDumb {
  handle: number;
}

/** `struct drm_mode_get_plane_res`. */
export interface DrmModeGetPlaneRes {
  plane_id_ptr?: number[];
  count_planes: number;
}

/** `struct drm_mode_get_plane`. */
export interface DrmModeGetPlane {
  plane_id: number;
  crtc_id?: number;
  fb_id?: number;
  possible_crtcs?: number;
  gamma_size?: number;
  count_format_types: number;
  format_type_ptr?: number[];
}

/**
 * `struct drm_mode_fb_cmd2`: `width`, `height`, `pixel_format` (fourcc), `flags`, per-plane
 * `handles`, `pitches` (bytes) and `offsets` (bytes into the object) in; `fb_id` out.
 */
export interface DrmModeFbCmd2 {
  fb_id: number;
  width: number;
  height: number;
  pixel_format: number;
  flags?: number;
  handles: number[];
  pitches: number[];
  offsets?: number[];
  modifier?: number[];
}

/** `union drm_wait_vblank`: request fields in, reply fields out. */
export interface DrmWaitVblank {
  /** request.type: DRM_VBLANK_* */
  type: number;
  /** request.sequence in, reply.sequence out */
  sequence: number;
  /** request.signal: the event's user_data with DRM_VBLANK_EVENT */
  signal?: number;
  /** reply.tval_sec */
  tval_sec?: number;
  /** reply.tval_usec */
  tval_usec?: number;
}

/** A decoded `struct drm_event_vblank` (both DRM_EVENT_VBLANK and DRM_EVENT_FLIP_COMPLETE). */
export interface DrmEventVblank {
  readonly type: number;
  readonly length: number;
  readonly user_data: number;
  readonly tv_sec: number;
  readonly tv_usec: number;
  readonly sequence: number;
  readonly crtc_id: number;
}

/** A CEA-861 1920×1080 at 60 Hz mode (148.5 MHz pixel clock, 2200×1125 total). */
export const DRM_MODE_1080P60: Readonly<DrmModeModeinfo> = Object.freeze({
  clock: 148500,
  hdisplay: 1920,
  hsync_start: 2008,
  hsync_end: 2052,
  htotal: 2200,
  hskew: 0,
  vdisplay: 1080,
  vsync_start: 1084,
  vsync_end: 1089,
  vtotal: 1125,
  vscan: 0,
  vrefresh: 60,
  flags: DRM_MODE_FLAG_PHSYNC | DRM_MODE_FLAG_PVSYNC,
  type: DRM_MODE_TYPE_DRIVER | DRM_MODE_TYPE_PREFERRED,
  name: "1920x1080",
});

/** A CEA-861 1280×720 at 60 Hz mode (74.25 MHz, 1650×750 total). */
export const DRM_MODE_720P60: Readonly<DrmModeModeinfo> = Object.freeze({
  clock: 74250,
  hdisplay: 1280,
  hsync_start: 1390,
  hsync_end: 1430,
  htotal: 1650,
  hskew: 0,
  vdisplay: 720,
  vsync_start: 725,
  vsync_end: 730,
  vtotal: 750,
  vscan: 0,
  vrefresh: 60,
  flags: DRM_MODE_FLAG_PHSYNC | DRM_MODE_FLAG_PVSYNC,
  type: DRM_MODE_TYPE_DRIVER,
  name: "1280x720",
});

/**
 * A mode of `hdisplay`×`vdisplay` at `vrefresh` Hz with small blanking (16 pixels, 8 lines), for
 * tests and small panels: the pixel clock (kHz) is chosen so that one frame lasts exactly
 * 1/`vrefresh` s (to the rounding of the clock).
 */
export function drmSimpleMode(hdisplay: number, vdisplay: number, vrefresh = 60): DrmModeModeinfo {
  const htotal = hdisplay + 16;
  const vtotal = vdisplay + 8;
  return {
    clock: Math.max(1, Math.round((htotal * vtotal * vrefresh) / 1000)),
    hdisplay,
    hsync_start: hdisplay + 4,
    hsync_end: hdisplay + 8,
    htotal,
    hskew: 0,
    vdisplay,
    vsync_start: vdisplay + 2,
    vsync_end: vdisplay + 4,
    vtotal,
    vscan: 0,
    vrefresh,
    flags: DRM_MODE_FLAG_PHSYNC | DRM_MODE_FLAG_PVSYNC,
    type: DRM_MODE_TYPE_DRIVER | DRM_MODE_TYPE_PREFERRED,
    name: `${hdisplay}x${vdisplay}`,
  };
}
