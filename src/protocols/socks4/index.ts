/** burrow's SOCKS4 / SOCKS4a client handshake codec (CONNECT), sans-I/O. */
export { Socks4Client, socks4ReplyName, type Socks4Bound, type Socks4Event, type Socks4Phase, type Socks4Request, type Socks4Version } from './codec.js';
export { encodeSocks4Request } from './request.js';
