/**
 * agentbus/sse: stream runs to browsers and services over Server-Sent
 * Events, and read them back.
 *
 * - {@link createSseHandler}: Web-standard `Request -> Response` handler
 *   (the protocol); {@link toNodeListener} serves it on `node:http` and
 *   Express.
 * - {@link subscribeSse}: a client yielding validated events, with resume.
 * @packageDocumentation
 */
export { createSseHandler, type SseAuthorize, type SseHandler, type SseHandlerOptions } from './handler.js';
export { toNodeListener, type NodeSseListener } from './node.js';
export { SseHttpError, SseProtocolError, subscribeSse, type SubscribeSseOptions } from './client.js';
export type { SseFormat } from './frames.js';
