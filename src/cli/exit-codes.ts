/**
 * Exit codes of the `burrow` command: one per failure class, curl's numbers
 * where curl has one (see docs/cli.md).
 */
import { BurrowError } from '../errors/errors.js';

/** The exit codes. */
export const EXIT = {
  OK: 0,
  /** Anything not classified below. */
  OTHER: 1,
  /** A command-line mistake (unknown option, bad URL, bad proxy URL, also in proxy environment variables). */
  USAGE: 2,
  /** A DNS lookup failed (curl: CURLE_COULDNT_RESOLVE_HOST). */
  DNS: 6,
  /** TCP connection refused or failed, or the connection closed before the response (curl: CURLE_COULDNT_CONNECT). */
  CONNECT: 7,
  /** `--fail` and an HTTP status >= 400, or a refused WebSocket handshake (curl: CURLE_HTTP_RETURNED_ERROR). */
  HTTP_ERROR: 22,
  /** Writing the output (stdout, -o, -O) failed (curl: CURLE_WRITE_ERROR). */
  WRITE: 23,
  /** Reading the request body (-d @FILE, --data-binary @FILE) failed (curl: CURLE_READ_ERROR). */
  READ: 26,
  /** A timeout, at any stage (curl: CURLE_OPERATION_TIMEDOUT). */
  TIMEOUT: 28,
  /** A TLS handshake failed, at any hop (curl: CURLE_SSL_CONNECT_ERROR). */
  TLS: 35,
  /** More redirects than --max-redirs (curl: CURLE_TOO_MANY_REDIRECTS). */
  TOO_MANY_REDIRECTS: 47,
  /** A CONNECT proxy refused the tunnel (non-2xx answer) (curl: CURLE_RECV_ERROR, what it reports for CONNECT failures). */
  PROXY_REFUSED: 56,
  /** A SOCKS5 or SOCKS4 server refused or broke the handshake (curl: CURLE_PROXY). */
  SOCKS: 97,
} as const;

/** The exit code for a request failure. */
export function exitCodeFor(e: unknown): number {
  if (!(e instanceof BurrowError)) return EXIT.OTHER;
  // Every route failed: the exit code of the last one's failure.
  if (e.code === 'ERR_ALL_ROUTES_FAILED') return exitCodeFor(e.cause);
  if (e.stage === 'timeout' || e.code.endsWith('_TIMEOUT')) return EXIT.TIMEOUT;
  switch (e.code) {
    case 'ERR_INVALID_OPTION':
      return EXIT.USAGE;
    case 'ERR_DNS':
      return EXIT.DNS;
    case 'ERR_CONNECT':
    case 'ERR_CONNECTION_CLOSED':
      return EXIT.CONNECT;
    case 'ERR_TLS':
    case 'ERR_ALPN':
      return EXIT.TLS;
    case 'ERR_CONNECT_STATUS':
    case 'ERR_PROXY_AUTH':
      return EXIT.PROXY_REFUSED;
    case 'ERR_TOO_MANY_REDIRECTS':
      return EXIT.TOO_MANY_REDIRECTS;
    case 'ERR_WS_HANDSHAKE':
    case 'ERR_WS_UNSUPPORTED':
      return EXIT.HTTP_ERROR;
    case 'ERR_SOCKS_AUTH':
    case 'ERR_SOCKS_NO_ACCEPTABLE_METHOD':
    case 'ERR_SOCKS_REPLY':
    case 'ERR_SOCKS_PROTOCOL':
      return EXIT.SOCKS;
    default:
      return EXIT.OTHER;
  }
}

/** `burrow: <message> [stage X] (CODE)`: the message starts with the hop when there is one. */
export function describeError(e: unknown, where?: string): string {
  if (e instanceof BurrowError) {
    const prefix = e.hop === undefined && where !== undefined ? `${where}: ` : '';
    const cause = e.cause instanceof Error && !e.message.includes(e.cause.message) ? ` (${e.cause.message})` : '';
    return `${prefix}${e.message}${cause} [stage ${e.stage}] (${e.code})`;
  }
  return e instanceof Error ? e.message : String(e);
}
