// routeKey: equal exactly when two requests may share a connection (every hop, its credentials and
// options, and the origin), with no two different routes written the same way.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { routeKey, type RouteHop, type RouteOrigin } from '../../src/request/route.js';
import { parseProxyUrl } from '../../src/request/proxy-url.js';

const origin = (o: Partial<RouteOrigin> = {}): RouteOrigin => ({ scheme: 'https', host: 'example.test', port: 443, tls: {}, protocols: ['http2', 'http'], tlsHandshakeTimeout: undefined, ...o });
const hop = (url: string, options: RouteHop['options'] = {}): RouteHop => ({ proxy: parseProxyUrl(url, 'via[0]'), options });

describe('routeKey', () => {
  it('is equal for the same route given as new objects with the same values', () => {
    const a = routeKey([hop('https://u:p@proxy.test:3128', { tls: { ca: 'CA' }, connectTimeout: 5 })], origin({ tls: { ca: 'CA' } }));
    const b = routeKey([hop('https://u:p@proxy.test:3128', { tls: { ca: 'CA' }, connectTimeout: 5 })], origin({ tls: { ca: 'CA' } }));
    assert.equal(a, b);
  });

  it('differs when any hop, credential, option or origin value differs', () => {
    const base = routeKey([hop('https://u:p@proxy.test:3128')], origin());
    const others = [
      routeKey([hop('http://u:p@proxy.test:3128')], origin()),
      routeKey([hop('https://u:p@proxy.test:3129')], origin()),
      routeKey([hop('https://u:q@proxy.test:3128')], origin()),
      routeKey([hop('https://v:p@proxy.test:3128')], origin()),
      routeKey([hop('https://proxy.test:3128')], origin()),
      routeKey([hop('https://u:p@proxy.test:3128', { tls: { ca: 'other' } })], origin()),
      routeKey([hop('https://u:p@proxy.test:3128', { connectTimeout: 1 })], origin()),
      routeKey([hop('https://u:p@proxy.test:3128', { tlsHandshakeTimeout: 1 })], origin()),
      routeKey([hop('https://u:p@proxy.test:3128', { socksTimeout: 1 })], origin()),
      routeKey([hop('https://u:p@proxy.test:3128'), hop('socks5h://proxy2.test:1080')], origin()),
      routeKey([], origin()),
      routeKey([hop('https://u:p@proxy.test:3128')], origin({ scheme: 'http' })),
      routeKey([hop('https://u:p@proxy.test:3128')], origin({ host: 'other.test' })),
      routeKey([hop('https://u:p@proxy.test:3128')], origin({ port: 8443 })),
      routeKey([hop('https://u:p@proxy.test:3128')], origin({ tls: { ca: 'CA' } })),
      routeKey([hop('https://u:p@proxy.test:3128')], origin({ protocols: ['http'] })),
      routeKey([hop('https://u:p@proxy.test:3128')], origin({ tlsHandshakeTimeout: 10 })),
    ];
    assert.equal(new Set([base, ...others]).size, others.length + 1);
  });

  it('credentials holding the separators do not make two routes look alike', () => {
    // user "a", password "b\n-" against user "a\nb", password "-": written naively, both give a\nb\n-.
    const x = routeKey([hop(`http://a:${encodeURIComponent('b\n-')}@proxy.test:3128`)], origin());
    const y = routeKey([hop(`http://${encodeURIComponent('a\nb')}:-@proxy.test:3128`)], origin());
    assert.notEqual(x, y);
    const z = routeKey([hop(`http://${encodeURIComponent('a\n|')}:b@proxy.test:3128`)], origin());
    const w = routeKey([hop('http://a:b@proxy.test:3128')], origin());
    assert.notEqual(z, w);
  });
});

describe('routeKey: credentials', () => {
  it('holds no credential as given: neither the user name nor the password appears in the key', () => {
    const key = routeKey([hop('https://alice-the-user:s3cret-pass-phrase@proxy.test:3128'), hop('socks5h://bob-user:other-s3cret@socks.test:1080')], origin());
    for (const secret of ['alice-the-user', 's3cret-pass-phrase', 'bob-user', 'other-s3cret']) {
      assert.ok(!key.includes(secret), `${secret} is in the key`);
      assert.ok(!key.includes(JSON.stringify(secret)), `${secret} is in the key, quoted`);
    }
  });
});
