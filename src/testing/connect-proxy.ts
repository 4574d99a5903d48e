/**
 * A test HTTP/1.1 CONNECT proxy, over TCP or TLS, that parses requests itself
 * and can misbehave on request (see {@link ConnectBehavior}).
 *
 * - `CONNECT host:port HTTP/1.1` (authority-form, `[v6]:port` too): with the
 *   default behaviour the proxy connects to the target (`localhost` means
 *   127.0.0.1), replies `HTTP/1.1 200 Connection established` and relays
 *   bytes both ways. Bytes the client sent after the request head, before the
 *   reply, are forwarded to the target first. Half-close is relayed: a FIN
 *   (or TLS close_notify) from one side ends the other side's writes, and the
 *   tunnel closes when both directions have ended or either side fails.
 * - A refusal (any non-2xx reply, 407 for missing or wrong credentials, 502
 *   when the target cannot be reached) has the body `proxy says no` with a
 *   content-length and keeps the connection open for further requests.
 * - Any other method (`GET /proxy-status`...) gets `200 OK` with body
 *   `proxy ok`, with no authentication (a request body with a content-length
 *   is skipped; `transfer-encoding` is not supported and gets a 400 + close).
 * - A malformed request line gets `400 Bad Request` and the connection is ended.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { createStreamServer, Listener, serverUrl } from './listen.js';
import type { TestPki } from './pki.js';
import { connectTarget, relay } from './relay.js';
import type { ProxyAuthGate } from './auth-gate.js';

/** What the proxy does with one CONNECT request. Everything is optional; the default tunnels. */
export interface ConnectBehavior {
  /** Reply status, default 200. Any 2xx establishes the tunnel; anything else refuses (body `proxy says no`). */
  status?: number;
  /** Reason phrase, default `Connection established` for 200, else the standard one. */
  reason?: string;
  /** Extra response headers, written as given (e.g. a content-length on a 2xx, which clients must ignore). */
  headers?: Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]>;
  /** HTTP version in the status line, default `1.1`. */
  version?: '1.0' | '1.1';
  /** Waits this long (after reading the request) before doing anything else. */
  delayMs?: number;
  /** Bytes written right after a 2xx head, in the same write, before relaying (strings as latin1). */
  extraBytes?: Buffer | string;
  /** Writes the response head (and body or `extraBytes`) one byte per event-loop turn (setImmediate). */
  writeByteAtATime?: boolean;
  /** Replies with these bytes (strings as latin1) instead of a response; later input is ignored. */
  garbage?: Buffer | string;
  /** Destroys the connection right after reading the request head (before any delay). */
  closeAfterHead?: boolean;
  /** Writes the first half of the status line (no CRLF) and then destroys the connection. */
  closeMidResponse?: boolean;
  /** Reads the request and never says anything (the client's end is answered with an end). */
  neverAnswer?: boolean;
  /** Replies `502 Bad Gateway` as if the target were unreachable, without trying it. */
  refuseTarget?: boolean;
}

/** One request the proxy received, recorded as soon as its head was parsed. */
export interface ProxyConnectRequest {
  /** `CONNECT`, or the method of a plain request (`GET`...). */
  readonly method: string;
  /** The request target as sent (`host:port`, `[::1]:port`, `/proxy-status`...). */
  readonly target: string;
  /** The target host of a CONNECT, without brackets (`::1`); `''` for other methods or an invalid target. */
  readonly host: string;
  /** The target port of a CONNECT; 0 for other methods or an invalid target. */
  readonly port: number;
  /** `1.1`, `1.0`... from the request line. */
  readonly version: string;
  /** Header pairs in arrival order, names lowercased, values trimmed. */
  readonly headers: Array<[string, string]>;
  /** The request head as received, up to and including the blank line (latin1). */
  readonly rawHead: string;
  /** Sequence number (1, 2...) of the TCP connection that carried it, in accept order. */
  readonly connectionId: number;
}

/** Options of {@link startConnectProxy}. */
export interface StartConnectProxyOptions {
  /** `tcp` (default) or `tls`. */
  transport?: 'tcp' | 'tls';
  /** Certificates for `tls`; a new {@link createTestPki} is made when omitted. */
  pki?: TestPki;
  /** Address to listen on, default `127.0.0.1`. */
  host?: string;
  /**
   * Require `proxy-authorization: Basic` with these credentials on CONNECT, else 407 with `proxy-authenticate`;
   * or a gate deciding each CONNECT (`digestGate`, `ntlmGate`).
   */
  auth?: { username: string; password: string } | ProxyAuthGate;
  /** The behaviour of every CONNECT, or a function choosing it per request (after authentication). */
  behavior?: ConnectBehavior | ((req: ProxyConnectRequest) => ConnectBehavior);
}

/** A running CONNECT proxy, see {@link startConnectProxy}. */
export interface TestConnectProxy {
  readonly host: string;
  readonly port: number;
  readonly transport: 'tcp' | 'tls';
  /** `http://127.0.0.1:PORT` or `https://...`, IPv6 bracketed, no trailing slash. */
  readonly url: string;
  /** The certificates of a `tls` proxy (the ones given or made). */
  readonly pki: TestPki | undefined;
  /** Requests received so far, in arrival order. */
  readonly requests: ProxyConnectRequest[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Stops listening, destroys every connection and tunnel, resolves when all are closed. */
  close(): Promise<void>;
}

const REFUSAL_BODY = 'proxy says no';
const STATUS_BODY = 'proxy ok';
const MAX_HEAD_BYTES = 64 * 1024;

function noop(): void {}

function toBuffer(data: Buffer | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
}

/** Splits an authority-form target (`host:port`, `[v6]:port`) or returns undefined. */
function parseAuthority(target: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(target) ?? /^([^\s:[\]/@]+):(\d{1,5})$/.exec(target);
  if (m === null) return undefined;
  const host = m[1] as string;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  if (target.startsWith('[') && net.isIPv6(host) === false) return undefined;
  return { host, port };
}

function headerPairs(h: ConnectBehavior['headers']): Array<readonly [string, string]> {
  if (h === undefined) return [];
  if (Array.isArray(h)) return h as Array<readonly [string, string]>;
  return Object.entries(h as Record<string, string>);
}

function responseHead(version: string, status: number, reason: string, headers: ReadonlyArray<readonly [string, string]>): string {
  let s = `HTTP/${version} ${status} ${reason}\r\n`;
  for (const [k, v] of headers) s += `${k}: ${v}\r\n`;
  return s + '\r\n';
}

function textResponse(version: string, status: number, reason: string, body: string, extra: ReadonlyArray<readonly [string, string]> = []): Buffer {
  const headers: Array<readonly [string, string]> = [['content-type', 'text/plain'], ['content-length', String(Buffer.byteLength(body))], ...extra];
  return Buffer.from(responseHead(version, status, reason, headers) + body, 'latin1');
}

/** Writes `data`; with `slowly`, one byte per event-loop turn, stopping if the socket goes away. */
async function writeOut(socket: net.Socket, data: Buffer, slowly: boolean): Promise<void> {
  if (!slowly) {
    if (!socket.destroyed) socket.write(data);
    return;
  }
  for (let i = 0; i < data.length && !socket.destroyed; i++) {
    socket.write(data.subarray(i, i + 1));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Resolves after `ms`, or as soon as `socket` closes (true when the wait ran its course). */
function delay(ms: number, socket: net.Socket): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      socket.off('close', onClose);
      resolve(true);
    }, ms);
    socket.once('close', onClose);
  });
}

interface ProxyContext {
  readonly auth: StartConnectProxyOptions['auth'];
  readonly behavior: StartConnectProxyOptions['behavior'];
  readonly requests: ProxyConnectRequest[];
  /** Tracks the tunnels' targets. */
  readonly listener: Listener;
}

type Outcome = 'keep' | 'silent' | 'tunnel' | 'gone';

function authorized(headers: ReadonlyArray<readonly [string, string]>, auth: { username: string; password: string }): boolean {
  const expected = Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64');
  return headers.some(([k, v]) => {
    if (k !== 'proxy-authorization') return false;
    const m = /^basic\s+(\S+)$/i.exec(v);
    return m !== null && m[1] === expected;
  });
}

/** Serves one client connection: a loop of requests until a tunnel, a misbehaviour or the end. */
function serveConnection(socket: net.Socket, connectionId: number, ctx: ProxyContext): void {
  socket.setNoDelay(true);
  socket.on('error', noop);
  let buf: Buffer = Buffer.alloc(0);
  let skipBody = 0;
  let state: 'idle' | 'answering' | Outcome = 'idle';
  let remoteEnded = false;

  const onData = (chunk: Buffer): void => {
    if (state === 'silent' || state === 'gone') return;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    pump();
  };
  socket.on('data', onData);
  socket.on('end', () => {
    remoteEnded = true;
    if (state === 'idle' || state === 'keep' || state === 'silent') socket.end();
  });

  const finish = (outcome: Outcome): void => {
    state = outcome;
    if (outcome === 'keep') {
      state = 'idle';
      if (remoteEnded) socket.end();
      else pump();
    } else if (outcome === 'silent' && remoteEnded) {
      socket.end();
    }
  };

  const startTunnel = (target: net.Socket): void => {
    socket.pause();
    socket.off('data', onData);
    if (buf.length > 0) target.write(buf);
    buf = Buffer.alloc(0);
    state = 'tunnel';
    relay(socket, target);
  };

  const answerPlain = (req: ProxyConnectRequest): void => {
    const te = req.headers.find(([k]) => k === 'transfer-encoding');
    if (te !== undefined) {
      socket.end(textResponse('1.1', 400, 'Bad Request', 'transfer-encoding is not supported', [['connection', 'close']]));
      state = 'gone';
      return;
    }
    const cl = req.headers.find(([k]) => k === 'content-length');
    skipBody = cl !== undefined && /^\d+$/.test(cl[1]) ? Number(cl[1]) : 0;
    const res = textResponse('1.1', 200, 'OK', STATUS_BODY);
    socket.write(req.method === 'HEAD' ? res.subarray(0, res.length - STATUS_BODY.length) : res);
  };

  const answerConnect = async (req: ProxyConnectRequest): Promise<Outcome> => {
    const target = parseAuthority(req.target);
    if (target === undefined) {
      socket.write(textResponse('1.1', 400, 'Bad Request', REFUSAL_BODY));
      return 'keep';
    }
    if (typeof ctx.auth === 'function') {
      const refusal = ctx.auth({ headers: req.headers, connection: req.connectionId });
      if (refusal !== undefined) {
        const extra: Array<readonly [string, string]> = refusal.challenges.map((c) => ['proxy-authenticate', c] as const);
        if (refusal.close !== undefined && refusal.close !== false) {
          socket.end(textResponse('1.1', 407, 'Proxy Authentication Required', REFUSAL_BODY, refusal.close === true ? [...extra, ['connection', 'close']] : extra));
          return 'gone';
        }
        socket.write(textResponse('1.1', 407, 'Proxy Authentication Required', REFUSAL_BODY, extra));
        return 'keep';
      }
    } else if (ctx.auth !== undefined && !authorized(req.headers, ctx.auth)) {
      socket.write(textResponse('1.1', 407, 'Proxy Authentication Required', REFUSAL_BODY, [['proxy-authenticate', 'Basic realm="burrow test proxy"']]));
      return 'keep';
    }
    const b = (typeof ctx.behavior === 'function' ? ctx.behavior(req) : ctx.behavior) ?? {};
    if (b.closeAfterHead === true) {
      socket.destroy();
      return 'gone';
    }
    if (b.delayMs !== undefined && b.delayMs > 0 && !(await delay(b.delayMs, socket))) return 'gone';
    const version = b.version ?? '1.1';
    const slowly = b.writeByteAtATime === true;
    const extra = headerPairs(b.headers);
    if (b.garbage !== undefined) {
      await writeOut(socket, toBuffer(b.garbage), slowly);
      return 'silent';
    }
    const status = b.refuseTarget === true ? 502 : (b.status ?? 200);
    const reason = b.reason ?? (b.refuseTarget === true ? 'Bad Gateway' : status === 200 ? 'Connection established' : (http.STATUS_CODES[status] ?? 'Unknown'));
    if (b.closeMidResponse === true) {
      const line = `HTTP/${version} ${status} ${reason}`;
      socket.end(Buffer.from(line.slice(0, Math.floor(line.length / 2)), 'latin1'), () => socket.destroy());
      return 'gone';
    }
    if (b.neverAnswer === true) return 'silent';
    if (status < 200 || status > 299) {
      await writeOut(socket, textResponse(version, status, reason, REFUSAL_BODY, extra), slowly);
      return 'keep';
    }
    const conn = await connectTarget(target.host, target.port, ctx.listener);
    if (conn instanceof Error) {
      await writeOut(socket, textResponse(version, 502, 'Bad Gateway', REFUSAL_BODY), slowly);
      return 'keep';
    }
    if (socket.destroyed) {
      conn.destroy();
      return 'gone';
    }
    const head = Buffer.from(responseHead(version, status, reason, extra), 'latin1');
    const bytes = b.extraBytes === undefined ? head : Buffer.concat([head, toBuffer(b.extraBytes)]);
    await writeOut(socket, bytes, slowly);
    if (socket.destroyed) {
      conn.destroy();
      return 'gone';
    }
    startTunnel(conn);
    return 'tunnel';
  };

  const pump = (): void => {
    while (state === 'idle') {
      if (skipBody > 0) {
        const n = Math.min(skipBody, buf.length);
        buf = buf.subarray(n);
        skipBody -= n;
        if (skipBody > 0) return;
      }
      // Empty lines before a request line are ignored (RFC 9112 §2.2).
      let start = 0;
      while (buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
      const end = buf.indexOf('\r\n\r\n', start, 'latin1');
      if (end === -1) {
        if (buf.length > MAX_HEAD_BYTES) {
          socket.end(textResponse('1.1', 431, 'Request Header Fields Too Large', 'request head too large', [['connection', 'close']]));
          state = 'gone';
        }
        return;
      }
      const rawHead = buf.subarray(start, end + 4).toString('latin1');
      buf = buf.subarray(end + 4);
      const lines = rawHead.slice(0, -4).split('\r\n');
      const m = /^([A-Za-z]+) (\S+) HTTP\/(\d\.\d)$/.exec(lines[0] ?? '');
      if (m === null) {
        socket.end(textResponse('1.1', 400, 'Bad Request', 'bad request line', [['connection', 'close']]));
        state = 'gone';
        return;
      }
      const headers: Array<[string, string]> = [];
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        headers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
      }
      const method = m[1] as string;
      const targetText = m[2] as string;
      const authority = method === 'CONNECT' ? parseAuthority(targetText) : undefined;
      const req: ProxyConnectRequest = {
        method,
        target: targetText,
        host: authority?.host ?? '',
        port: authority?.port ?? 0,
        version: m[3] as string,
        headers,
        rawHead,
        connectionId,
      };
      ctx.requests.push(req);
      if (method !== 'CONNECT') {
        answerPlain(req);
        continue;
      }
      state = 'answering';
      answerConnect(req).then(finish, () => {
        state = 'gone';
        socket.destroy();
      });
    }
  };
}

/** Starts a CONNECT proxy. */
export async function startConnectProxy(opts: StartConnectProxyOptions = {}): Promise<TestConnectProxy> {
  const transport = opts.transport ?? 'tcp';
  const host = opts.host ?? '127.0.0.1';
  const requests: ProxyConnectRequest[] = [];
  const listener = new Listener('connect proxy');
  const ctx: ProxyContext = { auth: opts.auth, behavior: opts.behavior, requests, listener };
  const { server, pki } = createStreamServer(transport, opts.pki);
  const port = await listener.listen(server, host, (socket) => serveConnection(socket, listener.connectionId(socket), ctx));
  return {
    host,
    port,
    transport,
    url: serverUrl(transport === 'tls' ? 'https' : 'http', host, port),
    pki,
    requests,
    get connections() {
      return listener.connections;
    },
    close: () => listener.close(),
  };
}
