/**
 * The seeded PRNG every random choice in umm takes: sfc32 (Chris Doty-Humphrey's small fast
 * chaotic generator), seeded through a string hash, with `fork(label)` for independent streams
 * so that adding a random draw in one subsystem does not shift another's.
 *
 * @module
 */

/** A seed: a number or a string. */
export type Seed = number | string;

/** cyrb128: four 32-bit words from a string (deterministic across hosts). */
function hash128(s: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < s.length; i++) {
    const k = s.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

/** A deterministic pseudo-random number generator. */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  /** the seed this generator was made from (for messages and reports) */
  readonly seed: string;

  constructor(seed: Seed) {
    this.seed = String(seed);
    [this.#a, this.#b, this.#c, this.#d] = hash128(`umm:${this.seed}`);
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** An integer in [lo, hi] (inclusive), unbiased. */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
      throw new RangeError(`Prng.int: bad range [${lo}, ${hi}]`);
    }
    const span = hi - lo + 1;
    if (span <= 4294967296) {
      const limit = 4294967296 - (4294967296 % span);
      let x = this.nextU32();
      while (x >= limit) x = this.nextU32();
      return lo + (x % span);
    }
    return lo + Math.floor(this.next() * span);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Prng.pick: empty array");
    return items[this.int(0, items.length - 1)] as T;
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const t = items[i] as T;
      items[i] = items[j] as T;
      items[j] = t;
    }
    return items;
  }

  /**
   * An independent generator derived from this one's seed and `label` (not from its current
   * state): the same label always gives the same stream.
   */
  fork(label: string): Prng {
    return new Prng(`${this.seed}/${label}`);
  }
}
