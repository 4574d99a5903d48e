// The WebSocket class: the WHATWG interface (events in order, readyState, binaryType, send of
// every data type, bufferedAmount, close codes, errors), its async iterator and duplex view, and
// a generated matrix of proxy chains (every proxy kind, one and two hops, ws/wss, HTTP/1.1 and
// HTTP/2 origins) built from `via`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import { CloseEvent, WebSocket, WebSocketErrorEvent, type ViaEntry } from '../../src/index.js';
import {
  createTestPki,
  startConnectProxy,
  startH2ConnectProxy,
  startSocks5Server,
  type TestConnectProxy,
  type TestH2ConnectProxy,
  type TestPki,
  type TestSocks5Server,
} from '../../src/testing/index.js';
import { startWsOrigin, type WsOrigin } from '../helpers/ws-origin.js';
import { within } from '../regressions/util.js';

let pki: TestPki;
let ws1: WsOrigin;
let wss1: WsOrigin;
let ws2: WsOrigin;
let wss2: WsOrigin;
let deflating: WsOrigin;
let proxies: { http: TestConnectProxy; https: TestConnectProxy; h2c: TestH2ConnectProxy; h2: TestH2ConnectProxy; socks5: TestSocks5Server; socks5s: TestSocks5Server };

before(async () => {
  pki = createTestPki();
  const [a, b, c, d, e, http, https, h2c, h2, socks5, socks5s] = await Promise.all([
    startWsOrigin(),
    startWsOrigin({ transport: 'tls', pki }),
    startWsOrigin({ h2: true }),
    startWsOrigin({ h2: true, transport: 'tls', pki }),
    startWsOrigin({ deflate: true }),
    startConnectProxy(),
    startConnectProxy({ transport: 'tls', pki }),
    startH2ConnectProxy(),
    startH2ConnectProxy({ transport: 'tls', pki }),
    startSocks5Server(),
    startSocks5Server({ transport: 'tls', pki }),
  ]);
  [ws1, wss1, ws2, wss2, deflating] = [a, b, c, d, e];
  proxies = { http, https, h2c, h2, socks5, socks5s };
});

after(async () => {
  await Promise.all([ws1, wss1, ws2, wss2, deflating, ...Object.values(proxies)].map((s) => s.close()));
});

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', (e) => reject((e as WebSocketErrorEvent).error), { once: true });
  });
}

function closed(ws: WebSocket): Promise<CloseEvent> {
  return new Promise((resolve) => ws.addEventListener('close', (e) => resolve(e as CloseEvent), { once: true }));
}

function nextMessage(ws: WebSocket): Promise<MessageEvent> {
  return new Promise((resolve) => ws.addEventListener('message', (e) => resolve(e as MessageEvent), { once: true }));
}

describe('WebSocket (WHATWG interface)', () => {
  it('open, messages, close: events in order, readyState, protocol, extensions, url', async () => {
    const ws = new WebSocket(`${deflating.url}/path?q=1`, ['chat', 'superchat']);
    const seen: string[] = [];
    ws.onopen = () => seen.push(`open:${ws.readyState}`);
    ws.onmessage = (e) => seen.push(`message:${String((e as MessageEvent).data)}`);
    ws.onclose = (e) => seen.push(`close:${(e as CloseEvent).code}:${(e as CloseEvent).wasClean}:${ws.readyState}`);
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    assert.equal(ws.url, `${deflating.url}/path?q=1`);
    assert.throws(() => ws.send('too early'), (e: DOMException) => e.name === 'InvalidStateError');
    await opened(ws);
    assert.equal(ws.protocol, 'chat');
    assert.match(ws.extensions, /permessage-deflate/);
    ws.send('hello');
    const m = await nextMessage(ws);
    assert.equal(m.data, 'hello');
    assert.equal(m.origin, deflating.url);
    ws.close(1000, 'bye');
    assert.equal(ws.readyState, WebSocket.CLOSING);
    const c = await closed(ws);
    assert.equal(c.code, 1000);
    assert.equal(c.reason, 'bye');
    assert.deepEqual(seen, ['open:1', 'message:hello', 'close:1000:true:3']);
    // The server closed TCP first (RFC 6455 §7.1.1); it sees the connection closed once our FIN reaches it.
    await within(deflating.idle(), 5000, 'the server sees the connection closed');
    assert.equal(deflating.open(), 0);
  });

  it('binaryType blob, arraybuffer and nodebuffer; sends of strings, buffers, views, ArrayBuffers and Blobs keep their order', async () => {
    const ws = new WebSocket(ws1.url);
    await opened(ws);
    const got: unknown[] = [];
    ws.onmessage = (e) => got.push((e as MessageEvent).data);
    ws.send(new Blob([Buffer.from('blob')]));
    ws.send('text after the blob');
    ws.send(new Uint16Array([1, 2]));
    ws.send(new ArrayBuffer(3));
    ws.send(new DataView(new ArrayBuffer(8), 2, 4));
    assert.ok(ws.bufferedAmount > 0);
    while (got.length < 5) await new Promise((r) => setImmediate(r));
    assert.ok(got[0] instanceof Blob);
    assert.equal(Buffer.from(await (got[0] as Blob).arrayBuffer()).toString(), 'blob');
    assert.equal(got[1], 'text after the blob');
    assert.deepEqual([(got[2] as Blob).size, (got[3] as Blob).size, (got[4] as Blob).size], [4, 3, 4]);
    ws.binaryType = 'arraybuffer';
    ws.send(Buffer.from([9, 8]));
    const ab = (await nextMessage(ws)).data as ArrayBuffer;
    assert.ok(ab instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(ab)], [9, 8]);
    ws.binaryType = 'nodebuffer';
    ws.send(Buffer.from([7]));
    assert.deepEqual((await nextMessage(ws)).data, Buffer.from([7]));
    assert.equal(ws.bufferedAmount, 0);
    ws.close();
    const c = await closed(ws);
    assert.equal(c.code, 1005, 'a close without a code is received as 1005');
  });

  it('close() checks its code and reason; while connecting it fails the opening (error, then close 1006)', async () => {
    const ws = new WebSocket(ws1.url);
    assert.throws(() => ws.close(1001), (e: DOMException) => e.name === 'InvalidAccessError');
    assert.throws(() => ws.close(1000, 'x'.repeat(124)), (e: DOMException) => e.name === 'SyntaxError');
    const events: string[] = [];
    ws.onerror = () => events.push('error');
    ws.onclose = (e) => events.push(`close:${(e as CloseEvent).code}:${(e as CloseEvent).wasClean}`);
    ws.close();
    assert.equal(ws.readyState, WebSocket.CLOSING);
    await closed(ws);
    assert.deepEqual(events, ['error', 'close:1006:false']);
  });

  it('constructor errors: bad URLs, schemes, fragments and subprotocols are SyntaxErrors', () => {
    assert.throws(() => new WebSocket('not a url'), (e: DOMException) => e.name === 'SyntaxError');
    assert.throws(() => new WebSocket('ftp://x/'), (e: DOMException) => e.name === 'SyntaxError');
    assert.throws(() => new WebSocket('ws://x/#frag'), (e: DOMException) => e.name === 'SyntaxError');
    assert.throws(() => new WebSocket('ws://x/', ['a', 'a']), (e: DOMException) => e.name === 'SyntaxError');
    assert.throws(() => new WebSocket('ws://x/', 'bad token'), (e: DOMException) => e.name === 'SyntaxError');
    assert.equal(new WebSocket('http://127.0.0.1:1/', { via: [] }).url.startsWith('ws://'), true);
  });

  it('a server that cannot be reached: error with the typed cause, then close 1006 in a task of its own (a listener added after the error sees it)', async () => {
    const ws = new WebSocket('ws://127.0.0.1:1/');
    const err = await new Promise<WebSocketErrorEvent>((resolve) => ws.addEventListener('error', (e) => resolve(e as WebSocketErrorEvent)));
    assert.equal(err.error.code, 'ERR_CONNECT');
    const c = await closed(ws);
    assert.equal(c.code, 1006);
    assert.equal(c.wasClean, false);
  });

  it('the async iterator gives 1000 messages (more than the flow window) in order, until the close', async () => {
    const ws = new WebSocket(ws1.url);
    await opened(ws);
    ws.binaryType = 'nodebuffer';
    const it = ws[Symbol.asyncIterator]();
    for (let i = 0; i < 1000; i++) ws.send(i % 2 === 0 ? `m${i}` : Buffer.from([i & 0xff]));
    const got: Array<string | Buffer> = [];
    for (;;) {
      const r = await it.next();
      if (r.done === true) break;
      got.push(r.value);
      if (got.length === 1000) ws.close(1000);
    }
    assert.equal(got.length, 1000);
    assert.equal(got[0], 'm0');
    assert.deepEqual(got[1], Buffer.from([1]));
    assert.equal(got[998], 'm998');
  });

  it('the duplex view: piping in sends messages, the readable side gives them back, end() closes', async () => {
    const ws = new WebSocket(ws1.url);
    const d = ws.duplex();
    const chunks: Buffer[] = [];
    await pipeline(Readable.from(['one', Buffer.from('two'), 'three']), d, new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }));
    assert.equal(Buffer.concat(chunks).toString(), 'onetwothree');
    assert.equal(ws.readyState, WebSocket.CLOSED);
  });

  it('through an HTTP/2 proxy with http2: true, the origin is reached with RFC 8441', async () => {
    const ws = new WebSocket(`${wss2.url}/h2`, { via: [{ url: proxies.h2.url.replace('https:', 'h2:'), tls: { ca: pki.ca } }], tls: { ca: pki.ca }, http2: true });
    await opened(ws);
    assert.equal(wss2.requests.at(-1)?.version, '2');
    ws.send('over RFC 8441 inside an HTTP/2 tunnel');
    assert.equal((await nextMessage(ws)).data, 'over RFC 8441 inside an HTTP/2 tunnel');
    ws.close();
    await closed(ws);
  });
});

describe('WebSocket chain matrix', () => {
  type Kind = keyof typeof proxies;
  const KINDS: Kind[] = ['http', 'https', 'h2c', 'h2', 'socks5', 'socks5s'];
  const hop = (k: Kind): ViaEntry => {
    const p = proxies[k];
    const scheme = { http: 'http', https: 'https', h2c: 'h2c', h2: 'h2', socks5: 'socks5h', socks5s: 'socks5hs' }[k];
    return { url: `${scheme}://127.0.0.1:${p.port}`, tls: { ca: pki.ca } };
  };
  const origins = (): Array<[string, WsOrigin, boolean]> => [['ws', ws1, false], ['wss', wss1, false], ['ws+h2', ws2, true], ['wss+h2', wss2, true]];
  const chains: Kind[][] = [...KINDS.map((k) => [k]), ...KINDS.flatMap((a) => KINDS.map((b) => [a, b]))];

  it(`every chain of one and two hops (${chains.length}) to ws and wss origins over HTTP/1.1 and HTTP/2: an echo and a clean close`, async () => {
    const failures: string[] = [];
    const cases: Array<() => Promise<void>> = [];
    for (const chain of chains) {
      for (const [name, origin, h2] of origins()) {
        // Two-hop chains: the TLS origins (the deepest nesting of TLS); one-hop: all four.
        if (chain.length === 2 && name !== 'wss' && name !== 'wss+h2') continue;
        cases.push(async () => {
          const label = `${chain.join(' -> ')} -> ${name}`;
          try {
            const ws = new WebSocket(`${origin.url}/m`, { via: chain.map(hop), tls: { ca: pki.ca }, http2: h2, perMessageDeflate: false });
            ws.binaryType = 'nodebuffer';
            await opened(ws);
            ws.send(label);
            ws.send(Buffer.alloc(65536, 3));
            const a = await nextMessage(ws);
            const b = await nextMessage(ws);
            assert.equal(a.data, label);
            assert.equal((b.data as Buffer).length, 65536);
            ws.close(1000);
            const c = await closed(ws);
            assert.equal(c.wasClean, true);
          } catch (e) {
            failures.push(`${label}: ${(e as Error).message}`);
          }
        });
      }
    }
    // Eight at a time.
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < cases.length) await (cases[next++] as () => Promise<void>)();
    }));
    assert.ok(cases.length >= 96, `${cases.length} cases`);
    assert.deepEqual(failures, []);
  });
});
