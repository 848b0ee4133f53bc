import { strict as assert } from "node:assert";
import { createKernel, KernelError, PAGE_SIZE, SZ_1M } from "@umm/kernel-core";
import { _IOR, O_RDWR, POLLHUP, POLLIN, registerChrdev, spawn } from "@umm/kernel-process";
import { GFP_KERNEL, MAP_SHARED, mmInit, PROT_READ, PROT_WRITE } from "@umm/mm-core";

const kernel = createKernel({ seed: 1 });
const mm = mmInit(kernel, { banks: [{ start: 0x40000000, size: 16 * SZ_1M }] });
mm.memblockFreeAll();

// A driver: one page of frame memory per open file, mapped by mmap, freed at release.
const FRAME_INFO = _IOR("f", 1, 4);
let released = 0;
registerChrdev(kernel, "/dev/frame", {
  ops: {
    open: (file) => {
      file.privateData = mm.buddy.allocPages(0, GFP_KERNEL);
    },
    ioctl: (_file, cmd, arg) => {
      if (cmd !== FRAME_INFO) throw new KernelError("ENOTTY", `unknown ioctl ${cmd}`);
      (arg as { size: number }).size = PAGE_SIZE;
      return 0;
    },
    mmap: (file, ctx) => ctx.setPages([file.privateData as number]),
    release: (file) => {
      mm.buddy.putPage(file.privateData as number);
      released++;
    },
  },
});

// The camera fills a frame and passes the open file to the display over a Unix socket.
const display = spawn(kernel, { comm: "display" });
const camera = spawn(kernel, { comm: "camera" });
const listenFd = display.listen("/run/frames");

const fd = camera.open("/dev/frame", O_RDWR);
const info = { size: 0 };
camera.ioctl(fd, FRAME_INFO, info);
const va = camera.mmap({ fd, length: info.size, prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED });
camera.memWrite(va, new TextEncoder().encode("frame 0001"));
const sock = camera.connect("/run/frames");
camera.sendmsg(sock, { data: new Uint8Array([1]), fds: [fd] });
camera.exit(0); // closes fd, unmaps: the file lives on in flight

const conn = display.accept(listenFd);
const [revents] = await display.poll([{ fd: conn, events: POLLIN }]);
assert.equal(revents, POLLIN | POLLHUP); // a message waits, and the camera is gone
const { fds } = display.recvmsg(conn);
const frame = display.mmap({ fd: fds[0]!, length: PAGE_SIZE, prot: PROT_READ, flags: MAP_SHARED });
assert.equal(new TextDecoder().decode(display.memRead(frame, 10)), "frame 0001");
assert.equal(released, 0);
display.close(fds[0]!);
assert.equal(released, 0); // the mapping still holds the file
display.munmap(frame, PAGE_SIZE);
assert.equal(released, 1);
