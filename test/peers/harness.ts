/**
 * Real third-party peers for the interoperability tests: nginx (origin),
 * squid (HTTP/1.1 CONNECT, plain, TLS and Basic auth), nghttpx (HTTP/2
 * CONNECT, TLS and h2c frontends, squid as its backend), dante (SOCKS5,
 * without and with username/password), stunnel (TLS in front of dante and of
 * tinyproxy) and tinyproxy (a second HTTP/1.1 CONNECT proxy), as installed
 * from Debian (`.ci/run` installs the packages).
 *
 * `startPeers()` writes private configurations into a fresh temporary
 * directory (nothing of the system's own service configuration is read or
 * touched, no service manager is involved), makes a throwaway CA, picks free
 * loopback ports, starts one instance of each daemon as a child of this
 * process, and waits until each accepts connections (a bounded number of
 * connection attempts). `stop()` stops exactly the processes it started (the
 * daemons and their own children, found through /proc by parent pid and start
 * time), deletes the throwaway system user it created for dante's
 * username/password method, and removes the directory. If the test process
 * exits (or gets SIGINT/SIGTERM) without calling `stop()`, a hook kills the
 * same processes and deletes the user. docs/interop.md describes the peers.
 *
 * test/peers/ws-harness.ts starts the peers of the WebSocket tests with the
 * same pieces (exported below: sessions, daemons, ports, configurations).
 *
 * A missing binary is a failure naming the Debian package to install, never
 * a skip. The harness needs root (useradd; squid and dante switch users).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash, randomBytes, type Cipher } from 'node:crypto';
import { accessSync, chmodSync, chownSync, closeSync, constants, createReadStream, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, relative, isAbsolute } from 'node:path';
import * as zlib from 'node:zlib';
import { brotliCompressSync } from 'node:zlib';
import { createTestPki, type TestPki } from '../../src/testing/pki.js';

// ------------------------------------------------------------------ requirements

interface Requirement {
  /** A command looked up on PATH (and the sbin directories), or an absolute file. */
  readonly name: string;
  readonly pkg: string;
  readonly file?: boolean;
}

const ECHO_MODULE = '/usr/lib/nginx/modules/ngx_http_echo_module.so';
const NCSA_AUTH = '/usr/lib/squid/basic_ncsa_auth';
const DIGEST_AUTH = '/usr/lib/squid/digest_file_auth';
const NTLM_FAKE_AUTH = '/usr/lib/squid/ntlm_fake_auth';

const REQUIREMENTS: readonly Requirement[] = [
  { name: 'nginx', pkg: 'nginx' },
  { name: ECHO_MODULE, pkg: 'libnginx-mod-http-echo', file: true },
  { name: 'squid', pkg: 'squid' },
  { name: NCSA_AUTH, pkg: 'squid', file: true },
  { name: DIGEST_AUTH, pkg: 'squid', file: true },
  { name: NTLM_FAKE_AUTH, pkg: 'squid', file: true },
  { name: 'nghttpx', pkg: 'nghttp2-proxy' },
  { name: 'danted', pkg: 'dante-server' },
  { name: 'stunnel', pkg: 'stunnel4' },
  { name: 'tinyproxy', pkg: 'tinyproxy' },
  { name: 'openssl', pkg: 'openssl' },
  { name: 'useradd', pkg: 'passwd' },
  { name: 'userdel', pkg: 'passwd' },
  { name: 'chpasswd', pkg: 'passwd' },
  { name: 'getent', pkg: 'libc-bin' },
];

const SEARCH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function findBinary(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''), ...SEARCH_DIRS];
  for (const d of dirs) {
    const p = join(d, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

/** Absolute paths of the commands the harness runs. */
export type Binaries = Record<'nginx' | 'squid' | 'nghttpx' | 'danted' | 'stunnel' | 'tinyproxy' | 'openssl' | 'useradd' | 'userdel' | 'chpasswd' | 'getent', string>;

export type BinaryName = keyof Binaries;

/**
 * Checks that every binary (or only the commands `names`) is installed and
 * that this process is root. Throws an Error naming what is missing and the
 * Debian packages to install.
 */
export function checkRequirements<K extends BinaryName = BinaryName>(names?: readonly K[]): Pick<Binaries, K> {
  const requirements = names === undefined ? REQUIREMENTS : REQUIREMENTS.filter((r) => (names as readonly string[]).includes(r.name));
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  let { found, missing, pkgs } = scan(requirements);
  if (missing.length > 0 && isRoot && findBinary('apt-get') !== undefined) {
    // Install what is missing from Debian's packages (once: apt-get update, then install).
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env, timeout: 300_000 });
    if (update.status === 0) spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env, timeout: 600_000 });
    ({ found, missing, pkgs } = scan(requirements));
  }
  if (missing.length > 0) {
    throw new Error(
      `peer interop tests: missing ${missing.join(', ')}. ` +
        `Install with: apt-get update && apt-get install -y ${pkgs.join(' ')} (as root the tests install them; so does bash .ci/run).`,
    );
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('peer interop tests must run as root: they create a throwaway system user for dante and start squid and dante, which switch users');
  }
  return found as Pick<Binaries, K>;
}

function scan(requirements: readonly Requirement[]): { found: Record<string, string>; missing: string[]; pkgs: string[] } {
  const found: Record<string, string> = {};
  const missing: string[] = [];
  const pkgs = new Set<string>();
  for (const r of requirements) {
    const p = r.file === true ? (safeExists(r.name) ? r.name : undefined) : findBinary(r.name);
    if (p === undefined) {
      missing.push(`${r.name} (Debian package ${r.pkg})`);
      pkgs.add(r.pkg);
    } else found[r.name] = p;
  }
  return { found, missing, pkgs: [...pkgs] };
}

function safeExists(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------ processes

interface ProcStat {
  readonly ppid: number;
  readonly state: string;
  readonly start: string;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const ppid = Number(rest[1]);
  const start = rest[19];
  if (state === undefined || start === undefined || !Number.isInteger(ppid)) return undefined;
  return { ppid, state, start };
}

/** A process identified by pid and start time (so a reused pid is never signalled). */
interface ProcId {
  readonly pid: number;
  readonly start: string;
}

function isRunning(p: ProcId): boolean {
  const s = readStat(p.pid);
  return s !== undefined && s.start === p.start && s.state !== 'Z' && s.state !== 'X';
}

/** `root` and every process descending from it, from /proc. */
function processTree(root: ProcId): ProcId[] {
  if (!isRunning(root)) return [];
  const children = new Map<number, ProcId[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const s = readStat(pid);
    if (s === undefined) continue;
    const list = children.get(s.ppid) ?? [];
    list.push({ pid, start: s.start });
    children.set(s.ppid, list);
  }
  const out: ProcId[] = [root];
  for (let i = 0; i < out.length; i++) {
    const cur = out[i];
    if (cur !== undefined) out.push(...(children.get(cur.pid) ?? []));
  }
  return out;
}

function signal(p: ProcId, sig: NodeJS.Signals): void {
  if (!isRunning(p)) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    // gone in between
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One daemon started by the harness. */
export interface Daemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly id: ProcId;
  /** Where its stdout and stderr go. */
  readonly output: string;
  /** Its own log files, shown when it fails. */
  readonly logs: readonly string[];
  exit: string | undefined;
  /** Its process tree once it accepted connections (children it forked at startup). */
  started: ProcId[];
}

function tail(file: string, lines = 15): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).map((l) => `    ${l}`).join('\n');
  } catch {
    return '    (no log)';
  }
}

function describeLogs(d: Daemon): string {
  return [d.output, ...d.logs].map((f) => `  ${f}:\n${tail(f)}`).join('\n');
}

const SAFE_ENV = { PATH: [...SEARCH_DIRS].join(':'), LANG: 'C', TZ: 'UTC' };

function startDaemon(name: string, cmd: string, args: readonly string[], output: string, logs: readonly string[], cwd: string): Daemon {
  const fd = openSync(output, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { cwd, stdio: ['ignore', fd, fd], env: SAFE_ENV });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  const stat = pid === undefined ? undefined : readStat(pid);
  if (pid === undefined || stat === undefined) throw new Error(`could not start ${name} (${cmd})`);
  const d: Daemon = { name, child, id: { pid, start: stat.start }, output, logs, exit: undefined, started: [] };
  child.on('exit', (code, sig) => {
    d.exit = sig !== null ? `signal ${sig}` : `exit code ${String(code)}`;
  });
  child.on('error', (e) => {
    d.exit = `spawn error ${e.message}`;
  });
  // A forgotten stop() must not keep the test process alive; the exit hook still kills it.
  child.unref();
  return d;
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
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

const READY_ATTEMPTS = 200;
const READY_INTERVAL_MS = 50;

/** Polls until `d` accepts TCP connections on every port (bounded attempts); fails early if it exits. */
export async function waitUntilAccepting(d: Daemon, ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    let ok = false;
    for (let i = 0; i < READY_ATTEMPTS && !ok; i++) {
      if (d.exit !== undefined) throw new Error(`${d.name} exited (${d.exit}) before accepting connections on 127.0.0.1:${port}\n${describeLogs(d)}`);
      ok = await tryConnect(port);
      if (!ok) await delay(READY_INTERVAL_MS);
    }
    if (!ok) {
      throw new Error(`${d.name} did not accept connections on 127.0.0.1:${port} after ${READY_ATTEMPTS} attempts (${(READY_ATTEMPTS * READY_INTERVAL_MS) / 1000} s)\n${describeLogs(d)}`);
    }
  }
  d.started = processTree(d.id);
}

/** The daemon's processes: as they were at startup and as they are now (without duplicates). */
function daemonProcesses(d: Daemon): ProcId[] {
  const all = new Map<string, ProcId>();
  for (const p of [...d.started, ...processTree(d.id)]) all.set(`${p.pid}/${p.start}`, p);
  return [...all.values()].filter(isRunning);
}

const STOP_ATTEMPTS = 100;
const KILL_ATTEMPTS = 40;

/** SIGTERM to the daemon, then SIGKILL to whatever of its process tree is still there. Returns what survived. */
async function stopDaemon(d: Daemon): Promise<string | undefined> {
  const tree = daemonProcesses(d);
  signal(d.id, 'SIGTERM');
  for (let i = 0; i < STOP_ATTEMPTS && tree.some(isRunning); i++) await delay(50);
  const left = tree.filter(isRunning);
  if (left.length === 0) return undefined;
  // Processes it forked after the snapshot.
  const all = [...new Map([...left, ...left.flatMap(processTree)].map((p) => [p.pid, p])).values()];
  for (const p of all) signal(p, 'SIGKILL');
  for (let i = 0; i < KILL_ATTEMPTS && all.some(isRunning); i++) await delay(50);
  const survivors = all.filter(isRunning);
  if (survivors.length > 0) return `${d.name}: pids ${survivors.map((p) => p.pid).join(', ')} survived SIGKILL`;
  return undefined;
}

function killTreeSync(d: Daemon): void {
  for (const p of daemonProcesses(d)) signal(p, 'SIGKILL');
}

// ------------------------------------------------------------------ helpers

/** `n` distinct free TCP ports on 127.0.0.1 (all held open together while they are chosen). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('no port');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

function run(cmd: string, args: readonly string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, env: SAFE_ENV, stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.error !== undefined) throw new Error(`${cmd} failed to start: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${String(r.status ?? r.signal)}: ${r.stderr.trim()}`);
  return r.stdout;
}

export function passwdEntry(bins: Pick<Binaries, 'getent'>, name: string): { uid: number; gid: number } | undefined {
  const r = spawnSync(bins.getent, ['passwd', name], { encoding: 'utf8', env: SAFE_ENV });
  if (r.status !== 0) return undefined;
  const f = r.stdout.trim().split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export function versionOf(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: SAFE_ENV });
  const text = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('Initializing inetd'));
  return text[0] ?? '(unknown)';
}

/** The deterministic byte pattern of the large bodies: AES-128-CTR keystream under a fixed key. */
export class Pattern {
  readonly #cipher: Cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 0x42), Buffer.alloc(16, 0));
  readonly #zeros: Buffer;
  constructor(chunkSize: number) {
    this.#zeros = Buffer.alloc(chunkSize);
  }
  /** The next `chunkSize` bytes of the pattern. */
  next(): Buffer {
    return this.#cipher.update(this.#zeros);
  }
}

/** SHA-256 (hex) and size of a file, read as a stream. */
export async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const b = chunk as Buffer;
    size += b.length;
    h.update(b);
  }
  return { size, sha256: h.digest('hex') };
}

// ------------------------------------------------------------------ the peers

/** Size of the large body (download and upload). */
export const BIG_SIZE = 100 * 1024 * 1024;
/** Chunk size used to write the large body and its pattern. */
export const BIG_CHUNK = 1024 * 1024;

/** Loopback ports of every peer. */
export interface PeerPorts {
  /** nginx: TLS with ALPN h2 and http/1.1. */
  readonly nginxTls: number;
  /** nginx: TLS with ALPN http/1.1 only. */
  readonly nginxTlsH1: number;
  /** nginx: plain HTTP/1.1. */
  readonly nginxHttp: number;
  /** nginx: h2c with prior knowledge. */
  readonly nginxH2c: number;
  /** squid: HTTP/1.1 CONNECT, plain. */
  readonly squid: number;
  /** squid: HTTP/1.1 CONNECT over TLS (https_port, GnuTLS, no ALPN). */
  readonly squidTls: number;
  /** squid: HTTP/1.1 CONNECT with Basic authentication. */
  readonly squidAuth: number;
  /** squid: HTTP/1.1 CONNECT with Digest authentication only (`digest_file_auth`). */
  readonly squidDigest: number;
  /** squid: HTTP/1.1 CONNECT with NTLM authentication only (`ntlm_fake_auth`: any type 3 passes). */
  readonly squidNtlm: number;
  /** nghttpx: HTTP/2 CONNECT over TLS with the Digest squid port as its backend (its 407s relayed). */
  readonly nghttpxDigest: number;
  /** nghttpx: HTTP/2 CONNECT over TLS with the NTLM squid port as its backend. */
  readonly nghttpxNtlm: number;
  /** nghttpx: HTTP/2 CONNECT over TLS (ALPN h2). */
  readonly nghttpxTls: number;
  /** nghttpx: HTTP/2 CONNECT over cleartext (h2c prior knowledge). */
  readonly nghttpxH2c: number;
  /** dante: SOCKS5, method none. */
  readonly dante: number;
  /** dante: SOCKS5, method username/password (system users). */
  readonly danteAuth: number;
  /** stunnel: TLS in front of dante (method none). */
  readonly stunnelSocks: number;
  /** stunnel: TLS in front of tinyproxy. */
  readonly stunnelTinyproxy: number;
  /** tinyproxy: HTTP/1.1 CONNECT, plain. */
  readonly tinyproxy: number;
  /** A loopback port nothing listens on, allowed by every proxy's ACLs (for refused destinations). */
  readonly closed: number;
  /** A loopback port nothing listens on that squid and tinyproxy do not allow CONNECT to. */
  readonly unlisted: number;
}

/** The running peers. */
export interface Peers {
  readonly pki: TestPki;
  /** The throwaway CA (PEM) every TLS peer's certificate chains to (valid for localhost, 127.0.0.1, ::1). */
  readonly ca: string;
  readonly ports: PeerPorts;
  /** The temporary directory holding every configuration, log and body. */
  readonly dir: string;
  /** Basic credentials squid's auth port accepts (and its Digest port: the same user and password). */
  readonly squidUser: { readonly username: string; readonly password: string };
  /** The throwaway system user dante's username method accepts. */
  readonly socksUser: { readonly username: string; readonly password: string };
  /** The large file nginx serves at `path` (BIG_SIZE bytes of {@link Pattern}). */
  readonly big: { readonly path: string; readonly size: number; readonly sha256: string };
  /** Version lines of the peers as installed. */
  readonly versions: Readonly<Record<string, string>>;
  /**
   * What nginx received on `/upload` (whose response body is the path of the
   * file it wrote): its size and SHA-256. The file is removed afterwards.
   */
  received(pathFromResponse: string): Promise<{ size: number; sha256: string }>;
  /** Stops everything the harness started; removes the user it created and the directory. */
  stop(): Promise<void>;
}

/** The text nginx serves gzipped at `/gz/text.txt`, and as stored files `/encoded/text.br` and `/encoded/text.zst`. */
export const ENCODED_TEXT: string = 'burrow asks nginx for this text, compressed. '.repeat(400);

/** Whether `/encoded/text.zst` exists: written where this Node line compresses zstd, or with the zstd program. */
export let zstdFileWritten = false;

function writeEncodedFiles(www: string): void {
  for (const sub of ['gz', 'encoded']) mkdirSync(join(www, sub), { mode: 0o755 });
  const text = Buffer.from(ENCODED_TEXT);
  writeFileSync(join(www, 'gz', 'text.txt'), text, { mode: 0o644 });
  writeFileSync(join(www, 'encoded', 'text.br'), brotliCompressSync(text), { mode: 0o644 });
  const zstd = (zlib as unknown as { zstdCompressSync?: (b: Buffer) => Buffer }).zstdCompressSync;
  const file = join(www, 'encoded', 'text.zst');
  if (zstd !== undefined) writeFileSync(file, zstd(text), { mode: 0o644 });
  else {
    const tool = findBinary('zstd');
    if (tool !== undefined) spawnSync(tool, ['-q', '-f', '-o', file], { input: text });
  }
  zstdFileWritten = (() => {
    try {
      return statSync(file).size > 0;
    } catch {
      return false;
    }
  })();
}

function nginxConfig(dir: string, p: PeerPorts): string {
  const n = join(dir, 'nginx');
  return `# Private nginx instance of the burrow peer tests.
load_module ${ECHO_MODULE};
daemon off;
master_process on;
worker_processes 1;
user nobody nogroup;
pid ${n}/nginx.pid;
error_log ${n}/error.log notice;
events { worker_connections 512; }
http {
  access_log ${n}/access.log;
  client_body_temp_path ${n}/bodies;
  proxy_temp_path ${n}/tmp-proxy;
  fastcgi_temp_path ${n}/tmp-fastcgi;
  uwsgi_temp_path ${n}/tmp-uwsgi;
  scgi_temp_path ${n}/tmp-scgi;
  types { text/plain txt; application/octet-stream bin; }
  default_type application/octet-stream;
  sendfile on;
  # Connections are closed (HTTP/1.1 connection: close, HTTP/2 GOAWAY) after this many requests.
  keepalive_requests 100;
  ssl_certificate ${n}/server.pem;
  ssl_certificate_key ${n}/server.key;
  # Debian's nginx 1.22 defaults to TLSv1 TLSv1.1 TLSv1.2 (no TLS 1.3).
  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen 127.0.0.1:${p.nginxTls} ssl http2;
    listen 127.0.0.1:${p.nginxTlsH1} ssl;
    listen 127.0.0.1:${p.nginxHttp};
    listen 127.0.0.1:${p.nginxH2c} http2;
    server_name localhost;
    root ${dir}/www;
    location = /small { default_type text/plain; return 200 "hello from nginx\\n"; }
    location = /info { default_type text/plain; echo "$server_protocol $scheme $server_port $ssl_protocol $ssl_alpn_protocol"; }
    location = /headers { default_type text/plain; echo "host=$http_host x-burrow=$http_x_burrow"; }
    location = /chunked {
      default_type text/plain;
      echo "one"; echo_flush;
      echo "two"; echo_flush;
      echo_duplicate 1000 "0123456789abcdef"; echo_flush;
      echo "three";
    }
    location = /trailers { default_type text/plain; echo "body with trailers"; add_trailer x-checksum "abc123"; add_trailer x-second "2"; }
    location = /echo { client_max_body_size 0; client_body_buffer_size 1m; echo_read_request_body; echo_request_body; }
    location = /upload {
      client_max_body_size 0;
      client_body_in_file_only on;
      echo_read_request_body;
      echo $request_body_file;
    }
    # request(): decompression
    location /gz/ { gzip on; gzip_types *; gzip_min_length 0; gzip_proxied any; }
    location /encoded/ {
      location ~ \\.br$ { types { } default_type text/plain; add_header Content-Encoding br; }
      location ~ \\.zst$ { types { } default_type text/plain; add_header Content-Encoding zstd; }
    }
    # request(): server-sent events
    location = /sse {
      default_type text/event-stream;
      echo -n ": from nginx\\n\\n"; echo_flush;
      echo -n "id: 1\\ndata: one\\n\\n"; echo_flush;
      echo -n "event: tick\\r\\ndata: two\\r\\ndata: lines\\r\\n\\r\\n"; echo_flush;
      echo -n "retry: 20\\nid: 2\\ndata: last-event-id=$http_last_event_id\\n\\n";
    }
    # request(): cookies
    location = /cookies/set {
      add_header Set-Cookie "peer=nginx; Path=/cookies; Secure; HttpOnly; SameSite=Lax" always;
      add_header Set-Cookie "plain=1; Path=/; Max-Age=3600" always;
      add_header Set-Cookie "__Host-h=1; Path=/; Secure" always;
      add_header Set-Cookie "bad=1; Domain=org" always;
      default_type text/plain; return 200 "set\\n";
    }
    location = /cookies/echo { default_type text/plain; echo "cookie=$http_cookie"; }
    # PAC: scripts choosing among the suite's real proxies, the first choice down (nothing listens on p.closed).
    location = /pac/squid.pac { default_type application/x-ns-proxy-autoconfig; add_header cache-control "max-age=60"; return 200 "function FindProxyForURL(url, host) { return 'PROXY 127.0.0.1:${p.closed}; PROXY 127.0.0.1:${p.squid}'; }"; }
    location = /pac/dante4.pac { default_type application/x-ns-proxy-autoconfig; return 200 "function FindProxyForURL(url, host) { return 'SOCKS 127.0.0.1:${p.closed}; SOCKS 127.0.0.1:${p.dante}'; }"; }
    location = /pac/dante.pac { default_type application/x-ns-proxy-autoconfig; return 200 "function FindProxyForURL(url, host) { return 'SOCKS5 127.0.0.1:${p.closed}; SOCKS5 127.0.0.1:${p.dante}'; }"; }
    location = /pac/by-host.pac { default_type application/x-ns-proxy-autoconfig; return 200 "function FindProxyForURL(url, host) { if (isPlainHostName(host) || shExpMatch(host, 'localhost')) return 'PROXY 127.0.0.1:${p.closed}; SOCKS5 127.0.0.1:${p.dante}; DIRECT'; return 'DIRECT'; }"; }
    # request(): redirects
    location = /redirect-301 { absolute_redirect off; return 301 /small; }
    location = /redirect-302 { return 302 /small; }
    location = /redirect-303 { absolute_redirect off; return 303 /small; }
    location = /redirect-307 { absolute_redirect off; return 307 /echo; }
    location = /redirect-308 { absolute_redirect off; return 308 /echo; }
    location = /redirect-chain { absolute_redirect off; return 302 /redirect-301; }
    location = /redirect-loop { absolute_redirect off; return 302 /redirect-loop; }
  }
}
`;
}

/** squid's configuration: `squidAuth` (Basic auth with `<dir>/squid/htpasswd`) only when given. */
export function squidConfig(
  dir: string,
  p: { squid: number; squidTls: number; squidAuth?: number | undefined; squidDigest?: number | undefined; squidNtlm?: number | undefined },
  allowed: readonly number[],
  proxyUser: string,
): string {
  const s = join(dir, 'squid');
  // Digest (a file of user:password) and NTLM (any type 3) on ports of their own, each offering only its scheme.
  const schemes = p.squidAuth === undefined || p.squidDigest === undefined || p.squidNtlm === undefined ? '' : `http_port 127.0.0.1:${p.squidDigest} name=digest
http_port 127.0.0.1:${p.squidNtlm} name=ntlm
auth_param digest program ${DIGEST_AUTH} ${s}/digest-passwd
auth_param digest realm burrow-digest
auth_param digest children 2 startup=0 idle=1
auth_param ntlm program ${NTLM_FAKE_AUTH}
auth_param ntlm children 2 startup=0 idle=1
acl digestport myportname digest
acl ntlmport myportname ntlm
`;
  return `# Private squid instance of the burrow peer tests.
http_port 127.0.0.1:${p.squid} name=plain
https_port 127.0.0.1:${p.squidTls} name=tls tls-cert=${s}/server.pem tls-key=${s}/server.key
${p.squidAuth === undefined ? '' : `http_port 127.0.0.1:${p.squidAuth} name=auth\n`}${schemes}visible_hostname burrow-peers
cache_effective_user ${proxyUser}
pid_filename ${s}/squid.pid
cache_log ${s}/cache.log
access_log stdio:${s}/access.log
cache_store_log none
netdb_filename none
coredump_dir ${s}
pinger_enable off
cache deny all
cache_mem 8 MB
shutdown_lifetime 0 seconds
${p.squidAuth === undefined ? '' : `auth_param basic program ${NCSA_AUTH} ${s}/htpasswd
auth_param basic realm burrow-peers
auth_param basic children 2 startup=0 idle=1
acl authport myportname auth
acl authed proxy_auth REQUIRED
${schemes === '' ? '' : 'auth_schemes basic authport\nauth_schemes digest digestport\nauth_schemes ntlm ntlmport\n'}`}# squid allows CONNECT to port 443 only by default: allow the ports of this run.
acl SSL_ports port ${allowed.join(' ')}
acl Safe_ports port ${allowed.join(' ')}
acl to_loopback dst 127.0.0.0/8
http_access deny !to_loopback
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
${p.squidAuth === undefined ? '' : 'http_access deny authport !authed\n'}${schemes === '' ? '' : 'http_access deny digestport !authed\nhttp_access deny ntlmport !authed\n'}http_access allow localhost
http_access deny all
`;
}

export function nghttpxConfig(dir: string, p: { nghttpxTls: number; nghttpxH2c: number; squid: number }): string {
  const n = join(dir, 'nghttpx');
  return `# Private nghttpx instance of the burrow peer tests: an HTTP/2 forward proxy with squid as its backend.
frontend=127.0.0.1,${p.nghttpxTls}
frontend=127.0.0.1,${p.nghttpxH2c};no-tls
backend=127.0.0.1,${p.squid}
http2-proxy=yes
# The default, 8, queues the 9th concurrent CONNECT to one host:port (no answer) until a tunnel closes.
backend-connections-per-host=64
workers=1
private-key-file=${n}/server.key
certificate-file=${n}/server.pem
no-ocsp=yes
pid-file=${n}/nghttpx.pid
errorlog-file=${n}/error.log
accesslog-file=${n}/access.log
`;
}

/** A second nghttpx instance, `name`, an HTTP/2 forward proxy over TLS in front of one squid port (the auth ports). */
export function nghttpxBackendConfig(dir: string, name: string, frontend: number, backend: number): string {
  const n = join(dir, 'nghttpx');
  return `# Private nghttpx instance ${name} of the burrow peer tests.
frontend=127.0.0.1,${frontend}
backend=127.0.0.1,${backend}
http2-proxy=yes
workers=1
private-key-file=${n}/server.key
certificate-file=${n}/server.pem
no-ocsp=yes
pid-file=${n}/${name}.pid
errorlog-file=${n}/${name}-error.log
accesslog-file=${n}/${name}-access.log
`;
}

export function danteConfig(dir: string, name: string, port: number, method: 'none' | 'username'): string {
  return `# Private dante instance of the burrow peer tests (${method}).
logoutput: ${join(dir, 'dante', `${name}.log`)}
internal: 127.0.0.1 port = ${port}
external: 127.0.0.1
clientmethod: none
socksmethod: ${method}
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 command: connect }
socks block { from: 0.0.0.0/0 to: 0.0.0.0/0 }
`;
}

/** stunnel's configuration: one service (TLS on `accept`, plain to `connect`) per entry. */
export function stunnelConfig(dir: string, services: ReadonlyArray<{ name: string; accept: number; connect: number }>): string {
  const s = join(dir, 'stunnel');
  return `; Private stunnel instance of the burrow peer tests.
foreground = yes
syslog = no
pid = ${s}/stunnel.pid
output = ${s}/stunnel.log
debug = notice
${services.map((v) => `[${v.name}]
accept = 127.0.0.1:${v.accept}
connect = 127.0.0.1:${v.connect}
cert = ${s}/server.pem
key = ${s}/server.key
`).join('')}`;
}

function tinyproxyConfig(dir: string, p: PeerPorts, allowed: readonly number[]): string {
  const t = join(dir, 'tinyproxy');
  return `# Private tinyproxy instance of the burrow peer tests.
Port ${p.tinyproxy}
Listen 127.0.0.1
Timeout 600
MaxClients 100
LogLevel Info
LogFile "${t}/tinyproxy.log"
PidFile "${t}/tinyproxy.pid"
Allow 127.0.0.1
# Without ConnectPort lines tinyproxy allows CONNECT to every port; with them, to these only.
${allowed.map((port) => `ConnectPort ${port}`).join('\n')}
`;
}

interface UserHandle {
  readonly username: string;
  readonly password: string;
  readonly created: boolean;
}

const USER_COMMENT = 'burrow peer tests throwaway user';

/** Creates a throwaway system user (burrowtest, or burrowtest1… when that name is taken: an existing user is never touched). */
function createUser(bins: Binaries): UserHandle {
  const password = randomBytes(12).toString('base64url');
  const nologin = findBinary('nologin') ?? '/usr/sbin/nologin';
  for (let i = 0; i < 20; i++) {
    const username = i === 0 ? 'burrowtest' : `burrowtest${i}`;
    if (passwdEntry(bins, username) !== undefined) continue;
    const r = spawnSync(bins.useradd, ['-M', '-N', '-s', nologin, '-c', USER_COMMENT, username], { encoding: 'utf8', env: SAFE_ENV });
    if (r.status === 9) continue; // created by someone else in between
    if (r.status !== 0) throw new Error(`useradd ${username} failed (${String(r.status ?? r.signal)}): ${r.stderr.trim()}`);
    try {
      run(bins.chpasswd, [], `${username}:${password}\n`);
    } catch (e) {
      spawnSync(bins.userdel, [username], { env: SAFE_ENV });
      throw e;
    }
    return { username, password, created: true };
  }
  throw new Error('no free name for the throwaway user (burrowtest, burrowtest1..19 all exist)');
}

function deleteUser(bins: Binaries, u: UserHandle | undefined): string | undefined {
  if (u === undefined || !u.created) return undefined;
  const r = spawnSync(bins.userdel, [u.username], { encoding: 'utf8', env: SAFE_ENV });
  if (r.status !== 0 && passwdEntry(bins, u.username) !== undefined) return `userdel ${u.username} failed: ${r.stderr.trim()}`;
  return undefined;
}

function writeBig(path: string): string {
  const h = createHash('sha256');
  const pattern = new Pattern(BIG_CHUNK);
  const fd = openSync(path, 'w', 0o644);
  try {
    for (let written = 0; written < BIG_SIZE; written += BIG_CHUNK) {
      const b = pattern.next();
      h.update(b);
      writeSync(fd, b);
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** A run of daemons: their directory, the daemons started, and how they are stopped (also on exit or a signal). */
export interface PeerSession {
  /** A fresh directory for configurations, logs and pid files (mode 0755). */
  readonly dir: string;
  /** Starts a daemon whose stdout and stderr go to `<dir>/<name>.out`; `logs` are shown when it fails. */
  start(name: string, cmd: string, args: readonly string[], logs: readonly string[]): Daemon;
  /** Stops every daemon started, runs `cleanup`, removes the directory; throws what could not be stopped. */
  stop(): Promise<void>;
}

/**
 * Opens a session. `cleanup` runs once after the daemons are stopped (by
 * `stop()`, or by the hook that kills them when the process exits or gets
 * SIGINT/SIGTERM first), and returns a problem to report, if any.
 */
export function openSession(cleanup: () => string | undefined = () => undefined): PeerSession {
  const dir = mkdtempSync(join(tmpdir(), 'burrow-peers-'));
  // squid (as proxy) and nginx workers and dante (as nobody) must traverse it.
  chmodSync(dir, 0o755);
  const daemons: Daemon[] = [];
  let stopped = false;
  const emergency = (): void => {
    if (stopped) return;
    stopped = true;
    for (const d of daemons) killTreeSync(d);
    cleanup();
    if (process.env['BURROW_PEERS_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
  };
  // Ctrl-C or a runner's SIGTERM: kill what was started, then die of the signal as usual.
  const onSignal = (sig: NodeJS.Signals): void => {
    emergency();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.kill(process.pid, sig);
  };
  process.once('exit', emergency);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', emergency);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    const problems = (await Promise.all([...daemons].reverse().map((d) => stopDaemon(d)))).filter((x): x is string => x !== undefined);
    const c = cleanup();
    if (c !== undefined) problems.push(c);
    if (process.env['BURROW_PEERS_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`peers harness: could not stop everything: ${problems.join('; ')}`);
  };
  const start = (name: string, cmd: string, args: readonly string[], logs: readonly string[]): Daemon => {
    const d = startDaemon(name, cmd, args, join(dir, `${name}.out`), logs, dir);
    daemons.push(d);
    return d;
  };
  return { dir, start, stop };
}

/** Starts of a set of peers tried when a daemon finds its port taken. */
export const START_ATTEMPTS = 3;

/**
 * Starts every peer; see the module comment. Rejects (after cleaning up) when
 * anything fails. A daemon that could not bind its port (taken between the
 * choice of free ports and the bind) makes it start over on new ports.
 */
export async function startPeers(): Promise<Peers> {
  const bins = checkRequirements();
  const proxy = passwdEntry(bins, 'proxy');
  if (proxy === undefined) throw new Error('the system user "proxy" (created by the squid package) is missing');
  if (passwdEntry(bins, 'nobody') === undefined) throw new Error('the system user "nobody" is missing');
  for (let attempt = 1; ; attempt++) {
    try {
      return await startPeersOnce(bins, proxy);
    } catch (e) {
      if (attempt >= START_ATTEMPTS || !/address already in use/i.test(String((e as Error).message))) throw e;
    }
  }
}

async function startPeersOnce(bins: Binaries, proxy: { uid: number; gid: number }): Promise<Peers> {
  let user: UserHandle | undefined;
  const { dir, start, stop } = openSession(() => deleteUser(bins, user));

  try {
    const pki = createTestPki();
    const [nginxTls, nginxTlsH1, nginxHttp, nginxH2c, squid, squidTls, squidAuth, nghttpxTls, nghttpxH2c, dante, danteAuth, stunnelSocks, stunnelTinyproxy, tinyproxy, closed, unlisted, squidDigest, squidNtlm, nghttpxDigest, nghttpxNtlm] =
      (await freePorts(20)) as [number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number];
    const ports: PeerPorts = { nginxTls, nginxTlsH1, nginxHttp, nginxH2c, squid, squidTls, squidAuth, squidDigest, squidNtlm, nghttpxTls, nghttpxH2c, nghttpxDigest, nghttpxNtlm, dante, danteAuth, stunnelSocks, stunnelTinyproxy, tinyproxy, closed, unlisted };
    const allowed = Object.entries(ports).filter(([k]) => k !== 'unlisted').map(([, v]) => v);

    for (const sub of ['nginx', 'nginx/bodies', 'www', 'squid', 'nghttpx', 'dante', 'stunnel', 'tinyproxy']) mkdirSync(join(dir, sub), { mode: 0o755 });
    const writeKeyPair = (sub: string): void => {
      writeFileSync(join(dir, sub, 'server.pem'), pki.server.cert, { mode: 0o644 });
      writeFileSync(join(dir, sub, 'server.key'), pki.server.key, { mode: 0o600 });
    };

    // nginx origin content.
    writeFileSync(join(dir, 'www', 'hello.txt'), 'hello, static file\n', { mode: 0o644 });
    const bigSha = writeBig(join(dir, 'www', 'big.bin'));
    writeEncodedFiles(join(dir, 'www'));
    writeKeyPair('nginx');
    writeFileSync(join(dir, 'nginx', 'nginx.conf'), nginxConfig(dir, ports));

    // squid: runs as the proxy user, which must own its files.
    const squidUser = { username: 'alice', password: randomBytes(9).toString('base64url') };
    const hash = run(bins.openssl, ['passwd', '-apr1', '-stdin'], `${squidUser.password}\n`).trim();
    writeFileSync(join(dir, 'squid', 'htpasswd'), `${squidUser.username}:${hash}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'squid', 'digest-passwd'), `${squidUser.username}:${squidUser.password}\n`, { mode: 0o600 });
    writeKeyPair('squid');
    writeFileSync(join(dir, 'squid', 'squid.conf'), squidConfig(dir, ports, allowed, 'proxy'));
    for (const f of ['', 'htpasswd', 'digest-passwd', 'server.pem', 'server.key', 'squid.conf']) chownSync(join(dir, 'squid', f), proxy.uid, proxy.gid);

    writeKeyPair('nghttpx');
    writeFileSync(join(dir, 'nghttpx', 'nghttpx.conf'), nghttpxConfig(dir, ports));
    writeFileSync(join(dir, 'nghttpx', 'digest.conf'), nghttpxBackendConfig(dir, 'digest', nghttpxDigest, squidDigest));
    writeFileSync(join(dir, 'nghttpx', 'ntlm.conf'), nghttpxBackendConfig(dir, 'ntlm', nghttpxNtlm, squidNtlm));

    user = createUser(bins);
    writeFileSync(join(dir, 'dante', 'none.conf'), danteConfig(dir, 'none', ports.dante, 'none'));
    writeFileSync(join(dir, 'dante', 'auth.conf'), danteConfig(dir, 'auth', ports.danteAuth, 'username'));

    writeKeyPair('stunnel');
    writeFileSync(join(dir, 'stunnel', 'stunnel.conf'), stunnelConfig(dir, [
      { name: 'socks', accept: ports.stunnelSocks, connect: ports.dante },
      { name: 'tinyproxy', accept: ports.stunnelTinyproxy, connect: ports.tinyproxy },
    ]));
    writeFileSync(join(dir, 'tinyproxy', 'tinyproxy.conf'), tinyproxyConfig(dir, ports, allowed));

    // -e: nginx opens its compiled-in error log (/var/log/nginx/error.log) before reading the config otherwise.
    const nginx = start('nginx', bins.nginx, ['-c', join(dir, 'nginx', 'nginx.conf'), '-p', join(dir, 'nginx'), '-e', join(dir, 'nginx', 'error.log')], [join(dir, 'nginx', 'error.log')]);
    const squidD = start('squid', bins.squid, ['-N', '-f', join(dir, 'squid', 'squid.conf')], [join(dir, 'squid', 'cache.log')]);
    const danteNone = start('danted (none)', bins.danted, ['-f', join(dir, 'dante', 'none.conf'), '-p', join(dir, 'dante', 'none.pid')], [join(dir, 'dante', 'none.log')]);
    const danteAuthD = start('danted (username)', bins.danted, ['-f', join(dir, 'dante', 'auth.conf'), '-p', join(dir, 'dante', 'auth.pid')], [join(dir, 'dante', 'auth.log')]);
    const tiny = start('tinyproxy', bins.tinyproxy, ['-d', '-c', join(dir, 'tinyproxy', 'tinyproxy.conf')], [join(dir, 'tinyproxy', 'tinyproxy.log')]);
    // --conf: nghttpx reads /etc/nghttpx/nghttpx.conf otherwise.
    const nghttpx = start('nghttpx', bins.nghttpx, [`--conf=${join(dir, 'nghttpx', 'nghttpx.conf')}`], [join(dir, 'nghttpx', 'error.log')]);
    const nghttpxD = start('nghttpx (digest)', bins.nghttpx, [`--conf=${join(dir, 'nghttpx', 'digest.conf')}`], [join(dir, 'nghttpx', 'digest-error.log')]);
    const nghttpxN = start('nghttpx (ntlm)', bins.nghttpx, [`--conf=${join(dir, 'nghttpx', 'ntlm.conf')}`], [join(dir, 'nghttpx', 'ntlm-error.log')]);
    const stunnel = start('stunnel', bins.stunnel, [join(dir, 'stunnel', 'stunnel.conf')], [join(dir, 'stunnel', 'stunnel.log')]);

    await Promise.all([
      waitUntilAccepting(nginx, [nginxTls, nginxTlsH1, nginxHttp, nginxH2c]),
      waitUntilAccepting(squidD, [squid, squidTls, squidAuth, squidDigest, squidNtlm]),
      waitUntilAccepting(danteNone, [dante]),
      waitUntilAccepting(danteAuthD, [danteAuth]),
      waitUntilAccepting(tiny, [tinyproxy]),
      waitUntilAccepting(nghttpx, [nghttpxTls, nghttpxH2c]),
      waitUntilAccepting(nghttpxD, [nghttpxDigest]),
      waitUntilAccepting(nghttpxN, [nghttpxNtlm]),
      waitUntilAccepting(stunnel, [stunnelSocks, stunnelTinyproxy]),
    ]);

    const versions: Record<string, string> = {
      nginx: versionOf(bins.nginx, ['-v']),
      squid: versionOf(bins.squid, ['-v']),
      nghttpx: versionOf(bins.nghttpx, ['--version']),
      dante: versionOf(bins.danted, ['-v']),
      stunnel: versionOf(bins.stunnel, ['-version']),
      tinyproxy: versionOf(bins.tinyproxy, ['-v']),
    };
    const bodies = join(dir, 'nginx', 'bodies');
    const u = user;
    return {
      pki,
      ca: pki.ca,
      ports,
      dir,
      squidUser,
      socksUser: { username: u.username, password: u.password },
      big: { path: '/big.bin', size: BIG_SIZE, sha256: bigSha },
      versions,
      received: async (pathFromResponse) => {
        const p = pathFromResponse.trim();
        const rel = relative(bodies, p);
        if (!isAbsolute(p) || rel.startsWith('..') || isAbsolute(rel) || rel === '') throw new Error(`nginx answered /upload with ${JSON.stringify(p)}, not a file under ${bodies}`);
        try {
          return await hashFile(p);
        } finally {
          rmSync(p, { force: true });
        }
      },
      stop,
    };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}
