/**
 * `node --import burrow/undici/register app.js`: every `fetch()` of the program
 * goes through the proxy chains of its environment (`https_proxy`, `http_proxy`,
 * `all_proxy`, `no_proxy`, with burrow's semantics: chains, CIDR blocks), via a
 * {@link ChainDispatcher} installed as the global dispatcher. Importing this
 * module is the whole opt-in.
 */
import { ChainDispatcher } from './dispatcher.js';

ChainDispatcher.fromEnv().install();
