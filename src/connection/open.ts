/**
 * `open()`: validates the options and starts a connection.
 */
import { Connection } from './connection.js';
import { resolveOpenOptions, type OpenOptions } from '../shared/options/open.js';

/**
 * Opens a connection to `options.host:options.port` and returns it at once;
 * it connects in the background (`awaitUp()` waits for it). Requests made
 * before it is up wait for it. Throws `ERR_INVALID_OPTION` for a bad option.
 *
 * @example
 * ```ts
 * const conn = open({ host: 'example.com', port: 443 });
 * const ref = conn.get('/');
 * const res = await conn.await(ref);
 * ```
 */
export function open(options: OpenOptions): Connection {
  return new Connection(resolveOpenOptions(options));
}
