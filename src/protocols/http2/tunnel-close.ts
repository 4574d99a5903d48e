/**
 * How a tunnel's HTTP/2 stream is closed when burrow is done with it: its END_STREAM, not an RST_STREAM.
 *
 * A CONNECT stream (RFC 9113 §8.5) is a tunnel; the layers inside it (TLS, HTTP/1.1, raw) close it by
 * destroying their transport, which for node:http2 means RST_STREAM(CANCEL). HTTP/2 servers count the
 * RST_STREAMs they receive against the "rapid reset" attack (CVE-2023-44487): nghttp2 — under nghttpx,
 * Apache, node:http2 — allows a burst of 1 000 and then 33 a second, and closes the connection with
 * GOAWAY(INTERNAL_ERROR) beyond that. A client opening and closing many tunnels over one proxy connection
 * would lose it, and every tunnel on it. So a tunnel the client closes without an error ends its side
 * (END_STREAM) and reads the peer's side to its end, which closes the stream cleanly; if the peer has not
 * ended its side within `graceMs`, the stream is reset then. A close with an error, or of a stream already
 * reset or closed, resets at once as before.
 */
import type { ClientHttp2Stream } from 'node:http2';

function noop(): void {}

/** Makes `stream.destroy()` without an error end the stream instead of resetting it (see the module comment). */
export function closeTunnelGracefully(stream: ClientHttp2Stream, graceMs: number): void {
  const destroy = stream.destroy.bind(stream);
  let closing = false;
  const graceful = (err?: Error): ClientHttp2Stream => {
    // A stream being closed gracefully is destroyed again by each layer that ran on it: once is enough.
    if (closing && err == null) return stream;
    if (err != null || stream.closed || stream.destroyed) {
      stream.destroy = destroy;
      return destroy(err);
    }
    closing = true;
    // Theirs: read to its end (bytes the peer still sends are dropped); ours: END_STREAM.
    stream.removeAllListeners('data');
    stream.on('data', noop);
    stream.on('error', noop);
    stream.resume();
    if (!stream.writableEnded) stream.end();
    // Unreferenced: a tunnel winding down keeps no process alive; the connection's close ends it sooner.
    const timer = setTimeout(() => destroy(), graceMs);
    timer.unref();
    stream.once('close', () => {
      clearTimeout(timer);
      stream.destroy = destroy;
    });
    return stream;
  };
  stream.destroy = graceful as ClientHttp2Stream['destroy'];
}

/** Undoes {@link closeTunnelGracefully}: the caller owns the stream now (a detached tunnel). */
export function closeTunnelAtOnce(stream: ClientHttp2Stream): void {
  delete (stream as { destroy?: unknown }).destroy;
}
