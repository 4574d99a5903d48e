/**
 * The fuzz budget of the test suite: every target, a few thousand inputs each
 * from a fixed seed (`BURROW_FUZZ_SEED` and `BURROW_FUZZ_INPUTS` change them).
 * The long recorded runs are `npm run fuzz` (docs/reliability.md).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fuzz, FuzzFailure, mutate, pieces, randomSplits, Rng, type FuzzTarget } from './engine.js';
import { TARGETS } from './targets/index.js';

const SEED = Number(process.env['BURROW_FUZZ_SEED'] ?? 20261208);
const INPUTS = Number(process.env['BURROW_FUZZ_INPUTS'] ?? 20_000);

describe('fuzz budget', () => {
  for (const target of TARGETS) {
    it(`${target.name}: ${INPUTS} inputs, only typed errors, splits agree, bounded work`, () => {
      const r = fuzz(target, { inputs: INPUTS, seed: SEED });
      const shown = r.findings.map((f) => `#${f.index}: ${f.problem}\n  input ${f.input.slice(0, 400)}`).join('\n');
      assert.equal(r.findings.length, 0, shown);
      assert.equal(r.inputs, INPUTS);
      assert.ok(r.shapes > 5, `only ${r.shapes} outcome shapes reached`);
    });
  }
});

describe('fuzz engine', () => {
  it('is deterministic for a seed', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const base = Buffer.from('HTTP/1.1 200 OK\r\n\r\n');
    for (let i = 0; i < 100; i++) assert.deepEqual(mutate(a, base, base, [Buffer.from('x')]), mutate(b, base, base, [Buffer.from('x')]));
  });

  it('cuts an input into pieces that join back to it', () => {
    const rng = new Rng(3);
    const input = Buffer.from('0123456789abcdef');
    for (let i = 0; i < 50; i++) assert.deepEqual(Buffer.concat(pieces(input, randomSplits(rng, input.length))), input);
  });

  it('reports a target whose outcome depends on the split, and one that throws an untyped error', () => {
    const splitty: FuzzTarget = { name: 'splitty', streaming: true, dictionary: [], seeds: () => [Buffer.from('abcdef')], run: (_i, s) => String(s.length), shape: (o) => o };
    assert.match(fuzz(splitty, { inputs: 50, seed: 1 }).findings[0]?.problem ?? '', /depends on the split/);
    const thrower: FuzzTarget = { name: 'thrower', streaming: false, dictionary: [], seeds: () => [Buffer.from('a')], run: () => { throw new TypeError('boom'); }, shape: (o) => o };
    assert.match(fuzz(thrower, { inputs: 5, seed: 1 }).findings[0]?.problem ?? '', /unexpected TypeError: boom/);
    const failing: FuzzTarget = { name: 'failing', streaming: false, dictionary: [], seeds: () => [Buffer.from('a')], run: () => { throw new FuzzFailure('invariant'); }, shape: (o) => o };
    assert.equal(fuzz(failing, { inputs: 5, seed: 1 }).findings[0]?.problem, 'invariant');
  });
});
