/**
 * The `burrow:stream:*` events of one connection: each stream watched from its
 * start (when a channel has subscribers or an events handler has a stream
 * method), with its start time and byte counts, until its last message. A
 * stream not watched at its start is not watched at all.
 */
import { AsyncResource } from 'node:async_hooks';
import type { BurrowError } from '../errors/errors.js';
import type { EventHandler } from '../shared/events.js';
import type { HeaderList } from '../shared/headers.js';
import type { LayerProtocolName, StreamMessage, WsFrame } from '../shared/messages.js';
import { maskCredentialHeaders, maskUrl } from '../shared/redact.js';
import type { StreamRef } from '../shared/stream-ref.js';
import type { WsSendFrame } from '../shared/ws.js';
import { CHANNELS } from '../observe/channels.js';
import { epochNow } from '../observe/layer-record.js';
import type { Observer } from '../observe/observer.js';

const STREAM_CHANNELS = [
  'burrow:stream:start', 'burrow:stream:headers-sent', 'burrow:stream:body-sent', 'burrow:stream:inform', 'burrow:stream:response',
  'burrow:stream:trailers', 'burrow:stream:end', 'burrow:stream:error', 'burrow:stream:cancel', 'burrow:stream:push',
  'burrow:stream:upgrade', 'burrow:ws:received', 'burrow:ws:sent',
] as const;

/** What a received frame's event says of it. */
function frameSummary(f: WsFrame): { type: WsFrame['type']; bytes: number; code: number | undefined } {
  switch (f.type) {
    case 'text':
      return { type: 'text', bytes: Buffer.byteLength(f.data), code: undefined };
    case 'close':
      return { type: 'close', bytes: f.code === undefined ? 0 : 2 + Buffer.byteLength(f.reason), code: f.code };
    default:
      return { type: f.type, bytes: f.data.length, code: undefined };
  }
}

/** The stream channels themselves (checked for subscribers at every stream start: no lookup by name). */
const STREAM_CHANNEL_OBJECTS = STREAM_CHANNELS.map((name) => CHANNELS[name]);

const STREAM_METHODS = [
  'streamStart', 'streamHeadersSent', 'streamBodySent', 'streamInform', 'streamResponse', 'streamTrailers', 'streamEnd', 'streamError', 'streamCancel', 'streamPush',
  'streamUpgrade', 'wsReceived', 'wsSent',
] as const;

/** True when a stream channel has a subscriber or `handler` has a stream method. */
function streamsWatched(handler: EventHandler | undefined): boolean {
  for (let i = 0; i < STREAM_CHANNEL_OBJECTS.length; i++) if ((STREAM_CHANNEL_OBJECTS[i] as { hasSubscribers: boolean }).hasSubscribers) return true;
  if (handler === undefined) return false;
  for (const m of STREAM_METHODS) if (typeof handler[m] === 'function') return true;
  return false;
}

interface Watched {
  readonly stream: readonly number[];
  readonly startedAt: number;
  readonly handler: EventHandler | undefined;
  /** The async context the stream was started in: its events are published in it. */
  readonly scope: AsyncResource;
  /** The request headers handed to the layer (a WebSocket's: with its handshake headers). */
  headers: HeaderList;
  /** Request body bytes handed to the connection. */
  bodyBytes: number;
  /** Response body bytes received. */
  bytes: number;
}

/** Watches the streams of one connection for their events. */
export class StreamEvents {
  readonly #obs: Observer;
  readonly #watched = new Map<string, Watched>();

  constructor(observer: Observer) {
    this.#obs = observer;
  }

  /** Streams being watched. */
  get size(): number {
    return this.#watched.size;
  }

  /** A stream starts: watched when anyone wants its events (`handler`: its own, else the connection's). */
  start(ref: StreamRef, method: string, target: string, headers: HeaderList, tunnel: StreamRef | undefined, bodyBytes: number, handler: EventHandler | undefined): void {
    const h = handler ?? this.#obs.handler;
    if (!streamsWatched(h)) return;
    const w: Watched = { stream: ref.path, startedAt: epochNow(), handler: h, scope: new AsyncResource('burrow:stream'), headers, bodyBytes, bytes: 0 };
    this.#watched.set(ref.key, w);
    if (this.#obs.wants('burrow:stream:start', h)) {
      this.#obs.publish('burrow:stream:start', { connection: this.#obs.connection, stream: w.stream, method, target, headers: maskCredentialHeaders(headers), tunnel: tunnel?.path }, h, w.scope);
    }
  }

  /** The headers a WebSocket's handshake is sent with (the caller's and the sec-websocket-* ones). */
  handshake(ref: StreamRef, headers: HeaderList): void {
    const w = this.#watched.get(ref.key);
    if (w !== undefined) w.headers = headers;
  }

  /** Body bytes handed to `data()` for `ref`. */
  body(ref: StreamRef, bytes: number): void {
    const w = this.#watched.get(ref.key);
    if (w !== undefined) w.bodyBytes += bytes;
  }

  /** A layer handed the request head or the end of the body to the transport. */
  sent(ref: StreamRef, what: 'headers' | 'body', protocol: LayerProtocolName): void {
    const w = this.#watched.get(ref.key);
    if (w === undefined) return;
    const obs = this.#obs;
    if (what === 'headers') {
      if (obs.wants('burrow:stream:headers-sent', w.handler)) obs.publish('burrow:stream:headers-sent', { connection: obs.connection, stream: w.stream, protocol: protocol === 'http2' ? 'http2' : 'http1', headers: maskCredentialHeaders(w.headers) }, w.handler, w.scope);
    } else if (obs.wants('burrow:stream:body-sent', w.handler)) {
      obs.publish('burrow:stream:body-sent', { connection: obs.connection, stream: w.stream, bytes: w.bodyBytes }, w.handler, w.scope);
    }
  }

  /** A message for a watched stream (`final`: its last). */
  message(msg: StreamMessage, final: boolean): void {
    const w = this.#watched.get(msg.ref.key);
    if (w === undefined) return;
    const obs = this.#obs;
    const h = w.handler;
    const base = { connection: obs.connection, stream: w.stream };
    switch (msg.type) {
      case 'data':
        w.bytes += msg.data.length;
        break;
      case 'inform':
        if (obs.wants('burrow:stream:inform', h)) obs.publish('burrow:stream:inform', { ...base, status: msg.status, headers: msg.headers }, h, w.scope);
        break;
      case 'response':
        if (obs.wants('burrow:stream:response', h)) obs.publish('burrow:stream:response', { ...base, status: msg.status, headers: msg.headers, version: msg.version }, h, w.scope);
        break;
      case 'trailers':
        if (obs.wants('burrow:stream:trailers', h)) obs.publish('burrow:stream:trailers', { ...base, headers: msg.headers }, h, w.scope);
        break;
      case 'push':
        if (obs.wants('burrow:stream:push', h)) obs.publish('burrow:stream:push', { ...base, pushStream: msg.pushRef.path, method: msg.method, url: maskUrl(msg.url), headers: maskCredentialHeaders(msg.headers) }, h, w.scope);
        this.#watched.set(msg.pushRef.key, { stream: msg.pushRef.path, startedAt: epochNow(), handler: h, scope: w.scope, headers: msg.headers, bodyBytes: 0, bytes: 0 });
        break;
      case 'upgrade':
        if (obs.wants('burrow:stream:upgrade', h)) obs.publish('burrow:stream:upgrade', { ...base, protocols: msg.protocols, headers: msg.headers }, h);
        break;
      case 'ws':
        if (obs.wants('burrow:ws:received', h)) obs.publish('burrow:ws:received', { ...base, ...frameSummary(msg.frame) }, h);
        break;
      case 'error':
        this.#watched.delete(msg.ref.key);
        if (obs.wants('burrow:stream:error', h)) obs.publish('burrow:stream:error', { ...base, error: msg.error }, h, w.scope);
        return;
      default:
        break;
    }
    if (final) {
      this.#watched.delete(msg.ref.key);
      if (obs.wants('burrow:stream:end', h)) obs.publish('burrow:stream:end', { ...base, bytes: w.bytes, durationMs: epochNow() - w.startedAt }, h, w.scope);
    }
  }

  /** A frame handed to the WebSocket layer of `ref`. */
  wsSent(ref: StreamRef, frame: WsSendFrame): void {
    const w = this.#watched.get(ref.key);
    if (w === undefined || !this.#obs.wants('burrow:ws:sent', w.handler)) return;
    const data = frame.type === 'close' ? undefined : frame.data;
    const bytes = frame.type === 'close'
      ? (frame.code === undefined ? 0 : 2 + Buffer.byteLength(frame.reason ?? ''))
      : data === undefined ? 0 : typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    this.#obs.publish('burrow:ws:sent', { connection: this.#obs.connection, stream: w.stream, type: frame.type, bytes, code: frame.type === 'close' ? frame.code : undefined }, w.handler);
  }

  /** The caller cancelled `ref` (its error follows). */
  cancelled(ref: StreamRef): void {
    const w = this.#watched.get(ref.key);
    if (w === undefined) return;
    const obs = this.#obs;
    if (obs.wants('burrow:stream:cancel', w.handler)) obs.publish('burrow:stream:cancel', { connection: obs.connection, stream: w.stream }, w.handler, w.scope);
  }

  /** The stream's events go no further (it ended without a message reaching the table). */
  forget(ref: StreamRef, error: BurrowError | undefined): void {
    const w = this.#watched.get(ref.key);
    if (w === undefined) return;
    this.#watched.delete(ref.key);
    if (error !== undefined && this.#obs.wants('burrow:stream:error', w.handler)) {
      this.#obs.publish('burrow:stream:error', { connection: this.#obs.connection, stream: w.stream, error }, w.handler, w.scope);
    }
  }
}
