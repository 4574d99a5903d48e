// The far side of the tunnel benchmarks, in its OWN process (forked), so that the
// client process measured pays only the client's costs. Built from burrow's test
// servers (dist/testing): one throwaway PKI, and on 127.0.0.1, port 0:
//   role 'main' (default):
//     originH1   HTTPS origin, HTTP/1.1 only (ALPN http/1.1): `/bytes/N`, `/` ("hello")
//     originH2   HTTPS origin, ALPN h2 + http/1.1 (B6 h2-100)
//     https1     HTTP/1.1 CONNECT proxy over TLS
//     https2     a second one (the middle hop of B4's chain)
//     h2         HTTP/2 CONNECT proxy over TLS (16 MiB stream / 64 MiB connection windows)
//     socks      SOCKS5 server over TCP, no auth
//   role 'echo': echoTcp, echoTls (the targets of B7's tunnels, in a process of their
//     own so that 10 000 tunnels fit in one process's file descriptor limit)
// It writes the CA to `caFile` (argv[3]; for curl) and reports over IPC
// { type: 'ready', ports, ca }. IPC: { type: 'stats', id } -> { cpu (µs), rss };
// exits on { type: 'exit' }, when the parent goes away, or after a hard limit.
import { writeFileSync } from 'node:fs';

const role = process.argv[2] ?? 'main';
const caFile = process.argv[3];
const HARD_LIMIT_MS = Number(process.env.BENCH_SERVER_LIMIT_MS ?? 40 * 60 * 1000);

if (!process.send) {
  console.error('tunnel-server: must be started with child_process.fork()');
  process.exit(2);
}
setTimeout(() => {
  console.error(`tunnel-server: hard time limit (${HARD_LIMIT_MS} ms) reached, exiting`);
  process.exit(3);
}, HARD_LIMIT_MS).unref();

const t = await import('../../dist/testing/index.js');
const pki = t.createTestPki();
if (caFile) writeFileSync(caFile, pki.ca);

const servers = {};
if (role === 'main') {
  servers.originH1 = await t.startOrigin({ protocol: 'http', transport: 'tls', pki, alpn: ['http/1.1'] });
  servers.originH2 = await t.startOrigin({ protocol: 'http2', transport: 'tls', pki, maxConcurrentStreams: 1000 });
  servers.https1 = await t.startConnectProxy({ transport: 'tls', pki });
  servers.https2 = await t.startConnectProxy({ transport: 'tls', pki });
  servers.h2 = await t.startH2ConnectProxy({ transport: 'tls', pki });
  servers.socks = await t.startSocks5Server({ transport: 'tcp', pki });
} else {
  servers.echoTcp = await t.startEchoServer({ transport: 'tcp', pki });
  servers.echoTls = await t.startEchoServer({ transport: 'tls', pki });
}
// The test servers keep a record of every request/connection: drop them now and then
// so that long runs do not grow the far side's heap.
setInterval(() => {
  for (const s of Object.values(servers)) {
    for (const k of ['requests', 'events']) if (Array.isArray(s[k]) && s[k].length > 1000) s[k].length = 0;
  }
}, 1000).unref();

const ports = Object.fromEntries(Object.entries(servers).map(([k, s]) => [k, s.port]));

let closing = false;
async function shutdown(code = 0) {
  if (closing) return;
  closing = true;
  setTimeout(() => process.exit(code), 1500).unref();
  await Promise.allSettled(Object.values(servers).map((s) => s.close()));
  process.exit(code);
}
process.on('disconnect', () => shutdown(0));
process.on('message', (msg) => {
  if (msg?.type === 'exit') shutdown(0);
  else if (msg?.type === 'stats') process.send({ type: 'stats', id: msg.id, cpu: process.cpuUsage(), rss: process.memoryUsage.rss() });
});
process.send({ type: 'ready', ports, ca: pki.ca, pid: process.pid });
