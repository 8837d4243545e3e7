/**
 * A LangChain.js callback handler that turns a run's callbacks into
 * canonical agentbus events: the outermost chain (a LangGraph / `createAgent`
 * graph, an AgentExecutor, any runnable) is the agent invocation, every chat
 * model or LLM call a model step with the usage from its result, every tool
 * call a tool step. Inner chains (graph nodes, prompt templates) are looked
 * through; a chain started by a tool (an agent used as a tool), and a named
 * graph run inside an agent (a `createAgent` agent as a node of a workflow
 * graph), is a nested agent.
 *
 * An agent is named by its own name: its run name (the `name` given to
 * `createAgent` or to a compiled graph, or a runnable's own name) unless that
 * is a framework placeholder (LangGraph names every unnamed graph
 * "LangGraph"; a runnable without a name goes by its class), else the
 * handler's `agentName`. (The `lc_agent_name` createAgent also puts into the
 * run's metadata is inherited by every run below it, an agent run from a
 * tool included, so it does not say which agent a run is.)
 *
 * LangChain identifies calls by run id, not by async context, so each event
 * names its parent explicitly: the step of the nearest ancestor run that
 * became one.
 */
import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import type { Serialized } from '@langchain/core/load/serializable';
import type { BaseMessage } from '@langchain/core/messages';
import type { LLMResult } from '@langchain/core/outputs';
import type { ChainValues } from '@langchain/core/utils/types';
import { isAbortError, isRecording } from '../../context.js';
import { startStep } from '../../emit.js';
import type { Step } from '../../step.js';
import { argKeys, errorText, preview } from '../../events.js';
import { parseArgs, tokenCount } from '../payload.js';

/** Options of {@link AgentbusCallbackHandler}. */
export interface AgentbusCallbackHandlerOptions {
  /**
   * `agentName` of an agent that has no name of its own (an unnamed graph or
   * `createAgent`, a runnable known only by its class). Default `'langchain'`.
   */
  agentName?: string;
}

/** Run names LangChain gives runnables that were not named: not an agent's name. */
const PLACEHOLDER_NAMES: ReadonlySet<string> = new Set(['LangGraph']);

/** Serialized-id namespaces of LangChain's own classes, whose class names are placeholders too. */
const FRAMEWORK_NAMESPACES: ReadonlySet<string> = new Set(['langchain_core', 'langchain', 'langgraph']);

interface AgentEntry {
  readonly kind: 'agent';
  readonly name: string;
  readonly step: Step<'agent.invocation.started'>;
  modelCalls: number;
  toolCalls: number;
  lastText: string;
}
interface ModelEntry {
  readonly kind: 'model';
  readonly step: Step<'agent.model.started'>;
  readonly agent: AgentEntry | undefined;
  readonly model: string;
  readonly provider: string;
}
interface ToolEntry {
  readonly kind: 'tool';
  readonly step: Step<'agent.tool.started'>;
  readonly agent: AgentEntry | undefined;
  readonly name: string;
  readonly toolCallId: string;
  readonly started: number;
}
interface PassEntry {
  readonly kind: 'pass';
  readonly parentSpanId: string | undefined;
  readonly agent: AgentEntry | undefined;
}
type Entry = AgentEntry | ModelEntry | ToolEntry | PassEntry;

/** Where a new step goes: its parent's span id and the agent it counts towards. */
interface Placement {
  readonly parent: Entry | undefined;
  readonly parentSpanId: string | undefined;
  readonly agent: AgentEntry | undefined;
}

const NO_PLACEMENT: Placement = { parent: undefined, parentSpanId: undefined, agent: undefined };

/**
 * The handler. Pass it where LangChain takes callbacks, e.g.
 * `agent.invoke(input, { callbacks: [new AgentbusCallbackHandler()] })`;
 * callbacks of runs made outside an agentbus run are ignored without allocating.
 */
export class AgentbusCallbackHandler extends BaseCallbackHandler {
  /** LangChain's name for this handler. */
  name = 'agentbus';
  readonly #entries = new Map<string, Entry>();
  readonly #agentName: string;

  constructor(options: AgentbusCallbackHandlerOptions = {}) {
    // Awaited, not backgrounded: events are then published in order and in
    // the caller's async context (where the agentbus run is).
    super({ _awaitHandler: true, raiseError: false });
    this.awaitHandlers = true;
    this.#agentName = options.agentName ?? 'langchain';
  }

  /** LangChain runs currently open and tracked. */
  get openRuns(): number {
    return this.#entries.size;
  }

  /**
   * The outermost chain opens the agent invocation; inner chains are looked
   * through. The parameters are in the order LangChain passes them at run
   * time (its CallbackManager and BaseTracer): the `.d.ts` of
   * @langchain/core 1.x lists `runType` fourth and `parentRunId` eighth,
   * but the manager passes `parentRunId` fourth and `runType`, `runName` seventh
   * and eighth.
   */
  override handleChainStart(
    chain: Serialized,
    _inputs: ChainValues,
    runId: string,
    parentRunId?: string,
    _tags?: string[],
    _metadata?: Record<string, unknown>,
    _runType?: string,
    runName?: string,
  ): void {
    const at = this.#place(parentRunId);
    if (at === undefined) return;
    const name = chosenName(runName ?? lastId(chain), chain);
    // Inside an agent, a graph with a name of its own (a createAgent agent or
    // a named subgraph run as a node) is an agent too; its nodes are looked through.
    if (at.parent === undefined || at.parent.kind === 'tool' || (isGraph(chain) && name !== undefined && name !== at.agent?.name)) {
      const agentName = name ?? this.#agentName;
      const step = startStep('agent.invocation.started', { agentName }, { parentSpanId: at.parentSpanId });
      if (step.recording) this.#entries.set(runId, { kind: 'agent', name: agentName, step, modelCalls: 0, toolCalls: 0, lastText: '' });
      return;
    }
    this.#entries.set(runId, { kind: 'pass', parentSpanId: at.parentSpanId, agent: at.agent });
  }

  /** Closes the invocation (or forgets an inner chain). */
  override handleChainEnd(outputs: ChainValues, runId: string): void {
    const entry = this.#take(runId);
    if (entry?.kind !== 'agent') return;
    const text = finalText(outputs);
    entry.step.end({
      reason: 'completed',
      iterationsUsed: entry.modelCalls,
      totalToolCalls: entry.toolCalls,
      finalMessagePreview: preview(text === '' ? entry.lastText : text),
    });
  }

  /** Closes the invocation as failed (or aborted). */
  override handleChainError(error: unknown, runId: string): void {
    const entry = this.#take(runId);
    if (entry?.kind !== 'agent') return;
    entry.step.end({
      reason: isAbortError(error) ? 'aborted' : 'error',
      iterationsUsed: entry.modelCalls,
      totalToolCalls: entry.toolCalls,
      finalMessagePreview: preview(entry.lastText),
    });
  }

  /** A chat model call opens a model step. */
  override handleChatModelStart(
    llm: Serialized,
    messages: BaseMessage[][],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    _tags?: string[],
    metadata?: Record<string, unknown>,
  ): void {
    this.#openModel(llm, messages[0]?.length ?? 0, runId, parentRunId, extraParams, metadata);
  }

  /** A text-completion LLM call opens a model step. */
  override handleLLMStart(
    llm: Serialized,
    prompts: string[],
    runId: string,
    parentRunId?: string,
    extraParams?: Record<string, unknown>,
    _tags?: string[],
    metadata?: Record<string, unknown>,
  ): void {
    this.#openModel(llm, prompts.length, runId, parentRunId, extraParams, metadata);
  }

  /**
   * Records the call's usage, once: from the messages' `usage_metadata` when
   * present, else from the provider's `llmOutput.tokenUsage` (never both), and
   * closes the model step.
   */
  override handleLLMEnd(output: LLMResult, runId: string): void {
    const entry = this.#take(runId);
    if (entry?.kind !== 'model') return;
    let text = '';
    let toolCalls = 0;
    let stopReason: string | undefined;
    let input = 0;
    let outputTokens = 0;
    let cacheRead: number | undefined;
    let reasoning: number | undefined;
    let fromMessages = false;
    for (const generation of output.generations[0] ?? []) {
      text += generation.text;
      const info = generation.generationInfo as Record<string, unknown> | undefined;
      const message = (generation as { message?: MessageLike }).message;
      toolCalls += message?.tool_calls?.length ?? 0;
      stopReason ??= stringOr(info?.['finish_reason'], stringOr(message?.response_metadata?.['finish_reason'], undefined));
      const usage = message?.usage_metadata;
      if (usage !== undefined) {
        fromMessages = true;
        input += tokenCount(usage.input_tokens) ?? 0;
        outputTokens += tokenCount(usage.output_tokens) ?? 0;
        const read = tokenCount(usage.input_token_details?.cache_read);
        if (read !== undefined) cacheRead = (cacheRead ?? 0) + read;
        const thought = tokenCount(usage.output_token_details?.reasoning);
        if (thought !== undefined) reasoning = (reasoning ?? 0) + thought;
      }
    }
    let reported = fromMessages;
    if (!fromMessages) {
      const llmOutput = output.llmOutput as Record<string, Record<string, unknown> | undefined> | undefined;
      const usage = llmOutput?.['tokenUsage'] ?? llmOutput?.['estimatedTokenUsage'];
      const prompt = tokenCount(usage?.['promptTokens']);
      const completion = tokenCount(usage?.['completionTokens']);
      if (prompt !== undefined || completion !== undefined) {
        reported = true;
        input = prompt ?? 0;
        outputTokens = completion ?? 0;
      }
    }
    if (reported) {
      entry.step.emit('agent.tokens.used', {
        model: entry.model,
        provider: entry.provider,
        inputTokens: input,
        outputTokens,
        totalTokens: input + outputTokens,
        cacheReadInputTokens: cacheRead,
        reasoningOutputTokens: reasoning,
      });
    }
    if (entry.agent !== undefined && text !== '') entry.agent.lastText = text;
    entry.step.end({
      stopReason: stopReason ?? (toolCalls > 0 ? 'tool_calls' : 'stop'),
      toolCallCount: toolCalls,
      contentPreview: preview(text),
    });
  }

  /** Closes the model step with the error. */
  override handleLLMError(error: unknown, runId: string): void {
    const entry = this.#take(runId);
    if (entry?.kind !== 'model') return;
    entry.step.end({
      stopReason: isAbortError(error) ? 'aborted' : 'error',
      toolCallCount: 0,
      contentPreview: '',
      error: errorText(error),
    });
  }

  /** A tool call opens a tool step (the model's tool call id when LangChain passes it). */
  override handleToolStart(
    tool: Serialized,
    input: string,
    runId: string,
    parentRunId?: string,
    _tags?: string[],
    _metadata?: Record<string, unknown>,
    runName?: string,
    toolCallId?: string,
  ): void {
    const at = this.#place(parentRunId);
    if (at === undefined) return;
    const name = runName ?? lastId(tool) ?? 'tool';
    const args = parseArgs(input);
    const step = startStep('agent.tool.started', {
      toolName: name,
      toolCallId: toolCallId ?? runId,
      argKeys: argKeys(args),
      args: at.agent?.step.captureContent === true ? args : undefined,
    }, { parentSpanId: at.parentSpanId });
    if (!step.recording) return;
    if (at.agent !== undefined) at.agent.toolCalls++;
    this.#entries.set(runId, { kind: 'tool', step, agent: at.agent, name, toolCallId: toolCallId ?? runId, started: performance.now() });
  }

  /** Closes the tool step with its output. */
  override handleToolEnd(output: unknown, runId: string): void {
    const entry = this.#take(runId);
    if (entry?.kind !== 'tool') return;
    const content = (output as { content?: unknown } | null)?.content;
    entry.step.end({
      toolName: entry.name,
      toolCallId: entry.toolCallId,
      success: true,
      durationMs: performance.now() - entry.started,
      outputPreview: preview(content ?? output),
    });
  }

  /** Closes the tool step with the error. */
  override handleToolError(error: unknown, runId: string): void {
    const entry = this.#take(runId);
    if (entry?.kind !== 'tool') return;
    entry.step.end({
      toolName: entry.name,
      toolCallId: entry.toolCallId,
      success: false,
      durationMs: performance.now() - entry.started,
      error: errorText(error),
    });
  }

  #openModel(
    llm: Serialized,
    messageCount: number,
    runId: string,
    parentRunId: string | undefined,
    extraParams: Record<string, unknown> | undefined,
    metadata: Record<string, unknown> | undefined,
  ): void {
    const at = this.#place(parentRunId);
    if (at === undefined) return;
    const params = extraParams?.['invocation_params'] as Record<string, unknown> | undefined;
    const model = stringOr(metadata?.['ls_model_name'], stringOr(params?.['model'], stringOr(params?.['model_name'], lastId(llm) ?? 'unknown')));
    const provider = stringOr(metadata?.['ls_provider'], 'langchain');
    const tools = params?.['tools'];
    const step = startStep('agent.model.started', {
      model,
      provider,
      messageCount,
      toolCount: Array.isArray(tools) ? tools.length : 0,
    }, { parentSpanId: at.parentSpanId });
    if (!step.recording) return;
    if (at.agent !== undefined) at.agent.modelCalls++;
    this.#entries.set(runId, { kind: 'model', step, agent: at.agent, model, provider });
  }

  /**
   * Where a run with this parent goes. Undefined when it is not ours to
   * record: no tracked parent and no agentbus run open here.
   */
  #place(parentRunId: string | undefined): Placement | undefined {
    const parent = parentRunId === undefined ? undefined : this.#entries.get(parentRunId);
    if (parent === undefined) return isRecording() ? NO_PLACEMENT : undefined;
    if (parent.kind === 'pass') return { parent, parentSpanId: parent.parentSpanId, agent: parent.agent };
    return { parent, parentSpanId: parent.step.spanId, agent: parent.kind === 'agent' ? parent : parent.agent };
  }

  #take(runId: string): Entry | undefined {
    const entry = this.#entries.get(runId);
    if (entry !== undefined) this.#entries.delete(runId);
    return entry;
  }
}

/** The fields of an AI message this handler reads. */
interface MessageLike {
  tool_calls?: unknown[];
  response_metadata?: Record<string, unknown>;
  usage_metadata?: {
    input_tokens?: number;
    output_tokens?: number;
    input_token_details?: { cache_read?: number };
    output_token_details?: { reasoning?: number };
  };
}

/** True for a compiled LangGraph graph (a createAgent agent is one). */
function isGraph(chain: Serialized | undefined): boolean {
  const id = (chain as { id?: unknown } | undefined)?.id;
  return Array.isArray(id) && id[0] === 'langgraph' && id[1] === 'pregel';
}

/** A run name chosen for the runnable, or undefined for a placeholder LangChain filled in. */
function chosenName(runName: string | undefined, chain: Serialized | undefined): string | undefined {
  if (runName === undefined || runName === '' || PLACEHOLDER_NAMES.has(runName)) return undefined;
  const id = (chain as { id?: unknown } | undefined)?.id;
  const namespace = Array.isArray(id) ? id[0] : undefined;
  return runName === lastId(chain) && typeof namespace === 'string' && FRAMEWORK_NAMESPACES.has(namespace) ? undefined : runName;
}

function lastId(serialized: Serialized | undefined): string | undefined {
  const id = (serialized as { id?: unknown } | undefined)?.id;
  return Array.isArray(id) && typeof id.at(-1) === 'string' ? (id.at(-1) as string) : undefined;
}

function stringOr<T>(value: unknown, fallback: T): string | T {
  return typeof value === 'string' && value !== '' ? value : fallback;
}

/** The final answer in a chain's outputs: the last message of `messages`, or `output`. */
function finalText(outputs: ChainValues | undefined): string {
  const messages = outputs?.['messages'];
  if (Array.isArray(messages) && messages.length > 0) {
    const content = (messages.at(-1) as { content?: unknown } | null)?.content;
    if (typeof content === 'string') return content;
  }
  const output = outputs?.['output'];
  return typeof output === 'string' ? output : '';
}
