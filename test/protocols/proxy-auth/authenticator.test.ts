// The per-hop state machine: scheme order, preemptive Basic, rounds bound, stale nonces, refusals, NTLM over HTTP/2, the nonce cache.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { ProxyAuthenticator, SCHEME_ORDER, type AuthStep, type ResolvedProxyAuth } from '../../../src/protocols/proxy-auth/authenticator.js';
import { digestCache, DigestCache } from '../../../src/protocols/proxy-auth/cache.js';
import { resolveProxyAuth } from '../../../src/protocols/proxy-auth/options.js';
import { isBurrowError } from '../../../src/errors/errors.js';

const T2 = '4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076006500720000000000';
const NTLM_T2 = `NTLM ${Buffer.from(T2, 'hex').toString('base64')}`;
const DIGEST = 'Digest realm="r", nonce="n1", qop="auth", algorithm=MD5';

function auth(over: Partial<ResolvedProxyAuth> = {}): ResolvedProxyAuth {
  return { username: 'u', password: 'secret', domain: undefined, schemes: SCHEME_ORDER, preemptive: false, maxRounds: 3, ...over };
}

function sent(step: AuthStep): string {
  assert.equal(step.kind, 'send', step.kind === 'fail' ? step.reason : '');
  return step.kind === 'send' ? step.header : '';
}

function failed(step: AuthStep): string {
  assert.equal(step.kind, 'fail');
  return step.kind === 'fail' ? step.reason : '';
}

describe('ProxyAuthenticator', () => {
  beforeEach(() => digestCache.clear());

  it('answers with the strongest scheme offered: NTLM > Digest > Basic', () => {
    const all = ['Basic realm="x"', DIGEST, 'NTLM'];
    assert.match(sent(new ProxyAuthenticator(auth(), 'o:443', undefined).challenged(all, 'http1')), /^NTLM TlRMTVNTUAAB/);
    assert.match(sent(new ProxyAuthenticator(auth(), 'o:443', undefined).challenged(all.slice(0, 2), 'http1')), /^Digest username="u"/);
    assert.match(sent(new ProxyAuthenticator(auth(), 'o:443', undefined).challenged(all.slice(0, 1), 'http1')), /^Basic /);
    assert.match(sent(new ProxyAuthenticator(auth({ schemes: ['basic', 'digest'] }), 'o:443', undefined).challenged(all, 'http1')), /^Digest /);
  });

  it('preemptive Basic on the first CONNECT; none when not preemptive or Basic not allowed; nothing without credentials', () => {
    assert.equal(new ProxyAuthenticator(auth({ preemptive: true }), 'o:443', undefined).opening(), 'Basic dTpzZWNyZXQ=');
    assert.equal(new ProxyAuthenticator(auth(), 'o:443', undefined).opening(), undefined);
    assert.equal(new ProxyAuthenticator(undefined, 'o:443', undefined).opening(), undefined);
    assert.match(failed(new ProxyAuthenticator(undefined, 'o:443', undefined).challenged([DIGEST], 'http1')), /requires authentication \(offered: digest\) and this hop has no credentials/);
  });

  it('NTLM: type 1, then type 3 on the same connection; a 407 to type 3 ends it (no downgrade to Basic)', () => {
    const a = new ProxyAuthenticator(auth({ username: 'Domain\\User', password: 'Password' }), 'o:443', undefined);
    const s1 = a.challenged(['NTLM', 'Basic realm="x"'], 'http1');
    assert.equal(s1.kind === 'send' && s1.sameConnection, false);
    const s2 = a.challenged([NTLM_T2], 'http1');
    assert.equal(s2.kind === 'send' && s2.sameConnection, true);
    const t3 = Buffer.from(sent(s2).slice(5), 'base64');
    assert.equal(t3.readUInt32LE(8), 3);
    // Refused: the credentials are wrong; Basic, still offered, would only send the password in the clear.
    assert.match(failed(a.challenged(['NTLM', 'Basic realm="x"'], 'http1')), /refused the ntlm credentials/);
  });

  it('NTLM over an HTTP/2 CONNECT stream: skipped for another scheme, or a clear failure when it is the only one', () => {
    assert.match(sent(new ProxyAuthenticator(auth(), 'o:443', undefined).challenged(['NTLM', DIGEST], 'http2')), /^Digest /);
    assert.match(failed(new ProxyAuthenticator(auth(), 'o:443', undefined).challenged(['NTLM'], 'http2')), /NTLM authenticates a connection and cannot run over an HTTP\/2 CONNECT stream/);
  });

  it('a wrong password: the 407 answering a complete Digest response fails at once, no loop', () => {
    const a = new ProxyAuthenticator(auth(), 'o:443', undefined);
    sent(a.challenged([DIGEST], 'http1'));
    assert.match(failed(a.challenged(['Digest realm="r", nonce="n2", qop="auth"'], 'http1')), /refused the digest credentials/);
  });

  it('stale=true: the new nonce, not a failed round; nc starts again at 1', () => {
    const a = new ProxyAuthenticator(auth({ maxRounds: 1 }), 'o:443', undefined);
    assert.match(sent(a.challenged([DIGEST], 'http1')), /nonce="n1", nc=00000001/);
    for (let i = 2; i <= 4; i++) assert.match(sent(a.challenged([`Digest realm="r", nonce="n${i}", qop="auth", stale=true`], 'http1')), new RegExp(`nonce="n${i}", nc=00000001`));
    assert.match(failed(a.challenged(['Digest realm="r", nonce="n9", qop="auth", stale=true'], 'http1')), /stale 4 times/);
    assert.equal(a.rounds, 1);
  });

  it('a 407 loop is bounded by maxRounds', () => {
    // Each round offers a scheme not yet refused (a misbehaving proxy): the bound ends it.
    const a = new ProxyAuthenticator(auth({ maxRounds: 2 }), 'o:443', undefined);
    sent(a.challenged(['NTLM'], 'http1'));
    sent(a.challenged([NTLM_T2], 'http1'));
    assert.match(failed(a.challenged([DIGEST], 'http1')), /no success after 2 rounds/);
  });

  it('malformed challenge, no challenge, unknown scheme only, auth-int only: each a clear failure', () => {
    const f = (lines: string[]): string => failed(new ProxyAuthenticator(auth(), 'o:443', undefined).challenged(lines, 'http1'));
    assert.match(f(['Digest realm="x']), /malformed Proxy-Authenticate/);
    assert.match(f([]), /without a Proxy-Authenticate challenge/);
    assert.match(f(['Negotiate', 'Bearer realm="x"']), /no scheme burrow can answer \(offered: negotiate, bearer\)/);
    assert.match(f(['Digest realm="r", nonce="n", qop="auth-int"']), /only qop=auth-int/);
  });

  it('preemptive Basic refused is a guess: the strongest scheme offered follows', () => {
    const a = new ProxyAuthenticator(auth({ preemptive: true }), 'o:443', undefined);
    assert.match(a.opening() ?? '', /^Basic /);
    assert.match(sent(a.challenged(['Basic realm="x"', DIGEST], 'http1')), /^Digest /);
    assert.match(failed(a.challenged(['Basic realm="x"', 'Digest realm="r", nonce="n2", qop="auth"'], 'http1')), /refused the digest credentials/);
  });

  it('picks the strongest Digest algorithm offered', () => {
    const a = new ProxyAuthenticator(auth(), 'o:443', undefined);
    assert.match(sent(a.challenged(['Digest realm="r", nonce="a", algorithm=MD5', 'Digest realm="r", nonce="b", algorithm=SHA-256'], 'http1')), /algorithm=SHA-256, nonce="b"/);
  });

  it('after a success, the next CONNECT to the same proxy reuses the nonce preemptively with nc+1', () => {
    const a = new ProxyAuthenticator(auth(), 'o:443', 'k');
    assert.match(sent(a.challenged([DIGEST], 'http1')), /nc=00000001/);
    a.succeeded();
    const b = new ProxyAuthenticator(auth(), 'other:443', 'k');
    assert.match(b.opening() ?? '', /^Digest .*uri="other:443".*nonce="n1", nc=00000002/);
    // Taken: a concurrent CONNECT does not get the same count.
    assert.equal(new ProxyAuthenticator(auth(), 'o:443', 'k').opening(), undefined);
    // An expired cached nonce refused without stale is not a refusal of the credentials.
    assert.match(sent(b.challenged(['Digest realm="r", nonce="n5", qop="auth"'], 'http1')), /nonce="n5", nc=00000001/);
  });

  it('the cache is bounded, least recently used out', () => {
    const c = new DigestCache(2);
    const e = { challenge: { realm: 'r', nonce: 'n', opaque: undefined, algorithm: 'MD5' as const, qop: 'auth' as const, stale: false, userhash: false }, nc: 1, cnonce: 'c' };
    c.put('a', e);
    c.put('b', e);
    c.put('c', e);
    assert.equal(c.size, 2);
    assert.equal(c.take('a'), undefined);
    assert.ok(c.take('c'));
  });
});

describe('resolveProxyAuth', () => {
  it('URL credentials: all schemes, preemptive Basic (the behaviour without auth)', () => {
    assert.deepEqual(resolveProxyAuth('a', undefined, 'u', 'p'), { username: 'u', password: 'p', domain: undefined, schemes: ['ntlm', 'digest', 'basic'], preemptive: true, maxRounds: 3 });
    assert.equal(resolveProxyAuth('a', undefined, undefined, undefined), undefined);
  });
  it('the auth option: defaults from the URL, schemes restrict, preemptive only with Basic', () => {
    const r = resolveProxyAuth('a', { schemes: ['digest'] }, 'u', 'p');
    assert.equal(r?.preemptive, false);
    assert.deepEqual(r?.schemes, ['digest']);
    assert.equal(resolveProxyAuth('a', { username: 'x', password: 'y', domain: 'D', maxRounds: 5 }, undefined, undefined)?.maxRounds, 5);
    const bad = (v: unknown): void => assert.throws(() => resolveProxyAuth('via[0].auth', v, undefined, undefined), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION') && !String(e).includes('hunter2'));
    bad({ password: 'hunter2' });
    bad({ username: 'u', password: 'hunter2', schemes: ['kerberos'] });
    bad({ username: 'u', password: 'hunter2', schemes: [] });
    bad({ username: 'u', password: 'hunter2', schemes: ['digest'], preemptive: true });
    bad({ username: 'u', password: 'hunter2', extra: 1 });
    bad({ username: 'u\r\n', password: 'hunter2' });
    bad({ username: 'a:b', password: 'hunter2' });
    bad({ username: 'u', password: 'hunter2', maxRounds: 0 });
  });
});
