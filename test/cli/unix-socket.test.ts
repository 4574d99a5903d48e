// `burrow --unix-socket PATH URL` as a child process: the origin on a Unix socket, and a missing socket as a
// connection failure naming the path.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers.js';

let dir: string;
let sock: string;
let server: http.Server;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'burrow-cli-unix-'));
  sock = join(dir, 'origin.sock');
  server = http.createServer((req, res) => res.end(`host=${req.headers.host ?? ''} path=${req.url ?? ''}`));
  await new Promise<void>((resolve) => server.listen(sock, resolve));
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('burrow --unix-socket', () => {
  it('reaches an origin on a Unix socket; the URL gives the host header', async () => {
    const r = await runCli(['--unix-socket', sock, 'http://docker/v1/info']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'host=docker path=/v1/info');
  });

  it('a missing socket: exit 7 (connection failed), the path in the message', async () => {
    const missing = join(dir, 'missing.sock');
    const r = await runCli(['--unix-socket', missing, 'http://localhost/']);
    assert.equal(r.status, 7, r.stderr);
    assert.match(r.stderr, new RegExp(`unix:${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  });
});
