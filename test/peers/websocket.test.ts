// WebSockets against real third-party peers, through burrow's public API:
// the `ws` package's server as the origin (plain and TLS, with and without
// permessage-deflate), nginx proxying WebSocket upgrades (a real HTTP/1.1
// intermediary), nghttpx as a reverse proxy speaking RFC 8441 (WebSockets
// over HTTP/2 extended CONNECT) in front of the ws server, and the real
// proxies of the interop suite between burrow and each of them: squid (plain,
// TLS), nghttpx (HTTP/2 CONNECT over TLS and h2c), dante (SOCKS5) and stunnel
// in front of dante, alone and chained. Every WebSocket echoes messages of
// 1, 125, 126, 65535, 65536 bytes and 16 MiB (the whole list on the direct
// peers and on four chains; 1 byte and 65536 on the six others, to keep the
// file near 40 s), text of multi-byte characters, and messages the server
// sends in fragments (text cut inside UTF-8 sequences) with a ping between
// them; every one ends with a clean close (1000) and waits until its
// connection is closed and its layers (its sockets) are down, and every test
// checks that no socket or timer was left behind in the process.
// test/peers/ws-harness.ts starts the peers (startWebSocketPeers) and
// test/peers/ws-origin.ts is the ws server; docs/interop.md describes them.
import { describe, it, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  isBurrowError,
  open,
  WebSocket,
  type CloseEvent,
  type Connection,
  type LayerInfo,
  type StreamMessage,
  type StreamRef,
  type TlsOptions,
  type ViaEntry,
  type WebSocketErrorEvent,
  type WebSocketInit,
  type WsMessageData,
} from '../../src/index.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { startWebSocketPeers, type WsPeerPorts, type WsPeers } from './ws-harness.js';

/** Every wait of a case; longer than the 15 s closingTimeout a close through nghttpx's HTTP/2 CONNECT sometimes takes (docs/interop.md). */
const MSG_TIMEOUT = 30_000;
const TEST_TIMEOUT = { timeout: 120_000 };
/** WebSockets of a matrix run at the same time. */
const CONCURRENCY = 4;

const MIB = 1024 * 1024;
/** Every size of the echo checks: the frame length boundaries (7-bit, 16-bit, 64-bit lengths) and a large message. */
const FULL_SIZES = [1, 125, 126, 65535, 65536, 16 * MIB] as const;
const LIGHT_SIZES = [1, 65536] as const;

/**
 * How much a case checks: `direct` every size, the 16 MiB message random even
 * when compressed, and a 16 MiB message in fragments; `full` every size, the
 * 16 MiB message random without compression and compressible (unique
 * numbered lines, quick to deflate) with it; `light` 1 byte and 65536.
 */
type Depth = 'direct' | 'full' | 'light';

// ------------------------------------------------------------------ payloads

/** Random bytes (incompressible: deflated, a 65535-byte message grows past the 16-bit frame length). */
const payloads = new Map<number, Buffer>();
function payload(size: number): Buffer {
  let b = payloads.get(size);
  if (b === undefined) {
    b = randomBytes(size);
    payloads.set(size, b);
  }
  return b;
}

/** Numbered lines (compressible, every line different): `bytes` bytes. */
const lines = new Map<number, Buffer>();
function numberedLines(bytes: number): Buffer {
  let b = lines.get(bytes);
  if (b === undefined) {
    const parts: string[] = [];
    let n = 0;
    for (let i = 0; n < bytes; i++) {
      const line = `line ${i} of the compressible message\n`;
      parts.push(line);
      n += line.length;
    }
    b = Buffer.from(parts.join('')).subarray(0, bytes);
    lines.set(bytes, b);
  }
  return b;
}

/** Text of exactly `bytes` UTF-8 bytes, mostly multi-byte characters (2, 3 and 4 bytes). */
function text(bytes: number): string {
  const unit = 'aé€𝄞'; // 1 + 2 + 3 + 4 bytes
  const s = unit.repeat(Math.floor(bytes / 10));
  return s + 'z'.repeat(bytes - Buffer.byteLength(s));
}

function same(got: WsMessageData, want: string | Buffer): boolean {
  if (typeof want === 'string') return typeof got === 'string' && got === want;
  return Buffer.isBuffer(got) && got.equals(want);
}

function describeData(d: WsMessageData | undefined): string {
  if (d === undefined) return 'nothing';
  return typeof d === 'string' ? `text of ${Buffer.byteLength(d)} bytes` : `binary of ${d.length} bytes`;
}

// ------------------------------------------------------------------ a WebSocket under test

/** The handshake as the ws origin saw it (its first message). */
interface Hello {
  readonly path: string;
  readonly httpVersion: string;
  readonly headers: Record<string, string | undefined>;
  readonly extensions: string;
}

/** An open WebSocket, its messages (an iterator taken before it opened), its layers and its close. */
interface Client {
  readonly ws: WebSocket;
  readonly label: string;
  readonly hello: Hello;
  /** Every layer that came up, in order (the route's and the WebSocket's). */
  readonly layers: LayerInfo[];
  readonly errors: unknown[];
  readonly closed: Promise<CloseEvent>;
  /** Resolves once its connection is closed and every layer that came up (tcp included: the sockets) went down. */
  readonly released: Promise<void>;
  next(what: string): Promise<WsMessageData>;
}

/** WebSockets not closed yet, closed after each test so that a failure does not leave them to the next. */
const live = new Set<WebSocket>();

/** Resolves with `p`, or rejects after `ms` (the timer is always cleared). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

async function openClient(label: string, url: string, init: WebSocketInit): Promise<Client> {
  const layers: LayerInfo[] = [];
  const errors: unknown[] = [];
  const down = new Set<number>();
  let connectionClosed = false;
  let release: (() => void) | undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const check = (): void => {
    if (connectionClosed && layers.every((l) => down.has(l.id))) release?.();
  };
  const ws = new WebSocket(url, {
    ...init,
    events: {
      layerUp: (e) => layers.push(e.layer),
      layerDown: (e) => {
        down.add(e.layer.id);
        check();
      },
      connectionClosed: () => {
        connectionClosed = true;
        check();
      },
    },
  });
  live.add(ws);
  const messages = ws[Symbol.asyncIterator]();
  ws.addEventListener('error', (e) => errors.push((e as WebSocketErrorEvent).error));
  const closed = new Promise<CloseEvent>((resolve) => {
    ws.addEventListener('close', (e) => {
      live.delete(ws);
      resolve(e as CloseEvent);
    }, { once: true });
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    void closed.then((e) => reject(new Error(`${label}: closed (${e.code}) before it opened: ${errors.map(String).join('; ')}`, { cause: errors[0] })));
  });
  await within(opened, MSG_TIMEOUT, `${label} to open`);
  const next = async (what: string): Promise<WsMessageData> => {
    const r = await within(messages.next(), MSG_TIMEOUT, `${label}: ${what}`);
    if (r.done === true) {
      const ev = await within(closed, MSG_TIMEOUT, `${label}: the close event`);
      assert.fail(`${label}: the WebSocket closed (${ev.code} ${JSON.stringify(ev.reason)}, clean: ${ev.wasClean}) while waiting for ${what} (errors: ${errors.map(String).join('; ') || 'none'})`);
    }
    return r.value;
  };
  const first = await next('the hello message');
  assert.equal(typeof first, 'string', `${label}: the first message is the server's hello`);
  return { ws, label, hello: JSON.parse(first as string) as Hello, layers, errors, closed, released, next };
}

/** Sends every message (all at once, in order) and checks each echo, in order. */
async function echo(c: Client, messages: ReadonlyArray<string | Buffer>): Promise<void> {
  for (const m of messages) c.ws.send(m);
  for (const m of messages) {
    const what = `the echo of ${describeData(m)}`;
    const got = await c.next(what);
    assert.ok(same(got, m), `${c.label}: ${what}: got ${describeData(got)}${typeof got === typeof m && Buffer.byteLength(got) === Buffer.byteLength(m) ? ' (different content)' : ''}`);
  }
}

/**
 * Has the server send each message back in `parts` fragments (with a ping
 * after the first), checks the whole messages, then that the server got a
 * pong for every ping.
 */
async function fragments(c: Client, list: ReadonlyArray<{ data: string | Buffer; parts: number }>): Promise<void> {
  for (const { data, parts } of list) {
    c.ws.send(`!frag ${parts}`);
    c.ws.send(data);
  }
  for (const { data, parts } of list) {
    const what = `${describeData(data)} sent back in ${parts} fragments`;
    const got = await c.next(what);
    assert.ok(same(got, data), `${c.label}: ${what}: got ${describeData(got)}`);
  }
  c.ws.send('!stats');
  const stats = JSON.parse(String(await c.next('the stats'))) as { pongs: number; fragmented: number };
  const pinged = list.filter((f) => f.parts > 1).length;
  assert.equal(stats.pongs, pinged, `${c.label}: pongs the server received for its pings between fragments`);
}

/** Closes with 1000 and checks the close: clean, with the server's echo of the code and reason. */
async function closeClean(c: Client, step?: (name: string) => void): Promise<void> {
  c.ws.close(1000, 'done');
  assert.equal(c.ws.readyState, WebSocket.CLOSING);
  const ev = await within(c.closed, MSG_TIMEOUT, `${c.label}: the close event`);
  assert.deepEqual({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean, errors: c.errors.map(String) }, { code: 1000, reason: 'done', wasClean: true, errors: [] }, c.label);
  assert.equal(c.ws.readyState, WebSocket.CLOSED);
  step?.('close');
  // This WebSocket's own sockets are closed (the tests also check, once their cases are over, that nothing at all is left).
  await within(c.released, MSG_TIMEOUT, `${c.label}: its connection to close and its layers (${c.layers.map((l) => l.kind).join(', ')}) to go down`);
}

/** Kinds of the layers that came up, counted. */
function kindCounts(layers: readonly LayerInfo[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of layers) out[l.kind] = (out[l.kind] ?? 0) + 1;
  return out;
}

/** The WebSocket layer of a client, with the protocol layer it runs over (its parent). */
function wsLayer(c: Client): { ws: LayerInfo; parent: LayerInfo | undefined } {
  const ws = c.layers.filter((l) => l.kind === 'websocket');
  assert.equal(ws.length, 1, `${c.label}: one websocket layer came up (layers: ${c.layers.map((l) => l.kind).join(', ')})`);
  const layer = ws[0] as LayerInfo;
  return { ws: layer, parent: c.layers.find((l) => l.id === layer.parent) };
}

// ------------------------------------------------------------------ what a case checks

/** Where the WebSocket goes. */
interface Target {
  readonly name: string;
  /** The URL for `path`. */
  url(path: string): string;
  readonly http2: boolean;
  /** TLS layers the target adds to the route's. */
  readonly tls: number;
  /** What is in front of the ws origin, as its hello shows. */
  readonly front: 'none' | 'nginx' | 'nghttpx';
}

interface Case {
  readonly label: string;
  readonly target: Target;
  readonly via: readonly ViaEntry[];
  readonly deflate: boolean;
  /** Layer kinds the route adds (besides tcp and the protocol layers). */
  readonly route: { readonly tls: number; readonly socks5: number; readonly 'http1-connect': number; readonly 'http2-connect': number };
  readonly depth: Depth;
}

let caseId = 0;

/** One WebSocket: open, check the handshake and the layers, echo, fragments, clean close. */
async function runCase(peers: WsPeers, tls: TlsOptions, k: Case): Promise<string> {
  const t0 = performance.now();
  const id = `case-${process.pid}-${++caseId}`;
  const path = '/echo';
  const c = await openClient(k.label, k.target.url(path), {
    via: k.via,
    tls,
    http2: k.target.http2,
    perMessageDeflate: k.deflate,
    headers: { 'x-burrow-case': id },
  });
  // The handshake, as the server saw it and as burrow settled it.
  assert.equal(c.hello.path, path);
  assert.equal(c.hello.headers['x-burrow-case'], id);
  assert.equal(c.hello.headers['sec-websocket-extensions'] !== undefined, k.deflate, `${k.label}: permessage-deflate offered iff asked`);
  assert.equal(c.ws.extensions.startsWith('permessage-deflate'), k.deflate, `${k.label}: extensions ${JSON.stringify(c.ws.extensions)}`);
  assert.equal(c.hello.extensions.startsWith('permessage-deflate'), k.deflate);
  if (k.target.front === 'nginx') assert.match(c.hello.headers['x-proxied-by'] ?? '', /^nginx \d+$/, `${k.label}: the upgrade went through nginx`);
  if (k.target.front === 'nghttpx') assert.equal(c.hello.headers['via'], '2 nghttpx', `${k.label}: nghttpx took the WebSocket over HTTP/2`);
  const { ws, parent } = wsLayer(c);
  const via = k.target.http2 ? 'http2-connect' : 'http1-upgrade';
  assert.deepEqual(
    { via: ws.websocket?.via, status: ws.websocket?.status, parent: parent?.kind, extensions: ws.websocket?.extensions },
    { via, status: k.target.http2 ? 200 : 101, parent: k.target.http2 ? 'http2' : 'http1', extensions: c.ws.extensions },
    `${k.label}: the websocket layer`,
  );
  const counts = kindCounts(c.layers);
  assert.deepEqual(
    { tls: counts['tls'] ?? 0, socks5: counts['socks5'] ?? 0, 'http1-connect': counts['http1-connect'] ?? 0, 'http2-connect': counts['http2-connect'] ?? 0 },
    { ...k.route, tls: k.route.tls + k.target.tls },
    `${k.label}: layers ${c.layers.map((l) => l.kind).join(', ')}`,
  );

  const steps: string[] = [];
  let last = t0;
  const step = (name: string): void => {
    const now = performance.now();
    steps.push(`${name} ${(now - last).toFixed(0)}`);
    last = now;
  };
  step('open');
  if (k.depth === 'light') {
    await echo(c, [...LIGHT_SIZES.map(payload), text(125), text(3000)]);
    await fragments(c, [{ data: payload(65536), parts: 3 }, { data: text(3000), parts: 4 }]);
  } else {
    const big = k.depth === 'full' && k.deflate ? numberedLines(16 * MIB) : payload(16 * MIB);
    await echo(c, [...FULL_SIZES.map((n) => (n === 16 * MIB ? big : payload(n))), text(125), text(70_000)]);
    step('sizes');
    await echo(c, [numberedLines(MIB), 'x'.repeat(65536)]);
    step('compressible');
    await fragments(c, [
      { data: payload(65536), parts: 7 },
      { data: text(5000), parts: 13 },
      k.depth === 'direct' ? { data: payload(16 * MIB), parts: 16 } : { data: numberedLines(MIB), parts: 16 },
      { data: payload(1), parts: 1 },
    ]);
  }
  step('fragments');
  await closeClean(c, step);
  step('released');

  if (k.target.front === 'nghttpx') {
    // nghttpx logs each request as the answer arrives: this one came over HTTP/2 (ALPN h2) as an extended CONNECT.
    const line = await peers.nghttpxWsLogLine((l) => l.endsWith(` ${id}`), MSG_TIMEOUT);
    assert.match(line, /^h2 HTTP\/2 CONNECT \S+ 101 /, `${k.label}: nghttpx logged ${line}`);
  }
  if (k.target.front === 'nginx') {
    // nginx logs an upgrade once the proxied connection is over: it switched protocols (101) for this WebSocket.
    const line = await peers.nginxLogLine((l) => l.endsWith(` ${id}`), MSG_TIMEOUT);
    assert.match(line, /^\d+ HTTP\/1\.1 "GET \/echo HTTP\/1\.1" 101 "websocket" /, `${k.label}: nginx logged ${line}`);
  }
  step('logged');
  return `${k.label}: ${(performance.now() - t0).toFixed(0)} ms (${steps.join(', ')})`;
}

/** Runs the cases as subtests of `t`, CONCURRENCY at a time (the parent test's concurrency). */
async function runCases(t: TestContext, peers: WsPeers, tls: TlsOptions, cases: readonly Case[]): Promise<void> {
  await Promise.all(cases.map((k) => t.test(k.label, async (st) => {
    st.diagnostic(await runCase(peers, tls, k));
  })));
}

// ------------------------------------------------------------------ the tests

describe('WebSockets with real peers (ws, nginx, nghttpx, squid, dante, stunnel)', () => {
  let peers: WsPeers;
  let P: WsPeerPorts;
  let tls: TlsOptions;
  let baseline: string[];
  const conns = new Set<Connection>();
  const track = (c: Connection): Connection => {
    conns.add(c);
    return c;
  };

  before(async () => {
    peers = await startWebSocketPeers();
    P = peers.ports;
    tls = { ca: peers.ca };
    baseline = resourceSnapshot();
  });
  after(async () => {
    await peers?.stop();
  });
  /** After a failure: closes what a test left open, so that the next tests start clean (a hook of each test, not of its subtests). */
  const cleanUp = async (): Promise<void> => {
    const left = [...live].map((ws) => new Promise<void>((resolve) => {
      ws.addEventListener('close', () => resolve(), { once: true });
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close();
      if (ws.readyState === WebSocket.CLOSED) resolve();
    }));
    await within(Promise.all(left), MSG_TIMEOUT, 'the WebSockets left open').catch(() => undefined);
    live.clear();
    await Promise.all([...conns].map((c) => c.close()));
    conns.clear();
  };
  /** A test with its clean-up. */
  const test = (name: string, options: { timeout: number; concurrency?: number }, fn: (t: TestContext) => Promise<void>): void => {
    it(name, options, async (t) => {
      t.after(cleanUp);
      await fn(t);
    });
  };

  /** Every test ends with this: nothing left of what it opened. */
  const noLeaks = (): Promise<void> => assertNoLeaks(baseline);

  const direct: Target = { name: 'ws', url: (p) => `ws://127.0.0.1:${P.wsPlain}${p}`, http2: false, tls: 0, front: 'none' };
  const directTls: Target = { name: 'wss', url: (p) => `wss://localhost:${P.wsTls}${p}`, http2: false, tls: 1, front: 'none' };
  const nginx: Target = { name: 'nginx', url: (p) => `ws://127.0.0.1:${P.nginxWs}${p}`, http2: false, tls: 0, front: 'nginx' };
  const nginxTls: Target = { name: 'nginx (TLS)', url: (p) => `wss://localhost:${P.nginxWss}${p}`, http2: false, tls: 1, front: 'nginx' };
  const nghttpx: Target = { name: 'nghttpx (RFC 8441)', url: (p) => `wss://localhost:${P.nghttpxWs}${p}`, http2: true, tls: 1, front: 'nghttpx' };
  const noRoute = { tls: 0, socks5: 0, 'http1-connect': 0, 'http2-connect': 0 };

  const matrix = (targets: readonly Target[], route: Case['route'], via: () => readonly ViaEntry[], depth: Depth, prefix = ''): Case[] =>
    targets.flatMap((target) => [false, true].map((deflate) => ({
      label: `${prefix}${target.name}${deflate ? ', permessage-deflate' : ''}`,
      target,
      via: via(),
      deflate,
      route,
      depth,
    })));

  it('reports the peer versions', (t) => {
    for (const [name, v] of Object.entries(peers.versions)) t.diagnostic(`${name}: ${v}`);
    assert.equal(Object.keys(peers.versions).length, 6);
  });

  describe('the ws server as origin', () => {
    test('ws:// and wss://, with and without permessage-deflate: every size, fragments, clean close', { ...TEST_TIMEOUT, concurrency: CONCURRENCY }, async (t) => {
      await runCases(t, peers, tls, matrix([direct, directTls], noRoute, () => [], 'direct'));
      await noLeaks();
    });

    test('permessage-deflate parameters the server imposes, and a server that declines it', TEST_TIMEOUT, async () => {
      // ws with serverNoContextTakeover, clientNoContextTakeover and a 10-bit server window.
      const tight = await openClient('/echo-tight', `wss://localhost:${P.wsTls}/echo-tight`, { tls });
      assert.match(tight.ws.extensions, /^permessage-deflate/);
      for (const p of ['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits=10']) assert.ok(tight.ws.extensions.includes(p), `${p} in ${tight.ws.extensions}`);
      // Repeated compressible messages: without context takeover each one is compressed on its own.
      const same3 = Buffer.alloc(200_000, 'the same message, again and again; ');
      await echo(tight, [same3, same3, same3, text(70_000), payload(65536)]);
      await fragments(tight, [{ data: same3, parts: 5 }]);
      await closeClean(tight);

      const declined = await openClient('/echo-nodeflate', `ws://127.0.0.1:${P.wsPlain}/echo-nodeflate`, {});
      assert.equal(declined.hello.headers['sec-websocket-extensions'], 'permessage-deflate; client_max_window_bits');
      assert.equal(declined.ws.extensions, '');
      await echo(declined, [payload(65536), text(3000)]);
      await closeClean(declined);
      await noLeaks();
    });

    test('message events with each binaryType, sends of every kind, and the duplex view', TEST_TIMEOUT, async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${P.wsPlain}/echo`, { perMessageDeflate: true });
      live.add(ws);
      const got: unknown[] = [];
      let wake: (() => void) | undefined;
      ws.onmessage = (e: Event): void => {
        got.push((e as MessageEvent).data);
        wake?.();
      };
      const waitFor = async (n: number): Promise<void> => {
        while (got.length < n) await within(new Promise<void>((resolve) => (wake = resolve)), MSG_TIMEOUT, `message ${n}`);
      };
      const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener('close', (e) => resolve(e as CloseEvent), { once: true }));
      await within(new Promise((resolve) => ws.addEventListener('open', resolve, { once: true })), MSG_TIMEOUT, 'open');
      await waitFor(1); // the hello
      const bytes = payload(65536);
      ws.binaryType = 'nodebuffer';
      ws.send(bytes);
      await waitFor(2);
      ws.binaryType = 'arraybuffer';
      ws.send(new Uint8Array(bytes.buffer, bytes.byteOffset, 126));
      await waitFor(3);
      ws.binaryType = 'blob';
      ws.send(new Blob([bytes.subarray(0, 125)]));
      ws.send(new DataView(bytes.buffer, bytes.byteOffset, 1));
      ws.send(text(3000));
      await waitFor(6);
      assert.ok(Buffer.isBuffer(got[1]) && got[1].equals(bytes));
      assert.ok(got[2] instanceof ArrayBuffer && Buffer.from(got[2]).equals(bytes.subarray(0, 126)));
      assert.ok(got[3] instanceof Blob && Buffer.from(await got[3].arrayBuffer()).equals(bytes.subarray(0, 125)));
      assert.ok(got[4] instanceof Blob && Buffer.from(await got[4].arrayBuffer()).equals(bytes.subarray(0, 1)));
      assert.equal(got[5], text(3000));
      assert.equal(ws.bufferedAmount, 0);
      ws.close(1000);
      const ev = await within(closed, MSG_TIMEOUT, 'close');
      assert.deepEqual([ev.code, ev.wasClean], [1000, true]);

      // The duplex view: writes are messages, reads their bytes; end() closes with 1000.
      const ws2 = new WebSocket(`wss://localhost:${P.wsTls}/echo`, { tls });
      live.add(ws2);
      const closed2 = new Promise<CloseEvent>((resolve) => ws2.addEventListener('close', (e) => resolve(e as CloseEvent), { once: true }));
      const d = ws2.duplex();
      const chunks: Buffer[] = [];
      d.on('data', (b: Buffer) => chunks.push(b));
      const helloBytes = await within(new Promise<number>((resolve) => d.once('data', (b: Buffer) => resolve(b.length))), MSG_TIMEOUT, 'the hello through the duplex');
      d.write(payload(65535));
      d.write('text through the duplex €');
      const want = Buffer.concat([payload(65535), Buffer.from('text through the duplex €')]);
      while (Buffer.concat(chunks).length < helloBytes + want.length) await within(new Promise((resolve) => d.once('data', resolve)), MSG_TIMEOUT, 'the echoes through the duplex');
      assert.ok(Buffer.concat(chunks).subarray(helloBytes).equals(want));
      d.end();
      const ev2 = await within(closed2, MSG_TIMEOUT, 'close through the duplex');
      assert.deepEqual([ev2.code, ev2.wasClean], [1000, true]);
      await noLeaks();
    });

    test('the connection API over HTTP/1.1: wsUpgrade, frames both ways, ping and pong, close 1000 as the last message', TEST_TIMEOUT, async () => {
      const conn = track(open({ host: 'localhost', port: P.wsTls, transport: 'tls', tls, retry: 0 }));
      const ref = conn.wsUpgrade('/echo', { 'x-burrow-case': 'low-level h1' }, { compress: true, silencePings: false });
      const up = await conn.await(ref, MSG_TIMEOUT);
      assert.equal(up.type, 'upgrade');
      const hello = await wsFrame(conn, ref);
      assert.equal(hello.type, 'text');
      await conn.wsSend(ref, [{ type: 'binary', data: payload(65536) }, { type: 'text', data: text(126) }, { type: 'ping', data: 'p1' }]);
      const frames = [await wsFrame(conn, ref), await wsFrame(conn, ref), await wsFrame(conn, ref)];
      assert.ok(frames[0]?.type === 'binary' && frames[0].data.equals(payload(65536)));
      assert.ok(frames[1]?.type === 'text' && frames[1].data === text(126));
      assert.ok(frames[2]?.type === 'pong' && frames[2].data.toString() === 'p1');
      const connClosed = new Promise<unknown>((resolve) => conn.once('close', resolve));
      await conn.wsSend(ref, { type: 'close', code: 1000, reason: 'bye' });
      const close = await wsFrame(conn, ref);
      assert.deepEqual(close, { type: 'close', code: 1000, reason: 'bye' });
      // The close handshake is over: the server closes the TCP connection, and the WebSocket (the whole connection) is gone.
      await within(connClosed, MSG_TIMEOUT, 'the connection to close');
      assert.deepEqual([conn.hasStream(ref), conn.state], [false, 'closed']);
      await conn.close();
      await noLeaks();
    });
  });

  describe('nginx proxying WebSocket upgrades', () => {
    test('ws:// and wss:// through nginx, with and without permessage-deflate: every size, fragments, clean close', { ...TEST_TIMEOUT, concurrency: CONCURRENCY }, async (t) => {
      await runCases(t, peers, tls, matrix([nginx, nginxTls], noRoute, () => [], 'direct'));
      // Each case found nginx's log line of its upgrade; on the plain and on the TLS port.
      for (const port of [P.nginxWs, P.nginxWss]) await peers.nginxLogLine((l) => l.startsWith(`${port} HTTP/1.1 "GET /echo HTTP/1.1" 101 "websocket" `), MSG_TIMEOUT);
      await noLeaks();
    });

    test('nginx over HTTP/2 has no extended CONNECT: http2: true fails with ERR_WS_UNSUPPORTED; the same port upgrades over HTTP/1.1', TEST_TIMEOUT, async () => {
      const ws = new WebSocket(`wss://localhost:${P.nginxWssH2}/echo`, { tls, http2: true });
      live.add(ws);
      const errors: unknown[] = [];
      ws.addEventListener('error', (e) => errors.push((e as WebSocketErrorEvent).error));
      const ev = await within(new Promise<CloseEvent>((resolve) => ws.addEventListener('close', (e) => resolve(e as CloseEvent), { once: true })), MSG_TIMEOUT, 'the failure');
      assert.deepEqual([ev.code, ev.wasClean], [1006, false]);
      const e = errors[0];
      assert.ok(isBurrowError(e) && e.code === 'ERR_WS_UNSUPPORTED', String(e));
      assert.deepEqual([e.hop?.kind, e.hop?.port], ['origin', P.nginxWssH2]);

      const c = await openClient('nginx h2 port, HTTP/1.1', `wss://localhost:${P.nginxWssH2}/echo`, { tls });
      assert.equal(wsLayer(c).ws.websocket?.via, 'http1-upgrade');
      await echo(c, [payload(65536)]);
      await closeClean(c);
      await noLeaks();
    });
  });

  describe('nghttpx as an RFC 8441 peer (HTTP/2 extended CONNECT in front, the ws server behind)', () => {
    test('WebSocket over HTTP/2, with and without permessage-deflate: every size, fragments, clean close, logged as HTTP/2', { ...TEST_TIMEOUT, concurrency: CONCURRENCY }, async (t) => {
      await runCases(t, peers, tls, matrix([nghttpx], noRoute, () => [], 'direct'));
      await noLeaks();
    });

    test('the connection API: three WebSockets and requests multiplexed on one HTTP/2 connection', TEST_TIMEOUT, async () => {
      const layers: LayerInfo[] = [];
      const conn = track(open({ host: 'localhost', port: P.nghttpxWs, transport: 'tls', tls, retry: 0, events: { layerUp: (e) => layers.push(e.layer) } }));
      assert.equal(await conn.awaitUp(MSG_TIMEOUT), 'http2');
      const refs = [0, 1, 2].map((i) => conn.wsUpgrade(`/echo?n=${i}`, { 'x-burrow-case': `multiplexed-${i}` }, { compress: i !== 1, silencePings: false }));
      for (const ref of refs) {
        const up = await conn.await(ref, MSG_TIMEOUT);
        assert.ok(up.type === 'upgrade', `got ${up.type}`);
        const hello = await wsFrame(conn, ref);
        assert.ok(hello.type === 'text');
      }
      const get = await conn.awaitBody(conn.get('/'), MSG_TIMEOUT);
      assert.equal(get.body.toString(), 'ws origin\n');
      // Interleaved: each WebSocket gets its own messages back.
      await Promise.all(refs.map((ref, i) => conn.wsSend(ref, [{ type: 'binary', data: payload(65536 + i) }, { type: 'ping', data: `p${i}` }])));
      for (const [i, ref] of refs.entries()) {
        const m = await wsFrame(conn, ref);
        assert.ok(m.type === 'binary' && m.data.equals(payload(65536 + i)), `WebSocket ${i}`);
        const pong = await wsFrame(conn, ref);
        assert.ok(pong.type === 'pong' && pong.data.toString() === `p${i}`);
      }
      // One closes; the others and the connection go on.
      await conn.wsSend(refs[1] as StreamRef, { type: 'close', code: 1000 });
      assert.deepEqual(await wsFrame(conn, refs[1] as StreamRef), { type: 'close', code: 1000, reason: '' });
      await conn.wsSend(refs[0] as StreamRef, { type: 'text', data: text(125) });
      assert.deepEqual(await wsFrame(conn, refs[0] as StreamRef), { type: 'text', data: text(125) });
      for (const ref of [refs[0], refs[2]] as StreamRef[]) {
        await conn.wsSend(ref, { type: 'close', code: 1000, reason: 'bye' });
        assert.deepEqual(await wsFrame(conn, ref), { type: 'close', code: 1000, reason: 'bye' });
      }
      assert.equal((await conn.awaitBody(conn.get('/'), MSG_TIMEOUT)).body.toString(), 'ws origin\n');
      assert.equal(conn.state, 'up');
      const h2 = layers.filter((l) => l.kind === 'http2');
      const ws = layers.filter((l) => l.kind === 'websocket');
      assert.equal(h2.length, 1);
      assert.deepEqual(ws.map((l) => [l.parent, l.websocket?.via, l.websocket?.status]), refs.map(() => [h2[0]?.id, 'http2-connect', 200]));
      for (const i of [0, 1, 2]) await peers.nghttpxWsLogLine((l) => l.startsWith('h2 HTTP/2 CONNECT') && l.endsWith(` multiplexed-${i}`), MSG_TIMEOUT);
      await conn.shutdown();
      await noLeaks();
    });
  });

  describe('through real proxies: chains × ws, wss, nginx (TLS) and RFC 8441 × permessage-deflate', () => {
    const squid = (): ViaEntry => `http://127.0.0.1:${P.squid}`;
    const squidTls = (): ViaEntry => ({ url: `https://localhost:${P.squidTls}`, tls });
    const h2 = (): ViaEntry => ({ url: `h2://localhost:${P.nghttpxTls}`, tls });
    const h2c = (): ViaEntry => `h2c://127.0.0.1:${P.nghttpxH2c}`;
    const dante = (): ViaEntry => `socks5://127.0.0.1:${P.dante}`;
    const danteH = (): ViaEntry => `socks5h://127.0.0.1:${P.dante}`;
    const stunnel = (): ViaEntry => ({ url: `socks5hs://localhost:${P.stunnelSocks}`, tls });
    // The whole list of sizes on four chains (one of each kind of proxy, and the longest); 1 byte and 65536 on the others.
    const chains: ReadonlyArray<{ name: string; via: () => ViaEntry[]; route: Case['route']; full: boolean }> = [
      { name: 'squid', via: () => [squid()], route: { ...noRoute, 'http1-connect': 1 }, full: false },
      { name: 'squid (TLS)', via: () => [squidTls()], route: { ...noRoute, tls: 1, 'http1-connect': 1 }, full: true },
      { name: 'nghttpx (HTTP/2 CONNECT, TLS)', via: () => [h2()], route: { ...noRoute, tls: 1, 'http2-connect': 1 }, full: true },
      { name: 'nghttpx (HTTP/2 CONNECT, h2c)', via: () => [h2c()], route: { ...noRoute, 'http2-connect': 1 }, full: false },
      { name: 'dante (socks5)', via: () => [dante()], route: { ...noRoute, socks5: 1 }, full: false },
      { name: 'dante (socks5h)', via: () => [danteH()], route: { ...noRoute, socks5: 1 }, full: false },
      { name: 'stunnel + dante (socks5hs)', via: () => [stunnel()], route: { ...noRoute, tls: 1, socks5: 1 }, full: true },
      { name: 'squid (TLS) → stunnel + dante', via: () => [squidTls(), stunnel()], route: { tls: 2, socks5: 1, 'http1-connect': 1, 'http2-connect': 0 }, full: false },
      { name: 'nghttpx (h2) → dante', via: () => [h2(), danteH()], route: { tls: 1, socks5: 1, 'http1-connect': 0, 'http2-connect': 1 }, full: false },
      { name: 'stunnel + dante → squid (TLS) → nghttpx (h2)', via: () => [stunnel(), squidTls(), h2()], route: { tls: 3, socks5: 1, 'http1-connect': 1, 'http2-connect': 1 }, full: true },
    ];
    for (const chain of chains) {
      test(`${chain.name}${chain.full ? ' (every size)' : ''}`, { ...TEST_TIMEOUT, concurrency: CONCURRENCY }, async (t) => {
        await runCases(t, peers, tls, matrix([direct, directTls, nginxTls, nghttpx], chain.route, chain.via, chain.full ? 'full' : 'light', `${chain.name} → `));
        await noLeaks();
      });
    }
  });
});

/** The next `ws` frame of a low-level WebSocket stream. */
async function wsFrame(conn: Connection, ref: StreamRef): Promise<Extract<StreamMessage, { type: 'ws' }>['frame']> {
  const m = await conn.await(ref, MSG_TIMEOUT);
  if (m.type === 'error') throw m.error;
  assert.equal(m.type, 'ws', `expected a ws message, got ${m.type}`);
  return (m as Extract<StreamMessage, { type: 'ws' }>).frame;
}
