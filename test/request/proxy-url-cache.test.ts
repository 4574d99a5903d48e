// The proxy URLs request() remembers: never one with credentials, never a long one, never more than the bound.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isProxyRemembered, rememberedProxyCount, rememberedProxyUrl } from '../../src/request/proxy-url.js';

describe('remembered proxy URLs', () => {
  it('a URL without credentials is parsed once and remembered (the same frozen hop)', () => {
    const url = 'http://remembered-proxy.test:3128';
    const a = rememberedProxyUrl(url, 'via[0]');
    assert.equal(isProxyRemembered(url), true);
    assert.equal(rememberedProxyUrl(url, 'via[0]'), a);
    assert.equal(Object.isFrozen(a), true);
  });

  it('a URL with credentials is parsed every time and never remembered, as a string or a URL object', () => {
    const cases: Array<[string, string]> = [['http://user:secret@creds-proxy.test:3128', 'user'], ['socks5h://name@creds-proxy.test', 'name'], ['https://u:p@creds-proxy.test', 'u']];
    for (const [url, username] of cases) {
      const hop = rememberedProxyUrl(url, 'via[0]');
      assert.equal(hop.username, username);
      assert.equal(isProxyRemembered(url), false, url);
      const obj = new URL(url);
      rememberedProxyUrl(obj, 'via[0]');
      assert.equal(isProxyRemembered(obj.href), false, obj.href);
    }
  });

  it('a long URL is not remembered, and the cache never holds more than 256 URLs', () => {
    const long = `http://${'a'.repeat(2100)}.test:3128`;
    rememberedProxyUrl(long, 'via[0]');
    assert.equal(isProxyRemembered(long), false);
    for (let i = 0; i < 600; i++) {
      rememberedProxyUrl(`http://p${i}.bound.test:3128`, 'via[0]');
      assert.ok(rememberedProxyCount() <= 256, `${rememberedProxyCount()} remembered`);
    }
  });
});
