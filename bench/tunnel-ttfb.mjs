#!/usr/bin/env node
// B5: time to first response byte on a NEW tunnel, for the paths B1–B4
// (see tunnel-download.mjs): burrow vs the raw primitive vs peers.
//
// A sample = new connection to the first proxy, every CONNECT / SOCKS handshake,
// the inner TLS handshake with the origin, `GET /`, until the response head
// arrives (the raw primitive: the first byte of it); the 5-byte body is then
// read and everything closed. Each client process makes --warmup samples (not
// counted), then --samples counted ones; --rounds processes per client, interleaved
// (A B C A B C ...): 5 × 10 = 50 counted samples by default. curl is one process per
// sample, its time_starttransfer (which includes its start-up and CA loading).
//
// Usage: node tunnel-ttfb.mjs [--quick] [--rounds 5] [--samples 10] [--warmup 40] [--paths B1,B2] [--clients raw,burrow] [--no-docs]
import { readFileSync } from 'node:fs';
import { writeSection } from './lib/docs.mjs';
import { Noise, detectCurl, metaHeader, parseCommon, runCurl, runNodeClient, startTunnelServer } from './lib/tunnel-bench.mjs';
import { clientVariant } from './lib/node-versions.mjs';
import { fmtFixed, median } from './lib/stats.mjs';

const NAME = 'tunnel-ttfb';
const usage = readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n');
const args = parseCommon({ rounds: { type: 'string' }, samples: { type: 'string' }, warmup: { type: 'string' }, paths: { type: 'string' }, clients: { type: 'string' } }, usage);
const QUICK = args.quick;
const ROUNDS = Math.max(1, Math.min(20, Number(args.rounds ?? args.runs ?? (QUICK ? 1 : 5))));
const SAMPLES = Math.max(1, Math.min(100, Number(args.samples ?? (QUICK ? 3 : 10))));
const WARMUP = Math.max(0, Math.min(200, Number(args.warmup ?? (QUICK ? 1 : 40))));

const LABELS = {
  raw: 'raw primitive',
  burrow: 'burrow low-level (`open` + `connect` + `get`, `replyTo`)',
  'burrow-request': 'burrow `request()` (`pool: false`)',
  undici: 'undici `ProxyAgent` (new agent per sample)',
  'undici-socks': 'undici `Socks5ProxyAgent` (new agent per sample)',
  hpa: 'https-proxy-agent + `https.get` (new agent per sample)',
  spa: 'socks-proxy-agent + `https.get` (new agent per sample)',
  h2w: 'http2-wrapper `HttpsOverHttp2` (new agent, proxy session dropped per sample)',
  curl: 'curl (one process per sample; includes its start-up)',
};
const PATHS = {
  B1: ['raw', 'burrow', 'burrow-request', 'undici', 'hpa', 'curl'],
  B2: ['raw', 'burrow', 'burrow-request', 'h2w'],
  B3: ['raw', 'burrow', 'burrow-request', 'spa', 'undici-socks', 'curl'],
  B4: ['raw', 'burrow', 'burrow-request'],
};
const TITLES = {
  B1: 'B1 HTTPS proxy → HTTPS origin',
  B2: 'B2 HTTP/2 proxy (new session) → HTTPS origin',
  B3: 'B3 SOCKS5 → HTTPS origin',
  B4: 'B4 HTTPS proxy → HTTPS proxy → HTTPS origin',
};
const pathNames = (args.paths ?? Object.keys(PATHS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
// --clients: these clients on every path instead (variants too, e.g. burrow@base with BENCH_BASELINE_DIST).
const onlyClients = args.clients?.split(',').map((s) => s.trim()).filter(Boolean);
const clientsOf = (path) => onlyClients ?? PATHS[path];
LABELS['burrow@base'] = 'burrow low-level, baseline build (BENCH_BASELINE_DIST)';
LABELS['burrow-request@base'] = 'burrow `request()`, baseline build (BENCH_BASELINE_DIST)';

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.ceil(i)] - s[lo]) * (i - lo);
}

function curlArgs(server, path) {
  const { ports, caFile } = server;
  const url = `https://127.0.0.1:${ports.originH1}/`;
  const common = ['--http1.1', '--cacert', caFile];
  if (path === 'B1') return [...common, '--proxy', `https://127.0.0.1:${ports.https1}`, '--proxy-cacert', caFile, url];
  return [...common, '--socks5-hostname', `127.0.0.1:${ports.socks}`, url];
}

await detectCurl();
const server = await startTunnelServer();
const noise = new Noise({ quick: QUICK, maxRest: Number(args['max-rest']) });
const started = new Date();
const res = {};
let failedAny = false;
try {
  for (const path of pathNames) {
    res[path] = Object.fromEntries(clientsOf(path).map((c) => [c, { samples: [], cpus: [], fatal: undefined }]));
    process.stderr.write(`${path}: ${ROUNDS} rounds × (${WARMUP} warm-up + ${SAMPLES}) samples of ${clientsOf(path).join(', ')}\n`);
    for (let round = 0; round < ROUNDS; round++) {
      for (const client of clientsOf(path)) {
        const acc = res[path][client];
        if (client === 'curl') {
          for (let i = 0; i < SAMPLES; i++) {
            const r = await runCurl(server, curlArgs(server, path), noise, { redo: false });
            if (r.fatal) acc.fatal = r.fatal;
            else {
              acc.samples.push(r.ttfbMs);
              acc.cpus.push(r.cpuUs / 1000);
            }
          }
        } else {
          const v = clientVariant(client);
          const r = await runNodeClient(server, { mode: 'ttfb', path, client: v.client === 'undici-socks' ? 'undici' : v.client, undici: v.undici, fork: v.fork, warmup: WARMUP, samples: SAMPLES }, noise);
          if (r.fatal) acc.fatal = r.fatal;
          else {
            acc.samples.push(...r.samples);
            acc.cpus.push(...r.cpus);
          }
        }
        process.stderr.write(`  ${client.padEnd(15)} round ${round + 1}: median so far ${fmtFixed(median(acc.samples), 2)} ms${acc.fatal ? ` FAILED ${acc.fatal.split('\n')[0]}` : ''}\n`);
      }
    }
  }
} finally {
  await server.close();
}
const finished = new Date();

const lines = ['| path | client | n | TTFB ms median (p10–p90) | × raw | client CPU ms per new tunnel (median) |', '|---|---|---:|---:|---:|---:|'];
const tgt = ['| target: TTFB within 1.1× of the primitive | value | |', '|---|---:|---|'];
for (const path of pathNames) {
  const rawMed = median(res[path].raw.samples);
  for (const [client, acc] of Object.entries(res[path])) {
    if (acc.fatal) failedAny = true;
    const m = median(acc.samples);
    const b = client.startsWith('burrow') ? '**' : '';
    lines.push(
      `| ${TITLES[path]} | ${b}${LABELS[client]}${b} | ${acc.samples.length} | ${acc.samples.length ? `${b}${fmtFixed(m, 2)}${b} (${fmtFixed(quantile(acc.samples, 0.1), 2)}–${fmtFixed(quantile(acc.samples, 0.9), 2)})` : `failed: ${String(acc.fatal).split('\n')[0].slice(0, 100)}`} | ` +
        `${fmtFixed(m / rawMed, 2)} | ${fmtFixed(median(acc.cpus), 2)}${client === 'curl' ? ' (whole process)' : ''} |`,
    );
    if (client.startsWith('burrow') && acc.samples.length) tgt.push(`| ${path} ${client} | ${fmtFixed(m / rawMed, 2)}× | ${m / rawMed <= 1.1 ? 'met' : '**missed**'} |`);
  }
}
const table = lines.join('\n');
const targets = tgt.join('\n');
console.log(`\n${table}\n\n${targets}\n\n${noise.describe()}`);
if (args.writeDocs) {
  writeSection(
    NAME,
    `## Tunnels: time to first byte on a new tunnel (B5)

${metaHeader(`${NAME}.mjs`, started, finished, noise, ` ${ROUNDS} client processes per client × ${SAMPLES} counted samples (after ${WARMUP} warm-up samples in each process), interleaved.`)}
${table}

${targets}

- Same far side as B1–B4 (burrow's test servers in one other Node process; ECDSA P-256 test PKI). Every sample opens
  a new connection to the first proxy; B2 therefore includes a new HTTP/2 session with the proxy.
- TLS session resumption: burrow resumes (its default: sessions are kept per endpoint and TLS options, and handed to
  each new handshake, through tunnels too), so after the first sample of a process its handshakes are resumptions;
  the raw primitive and the peers do a full handshake every time.
- ${WARMUP} warm-up samples per process: the figures are for a process that has already made some connections (burrow
  runs far more JavaScript per new tunnel than the primitive, and a process whose code is not yet optimised pays
  more for it; with 10 warm-up samples burrow was 1.15–1.17× the primitive on B1).
- burrow and the raw primitive reuse one \`SecureContext\` for the whole process; the peers get \`ca\` per agent/request
  and build their contexts per connection, as users do.
- The time runs from before the first \`connect\` to the response head (\`replyTo\` 'response', \`request()\` resolving,
  undici \`request()\` resolving, \`https.get\` 'response', the raw primitive's first byte of the head, curl's
  \`time_starttransfer\`). "client CPU" is \`process.cpuUsage()\` over the sample (curl: bash \`times\`, whole process).
`,
  );
  console.log(`docs/benchmarks.md: section ${NAME} rewritten`);
}
process.exitCode = failedAny ? 1 : 0;
