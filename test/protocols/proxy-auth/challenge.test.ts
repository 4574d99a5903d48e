// Proxy-Authenticate parsing (RFC 9110 §11): several challenges per line, token68, quoted-string escapes, malformed lines.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChallenges, quote, type Challenge } from '../../../src/protocols/proxy-auth/challenge.js';

function plain(c: Challenge): { scheme: string; token68?: string; params: Record<string, string> } {
  return { scheme: c.scheme, ...(c.token68 !== undefined ? { token68: c.token68 } : {}), params: Object.fromEntries(c.params) };
}

describe('parseChallenges', () => {
  it('reads several challenges in one line, params with commas inside quotes, escapes, token68 and bare schemes', () => {
    const r = parseChallenges(['Digest realm="a\\"b\\\\c", nonce="n", qop="auth,auth-int", Basic realm="x", NTLM, Negotiate abc==']);
    assert.equal(r.malformed, 0);
    assert.deepEqual(r.challenges.map(plain), [
      { scheme: 'digest', params: { realm: 'a"b\\c', nonce: 'n', qop: 'auth,auth-int' } },
      { scheme: 'basic', params: { realm: 'x' } },
      { scheme: 'ntlm', params: {} },
      { scheme: 'negotiate', token68: 'abc==', params: {} },
    ]);
  });

  it('lower-cases schemes and parameter names, keeps values; BWS around "=" and empty list elements', () => {
    const r = parseChallenges([',  BASIC Realm = "R" ,, charset=UTF-8 ,', 'NTLM TlRMTVNTUAACAAAA']);
    assert.deepEqual(r.challenges.map(plain), [
      { scheme: 'basic', params: { realm: 'R', charset: 'UTF-8' } },
      { scheme: 'ntlm', token68: 'TlRMTVNTUAACAAAA', params: {} },
    ]);
  });

  it('a token68 followed by another challenge', () => {
    const r = parseChallenges(['NTLM TlRMTQ==, Basic realm="p"']);
    assert.deepEqual(r.challenges.map(plain), [
      { scheme: 'ntlm', token68: 'TlRMTQ==', params: {} },
      { scheme: 'basic', params: { realm: 'p' } },
    ]);
  });

  it('skips malformed lines, counting them, and keeps the good ones', () => {
    const bad = ['Digest realm="unterminated', 'Basic realm="a" nonce="b"', 'Digest realm="a", realm="b"', '=x', 'Basic a=b c', 'Digest realm="\u0001"', 'x'.repeat(20000)];
    const r = parseChallenges([...bad, 'Basic realm="ok"']);
    assert.equal(r.malformed, bad.length);
    assert.deepEqual(r.challenges.map(plain), [{ scheme: 'basic', params: { realm: 'ok' } }]);
  });

  it('"realm=" at the end is a token68, not an empty parameter', () => {
    assert.deepEqual(parseChallenges(['Basic realm=']).challenges.map(plain), [{ scheme: 'basic', token68: 'realm=', params: {} }]);
  });

  it('an empty field gives no challenge and no error', () => {
    assert.deepEqual(parseChallenges(['', ' , ']), { challenges: [], malformed: 0 });
  });

  it('quote() escapes what a quoted-string must', () => {
    assert.equal(quote('a"b\\c'), '"a\\"b\\\\c"');
    assert.deepEqual(Object.fromEntries(parseChallenges([`X p=${quote('a"b\\c')}`]).challenges[0]?.params ?? []), { p: 'a"b\\c' });
  });
});
