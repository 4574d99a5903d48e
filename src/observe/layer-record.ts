/**
 * One layer of a chain while it lives: what it is, where it is, when it came
 * up, what it negotiated, and how many bytes went through it. A record is kept
 * for every layer (for `info()`), watched or not; its details are read from
 * the live sockets only when someone asks.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { HopInfo } from '../errors/errors.js';
import type { HeaderList } from '../shared/headers.js';
import type { ConnectLayerDetails, LayerInfo, LayerKind, LayerState, PeerCertificateInfo, Socks4LayerDetails, Socks5LayerDetails, TcpLayerDetails, TlsLayerDetails, WebSocketLayerDetails } from '../shared/events.js';

let nextLayerId = 1;

/** Now, in ms since the epoch, with the monotonic clock's resolution. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Reads the bytes that went through a duplex, each way. */
export interface ByteCounter {
  readonly bytesIn: number;
  readonly bytesOut: number;
}

const counters = new WeakMap<object, ByteCounter>();

/**
 * The byte counts of `duplex`: a socket's own counters, or, for another duplex
 * (an HTTP/2 stream carrying a tunnel), counters installed on its `push` and
 * `write` — the paths every byte of a tunnel takes.
 */
export function byteCounter(duplex: Socket | Duplex): ByteCounter {
  const s = duplex as Partial<Socket>;
  if (typeof s.bytesRead === 'number' && typeof s.bytesWritten === 'number') {
    return {
      get bytesIn() {
        return (duplex as Socket).bytesRead;
      },
      get bytesOut() {
        return (duplex as Socket).bytesWritten;
      },
    };
  }
  const known = counters.get(duplex);
  if (known !== undefined) return known;
  const c = { bytesIn: 0, bytesOut: 0 };
  // Wrappers with fixed parameters: no allocation per chunk (a rest parameter would make an array per write).
  const push = duplex.push;
  duplex.push = function (this: Duplex, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk instanceof Uint8Array) c.bytesIn += chunk.byteLength;
    else if (typeof chunk === 'string') c.bytesIn += Buffer.byteLength(chunk, encoding);
    return push.call(this, chunk, encoding);
  };
  const write = duplex.write as (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
  duplex.write = function (this: Duplex, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (chunk instanceof Uint8Array) c.bytesOut += chunk.byteLength;
    else if (typeof chunk === 'string') c.bytesOut += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    return write.call(this, chunk, encoding, cb);
  } as Duplex['write'];
  counters.set(duplex, c);
  return c;
}

/** `CN=example.com, O=Example` from a certificate name. */
export function distinguishedName(name: PeerCertificate['subject'] | undefined): string {
  if (name === undefined || name === null) return '';
  return Object.entries(name).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`).join(', ');
}

/** What a peer's certificate says, from Node's certificate object (strings only: nothing of the DER or the key is kept). */
export function certificateInfo(cert: PeerCertificate): PeerCertificateInfo {
  return {
    subject: distinguishedName(cert.subject),
    issuer: distinguishedName(cert.issuer),
    fingerprint256: cert.fingerprint256,
    serialNumber: cert.serialNumber,
    validFrom: cert.valid_from,
    validTo: cert.valid_to,
    subjectAltName: cert.subjectaltname,
  };
}

/** The TLS details of a socket whose handshake is done; `certificate`: the peer's (for a resumed session, the one it was made with). */
export function tlsDetailsOf(s: TLSSocket, servername: string | undefined, certificate: PeerCertificateInfo | undefined): TlsLayerDetails {
  const cipher = s.getCipher();
  return {
    version: s.getProtocol(),
    cipher: (cipher as { standardName?: string } | undefined)?.standardName ?? cipher?.name ?? '',
    alpn: typeof s.alpnProtocol === 'string' ? s.alpnProtocol : null,
    servername: servername ?? null,
    resumed: s.isSessionReused(),
    authorized: s.authorized,
    certificate,
  };
}

/** A layer of a chain, while it lives. */
export class LayerRecord {
  readonly id = nextLayerId++;
  readonly connection: number;
  readonly kind: LayerKind;
  /** The endpoint (relabelled `connect` once a CONNECT shows the endpoint is a proxy). */
  hop: HopInfo;
  readonly parent: LayerRecord | undefined;
  readonly tunnel: readonly number[] | undefined;
  state: LayerState = 'starting';
  readonly startedAt = epochNow();
  upAt: number | undefined;
  #io: ByteCounter | undefined;
  #baseIn = 0;
  #baseOut = 0;
  #finalIn: number | undefined;
  #finalOut = 0;
  tcp: TcpLayerDetails | undefined;
  #tlsSocket: TLSSocket | undefined;
  #servername: string | undefined;
  #certificate: (() => PeerCertificateInfo | undefined) | undefined;
  #tls: TlsLayerDetails | undefined;
  connect: { target: string; status: number | undefined; headers: HeaderList | undefined; earlyBytes: number | undefined } | undefined;
  socks5: { target: string; method: Socks5LayerDetails['method']; reply: number | undefined; bound: { host: string; port: number } | undefined } | undefined;
  socks4: { target: string; version: Socks4LayerDetails['version']; reply: number | undefined; bound: { host: string; port: number } | undefined } | undefined;
  websocket: WebSocketLayerDetails | undefined;

  constructor(connection: number, kind: LayerKind, hop: HopInfo, parent: LayerRecord | undefined, tunnel: readonly number[] | undefined) {
    this.connection = connection;
    this.kind = kind;
    this.hop = hop;
    this.parent = parent;
    this.tunnel = tunnel;
  }

  /**
   * Counts the bytes of `duplex` from now on as this layer's, and `pending`
   * bytes already read into it (put back into its buffer for this layer to
   * read: the tunnel bytes that came with a CONNECT's 2xx) as read by it.
   */
  countOn(duplex: Socket | Duplex, pending = 0): void {
    const io = byteCounter(duplex);
    this.#io = io;
    this.#baseIn = io.bytesIn - pending;
    this.#baseOut = io.bytesOut;
  }

  /** The TLS socket of a `tls` layer (details are read from it when asked) and how to read the peer's certificate. */
  setTls(socket: TLSSocket, servername: string | undefined, certificate: () => PeerCertificateInfo | undefined): void {
    this.#tlsSocket = socket;
    this.#servername = servername;
    this.#certificate = certificate;
  }

  /**
   * The TLS details, read once from the socket while it is open: when first
   * asked, or when the layer came up if anyone watches the layer events (a
   * socket reset destroys it before its layer goes down).
   */
  get tls(): TlsLayerDetails | undefined {
    if (this.#tls === undefined && this.#tlsSocket !== undefined && !this.#tlsSocket.destroyed) {
      this.#tls = tlsDetailsOf(this.#tlsSocket, this.#servername, this.#certificate?.());
      this.#certificate = undefined;
    }
    return this.#tls;
  }

  get bytesIn(): number {
    if (this.#finalIn !== undefined) return this.#finalIn;
    return this.#io === undefined ? 0 : this.#io.bytesIn - this.#baseIn;
  }

  get bytesOut(): number {
    if (this.#finalIn !== undefined) return this.#finalOut;
    return this.#io === undefined ? 0 : this.#io.bytesOut - this.#baseOut;
  }

  /** The layer came up. */
  markUp(): void {
    this.state = 'up';
    this.upAt = epochNow();
  }

  /** The layer failed or went down: its byte counts are final. */
  end(state: 'failed' | 'down'): void {
    if (this.state === 'failed' || this.state === 'down') return;
    // The TLS details stay readable after the socket is gone.
    void this.tls;
    const bytesOut = this.bytesOut;
    this.#finalIn = this.bytesIn;
    this.#finalOut = bytesOut;
    this.state = state;
  }

  /** A snapshot, as events and `info()` report it. */
  snapshot(): LayerInfo {
    const info: {
      -readonly [K in keyof LayerInfo]: LayerInfo[K];
    } = {
      id: this.id,
      connection: this.connection,
      kind: this.kind,
      hop: this.hop,
      parent: this.parent?.id,
      tunnel: this.tunnel,
      state: this.state,
      startedAt: this.startedAt,
      upAt: this.upAt,
      durationMs: this.upAt === undefined ? undefined : this.upAt - this.startedAt,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
    };
    if (this.tcp !== undefined) info.tcp = this.tcp;
    const tls = this.tls;
    if (tls !== undefined) info.tls = tls;
    if (this.connect !== undefined) info.connect = { ...this.connect } satisfies ConnectLayerDetails;
    if (this.socks5 !== undefined) info.socks5 = { ...this.socks5 } satisfies Socks5LayerDetails;
    if (this.socks4 !== undefined) info.socks4 = { ...this.socks4 } satisfies Socks4LayerDetails;
    if (this.websocket !== undefined) info.websocket = { ...this.websocket };
    return info;
  }
}
