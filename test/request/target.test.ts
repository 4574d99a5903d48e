// targetOf: a request URL read as scheme, host, port and path; string URLs remembered, but not those with credentials or long ones.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isRemembered, targetOf } from '../../src/request/target.js';
import { isBurrowError } from '../../src/errors/errors.js';

describe('targetOf', () => {
  it('reads scheme, host, port and path, with default ports and IPv6 without brackets', () => {
    assert.deepEqual({ ...targetOf('https://example.com') }, { scheme: 'https', host: 'example.com', port: 443, path: '/', href: 'https://example.com/' });
    assert.deepEqual({ ...targetOf('http://[::1]:8080/a?b=1') }, { scheme: 'http', host: '::1', port: 8080, path: '/a?b=1', href: 'http://[::1]:8080/a?b=1' });
  });

  it('remembers a string URL and returns the same frozen target', () => {
    const url = 'http://remembered.test/x';
    const a = targetOf(url);
    assert.equal(isRemembered(url), true);
    assert.equal(targetOf(url), a);
    assert.equal(Object.isFrozen(a), true);
  });

  it('never remembers a URL with credentials in it, nor a long one, nor a URL object', () => {
    for (const url of ['http://user:secret@creds.test/', 'http://user@creds.test/', `http://long.test/${'a'.repeat(4096)}`]) {
      assert.equal(targetOf(url).host.endsWith('.test'), true);
      assert.equal(isRemembered(url), false, url);
    }
    const u = new URL('http://object.test/');
    targetOf(u);
    assert.equal(isRemembered(u.href), false);
  });

  it('rejects what is not an http: or https: URL with ERR_INVALID_OPTION', () => {
    assert.throws(() => targetOf('ftp://x/'), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION'));
    assert.throws(() => targetOf('not a url'), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION'));
  });
});
