// Shared by the WebSocket property tests: how many runs a property gets (scaled by BURROW_FUZZ_RUNS for a longer
// search), and a count of the work a decoder does, as the number of times it looks at the chunks it was fed.

/**
 * `base` runs, times the factor in `BURROW_FUZZ_RUNS` (default 1): `BURROW_FUZZ_RUNS=50 npm test` searches fifty
 * times longer. A value that is not a positive number is an error, not a silent default.
 */
export function runs(base: number): number {
  const raw = process.env['BURROW_FUZZ_RUNS'];
  if (raw === undefined || raw === '') return base;
  const factor = Number(raw);
  if (!Number.isFinite(factor) || factor <= 0) throw new Error(`BURROW_FUZZ_RUNS must be a positive number, not ${JSON.stringify(raw)}`);
  return Math.max(1, Math.round(base * factor));
}

/** Counts reads of the `length` and `byteLength` of the buffers it marks, and fails once over a budget. */
export class WorkCounter {
  reads = 0;
  readonly #budget: number;

  /** `budget`: the most reads allowed (the first one over it throws, so a quadratic decoder fails at once). */
  constructor(budget = Infinity) {
    this.#budget = budget;
  }

  /**
   * `buf` with own `length` and `byteLength` getters that count: every time code looks at this chunk (to copy it,
   * to skip it, to join it with others) it reads one of them. The bytes are unchanged.
   */
  mark(buf: Buffer): Buffer {
    const length = buf.length;
    const count = (): number => {
      if (++this.reads > this.#budget) throw new Error(`over the work budget of ${this.#budget} chunk reads`);
      return length;
    };
    Object.defineProperty(buf, 'length', { get: count, configurable: true });
    Object.defineProperty(buf, 'byteLength', { get: count, configurable: true });
    return buf;
  }
}
