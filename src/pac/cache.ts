/**
 * PAC scripts loaded once and kept compiled: a script fetched over HTTP is
 * kept as its caching headers say (`cache-control: max-age`, `no-cache`,
 * `no-store`, `expires`; five minutes when they say nothing) and revalidated
 * with `if-none-match` / `if-modified-since` once stale; a file is read again
 * only when its modification time or size changed; a script given as a string
 * is compiled once. Concurrent loads of one source share one fetch. A stale
 * script is used when its revalidation fails. At most {@link MAX_SCRIPTS}
 * scripts are kept (least recently used out, their machines freed).
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { BurrowError } from '../errors/errors.js';
import { PacScript, type PacLimits } from './engine.js';
import type { PacSource } from './source.js';

/** An HTTP answer to a PAC fetch. */
export interface PacFetchResult {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The body, for a 200. */
  readonly text: string;
}

/** Fetches a PAC script over HTTP(S) with the given extra request headers (validators). */
export type PacFetcher = (url: string, headers: ReadonlyArray<readonly [string, string]>) => Promise<PacFetchResult>;

/** How long a script fetched without caching headers stays fresh, ms. */
export const DEFAULT_PAC_FRESHNESS_MS = 5 * 60 * 1000;

/** The most scripts kept. */
export const MAX_SCRIPTS = 16;

/** The largest PAC script read from a file, bytes. */
export const MAX_SCRIPT_BYTES = 4 * 1024 * 1024;

interface Entry {
  script: PacScript;
  /** Date.now() until which it is used without asking. */
  freshUntil: number;
  etag: string | undefined;
  lastModified: string | undefined;
  /** For a file: its modification time and size when read. */
  fileStamp: string | undefined;
}

function header(headers: PacFetchResult['headers'], name: string): string | undefined {
  for (const [k, v] of headers) if (k.toLowerCase() === name) return v;
  return undefined;
}

/**
 * Until when an answer with `headers`, received at `now`, may be used without
 * revalidation (RFC 9111 §4.2 for a private cache); `undefined` for
 * `no-store` (not kept at all).
 */
export function freshUntil(headers: PacFetchResult['headers'], now: number): number | undefined {
  const cc = (header(headers, 'cache-control') ?? '').toLowerCase();
  const directives = new Map<string, string>();
  for (const part of cc.split(',')) {
    const [k = '', v = ''] = part.trim().split('=', 2);
    if (k !== '') directives.set(k, v.replace(/^"|"$/g, ''));
  }
  if (directives.has('no-store')) return undefined;
  if (directives.has('no-cache')) return now;
  const age = Number(header(headers, 'age') ?? '0');
  const ageMs = Number.isFinite(age) && age > 0 ? age * 1000 : 0;
  const maxAge = directives.get('max-age');
  if (maxAge !== undefined && /^\d+$/.test(maxAge)) return now + Number(maxAge) * 1000 - ageMs;
  const expires = header(headers, 'expires');
  if (expires !== undefined) {
    // An invalid Expires (`0`, `-1`…) means already expired.
    const at = /[A-Za-z]{3}/.test(expires) ? Date.parse(expires) : NaN;
    if (Number.isNaN(at)) return now;
    const date = Date.parse(header(headers, 'date') ?? '');
    return now + (at - (Number.isNaN(date) ? now : date)) - ageMs;
  }
  return now + DEFAULT_PAC_FRESHNESS_MS;
}

/** What loading a script needs. */
export interface LoadOptions {
  readonly fetch: PacFetcher;
  readonly limits: PacLimits;
}

/** Compiled PAC scripts by source. */
export class PacCache {
  readonly #entries = new Map<string, Entry>();
  readonly #loading = new Map<string, Promise<PacScript>>();
  /** How many times a script was fetched or read (for tests and diagnostics). */
  loads = 0;

  /** The compiled script of `source`, loading (or revalidating) it when needed. */
  get(source: PacSource, opts: LoadOptions): Promise<PacScript> {
    const key = keyOf(source, opts.limits);
    const entry = this.#entries.get(key);
    if (entry !== undefined && source.kind === 'script') return Promise.resolve(this.#touch(key, entry).script);
    if (entry !== undefined && source.kind === 'url' && Date.now() < entry.freshUntil) return Promise.resolve(this.#touch(key, entry).script);
    const pending = this.#loading.get(key);
    if (pending !== undefined) return pending;
    const p = this.#load(key, source, opts, entry).finally(() => this.#loading.delete(key));
    this.#loading.set(key, p);
    return p;
  }

  #touch(key: string, entry: Entry): Entry {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry;
  }

  #store(key: string, entry: Entry): void {
    const old = this.#entries.get(key);
    if (old !== undefined && old.script !== entry.script) old.script.dispose();
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > MAX_SCRIPTS) {
      const [oldestKey, oldest] = this.#entries.entries().next().value as [string, Entry];
      this.#entries.delete(oldestKey);
      oldest.script.dispose();
    }
  }

  async #load(key: string, source: PacSource, opts: LoadOptions, entry: Entry | undefined): Promise<PacScript> {
    switch (source.kind) {
      case 'script': {
        const script = await PacScript.compile(source.text, source.name, opts.limits);
        this.#store(key, { script, freshUntil: Infinity, etag: undefined, lastModified: undefined, fileStamp: undefined });
        return script;
      }
      case 'file':
        return this.#loadFile(key, source, opts, entry);
      case 'url':
        return this.#loadUrl(key, source, opts, entry);
    }
  }

  async #loadFile(key: string, source: Extract<PacSource, { kind: 'file' }>, opts: LoadOptions, entry: Entry | undefined): Promise<PacScript> {
    let stamp: string;
    let text: string;
    try {
      const st = await stat(source.path);
      stamp = `${st.mtimeMs}:${st.size}`;
      if (entry !== undefined && entry.fileStamp === stamp) return this.#touch(key, entry).script;
      if (st.size > MAX_SCRIPT_BYTES) throw new Error(`larger than ${MAX_SCRIPT_BYTES} bytes`);
      this.loads++;
      text = await readFile(source.path, 'utf8');
    } catch (e) {
      throw new BurrowError('ERR_PAC_FETCH', `the PAC file ${source.name} could not be read: ${(e as Error).message}`, { stage: 'pac', cause: e, details: { script: source.name } });
    }
    const script = await PacScript.compile(text, source.name, opts.limits);
    this.#store(key, { script, freshUntil: Infinity, etag: undefined, lastModified: undefined, fileStamp: stamp });
    return script;
  }

  async #loadUrl(key: string, source: Extract<PacSource, { kind: 'url' }>, opts: LoadOptions, entry: Entry | undefined): Promise<PacScript> {
    const conditional: Array<[string, string]> = [];
    if (entry?.etag !== undefined) conditional.push(['if-none-match', entry.etag]);
    if (entry?.lastModified !== undefined) conditional.push(['if-modified-since', entry.lastModified]);
    let res: PacFetchResult;
    try {
      this.loads++;
      res = await opts.fetch(source.url, conditional);
      if (res.status === 304 && entry === undefined) throw new Error('304 Not Modified to a request without validators');
      if (res.status !== 200 && res.status !== 304) {
        throw new BurrowError('ERR_PAC_FETCH', `fetching the PAC script ${source.name} failed: status ${res.status}`, { stage: 'pac', details: { script: source.name, status: res.status } });
      }
    } catch (e) {
      // The last good script outlives a failed revalidation.
      if (entry !== undefined) return entry.script;
      if (e instanceof BurrowError && e.code === 'ERR_PAC_FETCH') throw e;
      throw new BurrowError('ERR_PAC_FETCH', `fetching the PAC script ${source.name} failed: ${(e as Error).message}`, { stage: 'pac', cause: e, details: { script: source.name } });
    }
    const now = Date.now();
    const until = freshUntil(res.headers, now);
    const validators = { etag: header(res.headers, 'etag'), lastModified: header(res.headers, 'last-modified') };
    if (res.status === 304 && entry !== undefined) {
      this.#store(key, { ...entry, freshUntil: until ?? now, etag: validators.etag ?? entry.etag, lastModified: validators.lastModified ?? entry.lastModified });
      return entry.script;
    }
    const script = await PacScript.compile(res.text, source.name, opts.limits);
    // no-store: kept only to free it with the next one; every request fetches it again, without validators.
    if (until === undefined) {
      this.#store(key, { script, freshUntil: now, etag: undefined, lastModified: undefined, fileStamp: undefined });
      return script;
    }
    this.#store(key, { script, freshUntil: until, etag: validators.etag, lastModified: validators.lastModified, fileStamp: undefined });
    return script;
  }

  /** Forgets every script and frees their machines. */
  clear(): void {
    for (const e of this.#entries.values()) e.script.dispose();
    this.#entries.clear();
  }
}

function keyOf(source: PacSource, limits: PacLimits): string {
  const l = `${limits.cpuMs}/${limits.timeoutMs}/${limits.memoryBytes}`;
  switch (source.kind) {
    case 'url':
      return `url ${l} ${source.url}`;
    case 'file':
      return `file ${l} ${source.path}`;
    case 'script':
      return `script ${l} ${createHash('sha256').update(source.text).digest('base64')}`;
  }
}

/** The process's PAC scripts. */
export const pacCache = new PacCache();
