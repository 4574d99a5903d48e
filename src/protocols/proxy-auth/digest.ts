/**
 * The Digest scheme (RFC 7616), sans-I/O: a challenge's parameters in, the
 * `proxy-authorization` value out. Algorithms MD5, SHA-256 and SHA-512-256,
 * each with its `-sess` variant; `qop=auth` (and RFC 2069's no-qop form);
 * nonce counting; `userhash`; `username*` for a name that is not ASCII.
 * `qop=auth-int` alone is refused (see {@link DigestRefusal}).
 */
import { createHash, randomBytes } from 'node:crypto';
import { quote, type Challenge } from './challenge.js';

/** The Digest algorithms burrow computes. */
export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess' | 'SHA-512-256' | 'SHA-512-256-sess';

/** A Digest challenge after parsing. */
export interface DigestChallenge {
  readonly realm: string;
  readonly nonce: string;
  readonly opaque: string | undefined;
  readonly algorithm: DigestAlgorithm;
  /** `auth` when offered; undefined when the challenge has no qop (RFC 2069 form). */
  readonly qop: 'auth' | undefined;
  /** `stale=true`: the credentials were right, the nonce expired. */
  readonly stale: boolean;
  /** The proxy accepts a hashed user name. */
  readonly userhash: boolean;
}

/** Why a Digest challenge cannot be answered. */
export interface DigestRefusal {
  readonly refused: string;
}

const ALGORITHMS: Readonly<Record<string, DigestAlgorithm>> = {
  md5: 'MD5',
  'md5-sess': 'MD5-sess',
  'sha-256': 'SHA-256',
  'sha-256-sess': 'SHA-256-sess',
  'sha-512-256': 'SHA-512-256',
  'sha-512-256-sess': 'SHA-512-256-sess',
};

/** How strong an algorithm is, for choosing among several Digest challenges: higher is stronger. */
export function digestStrength(a: DigestAlgorithm): number {
  return a.startsWith('SHA-512-256') ? 3 : a.startsWith('SHA-256') ? 2 : 1;
}

/** Reads a `Digest` challenge; a refusal says why it cannot be answered. */
export function parseDigestChallenge(ch: Challenge): DigestChallenge | DigestRefusal {
  const p = ch.params;
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (realm === undefined || nonce === undefined || nonce.length === 0) return { refused: 'the Digest challenge has no realm or nonce' };
  const algName = p.get('algorithm') ?? 'MD5';
  const algorithm = ALGORITHMS[algName.toLowerCase()];
  if (algorithm === undefined) return { refused: `the Digest algorithm ${JSON.stringify(algName.slice(0, 40))} is not supported` };
  const qopList = p.get('qop');
  let qop: 'auth' | undefined;
  if (qopList !== undefined) {
    const offered = qopList.split(',').map((q) => q.trim().toLowerCase());
    if (offered.includes('auth')) qop = 'auth';
    else if (offered.includes('auth-int')) return { refused: 'the proxy offers only qop=auth-int, which burrow does not compute' };
    else return { refused: `the Digest qop ${JSON.stringify(qopList.slice(0, 40))} is not supported` };
  }
  const charset = p.get('charset');
  if (charset !== undefined && charset.toLowerCase() !== 'utf-8') return { refused: `the Digest charset ${JSON.stringify(charset.slice(0, 40))} is not supported` };
  return {
    realm,
    nonce,
    opaque: p.get('opaque'),
    algorithm,
    qop,
    stale: p.get('stale')?.toLowerCase() === 'true',
    userhash: p.get('userhash')?.toLowerCase() === 'true',
  };
}

/** What one Digest answer is computed from. */
export interface DigestInput {
  readonly challenge: DigestChallenge;
  readonly username: string;
  readonly password: string;
  /** `CONNECT` for a proxy tunnel. */
  readonly method: string;
  /** The request-target: `host:port` for a CONNECT. */
  readonly uri: string;
  /** The nonce count, from 1. */
  readonly nc: number;
  /** The client nonce. */
  readonly cnonce: string;
}

function hashName(a: DigestAlgorithm): string {
  return a.startsWith('SHA-512-256') ? 'sha512-256' : a.startsWith('SHA-256') ? 'sha256' : 'md5';
}

function h(alg: string, s: string): string {
  return createHash(alg).update(s, 'utf8').digest('hex');
}

/** A new client nonce: 16 random bytes, hex. */
export function newCnonce(): string {
  return randomBytes(16).toString('hex');
}

/** The `response` parameter (RFC 7616 §3.4.1). */
export function digestResponse(i: DigestInput): string {
  const c = i.challenge;
  const alg = hashName(c.algorithm);
  let ha1 = h(alg, `${i.username}:${c.realm}:${i.password}`);
  if (c.algorithm.endsWith('-sess')) ha1 = h(alg, `${ha1}:${c.nonce}:${i.cnonce}`);
  const ha2 = h(alg, `${i.method}:${i.uri}`);
  if (c.qop === undefined) return h(alg, `${ha1}:${c.nonce}:${ha2}`);
  return h(alg, `${ha1}:${c.nonce}:${ncHex(i.nc)}:${i.cnonce}:${c.qop}:${ha2}`);
}

function ncHex(nc: number): string {
  return nc.toString(16).padStart(8, '0');
}

// RFC 8187 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
function extValue(s: string): string {
  return `UTF-8''${Array.from(Buffer.from(s, 'utf8'), (b) => (/[A-Za-z0-9!#$&+\-.^_`|~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('')}`;
}

/** The `proxy-authorization` value answering a Digest challenge (RFC 7616 §3.4). */
export function digestAuthorization(i: DigestInput): string {
  const c = i.challenge;
  const alg = hashName(c.algorithm);
  const parts: string[] = [];
  if (c.userhash) parts.push(`username=${quote(h(alg, `${i.username}:${c.realm}`))}`);
  else if (/^[\x20-\x7e]*$/.test(i.username)) parts.push(`username=${quote(i.username)}`);
  else parts.push(`username*=${extValue(i.username)}`);
  parts.push(`realm=${quote(c.realm)}`, `uri=${quote(i.uri)}`, `algorithm=${c.algorithm}`, `nonce=${quote(c.nonce)}`);
  if (c.qop !== undefined) parts.push(`nc=${ncHex(i.nc)}`, `cnonce=${quote(i.cnonce)}`, `qop=${c.qop}`);
  parts.push(`response=${quote(digestResponse(i))}`);
  if (c.opaque !== undefined) parts.push(`opaque=${quote(c.opaque)}`);
  if (c.userhash) parts.push('userhash=true');
  return `Digest ${parts.join(', ')}`;
}
