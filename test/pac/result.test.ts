// What FindProxyForURL returns, parsed into routes: every keyword, ports, IPv6, order, garbage.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BurrowError } from '../../src/errors/errors.js';
import { parsePacResult } from '../../src/pac/result.js';

function urls(result: unknown): string[] {
  return parsePacResult(result, 'test').map((d) => (d.direct ? 'DIRECT' : d.url));
}

describe('PAC results', () => {
  it('maps every keyword, in order, with default ports', () => {
    assert.deepEqual(urls('PROXY a.test:3128; HTTPS b.test; SOCKS c.test; SOCKS4 d.test:1081; SOCKS5 e.test:1082; HTTP f.test; DIRECT'), [
      'http://a.test:3128', 'https://b.test:443', 'socks4://c.test:1080', 'socks4://d.test:1081', 'socks5h://e.test:1082', 'http://f.test:80', 'DIRECT',
    ]);
  });

  it('is case-insensitive, tolerant of spaces, drops duplicates and empty entries', () => {
    assert.deepEqual(urls('  proxy a.test:1 ;;  Proxy   a.test:1;direct ; DIRECT '), ['http://a.test:1', 'DIRECT']);
  });

  it('reads IPv4 and bracketed IPv6 addresses', () => {
    assert.deepEqual(urls('PROXY 10.0.0.1:8080; PROXY [2001:db8::1]:8080; SOCKS5 [::1]'), ['http://10.0.0.1:8080', 'http://[2001:db8::1]:8080', 'socks5h://[::1]:1080']);
  });

  it('skips directives it cannot read when others remain (unknown keywords, bad hosts and ports)', () => {
    assert.deepEqual(urls('QUIC q.test:443; PROXY bad_host!:1; PROXY a.test:99999; PROXY 2001:db8::1:80; PROXY a.test:8080 extra; PROXY ok.test:1'), ['http://ok.test:1']);
  });

  it('an empty answer means DIRECT', () => {
    assert.deepEqual(urls(''), ['DIRECT']);
    assert.deepEqual(urls('   '), ['DIRECT']);
  });

  it('garbage, or no usable directive: ERR_PAC_RESULT at stage pac', () => {
    for (const bad of ['garbage', 'PROXY', 'PROXY a b c', 'QUIC x:1']) {
      assert.throws(() => parsePacResult(bad, 'test'), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_PAC_RESULT' && e.stage === 'pac');
    }
  });

  it('a value that is not a string: ERR_PAC_RESULT naming its type', () => {
    for (const [v, type] of [[42, 'number'], [null, 'null'], [undefined, 'undefined'], [true, 'boolean'], [{}, 'object']] as const) {
      assert.throws(() => parsePacResult(v, 'test'), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_PAC_RESULT' && e.details['type'] === type);
    }
  });

  it('a huge answer: ERR_PAC_RESULT', () => {
    assert.throws(() => parsePacResult('DIRECT;'.repeat(20_000), 'test'), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_PAC_RESULT');
  });
});

describe('PAC results: regressions found by the fuzzer', () => {
  it('a directive whose host the URL parser refuses (y127.0.0.1) is unreadable, not a route that cannot be parsed later', () => {
    assert.throws(() => parsePacResult('HTTPS y127.0.0.1', 'x.pac'), (e: unknown) => e instanceof BurrowError && e.code === 'ERR_PAC_RESULT');
    assert.deepEqual(
      parsePacResult('PROXY y127.0.0.1:8080; PROXY good.example:3128', 'x.pac').map((d) => (d.direct ? 'DIRECT' : d.url)),
      ['http://good.example:3128'],
    );
  });
});
