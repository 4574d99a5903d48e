/**
 * A test SOCKS4 / SOCKS4a server (CONNECT only), over TCP or TLS, written byte
 * by byte so that it can misbehave on request (see {@link Socks4Behavior}).
 *
 * Request `04 CD DSTPORT DSTIP USERID 00` (SOCKS4a: DSTIP `0.0.0.x`, x ≠ 0,
 * then `HOST 00`) → `00 5A DSTPORT DSTIP` and bytes are relayed both ways
 * (bytes sent right after the request are forwarded to the target first). A
 * command other than CONNECT, a target that cannot be reached, or a 4a
 * request when `socks4a` is false get `00 5B`; a user id other than the one
 * required gets `00 5D`. Every refusal is followed by the end of the
 * connection; a client speaking another version than 4 is disconnected
 * without a reply. Half-close is relayed.
 */
import * as net from 'node:net';
import { createStreamServer, Listener, serverUrl } from './listen.js';
import type { TestPki } from './pki.js';
import { connectTarget, relay } from './relay.js';
import { Reader, writeOut } from './socks5-server.js';

/** What the server does with a connection. Everything is optional; the default serves it. */
export interface Socks4Behavior {
  /** Reply code sent instead of 0x5A (granted); the connection is then ended. */
  reply?: number;
  /** The VN byte of the reply, default 0 (what a SOCKS4 reply must have). */
  replyVersion?: number;
  /** DSTIP of the reply, default `0.0.0.0`. */
  boundHost?: string;
  /** DSTPORT of the reply, default 0. */
  boundPort?: number;
  /** Bytes written right after the granted reply, in the same write, before relaying (strings as latin1). */
  extraBytes?: Buffer | string;
  /** Writes the reply (and `extraBytes`) one byte per event-loop turn (setImmediate). */
  writeByteAtATime?: boolean;
  /** After reading the request, writes the first 4 bytes of the reply and destroys the connection. */
  closeMidHandshake?: boolean;
  /** Reads the request and never answers (the client's end is answered with an end). */
  neverAnswer?: boolean;
  /** Bytes written instead of the reply; later input is ignored. */
  garbage?: Buffer;
}

/** A request the server read. */
export interface Socks4Event {
  readonly type: 'connect';
  /** `4a` when DSTIP was `0.0.0.x` (x ≠ 0) and a name followed. */
  readonly version: '4' | '4a';
  /** CD (1 = CONNECT; others are refused). */
  readonly command: number;
  /** DSTIP dotted, or the 4a name. */
  readonly host: string;
  readonly port: number;
  readonly userId: string;
}

/** Options of {@link startSocks4Server}. */
export interface StartSocks4ServerOptions {
  /** `tcp` (default) or `tls`. */
  transport?: 'tcp' | 'tls';
  /** Certificates for `tls`; a new {@link createTestPki} is made when omitted. */
  pki?: TestPki;
  /** Address to listen on, default `127.0.0.1`. */
  host?: string;
  /** Serves SOCKS4a requests (a name resolved here); default true. False refuses them with 0x5B, as dante does. */
  socks4a?: boolean;
  /** The only user id served; another gets 0x5D (identd reports a different user id). Default: any. */
  userId?: string;
  behavior?: Socks4Behavior;
}

/** A running SOCKS4 server, see {@link startSocks4Server}. */
export interface TestSocks4Server {
  readonly host: string;
  readonly port: number;
  readonly transport: 'tcp' | 'tls';
  /** `socks4a://127.0.0.1:PORT` (also for `tls`), IPv6 bracketed. */
  readonly url: string;
  /** The certificates of a `tls` server (the ones given or made). */
  readonly pki: TestPki | undefined;
  /** Every request seen so far, across connections, in order. */
  readonly events: Socks4Event[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Stops listening, destroys every connection and tunnel, resolves when all are closed. */
  close(): Promise<void>;
}

const VERSION = 0x04;
const CMD_CONNECT = 0x01;
const GRANTED = 0x5a;
const REJECTED = 0x5b;
const IDENTD_MISMATCH = 0x5d;
/** The longest user id or name read (without its NUL). */
const MAX_FIELD = 1024;

interface ServerContext {
  readonly socks4a: boolean;
  readonly userId: string | undefined;
  readonly behavior: Socks4Behavior;
  readonly events: Socks4Event[];
  readonly listener: Listener;
}

/** Reads bytes up to a NUL (not included); undefined when the client ends first or the field is too long. */
async function readString(reader: Reader): Promise<string | undefined> {
  const bytes: number[] = [];
  for (;;) {
    const b = await reader.read(1);
    if (b === undefined || bytes.length > MAX_FIELD) return undefined;
    if (b[0] === 0) return Buffer.from(bytes).toString('utf8');
    bytes.push(b[0] as number);
  }
}

function replyBytes(vn: number, cd: number, host: string, port: number): Buffer {
  const out = Buffer.alloc(8);
  out[0] = vn;
  out[1] = cd;
  out.writeUInt16BE(port, 2);
  const parts = net.isIPv4(host) ? host.split('.').map(Number) : [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) out[4 + i] = parts[i] ?? 0;
  return out;
}

async function serveConnection(socket: net.Socket, ctx: ServerContext): Promise<void> {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  const b = ctx.behavior;
  const slowly = b.writeByteAtATime === true;
  const reader = new Reader(socket);
  const head = await reader.read(8);
  if (head === undefined) return void socket.end();
  if (head[0] !== VERSION) return void socket.destroy();
  const command = head[1] as number;
  const port = head.readUInt16BE(2);
  const ip = [...head.subarray(4, 8)];
  const userId = await readString(reader);
  if (userId === undefined) return void socket.end();
  const is4a = ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0;
  let host = ip.join('.');
  if (is4a) {
    const name = await readString(reader);
    if (name === undefined) return void socket.end();
    host = name;
  }
  ctx.events.push({ type: 'connect', version: is4a ? '4a' : '4', command, host, port, userId });
  const reply = (cd: number): Buffer => replyBytes(b.replyVersion ?? 0, cd, b.boundHost ?? '0.0.0.0', b.boundPort ?? 0);
  const refuse = async (cd: number): Promise<void> => {
    await writeOut(socket, reply(cd), slowly);
    socket.end();
  };
  if (b.garbage !== undefined || b.neverAnswer === true) {
    if (b.garbage !== undefined) await writeOut(socket, b.garbage, slowly);
    await reader.untilEnd();
    socket.end();
    return;
  }
  if (b.closeMidHandshake === true) {
    await writeOut(socket, reply(GRANTED).subarray(0, 4), slowly);
    socket.end(() => socket.destroy());
    return;
  }
  if (command !== CMD_CONNECT || (is4a && !ctx.socks4a)) return refuse(REJECTED);
  if (ctx.userId !== undefined && userId !== ctx.userId) return refuse(IDENTD_MISMATCH);
  if (b.reply !== undefined && b.reply !== GRANTED) return refuse(b.reply);
  const target = await connectTarget(host, port, ctx.listener);
  if (target instanceof Error) return refuse(REJECTED);
  const extra = b.extraBytes === undefined ? undefined : typeof b.extraBytes === 'string' ? Buffer.from(b.extraBytes, 'latin1') : b.extraBytes;
  const granted = reply(GRANTED);
  await writeOut(socket, extra === undefined ? granted : Buffer.concat([granted, extra]), slowly);
  if (socket.destroyed) {
    target.destroy();
    return;
  }
  const leftover = reader.detach();
  if (leftover.length > 0) target.write(leftover);
  relay(socket, target);
}

/** Starts a SOCKS4 / SOCKS4a server. */
export async function startSocks4Server(opts: StartSocks4ServerOptions = {}): Promise<TestSocks4Server> {
  const transport = opts.transport ?? 'tcp';
  const host = opts.host ?? '127.0.0.1';
  const events: Socks4Event[] = [];
  const listener = new Listener('socks4');
  const ctx: ServerContext = { socks4a: opts.socks4a ?? true, userId: opts.userId, behavior: opts.behavior ?? {}, events, listener };
  const { server, pki } = createStreamServer(transport, opts.pki);
  const port = await listener.listen(server, host, (socket) => {
    serveConnection(socket, ctx).catch(() => socket.destroy());
  });
  return {
    host,
    port,
    transport,
    url: serverUrl('socks4a', host, port),
    pki,
    events,
    get connections() {
      return listener.connections;
    },
    close: () => listener.close(),
  };
}
