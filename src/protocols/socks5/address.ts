/**
 * SOCKS addresses (RFC 1928 §5): a destination host as ATYP + DST.ADDR, and
 * the IPv6 text and byte forms a reply's BND.ADDR is read with.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { invalidOption } from '../../errors/errors.js';

/** Address types. */
export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;

/** The 16 bytes of an IPv6 address already validated by net.isIPv6 (no zone). */
export function ipv6Bytes(addr: string): Buffer {
  const out = Buffer.alloc(16);
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const res: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
        res.push((a << 8) | b, (c << 8) | d);
      } else {
        res.push(parseInt(g, 16));
      }
    }
    return res;
  };
  const gap = addr.indexOf('::');
  const head = groups(gap === -1 ? addr : addr.slice(0, gap));
  const tail = gap === -1 ? [] : groups(addr.slice(gap + 2));
  for (let i = 0; i < head.length; i++) out.writeUInt16BE(head[i] as number, i * 2);
  for (let i = 0; i < tail.length; i++) out.writeUInt16BE(tail[i] as number, 16 - (tail.length - i) * 2);
  return out;
}

/** RFC 5952 text form of the 16 bytes at `buf[off]`: lowercase, no leading zeros, longest zero run (>= 2 groups, first on a tie) as `::`. */
export function formatIPv6(buf: Buffer, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(buf.readUInt16BE(off + i * 2));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** ATYP + DST.ADDR for a destination host; throws ERR_INVALID_OPTION. */
export function encodeAddress(host: string): Buffer {
  if (typeof host !== 'string' || host === '') throw invalidOption('host', 'must be a non-empty string');
  let literal = host;
  const bracketed = host.startsWith('[') && host.endsWith(']');
  if (bracketed) literal = host.slice(1, -1);
  if (literal.includes('%') && isIPv6(literal)) {
    throw invalidOption('host', 'an IPv6 zone identifier cannot be sent to a SOCKS5 proxy');
  }
  if (isIPv6(literal)) {
    const out = Buffer.allocUnsafe(17);
    out[0] = ATYP_IPV6;
    ipv6Bytes(literal).copy(out, 1);
    return out;
  }
  if (bracketed) throw invalidOption('host', 'a bracketed host must be an IPv6 address');
  if (isIPv4(host)) {
    const out = Buffer.allocUnsafe(5);
    out[0] = ATYP_IPV4;
    const parts = host.split('.');
    for (let i = 0; i < 4; i++) out[1 + i] = Number(parts[i]);
    return out;
  }
  const len = Buffer.byteLength(host, 'utf8');
  if (len > 255) throw invalidOption('host', `a hostname sent to a SOCKS5 proxy is at most 255 bytes (got ${len})`);
  const out = Buffer.allocUnsafe(2 + len);
  out[0] = ATYP_DOMAIN;
  out[1] = len;
  out.write(host, 2, 'utf8');
  return out;
}

/** A host as shown in messages: IPv6 literals bracketed. */
export function addressForMessage(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
