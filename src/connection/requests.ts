/**
 * The calls that open and drive streams: requests, CONNECTs (with their answer
 * timer), body data, cancel, flow credit, ping. Each is checked synchronously
 * (a bad argument throws before anything is sent), gets its ref at once, and
 * reaches its layer through the router — after the callback in progress when
 * made from inside one.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BurrowError } from '../errors/errors.js';
import { authorityHost, checkRequestLine, hasHeader, normalizeHeaders, type Header, type HeadersInit } from '../shared/headers.js';
import type { HttpLayer } from '../shared/layer.js';
import type { Http2SettingsReport } from '../shared/messages.js';
import { resolveDestination, type ConnectDestination } from '../shared/options/hop.js';
import { checkFlow } from '../shared/options/validate.js';
import { StreamRef, nextStreamId } from '../shared/stream-ref.js';
import type { EventHandler } from '../shared/events.js';
import { startLayer } from '../observe/layer-events.js';
import { connectKind } from './layer-stack.js';
import type { LayerNode } from './layer-tree.js';
import type { CoreParts } from './parts.js';
import type { ReplyTo } from './streams.js';
import type { PendingConnect } from './tunnels.js';

/** A request body given whole. */
export type Body = string | Buffer | Uint8Array;

/** Per-request options. */
export interface RequestOptions {
  /** Send the request inside the tunnel this ref names (see docs/tunnels.md). */
  tunnel?: StreamRef;
  /** Flow budget in data messages; default the protocol's `flow` option (Infinity). */
  flow?: number;
  /**
   * Receive this stream's messages with this function instead of the mailbox
   * (`await`/`awaitBody` then do not see them). The `message` event still fires.
   */
  replyTo?: ReplyTo;
  /** This stream's events go to this handler instead of the connection's (`streamStart` … `streamEnd`). */
  events?: EventHandler;
  /**
   * `'1.0'`: send an HTTP/1.0 request (HTTP/1.1 layers only; ignored by HTTP/2). No chunked encoding (a
   * streamed body needs a `content-length`), and the connection is closed after the response unless the
   * server answers `connection: keep-alive` (Gun's `version` option, per request here).
   */
  version?: '1.0' | '1.1';
}

const EMPTY = Buffer.alloc(0);

/** A body as bytes; throws `ERR_INVALID_REQUEST` for another type. */
export function toBuffer(body: Body): Buffer {
  if (typeof body === 'string') return Buffer.from(body);
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new BurrowError('ERR_INVALID_REQUEST', 'a body must be a string, Buffer or Uint8Array', { stage: 'http' });
}

/** Opens and drives the streams of one connection. */
export class Requests {
  readonly #p: CoreParts;
  /** Streams opened from inside a callback whose call has not run yet (`streamInfo`: pending). */
  readonly #queued = new Map<string, StreamRef>();

  constructor(parts: CoreParts) {
    this.#p = parts;
  }

  /** Sends a request: `body` whole, or null to stream it with {@link data}. Returns its ref at once. */
  start(method: string, path: string, headersInit: HeadersInit | undefined, body: Buffer | null, opts: RequestOptions | undefined): StreamRef {
    checkRequestLine(method, path);
    if (method === 'CONNECT') {
      throw new BurrowError('ERR_INVALID_REQUEST', 'use connect() to open a tunnel', { stage: 'http' });
    }
    const headers = normalizeHeaders(headersInit);
    checkRequestOptions(opts);
    const { streams, router, guard, config, streamEvents } = this.#p;
    const ref = newRef(opts?.tunnel);
    streams.register(ref, opts?.replyTo);
    streamEvents.start(ref, method, path, headers, opts?.tunnel, body === null ? 0 : body.length, opts?.events);
    const tunnel = opts?.tunnel;
    const flow = opts?.flow;
    const send = (layer: HttpLayer): void => {
      const spec = { ref, method, path, headers, body, flow: flow ?? (layer.protocol === 'http2' ? config.http2.flow : config.http.flow) };
      layer.request(opts?.version === '1.0' ? { ...spec, version: '1.0' } : spec);
    };
    const fail = (error: BurrowError): void => this.#p.stack.deliver({ type: 'error', ref, error });
    if (guard.busy) this.later(ref, () => router.open(ref, tunnel, send, fail));
    else router.open(ref, tunnel, send, fail);
    return ref;
  }

  /** Sends a CONNECT to the layer `opts.tunnel` names (or the connection's own); returns the tunnel's ref at once. */
  connect(destination: ConnectDestination, headersInit: HeadersInit | undefined, opts: RequestOptions | undefined): StreamRef {
    const dest = resolveDestination(destination);
    const target = `${authorityHost(dest.host)}:${dest.port}`;
    // The host header of a CONNECT is its target's authority (RFC 9112 §3.2), whatever the caller gave:
    // a proxy may route by either, and the two must not disagree.
    const hs: Header[] = normalizeHeaders(headersInit).filter(([n]) => n !== 'content-length' && n !== 'transfer-encoding' && n !== 'host');
    hs.unshift(['host', target]);
    if (dest.username !== undefined && dest.password !== undefined && !hasHeader(hs, 'proxy-authorization')) {
      hs.push(['proxy-authorization', `Basic ${Buffer.from(`${dest.username}:${dest.password}`).toString('base64')}`]);
    }
    checkRequestOptions(opts);
    const { streams, tunnels, router, streamEvents, observer } = this.#p;
    const ref = newRef(opts?.tunnel);
    streams.register(ref, opts?.replyTo);
    streamEvents.start(ref, 'CONNECT', target, hs, opts?.tunnel, 0, opts?.events);
    const pending: PendingConnect = { kind: 'connect', ref, dest, flow: opts?.flow ?? Infinity, sent: false, record: undefined, setup: undefined, timer: undefined, waiting: [] };
    tunnels.add(pending);
    this.later(ref, () => router.open(ref, opts?.tunnel, (layer, node) => {
      pending.sent = true;
      // The endpoint answering CONNECTs is a proxy: its layers say so from now on.
      for (const r of node.records) if (r.hop.index === node.hop.index && r.hop.kind === 'origin') r.hop = { ...r.hop, kind: 'connect' };
      // The CONNECT layer: a tunnel through the proxy this node talks to.
      const record = startLayer(observer, connectKind(layer.protocol), { ...node.hop, kind: 'connect' }, node.records[node.records.length - 1], ref.path);
      record.connect = { target, status: undefined, headers: undefined, earlyBytes: undefined };
      pending.record = record;
      if (dest.connectTimeout !== Infinity) {
        pending.timer = setTimeout(() => this.#connectTimedOut(pending, layer, node), dest.connectTimeout);
      }
      layer.request({ ref, method: 'CONNECT', path: target, headers: hs, body: null, flow: Infinity });
    }, (e) => {
      if (tunnels.get(ref.key) === pending) tunnels.take(ref.key);
      for (const w of pending.waiting.splice(0)) w.fail(e);
      this.#p.stack.deliver({ type: 'error', ref, error: e });
    }));
    return ref;
  }

  /** Runs the opening of stream `ref` now, or after the callback in progress. */
  later(ref: StreamRef, open: () => void): void {
    const guard = this.#p.guard;
    if (!guard.busy) {
      open();
      return;
    }
    this.#queued.set(ref.key, ref);
    guard.run(() => {
      // Dropped meanwhile: the connection closed and the stream got its error.
      if (!this.#queued.delete(ref.key)) return;
      open();
    });
  }

  /** The connection closed: streams whose opening waits for a callback get `error` now, their openings never run. */
  dropQueued(error: BurrowError): void {
    if (this.#queued.size === 0) return;
    const refs = [...this.#queued.values()];
    this.#queued.clear();
    for (const ref of refs) {
      const p = this.#p.tunnels.take(ref.key, error);
      if (p !== undefined) for (const w of p.waiting.splice(0)) w.fail(error);
      this.#p.stack.deliver({ type: 'error', ref, error });
    }
  }

  /** True while the opening of `ref` waits for the callback in progress. */
  isQueued(ref: StreamRef): boolean {
    return this.#queued.size > 0 && this.#queued.has(ref.key);
  }

  #connectTimedOut(pending: PendingConnect, layer: HttpLayer, node: LayerNode): void {
    pending.timer = undefined;
    const { tunnels, stack } = this.#p;
    if (tunnels.get(pending.ref.key) !== pending) return;
    const err = new BurrowError('ERR_CONNECT_RESPONSE_TIMEOUT', `no response to CONNECT ${pending.dest.host}:${pending.dest.port} within ${pending.dest.connectTimeout} ms`, {
      stage: 'timeout',
      hop: { ...node.hop, kind: 'connect' },
      details: { timeoutMs: pending.dest.connectTimeout, during: 'connect-response' },
    });
    tunnels.take(pending.ref.key, err);
    for (const w of pending.waiting.splice(0)) w.fail(err);
    stack.deliver({ type: 'error', ref: pending.ref, error: err });
    // HTTP/2 resets the one stream; an HTTP/1.1 connection waiting for a CONNECT answer is stuck, so it closes.
    if (layer.protocol === 'http2') layer.cancel(pending.ref);
    else layer.destroy(err);
  }

  /** Sends body bytes on `ref`; resolves when the transport can take more. Never rejects. */
  data(ref: StreamRef, fin: boolean, chunk: Body): Promise<void> {
    const buf = toBuffer(chunk);
    const { router, guard, stack, streamEvents } = this.#p;
    if (streamEvents.size > 0) streamEvents.body(ref, buf.length);
    return new Promise<void>((resolve) => {
      guard.run(() => router.toStream(ref, (layer) => {
        void layer.data(ref, fin, buf).then(resolve);
      }, (error) => {
        stack.deliver({ type: 'error', ref, error });
        resolve();
      }, resolve));
    });
  }

  /**
   * Stops a stream (HTTP/2: RST_STREAM CANCEL; HTTP/1.1: its response is read
   * and dropped; a tunnel: closed). Its last message is `ERR_STREAM_CANCELED`.
   * From inside a callback, the stream receives nothing more from then on, and
   * the layer is told once the callback's event is handled.
   */
  cancel(ref: StreamRef): void {
    const { guard, streams } = this.#p;
    if (!guard.busy) {
      this.#cancel(ref, false);
      return;
    }
    streams.silence(ref);
    guard.run(() => {
      const ended = streams.unsilence(ref);
      // The connection closed meanwhile: the stream already got its last message.
      if (this.#p.status.state === 'closed') return;
      this.#cancel(ref, ended);
    });
  }

  #cancel(ref: StreamRef, endedMeanwhile: boolean): void {
    const { router, tunnels, tree, streams, stack, status, connRef, streamEvents } = this.#p;
    // Nothing for this stream may run later: not its request, not its body data.
    let known = endedMeanwhile;
    if (router.dropPostponed(ref)) known = true;
    if (tunnels.dropWaiting(ref)) known = true;
    const err = new BurrowError('ERR_STREAM_CANCELED', `${ref} was cancelled`, { stage: 'state', hop: status.hop });
    if (streamEvents.size > 0) streamEvents.cancelled(ref);
    const tunnelNode = tree.get(ref.key);
    if (tunnelNode !== undefined && !ref.equals(connRef)) {
      stack.deliver({ type: 'error', ref, error: err });
      // A conn-wide tunnel opened inside this one took its socket over: the layer at the top of that chain owns
      // the socket now, and closing it takes the whole chain (and what runs in it) down.
      let top = tunnelNode;
      while (top.takenOverBy !== undefined) {
        const next = tree.get(top.takenOverBy.key);
        if (next === undefined) break;
        top = next;
      }
      top.layer.destroy(err);
      return;
    }
    const pending = tunnels.take(ref.key, err);
    if (pending !== undefined) for (const w of pending.waiting.splice(0)) w.fail(err);
    if (tree.nodeOfStream(ref, connRef)?.layer.cancel(ref)) known = true;
    if (known || streams.has(ref.key)) {
      if (streamEvents.size > 0) streamEvents.message({ type: 'error', ref, error: err }, true);
      streams.cancelled(ref, err);
    } else if (streamEvents.size > 0) streamEvents.forget(ref, undefined);
    // A tunnel cancelled while its layers were being set up: the setup was abandoned when the
    // CONNECT was taken (its layers ended then); a conn-wide one had taken the connection's
    // socket, which goes with it, as when a conn-wide tunnel that is up is cancelled.
    pending?.setup?.dropCarrier(err);
  }

  /** Takes the duplex of the raw tunnel `ref` (or of the connection's own raw stream) out of the connection. */
  detach(ref: StreamRef): { duplex: Socket | Duplex; connectionWide: boolean } {
    const { tree, stack, status, connRef } = this.#p;
    const own = ref.equals(connRef);
    const node = own ? tree.root : tree.get(ref.key);
    const ok = node !== undefined && node.layer.protocol === 'raw' && node.takenOverBy === undefined && (own ? node.key === '' : node.tunnelRef?.equals(ref) === true);
    if (!ok || status.state === 'closed') {
      throw new BurrowError('ERR_NOT_A_TUNNEL', `${ref} is not an open raw tunnel of this connection (not up yet, closed, or not raw)`, { stage: 'state', hop: status.hop });
    }
    return stack.detach(node);
  }

  /** Gives a stream `increment` more data messages of flow budget. */
  updateFlow(ref: StreamRef, increment: number): void {
    if (!Number.isInteger(increment) || increment < 1) {
      throw new BurrowError('ERR_INVALID_OPTION', 'invalid option increment: must be an integer >= 1', { stage: 'options', details: { option: 'increment' } });
    }
    const { guard, tree, connRef } = this.#p;
    guard.run(() => tree.nodeOfStream(ref, connRef)?.layer.updateFlow(ref, increment));
  }

  /** HTTP/2 PING on the connection's layer or the one in `opts.tunnel`; resolves with the round-trip time. */
  ping(opts?: { tunnel?: StreamRef }): Promise<number> {
    const { status, tree, guard } = this.#p;
    if (status.state !== 'up') {
      return Promise.reject(new BurrowError('ERR_NOT_CONNECTED', 'the connection is not up', { stage: 'state', hop: status.hop }));
    }
    const node = tree.get(opts?.tunnel?.key ?? '');
    if (node === undefined) {
      return Promise.reject(new BurrowError('ERR_NOT_A_TUNNEL', `${String(opts?.tunnel)} is not a tunnel`, { stage: 'state', hop: status.hop }));
    }
    if (node.takenOverBy !== undefined) {
      return Promise.reject(new BurrowError('ERR_BAD_STATE', `this layer became the tunnel ${node.takenOverBy}: ping with { tunnel }`, { stage: 'state', hop: node.hop }));
    }
    if (!guard.busy) return node.layer.ping();
    return new Promise((resolve, reject) => guard.run(() => {
      // The connection may have closed meanwhile (a close() made in the same callback).
      if (status.state !== 'up' || tree.get(opts?.tunnel?.key ?? '') !== node) {
        reject(new BurrowError('ERR_NOT_CONNECTED', 'the connection is not up', { stage: 'state', hop: status.hop }));
        return;
      }
      node.layer.ping().then(resolve, reject);
    }));
  }

  /** The HTTP/2 server's SETTINGS for the connection's layer or the one in `opts.tunnel`, once known. */
  remoteSettings(opts?: { tunnel?: StreamRef }): Http2SettingsReport | undefined {
    if (this.#p.status.state !== 'up') return undefined;
    return this.#p.tree.get(opts?.tunnel?.key ?? '')?.layer.remoteSettings();
  }
}

/** An empty whole body. */
export const NO_BODY = EMPTY;

/** Checks the options every stream-opening call shares. */
export function checkRequestOptions(opts: RequestOptions | undefined): void {
  checkFlow('flow', opts?.flow);
  if (opts?.replyTo !== undefined && typeof opts.replyTo !== 'function') {
    throw new BurrowError('ERR_INVALID_OPTION', 'invalid option replyTo: must be a function', { stage: 'options', details: { option: 'replyTo' } });
  }
  if (opts?.version !== undefined && opts.version !== '1.0' && opts.version !== '1.1') {
    throw new BurrowError('ERR_INVALID_OPTION', "invalid option version: '1.0' or '1.1'", { stage: 'options', details: { option: 'version' } });
  }
}

/** A new stream's ref: in `tunnel`, or at the connection level. */
export function newRef(tunnel: StreamRef | undefined): StreamRef {
  if (tunnel !== undefined && !(tunnel instanceof StreamRef)) {
    throw new BurrowError('ERR_INVALID_OPTION', 'invalid option tunnel: must be a StreamRef', { stage: 'options', details: { option: 'tunnel' } });
  }
  const id = nextStreamId();
  return tunnel ? tunnel.child(id) : new StreamRef([id]);
}
