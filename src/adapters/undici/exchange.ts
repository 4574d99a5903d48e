/**
 * One dispatched request, from its lease to the end of its response: it
 * drives the connection (`request`, `headers` + `data`, or `connect`), turns
 * the stream's messages into the handler's calls, and the handler's
 * pause/resume/abort into flow credit and cancellation.
 */
import { STATUS_CODES } from 'node:http';
import { BurrowError } from '../../errors/errors.js';
import type { Connection } from '../../connection/connection.js';
import type { HeaderList } from '../../shared/headers.js';
import type { StreamMessage } from '../../shared/messages.js';
import type { StreamRef } from '../../shared/stream-ref.js';
import type { Lease } from '../../request/pool.js';
import type { Core, InFlight } from './core.js';
import { StreamDuplex } from './duplex.js';
import { sinkFor, type DispatchHandler, type HandlerSink, type SinkOwner } from './handler.js';
import type { DispatchOptions } from './options.js';
import { connectTarget, planOf, type Plan } from './plan.js';

const EMPTY = Buffer.alloc(0);
/** Data messages delivered ahead of the handler's reader. */
const BODY_WINDOW = 16;

/**
 * One dispatched request, from its lease to the end of its response: the
 * connection's `replyTo`, the handler's pause/resume/abort, the body sender.
 * @internal
 */
export class DispatchExchange implements SinkOwner, InFlight {
  readonly #core: Core;
  readonly #sink: HandlerSink;
  #plan: Plan | undefined;
  #lease: Lease | undefined;
  #conn: Connection | undefined;
  #ref: StreamRef | undefined;
  /** Stops the pool's wait or the route's opening when the handler aborts meanwhile. */
  #ac: AbortController | undefined;
  #aborted: Error | undefined;
  #headDone = false;
  #finished = false;
  #ended = false;
  #paused = false;
  /** Data messages delivered since flow credit last went back. */
  #owed = 0;
  #headersTimer: NodeJS.Timeout | undefined;
  #duplex: StreamDuplex | undefined;
  #tunnelUp = false;
  #connectStatus = 0;
  #connectHeaders: HeaderList = [];

  constructor(core: Core, handler: DispatchHandler) {
    this.#core = core;
    this.#sink = sinkFor(handler, this);
  }

  /** A dispatch the dispatcher cannot take (closed): the handler hears of it as of any failure. */
  refuse(e: Error): void {
    this.#sink.start();
    this.#finished = true;
    this.#sink.error(e);
  }

  run(opts: DispatchOptions): void {
    this.#core.started(this);
    let plan: Plan;
    try {
      plan = planOf(this.#core, opts);
    } catch (e) {
      this.#sink.start();
      this.#fail(e instanceof Error ? e : new BurrowError('ERR_INVALID_REQUEST', String(e), { stage: 'options', cause: e }));
      return;
    }
    this.#plan = plan;
    this.#sink.start();
    if (this.#aborted !== undefined || this.#finished) return;
    if (plan.headersTimeout !== Infinity) {
      const ms = plan.headersTimeout;
      this.#headersTimer = setTimeout(() => {
        if (this.#headDone) return;
        this.abort(new BurrowError('ERR_HEADERS_TIMEOUT', `no response headers within ${ms} ms`, { stage: 'timeout', details: { timeoutMs: ms } }));
      }, ms);
    }
    if (plan.kind === 'request') {
      const ready = this.#core.pool.tryAcquire(plan.route.key);
      if (ready !== undefined) {
        this.#send(ready);
        return;
      }
    }
    void this.#acquireAndSend(plan);
  }

  async #acquireAndSend(plan: Plan): Promise<void> {
    const ac = new AbortController();
    this.#ac = ac;
    let lease: Lease;
    try {
      lease = await this.#core.lease(plan, ac.signal);
    } catch (e) {
      this.#ac = undefined;
      this.#fail(this.#aborted ?? (e instanceof Error ? e : new BurrowError('ERR_BAD_STATE', String(e), { stage: 'state', cause: e })));
      return;
    }
    this.#ac = undefined;
    if (this.#aborted !== undefined || this.#finished) {
      lease.release(true);
      return;
    }
    this.#send(lease);
  }

  #send(lease: Lease): void {
    this.#lease = lease;
    const plan = this.#plan as Plan;
    const { conn, tunnel } = lease.route;
    this.#conn = conn;
    this.#core.hold(conn);
    const events = this.#core.options.events;
    const opts = { replyTo: this.#replyTo, flow: BODY_WINDOW, ...(tunnel !== undefined ? { tunnel } : {}), ...(events !== undefined ? { events } : {}) };
    try {
      if (plan.kind === 'connect') {
        const { host, port } = connectTarget(plan.path);
        this.#ref = conn.connect({ host, port, protocols: ['raw'] }, plan.headers.filter(([n]) => n !== 'host'), opts);
        return;
      }
      const body = plan.body;
      if (body === null || Buffer.isBuffer(body)) {
        this.#ref = conn.request(plan.method, plan.path, plan.headers, body, opts);
        if (body !== null && this.#sink.wantsBodySent) this.#sink.bodySent(body);
        this.#sink.requestSent();
      } else {
        const ref = conn.headers(plan.method, plan.path, plan.headers, opts);
        this.#ref = ref;
        void this.#sendBody(conn, ref, body);
      }
    } catch (e) {
      this.#fail(e instanceof BurrowError ? e : new BurrowError('ERR_INVALID_REQUEST', String(e), { stage: 'http', cause: e }));
    }
  }

  async #sendBody(conn: Connection, ref: StreamRef, body: AsyncIterable<Uint8Array | string>): Promise<void> {
    const sink = this.#sink;
    try {
      for await (const chunk of body) {
        if (this.#finished) return;
        const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        await conn.data(ref, false, b);
        if (sink.wantsBodySent) sink.bodySent(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      }
      if (this.#finished) return;
      await conn.data(ref, true, EMPTY);
      sink.requestSent();
    } catch (e) {
      if (this.#finished) return;
      conn.cancel(ref);
      this.#fail(new BurrowError('ERR_INVALID_REQUEST', `reading the request body failed: ${(e as Error).message}`, { stage: 'http', cause: e }));
    }
  }

  // SinkOwner: what the handler asks.

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#credit();
  }

  abort(reason: Error): void {
    if (this.#finished || this.#aborted !== undefined) return;
    this.#aborted = reason;
    if (this.#ac !== undefined) {
      // Still waiting for a connection: stop waiting; the failure is reported from there.
      this.#ac.abort(reason);
      return;
    }
    if (this.#plan === undefined) return; // inside start(): run() stops after it
    // From inside the handler's callbacks: report it once they returned.
    queueMicrotask(() => {
      if (this.#ref !== undefined && !this.#ended) this.#conn?.cancel(this.#ref);
      this.#fail(reason);
    });
  }

  #credit(): void {
    const n = this.#owed;
    if (n === 0 || this.#ended || this.#ref === undefined) return;
    this.#owed = 0;
    this.#conn?.updateFlow(this.#ref, n);
  }

  #finish(reusable: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#headersTimer !== undefined) clearTimeout(this.#headersTimer);
    const conn = this.#conn;
    if (this.#duplex === undefined) {
      this.#lease?.release(reusable);
      if (conn !== undefined) this.#core.letGo(conn);
    }
    this.#core.ended(this);
  }

  #fail(e: Error): void {
    if (this.#finished) return;
    const route = this.#lease?.route;
    // One failed stream on an HTTP/2 connection leaves it usable for the others; an HTTP/1.1 one is not reused.
    this.#finish(route !== undefined && route.protocol === 'http2' && route.conn.state === 'up');
    this.#sink.error(e);
  }

  /** The connection's messages for this request's stream. */
  readonly #replyTo = (m: StreamMessage): void => {
    if (this.#finished && this.#duplex === undefined) return;
    switch (m.type) {
      case 'response': {
        const plan = this.#plan as Plan;
        if (plan.kind === 'connect') {
          this.#onConnectResponse(m.status, m.headers);
          return;
        }
        if (this.#headDone) return;
        this.#headDone = true;
        if (this.#headersTimer !== undefined) clearTimeout(this.#headersTimer);
        if (!this.#sink.head(m.status, m.headers, STATUS_CODES[m.status] ?? '')) this.#paused = true;
        if (m.fin && !this.#finished) {
          this.#ended = true;
          this.#finish(true);
          this.#sink.end(undefined);
        }
        return;
      }
      case 'data': {
        const d = this.#duplex;
        if (d !== undefined) {
          d.incoming(m.data, m.fin);
          return;
        }
        if (this.#finished) return;
        if (m.fin) this.#ended = true;
        if (m.data.length > 0 && !this.#sink.data(m.data)) this.#paused = true;
        if (m.fin) {
          if (this.#finished) return;
          this.#finish(true);
          this.#sink.end(undefined);
          return;
        }
        this.#owed++;
        if (!this.#paused && this.#owed >= BODY_WINDOW / 2) this.#credit();
        return;
      }
      case 'trailers':
        if (this.#finished) return;
        this.#ended = true;
        this.#finish(true);
        this.#sink.end(m.headers);
        return;
      case 'upgrade':
        this.#onUpgraded(101, m.headers);
        return;
      case 'up':
        if ((this.#plan as Plan).kind === 'connect' && !this.#tunnelUp) {
          this.#tunnelUp = true;
          this.#onUpgraded(this.#connectStatus, this.#connectHeaders);
        }
        return;
      case 'error':
        if (this.#duplex !== undefined) {
          this.#duplex.failed(m.error);
          return;
        }
        this.#ended = true;
        // A stream cancelled by abort() reports the cancellation: the handler hears the abort's reason.
        this.#fail(this.#aborted ?? m.error);
        return;
      default:
        return;
    }
  };

  #onConnectResponse(status: number, headers: HeaderList): void {
    if (status >= 200 && status < 300) {
      this.#connectStatus = status;
      this.#connectHeaders = headers;
      return;
    }
    const plan = this.#plan as Plan;
    this.#ended = true;
    this.#fail(new BurrowError('ERR_CONNECT_STATUS', `${plan.route.origin.host}:${plan.route.origin.port} refused CONNECT ${plan.path} with status ${status}`, { stage: 'connect-response', details: { status }, response: { status, headers } }));
  }

  /** The stream now carries another protocol (a 101, or a CONNECT tunnel up): hand undici a socket over it. */
  #onUpgraded(status: number, headers: HeaderList): void {
    if (this.#finished || this.#duplex !== undefined) return;
    this.#headDone = true;
    const lease = this.#lease as Lease;
    const duplex = new StreamDuplex(lease.route.conn, this.#ref as StreamRef, () => lease.release(false));
    this.#duplex = duplex;
    this.#finish(false);
    this.#sink.upgrade(status, headers, duplex);
  }
}
