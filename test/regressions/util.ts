// Small helpers shared by the regression tests: event-driven waits with an
// upper bound, so that a regression fails the test instead of hanging it.
import { AssertionError } from 'node:assert';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

/** A promise with its resolve function, to let a test and a fake server take turns. */
export interface Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Settles like `p`, or rejects with an AssertionError naming `what` when `p`
 * has not settled after `ms`. The timer is a bound on a wait for an event,
 * never a way to let time pass.
 */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AssertionError({ message: `${what}: still pending after ${ms} ms` })), ms);
  });
  return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}

/** A plain `node:http2` cleartext server for wire behaviour the in-repo test servers do not offer. */
export interface H2TestServer {
  readonly server: http2.Http2Server;
  readonly port: number;
  /** Every session accepted so far. */
  readonly sessions: http2.ServerHttp2Session[];
  /** Stops listening, destroys every session, resolves when the server is closed. */
  close(): Promise<void>;
}

export async function startH2Server(
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, session: http2.ServerHttp2Session) => void,
  settings: http2.Settings = {},
): Promise<H2TestServer> {
  const server = http2.createServer({ settings });
  const sessions: http2.ServerHttp2Session[] = [];
  server.on('session', (s) => {
    sessions.push(s);
    s.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    onStream(stream, headers, stream.session as http2.ServerHttp2Session);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.destroy();
      }),
  };
}

/**
 * Resolves once the client has processed every frame `session` sent before
 * this call: a PING sent after them is acknowledged only after they were read.
 */
export function flushed(session: http2.ServerHttp2Session): Promise<void> {
  return new Promise((resolve, reject) => {
    session.ping((err) => (err ? reject(err) : resolve()));
  });
}
