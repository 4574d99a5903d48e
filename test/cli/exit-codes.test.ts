// The mapping from failures to exit codes, and how errors are worded.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BurrowError, type ErrorCode, type ErrorStage } from '../../src/errors/errors.js';
import { describeError, EXIT, exitCodeFor } from '../../src/cli/exit-codes.js';
import { relabelHop } from '../../src/cli/run.js';
import type { HopDesc } from '../../src/cli/route-trace.js';

function err(code: ErrorCode, stage: ErrorStage): BurrowError {
  return new BurrowError(code, 'x', { stage, hop: { index: 1, kind: 'socks5', host: 'h', port: 1080, transport: 'tcp' } });
}

describe('burrow exit codes', () => {
  it('one code per failure class, curl numbers', () => {
    const cases: Array<[ErrorCode, ErrorStage, number]> = [
      ['ERR_INVALID_OPTION', 'options', 2],
      ['ERR_DNS', 'dns', 6],
      ['ERR_LOOKUP_TIMEOUT', 'timeout', 28],
      ['ERR_CONNECT', 'tcp', 7],
      ['ERR_CONNECTION_CLOSED', 'tcp', 7],
      ['ERR_CONNECT_TIMEOUT', 'timeout', 28],
      ['ERR_TLS', 'tls', 35],
      ['ERR_ALPN', 'tls', 35],
      ['ERR_TLS_HANDSHAKE_TIMEOUT', 'timeout', 28],
      ['ERR_CONNECT_STATUS', 'connect-response', 56],
      ['ERR_CONNECT_RESPONSE_TIMEOUT', 'timeout', 28],
      ['ERR_SOCKS_REPLY', 'socks-reply', 97],
      ['ERR_SOCKS_AUTH', 'socks-auth', 97],
      ['ERR_SOCKS_NO_ACCEPTABLE_METHOD', 'socks-auth', 97],
      ['ERR_SOCKS_PROTOCOL', 'socks-reply', 97],
      ['ERR_SOCKS_TIMEOUT', 'timeout', 28],
      ['ERR_REQUEST_TIMEOUT', 'timeout', 28],
      ['ERR_HEADERS_TIMEOUT', 'timeout', 28],
      ['ERR_HTTP2', 'http', 1],
      ['ERR_STREAM_RESET', 'http', 1],
    ];
    for (const [code, stage, exit] of cases) assert.equal(exitCodeFor(err(code, stage)), exit, code);
    assert.equal(exitCodeFor(new Error('boom')), EXIT.OTHER);
  });

  it('messages keep the hop prefix and add the stage and the code', () => {
    assert.equal(describeError(err('ERR_SOCKS_REPLY', 'socks-reply')), 'hop 1 (socks5 tcp://h:1080): x [stage socks-reply] (ERR_SOCKS_REPLY)');
    const noHop = new BurrowError('ERR_REQUEST_TIMEOUT', 'late', { stage: 'timeout' });
    assert.equal(describeError(noHop, 'request to http://o/'), 'request to http://o/: late [stage timeout] (ERR_REQUEST_TIMEOUT)');
  });

  it('a first hop the connection API calls "origin" is named as the route says', () => {
    const route: HopDesc[] = [
      { index: 0, kind: 'connect', scheme: 'h2', host: 'p', port: 443, transport: 'tls', url: 'h2://p:443' },
      { index: 1, kind: 'origin', scheme: 'https', host: 'o', port: 443, transport: 'tls', url: 'https://o' },
    ];
    const e = new BurrowError('ERR_TLS', 'TLS handshake with p failed', { stage: 'tls', hop: { index: 0, kind: 'origin', host: 'p', port: 443, transport: 'tls' } });
    const fixed = relabelHop(e, route);
    assert.ok(fixed instanceof BurrowError);
    assert.equal(fixed.message, 'hop 0 (connect tls://p:443): TLS handshake with p failed');
    assert.equal(fixed.hop?.kind, 'connect');
    assert.equal(fixed.code, 'ERR_TLS');
    // Right already: unchanged.
    const right = new BurrowError('ERR_TLS', 'y', { stage: 'tls', hop: { index: 1, kind: 'origin', host: 'o', port: 443, transport: 'tls' } });
    assert.equal(relabelHop(right, route), right);
  });
});
