// Interoperability with real third-party proxies and origins, through burrow's
// public API: nginx, squid, nghttpx, dante, stunnel and tinyproxy as Debian
// ships them (test/peers/harness.ts starts private instances on loopback
// ports; docs/interop.md has the matrix and the peers' quirks). Every peer
// alone, TLS inside TLS, HTTP/2 CONNECT with HTTP/1.1 and HTTP/2 inside,
// SOCKS5 with and without auth and over TLS, chains of two and three real
// proxies with TLS at each hop, 100 MB transfers with checksums, and the
// failures the peers produce (407, 403, 503, SOCKS refusals) as typed errors
// naming the hop.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  getHeader,
  isBurrowError,
  open,
  Pool,
  request,
  type RequestInit,
  type Connection,
  type ConnectDestination,
  type ErrorCode,
  type ErrorStage,
  type HeaderList,
  type HopInfo,
  type IntermediaryInfo,
  type OpenOptions,
  type SocksOptions,
  type StreamRef,
  type TlsOptions,
} from '../../src/index.js';
import { createTestPki } from '../../src/testing/pki.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { BIG_CHUNK, BIG_SIZE, Pattern, startPeers, type PeerPorts, type Peers } from './harness.js';

const MSG_TIMEOUT = 15_000;
const TEST_TIMEOUT = { timeout: 60_000 };
const BIG_TIMEOUT = { timeout: 120_000 };

interface Reply {
  status: number;
  version: string;
  headers: HeaderList;
  body: Buffer;
}

/** Reads a request's (or a refused CONNECT's) response to its end. */
async function readReply(conn: Connection, ref: StreamRef): Promise<Reply> {
  let head: { status: number; version: string; headers: HeaderList } | undefined;
  const chunks: Buffer[] = [];
  for (;;) {
    const m = await conn.await(ref, MSG_TIMEOUT);
    switch (m.type) {
      case 'inform':
        break;
      case 'response':
        head = { status: m.status, version: m.version, headers: m.headers };
        if (m.fin) return { ...head, body: Buffer.alloc(0) };
        break;
      case 'data':
        chunks.push(m.data);
        if (m.fin) {
          assert.ok(head, 'data before the response');
          return { ...head, body: Buffer.concat(chunks) };
        }
        break;
      case 'trailers':
        assert.ok(head, 'trailers before the response');
        return { ...head, body: Buffer.concat(chunks) };
      case 'error':
        throw m.error;
      default:
        assert.fail(`unexpected ${m.type} message on ${String(ref)}`);
    }
  }
}

/** Reads a tunnel's messages up to the protocol reached inside: `['response 200', 'up socks', 'up http2']`. */
async function tunnelUp(conn: Connection, ref: StreamRef): Promise<string[]> {
  const seen: string[] = [];
  for (;;) {
    const m = await conn.await(ref, MSG_TIMEOUT);
    if (m.type === 'error') throw m.error;
    if (m.type === 'response') {
      seen.push(`response ${m.status}`);
      assert.ok(m.status >= 200 && m.status < 300, `CONNECT answered ${m.status}: ${seen.join(', ')}`);
      continue;
    }
    assert.equal(m.type, 'up', `unexpected ${m.type} on tunnel ${String(ref)}`);
    if (m.type === 'up') {
      seen.push(`up ${m.protocol}`);
      if (m.protocol !== 'socks') return seen;
    }
  }
}

/** The first error message of a stream (skipping what comes before it). */
async function streamError(conn: Connection, ref: StreamRef): Promise<unknown> {
  for (;;) {
    const m = await conn.await(ref, MSG_TIMEOUT);
    if (m.type === 'error') return m.error;
    assert.ok(m.type === 'response' || m.type === 'up' || m.type === 'data', `unexpected ${m.type} before the error`);
    if (m.type === 'response') assert.ok(m.status >= 200 && m.status < 300, `expected an error, got a ${m.status} response`);
  }
}

/** Resolves when the connection is closed for good (retry: 0), with the reason. */
function closed(conn: Connection): Promise<unknown> {
  if (conn.state === 'closed') return Promise.resolve(undefined);
  return new Promise((resolve) => conn.once('close', resolve));
}

function assertBurrowError(e: unknown, code: ErrorCode, stage: ErrorStage, hop?: Partial<HopInfo>): void {
  assert.ok(isBurrowError(e), `expected a BurrowError ${code}, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.equal(e.stage, stage, e.message);
  if (hop !== undefined) {
    assert.ok(e.hop !== undefined, `${code} names no hop: ${e.message}`);
    assert.deepEqual(pick(e.hop, Object.keys(hop) as (keyof HopInfo)[]), hop, e.message);
  }
}

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) out[k] = o[k];
  return out;
}

/** nginx's /info answer, split: [protocol, scheme, port, tls version?, alpn?]. */
function infoFields(body: Buffer): string[] {
  return body.toString().trim().split(/\s+/);
}

describe('interop with real peers (nginx, squid, nghttpx, dante, stunnel, tinyproxy)', () => {
  let peers: Peers;
  let P: PeerPorts;
  let tls: TlsOptions;
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
    tls = { ca: peers.ca };
    tlsByIp = { ca: peers.ca, servername: 'localhost' };
    baseline = resourceSnapshot();
  });
  after(async () => {
    await peers?.stop();
  });

  // Destinations (connect() and SOCKS targets) at the nginx origin.
  const nginxTls = (): ConnectDestination => ({ host: 'localhost', port: P.nginxTls, transport: 'tls', tls });
  const nginxTlsH1 = (): ConnectDestination => ({ host: 'localhost', port: P.nginxTlsH1, transport: 'tls', tls });
  const nginxHttp = (): ConnectDestination => ({ host: '127.0.0.1', port: P.nginxHttp });
  const nginxH2c = (): ConnectDestination => ({ host: '127.0.0.1', port: P.nginxH2c, protocols: ['http2'] });

  const squidTlsHop = (): ConnectDestination => ({ host: 'localhost', port: P.squidTls, transport: 'tls', tls, protocols: ['http'] });
  const squidTlsSocks = (): SocksOptions => ({ host: 'localhost', port: P.squidTls, transport: 'tls', tls, protocols: ['http'] });
  const nginxH2cSocks = (): SocksOptions => ({ host: '127.0.0.1', port: P.nginxH2c, protocols: ['http2'] });

  it('reports the peer versions', (t) => {
    for (const [name, v] of Object.entries(peers.versions)) t.diagnostic(`${name}: ${v}`);
    assert.equal(Object.keys(peers.versions).length, 6);
  });

  describe('nginx alone', () => {
    it('TLS with ALPN h2 and http/1.1: HTTP/2 over TLS 1.3', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.nginxTls, transport: 'tls', tls });
      assert.equal(await conn.awaitUp(MSG_TIMEOUT), 'http2');
      const info = await readReply(conn, conn.get('/info'));
      assert.equal(info.version, '2');
      assert.deepEqual(infoFields(info.body), ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2']);
      assert.equal(conn.info().tls?.alpn, 'h2');
      const small = await readReply(conn, conn.get('/small'));
      assert.equal(small.body.toString(), 'hello from nginx\n');
      const file = await readReply(conn, conn.get('/hello.txt'));
      assert.deepEqual([file.status, getHeader(file.headers, 'content-type'), file.body.toString()], [200, 'text/plain', 'hello, static file\n']);
      const missing = await readReply(conn, conn.get('/missing'));
      assert.equal(missing.status, 404);
    });

    it('TLS with ALPN http/1.1 only: burrow offers h2 and http/1.1 and speaks HTTP/1.1', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.nginxTlsH1, transport: 'tls', tls });
      assert.equal(await conn.awaitUp(MSG_TIMEOUT), 'http');
      const info = await readReply(conn, conn.get('/info'));
      assert.equal(info.version, '1.1');
      assert.deepEqual(infoFields(info.body), ['HTTP/1.1', 'https', String(P.nginxTlsH1), 'TLSv1.3', 'http/1.1']);
    });

    it('plain HTTP/1.1: chunked responses, echoed bodies whole and streamed (chunked)', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.nginxHttp });
      const chunked = await readReply(conn, conn.get('/chunked'));
      assert.equal(getHeader(chunked.headers, 'transfer-encoding'), 'chunked');
      assert.equal(chunked.body.toString(), `one\ntwo\n${'0123456789abcdef'.repeat(1000)}three\n`);
      const body = randomBytes(64 * 1024);
      const echo = await readReply(conn, conn.post('/echo', { 'content-type': 'application/octet-stream' }, body));
      assert.ok(echo.body.equals(body));
      const streamed = conn.post('/echo', { 'content-type': 'application/octet-stream' });
      await conn.data(streamed, false, body.subarray(0, 1000));
      await conn.data(streamed, false, body.subarray(1000, 50_000));
      await conn.data(streamed, true, body.subarray(50_000));
      assert.ok((await readReply(conn, streamed)).body.equals(body));
      const headers = await readReply(conn, conn.get('/headers', { 'x-burrow': 'yes' }));
      assert.equal(headers.body.toString().trim(), `host=127.0.0.1:${P.nginxHttp} x-burrow=yes`);
    });

    it('h2c with prior knowledge: 50 multiplexed requests', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.nginxH2c, protocols: ['http2'] });
      const info = await readReply(conn, conn.get('/info'));
      assert.deepEqual(infoFields(info.body), ['HTTP/2.0', 'http', String(P.nginxH2c)]);
      const replies = await Promise.all(Array.from({ length: 50 }, () => readReply(conn, conn.get('/small'))));
      for (const r of replies) assert.deepEqual([r.status, r.version, r.body.toString()], [200, '2', 'hello from nginx\n']);
      const body = randomBytes(100_000);
      assert.ok((await readReply(conn, conn.put('/echo', {}, body))).body.equals(body));
    });

    for (const v of ['HTTP/1.1', 'HTTP/2'] as const) {
      const make = (): Connection => (v === 'HTTP/1.1' ? track({ host: '127.0.0.1', port: P.nginxHttp }) : track({ host: 'localhost', port: P.nginxTls, transport: 'tls', tls }));

      it(`${v}: HEAD, 304 and 206 responses, then more requests on the same connection`, TEST_TIMEOUT, async () => {
        const conn = make();
        const head = await readReply(conn, conn.head(peers.big.path));
        assert.deepEqual([head.status, getHeader(head.headers, 'content-length'), head.body.length], [200, String(peers.big.size), 0]);
        const file = await readReply(conn, conn.get('/hello.txt'));
        const lastModified = getHeader(file.headers, 'last-modified') ?? '';
        const etag = getHeader(file.headers, 'etag') ?? '';
        const ims = await readReply(conn, conn.get('/hello.txt', { 'if-modified-since': lastModified }));
        const inm = await readReply(conn, conn.get('/hello.txt', { 'if-none-match': etag }));
        assert.deepEqual([ims.status, ims.body.length, inm.status, inm.body.length], [304, 0, 304, 0]);
        const range = await readReply(conn, conn.get(peers.big.path, { range: 'bytes=10-19' }));
        assert.deepEqual([range.status, range.body.length, getHeader(range.headers, 'content-range')], [206, 10, `bytes 10-19/${peers.big.size}`]);
        assert.equal((await readReply(conn, conn.get('/small'))).body.toString(), 'hello from nginx\n');
        assert.equal(conn.info().remotePort, v === 'HTTP/1.1' ? P.nginxHttp : P.nginxTls);
      });

      it(`${v}: response trailers (add_trailer)`, TEST_TIMEOUT, async () => {
        const conn = make();
        const { body, trailers } = await conn.awaitBody(conn.get('/trailers', { te: 'trailers' }), MSG_TIMEOUT);
        assert.equal(body.toString(), 'body with trailers\n');
        assert.deepEqual(trailers, [['x-checksum', 'abc123'], ['x-second', '2']]);
      });

      it(`${v}: 250 sequential requests while nginx closes the connection every 100 (keepalive_requests)`, TEST_TIMEOUT, async () => {
        const conn = v === 'HTTP/1.1' ? track({ host: '127.0.0.1', port: P.nginxHttp, retry: 3 }) : track({ host: 'localhost', port: P.nginxTls, transport: 'tls', tls, retry: 3 });
        let downs = 0;
        conn.on('down', () => downs++);
        for (let i = 0; i < 250; i++) assert.equal((await readReply(conn, conn.get('/small'))).status, 200, `request ${i}`);
        assert.equal(downs, 2);
      });
    }

    it('HTTP/1.1: expect: 100-continue gives an inform 100', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.nginxHttp });
      const ref = conn.post('/echo', { expect: '100-continue' }, 'continued');
      const first = await conn.await(ref, MSG_TIMEOUT);
      assert.ok(first.type === 'inform' && first.status === 100, `got ${first.type}`);
      assert.equal((await readReply(conn, ref)).body.toString(), 'continued');
    });
  });

  describe('squid (HTTP/1.1 CONNECT)', () => {
    it('plain port: CONNECT to nginx plain HTTP/1.1 and HTTP/2 over TLS', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.squid });
      const t = conn.connect(nginxHttp());
      assert.deepEqual(await tunnelUp(conn, t), ['response 200', 'up http']);
      assert.deepEqual(infoFields((await readReply(conn, conn.get('/info', {}, { tunnel: t }))).body), ['HTTP/1.1', 'http', String(P.nginxHttp)]);

      const conn2 = track({ host: '127.0.0.1', port: P.squid });
      const t2 = conn2.connect(nginxTls());
      assert.deepEqual(await tunnelUp(conn2, t2), ['response 200', 'up http2']);
      const r = conn2.get('/info', {}, { tunnel: t2 });
      const si = conn2.streamInfo(r); // while the request runs
      assert.deepEqual(infoFields((await readReply(conn2, r)).body), ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2']);
      assert.deepEqual(si?.intermediaries, [{ type: 'connect', host: '127.0.0.1', port: P.squid, transport: 'tcp', protocol: 'http' }]);
      const i = conn2.info();
      assert.deepEqual([i.protocol, i.origin.port, i.tls?.alpn], ['http2', P.nginxTls, 'h2']);
    });

    it('TLS port (https_port, no ALPN): HTTP/1.1 to squid, TLS inside TLS to nginx', TEST_TIMEOUT, async () => {
      // Default ALPN offer (h2, http/1.1): squid (GnuTLS) selects none, so burrow speaks HTTP/1.1.
      const conn = track({ host: 'localhost', port: P.squidTls, transport: 'tls', tls });
      assert.equal(await conn.awaitUp(MSG_TIMEOUT), 'http');
      assert.equal(conn.info().tls?.alpn, false);
      const t = conn.connect(nginxTls());
      assert.deepEqual(await tunnelUp(conn, t), ['response 200', 'up http2']);
      const replies = await Promise.all([1, 2, 3].map(() => readReply(conn, conn.get('/info', {}, { tunnel: t }))));
      for (const r of replies) assert.deepEqual(infoFields(r.body), ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2']);

      const conn2 = track({ host: 'localhost', port: P.squidTls, transport: 'tls', tls, protocols: ['http'] });
      const t2 = conn2.connect(nginxTlsH1());
      assert.deepEqual(await tunnelUp(conn2, t2), ['response 200', 'up http']);
      const body = randomBytes(200_000);
      assert.ok((await readReply(conn2, conn2.post('/echo', {}, body, { tunnel: t2 }))).body.equals(body));
    });

    it('Basic auth: 407 is an ordinary response, the ref is no tunnel; good credentials open it on the same connection', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.squidAuth });
      const t = conn.connect(nginxHttp());
      const early = conn.get('/small', {}, { tunnel: t }); // waits for the CONNECT answer
      const res = await readReply(conn, t);
      assert.equal(res.status, 407);
      assert.equal(getHeader(res.headers, 'proxy-authenticate'), 'Basic realm="burrow-peers"');
      assert.match(getHeader(res.headers, 'x-squid-error') ?? '', /^ERR_CACHE_ACCESS_DENIED/);
      assert.ok(res.body.length > 0);
      assertBurrowError(await streamError(conn, early), 'ERR_NOT_A_TUNNEL', 'state');
      assertBurrowError(await streamError(conn, conn.get('/small', {}, { tunnel: t })), 'ERR_NOT_A_TUNNEL', 'state');

      const bad = conn.connect({ ...nginxHttp(), username: peers.squidUser.username, password: 'wrong' });
      assert.equal((await readReply(conn, bad)).status, 407);

      const good = conn.connect({ ...nginxHttp(), username: peers.squidUser.username, password: peers.squidUser.password });
      assert.deepEqual(await tunnelUp(conn, good), ['response 200', 'up http']);
      assert.equal((await readReply(conn, conn.get('/small', {}, { tunnel: good }))).body.toString(), 'hello from nginx\n');
    });

    it('a refused destination is squid\'s 503 as an ordinary response; squid then closes the connection', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.squid });
      const t = conn.connect({ host: '127.0.0.1', port: P.closed });
      const early = conn.get('/', {}, { tunnel: t });
      const res = await readReply(conn, t);
      assert.equal(res.status, 503);
      assert.match(getHeader(res.headers, 'x-squid-error') ?? '', /^ERR_CONNECT_FAIL 111/);
      assert.equal(getHeader(res.headers, 'connection'), undefined, 'squid announces no close');
      assertBurrowError(await streamError(conn, early), 'ERR_NOT_A_TUNNEL', 'state');
      // ...but closes the connection after the 503 (retry: 0, so the connection is closed for good).
      assertBurrowError(await closed(conn), 'ERR_CONNECTION_CLOSED', 'tcp', { index: 0, port: P.squid });
    });

    it('a port outside its SSL_ports ACL is squid\'s 403', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.squid });
      const res = await readReply(conn, conn.connect({ host: '127.0.0.1', port: P.unlisted }));
      assert.equal(res.status, 403);
      assert.match(getHeader(res.headers, 'x-squid-error') ?? '', /^ERR_ACCESS_DENIED/);
    });
  });

  describe('nghttpx (HTTP/2 CONNECT, squid as its backend)', () => {
    it('TLS frontend: four stream-wide tunnels at once, HTTP/1.1 and HTTP/2 inside, over TCP and TLS', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls });
      assert.equal(await conn.awaitUp(MSG_TIMEOUT), 'http2');
      const cases = [
        { dest: nginxHttp(), up: 'http', info: ['HTTP/1.1', 'http', String(P.nginxHttp)] },
        { dest: nginxTlsH1(), up: 'http', info: ['HTTP/1.1', 'https', String(P.nginxTlsH1), 'TLSv1.3', 'http/1.1'] },
        { dest: nginxTls(), up: 'http2', info: ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2'] },
        { dest: nginxH2c(), up: 'http2', info: ['HTTP/2.0', 'http', String(P.nginxH2c)] },
      ];
      const tunnels = cases.map((c) => conn.connect(c.dest));
      const ups = await Promise.all(tunnels.map((t) => tunnelUp(conn, t)));
      assert.deepEqual(ups, cases.map((c) => ['response 200', `up ${c.up}`]));
      const infos = await Promise.all(tunnels.map((t) => readReply(conn, conn.get('/info', {}, { tunnel: t }))));
      assert.deepEqual(infos.map((r) => infoFields(r.body)), cases.map((c) => c.info));
      // Bodies both ways in all four at once.
      const body = randomBytes(300_000);
      const echoes = await Promise.all(tunnels.map((t) => readReply(conn, conn.post('/echo', {}, body, { tunnel: t }))));
      for (const e of echoes) assert.ok(e.body.equals(body));
      const si = conn.streamInfo(tunnels[2] as StreamRef);
      assert.deepEqual(si?.tunnel, { transport: 'tls', protocol: 'http2', scheme: 'https', host: 'localhost', port: P.nginxTls });
    });

    it('h2c frontend (prior knowledge): CONNECT to nginx over TLS', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.nghttpxH2c, protocols: ['http2'] });
      const t = conn.connect(nginxTls());
      assert.deepEqual(await tunnelUp(conn, t), ['response 200', 'up http2']);
      const r = conn.get('/info', {}, { tunnel: t });
      const si = conn.streamInfo(r);
      assert.deepEqual(infoFields((await readReply(conn, r)).body), ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2']);
      assert.deepEqual(si?.intermediaries, [{ type: 'connect', host: '127.0.0.1', port: P.nghttpxH2c, transport: 'tcp', protocol: 'http2' }]);
    });

    it('a refused destination is the backend\'s 503, relayed; other tunnels go on', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls });
      const good = conn.connect(nginxH2c());
      const t = conn.connect({ host: '127.0.0.1', port: P.closed });
      const res = await readReply(conn, t);
      assert.equal(res.status, 503);
      assert.match(getHeader(res.headers, 'via') ?? '', /nghttpx/);
      assertBurrowError(await streamError(conn, conn.get('/', {}, { tunnel: t })), 'ERR_NOT_A_TUNNEL', 'state');
      await tunnelUp(conn, good);
      assert.equal((await readReply(conn, conn.get('/small', {}, { tunnel: good }))).body.toString(), 'hello from nginx\n');
    });

    it('HTTP/1.1 frontend (ALPN http/1.1): CONNECT works there too', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls, protocols: ['http'] });
      const t = conn.connect(nginxTls());
      assert.deepEqual(await tunnelUp(conn, t), ['response 200', 'up http2']);
      assert.equal((await readReply(conn, conn.get('/small', {}, { tunnel: t }))).body.toString(), 'hello from nginx\n');
    });

    it('30 concurrent tunnels to one destination; ping inside one; cancelling one leaves the others', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls });
      const tunnels = Array.from({ length: 30 }, () => conn.connect(nginxTls()));
      for (const up of await Promise.all(tunnels.map((t) => tunnelUp(conn, t)))) assert.deepEqual(up, ['response 200', 'up http2']);
      const [first, second] = tunnels as [StreamRef, StreamRef];
      assert.ok((await conn.ping({ tunnel: first })) >= 0);
      const big = conn.get(peers.big.path, {}, { tunnel: first });
      const m = await conn.await(big, MSG_TIMEOUT);
      assert.ok(m.type === 'response' && m.status === 200);
      conn.cancel(first);
      assertBurrowError(await streamError(conn, first), 'ERR_STREAM_CANCELED', 'state');
      assert.ok(isBurrowError(await streamError(conn, big)));
      const bodies = await Promise.all(tunnels.slice(1).map((t) => readReply(conn, conn.get('/small', {}, { tunnel: t }))));
      for (const b of bodies) assert.equal(b.body.toString(), 'hello from nginx\n');
      assert.ok((await conn.ping({ tunnel: second })) >= 0);
    });

    it('an HTTP/1.1 origin closing its connection closes the tunnel; a later request on it is told the tunnel closed', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls });
      const t = conn.connect(nginxHttp());
      await tunnelUp(conn, t);
      const tunnelClosed = new Promise<void>((resolve) => {
        conn.on('message', (m) => {
          if (m.type === 'error' && m.ref.equals(t)) resolve();
        });
      });
      // nginx answers the 100th request with connection: close (keepalive_requests 100).
      for (let i = 0; i < 100; i++) assert.equal((await readReply(conn, conn.get('/small', {}, { tunnel: t }))).status, 200);
      await tunnelClosed;
      // The proxy connection goes on.
      const other = conn.connect(nginxH2c());
      assert.deepEqual(await tunnelUp(conn, other), ['response 200', 'up http2']);
      // The tunnel was up and closed; its CONNECT was not refused (ERR_NOT_A_TUNNEL would say it was answered non-2xx).
      const late = await streamError(conn, conn.get('/small', {}, { tunnel: t }));
      assert.ok(isBurrowError(late));
      assert.equal(late.code, 'ERR_TUNNEL_CLOSED', late.message);
      assertBurrowError(await streamError(conn, t), 'ERR_TUNNEL_CLOSED', 'tcp', { index: 1, port: P.nginxHttp });
    });
  });

  describe('dante (SOCKS5)', () => {
    it('method none: IPv4 destination, HTTP/1.1 inside; the bound address is reported', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.dante, protocols: [{ socks: { host: '127.0.0.1', port: P.nginxHttp } }] });
      assert.equal(await conn.awaitUp(MSG_TIMEOUT), 'http');
      assert.deepEqual(infoFields((await readReply(conn, conn.get('/info'))).body), ['HTTP/1.1', 'http', String(P.nginxHttp)]);
      const [hop] = conn.info().intermediaries as [IntermediaryInfo];
      assert.deepEqual(pick(hop, ['type', 'host', 'port', 'transport', 'protocol']), { type: 'socks5', host: '127.0.0.1', port: P.dante, transport: 'tcp', protocol: 'socks' });
      assert.equal(hop.bound?.host, '127.0.0.1');
      assert.ok((hop.bound?.port ?? 0) > 0);
    });

    it('method none: a domain name destination (dante resolves localhost), HTTP/2 over TLS inside', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.dante, protocols: [{ socks: { host: 'localhost', port: P.nginxTls, transport: 'tls', tls } }] });
      assert.equal(await conn.awaitUp(MSG_TIMEOUT), 'http2');
      assert.deepEqual(infoFields((await readReply(conn, conn.get('/info'))).body), ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2']);
    });

    it('username/password: good credentials (offered after none) open the tunnel', TEST_TIMEOUT, async () => {
      const auth = ['none' as const, { ...peers.socksUser }];
      const conn = track({ host: '127.0.0.1', port: P.danteAuth, protocols: [{ socks: { host: '127.0.0.1', port: P.nginxH2c, protocols: ['http2'], auth } }] });
      assert.equal(await conn.awaitUp(MSG_TIMEOUT), 'http2');
      assert.equal((await readReply(conn, conn.get('/small'))).body.toString(), 'hello from nginx\n');
    });

    it('a wrong password is ERR_SOCKS_AUTH at stage socks-auth naming the dante hop', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.danteAuth, protocols: [{ socks: { host: '127.0.0.1', port: P.nginxHttp, auth: [{ username: peers.socksUser.username, password: 'wrong' }] } }] });
      const e = await conn.awaitUp(MSG_TIMEOUT).then(() => undefined, (err: unknown) => err);
      assertBurrowError(e, 'ERR_SOCKS_AUTH', 'socks-auth', { index: 0, kind: 'socks5', host: '127.0.0.1', port: P.danteAuth, transport: 'tcp' });
    });

    it('offering only "none" to the username instance is ERR_SOCKS_NO_ACCEPTABLE_METHOD', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.danteAuth, protocols: [{ socks: { host: '127.0.0.1', port: P.nginxHttp } }] });
      const e = await conn.awaitUp(MSG_TIMEOUT).then(() => undefined, (err: unknown) => err);
      assertBurrowError(e, 'ERR_SOCKS_NO_ACCEPTABLE_METHOD', 'socks-auth', { index: 0, kind: 'socks5', port: P.danteAuth });
    });

    it('a refused destination is ERR_SOCKS_REPLY connection_refused at stage socks-reply', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.dante, protocols: [{ socks: { host: '127.0.0.1', port: P.closed } }] });
      const e = await conn.awaitUp(MSG_TIMEOUT).then(() => undefined, (err: unknown) => err);
      assertBurrowError(e, 'ERR_SOCKS_REPLY', 'socks-reply', { index: 0, kind: 'socks5', port: P.dante });
      assert.ok(isBurrowError(e));
      assert.deepEqual(e.details, { reply: 5, replyName: 'connection_refused' });
    });
  });

  describe('stunnel (TLS in front of dante and tinyproxy)', () => {
    it('SOCKS5 over TLS, then TLS to nginx inside it', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.stunnelSocks, transport: 'tls', tls, protocols: [{ socks: { host: '127.0.0.1', port: P.nginxTls, transport: 'tls', tls: tlsByIp } }] });
      assert.equal(await conn.awaitUp(MSG_TIMEOUT), 'http2');
      assert.deepEqual(infoFields((await readReply(conn, conn.get('/info'))).body), ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2']);
      const [hop] = conn.info().intermediaries as [IntermediaryInfo];
      assert.deepEqual(pick(hop, ['type', 'host', 'port', 'transport']), { type: 'socks5', host: 'localhost', port: P.stunnelSocks, transport: 'tls' });
    });

    it('a refused destination behind stunnel names the SOCKS hop over TLS', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.stunnelSocks, transport: 'tls', tls, protocols: [{ socks: { host: '127.0.0.1', port: P.closed } }] });
      const e = await conn.awaitUp(MSG_TIMEOUT).then(() => undefined, (err: unknown) => err);
      assertBurrowError(e, 'ERR_SOCKS_REPLY', 'socks-reply', { index: 0, kind: 'socks5', host: 'localhost', port: P.stunnelSocks, transport: 'tls' });
    });

    it('HTTP/1.1 CONNECT over TLS (tinyproxy behind stunnel)', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.stunnelTinyproxy, transport: 'tls', tls, protocols: ['http'] });
      const t = conn.connect(nginxTls());
      assert.deepEqual(await tunnelUp(conn, t), ['response 200', 'up http2']);
      assert.equal((await readReply(conn, conn.get('/small', {}, { tunnel: t }))).body.toString(), 'hello from nginx\n');
    });
  });

  describe('tinyproxy (HTTP/1.1 CONNECT)', () => {
    it('a refused destination is tinyproxy\'s 500, then it closes the connection', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.tinyproxy });
      const res = await readReply(conn, conn.connect({ host: '127.0.0.1', port: P.closed }));
      assert.deepEqual([res.status, getHeader(res.headers, 'connection')], [500, 'close']);
      await closed(conn);
    });

    it('answers CONNECT with HTTP/1.0 200; HTTP/2 over TLS inside', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.tinyproxy });
      const t = conn.connect(nginxTls());
      const first = await conn.await(t, MSG_TIMEOUT);
      assert.ok(first.type === 'response', `got ${first.type}`);
      assert.deepEqual([first.status, first.version], [200, '1.0']);
      assert.deepEqual(await tunnelUp(conn, t), ['up http2']);
      assert.deepEqual(infoFields((await readReply(conn, conn.get('/info', {}, { tunnel: t }))).body), ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2']);
    });

    it('a port without a ConnectPort line is tinyproxy\'s 403', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.tinyproxy });
      const t = conn.connect({ host: '127.0.0.1', port: P.unlisted });
      const early = conn.get('/', {}, { tunnel: t });
      const res = await readReply(conn, t);
      assert.equal(res.status, 403);
      assert.equal(getHeader(res.headers, 'connection'), 'close');
      assertBurrowError(await streamError(conn, early), 'ERR_NOT_A_TUNNEL', 'state');
      await closed(conn);
    });
  });

  describe('events through real peers', () => {
    /** What `openssl s_client` reports for a TLS listener: version, cipher, ALPN, the certificate's subject, issuer and SHA-256 fingerprint. */
    function sClient(port: number, alpn: string | undefined): { version: string; cipher: string; alpn: string | null; subject: string; issuer: string; fingerprint256: string } {
      const caFile = join(peers.dir, 'events-ca.pem');
      writeFileSync(caFile, peers.ca);
      const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', caFile, '-verify_return_error', '-showcerts', ...(alpn !== undefined ? ['-alpn', alpn] : [])];
      const out = execFileSync('openssl', args, { input: '', encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 });
      const field = (re: RegExp): string => re.exec(out)?.[1]?.trim() ?? '';
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out)?.[0] ?? '';
      const cert = new X509Certificate(pem);
      const dn = (s: string): string => s.split('\n').filter(Boolean).join(', ');
      return {
        version: field(/^New, (\S+), Cipher is/m),
        cipher: field(/^New, \S+, Cipher is (\S+)/m),
        alpn: /No ALPN negotiated/.test(out) ? null : field(/^ALPN protocol:\s*(\S+)/m),
        subject: dn(cert.subject),
        issuer: dn(cert.issuer),
        fingerprint256: cert.fingerprint256,
      };
    }

    it('squid (TLS) → nghttpx (TLS, h2) → nginx (TLS, h2): every TLS layer\'s details are what openssl s_client reports for that listener', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.squidTls, transport: 'tls', tls, protocols: ['http'] });
      const t1 = conn.connect({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls, protocols: ['http2'] });
      const t2 = conn.connect(nginxTls(), {}, { tunnel: t1 });
      const r = conn.get('/small', {}, { tunnel: t2 });
      await readReply(conn, r);
      const layers = conn.streamInfo(t2)?.layers ?? [];
      assert.deepEqual(layers.map((l) => `${l.kind}@${l.hop.index}`), ['tcp@0', 'tls@0', 'http1-connect@0', 'tls@1', 'http2@1', 'http2-connect@1', 'tls@2', 'http2@2']);
      const checks: Array<[number, number, string | undefined]> = [[0, P.squidTls, undefined], [1, P.nghttpxTls, 'h2'], [2, P.nginxTls, 'h2']];
      for (const [hop, port, alpn] of checks) {
        const ours = layers.find((l) => l.kind === 'tls' && l.hop.index === hop)?.tls;
        const theirs = sClient(port, alpn);
        assert.ok(ours !== undefined, `TLS details of hop ${hop}`);
        assert.equal(ours.version, theirs.version, `hop ${hop} version`);
        assert.equal(ours.cipher, theirs.cipher, `hop ${hop} cipher`);
        assert.equal(ours.alpn, theirs.alpn, `hop ${hop} ALPN`);
        assert.equal(ours.servername, 'localhost');
        assert.equal(ours.authorized, true);
        assert.equal(ours.certificate?.subject, theirs.subject, `hop ${hop} subject`);
        assert.equal(ours.certificate?.issuer, theirs.issuer, `hop ${hop} issuer`);
        assert.equal(ours.certificate?.fingerprint256, theirs.fingerprint256, `hop ${hop} fingerprint`);
      }
      const connect = layers.find((l) => l.kind === 'http1-connect');
      assert.equal(connect?.connect?.status, 200);
      assert.equal(connect?.connect?.target, `localhost:${P.nghttpxTls}`);
    });
  });

  describe('chains of real proxies', () => {
    it('squid (TLS) → tinyproxy → nginx (TLS, h2)', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.squidTls, transport: 'tls', tls, protocols: ['http'] });
      const t1 = conn.connect({ host: '127.0.0.1', port: P.tinyproxy });
      const t2 = conn.connect(nginxTls(), {}, { tunnel: t1 });
      assert.deepEqual(await tunnelUp(conn, t1), ['response 200', 'up http']);
      assert.deepEqual(await tunnelUp(conn, t2), ['response 200', 'up http2']);
      const r = conn.get('/info', {}, { tunnel: t2 });
      const si = conn.streamInfo(r);
      assert.deepEqual(infoFields((await readReply(conn, r)).body), ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2']);
      assert.deepEqual(si?.intermediaries, [
        { type: 'connect', host: 'localhost', port: P.squidTls, transport: 'tls', protocol: 'http' },
        { type: 'connect', host: '127.0.0.1', port: P.tinyproxy, transport: 'tcp', protocol: 'http' },
      ]);
    });

    it('nghttpx (TLS, h2) → dante → nginx (TLS, h2)', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls });
      const t = conn.connect({ host: '127.0.0.1', port: P.dante, protocols: [{ socks: { host: 'localhost', port: P.nginxTls, transport: 'tls', tls } }] });
      assert.deepEqual(await tunnelUp(conn, t), ['response 200', 'up socks', 'up http2']);
      const r = conn.get('/info', {}, { tunnel: t });
      const hops = conn.streamInfo(r)?.intermediaries.map((i) => pick(i, ['type', 'host', 'port', 'transport', 'protocol']));
      assert.deepEqual(hops, [
        { type: 'connect', host: 'localhost', port: P.nghttpxTls, transport: 'tls', protocol: 'http2' },
        { type: 'socks5', host: '127.0.0.1', port: P.dante, transport: 'tcp', protocol: 'socks' },
      ]);
      assert.deepEqual(infoFields((await readReply(conn, r)).body), ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2']);
    });

    it('stunnel + dante (SOCKS5 over TLS) → squid (TLS) → nginx (TLS, h2)', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.stunnelSocks, transport: 'tls', tls, protocols: [{ socks: squidTlsSocks() }] });
      assert.equal(await conn.awaitUp(MSG_TIMEOUT), 'http');
      const t = conn.connect(nginxTls());
      assert.deepEqual(await tunnelUp(conn, t), ['response 200', 'up http2']);
      const r = conn.get('/info', {}, { tunnel: t });
      const si = conn.streamInfo(r);
      assert.deepEqual(infoFields((await readReply(conn, r)).body), ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2']);
      assert.deepEqual(si?.intermediaries.map((i) => `${i.type} ${i.transport}://${i.host}:${i.port}`), [
        `socks5 tls://localhost:${P.stunnelSocks}`,
        `connect tls://localhost:${P.squidTls}`,
      ]);
    });

    it('three proxies, TLS at every hop: nghttpx (h2) → squid (TLS) → stunnel + tinyproxy (TLS) → nginx (TLS, h2)', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls });
      const t1 = conn.connect(squidTlsHop());
      const t2 = conn.connect({ host: 'localhost', port: P.stunnelTinyproxy, transport: 'tls', tls, protocols: ['http'] }, {}, { tunnel: t1 });
      const t3 = conn.connect(nginxTls(), {}, { tunnel: t2 });
      assert.deepEqual(await tunnelUp(conn, t1), ['response 200', 'up http']);
      assert.deepEqual(await tunnelUp(conn, t2), ['response 200', 'up http']);
      assert.deepEqual(await tunnelUp(conn, t3), ['response 200', 'up http2']);
      const body = randomBytes(500_000);
      const [info, echo] = await Promise.all([
        readReply(conn, conn.get('/info', {}, { tunnel: t3 })),
        readReply(conn, conn.post('/echo', {}, body, { tunnel: t3 })),
      ]);
      assert.deepEqual(infoFields(info.body), ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2']);
      assert.ok(echo.body.equals(body));
      const r = conn.get('/small', {}, { tunnel: t3 });
      await readReply(conn, r);
      assert.equal(conn.streamInfo(t3)?.tunnel?.port, P.nginxTls);
    });

    it('three proxies: stunnel + dante (TLS) → squid (TLS) → nghttpx (TLS, h2) → nginx (TLS, h2)', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.stunnelSocks, transport: 'tls', tls, protocols: [{ socks: squidTlsSocks() }] });
      const t1 = conn.connect({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls });
      assert.deepEqual(await tunnelUp(conn, t1), ['response 200', 'up http2']);
      const t2 = conn.connect(nginxTls(), {}, { tunnel: t1 });
      const t3 = conn.connect(nginxHttp(), {}, { tunnel: t1 });
      assert.deepEqual(await tunnelUp(conn, t2), ['response 200', 'up http2']);
      assert.deepEqual(await tunnelUp(conn, t3), ['response 200', 'up http']);
      const [a, b] = await Promise.all([readReply(conn, conn.get('/info', {}, { tunnel: t2 })), readReply(conn, conn.get('/info', {}, { tunnel: t3 }))]);
      assert.deepEqual(infoFields(a.body), ['HTTP/2.0', 'https', String(P.nginxTls), 'TLSv1.3', 'h2']);
      assert.deepEqual(infoFields(b.body), ['HTTP/1.1', 'http', String(P.nginxHttp)]);
    });

    it('SOCKS auth refused behind nghttpx: ERR_SOCKS_AUTH on the tunnel ref naming hop 1 (dante); the connection goes on', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls });
      const bad = conn.connect({ host: '127.0.0.1', port: P.danteAuth, protocols: [{ socks: { ...nginxH2cSocks(), auth: [{ username: peers.socksUser.username, password: 'wrong' }] } }] });
      assertBurrowError(await streamError(conn, bad), 'ERR_SOCKS_AUTH', 'socks-auth', { index: 1, kind: 'socks5', host: '127.0.0.1', port: P.danteAuth });
      const none = conn.connect({ host: '127.0.0.1', port: P.danteAuth, protocols: [{ socks: nginxH2cSocks() }] });
      assertBurrowError(await streamError(conn, none), 'ERR_SOCKS_NO_ACCEPTABLE_METHOD', 'socks-auth', { index: 1, kind: 'socks5', port: P.danteAuth });
      const good = conn.connect({ host: '127.0.0.1', port: P.danteAuth, protocols: [{ socks: { ...nginxH2cSocks(), auth: [{ ...peers.socksUser }] } }] });
      assert.deepEqual(await tunnelUp(conn, good), ['response 200', 'up socks', 'up http2']);
      assert.equal((await readReply(conn, conn.get('/small', {}, { tunnel: good }))).body.toString(), 'hello from nginx\n');
    });

    it('SOCKS refusal behind squid: ERR_SOCKS_REPLY on the tunnel ref naming hop 1 (dante)', TEST_TIMEOUT, async () => {
      const conn = track({ host: '127.0.0.1', port: P.squid });
      const t = conn.connect({ host: '127.0.0.1', port: P.dante, protocols: [{ socks: { host: '127.0.0.1', port: P.closed } }] });
      const e = await streamError(conn, t);
      assertBurrowError(e, 'ERR_SOCKS_REPLY', 'socks-reply', { index: 1, kind: 'socks5', host: '127.0.0.1', port: P.dante, transport: 'tcp' });
      assert.ok(isBurrowError(e));
      assert.equal(e.details['replyName'], 'connection_refused');
    });

    it('407 from squid inside a squid tunnel: an ordinary response on the inner CONNECT', TEST_TIMEOUT, async () => {
      const conn = track({ host: 'localhost', port: P.squidTls, transport: 'tls', tls, protocols: ['http'] });
      const t1 = conn.connect({ host: '127.0.0.1', port: P.squidAuth });
      const t2 = conn.connect(nginxHttp(), {}, { tunnel: t1 });
      await tunnelUp(conn, t1);
      const res = await readReply(conn, t2);
      assert.equal(res.status, 407);
      assertBurrowError(await streamError(conn, conn.get('/', {}, { tunnel: t2 })), 'ERR_NOT_A_TUNNEL', 'state');
    });

    it('an untrusted origin certificate behind squid is ERR_TLS naming the origin hop', TEST_TIMEOUT, async () => {
      const other = createTestPki();
      const conn = track({ host: '127.0.0.1', port: P.squid });
      const t = conn.connect({ host: 'localhost', port: P.nginxTls, transport: 'tls', tls: { ca: other.ca } });
      assertBurrowError(await streamError(conn, t), 'ERR_TLS', 'tls', { index: 1, host: 'localhost', port: P.nginxTls, transport: 'tls' });
    });
  });

  describe('100 MB transfers with checksums', () => {
    async function download(conn: Connection, tunnel: StreamRef): Promise<{ status: number; size: number; sha256: string; ms: number }> {
      const t0 = performance.now();
      const ref = conn.get(peers.big.path, {}, { tunnel });
      const h = createHash('sha256');
      let size = 0;
      let status = 0;
      for await (const m of conn.messages(ref)) {
        if (m.type === 'response') status = m.status;
        else if (m.type === 'data') {
          h.update(m.data);
          size += m.data.length;
        } else if (m.type === 'error') throw m.error;
      }
      return { status, size, sha256: h.digest('hex'), ms: performance.now() - t0 };
    }

    async function upload(conn: Connection, tunnel: StreamRef, headers: Record<string, string>): Promise<{ size: number; sha256: string; ms: number }> {
      const t0 = performance.now();
      const ref = conn.post('/upload', headers, undefined, { tunnel });
      const pattern = new Pattern(BIG_CHUNK);
      for (let sent = 0; sent < BIG_SIZE; sent += BIG_CHUNK) await conn.data(ref, sent + BIG_CHUNK >= BIG_SIZE, pattern.next());
      const res = await readReply(conn, ref);
      assert.equal(res.status, 200, res.body.toString());
      const got = await peers.received(res.body.toString());
      return { ...got, ms: performance.now() - t0 };
    }

    const mib = (ms: number): string => `${((BIG_SIZE / 1048576) / (ms / 1000)).toFixed(0)} MiB/s`;

    it('download through squid (TLS) → tinyproxy → nginx (TLS, h2)', BIG_TIMEOUT, async (t) => {
      const conn = track({ host: 'localhost', port: P.squidTls, transport: 'tls', tls, protocols: ['http'] });
      const t1 = conn.connect({ host: '127.0.0.1', port: P.tinyproxy });
      const t2 = conn.connect(nginxTls(), {}, { tunnel: t1 });
      await tunnelUp(conn, t2);
      const r = await download(conn, t2);
      t.diagnostic(`100 MB in ${r.ms.toFixed(0)} ms (${mib(r.ms)})`);
      assert.deepEqual([r.status, r.size, r.sha256], [200, peers.big.size, peers.big.sha256]);
    });

    it('upload through nghttpx (h2) → dante → nginx (TLS, h2): nginx wrote what was sent', BIG_TIMEOUT, async (t) => {
      const conn = track({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls });
      const tun = conn.connect({ host: '127.0.0.1', port: P.dante, protocols: [{ socks: { host: 'localhost', port: P.nginxTls, transport: 'tls', tls } }] });
      await tunnelUp(conn, tun);
      const r = await upload(conn, tun, { 'content-type': 'application/octet-stream', 'content-length': String(BIG_SIZE) });
      t.diagnostic(`100 MB in ${r.ms.toFixed(0)} ms (${mib(r.ms)})`);
      assert.deepEqual([r.size, r.sha256], [BIG_SIZE, peers.big.sha256]);
    });

    it('upload, chunked, through squid (TLS) → tinyproxy → nginx (TLS, HTTP/1.1)', BIG_TIMEOUT, async (t) => {
      const conn = track({ host: 'localhost', port: P.squidTls, transport: 'tls', tls, protocols: ['http'] });
      const t1 = conn.connect({ host: '127.0.0.1', port: P.tinyproxy });
      const t2 = conn.connect(nginxTlsH1(), {}, { tunnel: t1 });
      await tunnelUp(conn, t2);
      const r = await upload(conn, t2, { 'content-type': 'application/octet-stream' });
      t.diagnostic(`100 MB in ${r.ms.toFixed(0)} ms (${mib(r.ms)})`);
      assert.deepEqual([r.size, r.sha256], [BIG_SIZE, peers.big.sha256]);
    });

    it('download through three proxies: stunnel + dante → squid (TLS) → nghttpx (h2) → nginx (TLS, h2)', BIG_TIMEOUT, async (t) => {
      const conn = track({ host: 'localhost', port: P.stunnelSocks, transport: 'tls', tls, protocols: [{ socks: squidTlsSocks() }] });
      const t1 = conn.connect({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls });
      const t2 = conn.connect(nginxTls(), {}, { tunnel: t1 });
      await tunnelUp(conn, t2);
      const r = await download(conn, t2);
      t.diagnostic(`100 MB in ${r.ms.toFixed(0)} ms (${mib(r.ms)})`);
      assert.deepEqual([r.status, r.size, r.sha256], [200, peers.big.size, peers.big.sha256]);
    });
  });

  describe('request bodies streamed before the tunnel is up', () => {
    // Requests made with { tunnel } while the CONNECT is pending wait for it
    // (docs/tunnels.md); their body, given with data(), must wait too.
    for (const via of ['nghttpx (HTTP/2 CONNECT)', 'squid (HTTP/1.1 CONNECT)'] as const) {
      it(`data() right after post() in a pending tunnel through ${via}`, TEST_TIMEOUT, async () => {
        const conn = via.startsWith('nghttpx') ? track({ host: 'localhost', port: P.nghttpxTls, transport: 'tls', tls }) : track({ host: '127.0.0.1', port: P.squid });
        await conn.awaitUp(MSG_TIMEOUT);
        const t = conn.connect(nginxHttp());
        const ref = conn.post('/echo', { 'content-length': '10' }, undefined, { tunnel: t });
        await conn.data(ref, false, 'hello');
        await conn.data(ref, true, 'world');
        const res = await readReply(conn, ref);
        assert.equal(res.body.toString(), 'helloworld');
      });
    }
  });

  describe('request(): redirects through real chains', () => {
    // nginx's /redirect-* locations (harness.ts); the pool is closed before the leak check below.
    const viaOf = (name: 'squid TLS' | 'nghttpx → SOCKS5 over TLS'): RequestInit['via'] =>
      name === 'squid TLS'
        ? [{ url: `https://localhost:${P.squidTls}`, tls }]
        : [{ url: `h2://localhost:${P.nghttpxTls}`, tls }, { url: `socks5hs://localhost:${P.stunnelSocks}`, tls }];
    for (const name of ['squid TLS', 'nghttpx → SOCKS5 over TLS'] as const) {
      it(`${name}: 301/302/303/307/308, a chain of two, a loop`, TEST_TIMEOUT, async () => {
        const via = viaOf(name);
        const pool = new Pool();
        // dante resolves names itself and nginx listens on 127.0.0.1 only: the origin by address, verified by name.
        const base = `https://127.0.0.1:${P.nginxTls}`;
        const init = { via, tls: tlsByIp, pool };
        try {
          for (const status of [301, 302, 303]) {
            const res = await request(`${base}/redirect-${status}`, { ...init, method: 'POST', body: 'x=1' });
            assert.equal(res.status, 200, `${status}`);
            assert.equal(await res.text(), 'hello from nginx\n');
            assert.deepEqual(res.redirects, [{ url: `${base}/redirect-${status}`, status }]);
            assert.equal(res.url, `${base}/small`);
          }
          for (const status of [307, 308]) {
            const res = await request(`${base}/redirect-${status}`, { ...init, method: 'POST', body: `body for ${status}` });
            assert.equal(await res.text(), `body for ${status}`, `${status} sends the body again`);
          }
          const chain = await request(`${base}/redirect-chain`, init);
          assert.equal(await chain.text(), 'hello from nginx\n');
          assert.deepEqual(chain.redirects.map((h) => h.status), [302, 301]);
          await assert.rejects(request(`${base}/redirect-loop`, { ...init, maxRedirects: 5 }), (e: unknown) => isBurrowError(e, 'ERR_TOO_MANY_REDIRECTS'));
        } finally {
          await pool.close();
        }
      });
    }
  });

  it('leaves no sockets or timers behind', async () => {
    await Promise.all([...conns].map((c) => c.close()));
    conns.clear();
    await assertNoLeaks(baseline);
  });
});
