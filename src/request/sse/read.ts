/**
 * An event stream read from a response body: the body's chunks through one
 * {@link SseParser}, its events handed out one by one.
 */
import { checkMaxEventSize, SseParser, type SseEvent, type SseOptions } from './parser.js';

/**
 * The events of `body`, parsed as an event stream, in order. Stopping early
 * (a `break` out of `for await`) or a parse failure (`ERR_SSE_EVENT_TOO_LARGE`)
 * stops reading the body (the stream is cancelled).
 */
export function readEvents(body: AsyncIterable<Uint8Array>, opts: SseOptions = {}): AsyncGenerator<SseEvent, void, undefined> {
  // Checked now: an invalid option throws before the body is touched, not at the first next().
  return parse(body, new SseParser({ maxEventSize: checkMaxEventSize(opts.maxEventSize) }));
}

async function* parse(body: AsyncIterable<Uint8Array>, parser: SseParser): AsyncGenerator<SseEvent, void, undefined> {
  for await (const chunk of body) {
    const events = parser.push(chunk);
    for (let i = 0; i < events.length; i++) yield events[i] as SseEvent;
  }
  parser.end();
}
