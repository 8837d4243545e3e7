/**
 * An OpenAI Agents SDK trace processor that turns the SDK's spans into
 * canonical agentbus events: `agent` spans become agent invocations,
 * `generation` / `response` spans model steps (with their token usage),
 * `function` spans tool steps, and `handoff` spans an `agent.handoff` event
 * that links the receiving agent to the one that handed off.
 *
 * The SDK calls processors from its own code, not inside our steps, so each
 * event names its parent explicitly: the agentbus step of the nearest SDK
 * ancestor that became one (task, turn and other spans are looked through).
 * An agent run as a tool (`agent.asTool()`) therefore nests under that tool.
 */
import { isRecording } from '../../context.js';
import { emit, startStep, type Step } from '../../emit.js';
import { argKeys, errorText, preview } from '../../events.js';
import { parseArgs, tokenCount } from '../payload.js';
import type { SdkSpan, SdkSpanData, SdkTrace } from './sdk-spans.js';

/** Options of {@link AgentbusTraceProcessor}. */
export interface AgentbusTraceProcessorOptions {
  /** `provider` of model events (the SDK's spans do not say). Default `'openai'`. */
  provider?: string;
}

interface AgentEntry {
  readonly kind: 'agent';
  readonly traceId: string;
  readonly step: Step<'agent.invocation.started'>;
  modelCalls: number;
  toolCalls: number;
  lastText: string;
}
interface ModelEntry {
  readonly kind: 'model';
  readonly traceId: string;
  readonly step: Step<'agent.model.started'>;
  readonly agent: AgentEntry | undefined;
}
interface ToolEntry {
  readonly kind: 'tool';
  readonly traceId: string;
  readonly step: Step<'agent.tool.started'>;
  readonly agent: AgentEntry | undefined;
  readonly name: string;
  readonly toolCallId: string;
  readonly started: number;
}
/**
 * A function span whose step is not open yet: the SDK fills in the tool's
 * arguments just after starting the span, so the step opens one microtask
 * later (or at once, when a child span or the span's end needs it first).
 */
interface PendingToolEntry {
  readonly kind: 'pending-tool';
  readonly traceId: string;
  readonly span: SdkSpan;
  readonly parentSpanId: string | undefined;
  readonly agent: AgentEntry | undefined;
}
/** A span that is not a step of ours (task, turn, handoff, guardrail...): children look through it. */
interface PassEntry {
  readonly kind: 'pass';
  readonly traceId: string;
  readonly parentSpanId: string | undefined;
  readonly agent: AgentEntry | undefined;
}
type Entry = AgentEntry | ModelEntry | ToolEntry | PassEntry | PendingToolEntry;

/** A handoff waiting for its receiving agent's span. */
interface PendingHandoff {
  readonly toAgent: string;
  readonly fromSpanId: string | undefined;
}

/**
 * The processor. Register it with the SDK's own API, next to the default
 * OpenAI exporter (`addTraceProcessor(new AgentbusTraceProcessor())`) or
 * instead of it (`setTraceProcessors([...])`). It never exports anything;
 * spans of runs made outside an agentbus run are ignored without allocating.
 */
export class AgentbusTraceProcessor {
  readonly #entries = new Map<string, Entry>();
  readonly #handoffs = new Map<string, PendingHandoff>();
  readonly #provider: string;

  constructor(options: AgentbusTraceProcessorOptions = {}) {
    this.#provider = options.provider ?? 'openai';
  }

  /** SDK spans currently open and tracked. */
  get openSpans(): number {
    return this.#entries.size;
  }

  /** Part of the SDK's processor interface; nothing to start. */
  start(): void {}

  /** Part of the SDK's processor interface; a trace is not a step. */
  async onTraceStart(_trace: SdkTrace): Promise<void> {}

  /** Closes, once, any step of the trace whose span never ended. */
  async onTraceEnd(trace: SdkTrace): Promise<void> {
    if (this.#entries.size === 0) return;
    for (const [spanId, entry] of this.#entries) {
      if (entry.traceId !== trace.traceId) continue;
      const open = this.#resolve(spanId);
      this.#entries.delete(spanId);
      if (open !== undefined) closeUnfinished(open);
    }
    this.#handoffs.delete(trace.traceId);
  }

  /** Opens the step a span stands for. */
  async onSpanStart(span: SdkSpan): Promise<void> {
    const parent = span.parentId === null ? undefined : this.#resolve(span.parentId);
    if (parent === undefined && !isRecording()) return;
    const parentSpanId = parent === undefined ? undefined : parent.kind === 'pass' ? parent.parentSpanId : parent.step.spanId;
    const owner = parent === undefined ? undefined : parent.kind === 'agent' ? parent : parent.agent;
    if (span.spanData.type === 'function') {
      this.#entries.set(span.spanId, { kind: 'pending-tool', traceId: span.traceId, span, parentSpanId, agent: owner });
      await undefined;
      this.#resolve(span.spanId);
      return;
    }
    const entry = this.#open(span, span.spanData, parentSpanId, owner);
    if (entry !== undefined) this.#entries.set(span.spanId, entry);
  }

  /** Closes the step a span stands for. */
  async onSpanEnd(span: SdkSpan): Promise<void> {
    const entry = this.#resolve(span.spanId);
    if (entry === undefined) return;
    this.#entries.delete(span.spanId);
    const data = span.spanData;
    switch (entry.kind) {
      case 'agent':
        return endAgent(entry, span);
      case 'model':
        return this.#endModel(entry, span, data);
      case 'tool':
        return endTool(entry, span, data);
      case 'pass':
        if (data.type === 'handoff' && data.to_agent !== undefined) {
          this.#handoffs.set(span.traceId, { toAgent: data.to_agent, fromSpanId: entry.parentSpanId });
          emit('agent.handoff', { fromAgent: data.from_agent ?? 'unknown', toAgent: data.to_agent }, { parentSpanId: entry.parentSpanId });
        }
    }
  }

  /** Part of the SDK's processor interface; holds nothing to flush. */
  async shutdown(_timeout?: number): Promise<void> {}

  /** Part of the SDK's processor interface; holds nothing to flush. */
  async forceFlush(): Promise<void> {}

  /** The entry of an SDK span, opening a pending tool step first. */
  #resolve(spanId: string): Exclude<Entry, PendingToolEntry> | undefined {
    const entry = this.#entries.get(spanId);
    if (entry?.kind !== 'pending-tool') return entry;
    const opened = this.#open(entry.span, entry.span.spanData, entry.parentSpanId, entry.agent);
    if (opened === undefined) this.#entries.delete(spanId);
    else this.#entries.set(spanId, opened);
    return opened;
  }

  #open(
    span: SdkSpan,
    data: SdkSpanData,
    parentSpanId: string | undefined,
    owner: AgentEntry | undefined,
  ): Exclude<Entry, PendingToolEntry> | undefined {
    const traceId = span.traceId;
    switch (data.type) {
      case 'agent': {
        const name = data.name ?? 'agent';
        const handoff = this.#handoffs.get(traceId);
        let parent = parentSpanId;
        if (handoff !== undefined && handoff.toAgent === name) {
          // The receiving agent's span hangs off the run's task span; link it to
          // the agent that handed off instead, which is what happened.
          this.#handoffs.delete(traceId);
          parent = handoff.fromSpanId ?? parent;
        }
        const step = startStep('agent.invocation.started', { agentName: name, agentId: span.spanId }, { parentSpanId: parent });
        return step.recording ? { kind: 'agent', traceId, step, modelCalls: 0, toolCalls: 0, lastText: '' } : undefined;
      }
      case 'generation':
      case 'response': {
        const input = data.type === 'response' ? data._input : data.input;
        const step = startStep('agent.model.started', {
          model: modelName(data),
          provider: this.#provider,
          messageCount: Array.isArray(input) ? input.length : input === undefined ? 0 : 1,
          toolCount: 0,
        }, { parentSpanId });
        if (!step.recording) return undefined;
        if (owner !== undefined) owner.modelCalls++;
        return { kind: 'model', traceId, step, agent: owner };
      }
      case 'function': {
        const name = data.name ?? 'tool';
        const args = parseArgs(data.input);
        const step = startStep('agent.tool.started', {
          toolName: name,
          // The SDK's function spans carry no call id; the span id is unique and stable.
          toolCallId: span.spanId,
          argKeys: argKeys(args),
          args: owner?.step.captureContent === true ? args : undefined,
        }, { parentSpanId });
        if (!step.recording) return undefined;
        if (owner !== undefined) owner.toolCalls++;
        return { kind: 'tool', traceId, step, agent: owner, name, toolCallId: span.spanId, started: performance.now() };
      }
      default:
        return { kind: 'pass', traceId, parentSpanId, agent: owner };
    }
  }

  #endModel(entry: ModelEntry, span: SdkSpan, data: SdkSpanData): void {
    const response = data._response;
    const usage = (data.type === 'response' ? response?.['usage'] : data.usage) as Record<string, unknown> | null | undefined;
    const model = data.type === 'response' && typeof response?.['model'] === 'string' ? response['model'] : modelName(data);
    const inputTokens = tokenCount(usage?.['input_tokens']);
    const outputTokens = tokenCount(usage?.['output_tokens']);
    if (inputTokens !== undefined || outputTokens !== undefined) {
      const details = usage?.['details'] as Record<string, unknown> | null | undefined;
      const inputDetails = (usage?.['input_tokens_details'] ?? details) as Record<string, unknown> | null | undefined;
      const outputDetails = (usage?.['output_tokens_details'] ?? details) as Record<string, unknown> | null | undefined;
      entry.step.emit('agent.tokens.used', {
        model,
        provider: this.#provider,
        inputTokens: inputTokens ?? 0,
        outputTokens: outputTokens ?? 0,
        totalTokens: (inputTokens ?? 0) + (outputTokens ?? 0),
        cacheReadInputTokens: tokenCount(inputDetails?.['cached_tokens']),
        reasoningOutputTokens: tokenCount(outputDetails?.['reasoning_tokens']),
      });
    }
    const output = data.type === 'response' ? response?.['output'] : data.output;
    const { text, toolCalls } = readOutput(output);
    if (entry.agent !== undefined && text !== '') entry.agent.lastText = text;
    entry.step.end('agent.model.completed', {
      stopReason: span.error !== null ? 'error' : toolCalls > 0 ? 'tool_calls' : 'stop',
      toolCallCount: toolCalls,
      contentPreview: preview(text),
      error: span.error === null ? undefined : spanErrorText(span.error),
    });
  }
}

function modelName(data: SdkSpanData): string {
  return typeof data.model === 'string' && data.model !== '' ? data.model : 'unknown';
}

/** The text and the number of tool calls in a model's output items (Responses or Chat Completions shape). */
function readOutput(output: unknown): { text: string; toolCalls: number } {
  let text = '';
  let toolCalls = 0;
  if (!Array.isArray(output)) return { text, toolCalls };
  for (const item of output as Array<Record<string, unknown> | null>) {
    if (item === null || typeof item !== 'object') continue;
    if (item['type'] === 'function_call') toolCalls++;
    if (Array.isArray(item['tool_calls'])) toolCalls += item['tool_calls'].length;
    const content = item['content'];
    if (typeof content === 'string') text += content;
    else if (Array.isArray(content)) {
      for (const part of content as Array<Record<string, unknown> | null>) {
        if (part !== null && typeof part === 'object' && typeof part['text'] === 'string') text += part['text'];
      }
    }
  }
  return { text, toolCalls };
}

function spanErrorText(error: NonNullable<SdkSpan['error']>): string {
  const detail = error.data?.['error'];
  return preview(typeof detail === 'string' && detail !== '' ? `${error.message}: ${detail}` : error.message);
}

function terminateReason(error: SdkSpan['error']): 'completed' | 'error' | 'aborted' | 'max_iterations' {
  if (error === null) return 'completed';
  const text = `${error.message} ${String(error.data?.['error'] ?? '')}`;
  if (/MaxTurnsExceeded|max turns/i.test(text)) return 'max_iterations';
  if (/AbortError|aborted/i.test(text)) return 'aborted';
  return 'error';
}

function endAgent(entry: AgentEntry, span: SdkSpan): void {
  entry.step.end('agent.terminate', {
    reason: terminateReason(span.error),
    iterationsUsed: entry.modelCalls,
    totalToolCalls: entry.toolCalls,
    finalMessagePreview: preview(entry.lastText),
  });
}

function endTool(entry: ToolEntry, span: SdkSpan, data: SdkSpanData): void {
  const failed = span.error !== null;
  entry.step.end('agent.tool.completed', {
    toolName: entry.name,
    toolCallId: entry.toolCallId,
    success: !failed,
    durationMs: performance.now() - entry.started,
    outputPreview: failed ? undefined : preview(data.output ?? ''),
    error: failed ? spanErrorText(span.error!) : undefined,
  });
}

function closeUnfinished(entry: Exclude<Entry, PendingToolEntry>): void {
  const error = errorText(new Error('span never ended'));
  switch (entry.kind) {
    case 'agent':
      return entry.step.end('agent.terminate', {
        reason: 'error', iterationsUsed: entry.modelCalls, totalToolCalls: entry.toolCalls, finalMessagePreview: '',
      });
    case 'model':
      return entry.step.end('agent.model.completed', { stopReason: 'error', toolCallCount: 0, contentPreview: '', error });
    case 'tool':
      return entry.step.end('agent.tool.completed', {
        toolName: entry.name, toolCallId: entry.toolCallId, success: false, durationMs: performance.now() - entry.started, error,
      });
    case 'pass':
  }
}
