// The cost of the file layer's hot paths: open+close of a character device, an ioctl round
// trip, and passing one fd over a Unix socket (send + receive + close of the received fd).
// Rates only: there is no physical baseline for a system call, and the issue named no goal.
import { defineBench } from "@umm/bench";
import { createKernel, KernelError, SZ_1M } from "@umm/kernel-core";
import { mmInit } from "@umm/mm-core";
import { _IOWR, O_RDWR, registerChrdev, spawn } from "../src/index.js";

export default defineBench((b) => {
  const kernel = createKernel({ seed: 1 });
  mmInit(kernel, { banks: [{ start: 0x40000000, size: 16 * SZ_1M }] }).memblockFreeAll();
  const CMD = _IOWR("b", 1, 16);
  let sink = 0;
  registerChrdev(kernel, "/dev/bench", {
    ops: {
      open: (file) => {
        file.privateData = { opens: 1 };
      },
      release: () => {
        sink++;
      },
      ioctl: (_file, cmd, arg) => {
        if (cmd !== CMD) throw new KernelError("ENOTTY", "unknown ioctl");
        const a = arg as { in: number; out: number };
        a.out = a.in + 1;
        return 0;
      },
    },
  });
  const sender = spawn(kernel, { comm: "sender" });
  const receiver = spawn(kernel, { comm: "receiver" });

  b.rate({
    name: "open+close of a char device",
    ops: 1,
    run: () => {
      sender.close(sender.open("/dev/bench", O_RDWR));
    },
  });

  const fd = sender.open("/dev/bench", O_RDWR);
  const arg = { in: 1, out: 0 };
  b.rate({
    name: "ioctl round trip",
    ops: 1,
    run: () => {
      sink += sender.ioctl(fd, CMD, arg) as number;
    },
  });

  const l = receiver.listen("/run/bench");
  const c = sender.connect("/run/bench");
  const s = receiver.accept(l);
  const list = [fd];
  b.rate({
    name: "SCM_RIGHTS send+receive of one fd",
    ops: 1,
    run: () => {
      sender.sendmsg(c, { fds: list });
      const m = receiver.recvmsg(s);
      receiver.close(m.fds[0]!);
    },
  });
  if (sink === -1) console.log(arg.out);
});
