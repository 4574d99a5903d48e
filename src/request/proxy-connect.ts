/**
 * The CONNECTs of a route to one proxy until one is answered 2xx: a 407 is
 * answered with the hop's credentials (`protocols/proxy-auth/`), on the same
 * connection when the proxy keeps it open (its 407 body read first), else by
 * opening the route again ({@link RestartRoute}).
 */
import { BurrowError, type HopInfo } from '../errors/errors.js';
import type { Connection } from '../connection/connection.js';
import { getHeader, getHeaders, type HeaderList } from '../shared/headers.js';
import { isFinal, type ResponseMessage } from '../shared/messages.js';
import type { StreamRef } from '../shared/stream-ref.js';
import { connectionKeepAlive } from '../protocols/http1/codec/framing.js';
import type { AuthCarrier, ProxyAuthenticator } from '../protocols/proxy-auth/index.js';

/** The proxy closed its connection after a 407 that the route can answer: open the route again. */
export class RestartRoute extends Error {
  constructor() {
    super('the proxy closed the connection after its 407; the route opens again');
  }
}

/** The errors of a CONNECT sent on a connection that had just closed. */
const GONE: ReadonlySet<string> = new Set(['ERR_CONNECTION_CLOSED', 'ERR_CLOSED', 'ERR_NOT_CONNECTED', 'ERR_CLOSING']);

/** True when an HTTP/1.x response leaves its connection open (RFC 9112 §9.3); always for HTTP/2. */
export function keepsConnection(m: Pick<ResponseMessage, 'version' | 'headers'>): boolean {
  if (m.version === '2') return true;
  const conn = getHeader(m.headers, 'connection');
  let keep = m.version === '1.1';
  if (conn !== undefined) keep = connectionKeepAlive(conn, keep);
  // Without a length the body ends with the connection.
  const framed = getHeader(m.headers, 'content-length') !== undefined || getHeader(m.headers, 'transfer-encoding') !== undefined;
  return keep && framed;
}

/** What the route tells about the CONNECT being sent. */
export interface ProxyConnect {
  readonly conn: Connection;
  /** Sends one CONNECT with this `proxy-authorization` value (or none); returns its ref. */
  readonly send: (authorization: string | undefined) => StreamRef;
  /** The hop's authentication state (undefined: the hop has no `auth` and a 407 is final). */
  readonly authn: ProxyAuthenticator | undefined;
  /** What the CONNECT travels on: NTLM needs HTTP/1.1. */
  readonly carrier: AuthCarrier;
  readonly hop: HopInfo;
  /** `proxy URL refused CONNECT host:port`, for messages (password masked). */
  readonly what: string;
  /** Told the hop whose answer is awaited (undefined once answered). */
  readonly answering: (hop: HopInfo | undefined) => void;
}

/** Reads what is left of a refused CONNECT's answer (its body), so that the connection can carry the next. */
async function readToEnd(conn: Connection, ref: StreamRef, first: ResponseMessage): Promise<void> {
  if (isFinal(first)) return;
  for (;;) {
    const m = await conn.await(ref, Infinity);
    if (m.type === 'error') throw m.error;
    if (isFinal(m)) return;
  }
}

function authError(p: ProxyConnect, m: ResponseMessage, reason: string, rounds: number, scheme: string | undefined): BurrowError {
  return new BurrowError('ERR_PROXY_AUTH', `${p.what}: proxy authentication failed: ${reason}`, {
    stage: 'connect-response',
    hop: p.hop,
    details: { status: m.status, rounds, ...(scheme !== undefined ? { scheme } : {}) },
    response: { status: m.status, headers: m.headers },
  });
}

/**
 * Sends CONNECTs through one proxy until one is answered 2xx; returns its ref, the response consumed.
 * Throws `ERR_PROXY_AUTH` (authentication failed), `ERR_CONNECT_STATUS` (another refusal), the stream's error,
 * or {@link RestartRoute}.
 */
export async function connectThrough(p: ProxyConnect): Promise<{ ref: StreamRef; status: number }> {
  let authorization = p.authn?.opening();
  /** The last 407's step, while its answer is on its way. */
  let answering: { sameConnection: boolean; scheme: string } | undefined;
  for (;;) {
    const ref = p.send(authorization);
    p.answering(p.hop);
    let m;
    for (;;) {
      m = await p.conn.await(ref, Infinity);
      if (m.type === 'response') break;
      if (m.type === 'error') {
        // The proxy closed a connection it had not said it would close, before the answer to its 407 could go.
        if (answering !== undefined && GONE.has(m.error.code)) {
          if (answering.sameConnection) {
            throw new BurrowError('ERR_PROXY_AUTH', `${p.what}: proxy authentication failed: the proxy closed the connection in the middle of the NTLM handshake (NTLM needs one kept-alive connection)`, {
              stage: 'connect-response', hop: p.hop, cause: m.error, details: { rounds: p.authn?.rounds ?? 1, scheme: answering.scheme },
            });
          }
          throw new RestartRoute();
        }
        throw m.error;
      }
    }
    p.answering(undefined);
    if (m.status >= 200 && m.status < 300) {
      p.authn?.succeeded();
      return { ref, status: m.status };
    }
    if (m.status !== 407) {
      throw new BurrowError('ERR_CONNECT_STATUS', `${p.what} with status ${m.status}`, {
        stage: 'connect-response',
        hop: p.hop,
        details: { status: m.status },
        response: { status: m.status, headers: m.headers },
      });
    }
    const step = p.authn === undefined
      ? { kind: 'fail' as const, reason: 'the proxy requires authentication (407) and this hop has no credentials', scheme: undefined }
      : p.authn.challenged(getHeaders(m.headers, 'proxy-authenticate'), p.carrier);
    if (step.kind === 'fail') throw authError(p, m, step.reason, p.authn?.rounds ?? 1, step.scheme);
    if (!keepsConnection(m)) {
      // NTLM's type 3 answers the type 2 of this very connection: on another one it means nothing.
      if (step.sameConnection) throw authError(p, m, 'the proxy closed the connection in the middle of the NTLM handshake (NTLM needs one kept-alive connection)', p.authn?.rounds ?? 1, step.scheme);
      throw new RestartRoute();
    }
    await readToEnd(p.conn, ref, m);
    authorization = step.header;
    answering = { sameConnection: step.sameConnection, scheme: step.scheme };
  }
}

/** `proxy-authenticate` values of a header list (exported for tests). */
export function challengeLines(headers: HeaderList): string[] {
  return getHeaders(headers, 'proxy-authenticate');
}
