/** Proxy authentication (Basic, Digest, NTLM), sans-I/O: 407 challenges in, `proxy-authorization` values out. */
export { ProxyAuthenticator, SCHEME_ORDER, type AuthCarrier, type AuthStep, type ProxyAuthScheme, type ResolvedProxyAuth } from './authenticator.js';
export { parseChallenges, type Challenge, type ParsedChallenges } from './challenge.js';
export { resolveProxyAuth, DEFAULT_MAX_ROUNDS, type ProxyAuthOptions } from './options.js';
export { digestCache } from './cache.js';
