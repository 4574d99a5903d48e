/**
 * HTTP/2 over a duplex, using `node:http2` attached to the duplex the
 * connection hands over (prior knowledge over TCP, ALPN h2 over TLS).
 *
 * One file, one state machine: each stream's life (early data, response,
 * trailers, push, hand-over as a tunnel, reset) and the session's (SETTINGS,
 * GOAWAY, keepalive, graceful close) are driven by the same session events and
 * decide together when the layer is finished.
 */
import {
  connect as h2connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BurrowError, socketError, TUNNEL_RESET, type TunnelReset } from '../../errors/errors.js';
import { StreamRef, nextStreamId } from '../../shared/stream-ref.js';
import type { Http2SettingsReport } from '../../shared/messages.js';
import type { ResolvedHttp2Options } from '../../shared/options/http.js';
import { authority, authorityHost, type HeaderList } from '../../shared/headers.js';
import { whenWritable } from '../../transport/drain.js';
import type { HttpLayer, LayerOrigin, LayerSink, LayerStreamState, RequestSpec } from '../../shared/layer.js';
import { requestHeaders, toHeaderList } from './headers.js';
import { closeTunnelGracefully } from './tunnel-close.js';

/** Options the layer needs. */
export type Http2LayerOptions = ResolvedHttp2Options;

/** HTTP/2 error code names (RFC 9113 §7), by code. */
const ERROR_NAMES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED',
  'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];

/** The name of an HTTP/2 error code. */
export function h2ErrorName(code: number): string {
  return ERROR_NAMES[code] ?? `UNKNOWN_${code}`;
}

interface H2Stream {
  readonly ref: StreamRef;
  readonly stream: ClientHttp2Stream;
  /** Scheme and authority of the request (pushes must match them). */
  readonly authority: string;
  flow: number;
  /** False once cancelled. */
  alive: boolean;
  /** The final message has been delivered. */
  done: boolean;
  /** A response with fin false was delivered: a final data message is owed. */
  bodyOpen: boolean;
  /** A push whose response headers have not arrived yet. */
  pushed: boolean;
  error: Error | undefined;
  /** The response message has been delivered. */
  responded: boolean;
  /** Data that arrived before the response was delivered. */
  early: Buffer[] | undefined;
  /** The stream ended before the response was delivered. */
  endPending: boolean;
  /** Trailers received, delivered once the data before them is. */
  trailers: HeaderList | undefined;
  /** A CONNECT stream (a tunnel being set up): its failures are the proxy's CONNECT response's. */
  readonly connect: boolean;
}

const EMPTY = Buffer.alloc(0);
/** At most this long for a closed tunnel's peer to end its side of the stream before it is reset, ms. */
const TUNNEL_CLOSE_GRACE_MS = 2000;

/** The HTTP/2 protocol layer. */
export class Http2Layer implements HttpLayer {
  readonly protocol = 'http2' as const;
  readonly #session: ClientHttp2Session;
  readonly #socket: Socket | Duplex;
  readonly #sink: LayerSink;
  readonly #origin: LayerOrigin;
  readonly #opts: Http2LayerOptions;
  readonly #scheme: 'http' | 'https';
  readonly #authority: string;
  readonly #streams = new Map<string, H2Stream>();
  #closing = false;
  #closed = false;
  #goaway: { lastStreamId: number; code: number } | undefined;
  #sessionError: Error | undefined;
  #keepaliveTimer: NodeJS.Timeout | undefined;
  #closingTimer: NodeJS.Timeout | undefined;
  #unackedPings = 0;
  #pingId = 0;
  /** Streams handed over as tunnels and still open. */
  #tunnels = 0;
  #remoteSettingsSeen = false;
  /** Extended CONNECTs (WebSocket) waiting for the server's SETTINGS to say whether it takes them. */
  #awaitingSettings: RequestSpec[] = [];
  #remoteSettings: Http2SettingsReport | undefined;
  /** Resolves once the session is set up (the preface is sent). */
  readonly ready: Promise<void>;
  #readyResolve!: () => void;
  #readyReject!: (e: BurrowError) => void;
  #isReady = false;

  constructor(socket: Socket | Duplex, origin: LayerOrigin, opts: Http2LayerOptions, sink: LayerSink) {
    this.#socket = socket;
    this.#sink = sink;
    this.#origin = origin;
    this.#opts = opts;
    this.#scheme = origin.transport === 'tls' ? 'https' : 'http';
    this.#authority = authority(origin.host, origin.port, origin.transport);
    this.ready = new Promise<void>((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    // A rejection nobody awaits must not crash the process.
    this.ready.catch(() => undefined);
    this.#session = h2connect(`${this.#scheme}://${authorityHost(origin.host)}:${origin.port}`, {
      createConnection: () => socket,
      settings: {
        enablePush: opts.enablePush,
        initialWindowSize: opts.initialStreamWindowSize,
        maxConcurrentStreams: opts.maxConcurrentStreams,
        maxFrameSize: opts.maxFrameSize,
        maxHeaderListSize: opts.maxHeaderListSize,
        headerTableSize: opts.headerTableSize,
      },
      maxSessionMemory: opts.maxSessionMemory,
    });
    const s = this.#session;
    s.on('connect', this.#onConnect);
    s.on('error', (err: Error) => {
      this.#sessionError ??= err;
      // After some errors (e.g. a TLS alert) node:http2 never emits 'close' for the session: finish here.
      setImmediate(this.#onSessionClose);
    });
    s.on('close', this.#onSessionClose);
    socket.once('close', () => setImmediate(this.#onSessionClose));
    s.on('goaway', this.#onGoaway);
    s.on('remoteSettings', (settings) => {
      this.#remoteSettingsSeen = true;
      this.#remoteSettings = {
        headerTableSize: settings.headerTableSize,
        enablePush: settings.enablePush,
        maxConcurrentStreams: settings.maxConcurrentStreams,
        initialWindowSize: settings.initialWindowSize,
        maxFrameSize: settings.maxFrameSize,
        maxHeaderListSize: settings.maxHeaderListSize,
        enableConnectProtocol: settings.enableConnectProtocol,
      };
      this.#sink.notify({ type: 'settings', settings: this.#remoteSettings });
      for (const spec of this.#awaitingSettings.splice(0)) this.request(spec);
    });
    s.on('stream', this.#onPush);
  }

  #onConnect = (): void => {
    try {
      if (this.#opts.initialConnectionWindowSize > 65535) this.#session.setLocalWindowSize(this.#opts.initialConnectionWindowSize);
    } catch {
      // The session is already closing; the close handler reports it.
    }
    if (this.#opts.keepalive !== Infinity) {
      this.#keepaliveTimer = setInterval(this.#keepalive, this.#opts.keepalive);
      this.#keepaliveTimer.unref();
    }
    this.#isReady = true;
    this.#readyResolve();
  };

  remoteSettings(): Http2SettingsReport | undefined {
    return this.#remoteSettings;
  }

  /** True while the layer takes new requests (false after GOAWAY or shutdown). */
  get accepting(): boolean {
    return !this.#closing && !this.#closed && this.#goaway === undefined;
  }

  request(spec: RequestSpec): void {
    if (!this.accepting) {
      this.#sink.deliver({ type: 'error', ref: spec.ref, error: this.#notAccepting() });
      return;
    }
    // Until the server's SETTINGS arrive the limit is unknown (RFC 9113 §6.5.2: unlimited), not Node's placeholder.
    const max = this.#remoteSettingsSeen ? (this.#session.remoteSettings.maxConcurrentStreams ?? Infinity) : Infinity;
    // Counting the open streams walks them all: only when there could be too many.
    if (this.#streams.size + this.#tunnels >= max && this.#openLocalStreams() >= max) {
      this.#sink.deliver({
        type: 'error',
        ref: spec.ref,
        error: new BurrowError('ERR_TOO_MANY_STREAMS', `the server allows at most ${max} concurrent streams`, {
          stage: 'http',
          hop: this.#origin.hop,
          details: { maxConcurrentStreams: max },
        }),
      });
      return;
    }
    if (spec.upgrade !== undefined) {
      // RFC 8441 §3: an extended CONNECT only once the server's SETTINGS allowed it.
      if (!this.#remoteSettingsSeen) {
        this.#awaitingSettings.push(spec);
        return;
      }
      if (this.#remoteSettings?.enableConnectProtocol !== true) {
        this.#sink.deliver({
          type: 'error',
          ref: spec.ref,
          error: new BurrowError('ERR_WS_UNSUPPORTED', 'this HTTP/2 server does not take WebSockets: its SETTINGS do not enable the extended CONNECT (RFC 8441)', {
            stage: 'http',
            hop: this.#origin.hop,
          }),
        });
        return;
      }
    }
    const plainConnect = spec.method === 'CONNECT' && spec.upgrade === undefined;
    const headers = requestHeaders(spec.method, spec.path, this.#scheme, plainConnect ? spec.path : this.#authority, spec.headers, spec.upgrade);
    let stream: ClientHttp2Stream;
    try {
      stream = this.#session.request(headers, { endStream: spec.body !== null && spec.body.length === 0 });
    } catch (e) {
      this.#sink.deliver({
        type: 'error',
        ref: spec.ref,
        error: new BurrowError('ERR_HTTP2', `cannot open an HTTP/2 stream: ${(e as Error).message}`, { stage: 'http', hop: this.#origin.hop, cause: e }),
      });
      return;
    }
    this.#track(spec.ref, stream, String(headers[':authority']), spec.flow, false, spec.method === 'CONNECT' || spec.upgrade !== undefined);
    if (spec.body !== null && spec.body.length > 0) stream.end(spec.body);
    this.#sink.sent(spec.ref, 'headers');
    if (spec.body !== null) this.#sink.sent(spec.ref, 'body');
  }

  #openLocalStreams(): number {
    // Tunnels handed over still occupy a stream of this connection.
    let n = this.#tunnels;
    for (const st of this.#streams.values()) if (!st.pushed && !st.done) n++;
    return n;
  }

  #track(ref: StreamRef, stream: ClientHttp2Stream, auth: string, flow: number, pushed: boolean, connect = false): H2Stream {
    const st: H2Stream = {
      ref, stream, authority: auth, flow, alive: true, done: false, bodyOpen: false, pushed, error: undefined,
      responded: false, early: undefined, endPending: false, trailers: undefined, connect,
    };
    this.#streams.set(ref.key, st);
    stream.on('headers', (h: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
      const status = Number(h[':status']);
      if (st.alive && status >= 100 && status < 200) this.#sink.deliver({ type: 'inform', ref, status, headers: toHeaderList(h) });
    });
    const onResponse = (h: IncomingHttpHeaders & IncomingHttpStatusHeader, flags: number): void => {
      st.pushed = false;
      const fin = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      const status = Number(h[':status']);
      if (connect && status >= 200 && status < 300) {
        if (!fin) {
          this.#handOver(st, status, h);
          return;
        }
        // A 2xx that ends the stream opens no tunnel: RFC 9113 §8.5 needs the stream to stay open.
        st.done = true;
        if (st.alive) {
          this.#sink.deliver({ type: 'response', ref, fin: true, status, headers: toHeaderList(h), version: '2' });
          this.#sink.deliver({
            type: 'error',
            ref,
            error: new BurrowError('ERR_TUNNEL_CLOSED', `the proxy answered CONNECT with ${status} and ended the stream: no tunnel`, {
              stage: 'connect-response',
              hop: { ...this.#origin.hop, kind: 'connect' },
              details: { status },
            }),
          });
        }
        return;
      }
      st.bodyOpen = !fin;
      if (fin) st.done = true;
      st.responded = true;
      if (st.alive) this.#sink.deliver({ type: 'response', ref, fin, status: Number(h[':status']), headers: toHeaderList(h), version: '2' });
      const early = st.early;
      st.early = undefined;
      if (early) for (const c of early) if (st.alive) this.#deliverData(st, c);
      if (st.endPending) this.#deliverEnd(st);
    };
    stream.on(pushed ? 'push' : 'response', onResponse);
    stream.on('data', (chunk: Buffer) => {
      if (!st.alive) return;
      // node:http2 emits 'response' on the next tick; over a JS stream (an HTTP/2
      // tunnel) 'data' can come first. Hold data until the response is delivered.
      if (!st.responded) {
        (st.early ??= []).push(chunk);
        return;
      }
      this.#deliverData(st, chunk);
    });
    stream.on('trailers', (h: IncomingHttpHeaders) => {
      // 'trailers' fires when the HEADERS frame arrives, possibly before buffered DATA
      // has been read (flow control): they are delivered at 'end', after the data.
      st.trailers = toHeaderList(h);
    });
    stream.on('end', () => {
      if (!st.responded) st.endPending = true;
      else this.#deliverEnd(st);
    });
    stream.on('error', (err: Error) => {
      st.error ??= err;
    });
    stream.on('close', () => this.#onStreamClose(st));
    return st;
  }

  #deliverData(st: H2Stream, chunk: Buffer): void {
    this.#sink.deliver({ type: 'data', ref: st.ref, fin: false, data: chunk });
    if (st.flow !== Infinity && --st.flow <= 0) st.stream.pause();
  }

  #deliverEnd(st: H2Stream): void {
    st.endPending = false;
    if (st.bodyOpen && !st.done) {
      st.bodyOpen = false;
      st.done = true;
      if (!st.alive) return;
      if (st.trailers !== undefined) this.#sink.deliver({ type: 'trailers', ref: st.ref, headers: st.trailers });
      else this.#sink.deliver({ type: 'data', ref: st.ref, fin: true, data: EMPTY });
    }
  }

  /**
   * A 2xx to CONNECT without END_STREAM: this stream is now a tunnel (RFC 9113
   * §8.5). The layer stops reading it and hands it to the connection, which
   * runs the next layer on it; other streams are not affected.
   */
  #handOver(st: H2Stream, status: number, h: IncomingHttpHeaders): void {
    const stream = st.stream;
    st.done = true;
    this.#streams.delete(st.ref.key);
    for (const ev of ['headers', 'response', 'data', 'trailers', 'end', 'error', 'close']) stream.removeAllListeners(ev);
    // Runs before the listeners of the layers inside the tunnel: a reset is named as this proxy's.
    // Only the stream's own RST_STREAM error (node:http2 makes one per stream); a session's error, which every
    // stream of the session is destroyed with, is not the tunnel's.
    stream.on('error', (e: Error) => {
      const code = stream.rstCode;
      if ((e as { code?: unknown }).code !== 'ERR_HTTP2_STREAM_ERROR' || code === undefined || code === constants.NGHTTP2_NO_ERROR) return;
      if (Object.prototype.hasOwnProperty.call(e, TUNNEL_RESET)) return;
      const reset: TunnelReset = { hop: { ...this.#origin.hop, kind: 'connect' }, h2Code: code, h2Error: h2ErrorName(code) };
      Object.defineProperty(e, TUNNEL_RESET, { value: reset, enumerable: false });
    });
    closeTunnelGracefully(stream, Math.min(this.#opts.closingTimeout, TUNNEL_CLOSE_GRACE_MS));
    this.#tunnels++;
    stream.once('close', () => {
      this.#tunnels--;
    });
    stream.pause();
    // DATA read before the response (over a tunnel 'data' can come first): the tunnel's first bytes, put back.
    const early = st.early;
    st.early = undefined;
    if (early !== undefined && !stream.readableEnded) for (let i = early.length - 1; i >= 0; i--) stream.unshift(early[i] as Buffer);
    if (st.alive) this.#sink.deliver({ type: 'response', ref: st.ref, fin: true, status, headers: toHeaderList(h), version: '2' });
    this.#sink.tunnel(st.ref, stream, stream.readableLength);
    this.#maybeFinishClosing();
  }

  #onStreamClose(st: H2Stream): void {
    this.#streams.delete(st.ref.key);
    if (st.done || !st.alive || this.#closed) {
      this.#maybeFinishClosing();
      return;
    }
    st.done = true;
    const code = st.stream.rstCode ?? 0;
    const id = st.stream.id;
    let error: BurrowError;
    // A CONNECT stream that ends before its response: the proxy's answer to the CONNECT failed.
    const tunnelSetup = st.connect && !st.responded;
    const stage = tunnelSetup ? 'connect-response' : 'http';
    const hop = tunnelSetup ? { ...this.#origin.hop, kind: 'connect' as const } : this.#origin.hop;
    if (this.#goaway && (id === undefined || id > this.#goaway.lastStreamId)) {
      error = this.#goawayError();
    } else if (code !== constants.NGHTTP2_NO_ERROR) {
      error = new BurrowError('ERR_STREAM_RESET', `stream reset by the server (${h2ErrorName(code)})`, {
        stage,
        hop,
        cause: st.error,
        details: { h2Code: code, h2Error: h2ErrorName(code) },
      });
    } else {
      error = new BurrowError('ERR_CONNECTION_CLOSED', 'the stream closed before its response was complete', {
        stage,
        hop,
        cause: st.error ?? this.#sessionError,
      });
    }
    this.#sink.deliver({ type: 'error', ref: st.ref, error });
    this.#maybeFinishClosing();
  }

  #goawayError(): BurrowError {
    const code = this.#goaway?.code ?? 0;
    return new BurrowError('ERR_GOAWAY', `the server is going away (GOAWAY ${h2ErrorName(code)}); this stream was not processed`, {
      stage: 'http',
      hop: this.#origin.hop,
      details: { h2Code: code, h2Error: h2ErrorName(code), lastStreamId: this.#goaway?.lastStreamId ?? 0 },
    });
  }

  #notAccepting(): BurrowError {
    if (this.#goaway) return this.#goawayError();
    return new BurrowError('ERR_CLOSING', 'the connection is shutting down and accepts no new requests', { stage: 'state', hop: this.#origin.hop });
  }

  #onGoaway = (code: number, lastStreamId: number): void => {
    // Streams above lastStreamId will not be processed: nghttp2 closes them and
    // their close handler reports ERR_GOAWAY. The others may still finish.
    if (this.#closed) return;
    this.#goaway = { code, lastStreamId };
    this.#closing = true;
    this.#armClosingTimer();
    this.#maybeFinishClosing();
  };

  #onPush = (pushed: ClientHttp2Stream, reqHeaders: IncomingHttpHeaders): void => {
    const auth = String(reqHeaders[':authority'] ?? '');
    const scheme = String(reqHeaders[':scheme'] ?? '');
    // Node does not say which stream a PUSH_PROMISE came on: the parent is the
    // oldest open stream of ours with the same authority (docs/architecture.md).
    let parent: H2Stream | undefined;
    for (const st of this.#streams.values()) {
      if (!st.pushed && !st.done && st.alive && st.authority === auth) {
        parent = st;
        break;
      }
    }
    if (!parent || scheme !== this.#scheme || this.#closing) {
      pushed.on('error', () => undefined);
      pushed.close(this.#closing ? constants.NGHTTP2_CANCEL : constants.NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    const pushRef = parent.ref.parent ? parent.ref.parent.child(nextStreamId()) : new StreamRef([nextStreamId()]);
    const path = String(reqHeaders[':path'] ?? '/');
    this.#sink.deliver({
      type: 'push',
      ref: parent.ref,
      pushRef,
      method: String(reqHeaders[':method'] ?? 'GET'),
      url: `${scheme}://${auth}${path}`,
      headers: toHeaderList(reqHeaders),
    });
    this.#track(pushRef, pushed, auth, parent.flow, true);
  };

  data(ref: StreamRef, fin: boolean, chunk: Buffer): Promise<void> {
    const st = this.#streams.get(ref.key);
    if (!st || st.stream.writableEnded) {
      this.#sink.deliver({
        type: 'error',
        ref,
        error: new BurrowError(st ? 'ERR_STREAM_CLOSED' : 'ERR_STREAM_NOT_FOUND', st ? 'the request body of this stream is already complete' : 'no open stream has this ref', {
          stage: 'state',
          hop: this.#origin.hop,
        }),
      });
      return Promise.resolve();
    }
    const s = st.stream;
    let ok = true;
    if (fin) {
      s.end(chunk);
      this.#sink.sent(ref, 'body');
    } else if (chunk.length > 0) ok = s.write(chunk);
    return whenWritable(s, ok);
  }

  cancel(ref: StreamRef): boolean {
    const waiting = this.#awaitingSettings.findIndex((s) => s.ref.equals(ref));
    if (waiting >= 0) {
      this.#awaitingSettings.splice(waiting, 1);
      return true;
    }
    const st = this.#streams.get(ref.key);
    if (!st || !st.alive) return false;
    st.alive = false;
    st.done = true;
    this.#streams.delete(ref.key);
    st.stream.close(constants.NGHTTP2_CANCEL);
    this.#maybeFinishClosing();
    return true;
  }

  updateFlow(ref: StreamRef, increment: number): void {
    const st = this.#streams.get(ref.key);
    if (!st || st.flow === Infinity) return;
    st.flow += increment;
    if (st.flow > 0 && st.stream.isPaused()) st.stream.resume();
  }

  ping(): Promise<number> {
    const id = ++this.#pingId;
    return new Promise((resolve, reject) => {
      try {
        this.#session.ping((err, duration) => {
          if (err) {
            reject(new BurrowError('ERR_HTTP2', `ping failed: ${err.message}`, { stage: 'http', hop: this.#origin.hop, cause: err }));
            return;
          }
          this.#sink.notify({ type: 'ping-ack', id, rttMs: duration });
          resolve(duration);
        });
      } catch (e) {
        reject(new BurrowError('ERR_HTTP2', `ping failed: ${(e as Error).message}`, { stage: 'http', hop: this.#origin.hop, cause: e }));
      }
    });
  }

  #keepalive = (): void => {
    if (this.#unackedPings >= this.#opts.keepaliveTolerance) {
      this.#finish(new BurrowError('ERR_KEEPALIVE_TIMEOUT', `${this.#unackedPings} keepalive pings were not acknowledged`, {
        stage: 'timeout',
        hop: this.#origin.hop,
        details: { unacked: this.#unackedPings, during: 'keepalive' },
      }));
      return;
    }
    this.#unackedPings++;
    try {
      this.#session.ping((err) => {
        if (!err) this.#unackedPings = Math.max(0, this.#unackedPings - 1);
      });
    } catch {
      // Too many outstanding pings: counted as unacknowledged.
    }
  };

  shutdown(): void {
    if (this.#closed) return;
    // GOAWAY is sent once every open stream is done: nghttp2 would send a GOAWAY
    // ahead of HEADERS still queued, and the server would then refuse those streams.
    this.#closing = true;
    for (const spec of this.#awaitingSettings.splice(0)) this.#sink.deliver({ type: 'error', ref: spec.ref, error: this.#notAccepting() });
    this.#armClosingTimer();
    this.#maybeFinishClosing();
  }

  #armClosingTimer(): void {
    if (this.#closed || this.#closingTimer || this.#opts.closingTimeout === Infinity) return;
    this.#closingTimer = setTimeout(() => {
      this.#finish(new BurrowError('ERR_CLOSING', `graceful shutdown did not finish within ${this.#opts.closingTimeout} ms`, {
        stage: 'timeout',
        hop: this.#origin.hop,
        details: { timeoutMs: this.#opts.closingTimeout, during: 'shutdown' },
      }));
    }, this.#opts.closingTimeout);
  }

  #maybeFinishClosing(): void {
    if (!this.#closing || this.#closed) return;
    for (const st of this.#streams.values()) if (!st.done) return;
    // Nothing is left in flight: close gracefully (GOAWAY), then the session's close event finishes the layer.
    try {
      this.#session.close();
    } catch {
      this.#finish(null);
    }
  }

  destroy(reason: BurrowError): void {
    this.#finish(reason);
  }

  activeStreams(): StreamRef[] {
    const out: StreamRef[] = this.#awaitingSettings.map((s) => s.ref);
    for (const st of this.#streams.values()) if (st.alive && !st.done) out.push(st.ref);
    return out;
  }

  streamState(ref: StreamRef): LayerStreamState | undefined {
    const st = this.#streams.get(ref.key);
    if (st === undefined && this.#awaitingSettings.some((s) => s.ref.equals(ref))) return 'running';
    return st && !st.done ? 'running' : undefined;
  }

  #onSessionClose = (): void => {
    if (this.#closed) return;
    const err = this.#sessionError;
    const open = this.activeStreams().length > 0;
    this.#finish(
      err
        ? String((err as { code?: unknown }).code ?? '').startsWith('ERR_SSL_')
          ? socketError(err, this.#origin.hop, 'HTTP/2 connection error')
          : new BurrowError('ERR_HTTP2', `HTTP/2 connection error: ${err.message}`, { stage: 'http', hop: this.#origin.hop, cause: err })
        : open || !this.#isReady
          ? new BurrowError('ERR_CONNECTION_CLOSED', 'the HTTP/2 connection closed', { stage: 'http', hop: this.#origin.hop })
          : null,
    );
  };

  #finish(error: BurrowError | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    if (this.#keepaliveTimer) clearInterval(this.#keepaliveTimer);
    if (this.#closingTimer) clearTimeout(this.#closingTimer);
    const streamError =
      error ?? new BurrowError('ERR_CONNECTION_CLOSED', 'the connection closed before this stream completed', { stage: 'http', hop: this.#origin.hop });
    const killed: StreamRef[] = [];
    for (const st of this.#streams.values()) {
      if (st.alive && !st.done) {
        st.done = true;
        killed.push(st.ref);
        this.#sink.deliver({ type: 'error', ref: st.ref, error: streamError });
      }
    }
    this.#streams.clear();
    for (const spec of this.#awaitingSettings.splice(0)) {
      killed.push(spec.ref);
      this.#sink.deliver({ type: 'error', ref: spec.ref, error: streamError });
    }
    if (!this.#isReady) this.#readyReject(streamError);
    this.#session.on('error', () => undefined);
    // Destroyed on the next turn: node:http2 (Node 20) can spin forever when a session is
    // destroyed in the same turn as the close of a stream the peer reset.
    const session = this.#session;
    const socket = this.#socket;
    setImmediate(() => {
      session.destroy();
      socket.destroy();
    });
    this.#sink.closed(error, killed);
  }
}
