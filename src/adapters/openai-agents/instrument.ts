/**
 * Registers the agentbus trace processor with the OpenAI Agents SDK the way
 * that works without an OpenAI key.
 *
 * Importing `@openai/agents` installs the SDK's default trace processor: a
 * batch exporter that sends every trace to OpenAI's dashboard with the key
 * from `setTracingExportApiKey` or `OPENAI_API_KEY`. With no key, each export
 * logs "No API key provided for OpenAI tracing exporter. Exports will be
 * skipped" to the console. `addTraceProcessor` keeps that exporter next to
 * ours; `setTraceProcessors` replaces it.
 */
import { AgentbusTraceProcessor, type AgentbusTraceProcessorOptions } from './trace-processor.js';

/**
 * The SDK's processor registry, as the SDK's module provides it: pass the
 * module itself (`import * as agents from '@openai/agents'`).
 */
export interface TraceProcessorRegistry {
  addTraceProcessor(processor: AgentbusTraceProcessor): void;
  setTraceProcessors(processors: AgentbusTraceProcessor[]): void;
}

/** Options of {@link instrumentOpenAIAgents}. */
export interface InstrumentOpenAIAgentsOptions extends AgentbusTraceProcessorOptions {
  /**
   * Keep the SDK's default exporter, which sends traces to OpenAI's dashboard
   * (it needs `OPENAI_API_KEY` or `setTracingExportApiKey`). Default: true
   * when `OPENAI_API_KEY` is set; otherwise agentbus replaces the exporter
   * and nothing leaves the process.
   */
  exportToOpenAI?: boolean;
}

/**
 * Creates the trace processor and registers it with the SDK: next to the
 * SDK's OpenAI exporter when traces should also go to OpenAI, in place of it
 * otherwise (then no "No API key" message). Register other processors after
 * this call: replacing the exporter replaces every processor registered
 * before. Returns the processor, whose `instrumentModel` wraps models that
 * do not trace their own calls.
 *
 * ```ts
 * import * as agents from '@openai/agents';
 * const agentbus = instrumentOpenAIAgents(agents);
 * ```
 */
export function instrumentOpenAIAgents(sdk: TraceProcessorRegistry, options: InstrumentOpenAIAgentsOptions = {}): AgentbusTraceProcessor {
  const processor = new AgentbusTraceProcessor(options);
  if (options.exportToOpenAI ?? hasOpenAIKey()) sdk.addTraceProcessor(processor);
  else sdk.setTraceProcessors([processor]);
  return processor;
}

/** Whether the SDK's exporter finds a key in the environment (its own fallback after `setTracingExportApiKey`). */
function hasOpenAIKey(): boolean {
  const key = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.['OPENAI_API_KEY'];
  return typeof key === 'string' && key !== '';
}
