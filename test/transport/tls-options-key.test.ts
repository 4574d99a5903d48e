// tlsOptionsKey / tlsOptionsKeyOf: TLS options that mean the same get the same key (the
// pool and the SecureContext cache compare options by value); the key of an options
// object is remembered only while the object holds the same values.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tlsOptionsKey, tlsOptionsKeyOf } from '../../src/transport/tls.js';

describe('TLS options keys', () => {
  it('equal options written separately get equal keys; different values get different keys', () => {
    assert.equal(tlsOptionsKeyOf({ ca: 'A', servername: 'x' }), tlsOptionsKeyOf({ servername: 'x', ca: 'A' }));
    assert.equal(tlsOptionsKeyOf({ ca: Buffer.from('A') }), tlsOptionsKeyOf({ ca: Buffer.from('A') }));
    assert.notEqual(tlsOptionsKeyOf({ ca: 'A' }), tlsOptionsKeyOf({ ca: 'B' }));
    assert.notEqual(tlsOptionsKeyOf({ ca: ['A', 'B'] }), tlsOptionsKeyOf({ ca: ['A', 'C'] }));
    assert.equal(tlsOptionsKeyOf({ ca: 'A' }), tlsOptionsKey({ ca: 'A' }));
  });

  it('an options object changed after use gets the key of what it holds now (value or array item replaced)', () => {
    const opts: { ca: string | string[]; rejectUnauthorized?: boolean } = { ca: 'A' };
    const first = tlsOptionsKeyOf(opts);
    assert.equal(tlsOptionsKeyOf(opts), first);
    opts.ca = 'B';
    assert.equal(tlsOptionsKeyOf(opts), tlsOptionsKey({ ca: 'B' }));
    opts.rejectUnauthorized = false;
    assert.equal(tlsOptionsKeyOf(opts), tlsOptionsKey({ ca: 'B', rejectUnauthorized: false }));
    const list = ['A', 'B'];
    opts.ca = list;
    const before = tlsOptionsKeyOf(opts);
    list[1] = 'C';
    const after = tlsOptionsKeyOf(opts);
    assert.notEqual(after, before);
    assert.equal(after, tlsOptionsKey({ ca: ['A', 'C'], rejectUnauthorized: false }));
  });

  it('options holding nested objects are keyed by what they hold every time', () => {
    const nested = { pfx: [{ buf: 'P', passphrase: 'one' }] };
    const a = tlsOptionsKeyOf(nested);
    (nested.pfx[0] as { passphrase: string }).passphrase = 'two';
    assert.notEqual(tlsOptionsKeyOf(nested), a);
  });
});
