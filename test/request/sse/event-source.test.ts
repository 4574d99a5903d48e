// EventSource (WHATWG interface) through a proxy chain (an HTTP CONNECT proxy, then SOCKS5) to a scripted SSE
// origin: open and message events with data, lastEventId and origin; named events; the reconnection after the
// stream ended, with Last-Event-ID and after the server's retry; close() during the reconnection wait (no timer
// left); a non-200 answer or another content type fails the source with no reconnection; and res.events()
// over the same chain.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventSource, EventSourceErrorEvent } from '../../../src/request/sse/event-source.js';
import { request } from '../../../src/request/request.js';
import { Pool } from '../../../src/request/pool.js';
import { isBurrowError } from '../../../src/errors/errors.js';
import { startConnectProxy, startSocks5Server, type TestConnectProxy, type TestSocks5Server } from '../../../src/testing/index.js';
import { assertNoLeaks, resourceSnapshot } from '../../helpers/leaks.js';
import { within } from '../../regressions/util.js';

/** What the origin answers to the n-th request of a path (0-based): status, headers and the body chunks, then whether to end. */
type Script = (n: number, req: http.IncomingMessage) => { status?: number; type?: string; chunks: string[]; end?: boolean };

interface Seen {
  path: string;
  lastEventId: string | undefined;
  accept: string | undefined;
  cacheControl: string | undefined;
  at: number;
}

let origin: http.Server;
let base: string;
let proxy: TestConnectProxy;
let socks: TestSocks5Server;
const scripts = new Map<string, Script>();
const seen: Seen[] = [];
const open = new Set<http.ServerResponse>();

before(async () => {
  origin = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const n = seen.filter((s) => s.path === path).length;
    seen.push({ path, lastEventId: req.headers['last-event-id'] as string | undefined, accept: req.headers.accept, cacheControl: req.headers['cache-control'], at: performance.now() });
    const script = scripts.get(path);
    if (script === undefined) {
      res.writeHead(404).end();
      return;
    }
    const s = script(n, req);
    res.writeHead(s.status ?? 200, { 'content-type': s.type ?? 'text/event-stream; charset=utf-8' });
    for (const c of s.chunks) res.write(c);
    if (s.end !== false) res.end();
    else {
      open.add(res);
      res.on('close', () => open.delete(res));
    }
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  [proxy, socks] = await Promise.all([startConnectProxy(), startSocks5Server()]);
});

after(async () => {
  for (const r of open) r.destroy();
  origin.closeAllConnections();
  await new Promise<void>((resolve) => origin.close(() => resolve()));
  await Promise.all([proxy.close(), socks.close()]);
});

function via(): string[] {
  return [proxy.url, socks.url.replace('socks5://', 'socks5h://')];
}

/** The next event of `type` on `es`. */
function next<T extends Event>(es: EventSource, type: string): Promise<T> {
  return within(new Promise<T>((resolve) => es.addEventListener(type, (e) => resolve(e as T), { once: true })), 5000, `${type} event`);
}

describe('EventSource through a chain (CONNECT, then SOCKS5)', () => {
  it('open, message events with data, lastEventId and origin; named events only to their listeners; the request headers', async () => {
    scripts.set('/basic', () => ({ chunks: [': hello\n\n', 'id: 1\ndata: one\n\n', 'event: tick\nid: 2\ndata: two\ndata: lines\n\n', 'data: three\n\n'], end: false }));
    const es = new EventSource(`${base}/basic`, { via: via(), pool: false, headers: { 'x-token': 'abc', accept: 'text/html' } });
    assert.equal(es.readyState, EventSource.CONNECTING);
    assert.equal(es.url, `${base}/basic`);
    assert.equal(es.withCredentials, false);
    const order: string[] = [];
    const ticks: MessageEvent[] = [];
    es.onopen = () => order.push(`open:${es.readyState}`);
    es.addEventListener('tick', (e) => ticks.push(e as MessageEvent));
    const messages: MessageEvent[] = [];
    const third = new Promise<void>((resolve) => {
      es.onmessage = (e) => {
        messages.push(e as MessageEvent);
        order.push(`message:${String((e as MessageEvent).data)}`);
        if (messages.length === 2) resolve();
      };
    });
    await within(third, 5000, 'two messages');
    assert.deepEqual(order, ['open:1', 'message:one', 'message:three']);
    assert.deepEqual(messages.map((m) => [m.type, m.data, m.lastEventId, m.origin]), [['message', 'one', '1', base], ['message', 'three', '2', base]]);
    assert.deepEqual(ticks.map((m) => [m.type, m.data, m.lastEventId]), [['tick', 'two\nlines', '2']]);
    const req = seen.find((s) => s.path === '/basic');
    assert.equal(req?.accept, 'text/event-stream');
    assert.equal(req?.cacheControl, 'no-store');
    assert.equal(req?.lastEventId, undefined);
    assert.ok(proxy.requests.some((r) => r.target.startsWith('127.0.0.1:') || r.target.includes(':')), 'went through the CONNECT proxy');
    es.close();
    assert.equal(es.readyState, EventSource.CLOSED);
  });

  it('reconnects after the stream ends: error while CONNECTING, then a request with Last-Event-ID, after the server\'s retry', async () => {
    scripts.set('/again', (n) => (n === 0 ? { chunks: ['retry: 80\n', 'id: 41\ndata: a\n\n', 'id: 42\ndata: b\n\n', 'id: 99\ndata: cut'] } : { chunks: ['data: c\n\n'], end: false }));
    // The option's retry (10 s) loses to the stream's (80 ms): the test would time out otherwise.
    const es = new EventSource(`${base}/again`, { via: via(), pool: false, retry: 10000 });
    const got: string[] = [];
    const states: number[] = [];
    es.onerror = (e) => {
      states.push(es.readyState);
      assert.ok(e instanceof EventSourceErrorEvent);
    };
    const c = new Promise<MessageEvent>((resolve) => {
      es.onmessage = (e) => {
        got.push(`${String((e as MessageEvent).data)}@${(e as MessageEvent).lastEventId}`);
        if ((e as MessageEvent).data === 'c') resolve(e as MessageEvent);
      };
    });
    await within(c, 5000, 'the event after the reconnection');
    // The incomplete event (id 99) was discarded: the last event ID is 42.
    assert.deepEqual(got, ['a@41', 'b@42', 'c@42']);
    assert.deepEqual(states, [EventSource.CONNECTING]);
    const reqs = seen.filter((s) => s.path === '/again');
    assert.equal(reqs.length, 2);
    assert.equal(reqs[0]?.lastEventId, undefined);
    assert.equal(reqs[1]?.lastEventId, '42');
    const waited = (reqs[1]?.at ?? 0) - (reqs[0]?.at ?? 0);
    assert.ok(waited >= 75, `reconnected after ${waited.toFixed(1)} ms, retry was 80`);
    assert.equal(es.readyState, EventSource.OPEN);
    es.close();
  });

  it('reconnects after a network error: the origin resets the connection mid-stream', async () => {
    scripts.set('/reset', (n, req) => {
      if (n === 0) setImmediate(() => req.socket.destroy());
      return n === 0 ? { chunks: ['retry: 1\nid: 7\ndata: x\n\n'], end: false } : { chunks: ['data: y\n\n'], end: false };
    });
    const es = new EventSource(`${base}/reset`, { via: via(), pool: false });
    const errors: EventSourceErrorEvent[] = [];
    es.onerror = (e) => errors.push(e as EventSourceErrorEvent);
    const y = new Promise<void>((resolve) => {
      es.onmessage = (e) => {
        if ((e as MessageEvent).data === 'y') resolve();
      };
    });
    await within(y, 5000, 'the event after the reset');
    assert.equal(errors.length, 1);
    assert.ok(errors[0]?.error === undefined || isBurrowError(errors[0].error), 'a typed error when there is one');
    assert.equal(seen.filter((s) => s.path === '/reset')[1]?.lastEventId, '7');
    es.close();
  });

  it('close() during the reconnection wait clears the timer: no request follows, nothing left running', async () => {
    const baseline = resourceSnapshot();
    scripts.set('/wait', () => ({ chunks: ['retry: 60000\ndata: once\n\n'] }));
    const es = new EventSource(`${base}/wait`, { via: via(), pool: false });
    const message = next(es, 'message');
    let state = -1;
    es.onerror = () => {
      state = es.readyState;
    };
    const error = next(es, 'error');
    await message;
    await error.finally(() => es.close());
    assert.equal(state, EventSource.CONNECTING);
    assert.equal(es.readyState, EventSource.CLOSED);
    await assertNoLeaks(baseline);
    assert.equal(seen.filter((s) => s.path === '/wait').length, 1);
  });

  it('close() from a message listener: nothing more is dispatched, no reconnection', async () => {
    const baseline = resourceSnapshot();
    scripts.set('/stop', () => ({ chunks: ['data: 1\n\ndata: 2\n\n'], end: false }));
    const es = new EventSource(`${base}/stop`, { via: via(), pool: false });
    const got: string[] = [];
    let errors = 0;
    es.onerror = () => void errors++;
    es.onmessage = (e) => {
      got.push(String((e as MessageEvent).data));
      es.close();
    };
    await next(es, 'open');
    await assertNoLeaks(baseline);
    assert.deepEqual(got, ['1']);
    assert.equal(errors, 0);
  });

  it('HTTP 500: CLOSED and one error event (ERR_EVENT_SOURCE with the status), no reconnection', async () => {
    const baseline = resourceSnapshot();
    scripts.set('/500', () => ({ status: 500, chunks: ['data: no\n\n'] }));
    const es = new EventSource(`${base}/500`, { via: via(), pool: false, retry: 0 });
    let opened = false;
    es.onopen = () => void (opened = true);
    const e = await next<EventSourceErrorEvent>(es, 'error');
    assert.equal(es.readyState, EventSource.CLOSED);
    assert.ok(isBurrowError(e.error, 'ERR_EVENT_SOURCE'));
    assert.equal(e.error.details['status'], 500);
    assert.equal(e.error.response?.status, 500);
    assert.equal(opened, false);
    await assertNoLeaks(baseline);
    assert.equal(seen.filter((s) => s.path === '/500').length, 1);
  });

  it('200 with another content type fails the source too', async () => {
    scripts.set('/json', () => ({ type: 'application/json', chunks: ['{}'] }));
    const es = new EventSource(`${base}/json`, { via: via(), pool: false, retry: 0 });
    const e = await next<EventSourceErrorEvent>(es, 'error');
    assert.equal(es.readyState, EventSource.CLOSED);
    assert.ok(isBurrowError(e.error, 'ERR_EVENT_SOURCE'));
    assert.equal(e.error.details['contentType'], 'application/json');
  });

  it('a connection refused is retried (CONNECTING + error each time) until close()', async () => {
    const dead = http.createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const es = new EventSource(`http://127.0.0.1:${port}/`, { pool: false, retry: 1 });
    const errors: EventSourceErrorEvent[] = [];
    const third = new Promise<void>((resolve) => {
      es.onerror = (e) => {
        errors.push(e as EventSourceErrorEvent);
        assert.equal(es.readyState, EventSource.CONNECTING);
        if (errors.length === 3) {
          es.close();
          resolve();
        }
      };
    });
    await within(third, 5000, 'three failed attempts');
    assert.ok(errors.every((e) => isBurrowError(e.error, 'ERR_CONNECT')));
    assert.equal(es.readyState, EventSource.CLOSED);
  });

  it('an event larger than maxEventSize fails the source (no reconnection)', async () => {
    scripts.set('/big', () => ({ chunks: [`data: ${'x'.repeat(5000)}`], end: false }));
    const es = new EventSource(`${base}/big`, { via: via(), pool: false, maxEventSize: 1000, retry: 0 });
    const e = await next<EventSourceErrorEvent>(es, 'error');
    assert.equal(es.readyState, EventSource.CLOSED);
    assert.ok(isBurrowError(e.error, 'ERR_SSE_EVENT_TOO_LARGE'));
  });

  it('rejects a bad URL or scheme (SyntaxError) and a bad retry (ERR_INVALID_OPTION)', () => {
    assert.throws(() => new EventSource('not a url'), (e: DOMException) => e.name === 'SyntaxError');
    assert.throws(() => new EventSource('ftp://x/'), (e: DOMException) => e.name === 'SyntaxError');
    assert.throws(() => new EventSource(`${base}/`, { retry: -1 }), (e: unknown) => isBurrowError(e, 'ERR_INVALID_OPTION'));
    assert.equal(EventSource.CONNECTING, 0);
    assert.equal(EventSource.OPEN, 1);
    assert.equal(EventSource.CLOSED, 2);
  });

  it('reconnects through the same pool: the second request reuses nothing closed and reaches the origin again', async () => {
    const pool = new Pool();
    scripts.set('/pooled', (n) => (n === 0 ? { chunks: ['retry: 1\nid: p\ndata: first\n\n'] } : { chunks: ['data: second\n\n'], end: false }));
    const es = new EventSource(`${base}/pooled`, { via: via(), pool });
    const second = new Promise<void>((resolve) => {
      es.onmessage = (e) => {
        if ((e as MessageEvent).data === 'second') resolve();
      };
    });
    await within(second, 5000, 'the event after the reconnection');
    assert.equal(seen.filter((s) => s.path === '/pooled')[1]?.lastEventId, 'p');
    es.close();
    await pool.close();
  });
});

describe('res.events() through a chain', () => {
  it('parses the body of a request as an event stream', async () => {
    scripts.set('/events', () => ({ chunks: ['id: 1\r\nevent: a\r\ndata: x\r\n\r\n', 'retry: 5\n', 'data: y\n', '\n'] }));
    const res = await request(`${base}/events`, { via: via(), pool: false, headers: { accept: 'text/event-stream' } });
    const got = [];
    for await (const e of res.events()) got.push(e);
    assert.deepEqual(got, [{ event: 'a', data: 'x', id: '1', retry: undefined }, { event: 'message', data: 'y', id: '1', retry: 5 }]);
  });

  it('leaving the loop early cancels the stream', async () => {
    const baseline = resourceSnapshot();
    scripts.set('/endless', () => ({ chunks: ['data: 1\n\n', 'data: 2\n\n'], end: false }));
    const res = await request(`${base}/endless`, { via: via(), pool: false });
    for await (const e of res.events()) {
      assert.equal(e.data, '1');
      break;
    }
    await assertNoLeaks(baseline);
  });
});
