/**
 * The TLS transport: a TLS handshake over an existing socket, with this hop's
 * options only. The native socket is handed to `tls.connect` as it is, so
 * TLS layers stack in C++ (see docs/architecture.md).
 */
import { createHash } from 'node:crypto';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { BurrowError } from '../errors/errors.js';
import type { PeerCertificateInfo } from '../shared/events.js';
import type { ProtocolName } from '../shared/options/hop.js';
import { certificateInfo } from '../observe/layer-record.js';
import type { TlsOptions } from '../shared/options/tls.js';
import { withTimeout, type StepContext } from './timeout.js';

/** ALPN identifiers of the protocols burrow negotiates (raw and SOCKS are never advertised). */
export const ALPN_IDS: Readonly<Partial<Record<ProtocolName, string>>> = { http: 'http/1.1', http2: 'h2' };

/** What a TLS handshake yields. */
export interface TlsResult {
  readonly socket: TLSSocket;
  /** The protocol to speak, from ALPN (or the only protocol offered). */
  readonly protocol: ProtocolName;
  /** The SNI sent (undefined for an IP address). */
  readonly servername: string | undefined;
  /**
   * The certificate the peer presented, read when first asked (once per
   * socket): on a resumed session (which may carry none), the one it presented
   * when the session was made. Ask while the socket is open.
   */
  readonly certificate: () => PeerCertificateInfo | undefined;
}

// Building a SecureContext costs ~0.4 ms per handshake: reuse one per distinct set of options
// (compared by value, so options written inline for each request still share a context).
const CONTEXT_KEYS = ['ca', 'cert', 'key', 'passphrase', 'pfx', 'minVersion', 'maxVersion', 'ciphers', 'ecdhCurve', 'sigalgs', 'crl', 'honorCipherOrder'] as const;
const MAX_CONTEXTS = 64;
const contexts = new Map<string, SecureContext>();
const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;

/**
 * A string equal for TLS options that mean the same: strings, numbers and
 * bytes by value (hashed), functions and other objects by identity.
 */
export function tlsOptionsKey(opts: TlsOptions, keys: readonly string[] = Object.keys(opts).sort()): string {
  const hash = createHash('sha256');
  const add = (v: unknown): void => {
    if (v === undefined || v === null || typeof v === 'boolean' || typeof v === 'number') hash.update(`${String(v)};`);
    else if (typeof v === 'string') hash.update(`s${v.length}:${v};`);
    else if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
      hash.update(`b${v.byteLength}:`);
      hash.update(v);
    } else if (Array.isArray(v)) {
      hash.update('[');
      for (const x of v) add(x);
      hash.update(']');
    } else if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      hash.update('{');
      for (const k of Object.keys(v).sort()) {
        hash.update(`${k}=`);
        add((v as Record<string, unknown>)[k]);
      }
      hash.update('}');
    } else {
      let id = objectIds.get(v as object);
      if (id === undefined) {
        id = nextObjectId++;
        objectIds.set(v as object, id);
      }
      hash.update(`o${id};`);
    }
  };
  for (const k of keys) {
    hash.update(`${k}=`);
    add((opts as Record<string, unknown>)[k]);
  }
  return hash.digest('base64');
}

// The key of an options object is remembered with a shallow snapshot of what it held (its
// values, and the items of array values): a request that passes the same object again gets
// the key without hashing (certificates and keys are kilobytes), and an object changed since
// (a value replaced, an array item replaced) is hashed again. Bytes are compared by identity
// here: a Buffer rewritten in place after use is not noticed (pass a new one instead). Objects nested inside (other than
// arrays) are not snapshotted: such options are hashed every time.
const rememberedKeys = new WeakMap<object, { snapshot: unknown[]; key: string }>();
const rememberedContextKeys = new WeakMap<object, { snapshot: unknown[]; key: string }>();

function snapshotOf(opts: TlsOptions): unknown[] | undefined {
  const snap: unknown[] = [];
  for (const k of Object.keys(opts)) {
    const v = (opts as Record<string, unknown>)[k];
    snap.push(k, v);
    if (Array.isArray(v)) {
      snap.push(v.length);
      for (const x of v as unknown[]) {
        if (typeof x === 'object' && x !== null && !(x instanceof Uint8Array)) return undefined;
        snap.push(x);
      }
    } else if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && Object.getPrototypeOf(v) === Object.prototype) return undefined;
  }
  return snap;
}

function sameSnapshot(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function rememberedKey(memo: WeakMap<object, { snapshot: unknown[]; key: string }>, opts: TlsOptions, compute: () => string): string {
  const snapshot = snapshotOf(opts);
  if (snapshot === undefined) return compute();
  const known = memo.get(opts);
  if (known !== undefined && sameSnapshot(known.snapshot, snapshot)) return known.key;
  const key = compute();
  memo.set(opts, { snapshot, key });
  return key;
}

/** {@link tlsOptionsKey} of all the options, remembered per options object while it is unchanged. */
export function tlsOptionsKeyOf(opts: TlsOptions): string {
  return rememberedKey(rememberedKeys, opts, () => tlsOptionsKey(opts));
}

function secureContextFor(opts: TlsOptions): SecureContext {
  if (opts.secureContext !== undefined) return opts.secureContext;
  const key = rememberedKey(rememberedContextKeys, opts, () => tlsOptionsKey(opts, CONTEXT_KEYS));
  let ctx = contexts.get(key);
  if (ctx === undefined) {
    const o: Record<string, unknown> = {};
    for (const k of CONTEXT_KEYS) if (opts[k] !== undefined) o[k] = opts[k];
    ctx = createSecureContext(o);
    if (contexts.size >= MAX_CONTEXTS) {
      const oldest = contexts.keys().next().value;
      if (oldest !== undefined) contexts.delete(oldest);
    }
  } else {
    contexts.delete(key);
  }
  contexts.set(key, ctx);
  return ctx;
}

// TLS sessions for resumption, per endpoint and options: a reconnection or another
// tunnel to the same hop skips the full handshake (works through tunnels too).
// With each session, what the certificate the peer presented when it was made says (a few strings):
// a resumed session may carry none.
const MAX_SESSIONS = 256;
const sessions = new Map<string, { session: Buffer; certificate: PeerCertificateInfo | undefined }>();

function rememberSession(key: string, session: Buffer, certificate: PeerCertificateInfo | undefined): void {
  sessions.delete(key);
  if (sessions.size >= MAX_SESSIONS) {
    const oldest = sessions.keys().next().value;
    if (oldest !== undefined) sessions.delete(oldest);
  }
  sessions.set(key, { session, certificate });
}

// `getPeerCertificate()` builds a large object (~25 µs): it is called at most once per socket, when the
// certificate is first needed (its session remembered, or the layer's details read).
const peerCertificates = new WeakMap<TLSSocket, PeerCertificateInfo | null>();

/** The peer's certificate, read once per socket; undefined when the socket has none (a resumed TLS 1.3 session). */
function peerCertificate(s: TLSSocket): PeerCertificateInfo | undefined {
  let info = peerCertificates.get(s);
  if (info === undefined) {
    const c = s.getPeerCertificate() as PeerCertificate | Record<string, never> | null;
    info = c !== null && typeof c === 'object' && 'subject' in c && c.subject !== undefined ? certificateInfo(c as PeerCertificate) : null;
    peerCertificates.set(s, info);
  }
  return info ?? undefined;
}

/** Picks the protocol from the ALPN result (Gun's rule: the only one offered, else HTTP/1.1). */
export function negotiatedProtocol(alpn: string | false | null | undefined, offered: readonly ProtocolName[]): ProtocolName | undefined {
  if (alpn === 'h2') return offered.includes('http2') ? 'http2' : undefined;
  if (alpn === 'http/1.1') return offered.includes('http') ? 'http' : undefined;
  if (alpn) return undefined;
  return offered.length === 1 ? offered[0] : 'http';
}

/** Handshake parameters for one hop. */
export interface TlsHandshakeOptions {
  /** Host name of the hop (SNI unless an IP, and the name the certificate must match). */
  readonly host: string;
  /** Port of the hop (sessions are kept per endpoint). */
  readonly port: number;
  readonly tls: TlsOptions;
  readonly protocols: readonly ProtocolName[];
  readonly handshakeTimeout: number;
}

/** Runs TLS over `socket` (a net.Socket, a TLSSocket, or any duplex). Stage `tls`. */
export function startTls(ctx: StepContext, socket: Socket | Duplex, opts: TlsHandshakeOptions): Promise<TlsResult> {
  let tlsSocket: TLSSocket | undefined;
  return withTimeout(ctx, opts.handshakeTimeout, 'ERR_TLS_HANDSHAKE_TIMEOUT', `TLS handshake with ${opts.host}`, 'tls', () => new Promise<TlsResult>((resolve, reject) => {
    const servername = opts.tls.servername ?? (isIP(opts.host) === 0 ? opts.host : undefined);
    const alpn: string[] = [];
    for (const p of opts.protocols) {
      const id = ALPN_IDS[p];
      if (id !== undefined) alpn.push(id);
    }
    let secureContext: SecureContext;
    try {
      secureContext = secureContextFor(opts.tls);
    } catch (e) {
      reject(new BurrowError('ERR_TLS', `invalid TLS options: ${(e as Error).message}`, { stage: 'tls', hop: ctx.hop, cause: e }));
      return;
    }
    const sessionKey = `${opts.host}\n${opts.port}\n${servername ?? ''}\n${alpn.join(',')}\n${tlsOptionsKeyOf(opts.tls)}`;
    const remembered = sessions.get(sessionKey);
    const session = opts.tls.session ?? remembered?.session;
    const s = tlsConnect({
      socket: socket as Socket,
      host: opts.host,
      servername,
      secureContext,
      ...(alpn.length > 0 ? { ALPNProtocols: alpn } : {}),
      rejectUnauthorized: opts.tls.rejectUnauthorized ?? true,
      ...(opts.tls.checkServerIdentity ? { checkServerIdentity: opts.tls.checkServerIdentity } : {}),
      ...(session ? { session } : {}),
    });
    s.on('session', (sess: Buffer) => rememberSession(sessionKey, sess, peerCertificate(s) ?? (s.isSessionReused() ? remembered?.certificate : undefined)));
    const certificate = (): PeerCertificateInfo | undefined => peerCertificate(s) ?? (s.isSessionReused() && opts.tls.session === undefined ? remembered?.certificate : undefined);
    tlsSocket = s;
    const onError = (err: Error): void => {
      s.removeListener('secureConnect', onSecure);
      s.destroy();
      socket.destroy();
      reject(new BurrowError('ERR_TLS', `TLS handshake with ${opts.host} failed: ${err.message}`, { stage: 'tls', hop: ctx.hop, cause: err }));
    };
    const onSecure = (): void => {
      s.removeListener('error', onError);
      const protocol = negotiatedProtocol(s.alpnProtocol, opts.protocols);
      if (protocol === undefined) {
        s.destroy();
        reject(new BurrowError('ERR_ALPN', `${opts.host} selected ALPN ${String(s.alpnProtocol)}, which was not offered`, { stage: 'tls', hop: ctx.hop }));
        return;
      }
      resolve({ socket: s, protocol, servername, certificate });
    };
    s.once('error', onError);
    s.once('secureConnect', onSecure);
  }), () => {
    tlsSocket?.destroy();
    socket.destroy();
  });
}
