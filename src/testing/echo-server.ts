/**
 * A raw echo origin over TCP or TLS: every byte received is written back.
 *
 * - `greeting` is written as soon as a connection is accepted (for `tls`,
 *   after the handshake), before any echo: a server-speaks-first protocol.
 * - When the bytes received so far end with `close` (a chunk that is exactly
 *   `close`, or a chunk ending with it; the word may also be split across
 *   chunks), that chunk is echoed and the server ends the connection.
 * - When the client ends its side, the server ends its side after the last
 *   echo (half-close is supported: the echo of everything sent before the
 *   client's FIN still arrives).
 */
import type * as net from 'node:net';
import { createStreamServer, Listener } from './listen.js';
import type { TestPki } from './pki.js';

/** Options of {@link startEchoServer}. */
export interface StartEchoServerOptions {
  /** `tcp` (default) or `tls`. */
  transport?: 'tcp' | 'tls';
  /** Certificates for `tls`; a new {@link createTestPki} is made when omitted. */
  pki?: TestPki;
  /** Address to listen on, default `127.0.0.1`. */
  host?: string;
  /** Written as soon as a connection is accepted (after the TLS handshake); strings as UTF-8. */
  greeting?: string | Buffer;
}

/** A running echo server, see {@link startEchoServer}. */
export interface TestEchoServer {
  readonly host: string;
  readonly port: number;
  readonly transport: 'tcp' | 'tls';
  /** The certificates of a `tls` server (the ones given or made). */
  readonly pki: TestPki | undefined;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Stops listening, destroys every connection, resolves when all are closed. */
  close(): Promise<void>;
}

const CLOSE_WORD = Buffer.from('close', 'latin1');

function noop(): void {}

function serve(socket: net.Socket, greeting: Buffer | undefined): void {
  socket.on('error', noop);
  socket.setNoDelay(true);
  if (greeting !== undefined && greeting.length > 0) socket.write(greeting);
  // The last bytes received, to spot `close` split across chunks.
  let tail = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    if (socket.writableEnded) return;
    tail = Buffer.concat([tail, chunk]);
    if (tail.length > CLOSE_WORD.length) tail = tail.subarray(tail.length - CLOSE_WORD.length);
    if (tail.equals(CLOSE_WORD)) socket.end(chunk);
    else socket.write(chunk);
  });
  socket.on('end', () => {
    if (!socket.writableEnded) socket.end();
  });
}

/** Starts an echo server. */
export async function startEchoServer(opts: StartEchoServerOptions = {}): Promise<TestEchoServer> {
  const transport = opts.transport ?? 'tcp';
  const host = opts.host ?? '127.0.0.1';
  const greeting = typeof opts.greeting === 'string' ? Buffer.from(opts.greeting, 'utf8') : opts.greeting;
  const listener = new Listener('echo');
  const { server, pki } = createStreamServer(transport, opts.pki);
  const port = await listener.listen(server, host, (socket) => serve(socket, greeting));
  return {
    host,
    port,
    transport,
    pki,
    get connections() {
      return listener.connections;
    },
    close: () => listener.close(),
  };
}
