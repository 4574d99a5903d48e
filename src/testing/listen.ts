/**
 * The listening side every test server shares: a `tcp` or `tls` server, a
 * free port on the address asked for, every connection and HTTP/2 session it
 * accepts tracked (errors ignored) and numbered, and a `close()` that stops
 * listening and destroys all of them.
 */
import { once } from 'node:events';
import type * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createTestPki, type TestPki } from './pki.js';

/** What {@link tlsServerOptions} adds to the certificate and key. */
export interface TlsServerExtras {
  /** ALPN protocols offered, in preference order (an empty list offers none). Default: no ALPN. */
  alpn?: readonly string[];
  /** Require a client certificate signed by the PKI's CA. */
  requestCert?: boolean;
}

/** TLS server options presenting `pki.server`. */
export function tlsServerOptions(pki: TestPki, extras: TlsServerExtras = {}): tls.TlsOptions {
  const options: tls.TlsOptions = { key: pki.server.key, cert: pki.server.cert };
  if (extras.alpn !== undefined) options.ALPNProtocols = [...extras.alpn];
  if (extras.requestCert === true) Object.assign(options, { requestCert: true, rejectUnauthorized: true, ca: pki.ca });
  return options;
}

/**
 * A server for raw byte streams that allows half-open sockets: `node:net` for
 * `tcp`, `node:tls` for `tls` with the certificates given (a new
 * {@link createTestPki} when omitted), returned with it. Any other transport
 * is a TypeError.
 */
export function createStreamServer(transport: 'tcp' | 'tls', pki: TestPki | undefined, extras: TlsServerExtras = {}): { server: net.Server; pki: TestPki | undefined } {
  if (transport === 'tls') {
    const certs = pki ?? createTestPki();
    return { server: tls.createServer({ ...tlsServerOptions(certs, extras), allowHalfOpen: true }), pki: certs };
  }
  if (transport === 'tcp') return { server: net.createServer({ allowHalfOpen: true }), pki: undefined };
  throw new TypeError(`invalid transport ${String(transport)}`);
}

/** `scheme://host:port`, an IPv6 host bracketed. */
export function serverUrl(scheme: string, host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Options of {@link Listener}. */
export interface ListenerOptions {
  /**
   * Makes `close()` let one event-loop turn pass before it destroys anything,
   * and resolve only once every session and socket has emitted 'close' (by
   * default it resolves once everything is destroyed and the server closed).
   * For node:http2, which (seen on 20.20) spins forever in submitRstStream
   * when a session is destroyed in the same turn as the 'close' of a stream
   * the peer reset while another stream is open.
   */
  settle?: boolean;
}

function noop(): void {}

function remoteKey(s: net.Socket): string {
  return `${s.remoteAddress ?? ''}|${s.remotePort ?? 0}`;
}

function waitClosed(s: net.Socket): Promise<void> {
  return s.closed ? Promise.resolve() : once(s, 'close').then(noop);
}

/** Resolves on the next 'close' of a socket or session not closed yet. */
function nextClose(s: net.Socket | http2.Http2Session): Promise<void> {
  return new Promise((resolve) => s.once('close', () => resolve()));
}

/** Keeps `s` in `set` until it closes. */
function keep<T extends net.Socket | http2.Http2Session>(set: Set<T>, s: T): void {
  set.add(s);
  s.once('close', () => set.delete(s));
}

/**
 * Puts a server on a free port and keeps track of what it has open, for
 * {@link Listener.close}: the TCP and TLS sockets it accepts, the HTTP/2
 * sessions and the outgoing sockets (tunnel targets) it is given.
 */
export class Listener {
  private server: net.Server | undefined;
  private accepted = 0;
  /** Sequence number of each open TCP connection, by remote address and port. */
  private readonly ids = new Map<string, number>();
  private readonly sessions = new Set<http2.Http2Session>();
  private readonly sockets = new Set<net.Socket>();
  private readonly outgoing = new Set<net.Socket>();
  private closing: Promise<void> | undefined;

  /** `name` starts the message of a listen failure (`echo`, `h2 proxy`...). */
  constructor(
    private readonly name: string,
    private readonly options: ListenerOptions = {},
  ) {}

  /** TCP connections accepted so far. */
  get connections(): number {
    return this.accepted;
  }

  /**
   * Sequence number (1, 2...) of the TCP connection that carries `socket`, in
   * accept order; 0 when it is not open. A TLS socket shares its remote
   * address and port with the TCP socket it wraps.
   */
  connectionId(socket: net.Socket): number {
    return this.ids.get(remoteKey(socket)) ?? 0;
  }

  /**
   * Starts tracking `server`'s connections, then hands each one to `serve`
   * (for a TLS server, once its handshake is done), and listens on a free
   * port of `host`; resolves with the port.
   */
  async listen(server: net.Server, host: string, serve?: (socket: net.Socket) => void): Promise<number> {
    if (this.server !== undefined) throw new Error(`${this.name}: already listening`);
    this.server = server;
    server.on('connection', (socket: net.Socket) => {
      const key = remoteKey(socket);
      this.ids.set(key, ++this.accepted);
      this.trackSocket(socket);
      socket.once('close', () => this.ids.delete(key));
    });
    const secure = server instanceof tls.Server;
    if (secure) {
      server.on('secureConnection', (socket: tls.TLSSocket) => this.trackSocket(socket));
      // A handshake that failed (the client refused the certificate, or spoke no TLS): the connection is over. With
      // `allowHalfOpen` nothing else would close the server's side of it once the client has gone.
      server.on('tlsClientError', (_e: Error, socket: tls.TLSSocket) => socket.destroy());
    }
    if (serve !== undefined) server.on(secure ? 'secureConnection' : 'connection', serve);

    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error(`${this.name}: unexpected listen address`);
    return address.port;
  }

  /** Tracks an HTTP/2 session until it closes; its errors are ignored. */
  trackSession(session: http2.Http2Session): void {
    session.on('error', noop);
    keep(this.sessions, session);
  }

  /** Tracks a socket the server opened itself (a tunnel's target) until it closes; its errors are left to the caller. */
  trackOutgoing(socket: net.Socket): void {
    keep(this.outgoing, socket);
  }

  /**
   * Stops listening and destroys every session, then every accepted socket,
   * then every outgoing one; resolves when that is done (see
   * {@link ListenerOptions.settle}). Later calls return the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.options.settle === true ? this.settleAndClose() : this.closeNow();
    return this.closing;
  }

  private trackSocket(socket: net.Socket): void {
    socket.on('error', noop);
    keep(this.sockets, socket);
  }

  private stopListening(): Promise<void> {
    const server = this.server;
    return new Promise((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  }

  private async closeNow(): Promise<void> {
    const serverClosed = this.stopListening();
    const sockets = [...this.sockets, ...this.outgoing];
    for (const s of this.sessions) s.destroy();
    for (const s of sockets) s.destroy();
    await Promise.all([serverClosed, ...sockets.map(waitClosed)]);
  }

  private async settleAndClose(): Promise<void> {
    const serverClosed = this.stopListening();
    await new Promise<void>((resolve) => setImmediate(resolve));
    // Everything in these sets has not emitted 'close' yet (each is removed on its 'close').
    const all = [...this.sessions, ...this.sockets, ...this.outgoing];
    const closed = all.map(nextClose);
    for (const s of all) s.destroy();
    await Promise.all([serverClosed, ...closed]);
  }
}
