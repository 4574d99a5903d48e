/**
 * The WebSocket origin of the peer tests: the `ws` package's server, run as a
 * child process by test/peers/harness.ts (so that the test process's leak
 * checks see burrow's sockets only). Usage:
 *
 *   node ws-origin.js PLAIN_PORT TLS_PORT CERT_FILE KEY_FILE
 *
 * listens on 127.0.0.1:PLAIN_PORT (http) and 127.0.0.1:TLS_PORT (https, the
 * certificate given). On each WebSocket it first sends a text "hello": the
 * handshake as the server saw it (JSON: path, HTTP version, headers, the
 * extensions in force), then echoes every message with its type, except the
 * commands (text messages starting with `!`):
 *
 * - `!frag N`: the next message is echoed as N fragments (split by bytes, so
 *   a text message may be cut inside a UTF-8 sequence), with a ping after the
 *   first fragment;
 * - `!stats`: answers JSON `{ messages, pongs, fragmented }` (pongs received
 *   for the pings sent between fragments).
 *
 * Paths: `/echo` (permessage-deflate accepted with ws's defaults),
 * `/echo-tight` (permessage-deflate with no context takeover either way and
 * a 10-bit server window), `/echo-nodeflate` (permessage-deflate declined).
 * A plain HTTP request gets a 200 `ws origin`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';

const [plainPort, tlsPort, certFile, keyFile] = process.argv.slice(2);
if (plainPort === undefined || tlsPort === undefined || certFile === undefined || keyFile === undefined) {
  process.stderr.write('usage: ws-origin PLAIN_PORT TLS_PORT CERT_FILE KEY_FILE\n');
  process.exit(2);
}

const servers = {
  '/echo': new WebSocketServer({ noServer: true, perMessageDeflate: true }),
  '/echo-tight': new WebSocketServer({
    noServer: true,
    perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10 },
  }),
  '/echo-nodeflate': new WebSocketServer({ noServer: true, perMessageDeflate: false }),
} as const;

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function serve(ws: WebSocket, req: IncomingMessage): void {
  let fragNext = 0;
  const stats = { messages: 0, pongs: 0, fragmented: 0 };
  // Logged to the daemon's output (kept with BURROW_PEERS_KEEP=1).
  ws.on('error', (e) => process.stderr.write(`${req.url ?? ''}: error ${e.message}\n`));
  ws.on('close', (code, reason) => process.stderr.write(`${req.url ?? ''}: close ${code} ${reason.toString()}\n`));
  ws.on('pong', () => {
    stats.pongs++;
  });
  ws.on('message', (raw, isBinary) => {
    const data = toBuffer(raw);
    if (!isBinary && data[0] === 0x21 /* ! */) {
      const [cmd, arg] = data.toString('utf8').split(' ');
      if (cmd === '!frag') fragNext = Math.max(1, Number(arg));
      else if (cmd === '!stats') ws.send(JSON.stringify(stats));
      else ws.close(4000, `unknown command ${String(cmd)}`);
      return;
    }
    stats.messages++;
    if (fragNext === 0) {
      ws.send(data, { binary: isBinary });
      return;
    }
    const parts = fragNext;
    fragNext = 0;
    stats.fragmented++;
    const size = Math.ceil(data.length / parts);
    for (let i = 0; i < parts; i++) {
      const last = i === parts - 1;
      ws.send(data.subarray(i * size, last ? data.length : (i + 1) * size), { binary: isBinary, fin: last });
      // A control frame between the fragments of a message (RFC 6455 §5.4).
      if (i === 0 && !last) ws.ping('between fragments');
    }
  });
  ws.send(JSON.stringify({
    path: req.url,
    httpVersion: req.httpVersion,
    headers: req.headers,
    extensions: ws.extensions,
  }));
}

function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const wss = (servers as Record<string, WebSocketServer | undefined>)[path];
  if (wss === undefined) {
    socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => serve(ws, req));
}

const onRequest = (_req: IncomingMessage, res: http.ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end('ws origin\n');
};

const plain = http.createServer(onRequest);
const secure = https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), ALPNProtocols: ['http/1.1'] }, onRequest);
for (const s of [plain, secure]) {
  s.on('upgrade', onUpgrade);
  s.on('clientError', (_e, socket) => socket.destroy());
}
plain.listen(Number(plainPort), '127.0.0.1');
secure.listen(Number(tlsPort), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
