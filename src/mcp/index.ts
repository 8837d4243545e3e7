/**
 * agentbus/mcp: Model Context Protocol tool calls as steps, and one trace
 * across client and server.
 *
 * - {@link instrumentMcpClient}: a client's `tools/call`, `resources/read`
 *   and `prompts/get` become tool steps of the run that makes them, and
 *   carry the step's link in `params._meta` (SEP-414: `traceparent`,
 *   `tracestate`, `baggage`).
 * - {@link instrumentMcpServer}: each request a server handles is a run,
 *   the child run of the client's step when the request carries its link.
 * - With `relay: true` on both, the server sends that run's events back and
 *   the client shows them on its own bus, nested under its step.
 *
 * Importing this module loads no MCP SDK code: it wraps the `Client`,
 * `Server` or `McpServer` instances you pass (from
 * `@modelcontextprotocol/sdk` 1.32 or later, an optional peer dependency).
 * @packageDocumentation
 */
export { instrumentMcpClient, uninstrumentMcpClient, type McpClientLike, type McpClientOptions, type McpRequestLike } from './client.js';
export {
  instrumentMcpServer,
  uninstrumentMcpServer,
  type McpLowLevelServerLike,
  type McpServerLike,
  type McpServerOptions,
} from './server.js';
export type { McpStepMethod } from './steps.js';
