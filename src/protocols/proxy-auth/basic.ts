/**
 * The Basic scheme (RFC 7617): `Basic base64(user-id ":" password)`, UTF-8.
 * It sends the password itself (only base64-encoded) to the proxy: over a TCP
 * hop anyone on the path reads it.
 */

/** The `proxy-authorization` value of Basic for these credentials. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}
