/** burrow's HTTP/1.1 codec, sans-I/O: a response parser and a request encoder. */
export {
  ResponseParser,
  DEFAULT_PARSER_LIMITS,
  MAX_CHUNK_SIZE_LINE,
  MAX_EMPTY_LINES,
  type ParserLimits,
  type HttpVersion,
  type BodyKind,
  type ParseEvent,
} from './response-parser.js';
export {
  decideFraming,
  encodeRequestHead,
  encodeChunk,
  encodeLastChunk,
  type BodyFraming,
  type RequestHead,
} from './request-encoder.js';
