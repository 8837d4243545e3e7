/**
 * `agentbus/openai-agents`: drop-in instrumentation for the OpenAI Agents SDK
 * (`@openai/agents`).
 *
 * ```ts
 * import * as agents from '@openai/agents';
 * import { instrumentOpenAIAgents } from 'agentbus/openai-agents';
 * const agentbus = instrumentOpenAIAgents(agents);
 * // A model other than the SDK's OpenAI classes: wrap it.
 * const agent = new agents.Agent({ name: 'helper', model: agentbus.instrumentModel(myModel) });
 * ```
 *
 * Every `run(agent, ...)` made inside `runContext` then emits agent, model,
 * token and tool events. This module does not import the SDK.
 * @packageDocumentation
 */
export {
  AgentbusTraceProcessor,
  type AgentbusTraceProcessorOptions,
  type InstrumentModelOptions,
} from './trace-processor.js';
export { instrumentOpenAIAgents, type InstrumentOpenAIAgentsOptions, type TraceProcessorRegistry } from './instrument.js';
export type { SdkModel, SdkModelRequest, SdkModelResponse, SdkModelUsage } from './sdk-model.js';
export type { SdkSpan, SdkSpanData, SdkTrace } from './sdk-spans.js';
