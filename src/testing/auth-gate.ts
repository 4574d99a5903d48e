/**
 * Proxy authentication for the test proxies (`auth` of `startConnectProxy`
 * and `startH2ConnectProxy`): a gate decides each CONNECT. Two gates are
 * provided, written independently of burrow's client code: Digest (RFC 7616,
 * MD5 / SHA-256, `qop=auth`, nonce counts checked, nonces expirable to test
 * `stale=true`) and NTLM (the message sequence per connection, like squid's
 * `ntlm_fake_auth`; the password is checked only by a `verify` function given).
 */
import { createHash, randomBytes } from 'node:crypto';

/** A CONNECT as a gate sees it. */
export interface GateRequest {
  /** Header pairs, names lower-cased. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The client connection (HTTP/1.1) or HTTP/2 session that carried it. */
  readonly connection: number;
}

/**
 * A refusal: the 407's `Proxy-Authenticate` values; `close` ends the connection after it (HTTP/1.1), with
 * `connection: close`, or without saying so (`'silently'`).
 */
export interface GateRefusal {
  readonly challenges: readonly string[];
  readonly close?: boolean | 'silently';
}

/** Lets a CONNECT through (undefined) or refuses it. */
export type ProxyAuthGate = (req: GateRequest) => GateRefusal | undefined;

function authorization(req: GateRequest): string | undefined {
  return req.headers.find(([k]) => k.toLowerCase() === 'proxy-authorization')?.[1];
}

function digestParams(v: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /([a-z0-9*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/gi;
  for (const m of v.slice(7).matchAll(re)) out.set((m[1] as string).toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] as string));
  return out;
}

/** A Digest gate, with the nonces it issued. */
export interface DigestGate extends ProxyAuthGate {
  /** Makes every nonce issued so far stale: its next use gets `stale=true`. */
  expire(): void;
  /** Nonce counts accepted, per nonce (the order they came in). */
  readonly accepted: Array<{ nonce: string; nc: number }>;
}

/** Digest with these credentials (`algorithm` default MD5). `close`: close the connection after each 407. */
export function digestGate(opts: { username: string; password: string; realm?: string; algorithm?: 'MD5' | 'SHA-256'; close?: boolean | 'silently' }): DigestGate {
  const realm = opts.realm ?? 'burrow test proxy';
  const algorithm = opts.algorithm ?? 'MD5';
  const hashName = algorithm === 'MD5' ? 'md5' : 'sha256';
  const H = (s: string): string => createHash(hashName).update(s).digest('hex');
  const live = new Map<string, number>();
  const stale = new Set<string>();
  const accepted: Array<{ nonce: string; nc: number }> = [];
  const challenge = (isStale: boolean): GateRefusal => {
    const nonce = randomBytes(12).toString('base64');
    live.set(nonce, 0);
    return { challenges: [`Digest realm="${realm}", qop="auth", algorithm=${algorithm}, nonce="${nonce}", opaque="op"${isStale ? ', stale=true' : ''}`], ...(opts.close !== undefined ? { close: opts.close } : {}) };
  };
  const gate = ((req: GateRequest): GateRefusal | undefined => {
    const v = authorization(req);
    if (v === undefined || !/^digest /i.test(v)) return challenge(false);
    const p = digestParams(v);
    const nonce = p.get('nonce') ?? '';
    const nc = parseInt(p.get('nc') ?? '', 16);
    if (stale.has(nonce)) {
      stale.delete(nonce);
      live.delete(nonce);
      return challenge(true);
    }
    const last = live.get(nonce);
    if (last === undefined || !(nc > last) || p.get('username') !== opts.username || p.get('realm') !== realm || p.get('opaque') !== 'op' || p.get('qop') !== 'auth') return challenge(false);
    const ha1 = H(`${opts.username}:${realm}:${opts.password}`);
    const ha2 = H(`CONNECT:${p.get('uri') ?? ''}`);
    const expected = H(`${ha1}:${nonce}:${p.get('nc') ?? ''}:${p.get('cnonce') ?? ''}:auth:${ha2}`);
    if (p.get('response') !== expected) return challenge(false);
    live.set(nonce, nc);
    accepted.push({ nonce, nc });
    return undefined;
  }) as DigestGate;
  Object.defineProperty(gate, 'accepted', { value: accepted });
  gate.expire = () => {
    for (const n of live.keys()) stale.add(n);
  };
  return gate;
}

/** The CHALLENGE message the NTLM gate sends: MS-NLMP §4.2.4.3's, server challenge 0123456789abcdef. */
export const NTLM_GATE_CHALLENGE = Buffer.from(
  '4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f' +
    '53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076006500720000000000',
  'hex',
);

/** An NTLM gate and what it saw. */
export interface NtlmGate extends ProxyAuthGate {
  /** The type 3 messages accepted, with the connection each came on. */
  readonly accepted: Array<{ connection: number; user: string; domain: string; message: Buffer }>;
}

function field(msg: Buffer, at: number, unicode: boolean): string {
  const len = msg.readUInt16LE(at);
  const off = msg.readUInt32LE(at + 4);
  return msg.subarray(off, off + len).toString(unicode ? 'utf16le' : 'latin1');
}

/**
 * NTLM: type 1 → 407 with the type 2 → type 3 on the same connection, from `username` (any domain).
 * `verify(type3)` may check the password; `close` ends the connection after the 407 carrying the type 2.
 */
export function ntlmGate(opts: { username: string; verify?: (type3: Buffer) => boolean; close?: boolean }): NtlmGate {
  const challenged = new Set<number>();
  const accepted: NtlmGate['accepted'] = [];
  const gate = ((req: GateRequest): GateRefusal | undefined => {
    const v = authorization(req);
    const m = v === undefined ? null : /^NTLM\s+(\S+)$/i.exec(v);
    if (m === null) return { challenges: ['NTLM'] };
    const msg = Buffer.from(m[1] as string, 'base64');
    const type = msg.length >= 12 && msg.subarray(0, 8).toString('latin1') === 'NTLMSSP\0' ? msg.readUInt32LE(8) : 0;
    if (type === 1) {
      challenged.add(req.connection);
      return { challenges: [`NTLM ${NTLM_GATE_CHALLENGE.toString('base64')}`], ...(opts.close === true ? { close: true } : {}) };
    }
    if (type === 3 && challenged.delete(req.connection) && msg.length >= 64) {
      const unicode = (msg.readUInt32LE(60) & 1) === 1;
      const user = field(msg, 36, unicode);
      const domain = field(msg, 28, unicode);
      if (user === opts.username && msg.readUInt16LE(20) > 24 && (opts.verify?.(msg) ?? true)) {
        accepted.push({ connection: req.connection, user, domain, message: msg });
        return undefined;
      }
    }
    return { challenges: ['NTLM'] };
  }) as NtlmGate;
  Object.defineProperty(gate, 'accepted', { value: accepted });
  return gate;
}
