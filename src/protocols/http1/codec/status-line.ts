/**
 * The status line of a response: `HTTP/1.x SSS[ reason]` (RFC 9112 §4). Bare
 * LF line ends are accepted (RFC 9112 §2.2); a bare CR, control characters,
 * another version or a malformed status code are not.
 */
import { bareCR, parseError } from './chars.js';

// Byte values as module-local constants: an imported binding is read through its module cell (with a
// hole check) on every use, which costs ~10% in the scanning loops.
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;

/** A status line as recorded by {@link scanStatusLine}: offsets into the buffer scanned. */
export interface StatusLine {
  status: number;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  reasonStart: number;
  reasonEnd: number;
}

/** A fresh record for {@link scanStatusLine} to fill. */
export function newStatusLine(): StatusLine {
  return { status: 0, minor: 0, reasonStart: 0, reasonEnd: 0 };
}

/**
 * Scans the status line starting at `start` in `buf[start, limit)`; returns the
 * index just past its line end, or -1 when `limit` comes first. Fills `out`;
 * throws `ERR_HTTP_PARSE` for an invalid line (never depending on bytes after `limit`).
 */
export function scanStatusLine(buf: Buffer, start: number, limit: number, out: StatusLine): number {
  let i = start;
  for (;;) {
    if (i >= limit) return -1;
    const c = buf[i] as number;
    if ((c >= SP && c !== 0x7f) || c === HT) {
      i++;
      continue;
    }
    if (c === LF) {
      checkStatusLine(buf, start, i, out);
      return i + 1;
    }
    if (c === CR) {
      if (i + 1 >= limit) return -1;
      if (buf[i + 1] !== LF) throw bareCR('status line');
      checkStatusLine(buf, start, i, out);
      return i + 2;
    }
    throw parseError('invalid character in the status line');
  }
}

/** Checks `HTTP/1.x SSS[ reason]` in `buf[start, le)` and records it in `out`. */
export function checkStatusLine(buf: Buffer, start: number, le: number, out: StatusLine): void {
  const minor = buf[start + 7];
  if (
    le - start < 12 ||
    buf[start] !== 0x48 || // H
    buf[start + 1] !== 0x54 || // T
    buf[start + 2] !== 0x54 || // T
    buf[start + 3] !== 0x50 || // P
    buf[start + 4] !== 0x2f || // /
    buf[start + 5] !== 0x31 || // 1
    buf[start + 6] !== 0x2e || // .
    (minor !== 0x31 && minor !== 0x30) ||
    buf[start + 8] !== SP ||
    (le - start > 12 && buf[start + 12] !== SP)
  ) {
    throw parseError(`invalid status line ${JSON.stringify(buf.toString('latin1', start, Math.min(le, start + 64)))}`);
  }
  const d0 = (buf[start + 9] as number) - 0x30;
  const d1 = (buf[start + 10] as number) - 0x30;
  const d2 = (buf[start + 11] as number) - 0x30;
  if (!(d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9)) {
    throw parseError(`invalid status code in status line ${JSON.stringify(buf.toString('latin1', start, Math.min(le, start + 64)))}`);
  }
  out.status = d0 * 100 + d1 * 10 + d2;
  out.minor = minor - 0x30;
  out.reasonStart = start + 13;
  out.reasonEnd = le;
}
