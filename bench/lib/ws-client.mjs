// One client run of the WebSocket echo benchmark (ws-echo.mjs), in its own
// process. argv[2] is a JSON config:
//   { client, path, size, inflight, warmupMs, durationMs, ports, ca, watchdogMs }
//   client  'burrow'       burrow's `WebSocket` (WHATWG interface), `binaryType = 'nodebuffer'`, `message` events
//           'burrow-iter'  the same, messages read with its async iterator (`for await`)
//           'burrow-low'   the low-level API: `open` (+ `connect` through a proxy), `conn.wsUpgrade`
//                          with `replyTo`, `conn.wsSend`
//           'ws'           the `ws` npm package (no native add-ons), `message` events; through squid its
//                          `createConnection` option with a CONNECT written here (native TLSSocket handed on)
//           'global'       Node's global `WebSocket` (undici's), `binaryType = 'arraybuffer'`; through squid
//                          undici's `ProxyAgent` (npm undici 7) as its `dispatcher`
//   path    'direct' (ws://127.0.0.1:echo), 'squid' (https:// proxy: squid's https_port, HTTP/1.1 CONNECT,
//           then ws:// inside), 'h2' (h2:// proxy: nghttpx, HTTP/2 CONNECT, then ws:// inside; burrow only)
// The client opens one WebSocket (permessage-deflate not offered), then keeps
// `inflight` binary messages of `size` bytes in flight: each echo received sends
// the next. A phase runs until its deadline, then stops sending and waits for the
// messages still in flight, so every message counted was sent and echoed within
// the phase. A warm-up phase, then the counted one; around it the client sends
// { type: 'window', edge: 'start' | 'end' } and waits for { type: 'go' } (the parent
// reads the far side's CPU while both sides are idle). Client CPU is
// process.cpuUsage() (all threads) over the counted phase. Every echo's length is
// checked, and the bytes of one echo in 256.
// Result: { type: 'result', messages, bytes, elapsedMs, cpuUs, errors, firstError } or { fatal }.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';

process.env.WS_NO_BUFFER_UTIL = '1';
process.env.WS_NO_UTF_8_VALIDATE = '1';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const { client, path: P, size, inflight, warmupMs, durationMs, ports, ca } = cfg;
const HOST = '127.0.0.1';
const URL_ = `ws://${HOST}:${ports.echo}/`;
const watchdog = setTimeout(() => {
  console.error(`ws-client ${client}/${P}/${size}: watchdog fired, exiting`);
  process.exit(4);
}, cfg.watchdogMs ?? 120_000);
watchdog.unref();
process.on('disconnect', () => process.exit(5));

const require = createRequire(import.meta.url);
const distUrl = process.env.BENCH_BURROW_DIST ? pathToFileURL(`${process.env.BENCH_BURROW_DIST.replace(/\/$/, '')}/index.js`).href : '../../dist/index.js';
const TLS = { ca }; // one options object (burrow reuses one SecureContext per options object)
const PAYLOAD = randomBytes(size);

let errors = 0;
let firstError;
function fail(e) {
  errors++;
  firstError ??= e instanceof Error ? `${e.name}: ${e.code ?? ''} ${e.message}` : String(e?.message ?? e);
}

let received = 0;
/** An echo arrived (its bytes as a Buffer or an ArrayBuffer). */
function echoed(data) {
  const n = data.byteLength;
  if (n !== size) fail(new Error(`an echo of ${n} bytes, expected ${size}`));
  else if ((received & 255) === 0 && !PAYLOAD.equals(Buffer.isBuffer(data) ? data : Buffer.from(data))) fail(new Error('an echo with other bytes'));
  received++;
  onEcho();
}
let onEcho = () => undefined;

function viaUrl() {
  if (P === 'squid') return `https://${HOST}:${ports.squidTls}`;
  if (P === 'h2') return `h2://${HOST}:${ports.nghttpx}`;
  return undefined;
}

/** A WHATWG-style WebSocket (burrow's or the global one): resolves when open. */
function opened(ws) {
  return new Promise((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', (ev) => reject(ev.error ?? new Error(ev.message ?? 'WebSocket error')), { once: true });
  });
}
function closedEv(ws) {
  return new Promise((resolve) => {
    if (ws.readyState === 3) return resolve();
    ws.addEventListener('close', () => resolve(), { once: true });
    ws.close(1000);
  });
}

/** The CONNECT of the `ws` client through squid: TLS to the proxy, CONNECT, the TLSSocket handed on. */
function connectViaSquid(_opts, cb) {
  const s = tls.connect({ host: HOST, port: ports.squidTls, ca });
  let head = Buffer.alloc(0);
  let done = false;
  const finish = (err) => {
    if (done) return;
    done = true;
    s.removeListener('data', onData);
    if (err) {
      s.destroy();
      cb(err);
    } else cb(null, s);
  };
  const onData = (d) => {
    head = Buffer.concat([head, d]);
    const i = head.indexOf('\r\n\r\n');
    if (i < 0) return;
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1', 0, i));
    if (!m || m[1] !== '200') return finish(new Error(`CONNECT: ${head.toString('latin1', 0, i).split('\r\n')[0]}`));
    // The server speaks after the upgrade request only: nothing can follow the proxy's answer yet.
    if (head.length > i + 4) return finish(new Error('CONNECT: bytes after the proxy answer'));
    finish();
  };
  s.on('data', onData);
  s.once('secureConnect', () => s.write(`CONNECT ${HOST}:${ports.echo} HTTP/1.1\r\nHost: ${HOST}:${ports.echo}\r\n\r\n`));
  s.once('error', (e) => finish(e));
}

/** Opens the client's WebSocket; resolves with { send(), close() }. */
async function makeClient() {
  if (client === 'burrow' || client === 'burrow-iter') {
    const { WebSocket } = await import(distUrl);
    const via = viaUrl();
    const ws = new WebSocket(URL_, { perMessageDeflate: false, ...(via ? { via: [{ url: via, tls: TLS }] } : {}) });
    ws.binaryType = 'nodebuffer';
    if (client === 'burrow') ws.addEventListener('message', (ev) => echoed(ev.data));
    await opened(ws);
    let reading;
    if (client === 'burrow-iter') {
      reading = (async () => {
        for await (const m of ws) echoed(m);
      })().catch(fail);
    }
    return {
      send: () => ws.send(PAYLOAD),
      close: async () => {
        await closedEv(ws);
        await reading;
      },
    };
  }
  if (client === 'burrow-low') {
    const { open } = await import(distUrl);
    const echoDest = { host: HOST, port: ports.echo, transport: 'tcp', protocols: ['http'] };
    let conn;
    let tunnel;
    if (P === 'direct') conn = open({ ...echoDest, retry: 0 });
    else conn = open({ host: HOST, port: P === 'squid' ? ports.squidTls : ports.nghttpx, transport: 'tls', tls: TLS, protocols: [P === 'squid' ? 'http' : 'http2'], retry: 0 });
    await conn.awaitUp(10_000);
    if (P !== 'direct') {
      tunnel = conn.connect(echoDest);
      const r = await conn.await(tunnel, 10_000);
      if (r.type !== 'response' || r.status !== 200) throw new Error(`CONNECT: ${r.type} ${r.status ?? r.error?.message}`);
      const up = await conn.await(tunnel, 10_000);
      if (up.type !== 'up') throw new Error(`CONNECT: expected up, got ${up.type} ${up.error?.message ?? ''}`);
    }
    let up;
    const isUp = new Promise((resolve, reject) => (up = { resolve, reject }));
    let ended;
    const isEnded = new Promise((resolve) => (ended = resolve));
    const ref = conn.wsUpgrade('/', undefined, {
      ...(tunnel ? { tunnel } : {}),
      compress: false,
      replyTo(m) {
        switch (m.type) {
          case 'ws':
            if (m.frame.type === 'binary') echoed(m.frame.data);
            else if (m.frame.type === 'close') ended();
            break;
          case 'upgrade':
            up.resolve();
            break;
          case 'error':
            up.reject(m.error);
            fail(m.error);
            ended();
            break;
          default:
        }
      },
    });
    await isUp;
    const frame = { type: 'binary', data: PAYLOAD };
    return {
      send: () => {
        conn.wsSend(ref, frame).then(undefined, fail);
      },
      close: async () => {
        await conn.wsSend(ref, { type: 'close', code: 1000 }).catch(() => undefined);
        await Promise.race([isEnded, new Promise((r) => setTimeout(r, 2000))]);
        await conn.close();
      },
    };
  }
  if (client === 'ws') {
    const { default: WebSocket } = await import('ws');
    if (P === 'h2') throw new Error('ws cannot use an HTTP/2 CONNECT proxy');
    const ws = new WebSocket(URL_, { perMessageDeflate: false, ...(P === 'squid' ? { createConnection: connectViaSquid } : {}) });
    ws.on('message', (data) => echoed(data));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.on('error', fail);
    return {
      send: () => ws.send(PAYLOAD),
      close: () =>
        new Promise((resolve) => {
          ws.once('close', resolve);
          ws.close(1000);
        }),
    };
  }
  if (client === 'global') {
    if (typeof globalThis.WebSocket !== 'function') throw new Error(`Node ${process.version} has no global WebSocket (Node 20: --experimental-websocket)`);
    if (P === 'h2') throw new Error("Node's WebSocket cannot use an HTTP/2 CONNECT proxy");
    let init;
    if (P === 'squid') {
      const { ProxyAgent } = require('undici');
      init = { dispatcher: new ProxyAgent({ uri: viaUrl(), proxyTls: { ca } }) };
    }
    const ws = new globalThis.WebSocket(URL_, init);
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', (ev) => echoed(ev.data));
    await opened(ws);
    return { send: () => ws.send(PAYLOAD), close: () => closedEv(ws) };
  }
  throw new Error(`unknown client ${client}`);
}

/** Keeps `inflight` messages in flight until `ms` have passed, then waits for the rest; resolves with the count. */
function phase(c, ms) {
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + ms;
    const start = received;
    let sent = 0;
    let stopping = false;
    let checks = 0;
    const limit = setTimeout(() => reject(new Error(`${sent - (received - start)} echoes missing ${ms + 20_000} ms after the phase started`)), ms + 20_000);
    onEcho = () => {
      const got = received - start;
      if (!stopping) {
        // performance.now() once every 16 echoes: the clock is not what is measured.
        if ((++checks & 15) !== 0 || performance.now() < deadline) {
          sent++;
          c.send();
          return;
        }
        stopping = true;
      }
      if (got >= sent) {
        clearTimeout(limit);
        onEcho = () => undefined;
        resolve(got);
      }
    };
    for (let i = 0; i < inflight; i++) {
      sent++;
      c.send();
    }
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
  await phase(c, warmupMs);
  const warmErrors = errors;
  errors = 0;
  await waitGo('start');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const messages = await phase(c, durationMs);
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await waitGo('end');
  await c.close();
  process.send({ type: 'result', messages, bytes: messages * size, elapsedMs, cpuUs: cpu.user + cpu.system, errors, warmErrors, firstError, wholeCpuUs: process.cpuUsage().user + process.cpuUsage().system }, () => process.exit(0));
} catch (e) {
  process.send({ type: 'result', fatal: String(e?.stack ?? e) }, () => process.exit(1));
}
