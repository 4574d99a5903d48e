// The HTTP/2 CONNECT test proxy, driven by node:http2's client: tunnels over
// h2c and h2 (and TLS through them), many tunnels on one session, stream
// semantics (half-close, resets both ways), misbehaviours, authentication,
// flow-control windows, and close() leaving nothing.
import * as assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  createTestPki,
  ScriptedConnection,
  startEchoServer,
  startH2ConnectProxy,
  startOrigin,
  startScriptedServer,
  type H2ConnectBehavior,
  type StartH2ConnectProxyOptions,
  type TestEchoServer,
  type TestH2ConnectProxy,
  type TestPki,
} from '../../src/testing/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';

const baseline = resourceSnapshot();
const READ_MS = 5000;
const { NGHTTP2_CANCEL, NGHTTP2_CONNECT_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

let pki: TestPki;
let echo: TestEchoServer;
const sessions: http2.ClientHttp2Session[] = [];
const sockets: net.Socket[] = [];
const proxies: TestH2ConnectProxy[] = [];

before(async () => {
  pki = createTestPki();
  echo = await startEchoServer();
});

afterEach(async () => {
  // Not in the turn a reset stream closed in: node:http2 (seen on 20.20) then spins forever in
  // session.destroy() when another stream of the session is open.
  await new Promise<void>((resolve) => setImmediate(resolve));
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of sessions.splice(0)) s.destroy();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

after(async () => {
  await echo.close();
  await assertNoLeaks(baseline);
});

async function proxy(opts: StartH2ConnectProxyOptions = {}): Promise<TestH2ConnectProxy> {
  const p = await startH2ConnectProxy({ pki, ...opts });
  proxies.push(p);
  return p;
}

async function connect(p: TestH2ConnectProxy): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(p.url, p.transport === 'tls' ? { ca: pki.ca } : {});
  sessions.push(session);
  session.on('error', () => {});
  await once(session, 'connect');
  return session;
}

function echoAuthority(): string {
  return `127.0.0.1:${echo.port}`;
}

interface Tunnel {
  stream: http2.ClientHttp2Stream;
  /** The response headers; rejects when the stream closes without one. */
  response: Promise<http2.IncomingHttpHeaders>;
  reader: Reader;
}

function tunnel(session: http2.ClientHttp2Session, authority: string, headers: http2.OutgoingHttpHeaders = {}): Tunnel {
  const stream = session.request({ ':method': 'CONNECT', ':authority': authority, ...headers });
  stream.on('error', () => {});
  const response = new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('close', () => reject(new Error(`stream closed with code ${stream.rstCode} before a response`)));
  });
  response.catch(() => {});
  return { stream, response, reader: new Reader(stream) };
}

/** Reads a stream by counts, with bounded waits. */
class Reader {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private wake: (() => void) | undefined;
  constructor(stream: Duplex) {
    stream.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.size += c.length;
      this.poke();
    });
    stream.on('end', () => {
      this.ended = true;
      this.poke();
    });
    stream.on('close', () => {
      this.ended = true;
      this.poke();
    });
  }
  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
  private async waitFor(cond: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + READ_MS;
    while (!cond()) {
      if (this.ended) throw new Error(`stream ended before ${what} (${this.size} bytes)`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
  private take(n: number): Buffer {
    const all = Buffer.concat(this.chunks);
    this.chunks = n < all.length ? [all.subarray(n)] : [];
    this.size = all.length - n;
    return all.subarray(0, n);
  }
  async readExactly(n: number): Promise<Buffer> {
    await this.waitFor(() => this.size >= n, `${n} bytes`);
    return this.take(n);
  }
  async readToEnd(): Promise<Buffer> {
    await this.waitFor(() => this.ended, 'the end').catch((e: unknown) => {
      if (!this.ended) throw e;
    });
    return this.take(this.size);
  }
}

/** A whole (non-tunnel) exchange: status and body; rejects on a reset. */
function fetch(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<{ headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    const chunks: Buffer[] = [];
    let res: http2.IncomingHttpHeaders | undefined;
    stream.on('response', (h) => (res = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('close', () => {
      if (res !== undefined && stream.rstCode === NGHTTP2_NO_ERROR) resolve({ headers: res, body: Buffer.concat(chunks).toString() });
      else reject(new Error(`stream closed with code ${stream.rstCode}`));
    });
  });
}

function closedWith(stream: http2.ClientHttp2Stream): Promise<number | undefined> {
  // Not events.once: it rejects on the 'error' a reset stream emits before 'close'.
  return new Promise((resolve) => {
    if (stream.closed) resolve(stream.rstCode);
    else stream.once('close', () => resolve(stream.rstCode));
  });
}

/** Waits (event-loop turns, bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (cond()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const transport of ['tcp', 'tls'] as const) {
  describe(`HTTP/2 CONNECT proxy over ${transport}`, () => {
    it('describes itself and announces large windows', async () => {
      const p = await proxy({ transport, maxConcurrentStreams: 7 });
      assert.equal(p.host, '127.0.0.1');
      assert.equal(p.transport, transport);
      assert.equal(p.url, `${transport === 'tls' ? 'https' : 'http'}://127.0.0.1:${p.port}`);
      assert.equal(p.pki, transport === 'tls' ? pki : undefined);
      const session = http2.connect(p.url, transport === 'tls' ? { ca: pki.ca } : {});
      sessions.push(session);
      const [settings] = (await once(session, 'remoteSettings')) as [http2.Settings];
      assert.equal(settings.initialWindowSize, 16 * 1024 * 1024);
      assert.equal(settings.maxConcurrentStreams, 7);
      // The connection window update comes with the SETTINGS, before the PING acknowledgement.
      await new Promise<void>((resolve, reject) => session.ping((err) => (err === null ? resolve() : reject(err))));
      assert.equal(session.state.remoteWindowSize, 64 * 1024 * 1024);
      if (transport === 'tls') assert.equal(session.alpnProtocol, 'h2');
      assert.equal(p.sessions, 1);
    });

    it('responds 200 and relays both ways; records the stream', async () => {
      const p = await proxy({ transport });
      const session = await connect(p);
      const t = tunnel(session, echoAuthority(), { 'x-test': 'one' });
      assert.equal((await t.response)[':status'], 200);
      t.stream.write('hello');
      assert.equal((await t.reader.readExactly(5)).toString(), 'hello');
      assert.equal(p.requests.length, 1);
      const r = p.requests[0];
      assert.equal(r?.authority, echoAuthority());
      assert.equal(r?.host, '127.0.0.1');
      assert.equal(r?.port, echo.port);
      assert.equal(r?.sessionId, 1);
      assert.equal(r?.streamId, 1);
      assert.deepEqual(r?.headers.slice(0, 2), [
        [':method', 'CONNECT'],
        [':authority', echoAuthority()],
      ]);
      assert.ok(r?.headers.some(([k, v]) => k === 'x-test' && v === 'one'));
      assert.ok(!r?.headers.some(([k]) => k === ':path' || k === ':scheme'));
    });

    it('relays half-close: END_STREAM ends the target, its FIN ends the stream', async () => {
      const p = await proxy({ transport });
      const session = await connect(p);
      const t = tunnel(session, echoAuthority());
      await t.response;
      t.stream.end('bye');
      assert.equal((await t.reader.readToEnd()).toString(), 'bye');
      assert.equal(await closedWith(t.stream), NGHTTP2_NO_ERROR);
    });

    it('carries many tunnels on one session', async () => {
      const p = await proxy({ transport });
      const session = await connect(p);
      const tunnels = Array.from({ length: 20 }, () => tunnel(session, echoAuthority()));
      await Promise.all(tunnels.map((t) => t.response));
      tunnels.forEach((t, i) => t.stream.write(`tunnel ${String(i).padStart(2, '0')}`));
      const got = await Promise.all(tunnels.map((t) => t.reader.readExactly(9)));
      assert.deepEqual(
        got.map((b) => b.toString()),
        tunnels.map((_, i) => `tunnel ${String(i).padStart(2, '0')}`),
      );
      assert.equal(p.sessions, 1);
      assert.equal(p.streams, 20);
      assert.deepEqual(new Set(p.requests.map((r) => r.sessionId)), new Set([1]));
      assert.deepEqual(
        p.requests.map((r) => r.streamId).sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, i) => 2 * i + 1),
      );
    });

    it('carries TLS to a TLS origin through the tunnel', async () => {
      const origin = await startOrigin({ protocol: 'http', transport: 'tls', pki });
      try {
        const p = await proxy({ transport });
        const session = await connect(p);
        const t = tunnel(session, `localhost:${origin.port}`);
        await t.response;
        assert.equal(p.requests[0]?.host, 'localhost');
        const secure = tls.connect({ socket: t.stream, ca: pki.ca, servername: 'localhost' });
        sockets.push(secure);
        await once(secure, 'secureConnect');
        const c = new ScriptedConnection(secure);
        await c.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
        const res = (await c.readToEnd()).toString('latin1');
        assert.match(res, /^HTTP\/1\.1 200 OK\r\n/);
        assert.ok(res.endsWith('\r\n\r\nhello'), res);
      } finally {
        for (const s of sockets.splice(0)) s.destroy();
        for (const s of sessions.splice(0)) s.destroy();
        await origin.close();
      }
    });

    it('answers other requests with 200 proxy ok', async () => {
      const p = await proxy({ transport });
      const session = await connect(p);
      const r = await fetch(session, { ':path': '/proxy-status' });
      assert.equal(r.headers[':status'], 200);
      assert.equal(r.body, 'proxy ok');
      assert.equal(p.streams, 1);
      assert.equal(p.requests.length, 0);
    });
  });
}

describe('HTTP/2 CONNECT proxy: targets and resets', () => {
  it('replies 502 when the target refuses', async () => {
    const s = net.createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const closedPort = (s.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    const p = await proxy();
    const session = await connect(p);
    const t = tunnel(session, `127.0.0.1:${closedPort}`);
    assert.equal((await t.response)[':status'], 502);
    assert.equal((await t.reader.readToEnd()).toString(), 'proxy says no');
  });

  it('replies 400 to an authority that is not host:port', async () => {
    const p = await proxy();
    const session = await connect(p);
    const t = tunnel(session, 'no-port.example');
    assert.equal((await t.response)[':status'], 400);
    assert.deepEqual([p.requests[0]?.host, p.requests[0]?.port], ['', 0]);
  });

  it('resets the stream with CONNECT_ERROR when the target resets its connection', async () => {
    const target = await startScriptedServer({
      onConnection: async (c) => {
        await c.readExactly(1);
        c.reset();
      },
    });
    try {
      const p = await proxy();
      const session = await connect(p);
      const t = tunnel(session, `127.0.0.1:${target.port}`);
      await t.response;
      t.stream.write('x');
      assert.equal(await closedWith(t.stream), NGHTTP2_CONNECT_ERROR);
      // The session survives.
      assert.equal((await fetch(session, { ':path': '/' })).body, 'proxy ok');
    } finally {
      await target.close();
    }
  });

  it('destroys the target connection when the client resets the stream', async () => {
    const target = await startScriptedServer({ onConnection: () => {} });
    try {
      const p = await proxy();
      const session = await connect(p);
      const t = tunnel(session, `127.0.0.1:${target.port}`);
      await t.response;
      await until(() => target.connections.length === 1, 'the target connection');
      t.stream.close(NGHTTP2_CANCEL);
      // The scripted server keeps half-open sockets: the proxy's close shows as the end of the client side.
      await until(() => target.connections[0]?.remoteEnded === true, 'the target connection to end');
    } finally {
      await target.close();
    }
  });
});

describe('HTTP/2 CONNECT proxy: authentication', () => {
  const auth = { username: 'alice', password: 'pa:ss' };
  const basic = (u: string, pw: string): string => `Basic ${Buffer.from(`${u}:${pw}`).toString('base64')}`;

  it('refuses missing or wrong credentials with 407 and proxy-authenticate, accepts the right ones', async () => {
    const p = await proxy({ auth });
    const session = await connect(p);
    for (const headers of [{}, { 'proxy-authorization': basic('alice', 'nope') }, { 'proxy-authorization': 'Bearer x' }]) {
      const t = tunnel(session, echoAuthority(), headers);
      const res = await t.response;
      assert.equal(res[':status'], 407);
      assert.equal(res['proxy-authenticate'], 'Basic realm="burrow test proxy"');
      assert.equal((await t.reader.readToEnd()).toString(), 'proxy says no');
    }
    const t = tunnel(session, echoAuthority(), { 'proxy-authorization': basic('alice', 'pa:ss') });
    assert.equal((await t.response)[':status'], 200);
    t.stream.write('in');
    assert.equal((await t.reader.readExactly(2)).toString(), 'in');
    assert.equal(p.requests.length, 4);
    assert.equal(p.sessions, 1);
  });
});

describe('HTTP/2 CONNECT proxy: misbehaviours', () => {
  it('status: a non-2xx refusal with extra headers and a body; the session goes on', async () => {
    let n = 0;
    const p = await proxy({ behavior: () => (++n === 1 ? { status: 403, headers: { 'x-why': 'because' } } : {}) });
    const session = await connect(p);
    const refused = tunnel(session, echoAuthority());
    const res = await refused.response;
    assert.equal(res[':status'], 403);
    assert.equal(res['x-why'], 'because');
    assert.equal(res['content-length'], '13');
    assert.equal((await refused.reader.readToEnd()).toString(), 'proxy says no');
    const t = tunnel(session, echoAuthority());
    assert.equal((await t.response)[':status'], 200);
  });

  it('status and headers on a 2xx: any 2xx establishes, headers are sent', async () => {
    const p = await proxy({ behavior: { status: 299, headers: [['x-proxy', 'yes'], ['x-proxy', 'again']] } });
    const session = await connect(p);
    const t = tunnel(session, echoAuthority());
    const res = await t.response;
    assert.equal(res[':status'], 299);
    assert.equal(res['x-proxy'], 'yes, again');
    t.stream.write('ok');
    assert.equal((await t.reader.readExactly(2)).toString(), 'ok');
  });

  it('headers: node:http2 drops a content-length on a 2xx CONNECT response, and refuses transfer-encoding', async () => {
    const p = await proxy({ behavior: (r): H2ConnectBehavior => ({ headers: r.streamId === 1 ? { 'content-length': '3' } : { 'transfer-encoding': 'chunked' } }) });
    const session = await connect(p);
    const t = tunnel(session, echoAuthority());
    const res = await t.response;
    assert.equal(res[':status'], 200);
    assert.equal(res['content-length'], undefined);
    t.stream.write('more than three');
    assert.equal((await t.reader.readExactly(15)).toString(), 'more than three');
    const bad = tunnel(session, echoAuthority());
    await assert.rejects(bad.response);
    assert.equal(bad.stream.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR);
  });

  it('delayMs: responds no sooner than asked', async () => {
    const p = await proxy({ behavior: { delayMs: 150 } });
    const session = await connect(p);
    const start = performance.now();
    const t = tunnel(session, echoAuthority());
    assert.equal((await t.response)[':status'], 200);
    assert.ok(performance.now() - start >= 140, `responded after ${performance.now() - start} ms`);
  });

  it('neverAnswer: the CONNECT stays unanswered while the session serves other streams', async () => {
    const p = await proxy({ behavior: { neverAnswer: true } });
    const session = await connect(p);
    const t = tunnel(session, echoAuthority());
    let answered = false;
    t.response.then(() => (answered = true), () => {});
    await until(() => p.requests.length === 1, 'the CONNECT');
    assert.equal((await fetch(session, { ':path': '/' })).body, 'proxy ok');
    assert.equal(answered, false);
    t.stream.close(NGHTTP2_CANCEL);
    await assert.rejects(t.response);
  });

  it('refuseTarget: 502 without trying the target', async () => {
    const before = echo.connections;
    const p = await proxy({ behavior: { refuseTarget: true } });
    const session = await connect(p);
    const t = tunnel(session, echoAuthority());
    assert.equal((await t.response)[':status'], 502);
    assert.equal((await t.reader.readToEnd()).toString(), 'proxy says no');
    assert.equal(echo.connections, before);
  });

  it('rst: resets the CONNECT stream with CONNECT_ERROR', async () => {
    const p = await proxy({ behavior: { rst: true } });
    const session = await connect(p);
    const t = tunnel(session, echoAuthority());
    await assert.rejects(t.response);
    assert.equal(t.stream.rstCode, NGHTTP2_CONNECT_ERROR);
    assert.equal((await fetch(session, { ':path': '/' })).body, 'proxy ok');
  });

  it('extraBytes: DATA right after the response, before what the target says', async () => {
    const greeter = await startEchoServer({ greeting: 'greeting' });
    try {
      const p = await proxy({ behavior: { extraBytes: 'extra|' } });
      const session = await connect(p);
      const t = tunnel(session, `127.0.0.1:${greeter.port}`);
      await t.response;
      assert.equal((await t.reader.readExactly(14)).toString(), 'extra|greeting');
    } finally {
      for (const s of sessions.splice(0)) s.destroy();
      await greeter.close();
    }
  });

  it('is not window-bound: 32 MiB each way in one tunnel', async () => {
    const p = await proxy();
    const session = await connect(p);
    const t = tunnel(session, echoAuthority());
    await t.response;
    const size = 32 * 1024 * 1024;
    const block = Buffer.alloc(1024 * 1024, 0x5a);
    let received = 0;
    const done = new Promise<void>((resolve) => {
      t.stream.on('data', (c: Buffer) => {
        received += c.length;
        if (received >= size) resolve();
      });
    });
    for (let sent = 0; sent < size; sent += block.length) {
      if (!t.stream.write(block)) await once(t.stream, 'drain');
    }
    await done;
    assert.equal(received, size);
  });
});

describe('HTTP/2 CONNECT proxy: close()', () => {
  it('destroys sessions, tunnels and pending CONNECTs, and leaks nothing', async () => {
    const snapshot = resourceSnapshot();
    const local: http2.ClientHttp2Session[] = [];
    const plain = await startH2ConnectProxy();
    const secure = await startH2ConnectProxy({ transport: 'tls', pki, behavior: (r) => (r.streamId === 1 ? {} : { neverAnswer: true }) });
    const delayed = await startH2ConnectProxy({ behavior: { delayMs: 100_000 } });
    const tunnels: Tunnel[] = [];
    for (const p of [plain, secure, delayed]) {
      const session = http2.connect(p.url, { ca: pki.ca });
      session.on('error', () => {});
      local.push(session);
      tunnels.push(tunnel(session, echoAuthority()), tunnel(session, echoAuthority()));
    }
    await Promise.all([tunnels[0]?.response, tunnels[1]?.response, tunnels[2]?.response]);
    await until(() => secure.requests.length === 2 && delayed.requests.length === 2, 'the CONNECTs');
    await Promise.all([plain.close(), secure.close(), delayed.close()]);
    await Promise.all(local.map((s) => (s.destroyed ? undefined : once(s, 'close'))));
    await Promise.all([plain.close(), secure.close()]); // idempotent
    await assertNoLeaks(snapshot);
  });
});
