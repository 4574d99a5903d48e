// One client run of the tunnel benchmarks, in its own process (forked by a
// scenario script). argv[2] is a JSON config:
//   { mode, path, client, ports, ca, ... }
//   mode 'download': one new tunnel, GET /bytes/<bytes> (or `tunnels` tunnels on one
//                    proxy connection, each GET /bytes/<bytes/tunnels>); reports bytes,
//                    wall ms and the process's CPU (µs) from before the connection to the
//                    end of the body.
//   mode 'ttfb':     `warmup` + `samples` sequential new tunnels (new proxy connection,
//                    new inner TLS), GET /; reports each time from the start to the
//                    response head (ms) and the CPU per sample.
//   mode 'rps':      one tunnel, `inflight` loops of GET / for `durationMs` after `warmupMs`.
//   mode 'scale':    one HTTP/2 proxy connection, up to `tunnels` CONNECT tunnels kept
//                    open at once (raw, or `tls` inside), for at most `limitMs`; memory deltas.
// Paths: B1 https proxy -> https origin; B2 h2 proxy -> https origin; B3 SOCKS5 ->
// https origin; B4 https proxy -> https proxy -> https origin (TLS three deep).
// Result: process.send({ type: 'result', ... }) then exit. A watchdog bounds the run.
import { once } from 'node:events';
import { createRequire } from 'node:module';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const { mode, path: P, client, ports, ca } = cfg;
const HOST = '127.0.0.1';
const watchdog = setTimeout(() => {
  console.error(`tunnel-client ${mode}/${P}/${client}: watchdog fired, exiting`);
  process.exit(4);
}, cfg.watchdogMs ?? 120_000);
watchdog.unref();
process.on('disconnect', () => process.exit(5));

const require = createRequire(import.meta.url);
// cfg.undici: which undici package to load ('undici' = undici 7; 'undici8' = undici 8, an npm alias).
const UNDICI = cfg.undici ?? 'undici';
const distUrl = process.env.BENCH_BURROW_DIST ? pathToFileURL(`${process.env.BENCH_BURROW_DIST.replace(/\/$/, '')}/index.js`).href : '../../dist/index.js';
const TLS = { ca }; // one options object: burrow reuses one SecureContext per options object
if (process.env.BENCH_OBSERVE === '1' && client.startsWith('burrow')) {
  // burrow@observed: a subscriber on every channel, so that every message is built and published.
  const dc = await import('node:diagnostics_channel');
  const { CHANNEL_NAMES, TRACING_CHANNEL_NAMES } = await import(distUrl);
  const noop = () => undefined;
  for (const name of CHANNEL_NAMES) dc.subscribe(name, noop);
  for (const name of TRACING_CHANNEL_NAMES) dc.tracingChannel(name).subscribe({ start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop });
}
const ORIGIN_PORT = cfg.originPort ?? ports.originH1;
const ORIGIN_PROTO = cfg.originProtocol ?? 'http'; // 'http2' for B6 h2
const url = (p) => `https://${HOST}:${ORIGIN_PORT}${p}`;

// ------------------------------------------------------------------ burrow

let burrow;
async function burrowMod() {
  burrow ??= await import(distUrl);
  return burrow;
}

const originDest = () => ({ host: HOST, port: ORIGIN_PORT, transport: 'tls', tls: TLS, protocols: [ORIGIN_PROTO] });

/** Opens the connection and the tunnels of path P; resolves with { conn, tunnel } (tunnel undefined for B3). */
async function burrowRoute(opts = {}) {
  const { open } = await burrowMod();
  const base = { host: HOST, retry: 0, transport: 'tls', tls: TLS, ...opts };
  let conn;
  const hops = [];
  if (P === 'B1') {
    conn = open({ ...base, port: ports.https1, protocols: ['http'] });
    hops.push(originDest());
  } else if (P === 'B2') {
    conn = open({ ...base, port: ports.h2, protocols: ['http2'] });
    hops.push(originDest());
  } else if (P === 'B3') {
    conn = open({ ...base, transport: 'tcp', tls: undefined, port: ports.socks, protocols: [{ socks: { host: HOST, port: ORIGIN_PORT, transport: 'tls', tls: TLS, protocols: [ORIGIN_PROTO] } }] });
  } else if (P === 'B4') {
    conn = open({ ...base, port: ports.https1, protocols: ['http'] });
    hops.push({ host: HOST, port: ports.https2, transport: 'tls', tls: TLS, protocols: ['http'] }, originDest());
  } else throw new Error(`unknown path ${P}`);
  await conn.awaitUp(10_000);
  let tunnel;
  for (const dest of hops) tunnel = await burrowConnect(conn, dest, tunnel);
  return { conn, tunnel };
}

async function burrowConnect(conn, dest, tunnel) {
  const ref = conn.connect(dest, undefined, tunnel ? { tunnel } : undefined);
  const r = await conn.await(ref, 10_000);
  if (r.type !== 'response' || r.status !== 200) throw new Error(`CONNECT: ${r.type} ${r.status ?? r.error?.message}`);
  const up = await conn.await(ref, 10_000);
  if (up.type !== 'up') throw new Error(`CONNECT: expected up, got ${up.type} ${up.error?.message ?? ''}`);
  return ref;
}

/** GET on an open route with replyTo; resolves with the body length. */
function burrowGet(conn, tunnel, path, onHead) {
  return new Promise((resolve, reject) => {
    let n = 0;
    conn.get(path, undefined, {
      tunnel,
      replyTo(m) {
        switch (m.type) {
          case 'response':
            onHead?.();
            if (m.status !== 200) reject(new Error(`status ${m.status}`));
            else if (m.fin) resolve(n);
            break;
          case 'data':
            n += m.data.length;
            if (m.fin) resolve(n);
            break;
          case 'trailers':
            resolve(n);
            break;
          case 'error':
            reject(m.error);
            break;
          default:
            break;
        }
      },
    });
  });
}

function viaOf() {
  const h = (port, scheme = 'https') => ({ url: `${scheme}://${HOST}:${port}`, tls: TLS });
  if (P === 'B1') return [h(ports.https1)];
  if (P === 'B2') return [h(ports.h2, 'h2')];
  if (P === 'B3') return [`socks5h://${HOST}:${ports.socks}`];
  if (P === 'B4') return [h(ports.https1), h(ports.https2)];
  throw new Error(`unknown path ${P}`);
}

// ------------------------------------------------------------------ raw primitive

let ctx;
const secureContext = () => (ctx ??= tls.createSecureContext({ ca }));

function tlsOver(socket, alpn = ['http/1.1']) {
  const s = tls.connect({ socket, host: HOST, secureContext: secureContext(), ALPNProtocols: alpn });
  return once(s, 'secureConnect').then(() => s);
}

function tlsTo(port, alpn = ['http/1.1']) {
  const s = tls.connect({ host: HOST, port, secureContext: secureContext(), ALPNProtocols: alpn });
  return once(s, 'secureConnect').then(() => s);
}

/** Reads `n` bytes (SOCKS) or up to the end of a header block (`n` undefined); unshifts the rest. */
function readHead(socket, n) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      const i = n === undefined ? buf.indexOf('\r\n\r\n') : -1;
      const len = n === undefined ? (i < 0 ? -1 : i + 4) : buf.length >= n ? n : -1;
      if (len < 0) return;
      socket.removeListener('data', onData);
      socket.removeListener('error', reject);
      socket.pause();
      const rest = buf.subarray(len);
      if (rest.length) socket.unshift(rest);
      resolve(buf.subarray(0, len));
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.resume(); // a socket paused by an earlier readHead does not resume on 'data' listeners
  });
}

async function rawConnect(socket, port) {
  socket.write(`CONNECT ${HOST}:${port} HTTP/1.1\r\nhost: ${HOST}:${port}\r\n\r\n`);
  const head = (await readHead(socket)).toString('latin1');
  if (!/^HTTP\/1\.[01] 2\d\d/.test(head)) throw new Error(`CONNECT: ${head.split('\r\n', 1)[0]}`);
}

/** Opens the tunnels of P by hand; resolves with { inner, close } (inner: TLS to the origin). */
async function rawRoute(innerAlpn = ['http/1.1']) {
  if (P === 'B1') {
    const outer = await tlsTo(ports.https1);
    await rawConnect(outer, ORIGIN_PORT);
    const inner = await tlsOver(outer, innerAlpn);
    return { inner, close: () => outer.destroy() };
  }
  if (P === 'B4') {
    const outer = await tlsTo(ports.https1);
    await rawConnect(outer, ports.https2);
    const mid = await tlsOver(outer);
    await rawConnect(mid, ORIGIN_PORT);
    const inner = await tlsOver(mid, innerAlpn);
    return { inner, close: () => outer.destroy() };
  }
  if (P === 'B3') {
    const s = net.connect({ host: HOST, port: ports.socks });
    await once(s, 'connect');
    s.write(Buffer.from([5, 1, 0]));
    const g = await readHead(s, 2);
    if (g[0] !== 5 || g[1] !== 0) throw new Error('SOCKS greeting refused');
    s.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, ORIGIN_PORT >> 8, ORIGIN_PORT & 255]));
    const r = await readHead(s, 10);
    if (r[1] !== 0) throw new Error(`SOCKS reply ${r[1]}`);
    const inner = await tlsOver(s);
    return { inner, close: () => s.destroy() };
  }
  if (P === 'B2') {
    const session = await rawH2Session();
    const { inner } = await rawH2Tunnel(session);
    return { inner, close: () => session.destroy() };
  }
  throw new Error(`unknown path ${P}`);
}

const BIG = { initialWindowSize: 16 * 1024 * 1024 };
async function rawH2Session() {
  const session = http2.connect(`https://${HOST}:${ports.h2}`, { secureContext: secureContext(), settings: BIG, maxSessionMemory: 512 });
  session.on('error', () => undefined);
  await once(session, 'connect');
  session.setLocalWindowSize(64 * 1024 * 1024);
  return session;
}

async function rawH2Tunnel(session, { tlsInside = true, port = ORIGIN_PORT } = {}) {
  const stream = session.request({ ':method': 'CONNECT', ':authority': `${HOST}:${port}` }, { endStream: false });
  const [headers] = await once(stream, 'response');
  if (headers[':status'] !== 200) throw new Error(`CONNECT: ${headers[':status']}`);
  if (!tlsInside) return { stream };
  return { stream, inner: await tlsOver(stream) };
}

/** HTTP/1.1 GET by hand on `s` (Content-Length bodies only); resolves with the body length. */
function rawGet(s, path, onHead) {
  return new Promise((resolve, reject) => {
    let head = true;
    let buf = Buffer.alloc(0);
    let left = 0;
    let n = 0;
    const done = (v) => {
      s.removeListener('data', onData);
      s.removeListener('error', reject);
      resolve(v);
    };
    const onData = (d) => {
      if (head) {
        onHead?.();
        onHead = undefined;
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const h = buf.subarray(0, end).toString('latin1');
        if (!h.startsWith('HTTP/1.1 200')) return reject(new Error(h.split('\r\n', 1)[0]));
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(h);
        if (!m) return reject(new Error('no content-length'));
        left = Number(m[1]);
        head = false;
        d = buf.subarray(end + 4);
      }
      n += d.length;
      left -= d.length;
      if (left <= 0) done(n);
    };
    s.on('data', onData);
    s.once('error', reject);
    s.resume();
    s.write(`GET ${path} HTTP/1.1\r\nhost: ${HOST}:${ORIGIN_PORT}\r\n\r\n`);
  });
}

/**
 * The raw primitive with its body read by `for await` through a minimal one-promise-per-chunk
 * queue (no HTTP code besides the head): what async iteration alone costs on top of 'data' events.
 */
async function rawGetAwait(s, path, onHead) {
  const chunks = [];
  let waiter;
  let ended = false;
  let failed;
  const push = (d) => {
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.resolve({ done: false, value: d });
    } else chunks.push(d);
  };
  const finish = () => {
    ended = true;
    if (waiter) waiter.resolve({ done: true, value: undefined });
  };
  const body = {
    [Symbol.asyncIterator]() {
      return this;
    },
    next() {
      const c = chunks.shift();
      if (c) return Promise.resolve({ done: false, value: c });
      if (failed) return Promise.reject(failed);
      if (ended) return Promise.resolve({ done: true, value: undefined });
      return new Promise((resolve, reject) => (waiter = { resolve, reject }));
    },
  };
  let head = true;
  let buf = Buffer.alloc(0);
  let left = 0;
  const onData = (d) => {
    if (head) {
      onHead?.();
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
      left = Number(m?.[1] ?? 0);
      head = false;
      d = buf.subarray(end + 4);
    }
    left -= d.length;
    if (d.length) push(d);
    if (left <= 0) {
      s.removeListener('data', onData);
      finish();
    }
  };
  s.on('data', onData);
  s.once('error', (e) => {
    failed = e;
    waiter?.reject(e);
  });
  s.resume();
  s.write(`GET ${path} HTTP/1.1\r\nhost: ${HOST}:${ORIGIN_PORT}\r\n\r\n`);
  let n = 0;
  for await (const c of body) n += c.length;
  return n;
}

// ------------------------------------------------------------------ peers

function httpsGet(agent, path, onHead) {
  return new Promise((resolve, reject) => {
    const req = https.get(url(path), { agent, ca }, (res) => {
      onHead?.();
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      let n = 0;
      res.on('data', (d) => {
        n += d.length;
      });
      res.once('end', () => resolve(n));
      res.once('error', reject);
    });
    req.once('error', reject);
  });
}

async function undiciGet(dispatcher, path, onHead) {
  const { request } = require(UNDICI);
  const { statusCode, body } = await request(url(path), { dispatcher });
  onHead?.();
  if (statusCode !== 200) throw new Error(`status ${statusCode}`);
  let n = 0;
  for await (const c of body) n += c.length;
  return n;
}

async function undiciAgent(extra = {}) {
  const undici = require(UNDICI);
  if (P === 'B3') return new undici.Socks5ProxyAgent(`socks5://${HOST}:${ports.socks}`, { requestTls: { ca }, ...extra });
  if (P !== 'B1') throw new Error(`undici has no agent for ${P}`);
  return new undici.ProxyAgent({ uri: `https://${HOST}:${ports.https1}`, proxyTls: { ca }, requestTls: { ca }, ...extra });
}

async function peerAgent(extra = {}) {
  if (client === 'hpa') {
    const { HttpsProxyAgent } = await import('https-proxy-agent');
    return new HttpsProxyAgent(`https://${HOST}:${ports.https1}`, { ca, ...extra });
  }
  if (client === 'agent') {
    // burrow's ChainAgent: any chain of path P (the peer above has B1 only).
    const { ChainAgent } = await burrowMod();
    return new ChainAgent({ via: viaOf(), ...extra });
  }
  if (client === 'spa') {
    const { SocksProxyAgent } = await import('socks-proxy-agent');
    return new SocksProxyAgent(`socks5h://${HOST}:${ports.socks}`);
  }
  if (client === 'h2w') {
    const h2w = require('http2-wrapper');
    return new h2w.proxies.HttpsOverHttp2({ proxyOptions: { url: `https://${HOST}:${ports.h2}`, ca } });
  }
  throw new Error(`unknown peer ${client}`);
}

// ------------------------------------------------------------------ fetch() (undici's, the package of cfg.undici)

/**
 * The dispatcher of a fetch client: burrow's ChainDispatcher (`fetch-chain`), undici's ProxyAgent
 * (`fetch-proxyagent`, B1 only), or undici's Agent whose `connect` returns a tunnel built by hand
 * (`fetch-socket`, B1/B4: undici's HTTP layers over the best tunnel socket there is — the other design).
 */
async function fetchDispatcher(extra = {}) {
  const undici = require(UNDICI);
  const h2 = ORIGIN_PROTO === 'http2';
  if (client === 'fetch-chain') {
    const { ChainDispatcher } = await burrowMod();
    return new ChainDispatcher({ via: viaOf(), tls: TLS, protocols: [ORIGIN_PROTO] });
  }
  if (client === 'fetch-proxyagent') {
    if (P !== 'B1') throw new Error(`undici's ProxyAgent has no route for ${P}`);
    return new undici.ProxyAgent({ uri: `https://${HOST}:${ports.https1}`, proxyTls: { ca }, requestTls: { ca }, ...(h2 ? { allowH2: true } : {}), ...extra });
  }
  if (client === 'fetch-socket') {
    return new undici.Agent({
      ...(h2 ? { allowH2: true } : {}),
      ...extra,
      connect: (_opts, cb) => {
        rawRoute(h2 ? ['h2', 'http/1.1'] : ['http/1.1']).then(
          ({ inner, close }) => {
            inner.once('close', close);
            cb(null, inner);
          },
          (e) => cb(e, null),
        );
      },
    });
  }
  throw new Error(`unknown fetch client ${client}`);
}

async function fetchGet(dispatcher, path, onHead) {
  const res = await require(UNDICI).fetch(url(path), { dispatcher });
  onHead?.();
  if (res.status !== 200) throw new Error(`status ${res.status}`);
  let n = 0;
  for await (const c of res.body) n += c.length;
  return n;
}

// ------------------------------------------------------------------ one fetch on a NEW tunnel

/** New tunnel (new proxy connection), GET path; resolves with body bytes. `onHead` at the response head. */
async function fetchNew(path, onHead) {
  switch (client) {
    case 'burrow': {
      const { conn, tunnel } = await burrowRoute();
      try {
        return await burrowGet(conn, tunnel, path, onHead);
      } finally {
        conn.close();
      }
    }
    case 'burrow-request': {
      const { request } = await burrowMod();
      const res = await request(url(path), { via: viaOf(), tls: TLS, protocols: [ORIGIN_PROTO], pool: false });
      onHead?.();
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      let n = 0;
      for await (const c of res.body) n += c.length;
      return n;
    }
    case 'raw':
    case 'raw-await': {
      const { inner, close } = await rawRoute();
      try {
        return await (client === 'raw' ? rawGet : rawGetAwait)(inner, path, onHead);
      } finally {
        inner.destroy();
        close();
      }
    }
    case 'undici': {
      const agent = await undiciAgent();
      try {
        return await undiciGet(agent, path, onHead);
      } finally {
        await agent.close();
      }
    }
    case 'fetch-chain':
    case 'fetch-proxyagent':
    case 'fetch-socket': {
      const d = await fetchDispatcher();
      try {
        return await fetchGet(d, path, onHead);
      } finally {
        await d.close();
      }
    }
    case 'hpa':
    case 'agent':
    case 'spa':
    case 'h2w': {
      const agent = await peerAgent();
      try {
        return await httpsGet(agent, path, onHead);
      } finally {
        agent.destroy();
        if (client === 'h2w') require('http2-wrapper').globalAgent.destroy(); // drop the cached proxy session
      }
    }
    default:
      throw new Error(`unknown client ${client}`);
  }
}

/** `k` tunnels on ONE HTTP/2 proxy connection (B2 x8), each GET /bytes/(total/k). */
async function fetchMany(k, total) {
  const each = Math.floor(total / k);
  const path = `/bytes/${each}`;
  if (client === 'burrow') {
    const { conn } = await burrowRoute();
    try {
      const tunnels = await Promise.all(Array.from({ length: k }, () => burrowConnect(conn, originDest())));
      const ns = await Promise.all(tunnels.map((t) => burrowGet(conn, t, path)));
      return ns.reduce((a, b) => a + b, 0);
    } finally {
      conn.close();
    }
  }
  if (client === 'raw') {
    const session = await rawH2Session();
    try {
      const ts = await Promise.all(Array.from({ length: k }, () => rawH2Tunnel(session)));
      const ns = await Promise.all(ts.map((t) => rawGet(t.inner, path)));
      for (const t of ts) t.inner.destroy();
      return ns.reduce((a, b) => a + b, 0);
    } finally {
      session.destroy();
    }
  }
  if (client === 'h2w') {
    const agent = await peerAgent(); // one proxy session (http2-wrapper's global agent), k CONNECT streams
    try {
      const ns = await Promise.all(Array.from({ length: k }, () => httpsGet(agent, path)));
      return ns.reduce((a, b) => a + b, 0);
    } finally {
      agent.destroy();
      require('http2-wrapper').globalAgent.destroy();
    }
  }
  throw new Error(`no ×${k} variant for ${client}`);
}

// ------------------------------------------------------------------ B6: requests/s on one tunnel

async function rpsClient() {
  if (cfg.feature !== undefined) {
    const { featureClient } = await import('./features-client.mjs');
    return featureClient({ client, feature: cfg.feature, url, HOST, ports, ca, TLS, viaOf, burrowMod, UNDICI, originProtocol: ORIGIN_PROTO });
  }
  if (client === 'burrow') {
    const { conn, tunnel } = await burrowRoute();
    return { one: () => burrowGet(conn, tunnel, '/'), close: () => conn.close() };
  }
  if (client === 'burrow-request') {
    const { request, Pool } = await burrowMod();
    const pool = new Pool();
    const init = { via: viaOf(), tls: TLS, protocols: [ORIGIN_PROTO], pool };
    const u = url('/');
    return {
      async one() {
        const res = await request(u, init);
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        let n = 0;
        for await (const c of res.body) n += c.length;
        return n;
      },
      close: () => pool.close?.(),
    };
  }
  if (client === 'hpa' || client === 'agent') {
    // https.get on a keep-alive agent with one socket: every request on the same tunnel.
    const agent = await peerAgent({ keepAlive: true, maxSockets: 1 });
    return { one: () => httpsGet(agent, '/'), close: () => agent.destroy() };
  }
  if (client === 'undici') {
    const h2 = ORIGIN_PROTO === 'http2';
    const agent = await undiciAgent(h2 ? { allowH2: true, connections: 1, pipelining: cfg.inflight } : { connections: 1, pipelining: 1 });
    return { one: () => undiciGet(agent, '/'), close: () => agent.close() };
  }
  if (client.startsWith('fetch-')) {
    const h2 = ORIGIN_PROTO === 'http2';
    const d = await fetchDispatcher(client === 'fetch-chain' ? {} : h2 ? { connections: 1, pipelining: cfg.inflight } : { connections: 1, pipelining: 1 });
    return { one: () => fetchGet(d, '/'), close: () => d.close() };
  }
  throw new Error(`unknown rps client ${client}`);
}

async function runFor(c, ms, inflight) {
  const deadline = performance.now() + ms;
  let done = 0;
  let errors = 0;
  let firstError;
  const loop = async () => {
    while (performance.now() < deadline) {
      try {
        const n = await c.one();
        if (n !== (cfg.expectBytes ?? 5)) throw new Error(`bad body length ${n}`);
      } catch (e) {
        errors++;
        firstError ??= String(e?.message ?? e);
        if (errors > 100) throw e;
      }
      done++;
    }
  };
  await Promise.all(Array.from({ length: inflight }, loop));
  return { done, errors, firstError };
}

// ------------------------------------------------------------------ B7: many tunnels on one h2 connection

async function scale() {
  const { tunnels: want, limitMs, tlsInside } = cfg;
  const port = tlsInside ? cfg.echoPorts.echoTls : cfg.echoPorts.echoTcp;
  const batch = cfg.batch ?? 200;
  const gc = globalThis.gc ?? (() => undefined);
  let open1; // opens one tunnel; resolves when it is up
  let closeAll;
  if (client === 'burrow') {
    const { open } = await burrowMod();
    const conn = open({ host: HOST, port: ports.h2, transport: 'tls', tls: TLS, protocols: ['http2'], retry: 0, http2: { maxSessionMemory: 1024 } });
    await conn.awaitUp(10_000);
    // The echo servers run in another process with a PKI of their own: trust its CA for the inner TLS.
    const dest = tlsInside ? { host: HOST, port, transport: 'tls', tls: { ca: cfg.echoCa }, protocols: ['raw'] } : { host: HOST, port, transport: 'tcp', protocols: ['raw'] };
    open1 = () => burrowConnect(conn, dest);
    closeAll = () => conn.close();
  } else if (client === 'raw') {
    const session = http2.connect(`https://${HOST}:${ports.h2}`, { secureContext: secureContext(), settings: BIG, maxSessionMemory: 1024 });
    session.on('error', () => undefined);
    await once(session, 'connect');
    session.setLocalWindowSize(64 * 1024 * 1024);
    const echoCtx = tls.createSecureContext({ ca: cfg.echoCa });
    open1 = async () => {
      const t = await rawH2Tunnel(session, { tlsInside: false, port });
      if (!tlsInside) return t;
      const s = tls.connect({ socket: t.stream, host: HOST, secureContext: echoCtx });
      await once(s, 'secureConnect');
      return { stream: t.stream, inner: s };
    };
    closeAll = () => session.destroy();
  } else throw new Error(`unknown scale client ${client}`);
  // Warm the code paths with a few tunnels that stay open, then measure the baseline.
  const keep = [];
  for (let i = 0; i < 5; i++) keep.push(await open1());
  gc();
  gc();
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let opened = 0;
  let failed = 0;
  let firstError;
  while (opened < want && performance.now() - t0 < limitMs) {
    const n = Math.min(batch, want - opened);
    const rs = await Promise.allSettled(Array.from({ length: n }, () => open1()));
    for (const r of rs) {
      if (r.status === 'fulfilled') {
        keep.push(r.value);
        opened++;
      } else {
        failed++;
        firstError ??= String(r.reason?.message ?? r.reason);
      }
    }
    if (failed > 50) break;
  }
  const setupMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  gc();
  gc();
  const m1 = process.memoryUsage();
  const result = {
    opened,
    failed,
    firstError,
    setupMs,
    cpuUs: cpu.user + cpu.system,
    rssDelta: m1.rss - m0.rss,
    heapDelta: m1.heapUsed - m0.heapUsed,
    externalDelta: m1.external + m1.arrayBuffers - (m0.external + m0.arrayBuffers),
    rss1: m1.rss,
    timedOut: opened < want && failed <= 50,
  };
  closeAll();
  return result;
}

// ------------------------------------------------------------------ main

function send(msg) {
  process.send(msg, () => process.exit(msg.fatal ? 1 : 0));
}

try {
  if (mode === 'download') {
    const k = cfg.tunnels ?? 1;
    // Warm the module graph (imports, no connection) so that the counted part is the transfer.
    if (client.startsWith('burrow') || client === 'fetch-chain' || client === 'agent') await burrowMod();
    if (client === 'undici' || client.startsWith('fetch-')) require(UNDICI);
    if (client === 'h2w') require('http2-wrapper');
    if (client === 'hpa') await import('https-proxy-agent');
    if (client === 'spa') await import('socks-proxy-agent');
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const bytes = k > 1 ? await fetchMany(k, cfg.bytes) : await fetchNew(`/bytes/${cfg.bytes}`);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const expected = k > 1 ? Math.floor(cfg.bytes / k) * k : cfg.bytes;
    if (bytes !== expected) throw new Error(`got ${bytes} bytes, expected ${expected}`);
    send({ type: 'result', bytes, ms, cpuUs: cpu.user + cpu.system, userUs: cpu.user, sysUs: cpu.system, wholeCpuUs: process.cpuUsage().user + process.cpuUsage().system });
  } else if (mode === 'ttfb') {
    const samples = [];
    const cpus = [];
    for (let i = 0; i < cfg.warmup + cfg.samples; i++) {
      let th = 0;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const n = await fetchNew('/', () => {
        th = performance.now();
      });
      const c = process.cpuUsage(c0);
      if (n !== 5) throw new Error(`bad body length ${n}`);
      if (i >= cfg.warmup) {
        samples.push(th - t0);
        cpus.push((c.user + c.system) / 1000);
      }
      await new Promise((r) => setImmediate(r));
    }
    send({ type: 'result', samples, cpus, wholeCpuUs: process.cpuUsage().user + process.cpuUsage().system });
  } else if (mode === 'rps') {
    const c = await rpsClient();
    const w = await runFor(c, cfg.warmupMs, cfg.inflight);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await runFor(c, cfg.durationMs, cfg.inflight);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    await c.close();
    send({ type: 'result', requests: r.done, ms, cpuUs: cpu.user + cpu.system, wholeCpuUs: process.cpuUsage().user + process.cpuUsage().system, errors: r.errors + w.errors, firstError: r.firstError ?? w.firstError });
  } else if (mode === 'scale') {
    send({ type: 'result', ...(await scale()), wholeCpuUs: process.cpuUsage().user + process.cpuUsage().system });
  } else throw new Error(`unknown mode ${mode}`);
} catch (e) {
  send({ type: 'result', fatal: String(e?.stack ?? e) });
}
