/**
 * The `--board` argument every command takes: a shipped board by name, a device-tree source
 * (`*.dts`, compiled with dtc; `/include/`s next to it are found) or a blob (`*.dtb`).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { basename, dirname, extname } from "node:path";
import { isKernelError } from "@umm/kernel-core";
import { BOARDS, type BoardDescription, boardByName, boardFromDt, compileDts } from "@umm/soc";

/**
 * The board `spec` names. A tree's board takes the file's base name. Every problem becomes
 * `fail(message)`, the message starting with `--board`: an unknown name lists the shipped boards,
 * an unreadable file gives the system's reason, a tree's errors name the node and property.
 * Errors that are not the kernel's (bugs) pass through.
 */
export function readBoardArg(spec: string, fail: (message: string) => Error): BoardDescription {
  const ext = extname(spec).toLowerCase();
  if (ext !== ".dts" && ext !== ".dtb") {
    try {
      return boardByName(spec);
    } catch (e) {
      if (!isKernelError(e)) throw e;
      throw fail(
        `--board: no board named ${JSON.stringify(spec)} (boards: ${Object.keys(BOARDS).join(", ")}; or a .dts / .dtb file)`,
      );
    }
  }
  let data: Buffer;
  try {
    data = readFileSync(spec);
  } catch (e) {
    throw fail(`--board ${spec}: cannot read it: ${(e as Error).message}`);
  }
  try {
    const blob =
      ext === ".dts"
        ? compileDts(data.toString("utf8"), { includeDirs: [dirname(spec)] })
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return boardFromDt(blob, { name: basename(spec, extname(spec)) });
  } catch (e) {
    if (!isKernelError(e)) throw e;
    throw fail(`--board ${spec}: ${e.message}`);
  }
}
