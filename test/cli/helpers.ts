// Running the built `burrow` command as a child process, the way users run it. The servers it
// talks to live in the test process, so the child is spawned asynchronously (never spawnSync,
// which would stop the servers' event loop).
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const bin = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  /** Exit code, null when killed. */
  readonly status: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly ms: number;
}

const PROXY_VARS = /^(https?|all|no)_proxy$/i;

/** process.env without proxy variables (and without BURROW_FORCE_PROGRESS), plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !PROXY_VARS.test(k) && k !== 'BURROW_FORCE_PROGRESS') env[k] = v;
  }
  return { ...env, ...extra };
}

/** Runs `node dist/cli/main.js ...args`, killing it after `timeoutMs`. */
export function runCli(
  args: readonly string[],
  opts: { env?: Record<string, string>; cwd?: string; input?: Buffer | string; timeoutMs?: number; command?: readonly string[] } = {},
): Promise<CliResult> {
  const started = Date.now();
  const [cmd, ...pre] = opts.command ?? [process.execPath, bin];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd as string, [...pre, ...args], { env: opts.env ?? cleanEnv(), cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), ms: Date.now() - started });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** True when `script` (util-linux) can run a command in a pseudo-terminal here. */
export function hasScript(): boolean {
  const r = spawnSync('script', ['-qfec', 'true', '/dev/null'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0;
}

/** Quotes for sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/** A small HTTP/1.1 server for what the test origin has no route for: redirects and body digests. */
export interface HelperServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Routes: `/redirect/CODE?to=URL` answers CODE with `location: URL`; `/loop` redirects to
 * itself; `/sha256` answers `{ method, length, sha256, headers }` of the request; anything
 * else answers `{ method, headers, body }`.
 */
export async function startHelperServer(): Promise<HelperServer> {
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const body = await readBody(req);
      const u = new URL(req.url ?? '/', 'http://x');
      const redirect = /^\/redirect\/(\d{3})$/.exec(u.pathname);
      if (redirect !== null) {
        res.writeHead(Number(redirect[1]), { location: u.searchParams.get('to') ?? '/', 'content-length': '0' });
        res.end();
        return;
      }
      if (u.pathname === '/loop') {
        res.writeHead(302, { location: '/loop', 'content-length': '0' });
        res.end();
        return;
      }
      if (u.pathname === '/gzip' && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
        const gz = gzipSync(JSON.stringify({ method: req.method, path: req.url, headers: req.headers, body: body.toString('utf8') }));
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': gz.length });
        res.end(gz);
        return;
      }
      const json =
        u.pathname === '/sha256'
          ? { method: req.method, length: body.length, sha256: createHash('sha256').update(body).digest('hex'), headers: req.headers }
          : { method: req.method, path: req.url, headers: req.headers, body: body.toString('utf8') };
      const text = JSON.stringify(json);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    })().catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (it was listening a moment ago). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => s.once('listening', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
