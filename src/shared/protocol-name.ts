/** The protocol names a connection reports. */

/** The protocol a connection's layer speaks: HTTP/1.1, HTTP/2, raw bytes, or a WebSocket (after an HTTP/1.1 upgrade of the whole connection). */
export type LayerProtocolName = 'http' | 'http2' | 'raw' | 'websocket';
