// A WebSocket origin for the tests: the `ws` package's server over HTTP/1.1 (plain or TLS), or
// over HTTP/2 with the extended CONNECT (RFC 8441: node:http2 answers the CONNECT, `ws` speaks the
// frames on the stream). It echoes every message, and obeys a few text commands:
//   `close CODE REASON`  closes with that code and reason
//   `ping`               sends a ping (payload "p")
//   `fragments`          sends the text message "frag" + "ment" + "ed" in three frames
//   `binary N`           sends N bytes (0..255 repeated) as one binary message
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { WebSocket as WsSocket, WebSocketServer } from 'ws';
import type { TestPki } from '../../src/testing/index.js';

export interface WsOrigin {
  readonly port: number;
  /** `ws://127.0.0.1:PORT` or `wss://…`. */
  readonly url: string;
  /** Handshake requests seen: path, subprotocols and extensions asked for, HTTP version. */
  readonly requests: Array<{ path: string; protocols: string; extensions: string; version: string; headers: Record<string, string | string[] | undefined> }>;
  /** Server-side sockets still open. */
  open(): number;
  /** Resolves once no server-side socket is open (a client closing after the server still has its FIN in flight). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface WsOriginOptions {
  transport?: 'tcp' | 'tls';
  pki?: TestPki;
  /** permessage-deflate on the server (default off). */
  deflate?: boolean;
  /** HTTP/2 with RFC 8441 instead of HTTP/1.1 upgrades. */
  h2?: boolean;
  /** The subprotocol chosen among those offered (default: the first). */
  choose?: (offered: readonly string[]) => string | false;
  maxPayload?: number;
}

function serve(ws: WsSocket): void {
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? undefined : data.toString();
    if (text?.startsWith('close ')) {
      const [, code, ...reason] = text.split(' ');
      ws.close(Number(code), reason.join(' '));
      return;
    }
    if (text === 'ping') {
      ws.ping('p');
      return;
    }
    if (text === 'fragments') {
      ws.send('frag', { fin: false });
      ws.send('ment', { fin: false });
      ws.send('ed', { fin: true });
      return;
    }
    if (text?.startsWith('binary ')) {
      const n = Number(text.slice(7));
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = i & 0xff;
      ws.send(b, { binary: true });
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => undefined);
}

/** Starts a WebSocket echo origin on 127.0.0.1, port 0. */
export async function startWsOrigin(opts: WsOriginOptions = {}): Promise<WsOrigin> {
  const requests: WsOrigin['requests'] = [];
  const sockets = new Set<{ destroy(): void; destroyed?: boolean }>();
  let idleWaiters: Array<() => void> = [];
  const forget = (s: { destroy(): void }): void => {
    sockets.delete(s);
    if (sockets.size > 0) return;
    const ws = idleWaiters;
    idleWaiters = [];
    for (const w of ws) w();
  };
  const tls = opts.transport === 'tls';
  const pki = opts.pki;
  if (tls && pki === undefined) throw new Error('a TLS WebSocket origin needs a pki');
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: opts.deflate === true,
    maxPayload: opts.maxPayload ?? 100 * 1024 * 1024,
    handleProtocols: (set) => (opts.choose ? opts.choose([...set]) : ([...set][0] ?? false)),
  });
  let server: HttpServer | http2.Http2Server | http2.Http2SecureServer;
  if (opts.h2 === true) {
    const settings = { enableConnectProtocol: true };
    const h2 = tls ? http2.createSecureServer({ key: pki?.server.key, cert: pki?.server.cert, settings }) : http2.createServer({ settings });
    h2.on('session', (s) => {
      sockets.add(s as unknown as { destroy(): void });
      s.on('close', () => forget(s as unknown as { destroy(): void }));
      s.on('error', () => undefined);
    });
    h2.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
        stream.respond({ ':status': 404 });
        stream.end();
        return;
      }
      const offered = String(headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
      const extensions = String(headers['sec-websocket-extensions'] ?? '');
      requests.push({ path: String(headers[':path']), protocols: offered.join(', '), extensions, version: '2', headers });
      const chosen = offered.length === 0 ? false : opts.choose ? opts.choose(offered) : offered[0];
      stream.respond({ ':status': 200, ...(chosen !== false && chosen !== undefined ? { 'sec-websocket-protocol': chosen } : {}) });
      const ws = new WsSocket(null as unknown as string, undefined, {});
      (ws as unknown as { setSocket(s: unknown, head: Buffer, o: object): void }).setSocket(stream, Buffer.alloc(0), { maxPayload: opts.maxPayload ?? 100 * 1024 * 1024 });
      serve(ws);
    });
    server = h2;
  } else {
    const h1 = tls ? createHttpsServer({ key: pki?.server.key, cert: pki?.server.cert }) : createHttpServer();
    h1.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => forget(s));
    });
    h1.on('secureConnection', (s) => {
      sockets.add(s);
      s.on('close', () => forget(s));
    });
    h1.on('upgrade', (req, socket, head) => {
      requests.push({
        path: req.url ?? '',
        protocols: String(req.headers['sec-websocket-protocol'] ?? ''),
        extensions: String(req.headers['sec-websocket-extensions'] ?? ''),
        version: req.httpVersion,
        headers: req.headers,
      });
      wss.handleUpgrade(req, socket, head, serve);
    });
    server = h1;
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}`,
    requests,
    open: () => [...sockets].filter((s) => s.destroyed !== true).length,
    idle: () => (sockets.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    close: async () => {
      for (const c of wss.clients) c.terminate();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      wss.close();
    },
  };
}
