/**
 * permessage-deflate (RFC 7692): what the client offers, what it accepts of
 * the server's answer, and the compression of one connection's messages —
 * in order, one message at a time, with the server's output bounded so that a
 * decompression bomb never fills memory.
 */
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';
import { CLOSE_TOO_BIG, WsProtocolError } from './frames.js';
import type { WsDeflateOptions } from '../../shared/ws.js';

/** The client's permessage-deflate options. */
export type DeflateOptions = WsDeflateOptions;

/** The parameters both sides agreed on. */
export interface DeflateParams {
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  readonly serverMaxWindowBits: number;
  readonly clientMaxWindowBits: number;
}

/** The server's answer is not one the client can accept (the handshake fails). */
export class ExtensionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExtensionError';
  }
}

function bits(v: number | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 8 || v > 15) throw new RangeError(`${name} must be an integer from 8 to 15`);
  return v;
}

/** The `sec-websocket-extensions` offer for `opts`. */
export function deflateOffer(opts: DeflateOptions): string {
  const client = bits(opts.clientMaxWindowBits, 'clientMaxWindowBits');
  const server = bits(opts.serverMaxWindowBits, 'serverMaxWindowBits');
  const parts = ['permessage-deflate', client === undefined ? 'client_max_window_bits' : `client_max_window_bits=${client}`];
  if (server !== undefined) parts.push(`server_max_window_bits=${server}`);
  if (opts.clientNoContextTakeover === true) parts.push('client_no_context_takeover');
  if (opts.serverNoContextTakeover === true) parts.push('server_no_context_takeover');
  return parts.join('; ');
}

/** One extension of a `sec-websocket-extensions` value: its name and parameters (quoted values unquoted). */
export interface ExtensionOffer {
  readonly name: string;
  readonly params: ReadonlyArray<readonly [string, string | true]>;
}

/** Marks where a quoted string began while a value is split (NUL never survives into a header value). */
const QUOTED = '\u0000';
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parses a `sec-websocket-extensions` value (RFC 6455 §9.1). Throws {@link ExtensionError}. */
export function parseExtensions(value: string): ExtensionOffer[] {
  const out: ExtensionOffer[] = [];
  // Split on commas and semicolons outside quoted strings.
  const items: string[][] = [[]];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (quoted) {
      if (c === '\\' && i + 1 < value.length) cur += value[++i];
      else if (c === '"') quoted = false;
      else cur += c;
      continue;
    }
    if (c === '"') {
      quoted = true;
      cur += QUOTED;
    } else if (c === ',' || c === ';') {
      (items[items.length - 1] as string[]).push(cur.trim());
      cur = '';
      if (c === ',') items.push([]);
    } else cur += c;
  }
  if (quoted) throw new ExtensionError('an unterminated quoted string in sec-websocket-extensions');
  (items[items.length - 1] as string[]).push(cur.trim());
  for (const item of items) {
    const [name, ...params] = item;
    if (name === undefined || name === '') {
      if (item.every((p) => p === '')) continue;
      throw new ExtensionError('an empty extension name in sec-websocket-extensions');
    }
    if (!TOKEN.test(name)) throw new ExtensionError(`an invalid extension name ${JSON.stringify(name)}`);
    const list: Array<readonly [string, string | true]> = [];
    for (const p of params) {
      if (p === '') throw new ExtensionError(`an empty parameter of ${name}`);
      const eq = p.indexOf('=');
      const key = (eq < 0 ? p : p.slice(0, eq)).trim();
      if (!TOKEN.test(key)) throw new ExtensionError(`an invalid parameter name ${JSON.stringify(key)} of ${name}`);
      const raw = eq < 0 ? undefined : p.slice(eq + 1).trim();
      const val = raw === undefined ? true : raw.startsWith(QUOTED) ? raw.slice(1) : raw;
      list.push([key, val]);
    }
    out.push({ name, params: list });
  }
  return out;
}

/**
 * The parameters of the server's `permessage-deflate` answer, checked against
 * the offer (RFC 7692 §7.1): undefined when the server declined, an
 * {@link ExtensionError} when it answered what was not offered.
 */
export function acceptDeflate(header: string | undefined, opts: DeflateOptions | undefined): DeflateParams | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const exts = parseExtensions(header);
  if (exts.length === 0) return undefined;
  if (opts === undefined) throw new ExtensionError(`the server answered extensions that were not offered: ${header}`);
  if (exts.length > 1 || exts[0]?.name.toLowerCase() !== 'permessage-deflate') throw new ExtensionError(`the server answered extensions that were not offered: ${header}`);
  const seen = new Set<string>();
  let serverNoContextTakeover = false;
  let clientNoContextTakeover = opts.clientNoContextTakeover === true;
  let serverMaxWindowBits = 15;
  let clientMaxWindowBits = bits(opts.clientMaxWindowBits, 'clientMaxWindowBits') ?? 15;
  const windowBits = (v: string | true, name: string): number => {
    if (v === true || !/^(?:[89]|1[0-5])$/.test(v)) throw new ExtensionError(`an invalid ${name} in the permessage-deflate answer`);
    return Number(v);
  };
  for (const [key, val] of (exts[0] as ExtensionOffer).params) {
    const k = key.toLowerCase();
    if (seen.has(k)) throw new ExtensionError(`${k} twice in the permessage-deflate answer`);
    seen.add(k);
    switch (k) {
      case 'server_no_context_takeover':
        if (val !== true) throw new ExtensionError('server_no_context_takeover takes no value');
        serverNoContextTakeover = true;
        break;
      case 'client_no_context_takeover':
        if (val !== true) throw new ExtensionError('client_no_context_takeover takes no value');
        clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits': {
        const n = windowBits(val, k);
        if (opts.serverMaxWindowBits !== undefined && n > opts.serverMaxWindowBits) throw new ExtensionError('server_max_window_bits larger than asked');
        serverMaxWindowBits = n;
        break;
      }
      case 'client_max_window_bits': {
        const n = windowBits(val, k);
        if (n > clientMaxWindowBits) throw new ExtensionError('client_max_window_bits larger than offered');
        clientMaxWindowBits = n;
        break;
      }
      default:
        throw new ExtensionError(`an unknown permessage-deflate parameter ${k}`);
    }
  }
  if (opts.serverNoContextTakeover === true && !serverNoContextTakeover) throw new ExtensionError('server_no_context_takeover was asked for and not granted');
  if (opts.serverMaxWindowBits !== undefined && !seen.has('server_max_window_bits')) throw new ExtensionError('server_max_window_bits was asked for and not granted');
  return { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits };
}

/** The bytes a deflate block flushed with Z_SYNC_FLUSH ends with (RFC 7692 §7.2.1): removed when sending, added when receiving. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * The compressor and decompressor of one connection. Each direction handles
 * one message at a time, in the order given.
 */
export class PerMessageDeflate {
  readonly params: DeflateParams;
  readonly #maxPayload: number;
  readonly #level: number;
  readonly threshold: number;
  #deflate: DeflateRaw | undefined;
  #inflate: InflateRaw | undefined;
  #sending: Promise<unknown> = Promise.resolve();
  #receiving: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(params: DeflateParams, opts: { maxPayload: number; level?: number | undefined; threshold?: number | undefined }) {
    this.params = params;
    this.#maxPayload = opts.maxPayload;
    this.#level = opts.level ?? 6;
    this.threshold = opts.threshold ?? 1024;
  }

  /** Compresses one message (after the ones given before). */
  compress(data: Buffer): Promise<Buffer> {
    const run = (): Promise<Buffer> => new Promise<Buffer>((resolve, reject) => {
      if (this.#closed) {
        reject(new Error('the compressor is closed'));
        return;
      }
      // zlib cannot make a raw deflate stream with an 8-bit window: 9 is what every implementation uses.
      const d = (this.#deflate ??= createDeflateRaw({ level: this.#level, windowBits: Math.max(9, this.params.clientMaxWindowBits) }));
      const chunks: Buffer[] = [];
      const onData = (c: Buffer): void => {
        chunks.push(c);
      };
      const onError = (e: Error): void => {
        d.removeListener('data', onData);
        reject(e);
      };
      d.on('data', onData);
      d.once('error', onError);
      d.write(data);
      d.flush(constants.Z_SYNC_FLUSH, () => {
        d.removeListener('data', onData);
        d.removeListener('error', onError);
        let out = Buffer.concat(chunks);
        if (out.length >= 4 && out.subarray(out.length - 4).equals(TAIL)) out = out.subarray(0, out.length - 4);
        if (this.params.clientNoContextTakeover) {
          d.close();
          this.#deflate = undefined;
        }
        resolve(out);
      });
    });
    const p = this.#sending.then(run, run);
    this.#sending = p.catch(() => undefined);
    return p;
  }

  /**
   * Decompresses one message (after the ones given before). Rejects with a
   * {@link WsProtocolError} `1009` as soon as the output passes `maxPayload`,
   * and `1007` for data that is not a deflate stream.
   */
  decompress(data: Buffer): Promise<Buffer> {
    const run = (): Promise<Buffer> => new Promise<Buffer>((resolve, reject) => {
      if (this.#closed) {
        reject(new Error('the decompressor is closed'));
        return;
      }
      const inf = (this.#inflate ??= createInflateRaw({ windowBits: this.params.serverMaxWindowBits }));
      const chunks: Buffer[] = [];
      let total = 0;
      let failed = false;
      const done = (): void => {
        inf.removeListener('data', onData);
        inf.removeListener('error', onError);
      };
      const fail = (e: Error): void => {
        if (failed) return;
        failed = true;
        done();
        // The context is broken: the next message would not decode.
        inf.close();
        this.#inflate = undefined;
        reject(e);
      };
      const onData = (c: Buffer): void => {
        total += c.length;
        if (total > this.#maxPayload) {
          fail(new WsProtocolError(CLOSE_TOO_BIG, `a message decompressed to more than maxPayload (${this.#maxPayload} bytes)`));
          return;
        }
        chunks.push(c);
      };
      const onError = (e: Error): void => fail(new WsProtocolError(1007, `a compressed message does not decompress: ${e.message}`));
      inf.on('data', onData);
      inf.once('error', onError);
      inf.write(data);
      inf.write(TAIL);
      inf.flush(constants.Z_SYNC_FLUSH, () => {
        if (failed) return;
        done();
        if (this.params.serverNoContextTakeover) {
          inf.close();
          this.#inflate = undefined;
        }
        resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total));
      });
    });
    const p = this.#receiving.then(run, run);
    this.#receiving = p.catch(() => undefined);
    return p;
  }

  /** Frees zlib's memory; later calls reject. */
  close(): void {
    this.#closed = true;
    this.#deflate?.close();
    this.#inflate?.close();
    this.#deflate = undefined;
    this.#inflate = undefined;
  }
}
