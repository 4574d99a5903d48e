#!/usr/bin/env node
// B6: small requests through ONE established tunnel (HTTPS proxy, HTTP/1.1
// CONNECT over TLS -> HTTPS origin), requests/s, burrow vs undici ProxyAgent.
//
//   h1-seq   HTTP/1.1 keep-alive inside the tunnel, one request at a time
//   h2-100   HTTP/2 inside the tunnel (ALPN h2 with the origin), 100 concurrent streams
//
// Each client run is a fresh process: open the tunnel, warm up for --warmup ms,
// count the requests completed in a --duration ms window (GET /, 5-byte body,
// checked). --runs rounds, clients interleaved. Client CPU = process.cpuUsage()
// over the window, per request.
//
// Usage: node tunnel-requests.mjs [--quick] [--runs 5] [--duration 2000] [--warmup 1000] [--no-docs] [--profile]
//          [--scenarios h1-seq,h2-100] [--clients burrow,undici,...]
// `--scenarios h1-seq --clients hpa,agent`: https.get with https-proxy-agent vs burrow's ChainAgent.
// Rows ending @node24 run under Node 24 (undici 8 needs Node >= 22) and are compared with each other.
import { readFileSync } from 'node:fs';
import { writeSection } from './lib/docs.mjs';
import { Noise, metaHeader, parseCommon, profileClient, runNodeClient, startTunnelServer } from './lib/tunnel-bench.mjs';
import { fmtFixed, fmtInt, max, median, min } from './lib/stats.mjs';
import { PEER_NODE_VERSION, clientVariant } from './lib/node-versions.mjs';

const NAME = 'tunnel-requests';
const usage = readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n');
const args = parseCommon({ duration: { type: 'string' }, warmup: { type: 'string' }, clients: { type: 'string' }, scenarios: { type: 'string' } }, usage);
const QUICK = args.quick;
const RUNS = Math.max(1, Math.min(20, Number(args.runs ?? (QUICK ? 1 : 5))));
const DURATION = Math.max(200, Math.min(30_000, Number(args.duration ?? (QUICK ? 500 : 2000))));
const WARMUP = Math.max(0, Math.min(30_000, Number(args.warmup ?? (QUICK ? 300 : 1000))));

const LABELS = {
  burrow: 'burrow low-level (`get` with `replyTo` on the tunnel ref)',
  'burrow-request': 'burrow `request()` (a `Pool`, `for await` body)',
  undici: 'undici 7 `ProxyAgent` + `request()`',
  hpa: 'https-proxy-agent + `https.get` (`keepAlive`, `maxSockets: 1`)',
  agent: 'burrow `ChainAgent` + `https.get` (`keepAlive`, `maxSockets: 1`)',
  'burrow@node24': `burrow low-level, Node ${PEER_NODE_VERSION}`,
  'burrow-request@node24': `burrow \`request()\`, Node ${PEER_NODE_VERSION}`,
  'undici8@node24': `undici 8 \`ProxyAgent\` + \`request()\`, Node ${PEER_NODE_VERSION}`,
};
LABELS['fetch-chain'] = 'undici 7 `fetch()` + burrow `ChainDispatcher`';
LABELS['fetch-proxyagent'] = 'undici 7 `fetch()` + undici `ProxyAgent`';
LABELS['fetch-socket'] = 'undici 7 `fetch()` + undici `Agent` over a hand-built tunnel (the other design)';
LABELS['fetch-chain@node24'] = `undici 8 \`fetch()\` + burrow \`ChainDispatcher\`, Node ${PEER_NODE_VERSION}`;
LABELS['fetch-proxyagent@node24'] = `undici 8 \`fetch()\` + undici \`ProxyAgent\`, Node ${PEER_NODE_VERSION}`;
LABELS['burrow@base'] = 'burrow low-level, baseline build (BENCH_BASELINE_DIST)';
LABELS['burrow@observed'] = 'burrow low-level, a subscriber on every channel';
LABELS['burrow-request@observed'] = 'burrow `request()`, a subscriber on every channel';
LABELS['burrow-request@base'] = 'burrow `request()`, baseline build (BENCH_BASELINE_DIST)';
/** The peer row each burrow row is compared with: the same Node release. */
const refOf = (c) => (c.startsWith('fetch-') ? (c.endsWith('@node24') ? 'fetch-proxyagent@node24' : 'fetch-proxyagent') : c.endsWith('@node24') ? 'undici8@node24' : 'undici');
const SCEN = {
  'h1-seq': { inflight: 1, originProtocol: 'http', undici: '`connections: 1, pipelining: 1`', title: 'HTTP/1.1 keep-alive in the tunnel, sequential' },
  'h2-100': { inflight: 100, originProtocol: 'http2', undici: '`allowH2: true, connections: 1, pipelining: 100`', title: 'HTTP/2 in the tunnel, 100 concurrent streams' },
};
const CLIENTS = args.clients?.split(',').map((x) => x.trim()).filter(Boolean) ?? ['burrow', 'burrow-request', 'undici', 'burrow@node24', 'burrow-request@node24', 'undici8@node24', 'fetch-chain', 'fetch-proxyagent', 'fetch-socket', 'fetch-chain@node24', 'fetch-proxyagent@node24'];
const SCENARIOS = args.scenarios?.split(',').map((x) => x.trim()).filter(Boolean) ?? Object.keys(SCEN);

const server = await startTunnelServer();
const cfgOf = (s, name) => {
  const v = clientVariant(name);
  return {
  mode: 'rps',
  path: 'B1',
  client: v.client,
  undici: v.undici,
  fork: v.fork,
  inflight: SCEN[s].inflight,
  originProtocol: SCEN[s].originProtocol,
  originPort: SCEN[s].originProtocol === 'http2' ? server.ports.originH2 : server.ports.originH1,
  warmupMs: WARMUP,
  durationMs: DURATION,
  };
};
const noise = new Noise({ quick: QUICK, maxRest: Number(args['max-rest']) });
const started = new Date();
const res = {};
try {
  if (args.profile) {
    // One --cpu-prof run per client (Node 20 and Node 24 rows); --docs writes the summaries to docs/benchmarks.md.
    const texts = [];
    for (const s of SCENARIOS) {
      for (const c of args.clients ? CLIENTS : ['burrow', 'burrow-request', 'undici', 'burrow-request@node24', 'undici8@node24']) {
        const t = await profileClient(server, cfgOf(s, c), `B6-${s}-${c.replace('@', '-')}`, 15);
        texts.push(`#### ${s} / ${LABELS[c] ?? c}\n\n\`\`\`\n${t}\n\`\`\``);
      }
    }
    if (args.docs) {
      writeSection(
        `${NAME}-profile`,
        `### CPU profiles of B6 (\`node bench/${NAME}.mjs --profile --docs\`, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)\n\n` +
          `One run per client (${WARMUP} ms warm-up + ${DURATION} ms) under \`--cpu-prof\`; self time by function, burrow's mapped to \`src/*.ts\`.\n` +
          `"busy" is the JavaScript-visible time sampled; native work (TLS, the kernel) mostly is not.\n\n${texts.join('\n\n')}\n`,
      );
      console.log(`docs/benchmarks.md: section ${NAME}-profile rewritten`);
    }
    await server.close();
    process.exit(0);
  }
  for (const s of SCENARIOS) {
    res[s] = Object.fromEntries(CLIENTS.map((c) => [c, []]));
    process.stderr.write(`${s}: ${RUNS} rounds of ${CLIENTS.join(', ')} (${WARMUP} ms warm-up + ${DURATION} ms)\n`);
    for (let round = 0; round < RUNS; round++) {
      for (const c of CLIENTS) {
        const r = await runNodeClient(server, cfgOf(s, c), noise, { timeoutMs: WARMUP + DURATION + 60_000 });
        const run = r.fatal ? { failed: true, fatal: r.fatal } : { rate: (r.requests / r.ms) * 1000, cpuUs: r.cpuUs / r.requests, farUs: r.serverCpuUs / r.requests, errors: r.errors, firstError: r.firstError };
        res[s][c].push(run);
        process.stderr.write(`  ${c.padEnd(15)} round ${round + 1}: ${run.failed ? `FAILED ${run.fatal.split('\n')[0]}` : `${fmtInt(run.rate)} req/s  ${fmtFixed(run.cpuUs)} µs/req${run.errors ? ` ${run.errors} errors (${run.firstError})` : ''}`}\n`);
      }
    }
  }
} finally {
  await server.close();
}
const finished = new Date();
const lines = ['| scenario | client | req/s median (min–max) | × undici (same Node) | client CPU µs/request median (min–max) | far side CPU µs/request |', '|---|---|---:|---:|---:|---:|'];
// On this machine sequential requests are bound by the far side (see docs/benchmarks.md): the target is also
// judged in client CPU per request, undici's ÷ burrow's (as MB/s targets are judged in CPU per GiB).
const tgt = ['| target (same Node): burrow ≥ 1.5× undici; fetch + ChainDispatcher ≥ 1.0× fetch + ProxyAgent | req/s | | client CPU per request (undici ÷ burrow) | |', '|---|---:|---|---:|---|'];
let bad = false;
for (const s of Object.keys(res)) {
  // A client list without the reference peer (e.g. a before/after of burrow alone) gives no ratio to it.
  const ok = (c) => (res[s][c] ?? []).filter((r) => !r.failed);
  const und = (c) => (res[s][refOf(c)] ? median(ok(refOf(c)).map((r) => r.rate)) : NaN);
  const undCpu = (c) => (res[s][refOf(c)] ? median(ok(refOf(c)).map((r) => r.cpuUs)) : NaN);
  for (const c of CLIENTS) {
    const rs = ok(c);
    const errors = rs.reduce((a, r) => a + (r.errors ?? 0), 0);
    if (rs.length < res[s][c].length || errors) bad = true;
    const rate = median(rs.map((r) => r.rate));
    const b = c.startsWith('burrow') ? '**' : '';
    lines.push(
      `| ${SCEN[s].title} | ${b}${LABELS[c]}${b}${c.startsWith('undici') ? ` (${SCEN[s].undici})` : ''} | ${rs.length ? `${b}${fmtInt(rate)}${b} (${fmtInt(min(rs.map((r) => r.rate)))}–${fmtInt(max(rs.map((r) => r.rate)))})` : `failed: ${res[s][c][0]?.fatal?.split('\n')[0]}`}${errors ? ` (${errors} errors)` : ''} | ` +
        `${fmtFixed(rate / und(c), 2)} | ${fmtFixed(median(rs.map((r) => r.cpuUs)))} (${fmtFixed(min(rs.map((r) => r.cpuUs)))}–${fmtFixed(max(rs.map((r) => r.cpuUs)))}) | ${fmtFixed(median(rs.map((r) => r.farUs)))} |`,
    );
    if ((c.startsWith('burrow') || c.startsWith('fetch-chain') || c === 'fetch-socket') && rs.length && res[s][refOf(c)]) {
      // fetch + ChainDispatcher: ≥ 1.0× fetch + ProxyAgent (the same fetch); burrow's own APIs: ≥ 1.5× undici.
      const goal = c.startsWith('fetch-') ? 1.0 : 1.5;
      const cpu = undCpu(c) / median(rs.map((r) => r.cpuUs));
      tgt.push(`| ${s} ${c} vs ${refOf(c)} (≥ ${goal}×) | ${fmtFixed(rate / und(c), 2)}× | ${rate / und(c) >= goal ? 'met' : '**missed**'} | ${fmtFixed(cpu, 2)}× | ${cpu >= goal ? 'met' : '**missed**'} |`);
    }
  }
}
const table = lines.join('\n');
console.log(`\n${table}\n\n${tgt.join('\n')}\n\n${noise.describe()}`);
if (args.writeDocs) {
  writeSection(
    NAME,
    `## Tunnels: small requests through one established tunnel (B6)

${metaHeader(`${NAME}.mjs`, started, finished, noise, ` ${RUNS} counted runs per client (${WARMUP} ms warm-up + ${DURATION} ms window each), interleaved.`)}
${table}

${tgt.join('\n')}

- Route: HTTPS proxy (burrow's \`startConnectProxy\` over TLS) → HTTPS origin (\`startOrigin\`, \`GET /\` answers \`hello\`),
  far side in one other Node process. One tunnel per client process, opened before the warm-up.
- h2-100: the origin offers ALPN h2; burrow asks for \`protocols: ['http2']\` inside the tunnel, undici gets \`allowH2: true\`.
- Every response body is checked (5 bytes); a run with errors is reported.
`,
  );
  console.log(`docs/benchmarks.md: section ${NAME} rewritten`);
}
process.exitCode = bad ? 1 : 0;
