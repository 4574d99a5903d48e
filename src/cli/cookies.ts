/**
 * curl's cookie options: `-b` (a Netscape cookie file to load, or
 * `name=value` pairs to send as they are), `-c` (the jar written after the
 * transfer, in the Netscape format with curl's header) and `-j` (session
 * cookies of the loaded files dropped).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { CookieJar } from '../cookies/jar.js';
import type { CliOptions } from './args.js';
import { ReadError } from './body.js';

/** The cookies of a run: the jar (when `-b FILE` or `-c` enables it) and the `-b` pairs. */
export interface CliCookies {
  readonly jar: CookieJar | undefined;
  /** The `-b name=value` strings joined by `; `: sent as a `cookie` header (not stored in the jar). */
  readonly pairs: string | undefined;
}

/** Reads the `-b` files (a missing one is an empty jar, as with curl); other read errors exit 26. */
export function openCookies(o: CliOptions): CliCookies {
  const pairs: string[] = [];
  const files: string[] = [];
  for (const b of o.cookie) {
    if (b.includes('=')) {
      pairs.push(b);
      continue;
    }
    try {
      files.push(readFileSync(b, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ReadError(`cannot read the cookie file ${b} (-b): ${(e as Error).message}`, { cause: e });
      files.push('');
    }
  }
  let jar: CookieJar | undefined;
  if (files.length > 0 || o.cookieJar !== undefined) {
    jar = CookieJar.fromNetscape(files.join('\n'));
    if (o.junkSessionCookies) jar.removeSessionCookies();
  }
  return { jar, pairs: pairs.length > 0 ? pairs.join('; ') : undefined };
}

/** Writes the jar to the `-c` file (`-`: `stdout`), readable by its owner only. Returns the failure message, if any. */
export async function saveCookies(o: CliOptions, jar: CookieJar | undefined, stdout: Writable): Promise<string | undefined> {
  if (o.cookieJar === undefined || jar === undefined) return undefined;
  const text = jar.toNetscape();
  try {
    if (o.cookieJar === '-') await new Promise<void>((resolve, reject) => stdout.write(text, (e) => (e ? reject(e) : resolve())));
    else writeFileSync(o.cookieJar, text, { mode: 0o600 });
    return undefined;
  } catch (e) {
    return `could not write the cookie jar ${o.cookieJar} (-c): ${(e as Error).message}`;
  }
}
