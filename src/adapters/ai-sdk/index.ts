/**
 * `agentbus/ai-sdk`: drop-in instrumentation for the Vercel AI SDK (`ai` v7).
 *
 * ```ts
 * import { registerTelemetry } from 'ai';
 * import { AgentbusTelemetry } from 'agentbus/ai-sdk';
 * registerTelemetry(new AgentbusTelemetry());
 * ```
 *
 * Every `generateText` / `streamText` made inside `runContext` then emits
 * agent, model, token and tool events. This module does not import `ai`.
 * @packageDocumentation
 */
export { AgentbusTelemetry, type AgentbusTelemetryOptions } from './telemetry.js';
export type * from './sdk-events.js';
