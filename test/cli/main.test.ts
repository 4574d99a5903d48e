// The `burrow` command, run as a child process the way users run it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('burrow CLI', () => {
  it('--help prints usage and exits 0', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Usage:/);
    assert.match(r.stdout, /burrow demo/);
  });

  it('an unknown command exits 2 with usage on stderr', () => {
    const r = run(['no-such-command']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command/);
  });

  it('demo runs a request and a 100 MB download against the embedded origin and exits 0', () => {
    const r = run(['demo']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /GET \/\s+-> 200 "hello"/);
    assert.match(r.stdout, /100000000 bytes in/);
    assert.match(r.stdout, /TLS depth/);
  });
});
