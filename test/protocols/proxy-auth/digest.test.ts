// Digest (RFC 7616): the §3.9.1 example, exact, for MD5 and SHA-256; -sess, SHA-512-256, userhash, username*, refusals.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseChallenges } from '../../../src/protocols/proxy-auth/challenge.js';
import { digestAuthorization, digestResponse, parseDigestChallenge, type DigestChallenge } from '../../../src/protocols/proxy-auth/digest.js';
import { basicAuthorization } from '../../../src/protocols/proxy-auth/basic.js';

const NONCE = '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v';
const OPAQUE = 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS';
const CNONCE = 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';

function challenge(line: string): DigestChallenge {
  const c = parseChallenges([line]).challenges[0];
  assert.ok(c !== undefined);
  const d = parseDigestChallenge(c);
  assert.ok(!('refused' in d), JSON.stringify(d));
  return d;
}

function rfc(alg: string): DigestChallenge {
  return challenge(`Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${alg}, nonce="${NONCE}", opaque="${OPAQUE}"`);
}

const input = { username: 'Mufasa', password: 'Circle of Life', method: 'GET', uri: '/dir/index.html', nc: 1, cnonce: CNONCE };

describe('Digest', () => {
  it('RFC 7616 §3.9.1, MD5: the exact response and header', () => {
    const c = rfc('MD5');
    assert.equal(digestResponse({ ...input, challenge: c }), '8ca523f5e9506fed4657c9700eebdbec');
    assert.equal(
      digestAuthorization({ ...input, challenge: c }),
      `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=MD5, nonce="${NONCE}", nc=00000001, cnonce="${CNONCE}", qop=auth, response="8ca523f5e9506fed4657c9700eebdbec", opaque="${OPAQUE}"`,
    );
  });

  it('RFC 7616 §3.9.1, SHA-256: the exact response', () => {
    assert.equal(digestResponse({ ...input, challenge: rfc('SHA-256') }), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  });

  it('-sess folds the nonce and cnonce into HA1; SHA-512-256 uses that hash', () => {
    const h = (alg: string, s: string): string => createHash(alg).update(s).digest('hex');
    const sess = rfc('SHA-256-sess');
    const ha1 = h('sha256', `${h('sha256', 'Mufasa:http-auth@example.org:Circle of Life')}:${NONCE}:${CNONCE}`);
    const ha2 = h('sha256', 'GET:/dir/index.html');
    assert.equal(digestResponse({ ...input, challenge: sess }), h('sha256', `${ha1}:${NONCE}:00000001:${CNONCE}:auth:${ha2}`));
    const t = rfc('SHA-512-256');
    const ha1t = h('sha512-256', 'Mufasa:http-auth@example.org:Circle of Life');
    assert.equal(digestResponse({ ...input, nc: 0x1f, challenge: t }), h('sha512-256', `${ha1t}:${NONCE}:0000001f:${CNONCE}:auth:${h('sha512-256', 'GET:/dir/index.html')}`));
  });

  it('RFC 2069 form (no qop): no nc, no cnonce', () => {
    const c = challenge('Digest realm="r", nonce="abc"');
    const h = (s: string): string => createHash('md5').update(s).digest('hex');
    const v = digestAuthorization({ ...input, method: 'CONNECT', uri: 'o:443', challenge: c });
    assert.equal(v, `Digest username="Mufasa", realm="r", uri="o:443", algorithm=MD5, nonce="abc", response="${h(`${h('Mufasa:r:Circle of Life')}:abc:${h('CONNECT:o:443')}`)}"`);
  });

  it('userhash hides the user name; a non-ASCII name goes as username* (RFC 8187)', () => {
    const c = challenge('Digest realm="r", nonce="n", qop=auth, algorithm=SHA-256, userhash=true');
    const v = digestAuthorization({ ...input, challenge: c });
    assert.match(v, new RegExp(`^Digest username="${createHash('sha256').update('Mufasa:r').digest('hex')}", `));
    assert.match(v, /, userhash=true$/);
    assert.doesNotMatch(v, /Mufasa/);
    const u = digestAuthorization({ ...input, username: 'J\u00e4s\u00f8n Doe', challenge: challenge('Digest realm="r", nonce="n", qop=auth') });
    assert.match(u, /^Digest username\*=UTF-8''J%C3%A4s%C3%B8n%20Doe, /);
  });

  it('reads stale; refuses auth-int only, unknown algorithms, other charsets, a missing nonce', () => {
    assert.equal(challenge('Digest realm="r", nonce="n", stale=TRUE').stale, true);
    const refused = (line: string): string => {
      const d = parseDigestChallenge(parseChallenges([line]).challenges[0] as never);
      assert.ok('refused' in d);
      return d.refused;
    };
    assert.match(refused('Digest realm="r", nonce="n", qop="auth-int"'), /auth-int/);
    assert.match(refused('Digest realm="r", nonce="n", algorithm=SHA-1'), /not supported/);
    assert.match(refused('Digest realm="r", nonce="n", charset=latin1'), /charset/);
    assert.match(refused('Digest realm="r"'), /nonce/);
  });

  it('Basic: base64 of user:password in UTF-8 (RFC 7617)', () => {
    assert.equal(basicAuthorization('Aladdin', 'open sesame'), 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
    assert.equal(basicAuthorization('test', '123\u00a3'), 'Basic dGVzdDoxMjPCow==');
  });
});
