/**
 * A small seeded PRNG (mulberry32), so a chaos or fuzz run that failed can be replayed from the
 * seed it printed.
 */
export class Random {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The seed to use: KNIT_CHAOS_SEED if given (to replay a failure), else `fallback`. */
export function seedFromEnv(fallback: number): number {
  const given = process.env['KNIT_CHAOS_SEED'];
  return given !== undefined && given !== '' ? Number(given) >>> 0 : fallback >>> 0;
}

export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}
