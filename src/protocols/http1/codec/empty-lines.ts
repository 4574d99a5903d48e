/**
 * Empty lines before a status line (RFC 9112 §2.2). Some servers send a CRLF
 * after a body; llhttp and curl skip such lines, and so does burrow, up to
 * {@link MAX_EMPTY_LINES} per response head: a peer cannot keep the parser
 * busy with an endless stream of them.
 */
import { bareCR, parseError } from './chars.js';

// Byte values as module-local constants (cheaper in a loop than imported ones).
const LF = 0x0a;
const CR = 0x0d;

/**
 * Most empty lines (CRLF or LF) skipped before one status line, whether or not
 * a request is pending; one more is an `ERR_HTTP_PARSE`.
 */
export const MAX_EMPTY_LINES = 4;

/** Skips empty lines between responses for one connection, whole or across chunks. */
export class EmptyLineSkipper {
  #count = 0;
  #cr = false;

  /** True when the CR of an empty line was read and its LF has not come yet. */
  get pendingCR(): boolean {
    return this.#cr;
  }

  /** Starts counting again (a header block was read, or the parser stopped). */
  reset(): void {
    this.#count = 0;
    this.#cr = false;
  }

  /**
   * Skips the empty lines from `p`; returns the index of the first byte that
   * is not part of one (`chunk.length` when the chunk ends first: a CR is then
   * remembered). Throws `ERR_HTTP_PARSE` for a CR not followed by LF or for
   * more than {@link MAX_EMPTY_LINES} lines.
   */
  skip(chunk: Buffer, p: number): number {
    const len = chunk.length;
    while (p < len) {
      const c = chunk[p];
      if (this.#cr) {
        if (c !== LF) throw bareCR('empty line before a status line');
        this.#cr = false;
      } else if (c === CR) {
        this.#cr = true;
        p++;
        continue;
      } else if (c !== LF) {
        break;
      }
      p++;
      if (++this.#count > MAX_EMPTY_LINES) {
        throw parseError(`more than ${MAX_EMPTY_LINES} empty lines before a status line`, { limit: MAX_EMPTY_LINES });
      }
    }
    return p;
  }
}
