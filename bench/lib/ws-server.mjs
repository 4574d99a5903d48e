// The echo server of the WebSocket benchmark (ws-echo.mjs), in its OWN process
// (forked), so that the client process measured pays only the client's costs.
// A `ws` WebSocketServer (the npm package, without its native add-ons) on
// 127.0.0.1, port 0, permessage-deflate off: every message is sent back as it
// came (binary stays binary). Reports over IPC { type: 'ready', port, pid };
// IPC { type: 'stats', id } -> { cpu (µs), messages, bytes, connections };
// exits on { type: 'exit' }, when the parent goes away, or after a hard limit.
process.env.WS_NO_BUFFER_UTIL = '1';
process.env.WS_NO_UTF_8_VALIDATE = '1';

const HARD_LIMIT_MS = Number(process.env.BENCH_SERVER_LIMIT_MS ?? 60 * 60 * 1000);
if (!process.send) {
  console.error('ws-server: must be started with child_process.fork()');
  process.exit(2);
}
setTimeout(() => {
  console.error(`ws-server: hard time limit (${HARD_LIMIT_MS} ms) reached, exiting`);
  process.exit(3);
}, HARD_LIMIT_MS).unref();

const { WebSocketServer } = await import('ws');

let messages = 0;
let bytes = 0;
let connections = 0;
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, clientTracking: true });
wss.on('connection', (ws) => {
  connections++;
  ws.on('message', (data, isBinary) => {
    messages++;
    bytes += data.length;
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => undefined);
});
await new Promise((resolve, reject) => {
  wss.once('listening', resolve);
  wss.once('error', reject);
});

let closing = false;
function shutdown(code = 0) {
  if (closing) return;
  closing = true;
  setTimeout(() => process.exit(code), 1000).unref();
  for (const c of wss.clients) c.terminate();
  wss.close(() => process.exit(code));
}
process.on('disconnect', () => shutdown(0));
process.on('message', (msg) => {
  if (msg?.type === 'exit') shutdown(0);
  else if (msg?.type === 'stats') process.send({ type: 'stats', id: msg.id, cpu: process.cpuUsage(), messages, bytes, connections });
});
process.send({ type: 'ready', port: wss.address().port, pid: process.pid });
