// ChainDispatcher against burrow's own test servers: options, fromEnv() with
// chains and CIDR in no_proxy, install() and undici's setGlobalDispatcher(),
// the `burrow/undici/register` one-liner in a child process, undici's
// WebSocket (an HTTP/1.1 upgrade) and connect() (a raw CONNECT tunnel), the
// headers timeout, redirects followed by fetch, and the shape of failures.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Duplex } from 'node:stream';
import { ChainDispatcher, isBurrowError } from '../../../src/index.js';
import { startConnectProxy, startEchoServer, startOrigin, type TestConnectProxy, type TestEchoServer, type TestOrigin } from '../../../src/testing/index.js';
import { assertNoLeaks, resourceSnapshot } from '../../helpers/leaks.js';
import { startWsOrigin, type WsOrigin } from '../../helpers/ws-origin.js';

type FetchFn = (url: string, init?: Record<string, unknown>) => Promise<Response>;
interface Undici {
  fetch: FetchFn;
  setGlobalDispatcher(d: unknown): void;
  getGlobalDispatcher(): unknown;
  connect(url: string, opts: Record<string, unknown>): Promise<{ statusCode: number; socket: Duplex }>;
  request(url: string, opts: Record<string, unknown>): Promise<{ statusCode: number; body: { text(): Promise<string> } }>;
  WebSocket: new (url: string, opts: Record<string, unknown>) => WebSocket;
}
const undici = (await import('undici')) as unknown as Undici;
const REGISTER = fileURLToPath(new URL('../../../src/adapters/undici/register.js', import.meta.url));

/** The rejection of `p` (fails when it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

describe('ChainDispatcher', () => {
  let origin: TestOrigin;
  let h2origin: TestOrigin;
  let proxyA: TestConnectProxy;
  let proxyB: TestConnectProxy;
  let echo: TestEchoServer;
  let ws: WsOrigin;
  let redirector: Server;
  let baseline: string[];

  before(async () => {
    baseline = resourceSnapshot();
    origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    h2origin = await startOrigin({ protocol: 'http2', transport: 'tls' });
    proxyA = await startConnectProxy();
    proxyB = await startConnectProxy();
    echo = await startEchoServer();
    ws = await startWsOrigin();
    // Answers every request with a redirect to the test origin.
    redirector = createServer((req, res) => res.writeHead(302, { location: `${origin.url}/` }).end());
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    redirector.closeAllConnections();
    await new Promise<void>((resolve) => redirector.close(() => resolve()));
    await Promise.all([origin.close(), h2origin.close(), proxyA.close(), proxyB.close(), echo.close(), ws.close()]);
    await assertNoLeaks(baseline);
  });

  describe('options', () => {
    it('rejects an unknown option and a bad proxy URL with ERR_INVALID_OPTION', () => {
      assert.throws(() => new ChainDispatcher({ nope: 1 } as never), (e: unknown) => isBurrowError(e) && e.code === 'ERR_INVALID_OPTION');
      assert.throws(() => new ChainDispatcher({ via: ['ftp://x:1'] }), (e: unknown) => isBurrowError(e));
      assert.throws(() => new ChainDispatcher({ protocols: [] }), (e: unknown) => isBurrowError(e) && e.code === 'ERR_INVALID_OPTION');
      assert.throws(() => new ChainDispatcher({ timeouts: { headers: -1 } }), (e: unknown) => isBurrowError(e) && e.code === 'ERR_INVALID_OPTION');
    });

    it('sends through a two-proxy chain, one CONNECT per proxy, reused for the next request', async () => {
      const d = new ChainDispatcher({ via: [proxyA.url, proxyB.url] });
      const a0 = proxyA.requests.length;
      const b0 = proxyB.requests.length;
      try {
        for (let i = 0; i < 3; i++) assert.equal(await (await undici.fetch(`${origin.url}/`, { dispatcher: d })).text(), 'hello');
        assert.equal(proxyA.requests.length - a0, 1);
        assert.equal(proxyB.requests.length - b0, 1);
        assert.equal(proxyB.requests.at(-1)?.target, `127.0.0.1:${origin.port}`);
      } finally {
        await d.close();
      }
    });

    it('uses HTTP/2 to an origin whose ALPN picks it, and HTTP/1.1 when allowH2 is false', async () => {
      const d = new ChainDispatcher({ via: [proxyA.url], tls: { ca: h2origin.pki?.ca } });
      try {
        const res = await undici.request(`${h2origin.url}/echo`, { dispatcher: d });
        assert.equal(JSON.parse(await res.body.text()).httpVersion, '2.0');
        const h1 = await undici.request(`${h2origin.url}/echo`, { dispatcher: d, allowH2: false });
        assert.equal(JSON.parse(await h1.body.text()).httpVersion, '1.1');
      } finally {
        await d.close();
      }
    });
  });

  describe('requests', () => {
    it('fetch follows a redirect itself: each request goes through the chain', async () => {
      const d = new ChainDispatcher({ via: [proxyA.url] });
      const a0 = proxyA.requests.length;
      try {
        const port = (redirector.address() as AddressInfo).port;
        const res = await undici.fetch(`http://127.0.0.1:${port}/away`, { dispatcher: d });
        assert.equal(res.redirected, true);
        assert.equal(await res.text(), 'hello');
        assert.deepEqual(
          proxyA.requests.slice(a0).map((r) => r.target),
          [`127.0.0.1:${port}`, `127.0.0.1:${origin.port}`],
        );
      } finally {
        await d.close();
      }
    });

    it("undici's request() sends a Readable, a Blob and bytes as the body", async () => {
      const d = new ChainDispatcher({ via: [proxyA.url] });
      try {
        for (const body of [Readable.from([Buffer.from('from '), Buffer.from('a Readable')]), new Blob(['from ', 'a Blob']), Buffer.from('from bytes')]) {
          const res = await undici.request(`${origin.url}/echo`, { dispatcher: d, method: 'POST', body });
          const echoed = JSON.parse(await res.body.text()) as { body: string };
          assert.match(echoed.body, /^from (a Readable|a Blob|bytes)$/);
        }
      } finally {
        await d.close();
      }
    });

    it('a body of another type rejects with ERR_INVALID_REQUEST and sends nothing', async () => {
      const d = new ChainDispatcher({ via: [proxyA.url] });
      const a0 = proxyA.requests.length;
      try {
        const e = await rejection(undici.request(`${origin.url}/echo`, { dispatcher: d, method: 'POST', body: 42 }));
        assert.ok(isBurrowError(e) && e.code === 'ERR_INVALID_REQUEST', String(e));
        assert.equal(proxyA.requests.length, a0);
      } finally {
        await d.close();
      }
    });
  });

  describe('fromEnv()', () => {
    it('takes a chain from http_proxy and skips it for a no_proxy CIDR', async () => {
      const chain = { http_proxy: `${proxyA.url}, ${proxyB.url}` };
      const through = ChainDispatcher.fromEnv({ env: { ...chain, no_proxy: '10.0.0.0/8' } });
      const direct = ChainDispatcher.fromEnv({ env: { ...chain, no_proxy: '127.0.0.0/8' } });
      const a0 = proxyA.requests.length;
      const b0 = proxyB.requests.length;
      try {
        assert.equal(await (await undici.fetch(`${origin.url}/`, { dispatcher: through })).text(), 'hello');
        assert.deepEqual([proxyA.requests.length - a0, proxyB.requests.length - b0], [1, 1], 'both proxies of the chain');
        assert.equal(await (await undici.fetch(`${origin.url}/`, { dispatcher: direct })).text(), 'hello');
        assert.deepEqual([proxyA.requests.length - a0, proxyB.requests.length - b0], [1, 1], 'no proxy for 127.0.0.0/8');
      } finally {
        await Promise.all([through.close(), direct.close()]);
      }
    });

    it('reads the environment once, when made', async () => {
      const env: Record<string, string> = { http_proxy: proxyA.url };
      const d = ChainDispatcher.fromEnv({ env });
      env['no_proxy'] = '*';
      const a0 = proxyA.requests.length;
      try {
        await (await undici.fetch(`${origin.url}/`, { dispatcher: d })).text();
        assert.equal(proxyA.requests.length - a0, 1);
      } finally {
        await d.close();
      }
    });
  });

  describe('as the global dispatcher', () => {
    it("install() routes the global fetch and undici's fetch through the chain, and its return puts the previous one back", async () => {
      const d = new ChainDispatcher({ via: [proxyA.url] });
      const previous = undici.getGlobalDispatcher();
      const restore = d.install();
      const a0 = proxyA.requests.length;
      try {
        assert.equal(await (await (globalThis.fetch as unknown as FetchFn)(`${origin.url}/`)).text(), 'hello');
        assert.equal(await (await undici.fetch(`${origin.url}/`)).text(), 'hello');
        assert.ok(proxyA.requests.length - a0 >= 1);
        assert.equal(undici.getGlobalDispatcher(), d);
      } finally {
        restore();
        await d.close();
      }
      assert.equal(undici.getGlobalDispatcher(), previous);
    });

    it("works with undici's setGlobalDispatcher()", async () => {
      const d = new ChainDispatcher({ via: [proxyB.url] });
      const previous = undici.getGlobalDispatcher();
      const b0 = proxyB.requests.length;
      undici.setGlobalDispatcher(d);
      try {
        assert.equal(await (await undici.fetch(`${origin.url}/`)).text(), 'hello');
        assert.equal(proxyB.requests.length - b0, 1);
      } finally {
        undici.setGlobalDispatcher(previous);
        await d.close();
      }
    });

    it('node --import burrow/undici/register: a program whose fetch() follows http_proxy and exits by itself', async () => {
      const script = `const r = await fetch(${JSON.stringify(`${origin.url}/`)}); console.log(r.status, await r.text());`;
      const a0 = proxyA.requests.length;
      // The proxy and the origin live in this process: the child runs asynchronously.
      const child = spawn(process.execPath, ['--import', REGISTER, '--input-type=module', '-e', script], { env: { PATH: process.env['PATH'] ?? '', http_proxy: proxyA.url }, timeout: 30_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const [code] = (await once(child, 'close')) as [number | null];
      assert.equal(code, 0, stderr);
      assert.equal(stdout.trim(), '200 hello');
      assert.equal(proxyA.requests.length - a0, 1, 'the CONNECT of the child went through proxy A');
    });
  });

  describe('upgrades and CONNECT', () => {
    it("undici's WebSocket through the chain (an HTTP/1.1 upgrade) opens, echoes and closes: the server's end of the stream ends the socket, as a net.Socket's does", async () => {
      const d = new ChainDispatcher({ via: [proxyA.url] });
      try {
        const sock = new undici.WebSocket(ws.url, { dispatcher: d });
        await once(sock as unknown as EventTarget, 'open');
        const message = once(sock as unknown as EventTarget, 'message');
        sock.send('through the chain');
        const [ev] = (await message) as [MessageEvent];
        assert.equal(ev.data, 'through the chain');
        const closed = once(sock as unknown as EventTarget, 'close');
        sock.close(1000);
        await closed;
      } finally {
        await d.close();
      }
    });

    it("undici's connect(): a raw tunnel from the origin (taken as a proxy) to the path, given as undici sends it (/host:port)", async () => {
      const d = new ChainDispatcher({ via: [proxyA.url] });
      try {
        const { statusCode, socket } = await undici.connect(proxyB.url, { path: `127.0.0.1:${echo.port}`, dispatcher: d });
        assert.equal(statusCode, 200);
        socket.write('ping through two proxies');
        const [chunk] = (await once(socket, 'data')) as [Buffer];
        assert.equal(chunk.toString(), 'ping through two proxies');
        socket.end();
        socket.destroy();
        await once(socket, 'close');
      } finally {
        await d.destroy();
      }
    });
  });

  describe('failures', () => {
    it("a proxy's refusal: fetch rejects with TypeError whose cause is the burrow error (hop, stage); request() with the burrow error", async () => {
      const refusing = await startConnectProxy({ behavior: { status: 403 } });
      const d = new ChainDispatcher({ via: [proxyA.url, refusing.url] });
      try {
        const e = await rejection(undici.fetch(`${origin.url}/`, { dispatcher: d }));
        assert.ok(e instanceof TypeError);
        const cause = e.cause;
        assert.ok(isBurrowError(cause), String(cause));
        assert.equal(cause.code, 'ERR_CONNECT_STATUS');
        assert.equal(cause.stage, 'connect-response');
        assert.equal(cause.hop?.index, 1);
        const r = await rejection(undici.request(`${origin.url}/`, { dispatcher: d }));
        assert.ok(isBurrowError(r) && r.code === 'ERR_CONNECT_STATUS' && r.hop?.index === 1, String(r));
      } finally {
        await d.close();
        await refusing.close();
      }
    });

    it('timeouts.headers: no response head in time rejects with ERR_HEADERS_TIMEOUT (stage timeout), not with the cancellation of its stream', async () => {
      const d = new ChainDispatcher({ via: [proxyA.url], timeouts: { headers: 50 } });
      try {
        const e = await rejection(undici.fetch(`${origin.url}/never`, { dispatcher: d }));
        assert.ok(e instanceof TypeError);
        assert.ok(isBurrowError(e.cause) && e.cause.code === 'ERR_HEADERS_TIMEOUT' && e.cause.stage === 'timeout', String(e.cause));
      } finally {
        await d.close();
      }
    });

    it('a closed dispatcher refuses new requests with ERR_CLOSED', async () => {
      const d = new ChainDispatcher({ via: [proxyA.url] });
      await d.close();
      assert.equal(d.closed, true);
      const e = await rejection(undici.fetch(`${origin.url}/`, { dispatcher: d }));
      assert.ok(e instanceof TypeError && isBurrowError(e.cause) && e.cause.code === 'ERR_CLOSED', String(e));
    });

    it('destroy() fails the requests in flight and closes their connections', async () => {
      const d = new ChainDispatcher({ via: [proxyA.url] });
      const p = rejection(undici.fetch(`${origin.url}/never`, { dispatcher: d }));
      // In flight once the origin has its request (event-loop turns, no timer).
      for (let turn = 0; turn < 10_000 && !origin.requests.some((r) => r.path === '/never'); turn++) await new Promise<void>((resolve) => setImmediate(resolve));
      assert.ok(origin.requests.some((r) => r.path === '/never'), 'the origin got the request');
      await d.destroy();
      const e = await p;
      assert.ok(e instanceof TypeError && isBurrowError(e.cause) && e.cause.code === 'ERR_CLOSED', String(e));
    });
  });
});
