// The package as users get it: `import` and `require` of 'burrow' and 'burrow/testing', the files
// `npm pack` ships, and the command's exec bit. (The public types in a consumer project:
// scripts/check-consumer-types.mjs, part of `npm test`.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

/** A consumer project whose node_modules/burrow is this repository (as `npm install ../burrow` makes it). */
function consumer(dir: string, files: Record<string, string>): void {
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(root, join(dir, 'node_modules', 'burrow'), 'dir');
  symlinkSync(join(root, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}


let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'burrow-package-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('package exports', () => {
  it("import { open } from 'burrow' resolves to the built library", async () => {
    const mod = (await import('burrow')) as Record<string, unknown>;
    assert.equal(typeof mod['open'], 'function');
    assert.equal(typeof mod['StreamRef'], 'function');
    assert.equal(typeof mod['BurrowError'], 'function');
    assert.equal(typeof mod['WebSocket'], 'function');
  });

  it('burrow/testing exports the test servers', async () => {
    const mod = (await import('burrow/testing')) as Record<string, unknown>;
    for (const name of ['createTestPki', 'startOrigin', 'startScriptedServer', 'startConnectProxy', 'startH2ConnectProxy', 'startSocks5Server', 'startEchoServer']) {
      assert.equal(typeof mod[name], 'function', name);
    }
  });

  it("require('burrow') from CommonJS (require of an ES module: Node >= 20.19 / 22.12)", async () => {
    const d = join(dir, 'cjs');
    mkdirSync(d);
    consumer(d, {
      'package.json': '{ "type": "commonjs" }',
      'main.cjs': "const b = require('burrow'); const t = require('burrow/testing'); console.log(typeof b.open, typeof b.request, typeof b.WebSocket, typeof t.startOrigin);",
    });
    const { stdout } = await run(process.execPath, ['--no-warnings', 'main.cjs'], { cwd: d });
    assert.equal(stdout.trim(), 'function function function function');
  });
});

describe('the package as npm ships it', () => {
  it('npm pack ships the built library, the command, README, LICENSE and package.json only', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((f) => f.path) ?? [];
    const outside = files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(f));
    assert.deepEqual(outside, []);
    assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts') && files.includes('dist/cli/main.js') && files.includes('LICENSE'));
    const kinds = new Set(files.filter((f) => f.startsWith('dist/')).map((f) => f.replace(/^.*?(\.d\.ts|\.js\.map|\.js)$/, '$1')));
    assert.deepEqual([...kinds].sort(), ['.d.ts', '.js', '.js.map']);
    // Source maps carry their sources: src/ is not shipped.
    const map = JSON.parse(readFileSync(join(root, 'dist', 'index.js.map'), 'utf8')) as { sourcesContent?: unknown[] };
    assert.ok(Array.isArray(map.sourcesContent) && map.sourcesContent.length > 0);
  });

  it('the built command is executable and starts with #!/usr/bin/env node (npm run build sets the mode)', async () => {
    const main = join(root, 'dist', 'cli', 'main.js');
    assert.equal(statSync(main).mode & 0o111, 0o111);
    assert.ok(readFileSync(main, 'utf8').startsWith('#!/usr/bin/env node\n'));
    const { stdout } = await run(main, ['--version'], { env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env['PATH'] ?? ''}` } });
    assert.match(stdout, /^\d+\.\d+\.\d+/);
  });

});

