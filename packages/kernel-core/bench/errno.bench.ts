// The cost of the failure path: throwing and catching a KernelError against a plain Error.
import { defineBench } from "@umm/bench";
import { KernelError, lookupErrno } from "../src/index.js";

export default defineBench((b) => {
  let sink = 0;
  b.cost({
    name: "throw+catch KernelError",
    run: () => {
      try {
        throw new KernelError("EINVAL", "size 0 is not a positive multiple of 4 KiB");
      } catch (e) {
        sink += (e as KernelError).code;
      }
    },
    baseline: {
      name: "throw+catch Error",
      run: () => {
        try {
          throw new Error("EINVAL: size 0 is not a positive multiple of 4 KiB");
        } catch (e) {
          sink += (e as Error).message.length;
        }
      },
    },
    goal: null,
  });
  const keys = ["EINVAL", "ewouldblock", -12, 28, "ENOTTY"] as const;
  b.rate({
    name: "lookupErrno (name, alias, number)",
    ops: keys.length,
    run: () => {
      for (const k of keys) sink += lookupErrno(k)?.length ?? 0;
    },
  });
  if (sink === 42) console.log("");
});
