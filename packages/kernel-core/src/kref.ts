/**
 * kref: a reference count with a release callback (include/linux/kref.h).
 *
 * The count starts at 1. `put` of the last reference calls `release` exactly once; any `get` or
 * `put` after that is a `KernelBug` (a use after free).
 *
 * @module
 */
import { KernelBug } from "./error.js";

/** A kref-style reference count. */
export class Kref {
  #count = 1;
  readonly #release: () => void;
  /** shown in bug messages */
  readonly label: string;

  /** `kref_init`: count 1; `release` runs when the count drops to 0. */
  constructor(release: () => void, label = "kref") {
    this.#release = release;
    this.label = label;
  }

  /** `kref_read`: the current count (0 once released). */
  get count(): number {
    return this.#count;
  }

  /** True once the last reference has been put. */
  get released(): boolean {
    return this.#count === 0;
  }

  /** `kref_get`: takes a reference. A get after release is a bug. */
  get(): void {
    if (this.#count <= 0) throw new KernelBug(`${this.label}: get after release (use after free)`);
    this.#count++;
  }

  /** `kref_get_unless_zero`: takes a reference unless already released; true when taken. */
  getUnlessZero(): boolean {
    if (this.#count <= 0) return false;
    this.#count++;
    return true;
  }

  /** `kref_put`: drops a reference; true when this was the last and `release` ran. */
  put(): boolean {
    if (this.#count <= 0) throw new KernelBug(`${this.label}: put after release (refcount underflow)`);
    this.#count--;
    if (this.#count === 0) {
      this.#release();
      return true;
    }
    return false;
  }
}
