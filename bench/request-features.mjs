#!/usr/bin/env node
// B6 with request features on: small requests through ONE established tunnel (HTTPS proxy, HTTP/1.1
// CONNECT over TLS -> HTTPS origin, HTTP/1.1 keep-alive inside, one request at a time), requests/s,
//   gzip     GET /gzip/10240: a 10 KiB text body, gzip-compressed by the origin, decompressed by the client
//   cookies  GET /: a 50-cookie jar for the origin, its cookie header sent with every request
// burrow `request()` vs undici `request()` (ProxyAgent; the decompress interceptor; tough-cookie for the
// cookie header) and got (https-proxy-agent; its decompression; tough-cookie as its cookieJar), same run.
// Rows ending @node24 run under Node 24 with undici 8.
//
// Usage: node request-features.mjs [--quick] [--runs 5] [--duration 2000] [--warmup 1000] [--no-docs]
//          [--features gzip,cookies] [--clients burrow-request,undici,got,...]
import { readFileSync } from 'node:fs';
import { writeSection } from './lib/docs.mjs';
import { expectedBytes } from './lib/features-client.mjs';
import { Noise, metaHeader, parseCommon, runNodeClient, startTunnelServer } from './lib/tunnel-bench.mjs';
import { fmtFixed, fmtInt, max, median, min } from './lib/stats.mjs';
import { PEER_NODE_VERSION, clientVariant } from './lib/node-versions.mjs';

const NAME = 'request-features';
const usage = readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n');
const args = parseCommon({ duration: { type: 'string' }, warmup: { type: 'string' }, clients: { type: 'string' }, features: { type: 'string' } }, usage);
const QUICK = args.quick;
const RUNS = Math.max(1, Math.min(20, Number(args.runs ?? (QUICK ? 1 : 5))));
const DURATION = Math.max(200, Math.min(30_000, Number(args.duration ?? (QUICK ? 500 : 2000))));
const WARMUP = Math.max(0, Math.min(30_000, Number(args.warmup ?? (QUICK ? 300 : 1000))));

const LABELS = {
  'burrow-request': 'burrow `request()`',
  undici: 'undici 7 `ProxyAgent` + `request()`',
  got: 'got 14 + https-proxy-agent',
  'burrow-request@node24': `burrow \`request()\`, Node ${PEER_NODE_VERSION}`,
  'undici8@node24': `undici 8 \`ProxyAgent\` + \`request()\`, Node ${PEER_NODE_VERSION}`,
};
const FEATURES = {
  gzip: 'a 10 KiB gzip body, decompressed (undici: `interceptors.decompress()`)',
  cookies: 'a 50-cookie jar (undici: the cookie header from tough-cookie; got: tough-cookie as `cookieJar`)',
};
const CLIENTS = args.clients?.split(',').map((x) => x.trim()).filter(Boolean) ?? ['burrow-request', 'undici', 'got', 'burrow-request@node24', 'undici8@node24'];
const SCENARIOS = args.features?.split(',').map((x) => x.trim()).filter(Boolean) ?? Object.keys(FEATURES);
/** The peers each burrow row is compared with (same Node release). */
const peersOf = (c) => (c.endsWith('@node24') ? ['undici8@node24'] : ['undici', 'got']);

const server = await startTunnelServer();
const cfgOf = (feature, name) => {
  const v = clientVariant(name);
  return { mode: 'rps', path: 'B1', client: v.client, undici: v.undici, fork: v.fork, inflight: 1, originProtocol: 'http', originPort: server.ports.originH1, warmupMs: WARMUP, durationMs: DURATION, feature, expectBytes: expectedBytes(feature) };
};
const noise = new Noise({ quick: QUICK, maxRest: Number(args['max-rest']) });
const started = new Date();
const res = {};
try {
  for (const s of SCENARIOS) {
    res[s] = Object.fromEntries(CLIENTS.map((c) => [c, []]));
    process.stderr.write(`${s}: ${RUNS} rounds of ${CLIENTS.join(', ')} (${WARMUP} ms warm-up + ${DURATION} ms)\n`);
    for (let round = 0; round < RUNS; round++) {
      for (const c of CLIENTS) {
        const r = await runNodeClient(server, cfgOf(s, c), noise, { timeoutMs: WARMUP + DURATION + 60_000 });
        const run = r.fatal ? { failed: true, fatal: r.fatal } : { rate: (r.requests / r.ms) * 1000, cpuUs: r.cpuUs / r.requests, errors: r.errors, firstError: r.firstError };
        res[s][c].push(run);
        process.stderr.write(`  ${c.padEnd(22)} round ${round + 1}: ${run.failed ? `FAILED ${run.fatal.split('\n')[0]}` : `${fmtInt(run.rate)} req/s  ${fmtFixed(run.cpuUs)} µs/req${run.errors ? ` ${run.errors} errors (${run.firstError})` : ''}`}\n`);
      }
    }
  }
} finally {
  await server.close();
}
const finished = new Date();
const lines = ['| feature | client | req/s median (min–max) | client CPU µs/request median (min–max) |', '|---|---|---:|---:|'];
const tgt = ['| target: burrow ≥ 1.0× each peer (same Node) | req/s ratio | | client CPU ratio (peer ÷ burrow) | |', '|---|---:|---|---:|---|'];
let bad = false;
for (const s of Object.keys(res)) {
  const ok = (c) => (res[s][c] ?? []).filter((r) => !r.failed);
  for (const c of CLIENTS) {
    const rs = ok(c);
    const errors = rs.reduce((a, r) => a + (r.errors ?? 0), 0);
    if (rs.length < res[s][c].length || errors) bad = true;
    const b = c.startsWith('burrow') ? '**' : '';
    lines.push(
      `| ${s} | ${b}${LABELS[c] ?? c}${b} | ${rs.length ? `${b}${fmtInt(median(rs.map((r) => r.rate)))}${b} (${fmtInt(min(rs.map((r) => r.rate)))}–${fmtInt(max(rs.map((r) => r.rate)))})` : `failed: ${res[s][c][0]?.fatal?.split('\n')[0]}`}${errors ? ` (${errors} errors)` : ''} | ${fmtFixed(median(rs.map((r) => r.cpuUs)))} (${fmtFixed(min(rs.map((r) => r.cpuUs)))}–${fmtFixed(max(rs.map((r) => r.cpuUs)))}) |`,
    );
    if (!c.startsWith('burrow') || !rs.length) continue;
    for (const p of peersOf(c)) {
      const pr = ok(p);
      if (!pr.length) continue;
      const rate = median(rs.map((r) => r.rate)) / median(pr.map((r) => r.rate));
      const cpu = median(pr.map((r) => r.cpuUs)) / median(rs.map((r) => r.cpuUs));
      tgt.push(`| ${s}: ${c} vs ${p} | ${fmtFixed(rate, 2)}× | ${rate >= 1 ? 'met' : '**missed**'} | ${fmtFixed(cpu, 2)}× | ${cpu >= 1 ? 'met' : '**missed**'} |`);
    }
  }
}
const table = lines.join('\n');
console.log(`\n${table}\n\n${tgt.join('\n')}\n\n${noise.describe()}`);
if (args.writeDocs) {
  writeSection(
    NAME,
    `## Request features: decompression and cookies through one tunnel (B6 with features)

${metaHeader(`${NAME}.mjs`, started, finished, noise, ` ${RUNS} counted runs per client (${WARMUP} ms warm-up + ${DURATION} ms window each), interleaved.`)}
${table}

${tgt.join('\n')}

- Route: HTTPS proxy (burrow's \`startConnectProxy\` over TLS) → HTTPS origin (HTTP/1.1), far side in one other
  Node process; one request at a time on one tunnel.
${Object.entries(FEATURES).map(([k, v]) => `- ${k}: ${v}.`).join('\n')}
- Every body is checked after decoding (10 240 bytes for gzip, 5 for cookies); a run with errors is reported.
`,
  );
  console.log(`docs/benchmarks.md: section ${NAME} rewritten`);
}
process.exitCode = bad ? 1 : 0;
