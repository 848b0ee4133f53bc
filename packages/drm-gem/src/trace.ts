/**
 * DRM's trace events: the kernel's include/trace/events/drm.h (`drm_vblank_event`,
 * `drm_vblank_event_queued`, `drm_vblank_event_delivered`) and umm's lifecycle events of GEM
 * objects, PRIME, framebuffers, flips and scanout.
 *
 * @module
 */

declare module "@umm/kernel-core" {
  interface TraceEventMap {
    /** a GEM object was created with its first handle (`obj` numbers objects per device) */
    drm_gem_create: { dev: string; obj: number; handle: number; size: number; daddr: number };
    /** a GEM object's last reference went: its memory (or its import) is released */
    drm_gem_free: { dev: string; obj: number; size: number; imported: boolean };
    /** PRIME_FD_TO_HANDLE: dma-buf inode `ino` is GEM handle `handle` of the calling file */
    drm_prime_import: { dev: string; ino: number; handle: number; obj: number; daddr: number };
    /** PRIME_HANDLE_TO_FD: handle `handle` is exported as dma-buf inode `ino` */
    drm_prime_export: { dev: string; ino: number; handle: number; obj: number; fd: number };
    /** ADDFB2 made framebuffer `fb` (`format` is the fourcc's four characters) */
    drm_addfb: { dev: string; fb: number; format: string; width: number; height: number };
    /** framebuffer `fb` was destroyed (its last reference went) */
    drm_rmfb: { dev: string; fb: number };
    /** PAGE_FLIP to `fb` queued for vblank `target`; `seqno` is its out-fence's seqno */
    drm_page_flip: { dev: string; crtc: number; fb: number; seqno: number; target: number };
    /** a vblank of `crtc`: count `seq` at virtual time `time` (ns) */
    drm_vblank_event: { crtc: number; seq: number; time: number; high_prec: boolean };
    /** an event was queued for vblank `seq` (`file` is the pid of the DRM file's opener) */
    drm_vblank_event_queued: { file: number; crtc: number; seq: number };
    /** an event was delivered to a DRM file at vblank `seq` */
    drm_vblank_event_delivered: { file: number; crtc: number; seq: number };
    /** the display read frame `seq` of framebuffer `fb` (0: the plane is off) */
    drm_scanout: { dev: string; crtc: number; fb: number; seq: number };
    /** where the kernel WARNs (a display DMA fault at scanout, objects alive at shutdown) */
    drm_warn: { dev: string; message: string };
  }
}

export {};
