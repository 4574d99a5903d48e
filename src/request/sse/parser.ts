/**
 * The sans-I/O Server-Sent Events parser: bytes in, events out, per the
 * WHATWG HTML "event stream interpretation" (§9.2.6). UTF-8 decoded with one
 * leading BOM stripped; lines end in CR, LF or CRLF (a CR at the end of one
 * chunk and an LF at the start of the next are one line end); `:` comments;
 * the fields `event`, `data`, `id` (ignored when it holds NUL) and `retry`
 * (ASCII digits only); an event's data lines joined by LF; an event with no
 * data not dispatched; the last event ID kept from one event to the next. What
 * is pending when the stream ends is discarded. The size of the event being
 * read is bounded (`maxEventSize`): a line that never ends costs at most that.
 */
import { BurrowError } from '../../errors/errors.js';

/** One event of an event stream. */
export interface SseEvent {
  /** The event type: the `event` field, or `message` when none was given. */
  readonly event: string;
  /** The `data` lines of the event, joined by LF. */
  readonly data: string;
  /** The last event ID when the event was dispatched (kept from earlier events unless an `id` field changed it; `''` for none). */
  readonly id: string;
  /** The reconnection time the stream set last (a `retry` field, ms), in this event or an earlier one; undefined when none did. */
  readonly retry: number | undefined;
}

/** Options of an event stream's parser. */
export interface SseOptions {
  /**
   * The largest event accepted, in characters (UTF-16 code units): what the
   * parser holds while reading it — its data and type so far plus the line
   * being read. Default 4 MiB (4 194 304). More fails with
   * `ERR_SSE_EVENT_TOO_LARGE`; comments and ignored lines hold nothing.
   */
  maxEventSize?: number;
}

/** Default bound of one event (`maxEventSize`). */
export const DEFAULT_MAX_EVENT_SIZE = 4 * 1024 * 1024;

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;
const LINE_END = /[\r\n]/g;
const DIGITS = /^[0-9]+$/;

/** Checks `maxEventSize`: a positive integer. */
export function checkMaxEventSize(v: unknown): number {
  if (v === undefined) return DEFAULT_MAX_EVENT_SIZE;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new BurrowError('ERR_INVALID_OPTION', 'invalid option maxEventSize: a positive integer', { stage: 'options', details: { option: 'maxEventSize' } });
  }
  return v;
}

/**
 * The parser of one event stream. `push()` takes the next bytes and returns
 * the events they complete; `end()` discards what is pending. `lastEventId`
 * and `retry` say what the stream set so far (an EventSource reads them even
 * when no event was dispatched).
 */
export class SseParser {
  readonly #max: number;
  readonly #decoder = new TextDecoder('utf-8', { ignoreBOM: false });
  /** The start of a line not yet ended. */
  #line = '';
  /** The previous chunk ended with CR: an LF starting this one ends nothing. */
  #afterCr = false;
  #data = '';
  #hasData = false;
  #type = '';
  /** The `id` field last read; it becomes the last event ID when an event ends (an empty line). */
  #idBuffer: string;
  #lastEventId: string;
  #retry: number | undefined;
  #failed: BurrowError | undefined;
  /** `#failed` was thrown to the caller. */
  #reported = false;

  /**
   * @param opts the bound of one event
   * @param lastEventId the last event ID to start from (an EventSource's reconnection: what it sent as `Last-Event-ID`)
   */
  constructor(opts: SseOptions = {}, lastEventId = '') {
    this.#max = checkMaxEventSize(opts.maxEventSize);
    this.#idBuffer = lastEventId;
    this.#lastEventId = lastEventId;
  }

  /** The last event ID: the `id` field last read when an event ended (an empty line), dispatched or not; `''` for none. */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** The last reconnection time the stream set, ms; undefined when none. */
  get retry(): number | undefined {
    return this.#retry;
  }

  /** Parses the next bytes; returns the events they complete, in order. Throws `ERR_SSE_EVENT_TOO_LARGE` (and every later call too). */
  push(chunk: Uint8Array): SseEvent[] {
    if (this.#failed !== undefined) {
      this.#reported = true;
      throw this.#failed;
    }
    const out: SseEvent[] = [];
    try {
      this.#text(this.#decoder.decode(chunk, { stream: true }), out);
    } catch (e) {
      // The events completed before the line that passed the bound are handed out; the error comes with the
      // next push() or end().
      if (e !== this.#failed || out.length === 0) {
        this.#reported = true;
        throw e;
      }
    }
    return out;
  }

  /**
   * The stream ended: an event not finished by an empty line is discarded (the decoder's pending bytes too).
   * Throws the `ERR_SSE_EVENT_TOO_LARGE` that `push()` found after handing out the events before it.
   */
  end(): void {
    if (this.#failed !== undefined && !this.#reported) {
      this.#reported = true;
      throw this.#failed;
    }
    this.#decoder.decode();
    this.#line = '';
    this.#data = '';
    this.#hasData = false;
    this.#type = '';
    this.#afterCr = false;
  }

  #text(text: string, out: SseEvent[]): void {
    let start = 0;
    if (this.#afterCr && text.length > 0) {
      this.#afterCr = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    LINE_END.lastIndex = start;
    for (;;) {
      const m = LINE_END.exec(text);
      if (m === null) break;
      const at = m.index;
      this.#check(at - start);
      const line = this.#line.length > 0 ? this.#line + text.slice(start, at) : text.slice(start, at);
      this.#line = '';
      let next = at + 1;
      if (text.charCodeAt(at) === CR) {
        if (next === text.length) this.#afterCr = true;
        else if (text.charCodeAt(next) === LF) next++;
      }
      start = next;
      LINE_END.lastIndex = next;
      this.#lineDone(line, out);
    }
    if (start < text.length) {
      this.#check(text.length - start);
      this.#line += text.slice(start);
    }
  }

  /** The line being read grows by `n` characters: fails when it and the event's data would pass the bound. */
  #check(n: number): void {
    if (this.#line.length + n + this.#data.length + this.#type.length > this.#max) {
      this.#line = '';
      this.#data = '';
      this.#failed = new BurrowError('ERR_SSE_EVENT_TOO_LARGE', `an event of the event stream exceeds maxEventSize (${this.#max} characters)`, {
        stage: 'http',
        details: { maxEventSize: this.#max },
      });
      throw this.#failed;
    }
  }

  #lineDone(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      this.#dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === COLON) return;
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon < 0) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === SPACE ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case 'event':
        this.#type = value;
        return;
      case 'data':
        this.#data = this.#hasData ? `${this.#data}\n${value}` : value;
        this.#hasData = true;
        return;
      case 'id':
        if (!value.includes('\0')) this.#idBuffer = value;
        return;
      case 'retry':
        // Digits only; a value past 2^53 is kept as the largest exact integer (a timer clamps it further).
        if (DIGITS.test(value)) this.#retry = Math.min(Number(value), Number.MAX_SAFE_INTEGER);
        return;
      default:
        return;
    }
  }

  #dispatch(out: SseEvent[]): void {
    this.#lastEventId = this.#idBuffer;
    const type = this.#type;
    this.#type = '';
    if (!this.#hasData) return;
    const data = this.#data;
    this.#data = '';
    this.#hasData = false;
    out.push({ event: type === '' ? 'message' : type, data, id: this.#lastEventId, retry: this.#retry });
  }
}
