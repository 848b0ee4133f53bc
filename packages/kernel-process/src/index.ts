export { type Chrdev, type ChrdevOpts, chrdevPermits, findChrdev, registerChrdev } from "./chrdev.js";
export { FdTable } from "./fdtable.js";
export { anonInodeGetfile, File, type FileInit, fput, openFiles } from "./file.js";
export {
  _IO,
  _IOC,
  _IOC_DIR,
  _IOC_DIRBITS,
  _IOC_DIRMASK,
  _IOC_DIRSHIFT,
  _IOC_NONE,
  _IOC_NR,
  _IOC_NRBITS,
  _IOC_NRMASK,
  _IOC_NRSHIFT,
  _IOC_READ,
  _IOC_SIZE,
  _IOC_SIZEBITS,
  _IOC_SIZEMASK,
  _IOC_SIZESHIFT,
  _IOC_TYPE,
  _IOC_TYPEBITS,
  _IOC_TYPEMASK,
  _IOC_TYPESHIFT,
  _IOC_WRITE,
  _IOR,
  _IOW,
  _IOWR,
  formatIoctl,
  IOC_IN,
  IOC_INOUT,
  IOC_OUT,
  IOCSIZE_MASK,
  IOCSIZE_SHIFT,
} from "./ioctl.js";
export type { MmapArgs } from "./mmap.js";
export type { FileOps, MmapContext, PollTable } from "./ops.js";
export type { PollFd } from "./poll.js";
export {
  currentProcess,
  type ExitCallback,
  type FdFlagsOpt,
  fget,
  findProcess,
  Process,
  processes,
  type RecvMsg,
  type SendMsg,
  type SpawnOpts,
  spawn,
} from "./process.js";
export { SHUTDOWN_EXIT_CODE } from "./state.js";
export * from "./types.js";
export { isUnixSocket, UNIX_SOCKET_OPS, type UnixCred } from "./unix.js";
