/**
 * Hops and the protocols that run on them: the types of `open()`'s
 * `protocols`, of `connect()` destinations and of SOCKS options, and their
 * validation. A hop's options (TLS, timeouts, credentials) belong to it alone.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { invalidOption } from '../../errors/errors.js';
import { checkTlsOptions, type TlsOptions } from './tls.js';
import { checkHost, checkKeys, checkPort, checkTimeout, checkTransport, isObject } from './validate.js';

/** The protocols a layer can run. */
export type ProtocolName = 'http' | 'http2' | 'raw' | 'socks';

/** SOCKS5 authentication methods offered, in order. */
export type SocksAuth = 'none' | { username: string; password: string };

/** The SOCKS protocol version spoken: `5` (RFC 1928), `4` (SOCKS4: an IPv4 address) or `'4a'` (SOCKS4a: a name the proxy resolves). */
export type SocksVersion = 5 | 4 | '4a';

/** A SOCKS hop: the SOCKS server is the endpoint this protocol runs on; these options name what it connects to. */
export interface SocksOptions {
  /**
   * Destination host. SOCKS5: a name goes to the proxy as a domain name, IP literals as addresses. SOCKS4: an
   * IPv4 address only; SOCKS4a: an IPv4 address or a name (resolved by the proxy). No IPv6 with SOCKS4/4a.
   */
  host: string;
  /** Destination port. */
  port: number;
  /** The SOCKS version, default `5`. */
  version?: SocksVersion;
  /** SOCKS5 only: methods offered, default `['none']`. */
  auth?: readonly SocksAuth[];
  /** SOCKS4/4a only: the USERID field sent (default empty; at most 255 bytes, no NUL). SOCKS4 has no password. */
  userId?: string;
  /** TLS to the destination through the SOCKS tunnel; default `'tcp'`. */
  transport?: 'tcp' | 'tls';
  /** TLS options for the destination only. */
  tls?: TlsOptions;
  /** What runs at the destination: over TCP exactly one; over TLS an ALPN list (default `['http2', 'http']`). */
  protocols?: readonly ProtocolSpec[];
  /** Timeout of the whole SOCKS handshake (SOCKS5: greeting, auth, connect reply; SOCKS4: the reply), ms; default 30000. */
  handshakeTimeout?: number;
  /** TLS handshake timeout with the destination, ms; default 30000. */
  tlsHandshakeTimeout?: number;
}

/** A protocol to run on a hop: `'http'`, `'http2'`, `'raw'`, or a SOCKS layer (SOCKS5, SOCKS4 or SOCKS4a). */
export type ProtocolSpec = 'http' | 'http2' | 'raw' | { socks: SocksOptions };

/** Where a `connect()` tunnel leads. */
export interface ConnectDestination {
  /** Host of the destination (the CONNECT authority). */
  host: string;
  /** Port of the destination. */
  port: number;
  /** TLS to the destination inside the tunnel; default `'tcp'`. */
  transport?: 'tcp' | 'tls';
  /** TLS options for this destination only. */
  tls?: TlsOptions;
  /** What runs inside the tunnel: over TCP exactly one (default `['http']`); over TLS an ALPN list (default `['http2', 'http']`). */
  protocols?: readonly ProtocolSpec[];
  /** Basic `proxy-authorization` on this CONNECT only. */
  username?: string;
  /** Basic `proxy-authorization` on this CONNECT only. */
  password?: string;
  /** How long the proxy may take to answer the CONNECT, ms; default 30000. */
  connectTimeout?: number;
  /** TLS handshake timeout with the destination, ms; default 30000. */
  tlsHandshakeTimeout?: number;
}

/** A hop after validation: everything needed to bring up the layers at one endpoint. */
export interface ResolvedHop {
  readonly host: string;
  readonly port: number;
  readonly transport: 'tcp' | 'tls';
  readonly tls: TlsOptions;
  readonly protocols: readonly ResolvedProtocol[];
  readonly tlsHandshakeTimeout: number;
}

/** A protocol after validation. */
export type ResolvedProtocol =
  | { readonly name: 'http' | 'http2' | 'raw' }
  | { readonly name: 'socks'; readonly socks: ResolvedSocks };

/** SOCKS options after validation. */
export interface ResolvedSocks {
  readonly version: SocksVersion;
  /** SOCKS5 methods offered (`['none']` for SOCKS4). */
  readonly auth: readonly SocksAuth[];
  /** SOCKS4 USERID (`''` for SOCKS5). */
  readonly userId: string;
  readonly handshakeTimeout: number;
  /** The destination the SOCKS server connects to. */
  readonly next: ResolvedHop;
}

/** A `connect()` destination after validation. */
export interface ResolvedDestination extends ResolvedHop {
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly connectTimeout: number;
}

/**
 * Validates a protocols list for an endpoint reached over `transport`: over TCP
 * exactly one protocol; over TLS an ALPN preference list of `'http2'`/`'http'`,
 * or a single `'raw'` or SOCKS layer (no ALPN is offered for those).
 */
export function checkProtocolsList(name: string, v: unknown, transport: 'tcp' | 'tls'): ProtocolSpec[] {
  if (v === undefined) return transport === 'tls' ? ['http2', 'http'] : ['http'];
  if (!Array.isArray(v) || v.length === 0) throw invalidOption(name, 'must be a non-empty array');
  const seen = new Set<string>();
  for (const p of v as unknown[]) {
    const n = typeof p === 'string' ? p : isObject(p) && Object.keys(p).length === 1 && isObject(p['socks']) ? 'socks' : undefined;
    if (n !== 'http' && n !== 'http2' && n !== 'raw' && n !== 'socks') {
      throw invalidOption(name, `unknown protocol ${JSON.stringify(p)} (expected 'http', 'http2', 'raw' or { socks: {...} })`);
    }
    if (seen.has(n)) throw invalidOption(name, `protocol ${n} listed twice`);
    seen.add(n);
  }
  if (transport === 'tcp' && v.length !== 1) throw invalidOption(name, 'over tcp, exactly one protocol');
  if (v.length > 1 && (seen.has('raw') || seen.has('socks'))) throw invalidOption(name, "'raw' and socks cannot be negotiated by ALPN: give them alone");
  return [...(v as ProtocolSpec[])];
}

/** Validates a protocols list for an endpoint reached over `transport` (recursing into SOCKS options). */
export function resolveProtocols(name: string, v: unknown, transport: 'tcp' | 'tls'): ResolvedProtocol[] {
  const list = checkProtocolsList(name, v, transport);
  return list.map((p, i) => {
    if (typeof p === 'string') return { name: p };
    return { name: 'socks' as const, socks: resolveSocks(`${name}[${i}].socks`, p.socks) };
  });
}

/** Validates SOCKS options. */
export function resolveSocks(name: string, v: unknown): ResolvedSocks {
  if (!isObject(v)) throw invalidOption(name, 'must be an object with host and port');
  checkKeys(name, v, ['host', 'port', 'version', 'auth', 'userId', 'transport', 'tls', 'protocols', 'handshakeTimeout', 'tlsHandshakeTimeout']);
  const version = v['version'] ?? 5;
  if (version !== 5 && version !== 4 && version !== '4a') throw invalidOption(`${name}.version`, "must be 5, 4 or '4a'");
  if (version !== 5 && v['auth'] !== undefined) throw invalidOption(`${name}.auth`, 'is for SOCKS5 (SOCKS4 sends a userId, and no password)');
  if (version === 5 && v['userId'] !== undefined) throw invalidOption(`${name}.userId`, 'is for SOCKS4 (SOCKS5 has auth)');
  const userId = v['userId'] ?? '';
  if (typeof userId !== 'string' || userId.includes('\0') || Buffer.byteLength(userId) > 255) {
    throw invalidOption(`${name}.userId`, 'must be a string of at most 255 bytes without NUL');
  }
  const auth = v['auth'] ?? ['none'];
  if (!Array.isArray(auth) || auth.length === 0) throw invalidOption(`${name}.auth`, "must be a non-empty list of 'none' and { username, password }");
  let none = 0;
  let userpass = 0;
  for (const a of auth) {
    if (a === 'none') none++;
    else if (isObject(a) && typeof a['username'] === 'string' && typeof a['password'] === 'string') {
      const u = Buffer.byteLength(a['username']);
      const p = Buffer.byteLength(a['password']);
      if (u < 1 || u > 255 || p < 1 || p > 255) throw invalidOption(`${name}.auth`, 'username and password must be 1 to 255 bytes');
      userpass++;
    } else throw invalidOption(`${name}.auth`, "entries must be 'none' or { username, password }");
  }
  if (none > 1 || userpass > 1) throw invalidOption(`${name}.auth`, 'each method at most once');
  const transport = checkTransport(`${name}.transport`, v['transport']);
  if (transport === 'tcp' && v['tls'] !== undefined) throw invalidOption(`${name}.tls`, "only meaningful with transport 'tls'");
  const host = checkHost(`${name}.host`, v['host']);
  if (Buffer.byteLength(host) > 255) throw invalidOption(`${name}.host`, 'a SOCKS host name is at most 255 bytes');
  if (version !== 5) checkSocks4Host(`${name}.host`, host, version);
  return {
    version,
    auth: auth as SocksAuth[],
    userId,
    handshakeTimeout: checkTimeout(`${name}.handshakeTimeout`, v['handshakeTimeout'], 30000),
    next: {
      host,
      port: checkPort(`${name}.port`, v['port']),
      transport,
      tls: checkTlsOptions(`${name}.tls`, v['tls']),
      protocols: resolveProtocols(`${name}.protocols`, v['protocols'], transport),
      tlsHandshakeTimeout: checkTimeout(`${name}.tlsHandshakeTimeout`, v['tlsHandshakeTimeout'], 30000),
    },
  };
}

/** SOCKS4 carries IPv4 addresses only; SOCKS4a names too. */
function checkSocks4Host(name: string, host: string, version: 4 | '4a'): void {
  const literal = host.startsWith('[') ? host.slice(1, -1) : host;
  if (isIPv6(literal) || literal.includes(':')) throw invalidOption(name, `SOCKS4 carries IPv4 addresses only, not the IPv6 address ${literal}`);
  if (version === 4 && !isIPv4(host)) {
    throw invalidOption(name, `SOCKS4 sends an IPv4 address, not the name ${JSON.stringify(host)}: resolve it first, or use version '4a' to have the proxy resolve it`);
  }
}

/** Validates a `connect()` destination. Throws `ERR_INVALID_OPTION` naming the option. */
export function resolveDestination(v: unknown): ResolvedDestination {
  const name = 'destination';
  if (!isObject(v)) throw invalidOption(name, 'must be an object with host and port');
  checkKeys(name, v, ['host', 'port', 'transport', 'tls', 'protocols', 'username', 'password', 'connectTimeout', 'tlsHandshakeTimeout']);
  const transport = checkTransport(`${name}.transport`, v['transport']);
  if (transport === 'tcp' && v['tls'] !== undefined) throw invalidOption(`${name}.tls`, "only meaningful with transport 'tls'");
  const username = v['username'];
  const password = v['password'];
  if ((username === undefined) !== (password === undefined)) throw invalidOption(`${name}.username`, 'username and password go together');
  if (username !== undefined && (typeof username !== 'string' || typeof password !== 'string' || username.includes(':'))) {
    throw invalidOption(`${name}.username`, 'username and password must be strings; the username cannot contain ":"');
  }
  return {
    host: checkHost(`${name}.host`, v['host']),
    port: checkPort(`${name}.port`, v['port']),
    transport,
    tls: checkTlsOptions(`${name}.tls`, v['tls']),
    protocols: resolveProtocols(`${name}.protocols`, v['protocols'], transport),
    tlsHandshakeTimeout: checkTimeout(`${name}.tlsHandshakeTimeout`, v['tlsHandshakeTimeout'], 30000),
    username: username as string | undefined,
    password: password as string | undefined,
    connectTimeout: checkTimeout(`${name}.connectTimeout`, v['connectTimeout'], 30000),
  };
}

/** The protocol names of a list (for ALPN and messages). */
export function protocolNames(list: readonly ResolvedProtocol[]): ProtocolName[] {
  return list.map((p) => p.name);
}
