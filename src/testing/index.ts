/**
 * Test servers and certificates for code that uses burrow (`burrow/testing`):
 * a throwaway PKI, an HTTP/1.1 + HTTP/2 origin with fixed routes, a
 * byte-exact scripted server for edge cases, and test proxies.
 *
 * @module burrow/testing
 */
export { createTestPki } from './pki.js';
export type { TestCertUsage, TestIssueOptions, TestKeyPair, TestPki, TestPkiOptions } from './pki.js';
export { startOrigin } from './origin.js';
export type { OriginProtocol, OriginRequest, OriginTransport, StartOriginOptions, TestOrigin } from './origin.js';
export { DEFAULT_READ_TIMEOUT_MS, ScriptedConnection, startScriptedServer } from './scripted.js';
export type { ScriptedServer, StartScriptedServerOptions } from './scripted.js';
export { startConnectProxy } from './connect-proxy.js';
export type { ConnectBehavior, ProxyConnectRequest, StartConnectProxyOptions, TestConnectProxy } from './connect-proxy.js';
export { startH2ConnectProxy } from './h2-proxy.js';
export type { H2ConnectBehavior, H2ProxyConnectRequest, StartH2ConnectProxyOptions, TestH2ConnectProxy } from './h2-proxy.js';
export { startSocks5Server } from './socks5-server.js';
export type { Socks5Behavior, Socks5Event, Socks5Stage, StartSocks5ServerOptions, TestSocks5Server } from './socks5-server.js';
export { startEchoServer } from './echo-server.js';
export type { StartEchoServerOptions, TestEchoServer } from './echo-server.js';
export { startSocks4Server } from './socks4-server.js';
export type { Socks4Behavior, Socks4Event, StartSocks4ServerOptions, TestSocks4Server } from './socks4-server.js';
export { digestGate, ntlmGate, NTLM_GATE_CHALLENGE } from './auth-gate.js';
export type { DigestGate, GateRefusal, GateRequest, NtlmGate, ProxyAuthGate } from './auth-gate.js';
