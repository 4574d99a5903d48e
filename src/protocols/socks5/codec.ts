/**
 * burrow's SOCKS5 client handshake (RFC 1928, with RFC 1929 username/password
 * authentication), sans-I/O: bytes in, events out.
 *
 * The codec owns no socket and no timer. The connection layer writes the
 * greeting returned by {@link Socks5Client.start}, feeds every chunk it reads
 * with {@link Socks5Client.feed} and writes every `'send'` event's bytes as soon
 * as it gets them, until a `'done'` event: from then on the socket is a tunnel to
 * the destination, and `rest` holds the first tunnel bytes the server sent.
 *
 * Only the CONNECT command is implemented. Each reply is decoded from the chunk
 * it arrives in when it arrives whole; only an incomplete reply is copied, into
 * a small pending buffer (at most 262 bytes, the longest reply). Every byte is
 * checked as soon as it arrives, in wire order, so a given input gives the same
 * events and the same error however it is split into chunks.
 *
 * Every failure throws a {@link BurrowError} (stage `'socks-auth'` for the
 * method selection and the authentication, `'socks-reply'` for the CONNECT
 * reply), after which the codec is dead.
 */
import { BurrowError, invalidOption, type ErrorCode, type ErrorStage } from '../../errors/errors.js';
import { addressForMessage, ATYP_DOMAIN, ATYP_IPV4, ATYP_IPV6, encodeAddress, formatIPv6 } from './address.js';

/** An authentication method the client offers: no authentication, or username/password (RFC 1929). */
export type SocksAuthMethod = 'none' | { username: string; password: string };

/** What to ask the SOCKS5 server for. */
export interface SocksRequest {
  /** Destination host: a hostname goes as ATYP 3 (domain, resolved by the proxy); an IPv4 literal as ATYP 1; an IPv6 literal (with or without brackets) as ATYP 4. */
  host: string;
  /** Destination port, 1..65535. */
  port: number;
  /** Methods offered, in order; default ['none']. Each at most once. */
  auth?: readonly SocksAuthMethod[];
}

/** The address the server bound for the connection (BND.ADDR / BND.PORT of the reply). */
export interface SocksBound {
  host: string;
  port: number;
  addressType: 'ipv4' | 'ipv6' | 'domain';
}

/** One thing the codec asks for or reports. */
export type SocksEvent =
  /** Bytes the client must write now. */
  | { kind: 'send'; data: Buffer }
  /** The server chose this method. */
  | { kind: 'method'; method: 'none' | 'username-password' }
  /**
   * CONNECT succeeded; `rest` = bytes after the reply (a subarray of the chunk
   * that was fed, possibly empty). They belong to the tunnel: never drop them.
   */
  | { kind: 'done'; bound: SocksBound; rest: Buffer };

/** Where the handshake is. */
export type SocksPhase = 'greeting' | 'auth' | 'connect' | 'done' | 'failed';

const VERSION = 0x05;
const AUTH_VERSION = 0x01;
const METHOD_NONE = 0x00;
const METHOD_USERPASS = 0x02;
const NO_ACCEPTABLE = 0xff;
const CMD_CONNECT = 0x01;

/** Longest server message: a CONNECT reply with a 255-byte domain. */
const MAX_MESSAGE = 4 + 1 + 255 + 2;

const EMPTY = Buffer.alloc(0);

const REPLY_NAMES: readonly string[] = [
  'succeeded',
  'general_failure',
  'connection_not_allowed',
  'network_unreachable',
  'host_unreachable',
  'connection_refused',
  'ttl_expired',
  'command_not_supported',
  'address_type_not_supported',
];

/**
 * Name of a SOCKS5 reply code: 1 general_failure, 2 connection_not_allowed,
 * 3 network_unreachable, 4 host_unreachable, 5 connection_refused,
 * 6 ttl_expired, 7 command_not_supported, 8 address_type_not_supported,
 * 0 succeeded, any other `unknown_<n>`.
 */
export function socksReplyName(code: number): string {
  return (Number.isInteger(code) ? REPLY_NAMES[code] : undefined) ?? `unknown_${code}`;
}

function methodName(m: number): string {
  if (m === METHOD_NONE) return 'none';
  if (m === METHOD_USERPASS) return 'username-password';
  return `0x${hex2(m)}`;
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}

type Details = Record<string, string | number | boolean>;

function socksError(code: ErrorCode, stage: ErrorStage, message: string, details: Details): BurrowError {
  return new BurrowError(code, message, { stage, details });
}

function protocolError(phase: 'greeting' | 'auth' | 'connect', message: string, details: Details): BurrowError {
  const what = phase === 'greeting' ? 'method selection' : phase === 'auth' ? 'username/password authentication' : 'CONNECT';
  return socksError('ERR_SOCKS_PROTOCOL', phase === 'connect' ? 'socks-reply' : 'socks-auth', `SOCKS5 ${what} failed: ${message}`, {
    phase,
    ...details,
  });
}

function versionHint(v: number): string {
  if (v === 0x48) return ' (the proxy looks like an HTTP server)';
  if (v === 0x00 || v === 0x04) return ' (the proxy looks like a SOCKS4 server)';
  return '';
}


/** RFC 1929 request `01 ULEN USER PLEN PASS`; throws ERR_INVALID_OPTION (never showing the password). */
function encodeUserPass(username: unknown, password: unknown): Buffer {
  if (typeof username !== 'string') throw invalidOption('auth.username', 'must be a string');
  if (typeof password !== 'string') throw invalidOption('auth.password', 'must be a string');
  const ulen = Buffer.byteLength(username, 'utf8');
  const plen = Buffer.byteLength(password, 'utf8');
  if (ulen < 1 || ulen > 255) throw invalidOption('auth.username', `must be 1 to 255 bytes in UTF-8 (got ${ulen})`);
  if (plen < 1 || plen > 255) throw invalidOption('auth.password', `must be 1 to 255 bytes in UTF-8 (got ${plen})`);
  const out = Buffer.allocUnsafe(3 + ulen + plen);
  out[0] = AUTH_VERSION;
  out[1] = ulen;
  out.write(username, 2, 'utf8');
  out[2 + ulen] = plen;
  out.write(password, 3 + ulen, 'utf8');
  return out;
}

// ---------------------------------------------------------------------------

/**
 * The client side of one SOCKS5 handshake (CONNECT command).
 *
 * Usage: write the bytes of {@link start}'s event; then for each chunk read,
 * call {@link feed} and act on its events in order ('method' is informative,
 * 'send' must be written, 'done' ends the handshake). A throw or 'done' ends
 * the codec's life.
 */
export class Socks5Client {
  private readonly greeting: Buffer;
  private readonly offered: Uint8Array;
  private readonly authRequest: Buffer | undefined;
  private readonly connectRequest: Buffer;
  private readonly destination: string;

  private started = false;
  private state: SocksPhase = 'greeting';
  /** Why the codec is dead (for the error thrown by a later feed()). */
  private deadReason = '';

  /** The bound address, once the CONNECT reply succeeded. */
  private bound: SocksBound | undefined;

  /** Bytes of an incomplete server message (allocated on first need). */
  private pend: Buffer = EMPTY;
  private pendLen = 0;

  /** Validates the request; throws BurrowError ERR_INVALID_OPTION (stage 'options', details.option). */
  constructor(req: SocksRequest) {
    if (req === null || typeof req !== 'object') throw invalidOption('request', 'must be an object');
    const { host, port } = req;
    const address = encodeAddress(host);
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw invalidOption('port', 'must be an integer from 1 to 65535');
    }
    const auth = req.auth ?? ['none'];
    if (!Array.isArray(auth) || auth.length === 0) throw invalidOption('auth', 'must be a non-empty array of methods');
    const methods: number[] = [];
    let authRequest: Buffer | undefined;
    for (const m of auth as readonly unknown[]) {
      let code: number;
      if (m === 'none') {
        code = METHOD_NONE;
      } else if (m !== null && typeof m === 'object') {
        code = METHOD_USERPASS;
        const up = m as { username?: unknown; password?: unknown };
        authRequest = encodeUserPass(up.username, up.password);
      } else {
        throw invalidOption('auth', "each method must be 'none' or { username, password }");
      }
      if (methods.includes(code)) throw invalidOption('auth', `method ${methodName(code)} is offered more than once`);
      methods.push(code);
    }

    this.offered = Uint8Array.from(methods);
    this.greeting = Buffer.from([VERSION, methods.length, ...methods]);
    this.authRequest = authRequest;
    const req2 = Buffer.allocUnsafe(3 + address.length + 2);
    req2[0] = VERSION;
    req2[1] = CMD_CONNECT;
    req2[2] = 0x00;
    address.copy(req2, 3);
    req2.writeUInt16BE(port, 3 + address.length);
    this.connectRequest = req2;
    this.destination = `${addressForMessage(host)}:${port}`;
  }

  /** Where the handshake is ('greeting' until the server chose a method). */
  get phase(): SocksPhase {
    return this.state;
  }

  /** The greeting: [{kind:'send', data: <05 N methods...>}]. Call once (a second call throws ERR_BAD_STATE). */
  start(): SocksEvent[] {
    if (this.started) {
      throw new BurrowError('ERR_BAD_STATE', 'SOCKS5 handshake: start() was already called', { stage: 'state' });
    }
    this.started = true;
    return [{ kind: 'send', data: this.greeting }];
  }

  /**
   * Feeds server bytes (any split, including one byte at a time); returns the
   * events they complete. Throws BurrowError on failure; after a throw or
   * 'done' the codec is dead and feed() throws ERR_SOCKS_PROTOCOL. Calling
   * feed() before start() throws ERR_BAD_STATE (the codec stays usable).
   */
  feed(chunk: Buffer): SocksEvent[] {
    if (this.state === 'done' || this.state === 'failed') {
      throw new BurrowError('ERR_SOCKS_PROTOCOL', `SOCKS5 handshake: unexpected data after ${this.deadReason}`, {
        stage: 'state',
        details: { phase: this.state },
      });
    }
    if (!this.started) {
      throw new BurrowError('ERR_BAD_STATE', 'SOCKS5 handshake: feed() called before start()', { stage: 'state' });
    }
    const events: SocksEvent[] = [];
    const len = chunk.length;
    let p = 0;
    try {
      while (p < len) {
        if (this.pendLen === 0) {
          const n = this.step(chunk, p, len - p, events);
          if (n === 0) {
            // Incomplete: fewer than MAX_MESSAGE bytes are left.
            if (this.pend.length === 0) this.pend = Buffer.allocUnsafe(MAX_MESSAGE);
            chunk.copy(this.pend, 0, p, len);
            this.pendLen = len - p;
            p = len;
          } else {
            p += n;
          }
        } else {
          const old = this.pendLen;
          const take = Math.min(len - p, MAX_MESSAGE - old);
          chunk.copy(this.pend, old, p, p + take);
          this.pendLen = old + take;
          const n = this.step(this.pend, 0, this.pendLen, events);
          if (n === 0) {
            p += take;
          } else {
            p += n - old;
            this.pendLen = 0;
          }
        }
        if (this.bound !== undefined) {
          events.push({ kind: 'done', bound: this.bound, rest: p < len ? chunk.subarray(p) : EMPTY });
          return events;
        }
      }
    } catch (e) {
      this.state = 'failed';
      this.pendLen = 0;
      this.deadReason = e instanceof BurrowError ? `a previous error (${e.code}: ${e.message})` : 'a previous error';
      throw e;
    }
    return events;
  }

  /**
   * Decodes the server message at `buf[off, off + avail)` for the current
   * phase: returns its length once complete (after pushing its events and
   * moving to the next phase), 0 while incomplete. Checks each byte present,
   * in wire order, and throws on the first bad one.
   */
  private step(buf: Buffer, off: number, avail: number, events: SocksEvent[]): number {
    switch (this.state) {
      case 'greeting':
        return this.methodReply(buf, off, avail, events);
      case 'auth':
        return this.authReply(buf, off, avail, events);
      default:
        return this.connectReply(buf, off, avail);
    }
  }

  private methodReply(buf: Buffer, off: number, avail: number, events: SocksEvent[]): number {
    const v = buf[off] as number;
    if (v !== VERSION) {
      throw protocolError('greeting', `the server replied with version ${v}, expected 5${versionHint(v)}`, { version: v });
    }
    if (avail < 2) return 0;
    const m = buf[off + 1] as number;
    if (m === NO_ACCEPTABLE) {
      const offered = Array.from(this.offered, methodName).join(', ');
      throw socksError(
        'ERR_SOCKS_NO_ACCEPTABLE_METHOD',
        'socks-auth',
        `SOCKS5 method selection failed: the server accepted none of the offered authentication methods (${offered})`,
        { phase: 'greeting', offered },
      );
    }
    if (!this.offered.includes(m)) {
      throw protocolError('greeting', `the server chose method ${methodName(m)}, which was not offered`, { method: m });
    }
    if (m === METHOD_USERPASS) {
      events.push({ kind: 'method', method: 'username-password' });
      events.push({ kind: 'send', data: this.authRequest as Buffer });
      this.state = 'auth';
    } else {
      events.push({ kind: 'method', method: 'none' });
      events.push({ kind: 'send', data: this.connectRequest });
      this.state = 'connect';
    }
    return 2;
  }

  private authReply(buf: Buffer, off: number, avail: number, events: SocksEvent[]): number {
    const v = buf[off] as number;
    if (v !== AUTH_VERSION) {
      throw protocolError('auth', `the server replied with sub-negotiation version ${v}, expected 1`, { version: v });
    }
    if (avail < 2) return 0;
    const status = buf[off + 1] as number;
    if (status !== 0) {
      throw socksError(
        'ERR_SOCKS_AUTH',
        'socks-auth',
        `SOCKS5 username/password authentication failed: the server rejected the credentials (status ${status})`,
        { phase: 'auth', status },
      );
    }
    events.push({ kind: 'send', data: this.connectRequest });
    this.state = 'connect';
    return 2;
  }

  private connectReply(buf: Buffer, off: number, avail: number): number {
    const v = buf[off] as number;
    if (v !== VERSION) {
      throw protocolError('connect', `the reply has version ${v}, expected 5${versionHint(v)}`, { version: v });
    }
    if (avail < 2) return 0;
    const rep = buf[off + 1] as number;
    if (rep !== 0) {
      const replyName = socksReplyName(rep);
      throw socksError(
        'ERR_SOCKS_REPLY',
        'socks-reply',
        `SOCKS5 server replied ${replyName} (${rep}) to the CONNECT request for ${this.destination}`,
        { reply: rep, replyName },
      );
    }
    if (avail < 3) return 0;
    const rsv = buf[off + 2] as number;
    if (rsv !== 0) {
      throw protocolError('connect', `the reply's reserved byte is 0x${hex2(rsv)}, expected 0x00`, { reserved: rsv });
    }
    if (avail < 4) return 0;
    const atyp = buf[off + 3] as number;
    let total: number;
    if (atyp === ATYP_IPV4) total = 10;
    else if (atyp === ATYP_IPV6) total = 22;
    else if (atyp === ATYP_DOMAIN) {
      if (avail < 5) return 0;
      total = 7 + (buf[off + 4] as number);
    } else {
      throw protocolError('connect', `the reply has unknown address type 0x${hex2(atyp)}`, { addressType: atyp });
    }
    if (avail < total) return 0;
    let bound: SocksBound;
    if (atyp === ATYP_IPV4) {
      bound = {
        host: `${buf[off + 4] as number}.${buf[off + 5] as number}.${buf[off + 6] as number}.${buf[off + 7] as number}`,
        port: buf.readUInt16BE(off + 8),
        addressType: 'ipv4',
      };
    } else if (atyp === ATYP_IPV6) {
      bound = { host: formatIPv6(buf, off + 4), port: buf.readUInt16BE(off + 20), addressType: 'ipv6' };
    } else {
      bound = { host: buf.toString('latin1', off + 5, off + total - 2), port: buf.readUInt16BE(off + total - 2), addressType: 'domain' };
    }
    this.bound = bound;
    this.state = 'done';
    this.deadReason = 'the handshake completed (bytes after the reply are the tunnel\'s: see the \'done\' event\'s rest)';
    return total;
  }
}
