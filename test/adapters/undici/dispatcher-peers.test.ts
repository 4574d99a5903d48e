// ChainDispatcher with real fetch() clients through real proxies: Node's global
// fetch (whichever undici the running Node bundles), the npm undici 7 package
// (fetch and request) and undici 8 (fetch and request, where it loads), through
// squid over TLS, nghttpx's HTTP/2 proxy then stunnel's SOCKS5 over TLS, and
// three hops with TLS three deep, to nginx over HTTP/1.1 and HTTP/2. Also: a
// 100 MiB download checked by hash, a refused second hop as fetch's TypeError
// with the burrow error as its cause, and an abort mid-body leaving no socket.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { ChainDispatcher, isBurrowError, type TlsOptions, type ViaEntry } from '../../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../../helpers/leaks.js';
import { startPeers, type PeerPorts, type Peers } from '../../peers/harness.js';

const TEST_TIMEOUT = { timeout: 60_000 };
const BIG_TIMEOUT = { timeout: 180_000 };

/** What a client gives back: status, body bytes. */
interface Got {
  status: number;
  body: Buffer;
}

/** One way of sending a request with a dispatcher: fetch() or undici's request(). */
interface Client {
  readonly name: string;
  get(url: string, d: ChainDispatcher): Promise<Got>;
  /** POST with a body streamed in `chunks`. */
  post(url: string, d: ChainDispatcher, chunks: readonly Buffer[]): Promise<Got>;
  /** GET whose body is hashed as it streams; `onChunk` sees each piece (it may abort). */
  hash(url: string, d: ChainDispatcher, signal?: AbortSignal, onChunk?: (n: number) => void): Promise<{ status: number; size: number; sha256: string }>;
}

type FetchFn = (url: string, init: Record<string, unknown>) => Promise<Response>;
type RequestFn = (url: string, opts: Record<string, unknown>) => Promise<{ statusCode: number; body: AsyncIterable<Buffer> & { text(): Promise<string> } }>;

function streamOf(chunks: readonly Buffer[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) c.enqueue(new Uint8Array(chunks[i++] as Buffer));
      else c.close();
    },
  });
}

async function* generatorOf(chunks: readonly Buffer[]): AsyncGenerator<Buffer> {
  for (const c of chunks) yield c;
}

async function drain(body: AsyncIterable<Uint8Array>, onChunk?: (n: number) => void): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of body) {
    size += c.length;
    h.update(c);
    onChunk?.(c.length);
  }
  return { size, sha256: h.digest('hex') };
}

function fetchClient(name: string, fetchFn: FetchFn): Client {
  return {
    name,
    async get(url, d) {
      const res = await fetchFn(url, { dispatcher: d });
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
    },
    async post(url, d, chunks) {
      const res = await fetchFn(url, { dispatcher: d, method: 'POST', body: streamOf(chunks), duplex: 'half' });
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
    },
    async hash(url, d, signal, onChunk) {
      const res = await fetchFn(url, { dispatcher: d, signal });
      assert.ok(res.body !== null);
      return { status: res.status, ...(await drain(res.body as unknown as AsyncIterable<Uint8Array>, onChunk)) };
    },
  };
}

function requestClient(name: string, requestFn: RequestFn): Client {
  return {
    name,
    async get(url, d) {
      const res = await requestFn(url, { dispatcher: d });
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c);
      return { status: res.statusCode, body: Buffer.concat(chunks) };
    },
    async post(url, d, chunks) {
      const res = await requestFn(url, { dispatcher: d, method: 'POST', body: generatorOf(chunks) });
      const out: Buffer[] = [];
      for await (const c of res.body) out.push(c);
      return { status: res.statusCode, body: Buffer.concat(out) };
    },
    async hash(url, d, signal, onChunk) {
      const res = await requestFn(url, { dispatcher: d, signal });
      return { status: res.statusCode, ...(await drain(res.body, onChunk)) };
    },
  };
}

/** undici 8 requires Node ≥ 22.19: where it cannot load, the reason. */
async function loadUndici8(): Promise<{ fetch: FetchFn; request: RequestFn } | Error> {
  try {
    const m = (await import('undici8')) as unknown as { fetch: FetchFn; request: RequestFn };
    // Loading may succeed where a Node API it needs is missing: one call settles it.
    return m;
  } catch (e) {
    return e as Error;
  }
}

function nodeAtLeast(major: number, minor: number): boolean {
  const [a, b] = process.versions.node.split('.').map(Number) as [number, number];
  return a > major || (a === major && b >= minor);
}

const undici7 = (await import('undici')) as unknown as { fetch: FetchFn; request: RequestFn };
const undici8 = await loadUndici8();
const UNDICI8_OK = !(undici8 instanceof Error);

const CLIENTS: Client[] = [
  fetchClient(`Node ${process.versions.node}'s global fetch (undici ${process.versions.undici ?? '?'})`, globalThis.fetch as unknown as FetchFn),
  fetchClient('undici 7 fetch', undici7.fetch),
  requestClient('undici 7 request', undici7.request),
  ...(UNDICI8_OK ? [fetchClient('undici 8 fetch', undici8.fetch), requestClient('undici 8 request', undici8.request)] : []),
];

/** The TCP sockets this process opened since `track()` started, still open. */
function socketTracker(): { open(): Socket[]; stop(): void } {
  const sockets = new Set<Socket>();
  const ch = channel('net.client.socket');
  const onSocket = (m: unknown): void => {
    const s = (m as { socket: Socket }).socket;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  ch.subscribe(onSocket);
  return { open: () => [...sockets].filter((s) => !s.destroyed), stop: () => ch.unsubscribe(onSocket) };
}

/** Resolves when `cond()` holds, after at most a bounded number of event-loop turns (no timers). */
async function eventually(cond: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 500 && !cond(); turn++) await new Promise<void>((resolve) => setImmediate(resolve));
  assert.ok(cond(), what);
}

describe('ChainDispatcher with fetch() and undici through real proxies', () => {
  let peers: Peers;
  let P: PeerPorts;
  let tls: TlsOptions;
  let baseline: string[];

  before(async () => {
    peers = await startPeers();
    P = peers.ports;
    tls = { ca: peers.ca };
    baseline = resourceSnapshot();
  });
  after(async () => {
    await assertNoLeaks(baseline);
    await peers?.stop();
  });

  const CHAINS: Record<string, () => ViaEntry[]> = {
    'squid over TLS': () => [{ url: `https://localhost:${P.squidTls}`, tls }],
    "nghttpx's HTTP/2 proxy → stunnel's SOCKS5 over TLS": () => [
      { url: `h2://localhost:${P.nghttpxTls}`, tls },
      { url: `socks5hs://localhost:${P.stunnelSocks}`, tls },
    ],
    'three hops, TLS three deep: nghttpx (h2) → squid (TLS) → stunnel + tinyproxy (TLS)': () => [
      { url: `h2://localhost:${P.nghttpxTls}`, tls },
      { url: `https://localhost:${P.squidTls}`, tls },
      { url: `https://localhost:${P.stunnelTinyproxy}`, tls },
    ],
  };
  const ORIGINS: Record<string, { port: () => number; protocol: string }> = {
    'nginx over HTTP/1.1': { port: () => P.nginxTlsH1, protocol: 'HTTP/1.1' },
    'nginx over HTTP/2': { port: () => P.nginxTls, protocol: 'HTTP/2.0' },
  };

  for (const client of CLIENTS) {
    describe(client.name, () => {
      for (const [chainName, chain] of Object.entries(CHAINS)) {
        for (const [originName, origin] of Object.entries(ORIGINS)) {
          it(`GET and a streamed POST through ${chainName} to ${originName}`, TEST_TIMEOUT, async () => {
            const d = new ChainDispatcher({ via: chain(), tls });
            try {
              const base = `https://localhost:${origin.port()}`;
              const info = await client.get(`${base}/info`, d);
              assert.equal(info.status, 200);
              assert.equal(info.body.toString().trim().split(/\s+/)[0], origin.protocol, 'the protocol nginx saw');
              const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(16_384 + i, 0x41 + (i % 26)));
              const echo = await client.post(`${base}/echo`, d, chunks);
              assert.equal(echo.status, 200);
              assert.ok(echo.body.equals(Buffer.concat(chunks)), 'the echoed body is the body sent');
              const small = await client.get(`${base}/small`, d);
              assert.equal(small.body.toString(), 'hello from nginx\n');
            } finally {
              await d.close();
            }
          });
        }
      }

      it('a 100 MiB download through nghttpx (h2) → stunnel + dante to nginx over HTTP/2, checked by hash', BIG_TIMEOUT, async () => {
        const d = new ChainDispatcher({ via: CHAINS["nghttpx's HTTP/2 proxy → stunnel's SOCKS5 over TLS"]?.(), tls });
        try {
          const got = await client.hash(`https://localhost:${P.nginxTls}${peers.big.path}`, d);
          assert.deepEqual(got, { status: 200, size: peers.big.size, sha256: peers.big.sha256 });
        } finally {
          await d.close();
        }
      });

      it('a second hop squid cannot reach rejects with the burrow error naming squid (hop 0), the stage and the refused hop', TEST_TIMEOUT, async () => {
        const d = new ChainDispatcher({ via: [{ url: `https://localhost:${P.squidTls}`, tls }, `http://127.0.0.1:${P.closed}`], tls });
        try {
          const e = await client.get(`https://localhost:${P.nginxTls}/small`, d).then(
            () => assert.fail('the request succeeded'),
            (err: unknown) => err,
          );
          // fetch(): TypeError('fetch failed') with the burrow error as cause; request(): the burrow error itself.
          const burrow = client.name.includes('request') ? e : (assert.ok(e instanceof TypeError, `expected a TypeError, got ${String(e)}`), e.cause);
          assert.ok(isBurrowError(burrow), `expected a BurrowError, got ${String(burrow)}`);
          assert.equal(burrow.code, 'ERR_CONNECT_STATUS', burrow.message);
          assert.equal(burrow.stage, 'connect-response', burrow.message);
          // The hop that refused is squid (index 0); what it refused is the second hop.
          assert.equal(burrow.hop?.index, 0, burrow.message);
          assert.equal(burrow.hop?.port, P.squidTls, burrow.message);
          assert.ok(burrow.message.includes(`127.0.0.1:${P.closed}`), `names the second hop: ${burrow.message}`);
          assert.equal((burrow.details as { status?: number } | undefined)?.status, 503, burrow.message);
        } finally {
          await d.close();
        }
      });

      for (const [originName, origin] of Object.entries(ORIGINS)) {
        it(`an abort mid-body through squid over TLS to ${originName} leaves no socket open`, BIG_TIMEOUT, async () => {
          const sockets = socketTracker();
          const before = resourceSnapshot();
          const d = new ChainDispatcher({ via: CHAINS['squid over TLS']?.(), tls });
          const ac = new AbortController();
          let seen = 0;
          try {
            const e = await client.hash(`https://localhost:${origin.port()}${peers.big.path}`, d, ac.signal, (n) => {
              seen += n;
              if (seen >= 1 << 20) ac.abort();
            }).then(
              () => assert.fail('the download finished'),
              (err: unknown) => err,
            );
            assert.equal((e as Error).name, 'AbortError', String(e));
            assert.ok(seen < peers.big.size, 'aborted mid-body');
            if (origin.protocol === 'HTTP/1.1') {
              // An HTTP/1.1 response cut short leaves its connection unusable: it is closed, not pooled.
              await eventually(() => sockets.open().length === 0, 'the connection of the aborted HTTP/1.1 response is closed');
            } else {
              // HTTP/2: the stream is reset, the connection stays for the next request (one socket).
              assert.ok(sockets.open().length <= 1, `${sockets.open().length} sockets open`);
              const small = await client.get(`https://localhost:${origin.port()}/small`, d);
              assert.equal(small.body.toString(), 'hello from nginx\n');
            }
            await d.close();
            await eventually(() => sockets.open().length === 0, 'no socket open after close()');
            await assertNoLeaks(before);
          } finally {
            sockets.stop();
            await d.close();
          }
        });
      }

      it('reuses one connection per route for sequential requests', TEST_TIMEOUT, async () => {
        const sockets = socketTracker();
        const d = new ChainDispatcher({ via: CHAINS['squid over TLS']?.(), tls });
        try {
          for (const port of [P.nginxTlsH1, P.nginxTlsH1, P.nginxTls, P.nginxTls]) {
            assert.equal((await client.get(`https://localhost:${port}/small`, d)).status, 200);
          }
          assert.equal(sockets.open().length, 2, 'one tunnel per origin');
        } finally {
          sockets.stop();
          await d.close();
        }
      });
    });
  }

  if (UNDICI8_OK) {
    it('undici 8 loads here (Node ≥ 22.19)', () => assert.ok(nodeAtLeast(22, 19), `undici 8 loaded on Node ${process.versions.node}`));
  } else {
    describe(`undici 8 cannot load on Node ${process.versions.node} (it requires Node ≥ 22.19): its fetch and request are not run here`, () => {
      it('the load failure is real, not a missing package', () => {
        assert.ok(!nodeAtLeast(22, 19), `undici 8 failed to load on Node ${process.versions.node}: ${String(undici8)}`);
      });
    });
  }
});
