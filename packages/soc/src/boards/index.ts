/**
 * The boards umm ships, by name.
 *
 * @module
 */
import { KernelError } from "@umm/kernel-core";
import { type BoardDescription, deepFreeze } from "../board.js";
import { EXYNOS4210_BOARD } from "./exynos4210.js";
import { S5PV210_BOARD } from "./s5pv210.js";

/** Every shipped board, by name. */
export const BOARDS: Readonly<Record<string, BoardDescription>> = deepFreeze({
  [EXYNOS4210_BOARD.name]: EXYNOS4210_BOARD,
  [S5PV210_BOARD.name]: S5PV210_BOARD,
});

/** The embedded default board (the Exynos4210-class one). */
export const DEFAULT_BOARD: BoardDescription = EXYNOS4210_BOARD;

/** The shipped board named `name`; ENOENT, listing the names, when there is none. */
export function boardByName(name: string): BoardDescription {
  const b = Object.hasOwn(BOARDS, name) ? BOARDS[name] : undefined;
  if (!b) {
    throw new KernelError("ENOENT", `no board named "${name}" (boards: ${Object.keys(BOARDS).join(", ")})`);
  }
  return b;
}
