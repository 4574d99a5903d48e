/**
 * One PAC decision: the script loaded (cached), `FindProxyForURL(url, host)`
 * run, its answer parsed. The script sees the origin only for `https:` URLs
 * (as Chrome does: path and query stay private), the URL without credentials
 * or fragment for `http:`.
 */
import { pacCache, type PacFetcher } from './cache.js';
import type { PacLookup } from './helpers.js';
import type { ResolvedPac } from './options.js';
import { parsePacResult, type PacDirective } from './result.js';

/** The URL a script is shown for a request to `href`. */
export function urlForScript(href: string): { url: string; host: string } {
  const u = new URL(href);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (u.protocol === 'https:') return { url: `${u.origin}/`, host };
  u.username = '';
  u.password = '';
  u.hash = '';
  return { url: u.href, host };
}

/** The routes the script `pac` gives for a request to `href`, in order. Rejects with a `BurrowError` of stage `pac`. */
export async function findRoutes(pac: ResolvedPac, href: string, fetch: PacFetcher, lookup: PacLookup | undefined): Promise<PacDirective[]> {
  const script = await pacCache.get(pac.source, { fetch, limits: pac.limits });
  const { url, host } = urlForScript(href);
  const result = await script.find(url, host, lookup);
  return parsePacResult(result, pac.source.name);
}
