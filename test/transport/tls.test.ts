// The TLS transport: certificate verification (on by default), names and SNI,
// client certificates, ALPN, handshake timeouts and non-TLS peers. Every
// failure is a typed error for hop 0 and leaves nothing behind.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type * as net from 'node:net';
import * as tls from 'node:tls';
import { open, isBurrowError, type BurrowError, type Connection, type OpenOptions } from '../../src/index.js';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';
import { startOrigin, type TestOrigin } from '../../src/testing/origin.js';
import { startScriptedServer, type ScriptedConnection, type ScriptedServer } from '../../src/testing/scripted.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

function tlsConn(port: number, extra: Partial<OpenOptions> = {}): Connection {
  return open({ host: '127.0.0.1', port, transport: 'tls', retry: 0, ...extra });
}

/** A lookup resolving every name to 127.0.0.1 (so names can be tested on loopback). */
const toLoopback = async (): Promise<Array<{ address: string; family: 4 }>> => [{ address: '127.0.0.1', family: 4 }];

/** Waits for the connection (retry: 0) to give up; `close` carries the same error as `awaitUp`. */
async function failure(conn: Connection): Promise<BurrowError> {
  const closed = new Promise<BurrowError | null>((resolve) => conn.once('close', resolve));
  const err: unknown = await conn.awaitUp().then(
    () => assert.fail(`the connection came up (${JSON.stringify(conn.info().tls)})`),
    (e: unknown) => e,
  );
  assert.ok(isBurrowError(err), `expected a BurrowError, got ${String(err)}`);
  assert.equal(await closed, err);
  return err;
}

function causeCode(e: BurrowError): string | undefined {
  return (e.cause as NodeJS.ErrnoException | undefined)?.code;
}

function tlsHop(port: number, host = '127.0.0.1'): object {
  return { index: 0, kind: 'origin', host, port, transport: 'tls' };
}

/** A scripted server that answers one HTTP/1.1 request per connection with 200 `ok`. */
async function okServer(opts: { pki: TestPki; alpn?: readonly string[]; requestCert?: boolean }): Promise<ScriptedServer> {
  return startScriptedServer({
    transport: 'tls',
    ...opts,
    onConnection: async (c: ScriptedConnection) => {
      await c.readRequestHead();
      await c.write(OK);
    },
  });
}

describe('TLS: certificate verification', () => {
  let pki: TestPki;
  let otherPki: TestPki;
  let origin: TestOrigin;
  before(async () => {
    pki = createTestPki();
    otherPki = createTestPki();
    origin = await startOrigin({ protocol: 'http', transport: 'tls', pki });
  });
  after(async () => {
    await origin.close();
  });

  it('is on by default: without a ca the test certificate is rejected with ERR_TLS', async (t) => {
    const baseline = resourceSnapshot();
    const requestsBefore = origin.requests.length;
    const conn = tlsConn(origin.port);
    t.after(() => conn.close());
    const ref = conn.get('/');
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_TLS');
    assert.equal(err.stage, 'tls');
    assert.deepEqual(err.hop, tlsHop(origin.port));
    assert.match(causeCode(err) ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT/);
    assert.ok(err.message.startsWith(`hop 0 (origin tls://127.0.0.1:${origin.port}): `), err.message);
    // The pending request fails with the same error and nothing reached the server.
    const m = await conn.await(ref);
    assert.ok(m.type === 'error' && m.error === err);
    assert.equal(origin.requests.length, requestsBefore);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('accepts the server with the right ca, and info().tls reports version, cipher and ALPN', async (t) => {
    const conn = tlsConn(origin.port, { tls: { ca: pki.ca } });
    t.after(() => conn.close());
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
    const info = conn.info();
    assert.equal(info.transport, 'tls');
    assert.deepEqual(info.origin, { scheme: 'https', host: '127.0.0.1', port: origin.port });
    assert.equal(info.protocol, 'http');
    assert.equal(info.tls?.version, 'TLSv1.3');
    assert.match(info.tls?.cipher ?? '', /^TLS_(AES|CHACHA20)_/);
    assert.equal(info.tls?.alpn, 'http/1.1');
    await conn.close();
  });

  it('info().tls reports TLS 1.2 and its cipher when maxVersion limits it', async (t) => {
    const conn = tlsConn(origin.port, { tls: { ca: pki.ca, maxVersion: 'TLSv1.2' } });
    t.after(() => conn.close());
    await conn.awaitUp();
    const negotiated = conn.info().tls;
    assert.equal(negotiated?.version, 'TLSv1.2');
    assert.match(negotiated?.cipher ?? '', /^ECDHE-ECDSA-/);
    await conn.close();
  });

  it('info().tls is undefined on a tcp connection and before a TLS connection is up', async (t) => {
    const lookup = (): Promise<never> => new Promise(() => undefined);
    const conn = open({ host: 'pending.test', port: 443, lookup, retry: 0 });
    t.after(() => conn.close());
    assert.equal(conn.info().tls, undefined);
    await conn.close();
  });

  it('verifies a host name given as host (resolved through lookup)', async (t) => {
    const conn = open({ host: 'localhost', port: origin.port, transport: 'tls', retry: 0, lookup: toLoopback, tls: { ca: pki.ca } });
    t.after(() => conn.close());
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
    await conn.close();
  });

  it('rejects a name that is not in the certificate (tls.servername) with ERR_TLS', async (t) => {
    const baseline = resourceSnapshot();
    const conn = tlsConn(origin.port, { tls: { ca: pki.ca, servername: 'not-in-cert.test' } });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_TLS');
    assert.equal(err.stage, 'tls');
    assert.equal(causeCode(err), 'ERR_TLS_CERT_ALTNAME_INVALID');
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('rejects a host name that is not in the certificate with ERR_TLS', async (t) => {
    const baseline = resourceSnapshot();
    const conn = open({ host: 'wrong-name.test', port: origin.port, transport: 'tls', retry: 0, lookup: toLoopback, tls: { ca: pki.ca } });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_TLS');
    assert.deepEqual(err.hop, tlsHop(origin.port, 'wrong-name.test'));
    assert.equal(causeCode(err), 'ERR_TLS_CERT_ALTNAME_INVALID');
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('rejects a certificate from an unrelated CA with ERR_TLS', async (t) => {
    const baseline = resourceSnapshot();
    const conn = tlsConn(origin.port, { tls: { ca: otherPki.ca } });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_TLS');
    assert.equal(err.stage, 'tls');
    assert.match(causeCode(err) ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('rejectUnauthorized: false accepts an untrusted certificate (no ca, or the wrong one)', async (t) => {
    for (const options of [{ rejectUnauthorized: false }, { rejectUnauthorized: false, ca: otherPki.ca, servername: 'not-in-cert.test' }]) {
      const conn = tlsConn(origin.port, { tls: options });
      t.after(() => conn.close());
      assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
      await conn.close();
    }
  });

  it('a session made without verification is never resumed by a connection that verifies', async (t) => {
    const baseline = resourceSnapshot();
    const resumed: boolean[] = [];
    for (let i = 0; i < 2; i++) {
      const conn = tlsConn(origin.port, { tls: { rejectUnauthorized: false } });
      t.after(() => conn.close());
      assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
      resumed.push(conn.info().tls?.resumed === true);
      await conn.close();
    }
    // Whether or not sessions are resumed here, verification must not be skipped.
    if (!resumed[1]) t.diagnostic('the session was not resumed: the check below is weaker');
    const verifying = tlsConn(origin.port);
    t.after(() => verifying.close());
    const err = await failure(verifying);
    assert.equal(err.code, 'ERR_TLS');
    assert.equal(verifying.info().tls, undefined);
    await verifying.close();
    await assertNoLeaks(baseline);
  });

  it('the trusted CAs are those of the options when the connection is made (changed options are not served from a cache)', async (t) => {
    const options: { ca: string } = { ca: otherPki.ca };
    const first = tlsConn(origin.port, { tls: options });
    t.after(() => first.close());
    await assert.rejects(first.awaitUp(), (e: unknown) => isBurrowError(e, 'ERR_TLS'));
    options.ca = pki.ca;
    const second = tlsConn(origin.port, { tls: options });
    t.after(() => second.close());
    assert.equal(await second.awaitUp(), 'http');
    await first.close();
    await second.close();
  });

  it('each connection uses its own tls options: a failing ca does not affect another connection', async (t) => {
    const bad = tlsConn(origin.port, { tls: { ca: otherPki.ca } });
    t.after(() => bad.close());
    const good = tlsConn(origin.port, { tls: { ca: pki.ca } });
    t.after(() => good.close());
    const [b, g] = await Promise.allSettled([bad.awaitUp(), good.awaitUp()]);
    assert.ok(b.status === 'rejected' && isBurrowError(b.reason, 'ERR_TLS'));
    assert.ok(g.status === 'fulfilled');
    await bad.close();
    await good.close();
  });
});

describe('TLS: SNI', () => {
  let pki: TestPki;
  let srv: ScriptedServer;
  const seen: Array<string | false | null> = [];
  before(async () => {
    pki = createTestPki();
    srv = await startScriptedServer({
      transport: 'tls',
      pki,
      onConnection: async (c) => {
        seen.push((c.socket as tls.TLSSocket).servername);
        await c.readRequestHead();
        await c.write(OK);
      },
    });
  });
  after(async () => {
    await srv.close();
  });

  async function sniFor(options: OpenOptions): Promise<string | false | null | undefined> {
    const n = seen.length;
    const conn = open(options);
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'ok');
    await conn.close();
    assert.equal(seen.length, n + 1);
    return seen[n];
  }

  it('sends the host name as SNI', async () => {
    assert.equal(await sniFor({ host: 'localhost', port: srv.port, transport: 'tls', retry: 0, lookup: toLoopback, tls: { ca: pki.ca } }), 'localhost');
  });

  it('sends no SNI for an IP address', async () => {
    const sni = await sniFor({ host: '127.0.0.1', port: srv.port, transport: 'tls', retry: 0, tls: { ca: pki.ca } });
    assert.ok(sni === false || sni === undefined || sni === null, `SNI sent for an IP: ${String(sni)}`);
  });

  it('tls.servername overrides the SNI (and is the name verified)', async () => {
    assert.equal(await sniFor({ host: '127.0.0.1', port: srv.port, transport: 'tls', retry: 0, tls: { ca: pki.ca, servername: 'localhost' } }), 'localhost');
  });
});

describe('TLS: client certificates', () => {
  let pki: TestPki;
  let otherPki: TestPki;
  let srv: ScriptedServer;
  before(async () => {
    pki = createTestPki();
    otherPki = createTestPki();
    srv = await okServer({ pki, requestCert: true });
  });
  after(async () => {
    await srv.close();
  });

  it('works with tls.cert and tls.key', async (t) => {
    const conn = tlsConn(srv.port, { tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key } });
    t.after(() => conn.close());
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'ok');
    assert.equal(srv.connections.at(-1)?.received.toString('latin1').startsWith('GET / HTTP/1.1\r\n'), true);
    await conn.close();
  });

  it('a session made with a client certificate is not resumed by a connection without one', async (t) => {
    for (let i = 0; i < 2; i++) {
      const conn = tlsConn(srv.port, { tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key } });
      t.after(() => conn.close());
      assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'ok');
      if (i === 1 && conn.info().tls?.resumed !== true) t.diagnostic('the session was not resumed: the check below is weaker');
      await conn.close();
    }
    const anonymous = tlsConn(srv.port, { tls: { ca: pki.ca } });
    t.after(() => anonymous.close());
    const m = await anonymous.await(anonymous.get('/'));
    assert.ok(m.type === 'error', `a request without a client certificate got ${m.type}`);
  });

  it('TLS 1.2: fails the handshake with ERR_TLS without a client certificate', async (t) => {
    const baseline = resourceSnapshot();
    const conn = tlsConn(srv.port, { tls: { ca: pki.ca, maxVersion: 'TLSv1.2' } });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_TLS');
    assert.equal(err.stage, 'tls');
    assert.match(causeCode(err) ?? '', /^ERR_SSL_/);
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('TLS 1.3: the request fails and the connection ends with the certificate_required alert, without a client certificate', async (t) => {
    // In TLS 1.3 the client finishes its handshake before the server checks
    // the client certificate: the rejection arrives as an alert afterwards.
    const baseline = resourceSnapshot();
    const conn = tlsConn(srv.port, { tls: { ca: pki.ca } });
    t.after(() => conn.close());
    const closed = new Promise<BurrowError | null>((resolve) => conn.once('close', resolve));
    const ref = conn.get('/');
    const m = await conn.await(ref);
    assert.ok(m.type === 'error', `expected an error message, got ${m.type}`);
    const closeErr = await closed;
    assert.ok(closeErr !== null && isBurrowError(closeErr));
    for (const e of [m.error, closeErr]) {
      assert.ok(e.code === 'ERR_TLS' || e.code === 'ERR_CONNECTION_CLOSED', e.code);
      assert.equal(causeCode(e), 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', e.message);
    }
    assert.equal(conn.state, 'closed');
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('fails with a client certificate from an unrelated CA', async (t) => {
    const baseline = resourceSnapshot();
    const conn = tlsConn(srv.port, { tls: { ca: pki.ca, cert: otherPki.client.cert, key: otherPki.client.key, maxVersion: 'TLSv1.2' } });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_TLS');
    await conn.close();
    await assertNoLeaks(baseline);
  });

  it('invalid key material is an ERR_TLS, not a crash', async (t) => {
    const baseline = resourceSnapshot();
    const conn = tlsConn(srv.port, { tls: { ca: pki.ca, cert: pki.client.cert, key: 'not a key' } });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_TLS');
    assert.equal(err.stage, 'tls');
    await conn.close();
    await assertNoLeaks(baseline);
  });
});

describe('TLS: ALPN', () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });

  it('a server offering only http/1.1 gives http, alpn http/1.1', async (t) => {
    const srv = await okServer({ pki, alpn: ['http/1.1'] });
    t.after(() => srv.close());
    const conn = tlsConn(srv.port, { tls: { ca: pki.ca } });
    t.after(() => conn.close());
    assert.equal(await conn.awaitUp(), 'http');
    assert.equal(conn.info().tls?.alpn, 'http/1.1');
    assert.equal(conn.info().protocol, 'http');
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'ok');
    await conn.close();
    await srv.close();
  });

  it('a server offering h2 gives http2, alpn h2, and requests go over HTTP/2', async (t) => {
    const origin = await startOrigin({ protocol: 'http2', transport: 'tls', pki });
    t.after(() => origin.close());
    const conn = tlsConn(origin.port, { tls: { ca: pki.ca } });
    t.after(() => conn.close());
    assert.equal(await conn.awaitUp(), 'http2');
    assert.equal(conn.info().tls?.alpn, 'h2');
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
    assert.equal(origin.requests[0]?.httpVersion, '2.0');
    assert.equal(origin.requests[0]?.alpn, 'h2');
    await conn.close();
    await origin.close();
  });

  it("a server offering h2 and http/1.1 gives http when the client offers only ['http']", async (t) => {
    const origin = await startOrigin({ protocol: 'http2', transport: 'tls', pki });
    t.after(() => origin.close());
    const conn = tlsConn(origin.port, { tls: { ca: pki.ca }, protocols: ['http'] });
    t.after(() => conn.close());
    assert.equal(await conn.awaitUp(), 'http');
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'hello');
    assert.equal(origin.requests[0]?.httpVersion, '1.1');
    await conn.close();
    await origin.close();
  });

  it('offers the protocols in the configured order', async (t) => {
    const offers: string[][] = [];
    const sockets = new Set<net.Socket>();
    const server = tls.createServer(
      {
        key: pki.server.key,
        cert: pki.server.cert,
        ALPNCallback: ({ protocols }) => {
          offers.push(protocols);
          return protocols.includes('http/1.1') ? 'http/1.1' : undefined;
        },
      },
      (s) => {
        s.on('error', () => undefined);
        s.once('data', () => s.write(OK));
      },
    );
    server.on('connection', (s: net.Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    try {
      for (const protocols of [undefined, ['http', 'http2'], ['http2'], ['http']] as const) {
        const conn = tlsConn(port, { tls: { ca: pki.ca }, ...(protocols ? { protocols } : {}) });
        t.after(() => conn.close());
        // Only the offer matters here, not what comes of it.
        await conn.awaitUp().catch(() => undefined);
        await conn.close();
      }
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    assert.deepEqual(offers, [['h2', 'http/1.1'], ['http/1.1', 'h2'], ['h2'], ['http/1.1']]);
  });

  it("a server without ALPN gives http2 when protocols is ['http2'] (the only one offered)", async (t) => {
    let prefaceSeen!: (b: Buffer) => void;
    const preface = new Promise<Buffer>((resolve) => {
      prefaceSeen = resolve;
    });
    const srv = await startScriptedServer({
      transport: 'tls',
      pki,
      onConnection: async (c) => {
        prefaceSeen(await c.readExactly(H2_PREFACE.length));
      },
    });
    t.after(() => srv.close());
    const conn = tlsConn(srv.port, { tls: { ca: pki.ca }, protocols: ['http2'] });
    t.after(() => conn.close());
    assert.equal(await conn.awaitUp(), 'http2');
    assert.equal(conn.info().tls?.alpn, false);
    assert.equal(conn.info().protocol, 'http2');
    assert.equal((await preface).toString('latin1'), H2_PREFACE);
    await conn.close();
    await srv.close();
  });

  it('a server without ALPN gives http with the default protocol list', async (t) => {
    const srv = await okServer({ pki });
    t.after(() => srv.close());
    const conn = tlsConn(srv.port, { tls: { ca: pki.ca } });
    t.after(() => conn.close());
    assert.equal(await conn.awaitUp(), 'http');
    assert.equal(conn.info().tls?.alpn, false);
    assert.equal((await conn.awaitBody(conn.get('/'))).body.toString(), 'ok');
    await conn.close();
    await srv.close();
  });

  it('no common ALPN protocol fails the connection with a typed TLS error', async (t) => {
    const baseline = resourceSnapshot();
    const srv = await okServer({ pki, alpn: ['http/1.1'] });
    t.after(() => srv.close());
    const conn = tlsConn(srv.port, { tls: { ca: pki.ca }, protocols: ['http2'] });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.ok(err.code === 'ERR_TLS' || err.code === 'ERR_ALPN', err.code);
    assert.equal(err.stage, 'tls');
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });
});

describe('TLS: peers that do not complete a handshake', () => {
  it('a server that accepts TCP but never answers the ClientHello: ERR_TLS_HANDSHAKE_TIMEOUT', async (t) => {
    const baseline = resourceSnapshot();
    let gotHello!: (b: Buffer) => void;
    const hello = new Promise<Buffer>((resolve) => {
      gotHello = resolve;
    });
    const srv = await startScriptedServer({
      onConnection: async (c) => {
        gotHello(await c.readExactly(5));
      },
    });
    t.after(() => srv.close());
    const conn = tlsConn(srv.port, { tlsHandshakeTimeout: 100 });
    t.after(() => conn.close());
    const started = performance.now();
    const err = await failure(conn);
    const elapsed = performance.now() - started;
    assert.equal(err.code, 'ERR_TLS_HANDSHAKE_TIMEOUT');
    assert.equal(err.stage, 'timeout');
    assert.deepEqual(err.hop, tlsHop(srv.port));
    assert.equal(err.details['timeoutMs'], 100);
    // Not at once (libuv arms timers from its cached loop time, so allow for some skew).
    assert.ok(elapsed >= 50, `timed out after ${elapsed} ms`);
    // What reached the server was a TLS handshake record (a ClientHello).
    const head = await hello;
    assert.equal(head[0], 0x16);
    await conn.close();
    // The client closed its socket: the server sees its side end.
    await srv.connections[0]?.readToEnd();
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it('a plain TCP server answering garbage to the ClientHello: ERR_TLS at once, no hang', async (t) => {
    const baseline = resourceSnapshot();
    const srv = await startScriptedServer({
      onConnection: async (c) => {
        await c.readExactly(1);
        await c.write('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n');
      },
    });
    t.after(() => srv.close());
    const conn = tlsConn(srv.port, { tlsHandshakeTimeout: 60_000 });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_TLS');
    assert.equal(err.stage, 'tls');
    assert.deepEqual(err.hop, tlsHop(srv.port));
    assert.match(causeCode(err) ?? '', /^ERR_SSL_/);
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it('a server that closes the connection on the ClientHello: ERR_TLS, no hang', async (t) => {
    const baseline = resourceSnapshot();
    const srv = await startScriptedServer({
      onConnection: async (c) => {
        await c.readExactly(1);
        c.end();
      },
    });
    t.after(() => srv.close());
    const conn = tlsConn(srv.port, { tlsHandshakeTimeout: 60_000 });
    t.after(() => conn.close());
    const err = await failure(conn);
    assert.equal(err.code, 'ERR_TLS');
    assert.equal(err.stage, 'tls');
    await conn.close();
    await srv.close();
    await assertNoLeaks(baseline);
  });

  it('close() during a stalled handshake ends it with ERR_CLOSED and clears the handshake timer', async (t) => {
    const baseline = resourceSnapshot();
    let gotHello!: () => void;
    const hello = new Promise<void>((resolve) => {
      gotHello = resolve;
    });
    const srv = await startScriptedServer({
      onConnection: async (c) => {
        await c.readExactly(1);
        gotHello();
      },
    });
    t.after(() => srv.close());
    const conn = tlsConn(srv.port, { tlsHandshakeTimeout: 60_000 });
    t.after(() => conn.close());
    const up = conn.awaitUp();
    await hello;
    await conn.close();
    await assert.rejects(up, (e: unknown) => isBurrowError(e, 'ERR_CLOSED'));
    await srv.close();
    await assertNoLeaks(baseline);
  });
});

describe('TLS: the peer certificate of a resumed session', () => {
  it('a resumed session reports the certificate presented when the session was made (info().layers)', async () => {
    const pki = createTestPki();
    const origin = await startOrigin({ protocol: 'http', transport: 'tls', pki });
    try {
      const seen: Array<{ resumed: boolean; subject: string | undefined }> = [];
      for (let i = 0; i < 2; i++) {
        const conn = open({ host: 'localhost', port: origin.port, transport: 'tls', tls: { ca: pki.ca }, protocols: ['http'], retry: 0 });
        await conn.awaitBody(conn.get('/'), 2000);
        const tlsLayer = conn.info().layers.find((l) => l.kind === 'tls');
        seen.push({ resumed: tlsLayer?.tls?.resumed === true, subject: tlsLayer?.tls?.certificate?.subject });
        await conn.close();
      }
      assert.equal(seen[1]?.resumed, true, 'the second connection resumed the session');
      assert.deepEqual(seen.map((x) => x.subject), ['CN=localhost, O=burrow tests', 'CN=localhost, O=burrow tests']);
    } finally {
      await origin.close();
    }
  });
});
