export {
  ERRNO,
  ERRNO_ALIASES,
  ERRNO_TABLE,
  type ErrnoName,
  errnoName,
  isErrnoName,
  lookupErrno,
  strerror,
} from "./errno.js";
export { hex, isKernelError, KernelBug, KernelError, type KernelErrorOpts, kassert, kfail } from "./error.js";
