/**
 * `open()`: validates the options and starts a connection.
 */
import { Connection } from './connection.js';
import { resolveOpenOptions, type OpenOptions, type OpenUnixOptions } from '../shared/options/open.js';

/**
 * Opens a connection to `options.host:options.port` (or to the Unix domain
 * socket `options.path`, Gun's `open_unix`) and returns it at once;
 * it connects in the background (`awaitUp()` waits for it). Requests made
 * before it is up wait for it. Throws `ERR_INVALID_OPTION` for a bad option.
 *
 * @example
 * ```ts
 * const conn = open({ host: 'example.com', port: 443 });
 * const ref = conn.get('/');
 * const res = await conn.await(ref);
 *
 * const docker = open({ path: '/var/run/docker.sock' });   // host header: localhost
 * ```
 */
export function open(options: OpenOptions | OpenUnixOptions): Connection {
  return new Connection(resolveOpenOptions(options));
}
