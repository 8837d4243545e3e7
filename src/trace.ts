/**
 * Trace helpers: run a unit of work as a step and close it, whatever the
 * work returns or throws.
 *
 * All three share one signature, `(info, work)`, as OpenTelemetry's
 * `startActiveSpan(name, fn)` does: `info` describes the step before it
 * starts, and the work gets the open step (to emit into it, read its span
 * id, or link it to another service). Telemetry never changes what the work
 * returns or throws.
 */
import { now } from './clock.js';
import { als, type Frame } from './context.js';
import type { EventData } from './events.js';
import { argKeys, errorText, errorTypeOf, preview } from './payload-text.js';
import { newSpanId } from './ids.js';
import { gate } from './gate.js';
import { NOOP_STEP, RecordingStep, startStepInRun, type Step } from './step.js';
import { costIn } from './prices.js';
import { refuse } from './refusal.js';
import { readUsage, type UsageReading } from './token-usage.js';
import { warnOnce } from './warnings.js';
import { modelEnd, modelInput, toolArgs, toolEnd, wantsContent, type InputMapping, type ModelInput } from './step-content.js';
import type { ToolCallRequest } from './content.js';
import { isThenable } from './thenable.js';

/** What {@link traceTool} needs to know about a tool call before it starts. */
export interface ToolCallInfo {
  /** The tool's name (`gen_ai.tool.name`). */
  name: string;
  /**
   * The arguments: their keys always go into the event; their values, as
   * bounded plain data, only when the run captures content (and in full to
   * the run's content hook).
   */
  args?: unknown;
  /** The model's id for this call; a fresh id when omitted. */
  toolCallId?: string;
  /** What the tool does, as the model is told (`gen_ai.tool.description`). */
  description?: string | undefined;
}

/** @internal `traceTool` past the idle gate. */
export function traceToolInRun<R>(info: ToolCallInfo, fn: (step: Step<'agent.tool.started'>) => R): R {
  const frame = als.getStore();
  if (frame === undefined) return fn(NOOP_STEP);
  let name: string;
  let args: unknown;
  let toolCallId: string;
  let description: unknown;
  try {
    name = String(info.name);
    args = info.args;
    toolCallId = info.toolCallId ?? newSpanId();
    description = info.description;
  } catch {
    // An info object that cannot be read is the caller's bug, not a reason to skip the tool.
    return fn(NOOP_STEP);
  }
  const run = frame.run;
  const step = new RecordingStep(frame, 'agent.tool.started', {
    toolName: name,
    toolCallId,
    argKeys: argKeys(args),
    args: run.captureContent ? toolArgs(run, args) : undefined,
    description: typeof description === 'string' ? description : undefined,
  }, newSpanId(), frame.spanId);
  let result: R;
  try {
    result = step.run(() => fn(step));
  } catch (error) {
    finishTool(step, name, toolCallId, false, error, args);
    throw error;
  }
  if (!isThenable(result)) {
    finishTool(step, name, toolCallId, true, result, args);
    return result;
  }
  return Promise.resolve(result).then(
    (value) => {
      finishTool(step, name, toolCallId, true, value, args);
      return value;
    },
    (error: unknown) => {
      finishTool(step, name, toolCallId, false, error, args);
      throw error;
    },
  ) as R;
}

/**
 * Closes a tool step with its outcome, unless the work closed it already.
 * A function of its own, not a closure: a synchronous tool call then
 * allocates nothing for it.
 */
function finishTool(step: RecordingStep<'agent.tool.started'>, name: string, toolCallId: string, success: boolean, outcome: unknown, args: unknown): void {
  if (step.ended) return;
  // Nothing here may throw: preview, errorText and publish never do; the catch guards the guarantee itself.
  try {
    const run = step.runScope;
    const content = wantsContent(run) ? toolEnd(run, step.spanId, name, toolCallId, args, success, outcome) : undefined;
    // The duration from the events' own timestamps, with one clock read, and no copy of the payload.
    const at = now();
    step.endAt(at, {
      toolName: name,
      toolCallId,
      success,
      durationMs: at - step.startTime,
      outputPreview: success ? preview(outcome) : undefined,
      result: content?.result,
      contentRef: content?.contentRef,
      error: success ? undefined : errorText(outcome),
      errorType: success ? undefined : errorTypeOf(outcome),
    });
  } catch {
    // See above.
  }
}

/** Token counts of one model call. */
export interface TokenUsage {
  /** Tokens sent to the model, cached ones included. */
  inputTokens: number;
  /** Tokens the model generated, reasoning ones included. */
  outputTokens: number;
  /** Input tokens served from a provider cache (part of `inputTokens`). */
  cacheReadInputTokens?: number;
  /** Input tokens written to a provider cache by this call (part of `inputTokens`). */
  cacheCreationInputTokens?: number;
  /** Output tokens spent on reasoning (part of `outputTokens`). */
  reasoningOutputTokens?: number;
}

/** What {@link traceModel} needs to know about a model call before it starts. */
export interface ModelCallInfo {
  /** The model asked (`gen_ai.request.model`). */
  model: string;
  /** Who serves it (`openai`, `anthropic`, ...; `gen_ai.provider.name`). */
  provider: string;
  /** Messages sent in this call. */
  messageCount: number;
  /** Tools offered to the model in this call. */
  toolCount: number;
  /** Host of the server the request goes to (`server.address`): the host of the URL, without the port. */
  serverAddress?: string | undefined;
  /** Port of that server (`server.port`): the URL's, or its scheme's default. */
  serverPort?: number | undefined;
  /** Sampling temperature, when the request sets one (`gen_ai.request.temperature`). */
  temperature?: number | undefined;
  /** Most tokens the model may generate, when the request sets it (`gen_ai.request.max_tokens`). */
  maxTokens?: number | undefined;
  /** Nucleus sampling, when the request sets it (`gen_ai.request.top_p`). */
  topP?: number | undefined;
  /** True for a streaming request (`gen_ai.request.stream`). */
  stream?: boolean | undefined;
  /**
   * Maps what the call sends (messages, system instructions, tool
   * definitions) into the conventions' shapes with the builder it is given
   * (see agentbus's `content` helpers). Called only when the run captures
   * content (with a bounded builder) or has a content hook (with the full
   * one): a run with neither never calls it.
   */
  content?: InputMapping | undefined;
}

/** What {@link traceModel} reads from a model call's result. */
export interface ModelCallOutcome {
  /** Why the model stopped (`stop`, `tool_calls`, `length`, ...), as the provider says it. */
  stopReason: string;
  /** Tool calls the model asked for. */
  toolCallCount: number;
  /** The reply's text; only a preview of it goes into the event. */
  content: string;
  /** Token counts; when present, `agent.tokens.used` is emitted before the step closes. */
  usage?: TokenUsage | undefined;
  /** The model that answered, as the response names it (`gen_ai.response.model`). */
  responseModel?: string | undefined;
  /** The response's id (`gen_ai.response.id`). */
  responseId?: string | undefined;
  /** The tool calls asked for: with content capture, `tool_call` parts of the output message. */
  toolCalls?: readonly ToolCallRequest[] | undefined;
  /** The model's reasoning text: with content capture, a `reasoning` part of the output message. */
  reasoning?: string | undefined;
}

/**
 * Runs one model call as a step: emits `agent.model.started`, then (if the
 * result has usage) `agent.tokens.used` (refused, not published, when a count
 * is not a non-negative safe integer: see {@link recordTokens}), then
 * `agent.model.completed`. On
 * failure the completed event carries the error, which is rethrown. `fn`
 * gets the open step (the no-op step outside a run).
 */
export async function traceModel<R extends ModelCallOutcome>(
  info: ModelCallInfo,
  fn: (step: Step<'agent.model.started'>) => Promise<R>,
): Promise<R> {
  // Not a per-emission hot path: the gate is read here, not folded into a front door.
  if (!gate.open) return fn(NOOP_STEP);
  const frame = als.getStore();
  if (frame === undefined) return fn(NOOP_STEP);
  const run = frame.run;
  let input: ModelInput | undefined;
  let data: ModelCallInfo = info;
  try {
    if (info.content !== undefined || wantsContent(run)) {
      // The mapping is no payload field; the content it makes is, when the run wants it.
      const { content, ...rest } = info;
      input = wantsContent(run) ? modelInput(run, content) : undefined;
      data = input?.event === undefined ? rest : { ...rest, ...input.event };
    }
  } catch {
    // An info object that cannot be read is the bus's to describe, as before; its content is left out.
    input = undefined;
  }
  const step = new RecordingStep(frame, 'agent.model.started', data as EventData<'agent.model.started'>, newSpanId(), frame.spanId);
  let result: R;
  try {
    result = await step.run(() => fn(step));
  } catch (error) {
    const content = input !== undefined ? modelEnd(run, step.spanId, input, undefined) : undefined;
    step.end({ stopReason: 'error', toolCallCount: 0, contentPreview: '', error: errorText(error), errorType: errorTypeOf(error), contentRef: content?.contentRef });
    throw error;
  }
  // Reading the result is telemetry's business: a hostile result is still returned as is.
  let closing;
  try {
    if (result.usage !== undefined) recordTokensFor('traceModel', step, info, result.usage);
    const stopReason = String(result.stopReason);
    const content = input !== undefined
      ? modelEnd(run, step.spanId, input, { text: result.content, stopReason, toolCalls: result.toolCalls, reasoning: result.reasoning })
      : undefined;
    closing = {
      stopReason,
      toolCallCount: result.toolCallCount,
      contentPreview: preview(result.content),
      responseModel: stringOrUndefined(result.responseModel),
      responseId: stringOrUndefined(result.responseId),
      outputMessages: content?.outputMessages,
      contentRef: content?.contentRef,
    };
  } catch (error) {
    closing = { stopReason: 'unknown', toolCallCount: 0, contentPreview: '', error: `unreadable model result: ${errorText(error)}`, errorType: errorTypeOf(error) };
  }
  step.end(closing);
  return result;
}

/**
 * Emits `agent.tokens.used` on a model-call step (so it carries that call's
 * span id). When the run has a price table (`RunOptions.prices`) that prices
 * `info.model`, the event carries the call's `cost`; otherwise none.
 *
 * Each count must be a non-negative safe integer, and so must the sum of
 * `inputTokens` and `outputTokens` (the event's `totalTokens`). A usage that
 * breaks this is refused as a malformed emission is: nothing is published
 * (a count of `"12"` or 1e308 would otherwise end up in every span and
 * metric downstream), the refusal is counted in the bus's `stats().rejected`
 * and told to its `onError`, or warned about once, naming the field and what
 * it was. Never throws: usage that cannot be read is the caller's bug, not
 * the agent's failure.
 */
export function recordTokens(step: Step, info: { model: string; provider: string }, usage: TokenUsage): void {
  recordTokensFor('recordTokens', step, info, usage);
}

/** {@link recordTokens}, refusing in the name of `caller` (`traceModel` reads its result's usage). */
function recordTokensFor(caller: string, step: Step, info: { model: string; provider: string }, usage: unknown): void {
  if (!step.recording) return;
  let reading: UsageReading;
  try {
    reading = readUsage(usage);
  } catch (error) {
    // A getter that throws: the caller's bug, said as any other bad usage is.
    refuseTokens(step, usage, `${caller}: ${caller === 'traceModel' ? 'result.usage' : 'usage'} could not be read (${errorText(error)}); the agent.tokens.used event of this model call is not published`);
    return;
  }
  try {
    if (reading.problem !== undefined) {
      const { field, rule, got } = reading.problem;
      const where = caller === 'traceModel' ? `result.${field}` : field;
      refuseTokens(step, usage, `${caller}: ${where} must be ${rule}, got ${got}; the agent.tokens.used event of this model call is not published`);
      return;
    }
    const counts = reading.usage;
    // A run without prices pays this one check and allocates nothing for cost.
    const prices = step instanceof RecordingStep ? step.prices : undefined;
    step.emit('agent.tokens.used', {
      model: info.model,
      provider: info.provider,
      inputTokens: counts.inputTokens,
      outputTokens: counts.outputTokens,
      totalTokens: counts.inputTokens + counts.outputTokens,
      cacheReadInputTokens: counts.cacheReadInputTokens,
      cacheCreationInputTokens: counts.cacheCreationInputTokens,
      reasoningOutputTokens: counts.reasoningOutputTokens,
      cost: prices === undefined ? undefined : costIn(prices, info.model, counts),
    });
  } catch {
    // See above: telemetry never fails the call it observes.
  }
}

/**
 * Refuses a tokens event of `step`'s model call. The refusal belongs to the
 * step's run and bus, which a step does not expose: its own `run` enters its
 * frame (a model step's frame is not the caller's once the step's body has
 * returned). A step with no frame to find (one made outside agentbus) gets
 * the caller's run, else a warning: the usage is never published silently
 * changed, nor dropped unsaid.
 */
function refuseTokens(step: Step, usage: unknown, message: string): void {
  let frame: Frame | undefined;
  try {
    frame = step instanceof RecordingStep ? step.run(() => als.getStore()) : undefined;
  } catch {
    // A step wrapper that failed is the bus's to report; fall back to the caller's run.
  }
  frame ??= als.getStore();
  if (frame === undefined) warnOnce(message, message);
  else refuse(frame, 'agent.tokens.used', usage, message);
}

// A model's result is user code's: a field of the wrong type is dropped, not published.
function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** What {@link traceFanout} needs to know about a fan-out before it starts. */
export interface FanoutInfo {
  /** How the results are combined (`all`, `first`, `vote`, ...): free text, for the reader. */
  mergeStrategy: string;
  /** The workflow the fan-out runs: a low-cardinality name, as `gen_ai.workflow.name` must be. */
  name?: string | undefined;
}

/**
 * Runs `tasks` (typically child agents) concurrently as one fan-out step:
 * each task's events get the fan-out as their parent. Resolves with every
 * task's settled result; never rejects because a task failed.
 */
export async function traceFanout<T>(
  info: FanoutInfo,
  tasks: ReadonlyArray<(step: Step<'multiagent.fanout.started'>) => Promise<T>>,
): Promise<PromiseSettledResult<T>[]> {
  let data;
  try {
    data = { agentCount: tasks.length, mergeStrategy: String(info.mergeStrategy), name: stringOrUndefined(info.name) };
  } catch {
    // An info object that cannot be read is the caller's bug, not a reason to skip the tasks.
    data = { agentCount: 0, mergeStrategy: '(unreadable)', name: undefined };
  }
  const step: Step<'multiagent.fanout.started'> = gate.open ? startStepInRun('multiagent.fanout.started', data, undefined) : NOOP_STEP;
  // A task that throws before returning its promise is a failed task, as a rejected one is.
  const settle = (task: (step: Step<'multiagent.fanout.started'>) => Promise<T>): Promise<T> => {
    try {
      return Promise.resolve(task(step));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  const results = await step.run(() => Promise.allSettled(Array.from(tasks, settle)));
  const failed = results.filter((r) => r.status === 'rejected').length;
  step.end({ succeeded: results.length - failed, failed });
  return results;
}
