/**
 * burrow's SOCKS4 / SOCKS4a client handshake (CONNECT only), sans-I/O: bytes
 * in, events out.
 *
 * The codec owns no socket and no timer. The driver writes the request
 * returned by {@link Socks4Client.start}, then feeds every chunk it reads with
 * {@link Socks4Client.feed} until a `'done'` event: from then on the duplex is
 * a tunnel to the destination, and `rest` holds the first tunnel bytes the
 * server sent in the same read as its reply.
 *
 * The reply is 8 bytes: `VN=00 CD DSTPORT(2) DSTIP(4)`. CD `0x5A` grants the
 * request; `0x5B` (rejected or failed), `0x5C` (the server could not reach
 * identd on the client) and `0x5D` (identd reported another user id) refuse it
 * (`ERR_SOCKS_REPLY`); any other version or code is `ERR_SOCKS_PROTOCOL`.
 * Every byte is checked as soon as it arrives, in wire order, so a given input
 * gives the same events and the same error however it is split into chunks.
 * Every failure throws a {@link BurrowError} of stage `'socks-reply'`, after
 * which the codec is dead.
 */
import { BurrowError, invalidOption } from '../../errors/errors.js';
import { checkSocks4Host, checkUserId, encodeSocks4Request, type Socks4Version } from './request.js';

export type { Socks4Version } from './request.js';

/** What to ask the SOCKS4 server for. */
export interface Socks4Request {
  /**
   * Destination host: an IPv4 address; with version `'4a'` also a host name
   * (sent for the proxy to resolve). IPv6 addresses cannot be sent.
   */
  host: string;
  /** Destination port, 1..65535. */
  port: number;
  /** The USERID field, default `''`: at most 255 bytes in UTF-8, no NUL. */
  userId?: string;
  /** `4` (default) or `'4a'`. */
  version?: Socks4Version;
}

/** DSTIP / DSTPORT of a granted reply (most servers send zeros for CONNECT). */
export interface Socks4Bound {
  host: string;
  port: number;
}

/** One thing the codec asks for or reports. */
export type Socks4Event =
  /** Bytes the client must write now. */
  | { kind: 'send'; data: Buffer }
  /**
   * The request was granted; `rest` = bytes after the reply (a subarray of the
   * chunk fed, possibly empty). They belong to the tunnel: never drop them.
   */
  | { kind: 'done'; bound: Socks4Bound; rest: Buffer };

/** Where the handshake is: `'reply'` until the whole reply arrived. */
export type Socks4Phase = 'reply' | 'done' | 'failed';

const REPLY_LENGTH = 8;
const GRANTED = 0x5a;
const EMPTY = Buffer.alloc(0);

/** The reply codes that refuse a request, with their name and meaning. */
const REFUSALS: ReadonlyMap<number, readonly [name: string, meaning: string]> = new Map([
  [0x5b, ['rejected', 'request rejected or failed']],
  [0x5c, ['identd_unreachable', 'the server could not reach identd on the client']],
  [0x5d, ['identd_mismatch', 'identd on the client reported another user id than the one sent']],
]);

/**
 * Name of a SOCKS4 reply code: 0x5A `granted`, 0x5B `rejected`, 0x5C
 * `identd_unreachable`, 0x5D `identd_mismatch`, any other `unknown_<n>`.
 */
export function socks4ReplyName(code: number): string {
  if (code === GRANTED) return 'granted';
  return REFUSALS.get(code)?.[0] ?? `unknown_${code}`;
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}

function versionHint(v: number): string {
  if (v === 0x05) return ' (the proxy looks like a SOCKS5 server)';
  if (v === 0x48) return ' (the proxy looks like an HTTP server)';
  if (v === 0x04) return ' (a SOCKS4 reply starts with 0x00; 0x04 is the request version)';
  return '';
}

/**
 * The client side of one SOCKS4 or SOCKS4a CONNECT.
 *
 * Usage: write the bytes of {@link start}'s event; then feed every chunk read
 * to {@link feed} until its `'done'` event. A throw or `'done'` ends the
 * codec's life.
 */
export class Socks4Client {
  private readonly request: Buffer;
  private readonly destination: string;
  /** What the messages call the protocol: `SOCKS4` or `SOCKS4a`. */
  private readonly label: string;
  private started = false;
  private state: Socks4Phase = 'reply';
  private deadReason = '';
  /** Reply bytes received so far (the reply is copied only when split). */
  private readonly pend = Buffer.alloc(REPLY_LENGTH);
  private pendLen = 0;

  /** Validates the request; throws BurrowError ERR_INVALID_OPTION (stage 'options', details.option). */
  constructor(req: Socks4Request) {
    if (req === null || typeof req !== 'object') throw invalidOption('request', 'must be an object');
    const version = req.version ?? 4;
    if (version !== 4 && version !== '4a') throw invalidOption('version', "must be 4 or '4a'");
    const host = checkSocks4Host('host', req.host, version);
    const { port } = req;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw invalidOption('port', 'must be an integer from 1 to 65535');
    }
    this.request = encodeSocks4Request(host, port, checkUserId('userId', req.userId));
    this.destination = `${host}:${port}`;
    this.label = version === 4 ? 'SOCKS4' : 'SOCKS4a';
  }

  /** Where the handshake is. */
  get phase(): Socks4Phase {
    return this.state;
  }

  /** The request: [{kind:'send', data}]. Call once (a second call throws ERR_BAD_STATE). */
  start(): Socks4Event[] {
    if (this.started) throw new BurrowError('ERR_BAD_STATE', `${this.label} handshake: start() was already called`, { stage: 'state' });
    this.started = true;
    return [{ kind: 'send', data: this.request }];
  }

  /**
   * Feeds server bytes (any split, one byte at a time included); returns the
   * `'done'` event once the reply is complete, else nothing. Throws BurrowError
   * on failure; after a throw or `'done'`, feed() throws ERR_SOCKS_PROTOCOL.
   * Calling feed() before start() throws ERR_BAD_STATE (the codec stays usable).
   */
  feed(chunk: Buffer): Socks4Event[] {
    if (this.state !== 'reply') {
      throw new BurrowError('ERR_SOCKS_PROTOCOL', `${this.label} handshake: unexpected data after ${this.deadReason}`, { stage: 'state', details: { phase: this.state } });
    }
    if (!this.started) throw new BurrowError('ERR_BAD_STATE', `${this.label} handshake: feed() called before start()`, { stage: 'state' });
    const have = this.pendLen;
    const take = Math.min(chunk.length, REPLY_LENGTH - have);
    try {
      // Check the new bytes in wire order before keeping them.
      for (let i = 0; i < take; i++) this.check(have + i, chunk[i] as number);
    } catch (e) {
      this.state = 'failed';
      this.deadReason = e instanceof BurrowError ? `a previous error (${e.code}: ${e.message})` : 'a previous error';
      throw e;
    }
    if (have === 0 && take === REPLY_LENGTH) return this.finish(chunk, chunk.subarray(REPLY_LENGTH));
    chunk.copy(this.pend, have, 0, take);
    this.pendLen = have + take;
    if (this.pendLen < REPLY_LENGTH) return [];
    return this.finish(this.pend, take < chunk.length ? chunk.subarray(take) : EMPTY);
  }

  /** Checks reply byte `i` (the version and the code; the address is anything). */
  private check(i: number, b: number): void {
    if (i === 0 && b !== 0x00) {
      throw new BurrowError('ERR_SOCKS_PROTOCOL', `${this.label} CONNECT failed: the reply has version 0x${hex2(b)}, expected 0x00${versionHint(b)}`, {
        stage: 'socks-reply',
        details: { phase: 'connect', version: b },
      });
    }
    if (i === 1 && b !== GRANTED) {
      const refusal = REFUSALS.get(b);
      if (refusal === undefined) {
        throw new BurrowError('ERR_SOCKS_PROTOCOL', `${this.label} CONNECT failed: unknown reply code 0x${hex2(b)} (expected 0x5a to 0x5d)`, {
          stage: 'socks-reply',
          details: { phase: 'connect', reply: b, replyName: socks4ReplyName(b) },
        });
      }
      throw new BurrowError('ERR_SOCKS_REPLY', `${this.label} server refused the CONNECT request for ${this.destination}: ${refusal[1]} (reply 0x${hex2(b)})`, {
        stage: 'socks-reply',
        details: { reply: b, replyName: refusal[0] },
      });
    }
  }

  /** The reply is complete in `buf[0, 8)`; `rest` is what followed it. */
  private finish(buf: Buffer, rest: Buffer): Socks4Event[] {
    const bound = { host: `${buf[4] as number}.${buf[5] as number}.${buf[6] as number}.${buf[7] as number}`, port: buf.readUInt16BE(2) };
    this.state = 'done';
    this.pendLen = 0;
    this.deadReason = "the handshake completed (bytes after the reply are the tunnel's: see the 'done' event's rest)";
    return [{ kind: 'done', bound, rest }];
  }
}
