// Body framing alone (src/protocols/http1/codec/framing.ts): RFC 9112 §6.3 and keep-alive.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { isBurrowError } from '../../../../src/errors/errors.js';
import { connectionKeepAlive, finalCodingIsChunked, parseContentLength, responseFraming } from '../../../../src/protocols/http1/codec/framing.js';

describe('response framing', () => {
  it('content-length, chunked, close-delimited and none', () => {
    assert.deepEqual(responseFraming(200, '1.1', [['content-length', '5']], false), { body: 'length', contentLength: 5, keepAlive: true });
    assert.deepEqual(responseFraming(200, '1.1', [['transfer-encoding', 'gzip, chunked']], false), { body: 'chunked', contentLength: undefined, keepAlive: true });
    assert.deepEqual(responseFraming(200, '1.1', [], false), { body: 'close', contentLength: undefined, keepAlive: false });
    assert.deepEqual(responseFraming(200, '1.1', [['content-length', '5']], true), { body: 'none', contentLength: undefined, keepAlive: true });
    assert.deepEqual(responseFraming(204, '1.1', [], false), { body: 'none', contentLength: undefined, keepAlive: true });
    assert.deepEqual(responseFraming(304, '1.1', [['content-length', '9']], false), { body: 'none', contentLength: undefined, keepAlive: true });
  });

  it('transfer-encoding wins over content-length and closes the connection after (RFC 9112 §6.1)', () => {
    assert.deepEqual(responseFraming(200, '1.1', [['content-length', '5'], ['transfer-encoding', 'chunked']], false), { body: 'chunked', contentLength: undefined, keepAlive: false });
    assert.deepEqual(responseFraming(200, '1.0', [['transfer-encoding', 'chunked'], ['connection', 'keep-alive']], false), { body: 'chunked', contentLength: undefined, keepAlive: false });
    assert.deepEqual(responseFraming(200, '1.1', [['transfer-encoding', 'chunked, gzip']], false), { body: 'close', contentLength: undefined, keepAlive: false });
  });

  it('HTTP/1.0 closes unless keep-alive; connection: close closes HTTP/1.1', () => {
    assert.equal(responseFraming(200, '1.0', [['content-length', '0']], false).keepAlive, false);
    assert.equal(responseFraming(200, '1.0', [['content-length', '0'], ['connection', 'Keep-Alive']], false).keepAlive, true);
    assert.equal(responseFraming(200, '1.1', [['content-length', '0'], ['connection', 'upgrade, close']], false).keepAlive, false);
  });

  it('content-length: repeated equal values are one; different or malformed ones are errors', () => {
    assert.equal(parseContentLength('42'), 42);
    assert.equal(parseContentLength(' 42 , 42'), 42);
    assert.throws(() => parseContentLength('42, 43'), (e: unknown) => isBurrowError(e, 'ERR_CONFLICTING_CONTENT_LENGTH'));
    for (const v of ['', '-1', '4 2', '0x10', '1e3', '99999999999999999999']) {
      assert.throws(() => parseContentLength(v), (e: unknown) => isBurrowError(e, 'ERR_HTTP_PARSE'), JSON.stringify(v));
    }
    assert.throws(() => responseFraming(200, '1.1', [['content-length', '5'], ['content-length', '6']], false), (e: unknown) => isBurrowError(e, 'ERR_CONFLICTING_CONTENT_LENGTH'));
  });

  it('connection tokens and the final transfer coding', () => {
    assert.equal(connectionKeepAlive('close', true), false);
    assert.equal(connectionKeepAlive('TE, keep-alive', false), true);
    assert.equal(connectionKeepAlive('TE', true), true);
    assert.equal(finalCodingIsChunked('gzip,chunked'), true);
    assert.equal(finalCodingIsChunked('chunked, '), true);
    assert.equal(finalCodingIsChunked('chunked, identity'), false);
  });
});
