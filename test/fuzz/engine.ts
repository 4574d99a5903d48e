/**
 * A mutation fuzzer for burrow's sans-I/O codecs. Each target takes bytes and
 * says what came out as one string (its "outcome"); the engine feeds it inputs
 * made by mutating seeds and earlier inputs, and checks the invariants every
 * codec shares:
 * - only typed errors: a target lets an unexpected exception escape (a
 *   TypeError, a RangeError, an error of the wrong class): that is a failure;
 * - every split of the same bytes gives the same outcome (streaming targets);
 * - bounded work: no input takes longer than a budget proportional to its size
 *   (an input over it is timed again, up to three times: slow only if slow every time);
 * - the target's own invariants (it throws {@link FuzzFailure}).
 *
 * Inputs whose outcome has a shape not seen before (the target's `shape` of
 * the outcome: event kinds and error code, without the data) join the corpus:
 * a cheap stand-in for coverage feedback that steers mutations towards
 * inputs that reach new states.
 */

/** A broken invariant, thrown by a target. */
export class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure';
}

/** A codec under fuzz. */
export interface FuzzTarget {
  readonly name: string;
  /** Valid (or interesting) inputs to start from. */
  seeds(): Buffer[];
  /** Byte strings worth inserting (tokens of the protocol). */
  readonly dictionary: readonly string[];
  /** True when the input is a byte stream whose splits must not matter. */
  readonly streaming: boolean;
  /**
   * Runs one input, fed in the pieces `splits` cuts it into (offsets, ascending); returns the outcome.
   * Throws {@link FuzzFailure} when an invariant is broken; any other exception is a failure too.
   */
  run(input: Buffer, splits: readonly number[]): string;
  /** The outcome without its data: what counts as a new state. */
  shape(outcome: string): string;
}

/** A small, fast, seedable generator (xorshift32). */
export class Rng {
  #s: number;

  constructor(seed: number) {
    this.#s = seed >>> 0 || 0x9e3779b9;
  }

  next(): number {
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x >>> 0;
    return this.#s;
  }

  /** 0 <= n < max. */
  below(max: number): number {
    return max <= 1 ? 0 : this.next() % max;
  }

  chance(oneIn: number): boolean {
    return this.below(oneIn) === 0;
  }
}

const INTERESTING = [0x00, 0x01, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x2c, 0x30, 0x39, 0x3a, 0x3b, 0x7f, 0x80, 0xfe, 0xff];
const MAX_INPUT = 16 * 1024;
/** Inputs at least this long count for the slowest-per-byte figure (shorter ones are all noise). */
const TIMED_INPUT = 2048;

/** One input made from `base` by a few random edits (AFL's "havoc" in small). */
export function mutate(rng: Rng, base: Buffer, other: Buffer, dictionary: readonly Buffer[]): Buffer {
  let b = Buffer.from(base);
  const edits = 1 + rng.below(6);
  for (let k = 0; k < edits; k++) {
    const at = rng.below(b.length + 1);
    switch (rng.below(11)) {
      case 0: // flip a bit
        if (b.length > 0) b[at % b.length] = ((b[at % b.length] as number) ^ (1 << rng.below(8))) & 0xff;
        break;
      case 1: // an interesting byte
        if (b.length > 0) b[at % b.length] = INTERESTING[rng.below(INTERESTING.length)] as number;
        break;
      case 2: // a random byte
        if (b.length > 0) b[at % b.length] = rng.below(256);
        break;
      case 3: // delete a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.below(16)))]);
        break;
      case 4: // insert a token
      case 5: {
        const t = dictionary[rng.below(dictionary.length)];
        if (t !== undefined) b = Buffer.concat([b.subarray(0, at), t, b.subarray(at)]);
        break;
      }
      case 6: {
        // duplicate a range
        const len = 1 + rng.below(32);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
        break;
      }
      case 7: // cut the end
        b = b.subarray(0, at);
        break;
      case 8: {
        // splice with another input
        const from = rng.below(other.length + 1);
        b = Buffer.concat([b.subarray(0, at), other.subarray(from)]);
        break;
      }
      case 9: {
        // a run of one byte (long lines, long numbers)
        const n = 1 + rng.below(rng.chance(8) ? 9000 : 64);
        b = Buffer.concat([b.subarray(0, at), Buffer.alloc(n, INTERESTING[rng.below(INTERESTING.length)] as number), b.subarray(at)]);
        break;
      }
      default: {
        // change a decimal or hex number in place
        const s = b.toString('latin1');
        const m = /[0-9a-fA-F]+/g;
        m.lastIndex = at;
        const hit = m.exec(s);
        if (hit !== null) {
          const repl = ['0', '1', '-1', '65535', '65536', '4294967296', '9007199254740993', 'ffffffff', '00000000000000001'][rng.below(9)] as string;
          b = Buffer.from(s.slice(0, hit.index) + repl + s.slice(hit.index + hit[0].length), 'latin1');
        }
        break;
      }
    }
  }
  return b.length > MAX_INPUT ? b.subarray(0, MAX_INPUT) : b;
}

/** Random cut points in `len` bytes: few pieces, sometimes every byte on its own. */
export function randomSplits(rng: Rng, len: number): number[] {
  if (len <= 1) return [];
  if (len <= 256 && rng.chance(16)) return Array.from({ length: len - 1 }, (_, i) => i + 1);
  const n = 1 + rng.below(Math.min(8, len - 1));
  const cuts = new Set<number>();
  for (let i = 0; i < n; i++) cuts.add(1 + rng.below(len - 1));
  return [...cuts].sort((a, b) => a - b);
}

/** The pieces `splits` cuts `input` into. */
export function pieces(input: Buffer, splits: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const at of splits) {
    out.push(input.subarray(from, at));
    from = at;
  }
  out.push(input.subarray(from));
  return out;
}

/** A failure found: enough to reproduce it. */
export interface Finding {
  readonly target: string;
  readonly index: number;
  readonly problem: string;
  readonly input: string;
  readonly splits: readonly number[];
}

/** What one fuzz run did. */
export interface FuzzReport {
  readonly target: string;
  readonly seed: number;
  readonly inputs: number;
  readonly bytes: number;
  readonly ms: number;
  readonly corpus: number;
  readonly shapes: number;
  /** The slowest input of at least 2 KiB, µs per byte (whole and split runs together). */
  readonly slowestUsPerByte: number;
  readonly findings: readonly Finding[];
}

export interface FuzzOptions {
  readonly inputs: number;
  readonly seed: number;
  /** Budget per input: `fixedMs + perKiBMs × KiB`; beyond it the input is a finding. */
  readonly fixedMs?: number;
  readonly perKiBMs?: number;
  /** Stop after this many findings. */
  readonly maxFindings?: number;
  /** Called every `progressEvery` inputs. */
  readonly onProgress?: (done: number) => void;
  readonly progressEvery?: number;
}

const MAX_CORPUS = 4096;

function describe(e: unknown): string {
  if (e instanceof FuzzFailure) return e.message;
  if (e instanceof Error) return `unexpected ${e.constructor.name}: ${e.message}\n${e.stack ?? ''}`;
  return `unexpected throw of ${String(e)}`;
}

/** Fuzzes `target` with `opts.inputs` inputs; deterministic for a seed. */
export function fuzz(target: FuzzTarget, opts: FuzzOptions): FuzzReport {
  const rng = new Rng(opts.seed);
  const dictionary = target.dictionary.map((t) => Buffer.from(t, 'latin1'));
  const corpus = target.seeds();
  const shapes = new Set<string>();
  const findings: Finding[] = [];
  const fixedMs = opts.fixedMs ?? 250;
  const perKiBMs = opts.perKiBMs ?? 25;
  const maxFindings = opts.maxFindings ?? 5;
  let bytes = 0;
  let slowest = 0;
  const started = performance.now();
  let i = 0;
  for (; i < opts.inputs && findings.length < maxFindings; i++) {
    const base = corpus[i < corpus.length ? i : rng.below(corpus.length)] as Buffer;
    const input = i < corpus.length ? base : mutate(rng, base, corpus[rng.below(corpus.length)] as Buffer, dictionary);
    bytes += input.length;
    const t0 = performance.now();
    let whole: string;
    try {
      whole = target.run(input, []);
      if (target.streaming) {
        const splits = randomSplits(rng, input.length);
        const split = target.run(input, splits);
        if (split !== whole) throw new FuzzFailure(`the outcome depends on the split:\n  whole: ${whole.slice(0, 400)}\n  split: ${split.slice(0, 400)}`);
      }
    } catch (e) {
      findings.push({ target: target.name, index: i, problem: describe(e), input: input.toString('hex'), splits: [] });
      continue;
    }
    let ms = performance.now() - t0;
    const budget = fixedMs + (perKiBMs * input.length) / 1024;
    // Over its budget: timed again (the machine may have been busy); slow only if it is slow every time.
    for (let again = 0; again < 3 && ms > budget; again++) {
      const t1 = performance.now();
      target.run(input, []);
      if (target.streaming) target.run(input, randomSplits(rng, input.length));
      ms = Math.min(ms, performance.now() - t1);
    }
    const perByte = input.length > 0 ? (ms * 1000) / input.length : 0;
    if (input.length >= TIMED_INPUT && perByte > slowest) slowest = perByte;
    if (ms > budget) {
      findings.push({ target: target.name, index: i, problem: `slow: ${ms.toFixed(1)} ms for ${input.length} bytes`, input: input.toString('hex'), splits: [] });
    }
    const shape = target.shape(whole);
    if (!shapes.has(shape)) {
      shapes.add(shape);
      if (corpus.length < MAX_CORPUS) corpus.push(input);
      else corpus[rng.below(MAX_CORPUS)] = input;
    }
    if (opts.onProgress !== undefined && (i + 1) % (opts.progressEvery ?? 100_000) === 0) opts.onProgress(i + 1);
  }
  return {
    target: target.name,
    seed: opts.seed,
    inputs: i,
    bytes,
    ms: performance.now() - started,
    corpus: corpus.length,
    shapes: shapes.size,
    slowestUsPerByte: slowest,
    findings,
  };
}
