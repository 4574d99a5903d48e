// The origin for the request-rate benchmarks, run in its OWN process so that
// the client process measured by the benchmark pays only the client's costs.
//
// Started with child_process.fork(); it listens on 127.0.0.1 port 0 with
//   - an HTTP/1.1 server (node:http), and
//   - an h2c server (node:http2, prior knowledge, no TLS),
// and reports its ports over IPC: { type: 'ready', ports: { http1, h2c } }.
// It answers every request with the same small response: 13 bytes of body and
// a few headers. It exits when the parent says { type: 'exit' }, when the IPC
// channel closes (the parent died), or after a hard time limit.
//
// IPC requests: { type: 'stats', id } -> { type: 'stats', id, cpu: {user, system} (µs),
// requests, maxConcurrentH2 } and { type: 'reset-max', id } (resets maxConcurrentH2).
import http from 'node:http';
import http2 from 'node:http2';

export const BODY = Buffer.from('Hello, World!'); // 13 bytes

const HARD_LIMIT_MS = Number(process.env.BENCH_SERVER_LIMIT_MS ?? 30 * 60 * 1000);

const h1Headers = {
  'content-type': 'text/plain; charset=utf-8',
  'content-length': String(BODY.length),
  'cache-control': 'no-store',
  etag: '"34aa387-d-1568eb00"',
};

let requests = 0;
let activeH2 = 0;
let maxConcurrentH2 = 0;

const h1 = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  requests++;
  // Drain any request body (the benchmark sends none) before answering.
  req.resume();
  res.writeHead(200, h1Headers);
  res.end(BODY);
});
h1.maxRequestsPerSocket = 0;
h1.headersTimeout = 60_000;
h1.requestTimeout = 0;

const h2Headers = {
  ':status': 200,
  'content-type': 'text/plain; charset=utf-8',
  'content-length': BODY.length,
  'cache-control': 'no-store',
  etag: '"34aa387-d-1568eb00"',
};

const h2 = http2.createServer({
  settings: { maxConcurrentStreams: 1000 },
  // 100 streams in flight, each a few hundred bytes: the defaults are fine.
});
h2.on('stream', (stream) => {
  requests++;
  activeH2++;
  if (activeH2 > maxConcurrentH2) maxConcurrentH2 = activeH2;
  stream.on('close', () => {
    activeH2--;
  });
  stream.on('error', () => undefined);
  stream.respond(h2Headers);
  stream.end(BODY);
});
h2.on('sessionError', () => undefined);

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

function shutdown(code = 0) {
  h1.closeAllConnections?.();
  h1.close();
  h2.close();
  // Sessions still open would keep the h2 server alive: do not wait for them.
  setTimeout(() => process.exit(code), 200).unref();
  process.exitCode = code;
}

const limit = setTimeout(() => {
  console.error(`bench server: hard time limit (${HARD_LIMIT_MS} ms) reached, exiting`);
  process.exit(3);
}, HARD_LIMIT_MS);
limit.unref();

if (!process.send) {
  console.error('bench server: must be started with child_process.fork()');
  process.exit(2);
}

process.on('disconnect', () => shutdown(0));
process.on('message', (msg) => {
  if (msg?.type === 'exit') {
    shutdown(0);
  } else if (msg?.type === 'stats') {
    process.send({ type: 'stats', id: msg.id, cpu: process.cpuUsage(), requests, maxConcurrentH2 });
  } else if (msg?.type === 'reset-max') {
    maxConcurrentH2 = 0;
    process.send({ type: 'reset-max', id: msg.id });
  }
});

const [p1, p2] = await Promise.all([listen(h1), listen(h2)]);
process.send({ type: 'ready', ports: { http1: p1, h2c: p2 }, pid: process.pid });
