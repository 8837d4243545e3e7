/**
 * `agentbus/openai-agents`: drop-in instrumentation for the OpenAI Agents SDK
 * (`@openai/agents`).
 *
 * ```ts
 * import { addTraceProcessor } from '@openai/agents';
 * import { AgentbusTraceProcessor } from 'agentbus/openai-agents';
 * addTraceProcessor(new AgentbusTraceProcessor());
 * ```
 *
 * Every `run(agent, ...)` made inside `runContext` then emits agent, model,
 * token and tool events. This module does not import the SDK.
 * @packageDocumentation
 */
export { AgentbusTraceProcessor, type AgentbusTraceProcessorOptions } from './trace-processor.js';
export type { SdkSpan, SdkSpanData, SdkTrace } from './sdk-spans.js';
