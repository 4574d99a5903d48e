// Re-entrancy: every kind of user callback × every call on the same connection
// from inside it. Whatever the callback calls, no exception escapes into the
// socket's handlers, no stream gets a message twice or after its last one, and
// the connection ends in a consistent state (every stream ends, nothing leaks).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isFinal, open, type BurrowError, type Connection, type StreamMessage, type StreamRef } from '../../src/index.js';
import { startScriptedServer, type ScriptedConnection, type ScriptedServer } from '../../src/testing/scripted.js';
import { startOrigin } from '../../src/testing/origin.js';
import { assertNoLeaks, resourceSnapshot } from '../helpers/leaks.js';
import { deferred, within, type Deferred } from '../regressions/util.js';

type CallbackKind = 'replyTo' | 'message listener' | 'up listener' | 'down listener' | 'iterator consumer';
type CallKind = 'close' | 'shutdown' | 'cancel' | 'request' | 'connect' | 'data';

const CALLBACKS: readonly CallbackKind[] = ['replyTo', 'message listener', 'up listener', 'down listener', 'iterator consumer'];
const CALLS: readonly CallKind[] = ['close', 'shutdown', 'cancel', 'request', 'connect', 'data'];

function ok(body: string): string {
  return `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** `a` (content-length) and `b` (chunked, three chunks) in one write: `b`'s events follow `a`'s in the same chunk. */
const A_AND_B = `${ok('aaa')}HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nbb\r\n2\r\ncc\r\n2\r\ndd\r\n0\r\n\r\n`;

/** Reads requests in order and answers each by its path; `/u` has a chunked body. */
async function serve(c: ScriptedConnection, dropAfterU: boolean): Promise<void> {
  const heads: string[] = [];
  // a, b and u are pipelined: answer a and b together, then u once its body is in.
  for (let i = 0; i < 3; i++) heads.push(await c.readRequestHead());
  await c.write(A_AND_B);
  await c.readUntil('0\r\n\r\n');
  await c.write(ok('u'));
  if (dropAfterU) {
    c.destroy();
    return;
  }
  await answerForever(c);
}

async function answerForever(c: ScriptedConnection): Promise<void> {
  for (;;) {
    let head: string;
    try {
      head = await c.readRequestHead(10_000);
    } catch {
      return;
    }
    if (head.startsWith('CONNECT ')) await c.write('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
    else await c.write(ok(head.split(' ')[1] ?? '?'));
  }
}

/** Every message of every stream, in delivery order, as the `message` event saw them. */
class Recorder {
  readonly byRef = new Map<string, StreamMessage[]>();
  readonly #waiters = new Map<string, () => void>();

  readonly onMessage = (m: StreamMessage): void => {
    const list = this.byRef.get(m.ref.key) ?? [];
    list.push(m);
    this.byRef.set(m.ref.key, list);
    if (isFinal(m) && !(m.type === 'response' && m.status >= 200 && m.status < 300 && m.fin && this.tunnels.has(m.ref.key))) this.#waiters.get(m.ref.key)?.();
  };

  readonly tunnels = new Set<string>();

  /** Resolves once `ref` has had its last message. */
  ended(ref: StreamRef): Promise<void> {
    const done = this.byRef.get(ref.key)?.some((m) => isFinal(m)) === true;
    if (done) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.set(ref.key, resolve));
  }

  /** Each stream: its messages are distinct objects and nothing follows its last one. */
  check(refs: readonly StreamRef[]): void {
    for (const ref of refs) {
      const list = this.byRef.get(ref.key) ?? [];
      assert.ok(list.length > 0, `${ref} got no message`);
      assert.equal(new Set(list).size, list.length, `${ref} got a message twice: ${list.map((m) => m.type).join(',')}`);
      const finals = list.map((m, i) => (isFinal(m) ? i : -1)).filter((i) => i >= 0);
      assert.equal(finals.length, 1, `${ref} must end exactly once: ${describeList(list)}`);
      assert.equal(finals[0], list.length - 1, `${ref} got a message after its last one: ${describeList(list)}`);
    }
  }

  last(ref: StreamRef): StreamMessage | undefined {
    return this.byRef.get(ref.key)?.at(-1);
  }

  body(ref: StreamRef): string {
    return Buffer.concat((this.byRef.get(ref.key) ?? []).flatMap((m) => (m.type === 'data' ? [m.data] : []))).toString();
  }
}

function describeList(list: readonly StreamMessage[]): string {
  return list.map((m) => (m.type === 'error' ? `error(${m.error.code})` : m.type === 'response' ? `response(${m.status}${m.fin ? ',fin' : ''})` : m.type === 'data' ? `data(${m.data.length}${m.fin ? ',fin' : ''})` : m.type)).join(', ');
}

interface Scene {
  conn: Connection;
  a: StreamRef;
  b: StreamRef;
  u: StreamRef;
  rec: Recorder;
  /** The streams the call opened. */
  extra: StreamRef[];
  /** Set once the call was made (exactly once). */
  called: boolean;
  /** Exceptions the callback's call threw synchronously (bad state is a typed error, never a throw). */
  thrown: unknown[];
  /** Resolves once the call was made. */
  made: Deferred<void>;
  /** What an iterator consumer of `a` read. */
  iterated: StreamMessage[];
}

function newScene(conn: Connection, rec: Recorder): Scene {
  const none = undefined as unknown as StreamRef;
  return { conn, a: none, b: none, u: none, rec, extra: [], called: false, thrown: [], made: deferred<void>(), iterated: [] };
}

function makeCall(scene: Scene, call: CallKind): void {
  if (scene.called) return;
  scene.called = true;
  scene.made.resolve();
  const { conn } = scene;
  try {
    switch (call) {
      case 'close':
        void conn.close();
        break;
      case 'shutdown':
        void conn.shutdown();
        break;
      case 'cancel':
        conn.cancel(scene.a);
        break;
      case 'request':
        scene.extra.push(conn.get('/c'));
        break;
      case 'connect': {
        const t = conn.connect({ host: 'example.test', port: 443 });
        scene.rec.tunnels.add(t.key);
        scene.extra.push(t);
        break;
      }
      case 'data':
        void conn.data(scene.u, true, 'xyz');
        break;
    }
  } catch (e) {
    scene.thrown.push(e);
  }
}

/**
 * Opens a, b (GET) and u (POST, body streamed) on `conn`, with `callback` making `call` when a's response
 * arrives (or when the connection goes up or down); returns the iterator consumer's end when there is one.
 */
function openStreams(scene: Scene, callback: CallbackKind, call: CallKind, paths: readonly [string, string, string]): Promise<void> {
  const { conn } = scene;
  if (callback === 'up listener') conn.on('up', () => makeCall(scene, call));
  if (callback === 'down listener') conn.on('down', () => makeCall(scene, call));
  if (callback === 'message listener') {
    conn.on('message', (m) => {
      if (m.ref.equals(scene.a) && m.type === 'response') makeCall(scene, call);
    });
  }
  const replyTo = callback === 'replyTo' ? (m: StreamMessage): void => {
    if (m.type === 'response') makeCall(scene, call);
  } : undefined;
  scene.a = conn.get(paths[0], {}, replyTo ? { replyTo } : {});
  scene.b = conn.get(paths[1]);
  scene.u = conn.post(paths[2], {});
  if (callback !== 'iterator consumer') return Promise.resolve();
  return (async () => {
    for await (const m of conn.messages(scene.a)) {
      scene.iterated.push(m);
      if (m.type === 'response') makeCall(scene, call);
    }
  })();
}

/** HTTP/1.1 through a byte-exact server: a's response arrives in the same chunk as all of b's. */
async function runHttp1(callback: CallbackKind, call: CallKind): Promise<void> {
  const baseline = resourceSnapshot();
  const down = callback === 'down listener';
  let accepted = 0;
  const srv: ScriptedServer = await startScriptedServer({
    onConnection: (c) => (accepted++ === 0 ? serve(c, down) : answerForever(c)),
  });
  const rec = new Recorder();
  const conn = open({ host: '127.0.0.1', port: srv.port, protocols: ['http'], retry: down ? 1 : 0, retryTimeout: 0 });
  conn.on('message', rec.onMessage);
  const scene = newScene(conn, rec);
  try {
    const consumed = openStreams(scene, callback, call, ['/a', '/b', '/u']);
    // The down listener runs after u's response (the server drops the connection then): u's body is sent here.
    if (call !== 'data' || down) {
      await rec.ended(scene.a);
      await conn.data(scene.u, true, 'xyz');
    }
    const all = (): StreamRef[] => [scene.a, scene.b, scene.u, ...scene.extra];
    await within(scene.made.promise, 5000, 'the callback runs and makes its call');
    await within(Promise.all([rec.ended(scene.a), rec.ended(scene.b), rec.ended(scene.u)]), 5000, 'a, b and u end');
    await within(Promise.all(scene.extra.map((r) => rec.ended(r))), 5000, 'the streams the call opened end');
    await within(consumed, 5000, 'the iterator consumer ends');
    assert.deepEqual(scene.thrown, []);
    rec.check(all());
    checkOutcome(scene, call, callback);
  } finally {
    await conn.close();
    await srv.close();
  }
  await assertNoLeaks(baseline);
}

/** What each call must have done, once it took effect. */
function checkOutcome(scene: Scene, call: CallKind, callback: CallbackKind): void {
  const { rec, conn } = scene;
  const lastOf = (ref: StreamRef): StreamMessage | undefined => rec.last(ref);
  const errorCode = (ref: StreamRef): string | undefined => {
    const m = lastOf(ref);
    return m?.type === 'error' ? m.error.code : undefined;
  };
  switch (call) {
    case 'close':
      assert.equal(conn.state, 'closed');
      if (callback === 'up listener') {
        // Closed as it came up: the requests that waited for it are never sent.
        for (const ref of [scene.a, scene.b, scene.u]) assert.equal(errorCode(ref), 'ERR_CLOSED', `${ref}: ${describeList(rec.byRef.get(ref.key) ?? [])}`);
      }
      for (const ref of [scene.a, scene.b, scene.u]) {
        const m = lastOf(ref);
        assert.ok(m !== undefined && (m.type !== 'error' || ['ERR_CLOSED', 'ERR_CONNECTION_CLOSED'].includes(m.error.code)), `${ref}: ${describeList(rec.byRef.get(ref.key) ?? [])}`);
      }
      break;
    case 'shutdown':
      if (callback === 'up listener') {
        // Shut down as it came up: the requests that waited for it are never sent.
        for (const ref of [scene.a, scene.b, scene.u]) assert.equal(errorCode(ref), 'ERR_CLOSING', `${ref}: ${describeList(rec.byRef.get(ref.key) ?? [])}`);
        break;
      }
      // In-flight requests finish; u's body could still be sent while shutting down.
      if (callback !== 'down listener') {
        assert.equal(rec.body(scene.a), 'aaa');
        assert.equal(rec.body(scene.b), 'bbccdd');
      }
      break;
    case 'cancel':
      if (callback === 'down listener') break; // a had ended: nothing to cancel
      if (callback === 'iterator consumer') {
        // The consumer runs after the chunk was handled: a's mailbox held the rest, which the cancel replaced.
        assert.deepEqual(scene.iterated.map((m) => (m.type === 'error' ? m.error.code : m.type)), ['response', 'ERR_STREAM_CANCELED']);
        break;
      }
      assert.equal(errorCode(scene.a), 'ERR_STREAM_CANCELED', describeList(rec.byRef.get(scene.a.key) ?? []));
      assert.ok(!(rec.byRef.get(scene.a.key) ?? []).some((m) => m.type === 'data'), 'no data of a after its cancel');
      assert.equal(rec.body(scene.b), 'bbccdd');
      break;
    case 'request': {
      const c = scene.extra[0] as StreamRef;
      assert.equal(rec.body(c), '/c', describeList(rec.byRef.get(c.key) ?? []));
      break;
    }
    case 'connect': {
      const t = scene.extra[0] as StreamRef;
      const m = lastOf(t);
      assert.ok(m !== undefined && ((m.type === 'response' && m.status === 403) || m.type === 'error'), describeList(rec.byRef.get(t.key) ?? []));
      assert.equal(conn.streamInfo(t), undefined, 'no tunnel is left half set up');
      break;
    }
    case 'data':
      assert.equal(rec.body(scene.u), 'u');
      break;
  }
}

/** HTTP/2: callbacks run inside node:http2's event handlers. */
async function runHttp2(callback: Exclude<CallbackKind, 'down listener'>, call: CallKind): Promise<void> {
  const baseline = resourceSnapshot();
  const origin = await startOrigin({ protocol: 'http2', transport: 'tcp' });
  const rec = new Recorder();
  const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http2'], retry: 0 });
  conn.on('message', rec.onMessage);
  const scene = newScene(conn, rec);
  try {
    const consumed = openStreams(scene, callback, call, ['/chunked', '/bytes/100000', '/echo']);
    if (call !== 'data') {
      await rec.ended(scene.a);
      await conn.data(scene.u, true, 'xyz');
    }
    await within(scene.made.promise, 5000, 'the callback runs and makes its call');
    await within(Promise.all([rec.ended(scene.a), rec.ended(scene.b), rec.ended(scene.u), ...scene.extra.map((r) => rec.ended(r))]), 5000, 'every stream ends');
    await within(consumed, 5000, 'the iterator consumer ends');
    assert.deepEqual(scene.thrown, []);
    rec.check([scene.a, scene.b, scene.u, ...scene.extra]);
    if (call === 'cancel') {
      const m = callback === 'iterator consumer' ? scene.iterated.at(-1) : rec.last(scene.a);
      assert.ok(m?.type === 'error' && m.error.code === 'ERR_STREAM_CANCELED', describeList(rec.byRef.get(scene.a.key) ?? []));
    }
    if (call === 'request') assert.equal(rec.last(scene.extra[0] as StreamRef)?.type === 'error' ? 'error' : 'ok', 'ok');
    if (call === 'data') assert.match(rec.body(scene.u), /"body":"xyz"/);
    if (call === 'close') assert.equal(conn.state, 'closed');
  } finally {
    await conn.close();
    await origin.close();
  }
  await assertNoLeaks(baseline);
}

describe('re-entrancy: a callback calling the connection (HTTP/1.1, events of one chunk)', () => {
  for (const callback of CALLBACKS) {
    for (const call of CALLS) {
      it(`${callback} calling ${call}()`, () => runHttp1(callback, call));
    }
  }
});

describe('re-entrancy: a callback calling the connection (HTTP/2)', () => {
  for (const callback of CALLBACKS) {
    if (callback === 'down listener') continue;
    for (const call of CALLS) {
      it(`${callback} calling ${call}()`, () => runHttp2(callback, call));
    }
  }
});

describe('re-entrancy: throwing callbacks', () => {
  it('a throwing replyTo is reported as ERR_CALLBACK on the error event; the connection and its other streams go on', async () => {
    const baseline = resourceSnapshot();
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http'], retry: 0 });
    const errors: BurrowError[] = [];
    conn.on('error', (e) => errors.push(e));
    try {
      let calls = 0;
      const a = conn.get('/chunked', {}, {
        replyTo: () => {
          calls++;
          throw new Error('boom');
        },
      });
      const b = conn.get('/');
      assert.equal((await conn.awaitBody(b, 2000)).body.toString(), 'hello');
      assert.ok(calls >= 2, 'replyTo keeps getting the stream’s messages');
      assert.equal(errors.length, calls);
      assert.equal(errors[0]?.code, 'ERR_CALLBACK');
      assert.equal((errors[0]?.cause as Error).message, 'boom');
      assert.equal(errors[0]?.details['callback'], 'replyTo');
      assert.equal(conn.state, 'up');
      assert.equal(conn.hasStream(a), false);
    } finally {
      await conn.close();
      await origin.close();
    }
    await assertNoLeaks(baseline);
  });

  it('without an error listener, a throwing message listener surfaces once as an uncaught exception after the event, not inside the socket handler', async () => {
    const baseline = resourceSnapshot();
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http'], retry: 0 });
    const uncaught: unknown[] = [];
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const capture = (e: unknown): void => {
      uncaught.push(e);
    };
    process.on('uncaughtException', capture);
    try {
      let thrown = 0;
      conn.on('message', (m) => {
        if (m.type === 'response' && thrown++ === 0) throw new Error('listener bug');
      });
      const r = conn.get('/');
      assert.equal((await conn.awaitBody(r, 2000)).body.toString(), 'hello');
      await new Promise<void>((resolve) => setImmediate(resolve));
      assert.equal(uncaught.length, 1);
      assert.equal((uncaught[0] as Error).message, 'listener bug');
      assert.equal(conn.state, 'up');
    } finally {
      process.removeListener('uncaughtException', capture);
      for (const l of listeners) process.on('uncaughtException', l);
      await conn.close();
      await origin.close();
    }
    await assertNoLeaks(baseline);
  });

  it('calls made from inside a callback take effect in call order, after the event', async () => {
    const origin = await startOrigin({ protocol: 'http', transport: 'tcp' });
    const conn = open({ host: '127.0.0.1', port: origin.port, protocols: ['http'], retry: 0 });
    try {
      const seenInside: string[] = [];
      const made = deferred<StreamRef>();
      conn.get('/', {}, {
        replyTo: (m) => {
          if (m.type !== 'response') return;
          const second = conn.get('/echo', { 'x-n': '2' });
          // The call has not run yet: the stream waits for the callback's event to be handled.
          seenInside.push(conn.streamInfo(second)?.state ?? 'unknown');
          made.resolve(second);
        },
      });
      const second = await made.promise;
      const third = conn.get('/echo', { 'x-n': '3' });
      const n = async (ref: StreamRef): Promise<string | undefined> => {
        const echo = JSON.parse((await conn.awaitBody(ref, 2000)).body.toString()) as { headers: Array<[string, string]> };
        return echo.headers.find(([k]) => k === 'x-n')?.[1];
      };
      assert.equal(await n(second), '2');
      assert.equal(await n(third), '3');
      assert.deepEqual(seenInside, ['pending']);
      const order = origin.requests.map((r) => r.headers.find(([k]) => k === 'x-n')?.[1] ?? '-');
      assert.deepEqual(order, ['-', '2', '3']);
    } finally {
      await conn.close();
      await origin.close();
    }
  });
});
