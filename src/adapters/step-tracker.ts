/**
 * The steps a framework adapter keeps open between the framework's
 * callbacks: one core under the three adapters, as hono's runtime adapters
 * all reduce to `fetch`. An adapter only translates: a framework callback
 * becomes the fields of a step and one tracker call.
 *
 * Frameworks name their units (an AI SDK call, an OpenAI Agents span, a
 * LangChain run) by ids, not by async context, so the tracker keeps each
 * open step under the framework's id, knows which agent and which step a new
 * one goes under, counts each agent's model and tool calls, applies the run's
 * content policy, records token usage, and closes every step exactly once:
 * as the framework reports, or as failed when its agent or its framework run
 * ends first.
 */
import { als, isAbortError, isRecording, type RunScope } from '../context.js';
import { startStep } from '../emit.js';
import { runScopeOf, type Step, type StepStartType } from '../step.js';
import { modelEnd, modelInput, toolArgs, toolEnd, wantsContent, type InputMapping, type ModelInput } from '../step-content.js';
import type { ToolCallRequest } from '../content.js';
import { recordTokens, type TokenUsage } from '../trace.js';
import type { EventData } from '../events.js';
import { argKeys, errorText, errorTypeOf, preview } from '../payload-text.js';

/** Why an agent invocation ended (`agent.terminate`'s `reason`). */
export type TerminateReason = EventData<'agent.terminate'>['reason'];

/** What every tracked entry knows of its place. */
interface TrackedBase<D> {
  /** The framework's id, under which the tracker keeps it. */
  readonly id: string;
  /** The tracked entry it was opened under: closing an agent closes what is open below it. */
  readonly parent: Tracked<D> | undefined;
  /** The framework run (an OpenAI Agents trace) it belongs to, for {@link StepTracker.closeScope}. */
  readonly scope: string | undefined;
}

/** An open agent invocation, with its counters. `D` is what the adapter keeps per agent. */
export interface TrackedAgent<D> extends TrackedBase<D> {
  readonly kind: 'agent';
  readonly step: Step<'agent.invocation.started'>;
  readonly name: string;
  /** Model calls made so far (`iterationsUsed`). */
  iterations: number;
  /** Tool calls made so far (`totalToolCalls`). */
  toolCalls: number;
  /** The latest non-empty text a model answered this agent: its final message when the framework gives none. */
  lastText: string;
  readonly detail: D;
}

/** An open step an agent made (a model or tool call). */
interface TrackedCall<D, S extends StepStartType> extends TrackedBase<D> {
  readonly step: Step<S>;
  /** The agent it counts towards; undefined for a call made outside any agent. */
  readonly agent: TrackedAgent<D> | undefined;
}

/** An open model call. */
export interface TrackedModel<D> extends TrackedCall<D, 'agent.model.started'> {
  readonly kind: 'model';
  readonly model: string;
  readonly provider: string;
  /** What the call was sent, kept for the run's content hook; undefined when the run wants no content. */
  readonly input: ModelInput | undefined;
}

/** An open tool call. */
export interface TrackedTool<D> extends TrackedCall<D, 'agent.tool.started'> {
  readonly kind: 'tool';
  readonly name: string;
  readonly toolCallId: string;
  /** The arguments, kept for the run's content hook; undefined without one. */
  readonly args: unknown;
}

/** A framework unit that is not a step (an inner chain, a turn span): steps below it go where it would have. */
export interface TrackedPassThrough<D> extends TrackedBase<D> {
  readonly kind: 'pass';
  readonly under: Step | undefined;
  readonly agent: TrackedAgent<D> | undefined;
  /** The run it was met in. */
  readonly run: RunScope | undefined;
}

/** Anything the tracker keeps under a framework id. */
export type Tracked<D> = TrackedAgent<D> | TrackedModel<D> | TrackedTool<D> | TrackedPassThrough<D>;

/** Where a new step goes. */
export interface Placement<D> {
  /** The tracked entry it opens under; undefined at the top. */
  readonly parent: Tracked<D> | undefined;
  /** The step it opens under (its parent span); undefined: the innermost step of the caller's context. */
  readonly under: Step | undefined;
  /** The agent whose counters it adds to. */
  readonly agent: TrackedAgent<D> | undefined;
  /** The framework run it belongs to. */
  readonly scope: string | undefined;
}

/** What a model answered, as the adapter read it from the framework. */
export interface ModelAnswer {
  /** Default: `error` for a failed answer, else `tool_calls` or `stop`. */
  readonly stopReason?: string | undefined;
  readonly toolCallCount: number;
  /** The answer's text: its preview, and the agent's latest text when not empty. */
  readonly text: string;
  /** This call's own usage (never a run's totals). */
  readonly usage?: TokenUsage | undefined;
  /** The model that answered, when the answer names it. Default: the one asked. */
  readonly model?: string | undefined;
  /**
   * The model the provider's response names as the one that answered
   * (`gen_ai.response.model`): only from the response itself, never the
   * model asked for, which `model` may fall back to.
   */
  readonly responseModel?: string | undefined;
  /** The provider's id of the response (`gen_ai.response.id`). */
  readonly responseId?: string | undefined;
  /** A failure the answer reports without throwing (a value, an error, a text); undefined for a success. */
  readonly error?: unknown;
  /** The tool calls it asked for: `tool_call` parts of its output message, with content capture. */
  readonly toolCalls?: readonly ToolCallRequest[] | undefined;
  /** Its reasoning text: a `reasoning` part of its output message, with content capture. */
  readonly reasoning?: string | undefined;
}

const TOP: Placement<never> = Object.freeze({ parent: undefined, under: undefined, agent: undefined, scope: undefined });

/** Entries a tracker keeps before it first looks for ones of ended runs (see `StepTracker.#sweep`). */
const SWEEP_FLOOR = 256;

/** The error of steps an agent leaves open when it ends without saying why. */
const AGENT_ENDED = 'the agent ended before this step closed';

/**
 * The `errorType` of a step closed as aborted when what aborted it has no
 * class of its own (a framework's reason text): the name of the error an
 * abort raises, so that every span an abort ends says the same.
 */
const ABORT_ERROR_TYPE = 'AbortError';

/**
 * The tracker. One per adapter instance; `D` is the adapter's own state per
 * agent (`undefined` when it keeps none). Nothing is allocated for callbacks
 * made outside a run: {@link place} says so first.
 */
export class StepTracker<D = undefined> {
  readonly #entries = new Map<string, Tracked<D>>();
  // Entries kept when the next sweep runs (see #sweep).
  #sweepAt = SWEEP_FLOOR;

  /** Entries kept (steps open, and units looked through). */
  get size(): number {
    return this.#entries.size;
  }

  /** Agent invocations open. */
  get openAgents(): number {
    let count = 0;
    for (const entry of this.#entries.values()) if (entry.kind === 'agent') count++;
    return count;
  }

  /** The entry kept under a framework id. */
  get(id: string): Tracked<D> | undefined {
    return this.#entries.get(id);
  }

  /** True while `entry` is kept: not closed (by its framework, or with the agent it was under) nor replaced under its id. */
  isOpen(entry: Tracked<D>): boolean {
    return this.#entries.get(entry.id) === entry;
  }

  /**
   * Where a unit whose parent has the framework id `parentId` goes: under
   * that parent's step when it is tracked, else at the top of the caller's
   * run. Undefined when it is not ours to record: no tracked parent and no
   * run open here.
   */
  place(parentId: string | undefined, scope?: string): Placement<D> | undefined {
    const parent = parentId === undefined ? undefined : this.#entries.get(parentId);
    if (parent !== undefined) return this.within(parent, scope);
    if (!isRecording()) return undefined;
    return scope === undefined ? TOP : { ...TOP, scope };
  }

  /** Where a unit opened under a known entry goes. */
  within(parent: Tracked<D>, scope: string | undefined = parent.scope): Placement<D> {
    if (parent.kind === 'pass') return { parent, under: parent.under, agent: parent.agent, scope };
    return { parent, under: parent.step, agent: parent.kind === 'agent' ? parent : parent.agent, scope };
  }

  /** Opens an agent invocation; undefined when not recording. */
  openAgent(
    id: string,
    at: Placement<D>,
    data: EventData<'agent.invocation.started'>,
    ...[detail]: undefined extends D ? [detail?: D] : [detail: D]
  ): TrackedAgent<D> | undefined {
    const step = open(at, 'agent.invocation.started', data);
    if (!step.recording) return undefined;
    return this.#keep({
      kind: 'agent', id, parent: at.parent, scope: at.scope, step, name: data.agentName,
      iterations: 0, toolCalls: 0, lastText: '', detail: detail as D,
    });
  }

  /**
   * Opens a model call, one more iteration of its agent; undefined when not
   * recording. `id` defaults to the step's span id, for a call the framework
   * does not name.
   */
  openModel(
    id: string | undefined,
    at: Placement<D>,
    data: EventData<'agent.model.started'>,
    content?: InputMapping,
  ): TrackedModel<D> | undefined {
    // `content` maps the request into the conventions' shapes; called only when the run wants content.
    const run = runOf(at);
    const input = wantsContent(run) ? modelInput(run, content) : undefined;
    const step = open(at, 'agent.model.started', input?.event === undefined ? data : { ...data, ...input.event });
    if (!step.recording) return undefined;
    if (at.agent !== undefined) at.agent.iterations++;
    return this.#keep({
      kind: 'model', id: id ?? (step.spanId as string), parent: at.parent, scope: at.scope, step,
      agent: at.agent, model: data.model, provider: data.provider, input,
    });
  }

  /**
   * Opens a tool call, one more of its agent's; its arguments go into the
   * event only when the run captures content. `id` defaults to the step's
   * span id, for an adapter that finds its tools by other means.
   */
  openTool(id: string | undefined, at: Placement<D>, toolName: string, toolCallId: string, args: unknown): TrackedTool<D> | undefined {
    // The run's policy, as the core's traceTool applies it: the run of the step it opens under, else the caller's.
    const run = runOf(at);
    const captured = run?.captureContent === true ? toolArgs(run, args) : undefined;
    const step = open(at, 'agent.tool.started', { toolName, toolCallId, argKeys: argKeys(args), args: captured });
    if (!step.recording) return undefined;
    if (at.agent !== undefined) at.agent.toolCalls++;
    const kept = run?.contentHook !== undefined ? args : undefined;
    return this.#keep({ kind: 'tool', id: id ?? (step.spanId as string), parent: at.parent, scope: at.scope, step, agent: at.agent, name: toolName, toolCallId, args: kept });
  }

  /** Keeps a unit that is not a step, so that what opens under it finds its place. */
  passThrough(id: string, at: Placement<D>): void {
    this.#keep({ kind: 'pass', id, parent: at.parent, scope: at.scope, under: at.under, agent: at.agent, run: runOf(at) });
  }

  /** Forgets a unit looked through, once the framework ended it. */
  forget(entry: TrackedPassThrough<D>): void {
    this.#release(entry);
  }

  /** Closes a model call with what it answered: its usage first, then the closing event. */
  endModel(model: TrackedModel<D>, answer: ModelAnswer): void {
    this.#release(model);
    if (answer.usage !== undefined) {
      recordTokens(model.step, { model: answer.model ?? model.model, provider: model.provider }, answer.usage);
    }
    if (model.agent !== undefined && answer.text !== '') model.agent.lastText = answer.text;
    const error = answer.error;
    const stopReason = answer.stopReason ?? (error !== undefined ? 'error' : answer.toolCallCount > 0 ? 'tool_calls' : 'stop');
    const content = contentOfModel(model, error === undefined ? { text: answer.text, stopReason, toolCalls: answer.toolCalls, reasoning: answer.reasoning } : undefined);
    model.step.end({
      stopReason,
      toolCallCount: answer.toolCallCount,
      contentPreview: preview(answer.text),
      error: error === undefined ? undefined : errorText(error),
      errorType: error === undefined ? undefined : errorTypeOf(error),
      responseModel: answer.responseModel,
      responseId: answer.responseId,
      outputMessages: content?.outputMessages,
      contentRef: content?.contentRef,
    });
  }

  /**
   * Closes a model call that gave no answer. `stopReason` defaults to
   * `aborted` for an abort, else `error`; an `aborted` one whose error has
   * no class of its own is an `AbortError`.
   */
  failModel(model: TrackedModel<D>, error: unknown, stopReason: string = failureOf(error)): void {
    this.#release(model);
    model.step.end({
      stopReason, toolCallCount: 0, contentPreview: '', error: errorText(error), errorType: typeOfFailure(error, stopReason === 'aborted'),
      contentRef: contentOfModel(model, undefined)?.contentRef,
    });
  }

  /**
   * Closes a tool call with its output. The duration is the core step's
   * (its start event to now, on the event clock) unless the framework
   * measured the tool's own execution (`durationMs`).
   */
  endTool(tool: TrackedTool<D>, output: unknown, durationMs?: number): void {
    this.#release(tool);
    const content = contentOfTool(tool, true, output);
    tool.step.end({
      toolName: tool.name, toolCallId: tool.toolCallId, success: true, durationMs: ownDuration(durationMs), outputPreview: preview(output),
      result: content?.result, contentRef: content?.contentRef,
    });
  }

  /**
   * Closes a tool call with its error (a thrown value, a framework's error, a
   * text). Duration as {@link endTool}. `aborted`: the tool was cut short by
   * an abort (an `AbortError` when the error has no class of its own).
   */
  failTool(tool: TrackedTool<D>, error: unknown, durationMs?: number, aborted = false): void {
    this.#release(tool);
    tool.step.end({
      toolName: tool.name, toolCallId: tool.toolCallId, success: false, durationMs: ownDuration(durationMs),
      error: errorText(error), errorType: typeOfFailure(error, aborted), contentRef: contentOfTool(tool, false, undefined)?.contentRef,
    });
  }

  /**
   * Closes an agent invocation. Steps still open below it close first, as
   * failed (`aborted` when the agent was) with `cause` as their error. The
   * final message is `finalText`, else the last text a model answered it.
   * An agent that ended in `error` or `aborted` carries the class of `cause`
   * (`errorType`; `AbortError` for an abort that has none).
   */
  endAgent(agent: TrackedAgent<D>, reason: TerminateReason, finalText = '', cause: unknown = AGENT_ENDED): void {
    this.#release(agent);
    const aborted = reason === 'aborted';
    this.#closeAll(this.#openBelow(agent), aborted ? 'aborted' : 'error', cause);
    agent.step.end({
      reason,
      iterationsUsed: agent.iterations,
      totalToolCalls: agent.toolCalls,
      finalMessagePreview: preview(finalText !== '' ? finalText : agent.lastText),
      errorType: aborted || reason === 'error' ? typeOfFailure(cause, aborted) : undefined,
    });
  }

  /** Closes an agent invocation that failed with `error` (`aborted` for an abort), and what it left open. */
  failAgent(agent: TrackedAgent<D>, error: unknown): void {
    this.endAgent(agent, failureOf(error), '', error);
  }

  /** True when steps are still open below `agent`. */
  hasOpenSteps(agent: TrackedAgent<D>): boolean {
    return this.#openBelow(agent).length > 0;
  }

  /** Closes, as failed with `cause`, everything still open of a framework run that ended. */
  closeScope(scope: string, cause: unknown): void {
    const open: Tracked<D>[] = [];
    for (const entry of this.#entries.values()) if (entry.scope === scope) open.push(entry);
    this.#closeAll(open, 'error', cause);
  }

  /** The steps open below `agent`, in the order they opened. Units looked through stay: their end may still say something. */
  #openBelow(agent: TrackedAgent<D>): Tracked<D>[] {
    const below: Tracked<D>[] = [];
    for (const entry of this.#entries.values()) {
      if (entry.kind === 'pass') continue;
      for (let up = entry.parent; up !== undefined; up = up.parent) {
        if (up === agent) {
          below.push(entry);
          break;
        }
      }
    }
    return below;
  }

  /** Closes entries latest first, so that a step closes before the one it opened under. */
  #closeAll(entries: readonly Tracked<D>[], reason: 'error' | 'aborted', cause: unknown): void {
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = entries[i] as Tracked<D>;
      if (!this.isOpen(entry)) continue; // closed meanwhile, with an agent it was under
      switch (entry.kind) {
        case 'agent':
          this.endAgent(entry, reason, '', cause);
          break;
        case 'model':
          this.failModel(entry, cause, reason);
          break;
        case 'tool':
          this.failTool(entry, cause, undefined, reason === 'aborted');
          break;
        case 'pass':
          this.#release(entry);
      }
    }
  }

  #keep<E extends Tracked<D>>(entry: E): E {
    if (this.#entries.size >= this.#sweepAt) this.#sweep();
    this.#entries.set(entry.id, entry);
    return entry;
  }

  /**
   * Forgets, without a word, what runs that have ended left open: a
   * framework may never report the end of a unit its caller abandoned (a
   * LangChain stream its consumer stopped reading), and a handler lives as
   * long as the process. Nothing can be recorded in such a run any more;
   * the bridge ends its open spans as unfinished when the run ends. Runs
   * when the entries have doubled since the last sweep: amortized O(1).
   */
  #sweep(): void {
    for (const entry of [...this.#entries.values()]) {
      const run = entry.kind === 'pass' ? entry.run : runScopeOf(entry.step);
      if (run?.ended === true) this.#release(entry);
    }
    this.#sweepAt = Math.max(SWEEP_FLOOR, 2 * this.#entries.size);
  }

  /** Forgets an entry, unless its id was taken by a newer one meanwhile. */
  #release(entry: Tracked<D>): void {
    if (this.isOpen(entry)) this.#entries.delete(entry.id);
  }
}

/**
 * Opens a step under its placement. Inside the step it opens under, not
 * from the callback's own context: frameworks call back from their own code,
 * and the parent's run is the one the step belongs to.
 */
function open<S extends StepStartType>(at: Placement<unknown>, eventType: S, data: EventData<S>): Step<S> {
  const under = at.under;
  return under === undefined ? startStep(eventType, data) : under.run(() => startStep(eventType, data));
}

/** The run a step placed at `at` belongs to: that of the step it opens under, else the caller's. */
function runOf(at: Placement<unknown>): RunScope | undefined {
  return at.under !== undefined ? runScopeOf(at.under) : als.getStore()?.run;
}

/** The content fields of a model call's end, when its run wants content; `output` undefined: it failed. */
function contentOfModel(model: TrackedModel<unknown>, output: Parameters<typeof modelEnd>[3]) {
  const run = runScopeOf(model.step);
  if (model.input === undefined || !wantsContent(run)) return undefined;
  return modelEnd(run, model.step.spanId as string, model.input, output);
}

/** The content fields of a tool call's end, when its run wants content. */
function contentOfTool(tool: TrackedTool<unknown>, success: boolean, output: unknown) {
  const run = runScopeOf(tool.step);
  if (!wantsContent(run)) return undefined;
  return toolEnd(run, tool.step.spanId as string, tool.name, tool.toolCallId, tool.args, success, output);
}

/** A framework's own timing of the work, when it has one; else the step measures from its start event. */
function ownDuration(measured: number | undefined): number | undefined {
  return measured === undefined ? undefined : Math.max(0, measured);
}

/** The `errorType` of a failure: the class of `error`, else `AbortError` for an abort, else none (`_OTHER` on its span). */
function typeOfFailure(error: unknown, aborted: boolean): string | undefined {
  return errorTypeOf(error) ?? (aborted ? ABORT_ERROR_TYPE : undefined);
}

/** `aborted` for an abort (also one the framework wrapped as the `cause` of its own error), else `error`. Never throws. */
function failureOf(error: unknown): 'aborted' | 'error' {
  try {
    return isAbortError(error) || isAbortError((error as { cause?: unknown } | null)?.cause) ? 'aborted' : 'error';
  } catch {
    return 'error';
  }
}
