import { describe, expect, it } from "vitest";
import { ERRNO, ERRNO_TABLE, errnoName, isErrnoName, lookupErrno, strerror } from "../src/index.js";

describe("errno catalogue", () => {
  it.each([
    ["EPERM", 1],
    ["ENOENT", 2],
    ["EIO", 5],
    ["ENXIO", 6],
    ["EBADF", 9],
    ["EAGAIN", 11],
    ["ENOMEM", 12],
    ["EACCES", 13],
    ["EFAULT", 14],
    ["EBUSY", 16],
    ["EEXIST", 17],
    ["ENODEV", 19],
    ["EINVAL", 22],
    ["ENOTTY", 25],
    ["ENOSPC", 28],
    ["EPIPE", 32],
    ["ERANGE", 34],
    ["ENOSYS", 38],
    ["ETIME", 62],
    ["EBADFD", 77],
    ["EOPNOTSUPP", 95],
    ["EADDRINUSE", 98],
    ["ENOBUFS", 105],
    ["EALREADY", 114],
  ] as const)("%s is Linux number %i", (name, num) => {
    expect(ERRNO[name]).toBe(num);
    expect(errnoName(num)).toBe(name);
    expect(errnoName(-num)).toBe(name);
  });

  it("numbers are unique", () => {
    const nums = Object.values(ERRNO_TABLE).map(([n]) => n);
    expect(new Set(nums).size).toBe(nums.length);
  });

  it("lookupErrno accepts names, aliases and numbers in either sign", () => {
    expect(lookupErrno("einval")).toBe("EINVAL");
    expect(lookupErrno("EWOULDBLOCK")).toBe("EAGAIN");
    expect(lookupErrno("ENOTSUP")).toBe("EOPNOTSUPP");
    expect(lookupErrno(-12)).toBe("ENOMEM");
    expect(lookupErrno("28")).toBe("ENOSPC");
    expect(lookupErrno("EWHATEVER")).toBeUndefined();
    expect(lookupErrno(9999)).toBeUndefined();
  });

  it("strerror gives the C library's text", () => {
    expect(strerror("ENOMEM")).toBe("Cannot allocate memory");
    expect(strerror("ENOTTY")).toBe("Inappropriate ioctl for device");
    expect(isErrnoName("EINVAL")).toBe(true);
    expect(isErrnoName("EWOULDBLOCK")).toBe(false);
  });
});
