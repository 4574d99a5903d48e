// The far side of the WebSocket benchmark (ws-echo.mjs), every process pinned to
// CPU 1 like the other scenarios' far side:
//   echo     the `ws` echo server (lib/ws-server.mjs, its own Node process)
//   squid    squid (Debian package) with an https_port: an HTTPS proxy, HTTP/1.1 CONNECT
//            over TLS; and a plain http_port, the backend of nghttpx
//   nghttpx  nghttpx --http2-proxy (Debian package nghttp2-proxy) on TLS (ALPN h2): an
//            HTTP/2 CONNECT proxy that passes each CONNECT to squid's plain port, as in the
//            peer tests (test/peers/harness.ts); frontend windows raised to 16 MiB per stream
//            and 64 MiB per connection (burrow's own windows, and those of the test h2 proxy
//            the tunnel benchmarks use), so that 64 KiB messages are not window-bound
// The daemons' configurations, logs and the throwaway certificate (burrow's
// dist/testing PKI) live in a fresh temporary directory, removed at the end;
// nothing of the system's own configuration is read or touched. Each daemon is
// a child of this process, stopped by pid (SIGTERM, then SIGKILL to its
// process tree found through /proc) when the benchmark ends.
// A missing squid or nghttpx leaves its paths out (reported as such).
import { spawn, spawnSync, fork } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pinChild, trackChild } from './runner.mjs';

const TICK_US = 1e6 / 100; // /proc/<pid>/stat counts in clock ticks (USER_HZ = 100 on Linux)
const SBIN = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function findBinary(name) {
  for (const d of SBIN) if (existsSync(join(d, name))) return join(d, name);
  return undefined;
}

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // state ppid ... utime(12) stime(13) cutime cstime ... starttime(20)
    return { ppid: Number(rest[1]), utime: Number(rest[11]), stime: Number(rest[12]), start: rest[19] };
  } catch {
    return undefined;
  }
}

/** `root` and its descendants (pids), from /proc. */
function processTree(root) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (!s) continue;
    const l = children.get(s.ppid) ?? [];
    l.push(Number(name));
    children.set(s.ppid, l);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]) ?? []));
  return out.filter((p) => readStat(p) !== undefined);
}

/** CPU (µs) of a process tree so far (descendants that exited are not counted). */
function treeCpuUs(pid) {
  let t = 0;
  for (const p of processTree(pid)) {
    const s = readStat(p);
    if (s) t += (s.utime + s.stime) * TICK_US;
  }
  return t;
}

function pinTree(pid, cpu) {
  for (const p of processTree(pid)) pinChild({ pid: p }, cpu);
}

async function freePorts(n) {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function tryConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      s.removeAllListeners();
      s.on('error', () => undefined);
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function waitAccepting(d, ports) {
  for (const port of ports) {
    let ok = false;
    for (let i = 0; i < 200 && !ok; i++) {
      if (d.exited) throw new Error(`${d.name} exited (${d.exited}) before accepting on 127.0.0.1:${port}; see ${d.log}`);
      ok = await tryConnect(port);
      if (!ok) await new Promise((r) => setTimeout(r, 50));
    }
    if (!ok) throw new Error(`${d.name} did not accept connections on 127.0.0.1:${port} in 10 s; see ${d.log}`);
  }
}

function startDaemon(name, cmd, args, dir) {
  const log = join(dir, `${name}.out`);
  const fd = openSync(log, 'a');
  let child;
  try {
    child = trackChild(spawn(cmd, args, { cwd: dir, stdio: ['ignore', fd, fd], env: { PATH: SBIN.join(':'), LANG: 'C', TZ: 'UTC' } }));
  } finally {
    closeSync(fd);
  }
  const d = { name, child, pid: child.pid, log, exited: undefined };
  child.on('exit', (code, sig) => (d.exited = sig ? `signal ${sig}` : `exit code ${code}`));
  child.on('error', (e) => (d.exited = `spawn error ${e.message}`));
  return d;
}

async function stopDaemon(d) {
  if (!d || d.exited) return;
  const tree = processTree(d.pid);
  try {
    process.kill(d.pid, 'SIGTERM');
  } catch {
    // gone
  }
  for (let i = 0; i < 60 && tree.some((p) => readStat(p) !== undefined); i++) await new Promise((r) => setTimeout(r, 50));
  for (const p of tree) {
    if (readStat(p) === undefined) continue;
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

function versionOf(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '(unknown)';
}

function passwdEntry(name) {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const f = r.stdout.trim().split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

function squidConfig(dir, p, originPort, user) {
  return `# Private squid instance of burrow's WebSocket benchmark.
http_port 127.0.0.1:${p.squid} name=plain
https_port 127.0.0.1:${p.squidTls} name=tls tls-cert=${dir}/server.pem tls-key=${dir}/server.key
visible_hostname burrow-bench
${user ? `cache_effective_user ${user}` : ''}
pid_filename ${dir}/squid.pid
cache_log ${dir}/cache.log
access_log none
cache_store_log none
netdb_filename none
coredump_dir ${dir}
pinger_enable off
cache deny all
cache_mem 8 MB
shutdown_lifetime 0 seconds
acl SSL_ports port ${originPort}
acl Safe_ports port ${originPort}
acl to_loopback dst 127.0.0.0/8
http_access deny !to_loopback
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
http_access allow localhost
http_access deny all
`;
}

function nghttpxConfig(dir, p) {
  return `# Private nghttpx instance of burrow's WebSocket benchmark: an HTTP/2 forward proxy, squid as its backend.
frontend=127.0.0.1,${p.nghttpx}
backend=127.0.0.1,${p.squid}
http2-proxy=yes
workers=1
frontend-http2-window-size=16777216
frontend-http2-connection-window-size=67108864
private-key-file=${dir}/server.key
certificate-file=${dir}/server.pem
no-ocsp=yes
pid-file=${dir}/nghttpx.pid
errorlog-file=${dir}/nghttpx-error.log
`;
}

/**
 * Starts the far side. Resolves with { ports: { echo, squidTls?, nghttpx? }, ca, versions,
 * missing: { squid?, nghttpx? } (why a path cannot run), stats() -> { cpuUs, echo: {...} }, close() }.
 */
export async function startWsFarSide({ proxies = true } = {}) {
  const t = await import('../../dist/testing/index.js');
  const pki = t.createTestPki();

  const echo = trackChild(fork(new URL('./ws-server.mjs', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  pinChild(echo, 1);
  let seq = 0;
  const pending = new Map();
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the echo server did not start in time')), 30_000);
    echo.once('exit', (code) => reject(new Error(`the echo server exited early (${code})`)));
    echo.on('message', (m) => {
      if (m?.type === 'ready') {
        clearTimeout(timer);
        resolve(m);
      } else if (m?.id !== undefined && pending.has(m.id)) {
        pending.get(m.id)(m);
        pending.delete(m.id);
      }
    });
  });
  const echoStats = () =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('the echo server did not answer stats'));
      }, 10_000);
      pending.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      echo.send({ type: 'stats', id });
    });

  const ports = { echo: ready.port };
  const versions = {};
  const missing = {};
  const daemons = [];
  let dir;
  if (proxies) {
    const squidBin = findBinary('squid');
    const nghttpxBin = findBinary('nghttpx');
    if (!squidBin) missing.squid = 'squid is not installed (Debian package squid)';
    if (!nghttpxBin) missing.nghttpx = 'nghttpx is not installed (Debian package nghttp2-proxy)';
    if (squidBin) {
      dir = mkdtempSync(join(tmpdir(), 'burrow-ws-bench-'));
      chmodSync(dir, 0o755);
      const [squid, squidTls, nghttpx] = await freePorts(3);
      Object.assign(ports, { squid, squidTls });
      writeFileSync(join(dir, 'server.pem'), pki.server.cert, { mode: 0o644 });
      writeFileSync(join(dir, 'server.key'), pki.server.key, { mode: 0o600 });
      // As root, squid switches to the `proxy` user (the Debian package's), which must own its files.
      const isRoot = process.getuid?.() === 0;
      const proxy = isRoot ? passwdEntry('proxy') : undefined;
      writeFileSync(join(dir, 'squid.conf'), squidConfig(dir, ports, ports.echo, proxy ? 'proxy' : undefined));
      if (proxy) for (const f of ['', 'server.pem', 'server.key', 'squid.conf']) chownSync(join(dir, f), proxy.uid, proxy.gid);
      const sq = startDaemon('squid', squidBin, ['-N', '-f', join(dir, 'squid.conf')], dir);
      daemons.push(sq);
      await waitAccepting(sq, [squid, squidTls]);
      pinTree(sq.pid, 1);
      versions.squid = versionOf(squidBin, ['-v']);
      if (nghttpxBin) {
        ports.nghttpx = nghttpx;
        writeFileSync(join(dir, 'nghttpx.conf'), nghttpxConfig(dir, ports));
        // --conf: nghttpx reads /etc/nghttpx/nghttpx.conf otherwise.
        const nx = startDaemon('nghttpx', nghttpxBin, [`--conf=${join(dir, 'nghttpx.conf')}`], dir);
        daemons.push(nx);
        await waitAccepting(nx, [nghttpx]);
        pinTree(nx.pid, 1);
        versions.nghttpx = versionOf(nghttpxBin, ['--version']);
      }
    } else if (nghttpxBin) missing.nghttpx = 'nghttpx needs squid as its backend (Debian package squid)';
  }

  let closed = false;
  return {
    ports,
    ca: pki.ca,
    versions,
    missing,
    echoPid: echo.pid,
    /** CPU (µs) of every far-side process so far, and the echo server's counters. */
    async stats() {
      const e = await echoStats();
      let cpuUs = e.cpu.user + e.cpu.system;
      const daemonsUs = {};
      for (const d of daemons) {
        daemonsUs[d.name] = treeCpuUs(d.pid);
        cpuUs += daemonsUs[d.name];
      }
      return { cpuUs, echoUs: e.cpu.user + e.cpu.system, daemonsUs, messages: e.messages, bytes: e.bytes, connections: e.connections };
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(daemons.map(stopDaemon));
      await new Promise((resolve) => {
        if (echo.exitCode !== null || echo.signalCode !== null) return resolve();
        const timer = setTimeout(() => echo.kill('SIGKILL'), 3000);
        echo.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        echo.send({ type: 'exit' });
      });
      if (dir && process.env.BENCH_KEEP_PROXY_DIR !== '1') rmSync(dir, { recursive: true, force: true });
    },
  };
}

