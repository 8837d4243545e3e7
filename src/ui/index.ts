/**
 * agentbus/ui: the console (a live list of runs, a waterfall per run), as a
 * handler an app mounts beside its SSE handler. `agentbus ui <url>` serves
 * the same page for an SSE server elsewhere.
 * @packageDocumentation
 */
export { createUiHandler, type TokenPrice, type UiHandler, type UiHandlerOptions } from './handler.js';
