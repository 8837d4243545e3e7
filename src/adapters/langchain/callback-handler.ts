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
 * LangChain identifies calls by run id, not by async context, so each run is
 * tracked under its run id and placed under the step of the nearest ancestor
 * run that became one.
 */
import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import type { Serialized } from '@langchain/core/load/serializable';
import type { BaseMessage } from '@langchain/core/messages';
import type { LLMResult } from '@langchain/core/outputs';
import type { ChainValues } from '@langchain/core/utils/types';
import { finiteNumber, parseArgs, stringOr, tokenCount } from '../payload.js';
import { guarded } from '../callback-guard.js';
import { StepTracker } from '../step-tracker.js';
import { readLLMResult } from './llm-result.js';
import { answerToolCalls, chatContent, promptsContent } from './message-content.js';
import type { ContentBuilder, ModelInputContent } from '../../content.js';

/** Options of {@link AgentbusCallbackHandler}. */
export interface AgentbusCallbackHandlerOptions {
  /**
   * `agentName` of an agent that has no name of its own (an unnamed graph or
   * `createAgent`, a runnable known only by its class). Default `'langchain'`.
   */
  agentName?: string;
}

/** Who warns when a callback is skipped (see `callback-guard.ts`). */
const ADAPTER = 'agentbus/langchain';

/** Run names LangChain gives runnables that were not named: not an agent's name. */
const PLACEHOLDER_NAMES: ReadonlySet<string> = new Set(['LangGraph']);

/** Serialized-id namespaces of LangChain's own classes, whose class names are placeholders too. */
const FRAMEWORK_NAMESPACES: ReadonlySet<string> = new Set(['langchain_core', 'langchain', 'langgraph']);

/**
 * What LangChain passes a chain or tool start callback after the run's
 * input, in the order its CallbackManager does, then `Rest`.
 */
type RunStart<Rest extends unknown[]> = [runId: string, parentRunId?: string, tags?: string[], metadata?: Record<string, unknown>, ...rest: Rest];

/** What LangChain passes a chat model or LLM start callback after the prompt. */
type ModelStart = [runId: string, parentRunId?: string, extraParams?: Record<string, unknown>, tags?: string[], metadata?: Record<string, unknown>];

/**
 * The handler. Pass it where LangChain takes callbacks, e.g.
 * `agent.invoke(input, { callbacks: [new AgentbusCallbackHandler()] })`;
 * callbacks of runs made outside an agentbus run are ignored without allocating.
 */
export class AgentbusCallbackHandler extends BaseCallbackHandler {
  /** LangChain's name for this handler. */
  name = 'agentbus';
  readonly #tracker = new StepTracker();
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
    return this.#tracker.size;
  }

  /**
   * The outermost chain opens the agent invocation; inner chains are looked
   * through. The parameters are in the order LangChain passes them at run
   * time (its CallbackManager and BaseTracer): the `.d.ts` of
   * @langchain/core 1.x lists `runType` fourth and `parentRunId` eighth,
   * but the manager passes `parentRunId` fourth and `runType`, `runName` seventh
   * and eighth.
   */
  override handleChainStart(chain: Serialized, _inputs: ChainValues, ...[runId, parentRunId, , , , runName]: RunStart<[runType?: string, runName?: string]>): void {
    guarded(ADAPTER, 'handleChainStart', () => {
      const at = this.#tracker.place(parentRunId);
      if (at === undefined) return;
      const name = chosenName(runName ?? lastId(chain), chain);
      // Inside an agent, a graph with a name of its own (a createAgent agent or
      // a named subgraph run as a node) is an agent too; its nodes are looked through.
      if (at.parent === undefined || at.parent.kind === 'tool' || (isGraph(chain) && name !== undefined && name !== at.agent?.name)) {
        this.#tracker.openAgent(runId, at, { agentName: name ?? this.#agentName });
      } else {
        this.#tracker.passThrough(runId, at);
      }
    });
  }

  /** Closes the invocation (or forgets an inner chain). */
  override handleChainEnd(outputs: ChainValues, runId: string): void {
    guarded(ADAPTER, 'handleChainEnd', () => {
      const entry = this.#tracker.get(runId);
      if (entry?.kind === 'agent') this.#tracker.endAgent(entry, 'completed', finalText(outputs));
      else if (entry?.kind === 'pass') this.#tracker.forget(entry);
    });
  }

  /** Closes the invocation as failed (or aborted). */
  override handleChainError(error: unknown, runId: string): void {
    guarded(ADAPTER, 'handleChainError', () => {
      const entry = this.#tracker.get(runId);
      if (entry?.kind === 'agent') this.#tracker.failAgent(entry, error);
      else if (entry?.kind === 'pass') this.#tracker.forget(entry);
    });
  }

  /** A chat model call opens a model step. */
  override handleChatModelStart(llm: Serialized, messages: BaseMessage[][], ...args: ModelStart): void {
    guarded(ADAPTER, 'handleChatModelStart', () => {
      this.#openModel(llm, messages[0]?.length ?? 0, (b, tools) => chatContent(b, messages[0], tools), ...args);
    });
  }

  /** A text-completion LLM call opens a model step. */
  override handleLLMStart(llm: Serialized, prompts: string[], ...args: ModelStart): void {
    guarded(ADAPTER, 'handleLLMStart', () => {
      this.#openModel(llm, prompts.length, (b, tools) => promptsContent(b, prompts, tools), ...args);
    });
  }

  /** Records the call's usage, once, and closes the model step. */
  override handleLLMEnd(output: LLMResult, runId: string): void {
    guarded(ADAPTER, 'handleLLMEnd', () => {
      const entry = this.#tracker.get(runId);
      if (entry?.kind !== 'model') return;
      const answer = readLLMResult(output);
      // The tool calls only for the output message: read only when the run wants content.
      this.#tracker.endModel(entry, entry.input === undefined ? answer : { ...answer, toolCalls: answerToolCalls(output) });
    });
  }

  /** Closes the model step with the error. */
  override handleLLMError(error: unknown, runId: string): void {
    guarded(ADAPTER, 'handleLLMError', () => {
      const entry = this.#tracker.get(runId);
      if (entry?.kind === 'model') this.#tracker.failModel(entry, error);
    });
  }

  /** A tool call opens a tool step (the model's tool call id when LangChain passes it). */
  override handleToolStart(tool: Serialized, input: string, ...[runId, parentRunId, , , runName, toolCallId]: RunStart<[runName?: string, toolCallId?: string]>): void {
    guarded(ADAPTER, 'handleToolStart', () => {
      const at = this.#tracker.place(parentRunId);
      if (at !== undefined) this.#tracker.openTool(runId, at, runName ?? lastId(tool) ?? 'tool', toolCallId ?? runId, parseArgs(input));
    });
  }

  /** Closes the tool step with its output. */
  override handleToolEnd(output: unknown, runId: string): void {
    guarded(ADAPTER, 'handleToolEnd', () => {
      const entry = this.#tracker.get(runId);
      if (entry?.kind === 'tool') this.#tracker.endTool(entry, (output as { content?: unknown } | null)?.content ?? output);
    });
  }

  /** Closes the tool step with the error. */
  override handleToolError(error: unknown, runId: string): void {
    guarded(ADAPTER, 'handleToolError', () => {
      const entry = this.#tracker.get(runId);
      if (entry?.kind === 'tool') this.#tracker.failTool(entry, error);
    });
  }

  #openModel(
    llm: Serialized,
    messageCount: number,
    content: (b: ContentBuilder, tools: unknown) => ModelInputContent,
    ...[runId, parentRunId, extraParams, , metadata]: ModelStart
  ): void {
    const at = this.#tracker.place(parentRunId);
    if (at === undefined) return;
    const params = extraParams?.['invocation_params'] as Record<string, unknown> | undefined;
    const tools = params?.['tools'];
    // The settings the provider is sent (its invocation params, in the provider's own names), else the LangSmith ones LangChain puts in the metadata.
    const maxTokens = params?.['max_tokens'] ?? params?.['max_completion_tokens'] ?? params?.['maxTokens'] ?? metadata?.['ls_max_tokens'];
    const streaming = params?.['stream'] === true || params?.['streaming'] === true;
    this.#tracker.openModel(runId, at, {
      model: stringOr(metadata?.['ls_model_name'], stringOr(params?.['model'], stringOr(params?.['model_name'], lastId(llm) ?? 'unknown'))),
      provider: stringOr(metadata?.['ls_provider'], 'langchain'),
      messageCount,
      toolCount: Array.isArray(tools) ? tools.length : 0,
      temperature: finiteNumber(params?.['temperature'] ?? metadata?.['ls_temperature']),
      maxTokens: tokenCount(maxTokens),
      topP: finiteNumber(params?.['top_p'] ?? params?.['topP']),
      stream: streaming ? true : undefined,
    }, (b) => content(b, tools));
  }
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

/**
 * The final answer in a chain's outputs: the last message of `messages`, or
 * `output`; '' when there is none or it cannot be read (the agent is closed
 * all the same).
 */
function finalText(outputs: ChainValues | undefined): string {
  try {
    const messages = outputs?.['messages'];
    if (Array.isArray(messages) && messages.length > 0) {
      const content = (messages.at(-1) as { content?: unknown } | null)?.content;
      if (typeof content === 'string') return content;
    }
    const output = outputs?.['output'];
    return typeof output === 'string' ? output : '';
  } catch {
    return '';
  }
}
