/**
 * A byte-exact fake server for edge cases: every accepted connection is handed
 * to a script that reads exactly what the client sent and writes exactly the
 * bytes the test wants, as fast or as slowly as it wants.
 *
 * Reads are event driven (no polling, no sleeps). Sockets are half-open: when
 * the client ends its side the script may still write, and nothing is ended
 * for it; {@link ScriptedServer.close} destroys whatever is left.
 */
import type * as net from 'node:net';
import * as tls from 'node:tls';
import { createStreamServer, Listener } from './listen.js';
import type { TestPki } from './pki.js';

/** Options of {@link startScriptedServer}. */
export interface StartScriptedServerOptions {
  /** `tcp` (default) or `tls`. */
  transport?: 'tcp' | 'tls';
  /** Certificates for `tls`; a new {@link createTestPki} is made when omitted. */
  pki?: TestPki;
  /** For `tls`: ALPN protocols offered, in preference order. Default: no ALPN. */
  alpn?: readonly string[];
  /** For `tls`: require a client certificate signed by `pki.ca`. */
  requestCert?: boolean;
  /** Address to listen on, default `127.0.0.1`. */
  host?: string;
  /**
   * Called for every accepted connection (for `tls`, after the handshake).
   * A thrown error or rejected promise destroys the connection and is kept
   * in {@link ScriptedServer.errors}.
   */
  onConnection: (conn: ScriptedConnection) => void | Promise<void>;
}

/** A running scripted server. */
export interface ScriptedServer {
  readonly host: string;
  readonly port: number;
  /** Every connection accepted so far, in accept order. */
  readonly connections: ScriptedConnection[];
  /** Errors thrown or rejected by `onConnection`, in order. */
  readonly errors: unknown[];
  /** Stops listening, destroys every connection and resolves when all are closed. */
  close(): Promise<void>;
}

/** Default timeout of {@link ScriptedConnection.readUntil}. */
export const DEFAULT_READ_TIMEOUT_MS = 5000;

/** One accepted connection, as seen by a script. */
export class ScriptedConnection {
  /** The underlying socket (a `tls.TLSSocket` for `tls`). */
  readonly socket: net.Socket;
  /** Resolves when the socket has closed. Never rejects. */
  readonly closed: Promise<void>;
  /** The socket error, if one happened. */
  error: Error | undefined;
  /** True once the client has ended its side (FIN / close_notify received). */
  remoteEnded = false;

  private chunks: Buffer[] = [];
  private all: Buffer = Buffer.alloc(0);
  private pos = 0;
  private isClosed = false;
  private waiter: (() => void) | undefined;

  /** @internal */
  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.wake();
    });
    socket.on('end', () => {
      this.remoteEnded = true;
      this.wake();
    });
    socket.on('error', (e: Error) => {
      this.error ??= e;
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      });
    });
  }

  /** The ALPN protocol negotiated (tls), or undefined. */
  get alpn(): string | undefined {
    const s = this.socket;
    return s instanceof tls.TLSSocket && typeof s.alpnProtocol === 'string' ? s.alpnProtocol : undefined;
  }

  /** Every byte received so far. */
  get received(): Buffer {
    if (this.chunks.length > 0) {
      this.all = Buffer.concat([this.all, ...this.chunks]);
      this.chunks = [];
    }
    return this.all;
  }

  /** The bytes received and not consumed by a read yet. */
  get unread(): Buffer {
    return this.received.subarray(this.pos);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /**
   * Waits until `test` (given the unread bytes) returns how many bytes to
   * consume, then consumes and returns them. Rejects when the client ends
   * or the socket closes first, or after `timeoutMs`.
   */
  private read(what: string, test: (unread: Buffer) => number | undefined, timeoutMs: number): Promise<Buffer> {
    if (this.waiter !== undefined) return Promise.reject(new Error('scripted: a read is already pending'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`scripted: timed out after ${timeoutMs} ms waiting for ${what} (${this.unread.length} unread bytes)`));
      }, timeoutMs);
      const attempt = (): void => {
        const unread = this.unread;
        const n = test(unread);
        if (n !== undefined) {
          clearTimeout(timer);
          this.pos += n;
          resolve(Buffer.from(unread.subarray(0, n)));
          return;
        }
        if (this.remoteEnded || this.isClosed) {
          clearTimeout(timer);
          const how = this.isClosed ? 'closed' : 'ended';
          reject(new Error(`scripted: connection ${how} before ${what} (${unread.length} unread bytes)`, { cause: this.error }));
          return;
        }
        this.waiter = attempt;
      };
      attempt();
    });
  }

  /**
   * Resolves with every unread byte up to and including the first occurrence
   * of `marker`, and moves the read position past it.
   */
  readUntil(marker: string | Buffer, timeoutMs = DEFAULT_READ_TIMEOUT_MS): Promise<Buffer> {
    const m = typeof marker === 'string' ? Buffer.from(marker, 'latin1') : marker;
    if (m.length === 0) return Promise.reject(new TypeError('scripted: empty marker'));
    return this.read(JSON.stringify(m.toString('latin1')), (unread) => {
      const i = unread.indexOf(m);
      return i === -1 ? undefined : i + m.length;
    }, timeoutMs);
  }

  /** Resolves with exactly the next `n` unread bytes. */
  readExactly(n: number, timeoutMs = DEFAULT_READ_TIMEOUT_MS): Promise<Buffer> {
    return this.read(`${n} bytes`, (unread) => (unread.length >= n ? n : undefined), timeoutMs);
  }

  /** Reads a request (or response) head up to and including the blank line, as latin1. */
  async readRequestHead(timeoutMs = DEFAULT_READ_TIMEOUT_MS): Promise<string> {
    return (await this.readUntil('\r\n\r\n', timeoutMs)).toString('latin1');
  }

  /** Resolves when the client has ended its side or the socket closed, with the unread bytes (consumed). */
  async readToEnd(timeoutMs = DEFAULT_READ_TIMEOUT_MS): Promise<Buffer> {
    return this.read('the end of the stream', (unread) => (this.remoteEnded || this.isClosed ? unread.length : undefined), timeoutMs);
  }

  /** Writes `data` (strings as latin1); resolves once it is handed to the kernel. */
  write(data: string | Buffer): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed || this.socket.writableEnded) {
        reject(new Error('scripted: write on a closed connection'));
        return;
      }
      this.socket.write(buf, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Writes `data` `bytesPerWrite` bytes at a time, one write per event-loop turn. */
  async writeSlowly(data: string | Buffer, bytesPerWrite = 1): Promise<void> {
    if (!Number.isInteger(bytesPerWrite) || bytesPerWrite < 1) throw new TypeError('scripted: bytesPerWrite must be a positive integer');
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    for (let off = 0; off < buf.length; off += bytesPerWrite) {
      await this.write(buf.subarray(off, off + bytesPerWrite));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Ends the server's side (FIN, after a TLS close_notify for tls), optionally writing `data` first. */
  end(data?: string | Buffer): void {
    if (data === undefined) this.socket.end();
    else this.socket.end(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Destroys the socket at once (the client sees a reset or an abrupt close). */
  destroy(): void {
    this.socket.destroy();
  }

  /** Destroys the socket with a TCP RST (`socket.resetAndDestroy()`; plain destroy on tls). */
  reset(): void {
    const s = this.socket;
    if (!(s instanceof tls.TLSSocket) && typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
    else s.destroy();
  }
}

/** Starts a scripted server; `onConnection` runs once per accepted connection. */
export async function startScriptedServer(opts: StartScriptedServerOptions): Promise<ScriptedServer> {
  const transport = opts.transport ?? 'tcp';
  const host = opts.host ?? '127.0.0.1';
  const connections: ScriptedConnection[] = [];
  const errors: unknown[] = [];

  const accept = (socket: net.Socket): void => {
    const conn = new ScriptedConnection(socket);
    connections.push(conn);
    let result: void | Promise<void>;
    try {
      result = opts.onConnection(conn);
    } catch (e) {
      errors.push(e);
      conn.destroy();
      return;
    }
    if (result instanceof Promise) {
      result.catch((e: unknown) => {
        errors.push(e);
        conn.destroy();
      });
    }
  };

  const listener = new Listener('scripted');
  const { server } = createStreamServer(transport, opts.pki, { alpn: opts.alpn, requestCert: opts.requestCert });
  const port = await listener.listen(server, host, accept);
  return {
    host,
    port,
    connections,
    errors,
    close: () => listener.close(),
  };
}
