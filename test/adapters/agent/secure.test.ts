// What ChainAgent reads from the options Node's HTTP client gives an agent: the scheme (Node does not
// always say), the origin, and the origin's TLS options; and the checks of the agent's own options.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isSecureEndpoint, originOf, originTlsOptions } from '../../../src/adapters/agent/secure.js';
import { ChainAgent, isBurrowError } from '../../../src/index.js';

describe('isSecureEndpoint', () => {
  it('takes secureEndpoint first, then protocol (https: and wss:), then the default agent https.request passes', () => {
    assert.equal(isSecureEndpoint({ secureEndpoint: false, protocol: 'https:' }), false);
    assert.equal(isSecureEndpoint({ protocol: 'https:' }), true);
    assert.equal(isSecureEndpoint({ protocol: 'wss:' }), true);
    assert.equal(isSecureEndpoint({ protocol: 'http:', _defaultAgent: { protocol: 'https:' } }), false);
    assert.equal(isSecureEndpoint({ _defaultAgent: { protocol: 'https:' } }), true);
    assert.equal(isSecureEndpoint({}), false);
  });
});

describe('originOf', () => {
  it('strips the brackets of an IPv6 literal and falls back on the default port', () => {
    assert.deepEqual(originOf({ host: '[::1]', port: '8443' }, true), { host: '::1', port: 8443 });
    assert.deepEqual(originOf({ hostname: 'example.test' }, true), { host: 'example.test', port: 443 });
    assert.deepEqual(originOf({ host: 'example.test', port: null, defaultPort: 8080 }, false), { host: 'example.test', port: 8080 });
  });
});

describe('originTlsOptions', () => {
  it("puts the request's options over the agent's, SNI from the host (none for an IP), ALPN http/1.1 only", () => {
    const o = originTlsOptions({ ca: 'REQ', rejectUnauthorized: false, ALPNProtocols: ['h2'] }, 'example.test', { ca: 'AGENT', minVersion: 'TLSv1.3' });
    assert.equal(o.ca, 'REQ');
    assert.equal(o.minVersion, 'TLSv1.3');
    assert.equal(o.rejectUnauthorized, false);
    assert.equal(o.servername, 'example.test');
    assert.deepEqual(o.ALPNProtocols, ['http/1.1']);
    assert.equal('servername' in originTlsOptions({}, '127.0.0.1', undefined), false);
    assert.equal(originTlsOptions({ servername: 'named.test' }, '127.0.0.1', undefined).servername, 'named.test');
  });
});

describe('ChainAgent options', () => {
  it('throws ERR_INVALID_OPTION for a bad proxy URL or option, from the constructor', () => {
    const invalid = (e: unknown): boolean => isBurrowError(e) && e.code === 'ERR_INVALID_OPTION';
    assert.throws(() => new ChainAgent({ via: ['ftp://proxy.test:21'] }), invalid);
    assert.throws(() => new ChainAgent({ connectTimeout: -1 }), invalid);
    assert.throws(() => new ChainAgent({ originTls: 'ca' as never }), invalid);
  });

  it("keeps burrow's options out of Node's agent options (Node merges those into every request)", () => {
    const agent = new ChainAgent({ via: ['http://proxy.test:3128'], keepAlive: true, originTls: { ca: 'CA' } });
    assert.equal(agent.options.keepAlive, true);
    assert.equal('via' in agent.options, false);
    assert.equal('originTls' in agent.options, false);
    agent.destroy();
  });
});
