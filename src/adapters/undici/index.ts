/**
 * `burrow/undici`: {@link ChainDispatcher}, an undici `Dispatcher` over burrow's
 * proxy chains, for `fetch()` (Node's and the npm `undici` package's) and the rest
 * of undici's API. undici itself is not imported.
 */
export { ChainDispatcher } from './dispatcher.js';
export type { ChainDispatcherOptions, DispatchOptions } from './options.js';
export type { ControllerDispatchHandler, DispatchController, DispatchHandler, LegacyDispatchHandler, RawHeaders } from './handler.js';
