/**
 * The errno catalogue: Linux names, numbers and strerror texts.
 *
 * Numbers are those of include/uapi/asm-generic/errno-base.h and errno.h (ARM uses the generic
 * table), plus the kernel-internal codes above 511 from include/linux/errno.h that drivers
 * return (ERESTARTSYS, ENOTSUPP, EPROBE_DEFER, ...).
 *
 * @module
 */

/** Every errno umm knows: name → [Linux number, strerror text]. */
export const ERRNO_TABLE = {
  EPERM: [1, "Operation not permitted"],
  ENOENT: [2, "No such file or directory"],
  ESRCH: [3, "No such process"],
  EINTR: [4, "Interrupted system call"],
  EIO: [5, "Input/output error"],
  ENXIO: [6, "No such device or address"],
  E2BIG: [7, "Argument list too long"],
  ENOEXEC: [8, "Exec format error"],
  EBADF: [9, "Bad file descriptor"],
  ECHILD: [10, "No child processes"],
  EAGAIN: [11, "Resource temporarily unavailable"],
  ENOMEM: [12, "Cannot allocate memory"],
  EACCES: [13, "Permission denied"],
  EFAULT: [14, "Bad address"],
  ENOTBLK: [15, "Block device required"],
  EBUSY: [16, "Device or resource busy"],
  EEXIST: [17, "File exists"],
  EXDEV: [18, "Invalid cross-device link"],
  ENODEV: [19, "No such device"],
  ENOTDIR: [20, "Not a directory"],
  EISDIR: [21, "Is a directory"],
  EINVAL: [22, "Invalid argument"],
  ENFILE: [23, "Too many open files in system"],
  EMFILE: [24, "Too many open files"],
  ENOTTY: [25, "Inappropriate ioctl for device"],
  ETXTBSY: [26, "Text file busy"],
  EFBIG: [27, "File too large"],
  ENOSPC: [28, "No space left on device"],
  ESPIPE: [29, "Illegal seek"],
  EROFS: [30, "Read-only file system"],
  EMLINK: [31, "Too many links"],
  EPIPE: [32, "Broken pipe"],
  EDOM: [33, "Numerical argument out of domain"],
  ERANGE: [34, "Numerical result out of range"],
  EDEADLK: [35, "Resource deadlock avoided"],
  ENAMETOOLONG: [36, "File name too long"],
  ENOLCK: [37, "No locks available"],
  ENOSYS: [38, "Function not implemented"],
  ENOTEMPTY: [39, "Directory not empty"],
  ELOOP: [40, "Too many levels of symbolic links"],
  ENOMSG: [42, "No message of desired type"],
  EIDRM: [43, "Identifier removed"],
  EBADE: [52, "Invalid exchange"],
  EBADR: [53, "Invalid request descriptor"],
  ENODATA: [61, "No data available"],
  ETIME: [62, "Timer expired"],
  ENOSR: [63, "Out of streams resources"],
  ENOLINK: [67, "Link has been severed"],
  EPROTO: [71, "Protocol error"],
  EBADMSG: [74, "Bad message"],
  EOVERFLOW: [75, "Value too large for defined data type"],
  ENOTUNIQ: [76, "Name not unique on network"],
  EBADFD: [77, "File descriptor in bad state"],
  EILSEQ: [84, "Invalid or incomplete multibyte or wide character"],
  EUSERS: [87, "Too many users"],
  ENOTSOCK: [88, "Socket operation on non-socket"],
  EMSGSIZE: [90, "Message too long"],
  EPROTONOSUPPORT: [93, "Protocol not supported"],
  EOPNOTSUPP: [95, "Operation not supported"],
  EADDRINUSE: [98, "Address already in use"],
  EADDRNOTAVAIL: [99, "Cannot assign requested address"],
  ENOBUFS: [105, "No buffer space available"],
  ENOTCONN: [107, "Transport endpoint is not connected"],
  ETIMEDOUT: [110, "Connection timed out"],
  ECONNREFUSED: [111, "Connection refused"],
  EALREADY: [114, "Operation already in progress"],
  EINPROGRESS: [115, "Operation now in progress"],
  ESTALE: [116, "Stale file handle"],
  EREMOTEIO: [121, "Remote I/O error"],
  EDQUOT: [122, "Disk quota exceeded"],
  ECANCELED: [125, "Operation canceled"],
  EOWNERDEAD: [130, "Owner died"],
  ENOTRECOVERABLE: [131, "State not recoverable"],
  EHWPOISON: [133, "Memory page has hardware error"],
  ERESTARTSYS: [512, "Restart the system call (kernel internal)"],
  ENOIOCTLCMD: [515, "No ioctl command (kernel internal)"],
  EPROBE_DEFER: [517, "Driver requests probe retry (kernel internal)"],
  ENOTSUPP: [524, "Operation is not supported (kernel internal)"],
} as const satisfies Record<string, readonly [number, string]>;

/** An errno name, e.g. `"EINVAL"`. */
export type ErrnoName = keyof typeof ERRNO_TABLE;

/** Errno name → Linux number, e.g. `ERRNO.EINVAL === 22`. */
export const ERRNO: { readonly [K in ErrnoName]: (typeof ERRNO_TABLE)[K][0] } = Object.freeze(
  Object.fromEntries(Object.entries(ERRNO_TABLE).map(([k, v]) => [k, v[0]])),
) as { readonly [K in ErrnoName]: (typeof ERRNO_TABLE)[K][0] };

/** Aliases the C library defines for the same numbers. */
export const ERRNO_ALIASES: Readonly<Record<string, ErrnoName>> = Object.freeze({
  EWOULDBLOCK: "EAGAIN",
  EDEADLOCK: "EDEADLK",
  ENOTSUP: "EOPNOTSUPP",
});

const byNumber = new Map<number, ErrnoName>();
for (const [name, [num]] of Object.entries(ERRNO_TABLE)) byNumber.set(num, name as ErrnoName);

/** True when `name` is an errno name (aliases excluded). */
export function isErrnoName(name: string): name is ErrnoName {
  return Object.hasOwn(ERRNO_TABLE, name);
}

/**
 * The errno name of a Linux number, accepting the kernel's negative form (`-22` → `"EINVAL"`).
 * Returns `undefined` for a number umm does not know.
 */
export function errnoName(code: number): ErrnoName | undefined {
  return byNumber.get(Math.abs(code));
}

/**
 * Resolves a name, alias or number (`"EINVAL"`, `"EWOULDBLOCK"`, `22`, `-22`) to its errno name;
 * `undefined` when there is none.
 */
export function lookupErrno(key: string | number): ErrnoName | undefined {
  if (typeof key === "number") return errnoName(key);
  const upper = key.trim().toUpperCase();
  if (isErrnoName(upper)) return upper;
  if (Object.hasOwn(ERRNO_ALIASES, upper)) return ERRNO_ALIASES[upper];
  if (/^-?\d+$/.test(upper)) return errnoName(Number(upper));
  return undefined;
}

/** The strerror text of an errno, e.g. `strerror("ENOMEM") === "Cannot allocate memory"`. */
export function strerror(name: ErrnoName): string {
  return ERRNO_TABLE[name][1];
}
