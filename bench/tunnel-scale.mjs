#!/usr/bin/env node
// B7: many concurrent tunnels over ONE HTTP/2 proxy connection (burrow's
// startH2ConnectProxy over TLS): client memory per tunnel and tunnels set up per second.
//
//   raw   CONNECT tunnels carrying raw bytes (burrow: protocols ['raw']) to a TCP echo server
//   tls   the same with TLS inside every tunnel (to a TLS echo server)
//
// The client opens tunnels in batches of --batch (all kept open) until --tunnels are
// up or --limit seconds have passed, whichever comes first. Memory: RSS and V8 heap
// (after two forced GCs, --expose-gc) after 5 warm-up tunnels and after the last one;
// the delta divided by the tunnels opened. burrow vs the raw primitive
// (http2.connect + session.request CONNECT [+ tls.connect({socket: stream})]).
// The echo targets run in a process of their own, so that 10 000 tunnels fit the
// file-descriptor limit of each process.
//
// Usage: node tunnel-scale.mjs [--quick] [--tunnels 10000] [--limit 60] [--batch 200] [--runs 1] [--no-docs]
import { readFileSync } from 'node:fs';
import { writeSection } from './lib/docs.mjs';
import { Noise, metaHeader, parseCommon, runNodeClient, startTunnelServer } from './lib/tunnel-bench.mjs';
import { fmtFixed, fmtInt, median } from './lib/stats.mjs';

const NAME = 'tunnel-scale';
const usage = readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n');
const args = parseCommon({ tunnels: { type: 'string' }, limit: { type: 'string' }, batch: { type: 'string' } }, usage);
const QUICK = args.quick;
const TUNNELS = Math.max(10, Math.min(10_000, Number(args.tunnels ?? (QUICK ? 300 : 10_000))));
const LIMIT_S = Math.max(1, Math.min(300, Number(args.limit ?? (QUICK ? 10 : 60))));
const BATCH = Math.max(1, Math.min(2000, Number(args.batch ?? 200)));
const RUNS = Math.max(1, Math.min(5, Number(args.runs ?? 1)));
const KiB = 1024;

const main = await startTunnelServer('main');
const echo = await startTunnelServer('echo');
const noise = new Noise({ quick: QUICK, maxRest: Number(args['max-rest']) });
const started = new Date();
const rows = [];
try {
  for (const kind of ['raw', 'tls']) {
    for (let round = 0; round < RUNS; round++) {
      for (const client of ['raw', 'burrow']) {
        const r = await runNodeClient(
          main,
          { mode: 'scale', path: 'B2', client, tunnels: TUNNELS, limitMs: LIMIT_S * 1000, batch: BATCH, tlsInside: kind === 'tls', echoPorts: echo.ports, echoCa: echo.ca },
          noise,
          { execArgv: ['--expose-gc'], timeoutMs: LIMIT_S * 1000 + 120_000, redo: false, others: [echo] },
        );
        const row = { kind, client, ...r };
        rows.push(row);
        process.stderr.write(
          r.fatal
            ? `  ${kind} ${client}: FAILED ${r.fatal.split('\n')[0]}\n`
            : `  ${kind} ${client}: ${r.opened} tunnels in ${fmtFixed(r.setupMs / 1000, 1)} s (${fmtInt((r.opened / r.setupMs) * 1000)}/s), ` +
                `${fmtFixed(r.rssDelta / r.opened / KiB, 1)} KiB RSS, ${fmtFixed(r.heapDelta / r.opened / KiB, 1)} KiB heap per tunnel${r.failed ? `, ${r.failed} failed (${r.firstError})` : ''}\n`,
        );
      }
    }
  }
} finally {
  await Promise.all([main.close(), echo.close()]);
}
const finished = new Date();
const lines = ['| tunnels | client | opened (of ' + fmtInt(TUNNELS) + ') | time s | tunnels/s | client CPU ms per tunnel | RSS KiB per tunnel | V8 heap KiB per tunnel | external + ArrayBuffers KiB per tunnel | target (RSS per tunnel) |', '|---|---|---:|---:|---:|---:|---:|---:|---:|---|'];
let bad = false;
for (const kind of ['raw', 'tls']) {
  for (const client of ['raw', 'burrow']) {
    const rs = rows.filter((r) => r.kind === kind && r.client === client && !r.fatal);
    if (rs.length === 0) {
      bad = true;
      lines.push(`| ${kind} | ${client} | failed: ${rows.find((r) => r.kind === kind && r.client === client)?.fatal?.split('\n')[0]} | | | | | | | |`);
      continue;
    }
    const m = (f) => median(rs.map(f));
    const rss = m((r) => r.rssDelta / r.opened / KiB);
    const limit = kind === 'raw' ? 64 : 160;
    const b = client === 'burrow' ? '**' : '';
    const failed = rs.reduce((a, r) => a + r.failed, 0);
    if (failed) bad = true;
    lines.push(
      `| ${kind === 'raw' ? 'raw bytes' : 'TLS inside'} | ${b}${client === 'burrow' ? 'burrow (`connect` on an h2 `open`)' : 'raw primitive (node:http2)'}${b} | ${fmtInt(m((r) => r.opened))}${failed ? ` (${failed} failed: ${rs.find((r) => r.firstError)?.firstError})` : ''}${rs.some((r) => r.timedOut) ? ' (time limit)' : ''} | ` +
        `${fmtFixed(m((r) => r.setupMs / 1000), 1)} | ${b}${fmtInt(m((r) => (r.opened / r.setupMs) * 1000))}${b} | ${fmtFixed(m((r) => r.cpuUs / 1000 / r.opened), 2)} | ${b}${fmtFixed(rss, 1)}${b} | ` +
        `${fmtFixed(m((r) => r.heapDelta / r.opened / KiB), 1)} | ${fmtFixed(m((r) => r.externalDelta / r.opened / KiB), 1)} | ${client === 'burrow' ? `≤ ${limit} KiB: ${rss <= limit ? 'met' : '**missed**'}` : ''} |`,
    );
  }
}
const table = lines.join('\n');
console.log(`\n${table}\n\n${noise.describe()}`);
if (args.writeDocs) {
  writeSection(
    NAME,
    `## Tunnels: ${fmtInt(TUNNELS)} concurrent tunnels on one HTTP/2 proxy connection (B7)

${metaHeader(`${NAME}.mjs`, started, finished, noise, ` Up to ${fmtInt(TUNNELS)} tunnels or ${LIMIT_S} s per run, in batches of ${BATCH} CONNECTs at once; ${RUNS} run(s) per row.`)}
${table}

- One HTTP/2 connection (TLS) to burrow's \`startH2ConnectProxy\` (16 MiB stream / 64 MiB connection windows); each tunnel is
  a CONNECT stream to an echo server (TCP, or TLS for the "TLS inside" rows), held open until the end. The proxy runs in one
  Node process, the echo servers in another (each side of 10 000 TCP connections needs a file descriptor; the limit here is
  ${'20 000'} per process).
- "per tunnel" = (after − before) / tunnels opened, measured after two \`gc()\` calls (\`--expose-gc\`), with 5 tunnels already open
  in the "before" state. "time" and "tunnels/s" cover the tunnels opened after that; CPU is the client's \`process.cpuUsage()\`.
  With TLS inside, the far side (proxy + echo TLS servers) does a TLS handshake per tunnel too, on the same 2 cores.
`,
  );
  console.log(`docs/benchmarks.md: section ${NAME} rewritten`);
}
process.exitCode = bad ? 1 : 0;
