// What burrow publishes of a credential: a URL's password as ***, an authorization header's scheme only.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { maskCredentialHeaders, maskUrl, maskUserinfo } from '../../src/shared/redact.js';

describe('redact', () => {
  it('maskUrl: the password of a URL becomes ***; a URL without one is given back as it is', () => {
    assert.equal(maskUrl('http://u:secret@example.com/a?b'), 'http://u:***@example.com/a?b');
    assert.equal(maskUrl(new URL('https://u:p%40ss@example.com:8443/')), 'https://u:***@example.com:8443/');
    assert.equal(maskUrl('http://u@example.com/'), 'http://u@example.com/');
    assert.equal(maskUrl('http://example.com'), 'http://example.com');
  });

  it('maskUrl: a URL that does not parse is masked up to its last @', () => {
    assert.equal(maskUrl('http://u:se/cr@et@[bad/'), 'http://u:***@[bad/');
    assert.equal(maskUserinfo('u:pw@host:1'), 'u:***@host:1');
    assert.equal(maskUserinfo('no credentials here'), 'no credentials here');
  });

  it('maskCredentialHeaders: authorization and proxy-authorization keep their scheme, in any case; others and the list itself are kept', () => {
    const plain = [['accept', '*/*'], ['x-token', 'abc']] as const;
    assert.equal(maskCredentialHeaders(plain), plain, 'no copy when nothing is masked');
    assert.deepEqual(
      maskCredentialHeaders([['accept', '*/*'], ['authorization', 'Bearer abc.def'], ['Proxy-Authorization', 'Basic dTpw'], ['authorization', 'opaque']]),
      [['accept', '*/*'], ['authorization', 'Bearer ***'], ['Proxy-Authorization', 'Basic ***'], ['authorization', '***']],
    );
  });
});
