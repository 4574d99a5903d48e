// Connection.detach: an open raw tunnel's duplex handed to the caller (what ChainAgent gives Node's
// HTTP client). Connection-wide tunnels (HTTP/1.1 CONNECT, SOCKS5) end the connection without closing
// the duplex; a tunnel on an HTTP/2 stream leaves the connection running; the ref's last message says it
// was detached; what cannot be detached throws; destroying the duplex closes every socket under it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { isBurrowError, open, type Connection, type ConnectDestination } from '../../src/index.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startConnectProxy, type TestConnectProxy } from '../../src/testing/connect-proxy.js';
import { startH2ConnectProxy, type TestH2ConnectProxy } from '../../src/testing/h2-proxy.js';
import { startSocks5Server, type TestSocks5Server } from '../../src/testing/socks5-server.js';
import { startEchoServer, type TestEchoServer } from '../../src/testing/echo-server.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { expectResponse, expectUp, readBytes } from '../conformance/harness.js';

/** Writes `text` on `d` and reads as many bytes back. */
function echo(d: Duplex, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (c: Buffer): void => {
      got += c.toString();
      if (got.length >= text.length) {
        d.removeListener('data', onData);
        d.pause();
        resolve(got);
      }
    };
    d.on('data', onData);
    // A detached duplex comes paused.
    d.resume();
    d.once('error', reject);
    d.write(text);
  });
}

function closed(conn: Connection): Promise<unknown> {
  return new Promise((resolve) => conn.once('close', resolve));
}

describe('Connection.detach', () => {
  let pki: TestPki;
  let echoTcp: TestEchoServer;
  let connectTls: TestConnectProxy;
  let h2Proxy: TestH2ConnectProxy;
  let socksTls: TestSocks5Server;
  let baseline: string[];
  before(async () => {
    pki = createTestPki();
    [echoTcp, connectTls, h2Proxy, socksTls] = await Promise.all([
      startEchoServer({ transport: 'tcp' }),
      startConnectProxy({ transport: 'tls', pki }),
      startH2ConnectProxy({ transport: 'tls', pki }),
      startSocks5Server({ transport: 'tls', pki }),
    ]);
    baseline = resourceSnapshot();
  });
  after(async () => {
    await Promise.all([echoTcp, connectTls, h2Proxy, socksTls].map((s) => s.close()));
  });

  const rawEcho = (): ConnectDestination => ({ host: '127.0.0.1', port: echoTcp.port, protocols: ['raw'] });

  it('hands over an HTTP/1.1 CONNECT tunnel inside TLS inside TLS: the connection closes (null), the duplex goes on, destroying it closes every socket under it', async () => {
    const conn = open({ host: 'localhost', port: connectTls.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'], retry: 0 });
    const outer = conn.connect({ host: 'localhost', port: connectTls.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'] });
    await expectResponse(conn, outer, 200, true);
    await expectUp(conn, outer, 'http');
    const ref = conn.connect(rawEcho(), {}, { tunnel: outer });
    await expectResponse(conn, ref, 200, true);
    await expectUp(conn, ref, 'raw');
    const whenClosed = closed(conn);
    const duplex = conn.detach(ref);
    assert.equal(await whenClosed, null);
    const last = await conn.await(ref);
    assert.ok(last.type === 'error' && last.error.code === 'ERR_TUNNEL_CLOSED');
    assert.deepEqual(last.error.details, { detached: true });
    assert.equal(await echo(duplex, 'through the detached tunnel'), 'through the detached tunnel');
    duplex.destroy();
    await assertNoLeaks(baseline);
  });

  it('hands over a SOCKS5-over-TLS tunnel to a raw destination (the connection own raw stream)', async () => {
    const conn = open({ host: 'localhost', port: socksTls.port, transport: 'tls', tls: { ca: pki.ca }, protocols: [{ socks: { host: '127.0.0.1', port: echoTcp.port, protocols: ['raw'] } }], retry: 0 });
    assert.equal(await conn.awaitUp(5000), 'raw');
    const duplex = conn.detach(conn.ref);
    assert.equal(await echo(duplex, 'socks'), 'socks');
    duplex.destroy();
    await assertNoLeaks(baseline);
  });

  it('hands over a tunnel on an HTTP/2 stream: the connection goes on and opens another tunnel', async () => {
    const conn = open({ host: 'localhost', port: h2Proxy.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http2'], retry: 0 });
    const a = conn.connect(rawEcho());
    await expectResponse(conn, a, 200, true);
    await expectUp(conn, a, 'raw');
    const duplex = conn.detach(a);
    assert.equal(conn.info().state, 'up');
    assert.equal(await echo(duplex, 'stream-wide'), 'stream-wide');
    const b = conn.connect(rawEcho());
    await expectResponse(conn, b, 200, true);
    await expectUp(conn, b, 'raw');
    await conn.data(b, false, 'still here');
    assert.equal((await readBytes(conn, b, 10)).toString(), 'still here');
    duplex.destroy();
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('throws ERR_NOT_A_TUNNEL for a ref that is no open raw tunnel, ERR_BAD_STATE once bytes were delivered', async () => {
    const conn = open({ host: 'localhost', port: connectTls.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'], retry: 0 });
    await conn.awaitUp(5000);
    assert.throws(() => conn.detach(conn.ref), (e: unknown) => isBurrowError(e) && e.code === 'ERR_NOT_A_TUNNEL');
    const ref = conn.connect(rawEcho());
    await expectResponse(conn, ref, 200, true);
    await expectUp(conn, ref, 'raw');
    await conn.data(ref, false, 'read by burrow');
    assert.equal((await readBytes(conn, ref, 14)).toString(), 'read by burrow');
    assert.throws(() => conn.detach(ref), (e: unknown) => isBurrowError(e) && e.code === 'ERR_BAD_STATE');
    await conn.close();
    assert.throws(() => conn.detach(ref), (e: unknown) => isBurrowError(e) && e.code === 'ERR_NOT_A_TUNNEL');
    await assertNoLeaks(baseline);
  });
});
