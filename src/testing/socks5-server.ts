/**
 * A test SOCKS5 server (RFC 1928, with RFC 1929 username/password
 * authentication), over TCP or TLS, written byte by byte so that it can
 * misbehave on request (see {@link Socks5Behavior}).
 *
 * Handshake: greeting `05 N methods...` → `05 M` (M = 00 without auth, 02 with
 * a username/password, FF when the wanted method is not offered, after which
 * the connection is ended); with auth, `01 ULEN user PLEN pass` → `01 00` or
 * `01 01` (then ended); request `05 CMD 00 ATYP addr port` → on success
 * `05 00 00 ATYP <bound address> <bound port>` and bytes are relayed both ways
 * (bytes sent right after the request are forwarded to the target first).
 * Only CMD 01 (CONNECT) is served: others get reply 07; an unknown ATYP gets
 * 08; a target that cannot be reached gets 05 (refused), 04 (host
 * unreachable or not found), 03 (network unreachable) or 01. Every failure
 * reply is followed by the end of the connection; a client speaking another
 * version than 5 is disconnected without a reply. Half-close is relayed, as
 * for the CONNECT proxy.
 */
import * as net from 'node:net';
import { createStreamServer, Listener, serverUrl } from './listen.js';
import type { TestPki } from './pki.js';
import { connectTarget, relay } from './relay.js';

/** A step of the SOCKS5 handshake, named by what the client sends. */
export type Socks5Stage = 'greeting' | 'auth' | 'connect';

/** What the server does with a connection. Everything is optional; the default serves it. */
export interface Socks5Behavior {
  /** Reply code sent instead of success (00) to the request; the connection is then ended. */
  reply?: number;
  /** BND.ADDR of the replies: an IPv4 or IPv6 literal or a domain name. Default `1.2.3.4`. */
  boundHost?: string;
  /** BND.PORT of the replies, default 33333. */
  boundPort?: number;
  /** Bytes written right after the success reply, in the same write, before relaying (strings as latin1). */
  extraBytes?: Buffer | string;
  /** Writes every reply (and `extraBytes`) one byte per event-loop turn (setImmediate). */
  writeByteAtATime?: boolean;
  /**
   * After reading the client's message of this stage, writes the first half of
   * the reply (1 byte of `05 M` or `01 S`, 5 of a 10-byte request reply) and
   * destroys the connection. `auth` only happens with a username/password.
   */
  closeMidHandshake?: Socks5Stage;
  /** Reads the client's message of this stage and never answers (the client's end is answered with an end). */
  neverAnswer?: Socks5Stage;
  /** Bytes written instead of the reply of stage `garbageAt`; later input is ignored. */
  garbage?: Buffer;
  /** The stage whose reply `garbage` replaces, default `greeting`. */
  garbageAt?: Socks5Stage;
  /** Answers the credentials with `01 01` (failure) even when they are right. */
  rejectAuth?: boolean;
}

/** Something the server saw, in order. */
export type Socks5Event =
  | { readonly type: 'auth-methods'; readonly methods: number[] }
  | { readonly type: 'credentials'; readonly username: string; readonly password: string }
  | {
      readonly type: 'connect';
      /** The request's CMD (1 = CONNECT; others are answered with 07). */
      readonly command: number;
      readonly atyp: number;
      /** IPv4 dotted, IPv6 in its canonical compressed form without brackets, or the domain name. */
      readonly host: string;
      readonly port: number;
    };

/** Options of {@link startSocks5Server}. */
export interface StartSocks5ServerOptions {
  /** `tcp` (default) or `tls`. */
  transport?: 'tcp' | 'tls';
  /** Certificates for `tls`; a new {@link createTestPki} is made when omitted. */
  pki?: TestPki;
  /** Address to listen on, default `127.0.0.1`. */
  host?: string;
  /** `none` (default: method 00) or credentials (method 02, required: 05 FF when the client does not offer it). */
  auth?: 'none' | { username: string; password: string };
  behavior?: Socks5Behavior;
}

/** A running SOCKS5 server, see {@link startSocks5Server}. */
export interface TestSocks5Server {
  readonly host: string;
  readonly port: number;
  readonly transport: 'tcp' | 'tls';
  /** `socks5://127.0.0.1:PORT` (also for `tls`), IPv6 bracketed. */
  readonly url: string;
  /** The certificates of a `tls` server (the ones given or made). */
  readonly pki: TestPki | undefined;
  /** Everything seen so far, across connections, in order. */
  readonly events: Socks5Event[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Stops listening, destroys every connection and tunnel, resolves when all are closed. */
  close(): Promise<void>;
}

const VERSION = 0x05;
const AUTH_VERSION = 0x01;
const METHOD_NONE = 0x00;
const METHOD_USERPASS = 0x02;
const NO_METHOD = 0xff;
const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;
const CMD_CONNECT = 0x01;
const REP_GENERAL_FAILURE = 0x01;
const REP_NETWORK_UNREACHABLE = 0x03;
const REP_HOST_UNREACHABLE = 0x04;
const REP_CONNECTION_REFUSED = 0x05;
const REP_COMMAND_NOT_SUPPORTED = 0x07;
const REP_ATYP_NOT_SUPPORTED = 0x08;

function noop(): void {}

/** Consumes a socket's bytes on demand, until it is handed over to a relay. */
export class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;
  private readonly onData = (chunk: Buffer): void => {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.poke();
  };
  private readonly onEnd = (): void => {
    this.ended = true;
    this.poke();
  };

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.once('end', this.onEnd);
    socket.once('close', this.onEnd);
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Resolves with the next `n` bytes, or undefined when the client ends or the socket closes first. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.buf.length < n) {
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Resolves when the client ends its side or the socket closes. */
  async untilEnd(): Promise<void> {
    while (!this.ended) await new Promise<void>((resolve) => (this.wake = resolve));
  }

  /** Stops reading (the socket is left paused) and returns what was received but not read. */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    return this.buf;
  }
}

/** Writes `data`; with `slowly`, one byte per event-loop turn, stopping if the socket goes away. */
export async function writeOut(socket: net.Socket, data: Buffer, slowly: boolean): Promise<void> {
  if (!slowly) {
    if (!socket.destroyed) socket.write(data);
    return;
  }
  for (let i = 0; i < data.length && !socket.destroyed; i++) {
    socket.write(data.subarray(i, i + 1));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** `05 REP 00 ATYP BND.ADDR BND.PORT` for a bound address (IPv4, IPv6 or domain). */
function requestReply(rep: number, boundHost: string, boundPort: number): Buffer {
  let addr: Buffer;
  let atyp: number;
  if (net.isIPv4(boundHost)) {
    atyp = ATYP_IPV4;
    addr = Buffer.from(boundHost.split('.').map(Number));
  } else if (net.isIPv6(boundHost)) {
    atyp = ATYP_IPV6;
    addr = ipv6Bytes(boundHost);
  } else {
    atyp = ATYP_DOMAIN;
    const name = Buffer.from(boundHost, 'utf8');
    addr = Buffer.concat([Buffer.from([name.length]), name]);
  }
  const port = Buffer.alloc(2);
  port.writeUInt16BE(boundPort);
  return Buffer.concat([Buffer.from([VERSION, rep, 0x00, atyp]), addr, port]);
}

function ipv6Bytes(text: string): Buffer {
  const sides = text.split('::');
  const groups = (s: string | undefined): number[] => (s === undefined || s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = groups(sides[0]);
  const tail = groups(sides[1]);
  const all = sides.length === 2 ? [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail] : head;
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The URL parser prints IPv6 hosts in their canonical compressed form (RFC 5952).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function replyForError(e: Error): number {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return REP_CONNECTION_REFUSED;
  if (code === 'ENETUNREACH') return REP_NETWORK_UNREACHABLE;
  if (code === 'EHOSTUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ETIMEDOUT') return REP_HOST_UNREACHABLE;
  return REP_GENERAL_FAILURE;
}

interface ServerContext {
  readonly auth: { username: string; password: string } | undefined;
  readonly behavior: Socks5Behavior;
  readonly events: Socks5Event[];
  /** Tracks the tunnels' targets. */
  readonly listener: Listener;
}

/** Runs one connection's handshake; resolves when it is relaying or finished. */
async function serveConnection(socket: net.Socket, ctx: ServerContext): Promise<void> {
  socket.setNoDelay(true);
  socket.on('error', noop);
  const b = ctx.behavior;
  const slowly = b.writeByteAtATime === true;
  const reader = new Reader(socket);
  const fail = async (reply: Buffer): Promise<void> => {
    await writeOut(socket, reply, slowly);
    socket.end();
  };

  /**
   * Applies the stage's misbehaviour, if any, instead of `reply`. Resolves
   * true when the handshake must stop here.
   */
  const misbehave = async (stage: Socks5Stage, reply: Buffer): Promise<boolean> => {
    if (b.garbage !== undefined && (b.garbageAt ?? 'greeting') === stage) {
      await writeOut(socket, b.garbage, slowly);
    } else if (b.closeMidHandshake === stage) {
      await writeOut(socket, reply.subarray(0, Math.max(1, Math.floor(reply.length / 2))), slowly);
      socket.end(() => socket.destroy());
      return true;
    } else if (b.neverAnswer !== stage) {
      return false;
    }
    // Silent from now on: answer the client's end with ours.
    await reader.untilEnd();
    socket.end();
    return true;
  };

  // Greeting.
  const greeting = await reader.read(2);
  if (greeting === undefined) return void socket.end();
  if (greeting[0] !== VERSION) return void socket.destroy();
  const methodBytes = await reader.read(greeting[1] ?? 0);
  if (methodBytes === undefined) return void socket.end();
  const methods = [...methodBytes];
  ctx.events.push({ type: 'auth-methods', methods });
  const wanted = ctx.auth === undefined ? METHOD_NONE : METHOD_USERPASS;
  const method = methods.includes(wanted) ? wanted : NO_METHOD;
  const methodReply = Buffer.from([VERSION, method]);
  if (await misbehave('greeting', methodReply)) return;
  if (method === NO_METHOD) return fail(methodReply);
  await writeOut(socket, methodReply, slowly);

  // Username/password (RFC 1929).
  if (ctx.auth !== undefined) {
    const head = await reader.read(2);
    if (head === undefined) return void socket.end();
    if (head[0] !== AUTH_VERSION) return void socket.destroy();
    const username = await reader.read(head[1] ?? 0);
    const plen = await reader.read(1);
    const password = plen === undefined ? undefined : await reader.read(plen[0] ?? 0);
    if (username === undefined || password === undefined) return void socket.end();
    const credentials = { username: username.toString('utf8'), password: password.toString('utf8') };
    ctx.events.push({ type: 'credentials', ...credentials });
    const ok = b.rejectAuth !== true && credentials.username === ctx.auth.username && credentials.password === ctx.auth.password;
    const authReply = Buffer.from([AUTH_VERSION, ok ? 0x00 : 0x01]);
    if (await misbehave('auth', authReply)) return;
    if (!ok) return fail(authReply);
    await writeOut(socket, authReply, slowly);
  }

  // Request.
  const boundHost = b.boundHost ?? '1.2.3.4';
  const boundPort = b.boundPort ?? 33333;
  const request = await reader.read(4);
  if (request === undefined) return void socket.end();
  if (request[0] !== VERSION) return void socket.destroy();
  const command = request[1] ?? 0;
  const atyp = request[3] ?? 0;
  let host: string;
  if (atyp === ATYP_IPV4) {
    const a = await reader.read(4);
    if (a === undefined) return void socket.end();
    host = [...a].join('.');
  } else if (atyp === ATYP_IPV6) {
    const a = await reader.read(16);
    if (a === undefined) return void socket.end();
    host = ipv6Text(a);
  } else if (atyp === ATYP_DOMAIN) {
    const len = await reader.read(1);
    const name = len === undefined ? undefined : await reader.read(len[0] ?? 0);
    if (name === undefined) return void socket.end();
    host = name.toString('utf8');
  } else {
    return fail(requestReply(REP_ATYP_NOT_SUPPORTED, boundHost, boundPort));
  }
  const portBytes = await reader.read(2);
  if (portBytes === undefined) return void socket.end();
  const port = portBytes.readUInt16BE(0);
  ctx.events.push({ type: 'connect', command, atyp, host, port });
  const rep = command !== CMD_CONNECT ? REP_COMMAND_NOT_SUPPORTED : (b.reply ?? 0x00);
  const reply = requestReply(rep, boundHost, boundPort);
  if (await misbehave('connect', reply)) return;
  if (rep !== 0x00) return fail(reply);
  const target = await connectTarget(host, port, ctx.listener);
  if (target instanceof Error) return fail(requestReply(replyForError(target), boundHost, boundPort));
  const extra = b.extraBytes === undefined ? undefined : typeof b.extraBytes === 'string' ? Buffer.from(b.extraBytes, 'latin1') : b.extraBytes;
  await writeOut(socket, extra === undefined ? reply : Buffer.concat([reply, extra]), slowly);
  if (socket.destroyed) {
    target.destroy();
    return;
  }
  const leftover = reader.detach();
  if (leftover.length > 0) target.write(leftover);
  relay(socket, target);
}

/** Starts a SOCKS5 server. */
export async function startSocks5Server(opts: StartSocks5ServerOptions = {}): Promise<TestSocks5Server> {
  const transport = opts.transport ?? 'tcp';
  const host = opts.host ?? '127.0.0.1';
  const events: Socks5Event[] = [];
  const auth = opts.auth === undefined || opts.auth === 'none' ? undefined : opts.auth;
  const listener = new Listener('socks5');
  const ctx: ServerContext = { auth, behavior: opts.behavior ?? {}, events, listener };
  const { server, pki } = createStreamServer(transport, opts.pki);
  const port = await listener.listen(server, host, (socket) => {
    serveConnection(socket, ctx).catch(() => socket.destroy());
  });
  return {
    host,
    port,
    transport,
    url: serverUrl('socks5', host, port),
    pki,
    events,
    get connections() {
      return listener.connections;
    },
    close: () => listener.close(),
  };
}
