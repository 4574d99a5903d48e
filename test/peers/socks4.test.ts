// SOCKS4 against a real peer: dante (Debian's dante-server) answers SOCKS4 CONNECT requests on its
// `socksmethod: none` port, as hop 1 and as hop 2 behind nghttpx (HTTP/2 CONNECT over TLS), through the
// connection API and request(); its refusals are typed errors naming the hop. dante does not serve
// SOCKS4a (a name after the user id): that is a typed error too, never a hang (the SOCKS4a tests use
// burrow's own server, test/request/socks4.test.ts).
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { isBurrowError, open, request, type Connection, type OpenOptions, type StreamRef, type TlsOptions } from '../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { startPeers, type PeerPorts, type Peers } from './harness.js';

const MSG_TIMEOUT = 15_000;
const TEST_TIMEOUT = { timeout: 60_000 };

async function body(conn: Connection, ref: StreamRef): Promise<{ status: number; text: string }> {
  const m = await conn.await(ref, MSG_TIMEOUT);
  if (m.type === 'error') throw m.error;
  assert.ok(m.type === 'response', `unexpected ${m.type}`);
  const { body: b } = m.fin ? { body: Buffer.alloc(0) } : await conn.awaitBody(ref, MSG_TIMEOUT);
  return { status: m.status, text: b.toString() };
}

describe('SOCKS4 with a real peer (dante)', () => {
  let peers: Peers;
  let P: PeerPorts;
  let tlsByIp: TlsOptions;
  let baseline: string[];
  const conns = new Set<Connection>();
  const track = (options: OpenOptions): Connection => {
    const c = open({ retry: 0, ...options });
    conns.add(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all([...conns].map((c) => c.close()));
    conns.clear();
  });
  before(async () => {
    peers = await startPeers();
    P = peers.ports;
    tlsByIp = { ca: peers.ca, servername: 'localhost' };
    baseline = resourceSnapshot();
  });
  after(async () => {
    await peers?.stop();
  });

  it('dante as SOCKS4 hop 1 (with a user id) → nginx over HTTP/1.1', TEST_TIMEOUT, async () => {
    const conn = track({ host: '127.0.0.1', port: P.dante, protocols: [{ socks: { host: '127.0.0.1', port: P.nginxHttp, version: 4, userId: 'burrow' } }] });
    assert.equal(await conn.awaitUp(MSG_TIMEOUT), 'http');
    assert.deepEqual(await body(conn, conn.get('/small')), { status: 200, text: 'hello from nginx\n' });
    const [hop] = conn.info().intermediaries;
    assert.deepEqual([hop?.type, hop?.port, hop?.protocol], ['socks4', P.dante, 'socks']);
  });

  it('dante as SOCKS4 hop 1 → nginx over TLS, HTTP/2 (TLS inside the SOCKS4 tunnel)', TEST_TIMEOUT, async () => {
    const conn = track({ host: '127.0.0.1', port: P.dante, protocols: [{ socks: { host: '127.0.0.1', port: P.nginxTls, version: 4, transport: 'tls', tls: tlsByIp } }] });
    assert.equal(await conn.awaitUp(MSG_TIMEOUT), 'http2');
    assert.equal((await body(conn, conn.get('/small'))).text, 'hello from nginx\n');
  });

  it('nghttpx (TLS, h2) → dante as SOCKS4 hop 2 → nginx (TLS, h2)', TEST_TIMEOUT, async () => {
    const conn = track({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls: { ca: peers.ca } });
    const t = conn.connect({ host: '127.0.0.1', port: P.dante, protocols: [{ socks: { host: '127.0.0.1', port: P.nginxTls, version: 4, transport: 'tls', tls: tlsByIp } }] });
    const seen: string[] = [];
    for (;;) {
      const m = await conn.await(t, MSG_TIMEOUT);
      if (m.type === 'error') throw m.error;
      seen.push(m.type === 'response' ? `response ${m.status}` : m.type === 'up' ? `up ${m.protocol}` : m.type);
      if (m.type === 'up' && m.protocol !== 'socks') break;
    }
    assert.deepEqual(seen, ['response 200', 'up socks', 'up http2']);
    const r = conn.get('/small', {}, { tunnel: t });
    assert.deepEqual(conn.streamInfo(r)?.intermediaries.map((i) => `${i.type} ${i.port}`), [`connect ${P.nghttpxTls}`, `socks4 ${P.dante}`]);
    assert.equal((await body(conn, r)).text, 'hello from nginx\n');
  });

  it('request(): socks4:// dante, the origin name resolved by the client; and behind h2:// nghttpx', TEST_TIMEOUT, async () => {
    const res = await request(`http://localhost:${P.nginxHttp}/small`, { pool: false, via: [`socks4://127.0.0.1:${P.dante}`] });
    assert.equal(await res.text(), 'hello from nginx\n');
    assert.deepEqual(res.info.layers.map((l) => l.kind), ['tcp', 'socks4', 'HTTP/1.1']);
    const deep = await request(`https://localhost:${P.nginxTls}/small`, {
      pool: false, tls: { ca: peers.ca }, via: [{ url: `h2://localhost:${P.nghttpxTls}`, tls: { ca: peers.ca } }, `socks4://127.0.0.1:${P.dante}`],
    });
    assert.equal(deep.version, '2');
    assert.equal(await deep.text(), 'hello from nginx\n');
    assert.deepEqual(deep.info.layers.map((l) => l.kind), ['tcp', 'connect', 'socks4', 'HTTP/2']);
  });

  it('a destination dante cannot reach: ERR_SOCKS_REPLY 0x5B naming the dante hop', TEST_TIMEOUT, async () => {
    const conn = track({ host: '127.0.0.1', port: P.dante, protocols: [{ socks: { host: '127.0.0.1', port: P.closed, version: 4 } }] });
    await assert.rejects(conn.awaitUp(MSG_TIMEOUT), (e: unknown) => {
      assert.ok(isBurrowError(e, 'ERR_SOCKS_REPLY'), String(e));
      assert.equal(e.stage, 'socks-reply');
      assert.deepEqual(e.details, { reply: 0x5b, replyName: 'rejected' });
      assert.deepEqual(e.hop, { index: 0, kind: 'socks4', host: '127.0.0.1', port: P.dante, transport: 'tcp' });
      return true;
    });
  });

  it('SOCKS4a to dante (which does not serve it): ERR_SOCKS_REPLY 0x5B naming the hop, no hang', TEST_TIMEOUT, async () => {
    const conn = track({ host: '127.0.0.1', port: P.dante, protocols: [{ socks: { host: 'localhost', port: P.nginxHttp, version: '4a', handshakeTimeout: 5000 } }] });
    await assert.rejects(conn.awaitUp(MSG_TIMEOUT), (e: unknown) => {
      assert.ok(isBurrowError(e), String(e));
      // dante takes the request for one to 0.0.0.1 and refuses it.
      assert.ok(isBurrowError(e, 'ERR_SOCKS_REPLY'), e.message);
      assert.deepEqual(e.details, { reply: 0x5b, replyName: 'rejected' });
      assert.equal(e.hop?.kind, 'socks4');
      assert.equal(e.hop?.port, P.dante);
      return true;
    });
  });

  it('leaves no socket, TLS, HTTP/2 session or timer behind', async () => {
    await Promise.all([...conns].map((c) => c.close()));
    await assertNoLeaks(baseline);
  });
});
