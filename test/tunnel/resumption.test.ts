// TLS session resumption works directly and through tunnels (a Node regression of exactly this
// was reported for 22.23.1; this test catches it on whichever Node version has it).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { open, type Connection, type StreamRef } from '../../src/index.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';

async function tunnelUp(conn: Connection, ref: StreamRef): Promise<void> {
  for (;;) {
    const m = await conn.await(ref);
    if (m.type === 'up') return;
    if (m.type === 'error') throw m.error;
  }
}

describe('TLS session resumption', () => {
  let pki: TestPki;
  let origin: TestOrigin;
  let proxy: TestConnectProxy;
  before(async () => {
    pki = createTestPki();
    origin = await startOrigin({ protocol: 'http', transport: 'tls', pki });
    proxy = await startConnectProxy({ transport: 'tls', pki });
  });
  after(async () => {
    await origin.close();
    await proxy.close();
  });

  it('a second connection to the same endpoint resumes the session', async () => {
    const results: boolean[] = [];
    for (let i = 0; i < 2; i++) {
      const conn = open({ host: 'localhost', port: origin.port, transport: 'tls', tls: { ca: pki.ca }, retry: 0 });
      await conn.awaitBody(conn.get('/'));
      results.push(conn.info().tls?.resumed ?? false);
      await conn.close();
    }
    assert.deepEqual(results, [false, true]);
  });

  it('the inner TLS session of TLS in TLS resumes through a tunnel', async () => {
    const resumed: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      const conn = open({ host: 'localhost', port: proxy.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'], retry: 0 });
      const t = conn.connect({ host: 'localhost', port: origin.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'] });
      await tunnelUp(conn, t);
      await conn.awaitBody(conn.get('/', {}, { tunnel: t }));
      // After a conn-wide CONNECT, info() describes the origin reached through the tunnel.
      const info = conn.info();
      assert.equal(info.origin.port, origin.port);
      resumed.push(info.tls?.resumed ?? false);
      await conn.close();
    }
    assert.equal(resumed[2], true, `resumed: ${JSON.stringify(resumed)}`);
  });
});
