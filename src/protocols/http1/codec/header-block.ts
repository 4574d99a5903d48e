/**
 * Header and trailer blocks (RFC 9112 §5): field lines up to an empty line,
 * after a status line for a header block. A block that arrives whole in one
 * chunk is validated in place and decoded with one `latin1` conversion; only an
 * incomplete block is copied, into a small growable buffer, and validated when
 * its end arrives (its size is checked on every chunk, so buffering stays
 * bounded by the limit).
 */
import { BurrowError } from '../../../errors/errors.js';
import type { Header } from '../../../shared/headers.js';
import { bareCR, parseError, TCHAR as TCHAR_TABLE } from './chars.js';
import { newStatusLine, scanStatusLine, type StatusLine } from './status-line.js';

/** The limits a block is read under. */
export interface BlockLimits {
  readonly maxHeaderBlockSize: number;
  readonly maxTrailerBlockSize: number;
  readonly maxHeaderCount: number;
}

/** A complete block: `buf[start, end)`, and where parsing goes on in the chunk fed. */
export interface Block {
  readonly buf: Buffer;
  readonly start: number;
  readonly end: number;
  /** Index in the chunk just past the block. */
  readonly next: number;
}

const EMPTY = Buffer.alloc(0);

// Byte values as module-local constants: an imported binding is read through its module cell (with a
// hole check) on every use, which costs ~10% in the scanning loops.
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const TCHAR: Uint8Array = TCHAR_TABLE;

/**
 * Common response header names. A name that matches one (case-insensitively)
 * is returned as this constant string: no slice, no toLowerCase, and later
 * comparisons with literals are pointer comparisons.
 */
const KNOWN_NAMES: readonly string[] = [
  'accept-ranges', 'access-control-allow-credentials', 'access-control-allow-headers', 'access-control-allow-methods',
  'access-control-allow-origin', 'access-control-expose-headers', 'access-control-max-age', 'age', 'allow', 'alt-svc',
  'cache-control', 'cf-cache-status', 'cf-ray', 'connection', 'content-disposition', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-range', 'content-security-policy', 'content-type',
  'cross-origin-embedder-policy', 'cross-origin-opener-policy', 'cross-origin-resource-policy', 'date', 'etag',
  'expires', 'keep-alive', 'last-modified', 'link', 'location', 'nel', 'permissions-policy', 'pragma',
  'proxy-authenticate', 'proxy-connection', 'referrer-policy', 'report-to', 'retry-after', 'server', 'set-cookie',
  'strict-transport-security', 'timing-allow-origin', 'trailer', 'transfer-encoding', 'upgrade', 'vary', 'via',
  'www-authenticate', 'x-cache', 'x-content-type-options', 'x-frame-options', 'x-powered-by', 'x-request-id',
  'x-xss-protection',
];

/** For each name length, the indexes into KNOWN_NAMES and their lowercase bytes. */
const KNOWN_BY_LENGTH: Array<Array<{ index: number; bytes: Uint8Array }>> = [];
KNOWN_NAMES.forEach((name, index) => {
  (KNOWN_BY_LENGTH[name.length] ??= []).push({ index, bytes: Buffer.from(name, 'latin1') });
});

/**
 * 2 + the index in KNOWN_NAMES of the name in `buf[start, end)` (token bytes,
 * compared case-insensitively), or 0. `b | 0x20` lowercases a letter and maps
 * no other token byte onto a letter, digit or '-'.
 */
function knownName(buf: Buffer, start: number, end: number): number {
  const candidates = KNOWN_BY_LENGTH[end - start];
  if (candidates === undefined) return 0;
  for (let c = 0; c < candidates.length; c++) {
    const cand = candidates[c] as { index: number; bytes: Uint8Array };
    const bytes = cand.bytes;
    let j = 0;
    while (j < bytes.length && ((buf[start + j] as number) | 0x20) === bytes[j]) j++;
    if (j === bytes.length) return cand.index + 2;
  }
  return 0;
}

/** Reads header and trailer blocks for one connection, whole or across chunks. */
export class HeaderBlockReader {
  private readonly limits: BlockLimits;
  /** Bytes of an incomplete block. */
  private pend: Buffer = EMPTY;
  private pendLen = 0;
  /** Block-end scanner state: 0 in a line, 1 just after LF, 2 after LF CR. */
  private scan = 0;
  /** Field offsets recorded by a scan: [nameStart, nameEnd, valueStart, valueEnd, how] each. */
  private readonly offs: number[] = [];
  private nFields = 0;
  /** The status line of the last header block read. */
  readonly status: StatusLine = newStatusLine();

  constructor(limits: BlockLimits) {
    this.limits = limits;
  }

  /** Bytes of an incomplete block held. */
  get buffered(): number {
    return this.pendLen;
  }

  /** Field lines in the last block read. */
  get fieldCount(): number {
    return this.nFields;
  }

  /** Drops an incomplete block (the parser stopped). */
  reset(): void {
    this.pend = EMPTY;
    this.pendLen = 0;
    this.scan = 0;
  }

  /**
   * Gathers a complete header block (`trailer` false: status line first) or
   * trailer block starting at `p`: in place when the whole block is in this
   * chunk, else in the pending buffer. Returns null when more bytes are needed
   * (they were buffered). Throws on invalid content or a block over its limit.
   */
  gather(chunk: Buffer, p: number, trailer: boolean): Block | null {
    const max = trailer ? this.limits.maxTrailerBlockSize : this.limits.maxHeaderBlockSize;
    const invalid = trailer ? 'invalid trailer block' : 'invalid response header block';
    const len = chunk.length;
    if (this.pendLen === 0) {
      // Common case: the whole block is in this chunk; scan it in place.
      const end = this.scanBlock(chunk, p, len, trailer);
      if (end === -1) {
        if (len - p > max) throw this.tooLarge(trailer);
        // A trailer block starts just after the LF of the last-chunk line.
        this.scan = trailer ? 1 : 0;
        if (this.findBlockEnd(chunk, p) !== -1) throw parseError(invalid);
        this.append(chunk, p, len);
        return null;
      }
      if (end - p > max) throw this.tooLarge(trailer);
      this.scan = 0;
      return { buf: chunk, start: p, end, next: end };
    }
    const next = this.findBlockEnd(chunk, p);
    if (next === -1) {
      if (this.pendLen + (len - p) > max) throw this.tooLarge(trailer);
      this.append(chunk, p, len);
      return null;
    }
    if (this.pendLen + (next - p) > max) throw this.tooLarge(trailer);
    this.append(chunk, p, next);
    const buf = this.pend;
    const end = this.scanBlock(buf, 0, this.pendLen, trailer);
    if (end !== this.pendLen) throw parseError(invalid);
    this.pendLen = 0;
    this.scan = 0;
    if (!trailer && buf.length > 16384) this.pend = EMPTY; // do not keep a large buffer around
    return { buf, start: 0, end, next };
  }

  /** The header list of the last block read, from `s`: the block decoded (latin1) from offset `base`. */
  fields(s: string, base: number): Header[] {
    const n = this.nFields;
    const offs = this.offs;
    const out: Header[] = [];
    for (let k = 0; k < n * 5; k += 5) {
      const how = offs[k + 4] as number;
      let name: string;
      if (how >= 2) name = KNOWN_NAMES[how - 2] as string;
      else {
        name = s.slice((offs[k] as number) - base, (offs[k + 1] as number) - base);
        if (how === 1) name = name.toLowerCase();
      }
      out.push([name, s.slice((offs[k + 2] as number) - base, (offs[k + 3] as number) - base)]);
    }
    return out;
  }

  private tooLarge(trailer: boolean): BurrowError {
    const limit = trailer ? this.limits.maxTrailerBlockSize : this.limits.maxHeaderBlockSize;
    return new BurrowError(trailer ? 'ERR_TRAILER_BLOCK_TOO_LARGE' : 'ERR_HEADER_BLOCK_TOO_LARGE', `response ${trailer ? 'trailer' : 'header'} block larger than ${limit} bytes`, {
      stage: 'http',
      details: { limit },
    });
  }

  private append(src: Buffer, start: number, end: number): void {
    const n = end - start;
    const need = this.pendLen + n;
    if (need > this.pend.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.pend.length * 2, 256));
      this.pend.copy(grown, 0, 0, this.pendLen);
      this.pend = grown;
    }
    src.copy(this.pend, this.pendLen, start, end);
    this.pendLen = need;
  }

  /**
   * Looks for the end of a block (an empty line) from `p`, continuing from the
   * scanner state. Returns the index just past it, or -1 (keeping the state).
   */
  private findBlockEnd(buf: Buffer, p: number): number {
    const len = buf.length;
    let st = this.scan;
    let i = p;
    while (i < len) {
      if (st === 1) {
        const c = buf[i];
        if (c === LF) return i + 1;
        if (c === CR) {
          st = 2;
          i++;
          continue;
        }
        st = 0;
      } else if (st === 2) {
        if (buf[i] === LF) return i + 1;
        st = 0;
      }
      const j = buf.indexOf(LF, i);
      if (j === -1) {
        st = 0;
        break;
      }
      i = j + 1;
      st = 1;
    }
    this.scan = st;
    return -1;
  }

  /**
   * Scans and validates a block in `buf[start, limit)`: the status line when
   * `trailer` is false, then field lines. Returns the index just past the empty
   * line that ends the block, or -1 when `limit` comes first. Records the status
   * line and the field offsets; throws on invalid content (which never depends on
   * bytes after `limit`).
   */
  private scanBlock(buf: Buffer, start: number, limit: number, trailer: boolean): number {
    let i = start;
    if (!trailer) {
      i = scanStatusLine(buf, start, limit, this.status);
      if (i === -1) return -1;
    }
    const section = trailer ? 'trailer' : 'header';
    const offs = this.offs;
    const max = this.limits.maxHeaderCount;
    let n = 0;
    let c: number;
    for (;;) {
      if (i >= limit) return -1;
      c = buf[i] as number;
      if (c === LF) {
        this.nFields = n;
        return i + 1;
      }
      if (c === CR) {
        if (i + 1 >= limit) return -1;
        if (buf[i + 1] !== LF) throw bareCR(`${section} block`);
        this.nFields = n;
        return i + 2;
      }
      if (c === SP || c === HT) throw parseError(`obsolete line folding in the ${section} block is not accepted`);
      const ns = i;
      let upper = 0;
      while (TCHAR[c] === 1) {
        if (c <= 0x5a && c >= 0x41) upper = 1;
        if (++i >= limit) return -1;
        c = buf[i] as number;
      }
      if (c !== 0x3a || i === ns) {
        throw parseError(`invalid ${section} field line: ${i === ns ? 'empty or invalid name' : 'invalid character in name or missing colon'}`);
      }
      const ne = i++;
      while (i < limit && (buf[i] === SP || buf[i] === HT)) i++;
      const vs = i;
      // Field value: VCHAR, obs-text, SP and HTAB, up to the line end.
      while (i < limit) {
        c = buf[i] as number;
        if (c >= SP ? c === 0x7f : c !== HT) break;
        i++;
      }
      if (i >= limit) return -1;
      let ve = i;
      while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
      if (c === LF) i++;
      else if (c === CR) {
        if (i + 1 >= limit) return -1;
        if (buf[i + 1] !== LF) throw bareCR(`${section} field value`);
        i += 2;
      } else {
        throw parseError(`invalid character 0x${c.toString(16).padStart(2, '0')} in a ${section} field value`);
      }
      if (n >= max) {
        throw new BurrowError('ERR_TOO_MANY_HEADERS', `more than ${max} ${section} fields`, {
          stage: 'http',
          details: { limit: max, section },
        });
      }
      const k = n * 5;
      offs[k] = ns;
      offs[k + 1] = ne;
      offs[k + 2] = vs;
      offs[k + 3] = ve;
      offs[k + 4] = knownName(buf, ns, ne) || upper;
      n++;
    }
  }
}
