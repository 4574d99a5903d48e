// One client run of a request-rate benchmark, in its own process (forked by
// the scenario script). It opens ONE connection, warms it up, then counts the
// requests that complete in a fixed window, and reports over IPC:
//   { type: 'result', requests, elapsedMs, cpu: {user, system} (µs), errors, firstError }
// Around the counted window it sends { type: 'window', edge: 'start' | 'end' } and
// waits for { type: 'go' }, so that the parent can read the server's CPU counter
// while both sides are idle.
//
// argv[2] is a JSON object: { client, protocol: 'h1'|'h2c', port, inflight, warmupMs, durationMs, maxRequests }
//   client: 'burrow-await'    conn.get() + conn.awaitBody(ref)
//           'burrow-replyto'  conn.get(path, headers, { replyTo }) callbacks
//           'undici'          undici Client#request(), body read fully
//           'undici-nb'       the same with { blocking: false } (real HTTP/1.1 pipelining)
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const { client, protocol, port, inflight, warmupMs, durationMs } = cfg;
const maxRequests = cfg.maxRequests ?? 5_000_000;

const EXPECTED = Buffer.from('Hello, World!');
const PATH = '/';
const REQ_HEADERS = { accept: 'text/plain', 'user-agent': 'burrow-bench/1', 'x-request-kind': 'small' };
const EMPTY = Buffer.alloc(0);

// Watchdog: whatever happens, this process ends.
const watchdog = setTimeout(() => {
  console.error(`client ${client}: watchdog fired, exiting`);
  process.exit(4);
}, warmupMs + durationMs + 20_000);
watchdog.unref();
process.on('disconnect', () => process.exit(5));

let errors = 0;
let firstError;
function fail(e) {
  errors++;
  firstError ??= e instanceof Error ? `${e.name}: ${e.code ?? ''} ${e.message}` : String(e);
}
function check(status, body) {
  if (status !== 200 && status !== undefined) fail(new Error(`status ${status}`));
  else if (!EXPECTED.equals(body)) fail(new Error(`bad body (${body.length} bytes)`));
}

// ------------------------------------------------------------------ clients

/** Each client exposes either one() (a promise per request) or start(cb) (callback style). */
async function makeClient() {
  if (client.startsWith('burrow')) {
    // BENCH_BURROW_DIST: another build of burrow (a dist/ directory) to compare with this one.
    const dist = process.env.BENCH_BURROW_DIST ? pathToFileURL(`${process.env.BENCH_BURROW_DIST.replace(/\/$/, '')}/index.js`).href : '../../dist/index.js';
    const { open } = await import(dist);
    const conn = open({ host: '127.0.0.1', port, protocols: [protocol === 'h2c' ? 'http2' : 'http'], retry: 0 });
    const proto = await conn.awaitUp(10_000);
    if (proto !== (protocol === 'h2c' ? 'http2' : 'http')) throw new Error(`negotiated ${proto}`);
    const close = () => conn.close();
    if (client === 'burrow-await') {
      return {
        close,
        async one() {
          const ref = conn.get(PATH, REQ_HEADERS);
          const { body } = await conn.awaitBody(ref);
          check(undefined, body); // awaitBody does not expose the status
        },
      };
    }
    if (client === 'burrow-replyto') {
      return {
        close,
        start(done) {
          let status = 0;
          let body = EMPTY;
          let more;
          conn.get(PATH, REQ_HEADERS, {
            replyTo(m) {
              switch (m.type) {
                case 'response':
                  status = m.status;
                  if (m.fin) done(null, status, EMPTY);
                  break;
                case 'data':
                  if (m.data.length > 0) {
                    if (body.length === 0) body = m.data;
                    else (more ??= [body]).push(m.data);
                  }
                  if (m.fin) done(null, status, more ? Buffer.concat(more) : body);
                  break;
                case 'trailers':
                  done(null, status, more ? Buffer.concat(more) : body);
                  break;
                case 'error':
                  done(m.error);
                  break;
                default:
                  break;
              }
            },
          });
        },
      };
    }
  }
  if (client === 'undici' || client === 'undici-nb') {
    // cfg.undici: 'undici' (undici 7) or 'undici8' (undici 8, an npm alias; needs Node >= 22).
    const { Client } = await import(cfg.undici ?? 'undici');
    const opts = protocol === 'h2c' ? { allowH2: true, useH2c: true, pipelining: inflight } : { pipelining: inflight };
    const c = new Client(`http://127.0.0.1:${port}`, opts);
    const blocking = client === 'undici-nb' ? false : undefined;
    const req = { path: PATH, method: 'GET', headers: REQ_HEADERS, ...(blocking === false ? { blocking } : {}) };
    // The protocol needs no check: the h2c port speaks HTTP/2 only (an HTTP/1.1 request there fails).
    return {
      close: () => c.close(),
      async one() {
        const { statusCode, body } = await c.request(req);
        const chunks = [];
        for await (const chunk of body) chunks.push(chunk);
        check(statusCode, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
      },
    };
  }
  throw new Error(`unknown client ${client}`);
}

// ------------------------------------------------------------------ loops

/** Runs `inflight` request loops until `deadline` (ms, performance.now()); resolves with the count. */
function runFor(c, ms, cap) {
  const deadline = performance.now() + ms;
  let done = 0;
  if (c.one) {
    const loop = async () => {
      while (done < cap && performance.now() < deadline) {
        try {
          await c.one();
        } catch (e) {
          fail(e);
        }
        done++;
      }
    };
    const loops = [];
    for (let i = 0; i < inflight; i++) loops.push(loop());
    return Promise.all(loops).then(() => done);
  }
  return new Promise((resolve) => {
    let active = inflight;
    const next = () => {
      if (done >= cap || performance.now() >= deadline) {
        if (--active === 0) resolve(done);
        return;
      }
      c.start(onDone);
    };
    const onDone = (err, status, body) => {
      done++;
      if (err) fail(err);
      else check(status, body);
      next();
    };
    for (let i = 0; i < inflight; i++) next();
  });
}

function waitGo(edge) {
  return new Promise((resolve) => {
    const onMsg = (m) => {
      if (m?.type === 'go') {
        process.removeListener('message', onMsg);
        resolve();
      }
    };
    process.on('message', onMsg);
    process.send({ type: 'window', edge });
  });
}

try {
  const c = await makeClient();
  await runFor(c, warmupMs, maxRequests);
  const warmErrors = errors;
  errors = 0;
  await waitGo('start');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const requests = await runFor(c, durationMs, maxRequests);
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await waitGo('end');
  await c.close();
  process.send({ type: 'result', requests, elapsedMs, cpu, errors, warmErrors, firstError }, () => process.exit(0));
} catch (e) {
  process.send({ type: 'result', fatal: String(e?.stack ?? e) }, () => process.exit(1));
}
