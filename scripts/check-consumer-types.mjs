#!/usr/bin/env node
// The public types as a user's project sees them: a consumer project whose node_modules/burrow is
// this repository, compiled under \`strict\` (and exactOptionalPropertyTypes, noUncheckedIndexedAccess,
// skipLibCheck off, so burrow's .d.ts are checked too) with \`moduleResolution\` node16 and bundler.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const USES = `import { open, request, WebSocket, BurrowError, type StreamMessage, type WsFrame, type LayerInfo } from 'burrow';
import { startOrigin } from 'burrow/testing';
const conn = open({ host: 'localhost', port: 8080 });
const ref = conn.wsUpgrade('/', {}, { protocols: ['chat'], compress: true });
void conn.wsSend(ref, { type: 'text', data: 'x' });
conn.on('message', (m: StreamMessage) => {
  if (m.type === 'ws') {
    const f: WsFrame = m.frame;
    if (f.type === 'close') console.log(f.code);
  }
});
const ws = new WebSocket('wss://example/', { via: ['h2://proxy:443'] });
ws.binaryType = 'nodebuffer';
const layers: readonly LayerInfo[] | undefined = conn.info().layers;
export async function f(): Promise<number> {
  try {
    const res = await request('https://example/', { via: ['socks5h://127.0.0.1:1080'] });
    return res.status + (layers?.length ?? 0);
  } catch (e) {
    if (e instanceof BurrowError) return e.hop?.index ?? -1;
    throw e;
  }
}
void startOrigin;
import { ChainDispatcher, type ChainDispatcherOptions } from 'burrow/undici';
import type {} from 'burrow/undici/register';
const dispatcherOptions: ChainDispatcherOptions = { via: ['h2://proxy:443'], timeouts: { headers: 5000 } };
const restore: () => void = new ChainDispatcher(dispatcherOptions).install();
void ChainDispatcher.fromEnv({ env: { https_proxy: 'http://proxy:3128' } }).close().then(restore);
`;
const dir = mkdtempSync(join(tmpdir(), 'burrow-consumer-'));
let failed = false;
try {
  for (const [name, options] of [
    ['node16', { module: 'node16', moduleResolution: 'node16' }],
    ['bundler', { module: 'esnext', moduleResolution: 'bundler' }],
  ]) {
    const d = join(dir, name);
    mkdirSync(join(d, 'node_modules', '@types'), { recursive: true });
    symlinkSync(root, join(d, 'node_modules', 'burrow'), 'dir');
    symlinkSync(join(root, 'node_modules/@types/node'), join(d, 'node_modules/@types/node'), 'dir');
    writeFileSync(join(d, 'package.json'), '{ "type": "module" }');
    writeFileSync(join(d, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { ...options, target: 'es2022', strict: true, noEmit: true, types: ['node'], skipLibCheck: false, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true },
      files: ['use.ts'],
    }));
    writeFileSync(join(d, 'use.ts'), USES);
    try {
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: d, stdio: 'inherit' });
      console.log(`consumer types (moduleResolution ${name}): ok`);
    } catch {
      console.error(`consumer types (moduleResolution ${name}): type errors above`);
      failed = true;
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
