/**
 * HTTP/1.1 over a duplex: drives burrow's sans-I/O codec (./codec) with the
 * bytes of one socket. Requests are written at once and pipelined; responses
 * are matched to them in order.
 *
 * One file, one state machine: what may be written next (a body being
 * streamed, a CONNECT awaiting its answer, requests blocked behind them) and
 * what is read (the exchange at the head of the pipeline, an upgraded stream,
 * a socket handed over as a tunnel) change together on every event of the one
 * socket; splitting them would spread each transition over several files.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BurrowError, socketError } from '../../errors/errors.js';
import type { StreamRef } from '../../shared/stream-ref.js';
import type { ResolvedHttp1Options } from '../../shared/options/http.js';
import { authority, getHeader, hasHeader, type Header } from '../../shared/headers.js';
import { whenWritable } from '../../transport/drain.js';
import type { HttpLayer, LayerOrigin, LayerSink, LayerStreamState, RequestSpec } from '../../shared/layer.js';
import {
  ResponseParser,
  decideFraming,
  encodeChunk,
  encodeLastChunk,
  encodeRequestHead,
  type BodyFraming,
  type ParseEvent,
} from './codec/index.js';

/** One request/response exchange on the connection. */
interface Exchange {
  readonly ref: StreamRef;
  readonly method: string;
  /** False once cancelled: messages are read but no longer delivered. */
  alive: boolean;
  /** Flow budget in data messages. */
  flow: number;
  /** Response head delivered with fin false; a final data message is still owed. */
  bodyOpen: boolean;
  /** The request body is still being streamed by the user. */
  sending: boolean;
  framing: BodyFraming;
  /** Bytes of body written so far (for length framing). */
  sent: number;
  /** An HTTP/1.0 request: the connection closes after its response unless the server answers `connection: keep-alive`. */
  readonly http10: boolean;
  /** The connection takes no more requests once this response ends (HTTP/1.0 without keep-alive). */
  closeAfter: boolean;
}

/** Options the layer needs. */
export type Http1LayerOptions = ResolvedHttp1Options;

const EMPTY = Buffer.alloc(0);

/** The HTTP/1.1 protocol layer. */
export class Http1Layer implements HttpLayer {
  readonly protocol = 'http' as const;
  readonly ready: Promise<void> = Promise.resolve();
  readonly #socket: Socket | Duplex;
  readonly #sink: LayerSink;
  readonly #origin: LayerOrigin;
  readonly #opts: Http1LayerOptions;
  readonly #parser: ResponseParser;
  /** In-flight exchanges in the order their requests were written. */
  readonly #inflight: Exchange[] = [];
  /** Requests that wait until the body being streamed is finished. */
  readonly #blocked: RequestSpec[] = [];
  /** Body data given for requests still in #blocked, sent right after their heads. */
  readonly #queuedData = new Map<string, Array<{ fin: boolean; chunk: Buffer; resolve: () => void }>>();
  /** A response ended while its request body was still being sent: no further request may use this connection. */
  #poisoned = false;
  /** A response said `connection: close`: no further request may use this connection. */
  #serverClosingSoon = false;
  /** The exchange whose request body is being streamed, if any. */
  #writer: Exchange | undefined;
  /** A CONNECT waiting for its response: nothing else may be written meanwhile. */
  #connecting: Exchange | undefined;
  /** A WebSocket upgrade waiting for its response: its 101 hands the socket over, so nothing else may be written meanwhile. */
  #upgrading: Exchange | undefined;
  /** Set after a 101: the stream that now owns the raw bytes of the connection. */
  #upgraded: Exchange | undefined;
  #closing = false;
  #closed = false;
  #pausedByFlow = false;
  #corked = false;
  /** Upgraded stream: the peer ended its side / we ended ours. */
  #upPeerEnded = false;
  #upWriteEnded = false;
  #keepaliveTimer: NodeJS.Timeout | undefined;
  #closingTimer: NodeJS.Timeout | undefined;
  readonly #host: string;

  constructor(socket: Socket | Duplex, origin: LayerOrigin, opts: Http1LayerOptions, sink: LayerSink) {
    this.#socket = socket;
    this.#sink = sink;
    this.#origin = origin;
    this.#opts = opts;
    this.#host = authority(origin.host, origin.port, origin.transport);
    this.#parser = new ResponseParser({
      maxHeaderBlockSize: opts.maxHeaderBlockSize,
      maxTrailerBlockSize: opts.maxTrailerBlockSize,
      maxHeaderCount: opts.maxHeaderCount,
    });
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    // A socket handed on by a tunnel layer arrives paused.
    socket.resume();
    if (opts.keepalive !== Infinity) {
      this.#keepaliveTimer = setInterval(this.#keepalive, opts.keepalive);
      this.#keepaliveTimer.unref();
    }
  }

  get accepting(): boolean {
    return !this.#closing && !this.#closed && !this.#poisoned && !this.#serverClosingSoon && this.#upgraded === undefined;
  }

  request(spec: RequestSpec): void {
    if (!this.accepting) {
      this.#sink.deliver({ type: 'error', ref: spec.ref, error: this.#closingError() });
      return;
    }
    if (spec.method === 'CONNECT' && (this.#inflight.length > 0 || this.#blocked.length > 0 || this.#writer)) {
      this.#sink.deliver({
        type: 'error',
        ref: spec.ref,
        error: new BurrowError('ERR_BAD_STATE', 'CONNECT can only be used on an HTTP/1.1 connection with no other stream active', {
          stage: 'state',
          hop: this.#origin.hop,
        }),
      });
      return;
    }
    if (this.#writer || this.#connecting || this.#upgrading) {
      // A body is being streamed, or a CONNECT or WebSocket upgrade may turn the connection into a tunnel:
      // the next request waits so its bytes never land in the wrong place.
      this.#blocked.push(spec);
      return;
    }
    this.#write(spec);
  }

  #write(spec: RequestSpec): void {
    let framing: BodyFraming;
    let head: Buffer;
    try {
      framing = decideFraming(spec.method, spec.headers, spec.body);
      head = encodeRequestHead(
        spec.version === '1.0' ? { method: spec.method, target: spec.path, headers: spec.headers, host: this.#host, version: '1.0' } : { method: spec.method, target: spec.path, headers: spec.headers, host: this.#host },
        framing,
      );
    } catch (e) {
      this.#sink.deliver({ type: 'error', ref: spec.ref, error: e as BurrowError });
      return;
    }
    const upgrade = hasHeader(spec.headers, 'upgrade') && /\bupgrade\b/i.test(getHeader(spec.headers, 'connection') ?? '');
    const ex: Exchange = {
      ref: spec.ref,
      method: spec.method,
      alive: true,
      flow: spec.flow,
      bodyOpen: false,
      sending: spec.body === null && framing.kind !== 'none',
      framing,
      sent: 0,
      http10: spec.version === '1.0',
      closeAfter: false,
    };
    this.#parser.expect(spec.method, { upgrade });
    this.#inflight.push(ex);
    if (spec.method === 'CONNECT') this.#connecting = ex;
    else if (spec.upgrade === 'websocket') this.#upgrading = ex;
    this.#cork();
    if (spec.body !== null && spec.body.length > 0) {
      // One write for small requests; two for large bodies (no copy of the body).
      if (spec.body.length <= 16384) this.#socket.write(Buffer.concat([head, spec.body]));
      else {
        this.#socket.write(head);
        this.#socket.write(spec.body);
      }
    } else {
      this.#socket.write(head);
    }
    this.#sink.sent(spec.ref, 'headers');
    // A CONNECT has no body: what follows its 2xx is the tunnel.
    if (!ex.sending && spec.method !== 'CONNECT') this.#sink.sent(spec.ref, 'body');
    if (ex.sending) this.#writer = ex;
    const queued = this.#queuedData.get(spec.ref.key);
    if (queued !== undefined) {
      this.#queuedData.delete(spec.ref.key);
      for (const q of queued) void this.data(spec.ref, q.fin, q.chunk).then(q.resolve);
    }
  }

  /** Settles the data() promises of a request that will never be written. */
  #dropQueued(ref: StreamRef): void {
    const queued = this.#queuedData.get(ref.key);
    if (queued === undefined) return;
    this.#queuedData.delete(ref.key);
    for (const q of queued) q.resolve();
  }

  /**
   * Requests made in the same tick (pipelining, many callers) go out in one
   * write: the socket is corked now and uncorked on the next tick.
   */
  #cork(): void {
    if (this.#corked) return;
    const socket = this.#socket as Socket;
    if (typeof socket.cork !== 'function') return;
    this.#corked = true;
    socket.cork();
    process.nextTick(() => {
      this.#corked = false;
      socket.uncork();
    });
  }

  data(ref: StreamRef, fin: boolean, chunk: Buffer): Promise<void> {
    if (this.#upgraded && this.#upgraded.ref.equals(ref)) {
      return this.#raw(chunk, fin);
    }
    if (this.#blocked.some((b) => b.ref.equals(ref))) {
      // Its head is not written yet (another body is being sent): the data is kept and goes
      // right after the head. Resolving now lets the caller finish the other body first.
      const q = this.#queuedData.get(ref.key) ?? [];
      q.push({ fin, chunk, resolve: () => undefined });
      this.#queuedData.set(ref.key, q);
      return Promise.resolve();
    }
    const ex = this.#writer;
    if (!ex || !ex.ref.equals(ref)) {
      const known = this.#inflight.some((e) => e.ref.equals(ref));
      this.#sink.deliver({
        type: 'error',
        ref,
        error: new BurrowError(
          known ? 'ERR_STREAM_CLOSED' : 'ERR_STREAM_NOT_FOUND',
          known ? 'the request body of this stream is already complete' : 'no stream is sending a request body with this ref',
          { stage: 'state', hop: this.#origin.hop },
        ),
      });
      return Promise.resolve();
    }
    const parts: Buffer[] = [];
    if (ex.framing.kind === 'chunked') {
      if (chunk.length > 0) parts.push(...encodeChunk(chunk));
      if (fin) parts.push(encodeLastChunk());
    } else if (ex.framing.kind === 'length') {
      ex.sent += chunk.length;
      if (ex.sent > ex.framing.length || (fin && ex.sent < ex.framing.length)) {
        const err = new BurrowError(
          'ERR_BODY_LENGTH',
          `request body is ${fin && ex.sent < ex.framing.length ? 'shorter' : 'longer'} than its content-length ${ex.framing.length}`,
          { stage: 'http', hop: this.#origin.hop, details: { contentLength: ex.framing.length, sent: ex.sent } },
        );
        // The message framing is broken: the connection cannot be used further.
        this.destroy(err);
        return Promise.resolve();
      }
      if (chunk.length > 0) parts.push(chunk);
    }
    let ok = true;
    for (const p of parts) ok = this.#socket.write(p);
    if (fin) {
      ex.sending = false;
      this.#writer = undefined;
      this.#sink.sent(ref, 'body');
      this.#unblock();
    }
    return whenWritable(this.#socket, ok);
  }

  #raw(chunk: Buffer, fin: boolean): Promise<void> {
    const ok = chunk.length > 0 ? this.#socket.write(chunk) : true;
    if (fin && !this.#upWriteEnded) {
      this.#upWriteEnded = true;
      this.#socket.end();
      if (this.#upPeerEnded) this.#closeUpgradedAfterFlush();
    }
    return whenWritable(this.#socket, ok);
  }

  /** Both directions of an upgraded stream ended: close once what was written is flushed. */
  #closeUpgradedAfterFlush(): void {
    const done = (): void => {
      this.#upgraded = undefined;
      this.#finish(null);
    };
    if (this.#socket.writableFinished) done();
    else this.#socket.once('finish', done);
  }


  #unblock(): void {
    while (!this.#writer && !this.#connecting && !this.#upgrading && this.#blocked.length > 0) {
      const spec = this.#blocked.shift() as RequestSpec;
      this.#write(spec);
    }
  }

  cancel(ref: StreamRef): boolean {
    const blocked = this.#blocked.findIndex((s) => s.ref.equals(ref));
    if (blocked >= 0) {
      this.#blocked.splice(blocked, 1);
      this.#dropQueued(ref);
      return true;
    }
    const ex = this.#inflight.find((e) => e.ref.equals(ref)) ?? (this.#upgraded?.ref.equals(ref) ? this.#upgraded : undefined);
    if (!ex || !ex.alive) return false;
    // HTTP/1.1 cannot abort one exchange without closing the connection: the
    // response is still read (and discarded) so later pipelined ones stay in sync.
    ex.alive = false;
    if (ex.flow <= 0) {
      ex.flow = Infinity;
      this.#maybeResume();
    }
    if (ex === this.#upgraded) this.destroy(new BurrowError('ERR_STREAM_CANCELED', 'the upgraded stream was cancelled', { stage: 'state', hop: this.#origin.hop }));
    return true;
  }

  updateFlow(ref: StreamRef, increment: number): void {
    const ex = this.#inflight.find((e) => e.ref.equals(ref)) ?? (this.#upgraded?.ref.equals(ref) ? this.#upgraded : undefined);
    if (!ex || ex.flow === Infinity) return;
    ex.flow += increment;
    this.#maybeResume();
  }

  #maybeResume(): void {
    if (!this.#pausedByFlow) return;
    const current = this.#upgraded ?? this.#inflight[0];
    if (!current || current.flow > 0) {
      this.#pausedByFlow = false;
      this.#socket.resume();
    }
  }

  remoteSettings(): undefined {
    return undefined;
  }

  ping(): Promise<number> {
    return Promise.reject(
      new BurrowError('ERR_PING_UNSUPPORTED', 'HTTP/1.1 has no ping; ping needs an HTTP/2 connection', { stage: 'state', hop: this.#origin.hop }),
    );
  }

  shutdown(): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    // Requests not yet written will never be: fail them now.
    for (const spec of this.#blocked.splice(0)) {
      this.#dropQueued(spec.ref);
      this.#sink.deliver({ type: 'error', ref: spec.ref, error: this.#closingError() });
    }
    if (this.#inflight.length === 0 && !this.#upgraded) {
      this.#finish(null);
      return;
    }
    if (this.#opts.closingTimeout !== Infinity) {
      this.#closingTimer = setTimeout(() => {
        this.destroy(new BurrowError('ERR_CLOSING', `graceful shutdown did not finish within ${this.#opts.closingTimeout} ms`, {
          stage: 'timeout',
          hop: this.#origin.hop,
          details: { timeoutMs: this.#opts.closingTimeout, during: 'shutdown' },
        }));
      }, this.#opts.closingTimeout);
    }
  }

  destroy(reason: BurrowError): void {
    this.#finish(reason);
  }

  activeStreams(): StreamRef[] {
    const refs = this.#inflight.filter((e) => e.alive).map((e) => e.ref);
    for (const s of this.#blocked) refs.push(s.ref);
    if (this.#upgraded?.alive) refs.push(this.#upgraded.ref);
    return refs;
  }

  streamState(ref: StreamRef): LayerStreamState | undefined {
    const ex = this.#inflight.find((e) => e.ref.equals(ref)) ?? (this.#upgraded?.ref.equals(ref) ? this.#upgraded : undefined);
    if (ex) return ex.alive ? 'running' : 'stopping';
    return this.#blocked.some((s) => s.ref.equals(ref)) ? 'running' : undefined;
  }

  #closingError(): BurrowError {
    return new BurrowError('ERR_CLOSING', 'the connection is shutting down and accepts no new requests', { stage: 'state', hop: this.#origin.hop });
  }

  #keepalive = (): void => {
    // An empty line between messages is allowed (RFC 9112 §2.2); never in the middle of a request.
    if (!this.#writer && !this.#upgraded && !this.#connecting && !this.#upgrading && !this.#closed) this.#socket.write('\r\n');
  };

  #onData = (chunk: Buffer): void => {
    if (this.#closed) return;
    if (this.#upgraded) {
      this.#deliverRaw(chunk);
      return;
    }
    const events: ParseEvent[] = [];
    try {
      this.#parser.feedInto(chunk, events);
    } catch (e) {
      // What the chunk completed before the bad byte is delivered first: a complete
      // response is not lost because garbage follows it in the same read.
      this.#handle(events);
      if (!this.#closed) this.#finish(this.#parseError(e));
      return;
    }
    this.#handle(events);
  };

  #onEnd = (): void => {
    if (this.#closed) return;
    if (this.#upgraded) {
      // The peer stopped sending; the upgraded stream may still send (half-close) until data(ref, true, …).
      const ex = this.#upgraded;
      if (ex.alive) this.#sink.deliver({ type: 'data', ref: ex.ref, fin: true, data: EMPTY });
      this.#upPeerEnded = true;
      if (this.#upWriteEnded || !ex.alive) this.#closeUpgradedAfterFlush();
      return;
    }
    try {
      this.#handle(this.#parser.finish());
    } catch (e) {
      this.#finish(this.#parseError(e));
      return;
    }
    const idle = this.#inflight.length === 0;
    this.#finish(
      idle
        ? null
        : this.#connecting !== undefined
          ? // Closed before the answer to a CONNECT: the proxy's CONNECT response failed.
            new BurrowError('ERR_CONNECTION_CLOSED', 'the proxy closed the connection before answering the CONNECT', {
              stage: 'connect-response',
              hop: { ...this.#origin.hop, kind: 'connect' },
            })
          : new BurrowError('ERR_CONNECTION_CLOSED', 'the server closed the connection before the response was complete', {
              stage: 'http',
              hop: this.#origin.hop,
            }),
    );
  };

  #onError = (err: Error): void => {
    this.#finish(socketError(err, this.#origin.hop, 'connection error'));
  };

  #onClose = (): void => {
    if (this.#closed) return;
    this.#finish(
      this.#inflight.length === 0 && !this.#upgraded
        ? null
        : new BurrowError('ERR_CONNECTION_CLOSED', 'the connection closed', { stage: 'tcp', hop: this.#origin.hop }),
    );
  };

  #parseError(e: unknown): BurrowError {
    if (e instanceof BurrowError) {
      // A bad answer to a CONNECT is a failure of the proxy's CONNECT response.
      const stage = this.#connecting && e.stage === 'http' ? 'connect-response' : e.stage;
      const hop = this.#connecting ? { ...this.#origin.hop, kind: 'connect' as const } : this.#origin.hop;
      return e.hop ? e : new BurrowError(e.code, e.message, { stage, hop, cause: e.cause, details: e.details });
    }
    return new BurrowError('ERR_HTTP_PARSE', `invalid response: ${(e as Error).message}`, { stage: 'http', hop: this.#origin.hop, cause: e });
  }

  #handle(events: ParseEvent[]): void {
    for (let i = 0; i < events.length; i++) {
      const ev = events[i] as ParseEvent;
      const ex = this.#inflight[0];
      if (!ex) return;
      switch (ev.kind) {
        case 'inform':
          if (ex.alive) this.#sink.deliver({ type: 'inform', ref: ex.ref, status: ev.status, headers: ev.headers });
          break;
        case 'head': {
          // The server will close after this response: later requests go to the next connection.
          // An HTTP/1.0 request keeps its connection only when the server says so (RFC 9112 §9.3, §C.2.2).
          if (ex.http10 && !/\bkeep-alive\b/i.test(getHeader(ev.headers, 'connection') ?? '')) ex.closeAfter = true;
          if (!ev.keepAlive || ex.closeAfter) this.#serverClosingSoon = true;
          const fin = ev.body === 'none' || (ev.body === 'length' && ev.contentLength === 0);
          ex.bodyOpen = !fin;
          if (ex.alive) this.#sink.deliver({ type: 'response', ref: ex.ref, fin, status: ev.status, headers: ev.headers, version: ev.version });
          break;
        }
        case 'data': {
          const last = events[i + 1]?.kind === 'end';
          if (last) ex.bodyOpen = false;
          if (ex.alive) {
            this.#sink.deliver({ type: 'data', ref: ex.ref, fin: last, data: ev.data });
            this.#spend(ex);
          }
          break;
        }
        case 'trailers':
          ex.bodyOpen = false;
          if (ex.alive) this.#sink.deliver({ type: 'trailers', ref: ex.ref, headers: ev.headers });
          break;
        case 'end':
          if (ex.bodyOpen && ex.alive) this.#sink.deliver({ type: 'data', ref: ex.ref, fin: true, data: EMPTY });
          ex.bodyOpen = false;
          this.#inflight.shift();
          if (ex === this.#connecting || ex === this.#upgrading) {
            // The CONNECT or upgrade was refused: an ordinary response; the connection goes on.
            if (ex === this.#connecting) this.#connecting = undefined;
            else this.#upgrading = undefined;
            this.#unblock();
          }
          if (ex === this.#writer) {
            // The server answered before the body was complete. The rest of that body can
            // never be framed correctly for the next request: this connection takes no more.
            this.#writer = undefined;
            this.#poisoned = true;
            const err = new BurrowError('ERR_CONNECTION_CLOSED', 'the server answered before the previous request body was complete; this request was not sent', {
              stage: 'http',
              hop: this.#origin.hop,
            });
            for (const spec of this.#blocked.splice(0)) {
              this.#dropQueued(spec.ref);
              this.#sink.deliver({ type: 'error', ref: spec.ref, error: err });
            }
          }
          if (!ev.keepAlive || ex.closeAfter) {
            this.#serverClosing();
            return;
          }
          if (this.#pausedByFlow) this.#maybeResume();
          if ((this.#closing || this.#poisoned) && this.#inflight.length === 0) {
            this.#finish(null);
            return;
          }
          break;
        case 'switch':
          if (ex.method === 'CONNECT' || ex === this.#upgrading) this.#handOver(ex, ev.status, ev.headers, ev.version, ev.rest);
          else this.#switch(ex, ev.headers, ev.rest);
          return;
      }
    }
  }

  /** Counts one delivered data message against the stream's flow budget. */
  #spend(ex: Exchange): void {
    if (ex.flow === Infinity) return;
    ex.flow -= 1;
    if (ex.flow <= 0 && !this.#pausedByFlow) {
      this.#pausedByFlow = true;
      this.#socket.pause();
    }
  }

  /** A response said `connection: close`: what was pipelined behind it will not be answered. */
  #serverClosing(): void {
    this.#finish(
      this.#inflight.length === 0 && this.#blocked.length === 0
        ? null
        : new BurrowError('ERR_CONNECTION_CLOSED', 'the server closed the connection (connection: close) before answering this request; it was not processed', {
            stage: 'http',
            hop: this.#origin.hop,
          }),
    );
  }

  /** 101 Switching Protocols: the connection now carries the upgraded protocol's bytes on this stream. */
  #switch(ex: Exchange, headers: readonly Header[], rest: Buffer): void {
    this.#inflight.shift();
    this.#upgraded = ex;
    const protocols = (getHeader(headers, 'upgrade') ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (ex.alive) this.#sink.deliver({ type: 'upgrade', ref: ex.ref, protocols, headers });
    // Pipelined requests behind an upgrade can never be answered.
    const err = new BurrowError('ERR_CONNECTION_CLOSED', 'the connection switched protocols before answering this request', { stage: 'http', hop: this.#origin.hop });
    for (const other of this.#inflight.splice(0)) if (other.alive) this.#sink.deliver({ type: 'error', ref: other.ref, error: err });
    if (rest.length > 0) this.#deliverRaw(rest);
  }

  /**
   * A 2xx to CONNECT, or the 101 of a WebSocket upgrade: the whole connection
   * becomes the tunnel (or the WebSocket). This layer lets go of the socket
   * without closing it, puts back the bytes read past the response (they
   * belong to what follows), and hands the socket on.
   */
  #handOver(ex: Exchange, status: number, headers: readonly Header[], version: '1.0' | '1.1', rest: Buffer): void {
    const websocket = ex === this.#upgrading;
    if (!ex.alive || this.#closing) {
      // Cancelled, or the connection is shutting down: the tunnel is not wanted, and the
      // socket now belongs to it, so the connection ends here.
      this.#inflight.shift();
      this.#connecting = undefined;
      this.#upgrading = undefined;
      this.#finish(ex.alive ? this.#closingError() : null);
      return;
    }
    this.#inflight.shift();
    this.#connecting = undefined;
    this.#upgrading = undefined;
    this.#closed = true;
    if (this.#keepaliveTimer) clearInterval(this.#keepaliveTimer);
    if (this.#closingTimer) clearTimeout(this.#closingTimer);
    const socket = this.#socket;
    socket.pause();
    socket.removeListener('data', this.#onData);
    socket.removeListener('end', this.#onEnd);
    socket.removeListener('close', this.#onClose);
    socket.removeListener('error', this.#onError);
    socket.on('error', () => undefined);
    if (rest.length > 0) socket.unshift(rest);
    if (websocket) {
      const protocols = (getHeader(headers, 'upgrade') ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
      this.#sink.deliver({ type: 'upgrade', ref: ex.ref, protocols, headers });
    } else this.#sink.deliver({ type: 'response', ref: ex.ref, fin: true, status, headers, version });
    const err = new BurrowError('ERR_BAD_STATE', websocket ? `the connection became the WebSocket ${ex.ref}` : `the connection became a tunnel (CONNECT ${ex.ref}); send requests with { tunnel: ref }`, {
      stage: 'state',
      hop: this.#origin.hop,
    });
    for (const spec of this.#blocked.splice(0)) {
      this.#dropQueued(spec.ref);
      this.#sink.deliver({ type: 'error', ref: spec.ref, error: err });
    }
    this.#sink.tunnel(ex.ref, socket, rest.length);
  }

  #deliverRaw(chunk: Buffer): void {
    const ex = this.#upgraded as Exchange;
    if (!ex.alive) return;
    this.#sink.deliver({ type: 'data', ref: ex.ref, fin: false, data: chunk });
    this.#spend(ex);
  }

  /** Closes the socket and reports once; open streams get `error` (or a closed error). */
  #finish(error: BurrowError | null): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#keepaliveTimer) clearInterval(this.#keepaliveTimer);
    if (this.#closingTimer) clearTimeout(this.#closingTimer);
    this.#socket.removeListener('data', this.#onData);
    this.#socket.removeListener('end', this.#onEnd);
    this.#socket.removeListener('close', this.#onClose);
    // Keep an error listener: a late socket error must never crash the process.
    this.#socket.removeListener('error', this.#onError);
    this.#socket.on('error', () => undefined);
    const killed: StreamRef[] = [];
    const streamError =
      error ?? new BurrowError('ERR_CONNECTION_CLOSED', 'the connection closed before this stream completed', { stage: 'http', hop: this.#origin.hop });
    const kill = (ref: StreamRef): void => {
      killed.push(ref);
      this.#sink.deliver({ type: 'error', ref, error: streamError });
    };
    for (const ex of this.#inflight.splice(0)) if (ex.alive) kill(ex.ref);
    for (const spec of this.#blocked.splice(0)) {
      this.#dropQueued(spec.ref);
      kill(spec.ref);
    }
    if (this.#upgraded?.alive) kill(this.#upgraded.ref);
    this.#upgraded = undefined;
    this.#writer = undefined;
    if (error === null) this.#socket.end();
    this.#socket.destroy();
    this.#sink.closed(error, killed);
  }
}
