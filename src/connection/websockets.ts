/**
 * The WebSocket calls of a connection (Gun's `ws_upgrade` and `ws_send`):
 * the handshake sent on the layer its options name (an HTTP/1.1 upgrade or an
 * HTTP/2 extended CONNECT) with its answer timer, and frames sent once the
 * WebSocket is up. Frames are checked synchronously; a call made before the
 * WebSocket is up waits for it.
 */
import { BurrowError } from '../errors/errors.js';
import { checkRequestLine, normalizeHeaders, type HeadersInit } from '../shared/headers.js';
import { isWsLayer, type HttpLayer } from '../shared/layer.js';
import { resolveWsOptions } from '../shared/options/ws.js';
import type { StreamRef } from '../shared/stream-ref.js';
import type { WsOptions, WsSendFrame } from '../shared/ws.js';
import type { EventHandler } from '../shared/events.js';
import { startLayer } from '../observe/layer-events.js';
import { handshakeRequest, offerOf } from '../tunnel/websocket.js';
import type { LayerNode } from './layer-tree.js';
import type { CoreParts } from './parts.js';
import { checkRequestOptions, newRef, NO_BODY, type Requests } from './requests.js';
import type { ReplyTo } from './streams.js';
import type { PendingWebSocket } from './tunnels.js';

/** Options of one `wsUpgrade`: the WebSocket's own (over the connection's `ws` defaults) and the stream's. */
export interface WsUpgradeOptions extends WsOptions {
  /** Open the WebSocket inside the tunnel this ref names. */
  tunnel?: StreamRef;
  /** Receive this stream's messages with this function instead of the mailbox. */
  replyTo?: ReplyTo;
  /** This stream's events go to this handler instead of the connection's. */
  events?: EventHandler;
}

const TYPES = new Set(['text', 'binary', 'ping', 'pong', 'close']);

/** Checks one frame given to `wsSend`; throws `ERR_INVALID_REQUEST`. */
export function checkFrame(f: unknown): WsSendFrame {
  const bad = (why: string): BurrowError => new BurrowError('ERR_INVALID_REQUEST', `invalid WebSocket frame: ${why}`, { stage: 'websocket' });
  if (typeof f !== 'object' || f === null || !TYPES.has((f as { type?: unknown }).type as string)) throw bad("must be { type: 'text' | 'binary' | 'ping' | 'pong' | 'close', ... }");
  const frame = f as WsSendFrame;
  if (frame.type === 'close') {
    const { code, reason } = frame;
    if (code === undefined) {
      if (reason !== undefined && reason !== '') throw bad('a close reason needs a code');
      return frame;
    }
    if (!Number.isInteger(code) || !(code === 1000 || (code >= 3000 && code <= 4999))) throw bad(`close code ${String(code)}: send 1000 or 3000–4999`);
    if (reason !== undefined && (typeof reason !== 'string' || Buffer.byteLength(reason) > 123)) throw bad('a close reason is a string of at most 123 UTF-8 bytes');
    return frame;
  }
  const data = frame.data;
  if (frame.type === 'text' || frame.type === 'binary') {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw bad(`${frame.type} data must be a string or bytes`);
  } else if (data !== undefined) {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw bad(`${frame.type} data must be a string or bytes`);
    if ((typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength) > 125) throw bad(`${frame.type} data is at most 125 bytes`);
  }
  return frame;
}

/** The WebSocket calls of one connection. */
export class WebSockets {
  readonly #p: CoreParts;
  readonly #requests: Requests;

  constructor(parts: CoreParts, requests: Requests) {
    this.#p = parts;
    this.#requests = requests;
  }

  /** Sends the handshake; returns the WebSocket's ref at once. */
  upgrade(path: string, headersInit: HeadersInit | undefined, opts: WsUpgradeOptions | undefined): StreamRef {
    checkRequestLine('GET', path);
    const { tunnel, replyTo, events, ...wsOpts } = opts ?? {};
    checkRequestOptions({ tunnel, replyTo });
    const options = resolveWsOptions('ws', wsOpts, this.#p.config.ws);
    const headers = normalizeHeaders(headersInit).filter(([n]) => n !== 'content-length' && n !== 'transfer-encoding');
    const { streams, tunnels, router, streamEvents, observer, stack } = this.#p;
    const ref = newRef(tunnel);
    streams.register(ref, replyTo);
    streamEvents.start(ref, 'GET', path, headers, tunnel, 0, events);
    const pending: PendingWebSocket = {
      kind: 'websocket', ref, path, options, key: undefined, answer: undefined, flow: options.flow, sent: false, record: undefined, setup: undefined, timer: undefined, waiting: [],
    };
    tunnels.add(pending);
    const fail = (e: BurrowError): void => {
      if (tunnels.get(ref.key) === pending) tunnels.take(ref.key);
      for (const w of pending.waiting.splice(0)) w.fail(e);
      stack.deliver({ type: 'error', ref, error: e });
    };
    this.#requests.later(ref, () => router.open(ref, tunnel, (layer, node) => {
      if (layer.protocol !== 'http' && layer.protocol !== 'http2') {
        fail(new BurrowError('ERR_BAD_STATE', `a WebSocket needs an HTTP layer; this one speaks ${layer.protocol}`, { stage: 'state', hop: node.hop }));
        return;
      }
      pending.sent = true;
      const request = handshakeRequest(layer.protocol, offerOf(options), headers);
      pending.key = request.key;
      streamEvents.handshake(ref, request.headers);
      const record = startLayer(observer, 'websocket', node.hop, node.records[node.records.length - 1], ref.path);
      record.websocket = { path, via: layer.protocol === 'http2' ? 'http2-connect' : 'http1-upgrade', protocol: undefined, extensions: undefined, status: undefined };
      pending.record = record;
      if (options.handshakeTimeout !== Infinity) pending.timer = setTimeout(() => this.#timedOut(pending, layer, node), options.handshakeTimeout);
      // HTTP/2: the stream stays open for the WebSocket (no END_STREAM); HTTP/1.1: a GET without a body.
      layer.request({ ref, method: 'GET', path, headers: request.headers, body: layer.protocol === 'http2' ? null : NO_BODY, flow: Infinity, upgrade: 'websocket' });
    }, fail));
    return ref;
  }

  #timedOut(pending: PendingWebSocket, layer: HttpLayer, node: LayerNode): void {
    pending.timer = undefined;
    const { tunnels, stack } = this.#p;
    if (tunnels.get(pending.ref.key) !== pending || pending.answer !== undefined) return;
    const ms = pending.options.handshakeTimeout;
    const err = new BurrowError('ERR_WS_HANDSHAKE', `no answer to the WebSocket handshake for ${pending.path} within ${ms} ms`, {
      stage: 'timeout',
      hop: node.hop,
      details: { timeoutMs: ms, during: 'websocket-handshake' },
    });
    tunnels.take(pending.ref.key, err);
    for (const w of pending.waiting.splice(0)) w.fail(err);
    stack.deliver({ type: 'error', ref: pending.ref, error: err });
    // HTTP/2 resets the one stream; an HTTP/1.1 connection waiting for the answer is stuck, so it closes.
    if (layer.protocol === 'http2') layer.cancel(pending.ref);
    else layer.destroy(err);
  }

  /**
   * Sends frames on the WebSocket `ref`, in order. Throws `ERR_INVALID_REQUEST`
   * for a bad frame; resolves when the transport takes more; rejects with
   * `ERR_WS_CLOSED` when they cannot be sent (after a close frame, or once the
   * WebSocket ended) and with the stream's error when it failed.
   */
  send(ref: StreamRef, frames: readonly WsSendFrame[]): Promise<void> {
    for (const f of frames) checkFrame(f);
    const { router, guard, tunnels, streamEvents } = this.#p;
    return new Promise<void>((resolve, reject) => {
      const dropped = (): void => reject(new BurrowError('ERR_STREAM_CANCELED', `${ref} was cancelled; the frames were not sent`, { stage: 'state' }));
      const run = (layer: HttpLayer, node: LayerNode): void => {
        if (!isWsLayer(layer) || node.tunnelRef?.equals(ref) !== true) {
          reject(new BurrowError('ERR_BAD_STATE', `${ref} is not a WebSocket`, { stage: 'state', hop: node.hop }));
          return;
        }
        if (streamEvents.size > 0) for (const f of frames) streamEvents.wsSent(ref, f);
        layer.send(frames).then(resolve, reject);
      };
      guard.run(() => {
        // Not up yet: the frames wait for the handshake.
        const pending = tunnels.get(ref.key);
        if (pending?.kind === 'websocket') {
          pending.waiting.push({ ref, run: () => router.toStream(ref, run, reject, dropped), fail: reject, drop: dropped });
          return;
        }
        router.toStream(ref, run, reject, dropped);
      });
    });
  }
}
