/**
 * Constants of the process and file layer, with the values Linux uses on ARM (the asm-generic
 * ones): open flags, fd flags, poll bits, seek origins and limits.
 *
 * @module
 */

/** Open for reading only (include/uapi/asm-generic/fcntl.h). */
export const O_RDONLY = 0o0;
/** Open for writing only. */
export const O_WRONLY = 0o1;
/** Open for reading and writing. */
export const O_RDWR = 0o2;
/** The access-mode bits of the open flags. */
export const O_ACCMODE = 0o3;
/** Create the file if it does not exist (accepted and ignored: /dev nodes exist or not). */
export const O_CREAT = 0o100;
/** With O_CREAT: fail if the file exists (accepted and ignored). */
export const O_EXCL = 0o200;
/** Do not make the device the controlling terminal (accepted and ignored). */
export const O_NOCTTY = 0o400;
/** Truncate (accepted and ignored for devices). */
export const O_TRUNC = 0o1000;
/** Writes append. */
export const O_APPEND = 0o2000;
/** Non-blocking I/O: a driver's read or ioctl that would wait fails with EAGAIN instead. */
export const O_NONBLOCK = 0o4000;
/** Synchronous writes (accepted, kept in the file flags). */
export const O_DSYNC = 0o10000;
/** Close the new fd on exec (sets FD_CLOEXEC; not kept in the file flags). */
export const O_CLOEXEC = 0o2000000;

/** The fd flag `F_GETFD`/`F_SETFD` know: close on exec. */
export const FD_CLOEXEC = 1;

/** File status flags `F_SETFL` may change (fs/fcntl.c SETFL_MASK, the subset modelled). */
export const SETFL_MASK = O_APPEND | O_NONBLOCK;

/** `ioctl(fd, FIONCLEX)`: clear FD_CLOEXEC (handled by the core, fs/ioctl.c do_vfs_ioctl). */
export const FIONCLEX = 0x5450;
/** `ioctl(fd, FIOCLEX)`: set FD_CLOEXEC (handled by the core). */
export const FIOCLEX = 0x5451;

/** Poll bits (include/uapi/asm-generic/poll.h). */
export const POLLIN = 0x0001;
/** Urgent data to read (drivers use it for events, e.g. V4L2 events, DRM vblank). */
export const POLLPRI = 0x0002;
/** Writing will not block. */
export const POLLOUT = 0x0004;
/** An error condition (always reported, whatever `events` asks). */
export const POLLERR = 0x0008;
/** Hang up: the peer is gone (always reported). */
export const POLLHUP = 0x0010;
/** The fd is not open (always reported). */
export const POLLNVAL = 0x0020;
/** Normal data to read. */
export const POLLRDNORM = 0x0040;
/** Priority band data to read. */
export const POLLRDBAND = 0x0080;
/** Normal data may be written. */
export const POLLWRNORM = 0x0100;
/** Priority data may be written. */
export const POLLWRBAND = 0x0200;
/** Peer closed its end or shut down writing. */
export const POLLRDHUP = 0x2000;
/** What a file without a `poll` op reports (include/linux/poll.h DEFAULT_POLLMASK). */
export const DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/** `lseek` origins. */
export const SEEK_SET = 0;
/** From the current position. */
export const SEEK_CUR = 1;
/** From the end. */
export const SEEK_END = 2;

/** Fds per process (`RLIMIT_NOFILE` soft limit, 1024 as on most distributions). */
export const NR_OPEN_DEFAULT = 1024;
/** Most fds one SCM_RIGHTS message may carry (include/net/scm.h SCM_MAX_FD). */
export const SCM_MAX_FD = 253;
/** Default listen backlog (net.core.somaxconn of old kernels). */
export const SOMAXCONN = 128;

/** The life state of a process. */
export type ProcState = "running" | "exiting" | "dead";
