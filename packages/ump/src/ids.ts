/**
 * Name tables: ARM's descriptor mapping (`ump_kernel_descriptor_mapping.c`: a bitmap and a
 * pointer array of 128 entries that doubles up to 4096, entry 0 reserved, lowest free entry
 * first) — used for per-session mmap cookies and, in compatibility mode, for secure IDs — and
 * umm's random secure IDs.
 *
 * @module
 */
import type { Prng } from "@umm/kernel-core";
import { UMP_INVALID_SECURE_ID } from "./types.js";

/** `ump_descriptor_mapping`: lowest free descriptor first, 0 never handed out. */
export class DescriptorMapping<T> {
  readonly #max: number;
  #current: number;
  readonly #used = new Map<number, T>();

  /** `ump_descriptor_mapping_create(init_entries, max_entries)`. */
  constructor(initEntries: number, maxEntries: number) {
    this.#current = initEntries;
    this.#max = maxEntries;
  }

  /** Descriptors in use. */
  get size(): number {
    return this.#used.size;
  }

  /** `current_nr_mappings`: the table's present capacity (grows 128, 256, ... up to the maximum). */
  get capacity(): number {
    return this.#current;
  }

  /** True when `allocate` would fail. */
  get full(): boolean {
    return this.#used.size + 1 >= this.#max;
  }

  /**
   * `ump_descriptor_mapping_allocate_mapping`: the lowest free descriptor (≥ 1), growing the
   * table by doubling when it is full; -1 when it cannot grow.
   */
  allocate(target: T): number {
    let d = 1;
    while (d < this.#current && this.#used.has(d)) d++;
    if (d === this.#current) {
      if (this.#current >= this.#max) return -1;
      this.#current *= 2;
    }
    this.#used.set(d, target);
    return d;
  }

  /** `ump_descriptor_mapping_set`: replaces the target of a descriptor in use (false otherwise). */
  set(d: number, target: T): boolean {
    if (!this.#used.has(d)) return false;
    this.#used.set(d, target);
    return true;
  }

  /** `ump_descriptor_mapping_get`: the target of `d`, or undefined. */
  get(d: number): T | undefined {
    return this.#used.get(d);
  }

  /** `ump_descriptor_mapping_free`: frees `d` (nothing when it is not in use). */
  free(d: number): void {
    this.#used.delete(d);
  }

  /** Every (descriptor, target) pair in use, ascending. */
  entries(): [number, T][] {
    return [...this.#used.entries()].sort((a, b) => a[0] - b[0]);
  }
}

/** The system-wide secure-ID table: ARM's sequential slots, or umm's random names. */
export interface SecureIdTable<T> {
  /** True when no ID can be issued (4095 live IDs). */
  readonly full: boolean;
  /** Live IDs. */
  readonly size: number;
  /** Issues an ID and stores what `make` builds for it (call only when not `full`). */
  allocate(make: (id: number) => T): T;
  /** The target of `id`, or undefined. */
  get(id: number): T | undefined;
  /** Frees `id`. */
  free(id: number): void;
  /** Live (id, target) pairs. */
  entries(): [number, T][];
}

/** Most live IDs either table holds: ARM's 4096 entries minus the reserved entry 0. */
export const UMP_MAX_LIVE_IDS = 4095;

/**
 * ARM's table: IDs are descriptor-mapping slots in [1, 4095], the lowest free one first, so a
 * freed ID is handed out again at once and IDs are easy to guess.
 */
export function sequentialIds<T>(initEntries: number, maxEntries: number): SecureIdTable<T> {
  const m = new DescriptorMapping<T>(initEntries, maxEntries);
  return {
    get full() {
      return m.full;
    },
    get size() {
      return m.size;
    },
    allocate(make) {
      const id = m.allocate(undefined as T);
      const t = make(id);
      m.set(id, t);
      return t;
    },
    get: (id) => m.get(id),
    free: (id) => m.free(id),
    entries: () => m.entries(),
  };
}

/**
 * umm's table: an ID is a uniformly random 32-bit value from `rng`, never 0, never
 * `UMP_INVALID_SECURE_ID`, never one that is live (so never reused while any reference to its
 * buffer lives). At most `UMP_MAX_LIVE_IDS` at once, as ARM's table.
 */
export function randomIds<T>(rng: Prng): SecureIdTable<T> {
  const live = new Map<number, T>();
  return {
    get full() {
      return live.size >= UMP_MAX_LIVE_IDS;
    },
    get size() {
      return live.size;
    },
    allocate(make) {
      let id = rng.nextU32();
      while (id === 0 || id === UMP_INVALID_SECURE_ID || live.has(id)) id = rng.nextU32();
      const t = make(id);
      live.set(id, t);
      return t;
    },
    get: (id) => live.get(id),
    free: (id) => {
      live.delete(id);
    },
    entries: () => [...live.entries()],
  };
}
