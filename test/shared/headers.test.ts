// Header lists and the host/authority rules shared by both HTTP layers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { authority, checkHeader, getHeader, getHeaders, hasHeader, normalizeHeaders } from '../../src/shared/headers.js';
import { isBurrowError } from '../../src/errors/errors.js';

describe('authority (host header / :authority)', () => {
  it('omits default ports and keeps others', () => {
    assert.equal(authority('example.com', 80, 'tcp'), 'example.com');
    assert.equal(authority('example.com', 443, 'tls'), 'example.com');
    assert.equal(authority('example.com', 443, 'tcp'), 'example.com:443');
    assert.equal(authority('example.com', 80, 'tls'), 'example.com:80');
    assert.equal(authority('example.com', 8080, 'tcp'), 'example.com:8080');
  });

  it('brackets IPv6 literals', () => {
    assert.equal(authority('::1', 80, 'tcp'), '[::1]');
    assert.equal(authority('::1', 8443, 'tls'), '[::1]:8443');
    assert.equal(authority('[::1]', 8443, 'tls'), '[::1]:8443');
    assert.equal(authority('127.0.0.1', 8080, 'tcp'), '127.0.0.1:8080');
  });
});

describe('normalizeHeaders', () => {
  it('lowercases names, keeps order and repetition, expands arrays', () => {
    assert.deepEqual(normalizeHeaders({ 'X-A': '1', 'x-b': ['2', 3] }), [['x-a', '1'], ['x-b', '2'], ['x-b', '3']]);
    assert.deepEqual(normalizeHeaders([['A', 'x'], ['a', 'y']]), [['a', 'x'], ['a', 'y']]);
  });

  it('rejects CR, LF and NUL in values and non-token names', () => {
    for (const [n, v] of [['a', 'b\r'], ['a', 'b\n'], ['a', 'b\0'], ['a b', 'v'], ['a:', 'v'], ['', 'v']] as const) {
      assert.throws(() => checkHeader(n, v), (e: unknown) => isBurrowError(e, 'ERR_INVALID_HEADER'), `${JSON.stringify(n)}: ${JSON.stringify(v)}`);
    }
  });

  it('getHeader / getHeaders / hasHeader', () => {
    const h = normalizeHeaders([['Set-Cookie', 'a'], ['set-cookie', 'b']]);
    assert.equal(getHeader(h, 'set-cookie'), 'a');
    assert.deepEqual(getHeaders(h, 'set-cookie'), ['a', 'b']);
    assert.equal(hasHeader(h, 'x'), false);
  });
});
