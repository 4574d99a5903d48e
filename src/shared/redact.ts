/**
 * Credentials as burrow publishes them (events, tracing contexts, the CLI's
 * traces and error messages): a URL's password becomes `***`, an
 * `authorization` / `proxy-authorization` header keeps its scheme only.
 */
/**
 * Masks the password of a URL-like string that may not parse: everything
 * between the first ':' of the user info and the last '@' becomes `***`.
 * Using the last '@' of the whole string is deliberately conservative: a
 * password holding an unescaped '/', '?', '#' or '@' is still hidden.
 */
export function maskUserinfo(raw: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?([\s\S]*)$/.exec(raw);
  const prefix = m?.[1] ?? '';
  const rest = m?.[2] ?? raw;
  const at = rest.lastIndexOf('@');
  if (at < 0) return raw;
  const colon = rest.indexOf(':');
  if (colon < 0 || colon > at) return raw;
  return `${prefix}${rest.slice(0, colon)}:***${rest.slice(at)}`;
}

/**
 * A URL with its password masked (`http://user:***@host/`): as given when it
 * has none; a string that does not parse is masked conservatively ({@link maskUserinfo}).
 */
export function maskUrl(url: string | URL): string {
  const raw = String(url);
  if (!raw.includes('@')) return raw;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return maskUserinfo(raw);
  }
  if (u.password === '') return raw;
  u.password = '***';
  return u.href;
}

function isCredentialHeader(name: string): boolean {
  return (name.length === 13 || name.length === 19) && (name === 'authorization' || name === 'proxy-authorization' || /^(proxy-)?authorization$/i.test(name));
}

/** Headers as published: credentials (`authorization`, `proxy-authorization`) keep their scheme only (`Bearer ***`). */
export function maskCredentialHeaders<H extends readonly (readonly [string, string])[]>(headers: H): H {
  let masked: Array<readonly [string, string]> | undefined;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i] as readonly [string, string];
    if (isCredentialHeader(name)) {
      masked ??= headers.slice(0, i);
      const space = value.indexOf(' ');
      masked.push([name, space > 0 ? `${value.slice(0, space)} ***` : '***']);
    } else masked?.push([name, value]);
  }
  return (masked ?? headers) as H;
}
