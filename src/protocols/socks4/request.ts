/**
 * The SOCKS4 and SOCKS4a CONNECT request, encoded:
 *
 * ```
 * VN=04 CD=01 DSTPORT(2) DSTIP(4) USERID NUL              SOCKS4
 * VN=04 CD=01 DSTPORT(2) 00 00 00 01 USERID NUL HOST NUL   SOCKS4a (a name for the proxy to resolve)
 * ```
 *
 * An IPv4 literal always goes as DSTIP, in both versions; SOCKS4 carries no
 * IPv6 address, and plain SOCKS4 no name.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { invalidOption } from '../../errors/errors.js';

/** `4`: the client sends an IPv4 address; `'4a'`: it may send a host name, which the proxy resolves. */
export type Socks4Version = 4 | '4a';

const VERSION = 0x04;
const CMD_CONNECT = 0x01;
/** The longest user id and 4a host name sent (bytes, without the NUL). */
export const MAX_SOCKS4_FIELD = 255;

/** Checks a user id: a string of at most 255 bytes in UTF-8 without NUL; throws ERR_INVALID_OPTION. */
export function checkUserId(name: string, v: unknown): string {
  if (v === undefined) return '';
  if (typeof v !== 'string') throw invalidOption(name, 'must be a string');
  if (v.includes('\0')) throw invalidOption(name, 'cannot contain NUL');
  const len = Buffer.byteLength(v, 'utf8');
  if (len > MAX_SOCKS4_FIELD) throw invalidOption(name, `is at most ${MAX_SOCKS4_FIELD} bytes in UTF-8 (got ${len})`);
  return v;
}

/**
 * Checks a destination host for a SOCKS4 (`4`) or SOCKS4a (`'4a'`) request and
 * returns it without brackets; throws ERR_INVALID_OPTION for an IPv6 address
 * (SOCKS4 carries IPv4 only), a name with version 4, or a bad 4a name.
 */
export function checkSocks4Host(name: string, host: unknown, version: Socks4Version): string {
  if (typeof host !== 'string' || host === '') throw invalidOption(name, 'must be a non-empty string');
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIPv6(literal) || (literal.includes(':') && isIPv6(literal.split('%')[0] ?? ''))) {
    throw invalidOption(name, `SOCKS4 carries IPv4 addresses only, not the IPv6 address ${literal}`);
  }
  if (isIPv4(host)) {
    if (host.startsWith('0.0.0.') && host !== '0.0.0.0') throw invalidOption(name, `${host} cannot be sent: 0.0.0.x addresses mark a SOCKS4a request`);
    return host;
  }
  if (literal !== host) throw invalidOption(name, 'a bracketed host must be an IPv6 address');
  if (version === 4) {
    throw invalidOption(name, `SOCKS4 sends an IPv4 address, not the name ${JSON.stringify(host)}: resolve it first, or use SOCKS4a (version '4a') to have the proxy resolve it`);
  }
  if (host.includes('\0')) throw invalidOption(name, 'cannot contain NUL');
  const len = Buffer.byteLength(host, 'utf8');
  if (len > MAX_SOCKS4_FIELD) throw invalidOption(name, `a host name sent to a SOCKS4a proxy is at most ${MAX_SOCKS4_FIELD} bytes (got ${len})`);
  return host;
}

/**
 * The request bytes for CONNECT `host:port` (host checked by {@link checkSocks4Host},
 * user id by {@link checkUserId}).
 */
export function encodeSocks4Request(host: string, port: number, userId: string): Buffer {
  const ipv4 = isIPv4(host);
  const ulen = Buffer.byteLength(userId, 'utf8');
  const hlen = ipv4 ? 0 : Buffer.byteLength(host, 'utf8') + 1;
  const out = Buffer.allocUnsafe(8 + ulen + 1 + hlen);
  out[0] = VERSION;
  out[1] = CMD_CONNECT;
  out.writeUInt16BE(port, 2);
  if (ipv4) {
    const parts = host.split('.');
    for (let i = 0; i < 4; i++) out[4 + i] = Number(parts[i]);
  } else {
    // 0.0.0.x with x != 0: "the name follows" (SOCKS4a).
    out[4] = 0;
    out[5] = 0;
    out[6] = 0;
    out[7] = 1;
  }
  out.write(userId, 8, 'utf8');
  out[8 + ulen] = 0;
  if (!ipv4) {
    out.write(host, 9 + ulen, 'utf8');
    out[out.length - 1] = 0;
  }
  return out;
}
