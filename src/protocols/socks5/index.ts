/** burrow's SOCKS5 client handshake codec (RFC 1928 + RFC 1929), sans-I/O. */
export {
  Socks5Client,
  socksReplyName,
  type SocksAuthMethod,
  type SocksRequest,
  type SocksBound,
  type SocksEvent,
  type SocksPhase,
} from './codec.js';
