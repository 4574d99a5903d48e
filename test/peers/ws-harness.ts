/**
 * The peers of the WebSocket tests (test/peers/websocket.test.ts): the `ws`
 * package's server (test/peers/ws-origin.ts, run as a child process), nginx
 * proxying upgrades to it, nghttpx as an RFC 8441 reverse proxy in front of
 * it, and the proxies to reach them through (squid, nghttpx's HTTP/2 CONNECT,
 * dante, stunnel). Built from test/peers/harness.ts's pieces, with its rules:
 * private configurations in a fresh directory, loopback ports, a missing
 * binary is a failure naming its Debian package, `stop()` (or the exit hook)
 * stops exactly what was started.
 */
import { chownSync, mkdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createTestPki } from '../../src/testing/pki.js';
import {
  checkRequirements,
  danteConfig,
  freePorts,
  nghttpxConfig,
  openSession,
  passwdEntry,
  squidConfig,
  START_ATTEMPTS,
  stunnelConfig,
  versionOf,
  waitUntilAccepting,
  type Binaries,
} from './harness.js';

/** Loopback ports of the WebSocket peers. */
export interface WsPeerPorts {
  /** The `ws` origin (test/peers/ws-origin.ts), plain HTTP/1.1. */
  readonly wsPlain: number;
  /** The `ws` origin over TLS (https, ALPN http/1.1). */
  readonly wsTls: number;
  /** nginx proxying WebSocket upgrades to `wsPlain`: plain. */
  readonly nginxWs: number;
  /** The same over TLS (ALPN http/1.1). */
  readonly nginxWss: number;
  /** The same over TLS with ALPN h2 and http/1.1: nginx 1.22's HTTP/2 has no extended CONNECT (RFC 8441). */
  readonly nginxWssH2: number;
  /** nghttpx as a reverse proxy, TLS frontend (ALPN h2): RFC 8441 in front, HTTP/1.1 upgrades to `wsPlain` behind. */
  readonly nghttpxWs: number;
  /** squid: HTTP/1.1 CONNECT, plain. */
  readonly squid: number;
  /** squid: HTTP/1.1 CONNECT over TLS. */
  readonly squidTls: number;
  /** nghttpx: HTTP/2 CONNECT over TLS, squid behind. */
  readonly nghttpxTls: number;
  /** nghttpx: HTTP/2 CONNECT over cleartext (h2c prior knowledge), squid behind. */
  readonly nghttpxH2c: number;
  /** dante: SOCKS5, method none. */
  readonly dante: number;
  /** stunnel: TLS in front of dante. */
  readonly stunnelSocks: number;
}

/** The running WebSocket peers. */
export interface WsPeers {
  /** The throwaway CA (PEM) every TLS peer's certificate chains to (valid for localhost, 127.0.0.1, ::1). */
  readonly ca: string;
  readonly ports: WsPeerPorts;
  readonly dir: string;
  /** Version lines of the peers as installed (`ws`: the npm package). */
  readonly versions: Readonly<Record<string, string>>;
  /**
   * The first line of nghttpx's (reverse proxy) access log that `match`
   * accepts, once written (the file is watched; rejects after `ms`). Lines:
   * `$alpn $protocol_version $method $path $status $http_x_burrow_case`,
   * written when the backend's answer arrives.
   */
  nghttpxWsLogLine(match: (line: string) => boolean, ms: number): Promise<string>;
  /**
   * The same for nginx's access log: `$server_port $server_protocol "$request"
   * $status "$http_upgrade" $http_x_burrow_case`, written when the request
   * ends (for an upgrade: when the proxied connection is over).
   */
  nginxLogLine(match: (line: string) => boolean, ms: number): Promise<string>;
  stop(): Promise<void>;
}

const WS_BINARIES = ['nginx', 'squid', 'nghttpx', 'danted', 'stunnel', 'getent'] as const;

function nginxWsConfig(dir: string, p: WsPeerPorts): string {
  const n = join(dir, 'nginx');
  return `# Private nginx instance of the burrow WebSocket peer tests: an HTTP/1.1 WebSocket proxy in front of the ws origin.
daemon off;
master_process on;
worker_processes 1;
user nobody nogroup;
pid ${n}/nginx.pid;
error_log ${n}/error.log notice;
events { worker_connections 512; }
http {
  log_format ws '$server_port $server_protocol "$request" $status "$http_upgrade" $http_x_burrow_case';
  access_log ${n}/access.log ws;
  client_body_temp_path ${n}/tmp-body;
  proxy_temp_path ${n}/tmp-proxy;
  fastcgi_temp_path ${n}/tmp-fastcgi;
  uwsgi_temp_path ${n}/tmp-uwsgi;
  scgi_temp_path ${n}/tmp-scgi;
  ssl_certificate ${n}/server.pem;
  ssl_certificate_key ${n}/server.key;
  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen 127.0.0.1:${p.nginxWs};
    listen 127.0.0.1:${p.nginxWss} ssl;
    listen 127.0.0.1:${p.nginxWssH2} ssl http2;
    server_name localhost;
    location / {
      proxy_pass http://127.0.0.1:${p.wsPlain};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $host;
      proxy_set_header X-Proxied-By "nginx $server_port";
      proxy_read_timeout 120s;
    }
  }
}
`;
}

function nghttpxWsConfig(dir: string, p: WsPeerPorts): string {
  const n = join(dir, 'nghttpx-ws');
  return `# Private nghttpx instance of the burrow WebSocket peer tests: a reverse proxy, HTTP/2 over TLS in front (RFC 8441), the ws origin behind.
frontend=127.0.0.1,${p.nghttpxWs}
backend=127.0.0.1,${p.wsPlain}
workers=1
private-key-file=${n}/server.key
certificate-file=${n}/server.pem
no-ocsp=yes
pid-file=${n}/nghttpx.pid
errorlog-file=${n}/error.log
accesslog-file=${n}/access.log
accesslog-write-early=yes
accesslog-format=$alpn $protocol_version $method $path $status $http_x_burrow_case
`;
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
}

/**
 * Resolves with the first line of `file` that `match` accepts: at once, or
 * when a write to the file brings it (an inotify watch, no polling). Rejects
 * after `ms`; the watch and the timer are always released.
 */
async function awaitLine(file: string, match: (line: string) => boolean, ms: number): Promise<string> {
  const watcher = watch(file, { persistent: false });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      const check = (): void => {
        const line = readLines(file).find(match);
        if (line !== undefined) resolve(line);
      };
      watcher.on('change', check);
      watcher.on('error', reject);
      timer = setTimeout(() => reject(new Error(`${file}: no matching line after ${ms} ms; last lines:\n${readLines(file).slice(-5).join('\n')}`)), ms);
      check();
    });
  } finally {
    clearTimeout(timer);
    watcher.close();
  }
}

/**
 * Starts the WebSocket peers: the `ws` origin (a child process running
 * ws-origin.js), nginx proxying upgrades to it, nghttpx as an RFC 8441
 * reverse proxy in front of it, and the proxies to reach them through —
 * squid (plain, TLS), nghttpx (HTTP/2 CONNECT over TLS and h2c, squid
 * behind), dante (SOCKS5) and stunnel (TLS in front of dante). A daemon that
 * could not bind its port makes it start over on new ports.
 */
export async function startWebSocketPeers(): Promise<WsPeers> {
  const bins = checkRequirements(WS_BINARIES);
  const proxy = passwdEntry(bins, 'proxy');
  if (proxy === undefined) throw new Error('the system user "proxy" (created by the squid package) is missing');
  for (let attempt = 1; ; attempt++) {
    try {
      return await startWebSocketPeersOnce(bins, proxy);
    } catch (e) {
      if (attempt >= START_ATTEMPTS || !/address already in use/i.test(String((e as Error).message))) throw e;
    }
  }
}

async function startWebSocketPeersOnce(bins: Pick<Binaries, (typeof WS_BINARIES)[number]>, proxy: { uid: number; gid: number }): Promise<WsPeers> {
  const { dir, start, stop } = openSession();
  try {
    const pki = createTestPki();
    const [wsPlain, wsTls, nginxWs, nginxWss, nginxWssH2, nghttpxWs, squid, squidTls, nghttpxTls, nghttpxH2c, dante, stunnelSocks] =
      (await freePorts(12)) as [number, number, number, number, number, number, number, number, number, number, number, number];
    const ports: WsPeerPorts = { wsPlain, wsTls, nginxWs, nginxWss, nginxWssH2, nghttpxWs, squid, squidTls, nghttpxTls, nghttpxH2c, dante, stunnelSocks };
    const allowed = Object.values(ports);

    for (const sub of ['ws', 'nginx', 'squid', 'nghttpx', 'nghttpx-ws', 'dante', 'stunnel']) mkdirSync(join(dir, sub), { mode: 0o755 });
    const writeKeyPair = (sub: string): void => {
      writeFileSync(join(dir, sub, 'server.pem'), pki.server.cert, { mode: 0o644 });
      writeFileSync(join(dir, sub, 'server.key'), pki.server.key, { mode: 0o600 });
    };
    for (const sub of ['ws', 'nginx', 'nghttpx', 'nghttpx-ws', 'stunnel']) writeKeyPair(sub);
    writeFileSync(join(dir, 'nginx', 'nginx.conf'), nginxWsConfig(dir, ports));
    writeKeyPair('squid');
    writeFileSync(join(dir, 'squid', 'squid.conf'), squidConfig(dir, ports, allowed, 'proxy'));
    for (const f of ['', 'server.pem', 'server.key', 'squid.conf']) chownSync(join(dir, 'squid', f), proxy.uid, proxy.gid);
    writeFileSync(join(dir, 'nghttpx', 'nghttpx.conf'), nghttpxConfig(dir, ports));
    writeFileSync(join(dir, 'nghttpx-ws', 'nghttpx.conf'), nghttpxWsConfig(dir, ports));
    writeFileSync(join(dir, 'dante', 'none.conf'), danteConfig(dir, 'none', ports.dante, 'none'));
    writeFileSync(join(dir, 'stunnel', 'stunnel.conf'), stunnelConfig(dir, [{ name: 'socks', accept: ports.stunnelSocks, connect: ports.dante }]));

    const origin = new URL('./ws-origin.js', import.meta.url).pathname;
    const wsD = start('ws', process.execPath, [origin, String(wsPlain), String(wsTls), join(dir, 'ws', 'server.pem'), join(dir, 'ws', 'server.key')], []);
    const nginx = start('nginx', bins.nginx, ['-c', join(dir, 'nginx', 'nginx.conf'), '-p', join(dir, 'nginx'), '-e', join(dir, 'nginx', 'error.log')], [join(dir, 'nginx', 'error.log')]);
    const squidD = start('squid', bins.squid, ['-N', '-f', join(dir, 'squid', 'squid.conf')], [join(dir, 'squid', 'cache.log')]);
    const danteD = start('danted', bins.danted, ['-f', join(dir, 'dante', 'none.conf'), '-p', join(dir, 'dante', 'none.pid')], [join(dir, 'dante', 'none.log')]);
    const nghttpx = start('nghttpx', bins.nghttpx, [`--conf=${join(dir, 'nghttpx', 'nghttpx.conf')}`], [join(dir, 'nghttpx', 'error.log')]);
    const nghttpxRp = start('nghttpx (reverse proxy)', bins.nghttpx, [`--conf=${join(dir, 'nghttpx-ws', 'nghttpx.conf')}`], [join(dir, 'nghttpx-ws', 'error.log')]);
    const stunnel = start('stunnel', bins.stunnel, [join(dir, 'stunnel', 'stunnel.conf')], [join(dir, 'stunnel', 'stunnel.log')]);

    await Promise.all([
      waitUntilAccepting(wsD, [wsPlain, wsTls]),
      waitUntilAccepting(nginx, [nginxWs, nginxWss, nginxWssH2]),
      waitUntilAccepting(squidD, [squid, squidTls]),
      waitUntilAccepting(danteD, [dante]),
      waitUntilAccepting(nghttpx, [nghttpxTls, nghttpxH2c]),
      waitUntilAccepting(nghttpxRp, [nghttpxWs]),
      waitUntilAccepting(stunnel, [stunnelSocks]),
    ]);
    const wsPackage = createRequire(import.meta.url)('ws/package.json') as { version: string };
    return {
      ca: pki.ca,
      ports,
      dir,
      versions: {
        ws: `ws ${wsPackage.version} (npm) on Node.js ${process.version}`,
        nginx: versionOf(bins.nginx, ['-v']),
        squid: versionOf(bins.squid, ['-v']),
        nghttpx: versionOf(bins.nghttpx, ['--version']),
        dante: versionOf(bins.danted, ['-v']),
        stunnel: versionOf(bins.stunnel, ['-version']),
      },
      nghttpxWsLogLine: (match, ms) => awaitLine(join(dir, 'nghttpx-ws', 'access.log'), match, ms),
      nginxLogLine: (match, ms) => awaitLine(join(dir, 'nginx', 'access.log'), match, ms),
      stop,
    };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}
