/**
 * The reference ReAct agent: ask the model, run the tools it calls, feed the
 * results back, repeat until it answers or the iteration budget is spent.
 *
 * It only emits (through the core helpers); it never builds the bus. With no
 * run open every helper is a no-op, so an agent used without `runContext`
 * costs nothing for telemetry.
 */
import { isAbortError } from '../context.js';
import { emit, startStep, traceTool } from '../emit.js';
import { traceModel, type TokenUsage } from '../trace.js';
import { errorTypeOf, preview } from '../payload-text.js';
import { textMessage, toolCallPart, toolDefinitions, toolResponsePart, type ChatMessage, type ContentBuilder, type ModelInputContent } from '../content.js';
import type { Message, Model, ModelRequestInfo, ModelResponse, ToolCall, ToolResultMessage, ToolSpec } from './model.js';
import { parseToolArguments, type Tool } from './tool.js';
import { usageProblem } from './token-usage.js';
import { shownValue, signalOption } from '../options.js';
import { thrownText } from './value-text.js';

/** Options of {@link Agent}. */
export interface AgentOptions {
  /** The model that decides what to do. */
  model: Model;
  /** Tools the model may call: an array of tools built with `defineTool`. Names must be unique. Default none. */
  tools?: ReadonlyArray<Tool<any, unknown>>;
  /** Most model calls per run. Default 10. */
  maxIterations?: number;
  /** Agent name, in events and spans (`gen_ai.agent.name`). Default `agent`. */
  name?: string;
  /** Agent id, in events and spans (`gen_ai.agent.id`): a string, or undefined for none. */
  id?: string;
  /** System prompt. */
  instructions?: string;
}

/** Options of {@link Agent.run}. */
export interface AgentRunOptions {
  /** Aborts the run: the model call and the tools in flight get it too. An `AbortSignal`, or undefined for none. */
  signal?: AbortSignal;
}

/** One tool call made during a run. */
export interface AgentToolCall {
  /** The model's id for the call (the events' `toolCallId`). */
  id: string;
  /** The tool asked for. */
  name: string;
  /** The arguments as the model gave them, before validation. */
  arguments: unknown;
  /** What the model was shown: the output as text, or the error text. */
  result: string;
  /** True when the call failed (bad arguments, unknown tool, the tool threw). */
  isError: boolean;
}

/** Token totals of a run (summed over its model calls). */
export interface AgentUsage {
  /** Tokens sent to the model, cached ones included. */
  inputTokens: number;
  /** Tokens the model generated, reasoning ones included. */
  outputTokens: number;
  /** `inputTokens + outputTokens`. */
  totalTokens: number;
  /** Input tokens served from a provider cache (part of `inputTokens`); 0 when none were reported. */
  cacheReadInputTokens: number;
  /** Output tokens spent on reasoning (part of `outputTokens`); 0 when none were reported. */
  reasoningOutputTokens: number;
}

/** What {@link Agent.run} resolves with. Errors and aborts reject instead. */
export interface AgentResult {
  /** The final answer (the last model reply's text). */
  output: string;
  /** `completed`: the model answered; `max_iterations`: the budget ran out first. */
  reason: 'completed' | 'max_iterations';
  /** Model calls made. */
  iterations: number;
  /** Every tool call, in the order the model asked for them. */
  toolCalls: AgentToolCall[];
  /** Token totals. */
  usage: AgentUsage;
  /** The whole conversation, system prompt included. */
  messages: Message[];
}

/** Terminate reason of an `agent.terminate` event. */
type TerminateReason = 'completed' | 'max_iterations' | 'error' | 'aborted';

interface RunState {
  iterations: number;
  output: string;
  toolCalls: AgentToolCall[];
  usage: AgentUsage;
  messages: Message[];
}

type ToolOutcome = { message: ToolResultMessage; abort?: undefined } | { message?: undefined; abort: unknown };

/** The error an aborted run rejects with: the signal's reason when it is an abort error, else a fresh `AbortError`. */
function abortErrorFor(signal: AbortSignal | undefined, error: unknown, agentName: string): unknown {
  const reason: unknown = signal?.aborted ? signal.reason : error;
  if (isAbortError(reason)) return reason;
  // The reason is the aborter's value (any value, a hostile Proxy included): its text never throws.
  const why = reason === undefined ? '' : `: ${thrownText(reason)}`;
  return new DOMException(`agent "${agentName}" was aborted${why}`, 'AbortError');
}

/** What the model is shown of a tool's output: a string as is, else JSON, else its text. Never throws. */
function resultText(output: unknown): string {
  if (typeof output === 'string') return output;
  if (output === undefined) return '';
  try {
    return JSON.stringify(output) ?? thrownText(output);
  } catch {
    // A cycle, a BigInt, a throwing getter or toJSON: the output's text, which never throws either.
    return thrownText(output);
  }
}

/**
 * The problem with one tool call of a response, or undefined: its `id` and
 * `name` go into `agent.tool.started`/`completed`, which want strings.
 */
function toolCallProblem(calls: readonly unknown[]): string | undefined {
  for (const [i, call] of calls.entries()) {
    if (typeof call !== 'object' || call === null) return `toolCalls[${i}] to be a tool call object, got ${shownValue(call)}`;
    const { id, name } = call as Partial<ToolCall>;
    if (typeof id !== 'string') return `toolCalls[${i}].id to be a string, got ${shownValue(id)}`;
    if (typeof name !== 'string') return `toolCalls[${i}].name to be a string, got ${shownValue(name)}`;
  }
  return undefined;
}

/** The problem with a response's usage, or undefined: see token-usage.ts. */
function responseUsageProblem(usage: unknown): string | undefined {
  if (usage === undefined) return undefined;
  const problem = usageProblem(usage);
  return problem === undefined ? undefined : `${problem.field} to be ${problem.rule}, got ${problem.got}`;
}

function checkResponse(response: unknown, model: Model): ModelResponse {
  const r = response as Partial<ModelResponse> | null;
  const problem =
    typeof r !== 'object' || r === null ? `a response object, got ${r === null ? 'null' : typeof r}`
    : typeof r.content !== 'string' ? `content to be a string, got ${typeof r.content}`
    : !Array.isArray(r.toolCalls) ? `toolCalls to be an array, got ${typeof r.toolCalls}`
    : typeof r.stopReason !== 'string' ? `stopReason to be a string, got ${typeof r.stopReason}`
    : (toolCallProblem(r.toolCalls) ?? responseUsageProblem(r.usage));
  if (problem !== undefined) throw new TypeError(`model ${model.provider}/${model.name} returned a bad response: expected ${problem}`);
  return r as ModelResponse;
}

const NEVER_ABORTED = new AbortController().signal;

/**
 * The request fields of `agent.model.started` from a model's `requestInfo`,
 * read once per run: a field of the wrong type (a hand-written model's) is
 * left out rather than published.
 */
function requestFields(model: Model) {
  let info: ModelRequestInfo | undefined;
  try {
    info = model.requestInfo;
  } catch {
    info = undefined;
  }
  const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
  return {
    serverAddress: typeof info?.serverAddress === 'string' ? info.serverAddress : undefined,
    serverPort: number(info?.serverPort),
    temperature: number(info?.temperature),
    maxTokens: number(info?.maxTokens),
    topP: number(info?.topP),
    stream: typeof info?.stream === 'boolean' ? info.stream : undefined,
  };
}

/**
 * A ReAct agent. Each {@link Agent.run} emits, inside a run:
 * `agent.invocation.started`, then per iteration `agent.model.started`,
 * `agent.tokens.used`, `agent.model.completed`, `agent.think` and a
 * `agent.tool.started`/`agent.tool.completed` pair per tool call, and finally
 * `agent.terminate` with the reason.
 */
export class Agent {
  /** The agent's name. */
  readonly name: string;
  /** The agent's id, if given. */
  readonly id: string | undefined;
  /** The model. */
  readonly model: Model;
  /** Most model calls per run. */
  readonly maxIterations: number;
  /** The system prompt, if any. */
  readonly instructions: string | undefined;
  readonly #tools: ReadonlyMap<string, Tool<any, unknown>>;
  readonly #specs: readonly ToolSpec[];

  /**
   * @throws {TypeError} naming the option, when `options` is not an object,
   *   `model` is not a Model with a string `name` and `provider`, `tools` is
   *   not an array of tools, or `name`, `id` or `instructions` is not a string.
   * @throws {RangeError} when `maxIterations` is not a positive integer.
   */
  constructor(options: AgentOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Agent: options must be an AgentOptions object ({ model, tools, ... }), got ${shownValue(options)}`);
    }
    const { model, tools = [], maxIterations = 10, name = 'agent', id, instructions } = options;
    if (typeof model?.generate !== 'function') throw new TypeError('Agent: model must be a Model (an object with generate())');
    // The model's name and provider go into every model event, where the catalogue wants strings.
    for (const field of ['name', 'provider'] as const) {
      const value: unknown = model[field];
      if (typeof value !== 'string') throw new TypeError(`Agent: model.${field} must be a string, got ${shownValue(value)}`);
    }
    if (!Number.isInteger(maxIterations) || maxIterations < 1) {
      const got = shownValue(maxIterations);
      throw new RangeError(`Agent: maxIterations must be a positive integer, got ${got}`);
    }
    if (typeof name !== 'string' || name.length === 0) throw new TypeError(`Agent: name must be a non-empty string, got ${shownValue(name)}`);
    // `agent.invocation.started` carries the id, and the catalogue wants a string there.
    if (id !== undefined && typeof id !== 'string') throw new TypeError(`Agent: id must be a string or undefined, got ${shownValue(id)}`);
    if (instructions !== undefined && typeof instructions !== 'string') {
      throw new TypeError(`Agent: instructions must be a string, got ${typeof instructions}`);
    }
    if (!Array.isArray(tools)) {
      throw new TypeError(`Agent: tools must be an array of tools (built with defineTool()) or undefined, got ${shownValue(tools)}`);
    }
    const byName = new Map<string, Tool<any, unknown>>();
    for (const [i, tool] of tools.entries()) {
      if (typeof tool?.execute !== 'function') throw new TypeError(`Agent: tools[${i}] is not a tool; build tools with defineTool()`);
      if (byName.has(tool.name)) throw new TypeError(`Agent: tools[${i}] repeats the tool name "${tool.name}"; names must be unique`);
      byName.set(tool.name, tool);
    }
    this.model = model;
    this.maxIterations = maxIterations;
    this.name = name;
    this.id = id;
    this.instructions = instructions;
    this.#tools = byName;
    this.#specs = tools.map((t) => ({ name: t.name, description: t.description, parameters: t.parameters }));
  }

  /**
   * Runs the agent on one prompt. Resolves when the model answers (reason
   * `completed`) or the iteration budget is spent (`max_iterations`).
   * Rejects with the model's error (after `agent.terminate` with reason
   * `error`), or with an `AbortError` when `signal` aborts (reason `aborted`).
   * A failing tool does not fail the run: the model sees the error.
   *
   * @throws {TypeError} (as a rejection, before any event) when `prompt` is
   *   not a string, `options` is not an object or `options.signal` not an
   *   `AbortSignal`.
   */
  async run(prompt: string, options: AgentRunOptions = {}): Promise<AgentResult> {
    if (typeof prompt !== 'string') throw new TypeError(`Agent.run: prompt must be a string, got ${typeof prompt}`);
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Agent.run: options must be an AgentRunOptions object ({ signal }) or undefined, got ${shownValue(options)}`);
    }
    const signal = signalOption('Agent.run', 'options.signal', options.signal);
    const state: RunState = {
      iterations: 0,
      output: '',
      toolCalls: [],
      usage: { inputTokens: 0, outputTokens: 0, totalTokens: 0, cacheReadInputTokens: 0, reasoningOutputTokens: 0 },
      messages: [],
    };
    if (this.instructions !== undefined) state.messages.push({ role: 'system', content: this.instructions });
    state.messages.push({ role: 'user', content: prompt });

    const step = startStep('agent.invocation.started', {
      agentName: this.name,
      agentId: this.id,
      model: this.model.name,
      provider: this.model.provider,
    });
    const terminate = (reason: TerminateReason, errorType?: string) =>
      step.end({
        reason,
        iterationsUsed: state.iterations,
        totalToolCalls: state.toolCalls.length,
        finalMessagePreview: preview(state.output),
        errorType,
      });
    let reason: 'completed' | 'max_iterations';
    try {
      reason = await step.run(() => this.#loop(state, signal));
    } catch (error) {
      // isAbortError, abortErrorFor and errorTypeOf never throw, whatever was thrown or given as the abort's
      // reason: the run always emits its terminate event before it rejects.
      const aborted = signal?.aborted === true || isAbortError(error);
      const thrown = aborted ? abortErrorFor(signal, error, this.name) : error;
      // The class of what the run rejects with: what ended the agent, for its span's error.type.
      terminate(aborted ? 'aborted' : 'error', errorTypeOf(thrown));
      throw thrown;
    }
    terminate(reason);
    return {
      output: state.output,
      reason,
      iterations: state.iterations,
      toolCalls: state.toolCalls,
      usage: state.usage,
      messages: state.messages,
    };
  }

  async #loop(state: RunState, signal: AbortSignal | undefined): Promise<'completed' | 'max_iterations'> {
    const info = {
      model: this.model.name,
      provider: this.model.provider,
      messageCount: 0,
      toolCount: this.#specs.length,
      ...requestFields(this.model),
    };
    for (let iteration = 1; iteration <= this.maxIterations; iteration++) {
      signal?.throwIfAborted();
      state.iterations = iteration;
      info.messageCount = state.messages.length;
      const messages = state.messages;
      const content = (b: ContentBuilder) => modelInputContent(b, this.instructions, messages, this.#specs);
      const { response } = await traceModel({ ...info, content }, async () => {
        const response = checkResponse(
          await this.model.generate({ messages: [...state.messages], tools: this.#specs, signal }),
          this.model,
        );
        return {
          response,
          content: response.content,
          stopReason: response.stopReason,
          toolCallCount: response.toolCalls.length,
          usage: response.usage,
          responseModel: response.responseModel,
          responseId: response.responseId,
          toolCalls: response.toolCalls,
          reasoning: response.reasoning,
        };
      });
      const calls = response.toolCalls;
      emit('agent.think', {
        iteration,
        reasoningPreview: preview(response.reasoning ?? response.content),
        hasToolCalls: calls.length > 0,
        toolCallCount: calls.length,
      });
      this.#addUsage(state.usage, response.usage);
      state.output = response.content;
      state.messages.push({ role: 'assistant', content: response.content, toolCalls: calls });
      if (calls.length === 0) return 'completed';

      signal?.throwIfAborted();
      // Parallel calls; each outcome settles (never rejects) so that every
      // tool step is closed before the agent decides to stop.
      const outcomes = await Promise.all(calls.map((call) => this.#callTool(call, signal)));
      let abort: { error: unknown } | undefined;
      for (const [i, outcome] of outcomes.entries()) {
        if (outcome.message === undefined) {
          abort ??= { error: outcome.abort };
          continue;
        }
        const call = calls[i] as ToolCall;
        state.messages.push(outcome.message);
        state.toolCalls.push({
          id: call.id,
          name: call.name,
          arguments: call.arguments,
          result: outcome.message.content,
          isError: outcome.message.isError,
        });
      }
      if (abort !== undefined) throw abort.error;
    }
    return 'max_iterations';
  }

  /** Runs one tool call. Failures become an error result for the model; aborts are handed back. */
  async #callTool(call: ToolCall, signal: AbortSignal | undefined): Promise<ToolOutcome> {
    try {
      const description = this.#tools.get(call.name)?.description;
      const output = await traceTool({ name: call.name, args: call.arguments, toolCallId: call.id, description }, () => this.#execute(call, signal));
      return { message: { role: 'tool', toolCallId: call.id, name: call.name, content: resultText(output), isError: false } };
    } catch (error) {
      if (signal?.aborted === true || isAbortError(error)) return { abort: error };
      return {
        message: { role: 'tool', toolCallId: call.id, name: call.name, content: `Error: ${thrownText(error)}`, isError: true },
      };
    }
  }

  async #execute(call: ToolCall, signal: AbortSignal | undefined): Promise<unknown> {
    const tool = this.#tools.get(call.name);
    if (tool === undefined) {
      const known = [...this.#tools.keys()];
      throw new Error(`unknown tool "${call.name}"; available tools: ${known.length > 0 ? known.join(', ') : '(none)'}`);
    }
    if (call.argumentsError !== undefined) throw new TypeError(`invalid arguments for tool "${call.name}": ${call.argumentsError}`);
    const args = await parseToolArguments(tool, call.arguments);
    signal?.throwIfAborted();
    return tool.execute(args, { signal: signal ?? NEVER_ABORTED });
  }

  #addUsage(total: AgentUsage, usage: TokenUsage | undefined): void {
    if (usage === undefined) return;
    total.inputTokens += usage.inputTokens;
    total.outputTokens += usage.outputTokens;
    total.totalTokens += usage.inputTokens + usage.outputTokens;
    total.cacheReadInputTokens += usage.cacheReadInputTokens ?? 0;
    total.reasoningOutputTokens += usage.reasoningOutputTokens ?? 0;
  }
}

/**
 * What one model call sends, in the GenAI conventions' shapes: the agent's
 * instructions as system instructions (the agent takes them apart from the
 * conversation, so its system message is not repeated among the input
 * messages), the conversation as input messages, the tools by name.
 */
function modelInputContent(b: ContentBuilder, instructions: string | undefined, messages: readonly Message[], specs: readonly ToolSpec[]): ModelInputContent {
  const inputMessages: ChatMessage[] = [];
  for (const message of messages) {
    if (b.full) break;
    switch (message.role) {
      case 'system':
        if (message.content !== instructions) inputMessages.push(textMessage(b, 'system', message.content));
        break;
      case 'user':
        inputMessages.push(textMessage(b, 'user', message.content));
        break;
      case 'assistant': {
        const turn = textMessage(b, 'assistant', message.content);
        for (const call of message.toolCalls) turn.parts.push(toolCallPart(b, call.id, call.name, call.arguments));
        inputMessages.push(turn);
        break;
      }
      case 'tool':
        inputMessages.push({ role: 'tool', parts: [toolResponsePart(b, message.toolCallId, message.content)] });
        break;
    }
  }
  return {
    systemInstructions: instructions === undefined ? undefined : textMessage(b, 'system', instructions).parts,
    inputMessages,
    toolDefinitions: specs.length === 0 ? undefined : toolDefinitions(b, specs.map((spec) => spec.name)),
  };
}
