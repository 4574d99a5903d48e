/**
 * Chunked transfer coding (RFC 9112 §7.1): the chunk-size line, with its
 * optional extensions, read whole or across chunks. Chunk data and the CRLF
 * after it are framed by the parser; the trailer block is a header block.
 */
import { HEXVAL as HEXVAL_TABLE, parseError, TCHAR as TCHAR_TABLE } from './chars.js';

// Byte values as module-local constants: an imported binding is read through its module cell (with a
// hole check) on every use, which costs ~10% in the scanning loops.
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const TCHAR: Uint8Array = TCHAR_TABLE;
const HEXVAL: Uint8Array = HEXVAL_TABLE;

/** Longest chunk-size line (size and extensions, without its line terminator). */
export const MAX_CHUNK_SIZE_LINE = 4096;

const EMPTY = Buffer.alloc(0);

function lineTooLong(): Error {
  return parseError(`chunk size line longer than ${MAX_CHUNK_SIZE_LINE} bytes`, { limit: MAX_CHUNK_SIZE_LINE });
}

/** Reads chunk-size lines for one connection, whole or across chunks. */
export class ChunkSizeReader {
  #pend: Buffer = EMPTY;
  #pendLen = 0;
  /** The size of the last complete line read. */
  size = 0;

  /** Bytes of an incomplete line held. */
  get buffered(): number {
    return this.#pendLen;
  }

  reset(): void {
    this.#pend = EMPTY;
    this.#pendLen = 0;
  }

  /**
   * Reads (part of) a chunk-size line from `p`. Returns the index just past
   * its LF, with the size in {@link size}, or -1 when the line goes on in the
   * next chunk (the bytes are kept). Throws `ERR_HTTP_PARSE` on an invalid or
   * too long line.
   */
  read(chunk: Buffer, p: number): number {
    const len = chunk.length;
    const nl = chunk.indexOf(LF, p);
    const maxLine = MAX_CHUNK_SIZE_LINE + 1; // + a CR before the LF
    if (nl === -1) {
      if (this.#pendLen + (len - p) > maxLine) throw lineTooLong();
      this.#append(chunk, p, len);
      return -1;
    }
    if (this.#pendLen === 0) {
      this.size = parseChunkSizeLine(chunk, p, nl);
    } else {
      if (this.#pendLen + (nl - p) > maxLine) throw lineTooLong();
      this.#append(chunk, p, nl);
      this.size = parseChunkSizeLine(this.#pend, 0, this.#pendLen);
      this.#pendLen = 0;
    }
    return nl + 1;
  }

  #append(src: Buffer, start: number, end: number): void {
    const need = this.#pendLen + (end - start);
    if (need > this.#pend.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#pend.length * 2, 64));
      this.#pend.copy(grown, 0, 0, this.#pendLen);
      this.#pend = grown;
    }
    src.copy(this.#pend, this.#pendLen, start, end);
    this.#pendLen = need;
  }
}

/** Parses `buf[start, end)`, a chunk-size line without its LF; returns the size. */
export function parseChunkSizeLine(buf: Buffer, start: number, end: number): number {
  if (end > start && buf[end - 1] === CR) end--;
  if (end - start > MAX_CHUNK_SIZE_LINE) throw lineTooLong();
  let i = start;
  let size = 0;
  for (; i < end; i++) {
    const h = HEXVAL[buf[i] as number] as number;
    if (h === 0) break;
    size = size * 16 + (h - 1);
  }
  const digits = i - start;
  if (digits === 0) throw parseError('invalid chunk size line: missing hex size');
  if (digits > 15 || size > Number.MAX_SAFE_INTEGER) throw parseError('chunk size too large');
  if (i < end) checkChunkExtensions(buf, i, end);
  return size;
}

/**
 * Validates `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`
 * (RFC 9112 §7.1.1): whitespace only where the grammar has BWS, so none before
 * the line end, after the size (`5 \r\n`) or after an extension. Such a
 * line is outside the grammar, and a proxy between burrow and the server may
 * frame it differently (response splitting): it is refused, as llhttp does.
 */
export function checkChunkExtensions(buf: Buffer, i: number, end: number): void {
  const bad = (): Error => parseError('invalid chunk extension');
  for (;;) {
    if (i === end) return;
    while (i < end && (buf[i] === SP || buf[i] === HT)) i++;
    if (i === end) throw parseError('invalid chunk size line: whitespace before the line end');
    if (buf[i] !== 0x3b) throw bad();
    i++;
    while (i < end && (buf[i] === SP || buf[i] === HT)) i++;
    const ns = i;
    while (i < end && TCHAR[buf[i] as number] === 1) i++;
    if (i === ns) throw bad();
    let j = i;
    while (j < end && (buf[j] === SP || buf[j] === HT)) j++;
    if (j < end && buf[j] === 0x3d) {
      i = j + 1;
      while (i < end && (buf[i] === SP || buf[i] === HT)) i++;
      if (i < end && buf[i] === 0x22) {
        i++;
        for (;;) {
          if (i >= end) throw bad();
          const c = buf[i] as number;
          if (c === 0x22) {
            i++;
            break;
          }
          if (c === 0x5c) {
            const q = buf[i + 1];
            if (i + 1 >= end || q === undefined || (q < SP && q !== HT) || q === 0x7f) throw bad();
            i += 2;
            continue;
          }
          if (c === HT || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80) i++;
          else throw bad();
        }
      } else {
        const vs = i;
        while (i < end && TCHAR[buf[i] as number] === 1) i++;
        if (i === vs) throw bad();
      }
    }
  }
}
