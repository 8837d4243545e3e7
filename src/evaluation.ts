/**
 * Evaluations: a judge's verdict (a rule, a model, a person) on a step of the
 * run, recorded as `agent.evaluation.result` beside the step it judges.
 *
 * The verdict usually comes after the step: a tool's output is judged once
 * the tool returned. So the step is named by its span id, which the caller
 * holds in whatever it kept of the step: the `Step` a trace helper handed its
 * work, or any event of the step. Without one, the verdict is on the step
 * open where it is recorded. The event's `parentSpanId` is the step judged,
 * so every reader (the bridge, `agentbus tail`) attaches it there.
 *
 * Like every emission site, `recordEvaluation` starts with the idle gate
 * (`gate.ts`): outside a run it returns before touching anything. A
 * malformed verdict is refused as a malformed `emit` is (counted, reported,
 * never thrown into the agent).
 */
import { als, record, type Frame } from './context.js';
import { EVALUATION_NAME_MAX, ERROR_TYPE_MAX, PREVIEW_MAX, RESPONSE_ID_MAX, SPAN_ID_RULE, isSpanId, type EventData } from './events.js';
import { errorText, preview } from './payload-text.js';
import { refuse } from './refusal.js';
import { gate as processGate, type Gate } from './gate.js';
import { shownValue } from './options.js';

/** A judge's verdict on a step, for {@link recordEvaluation}. Give a `score`, a `label`, or both. */
export interface Evaluation {
  /** What was judged (`gen_ai.evaluation.name`): `relevance`, `faithfulness`, `tool_choice`. Required, 1-128 characters. */
  name: string;
  /** The evaluator's score, on its own scale (`gen_ai.evaluation.score.value`): a finite number. */
  score?: number | undefined;
  /** The score in a word, from a small fixed set (`gen_ai.evaluation.score.label`): `pass`, `fail`, `relevant`. At most 128 characters. */
  label?: string | undefined;
  /** Why the evaluator decided so (`gen_ai.evaluation.explanation`); kept as a preview, cut to 240 characters. */
  explanation?: string | undefined;
  /** The id of the model response judged (`gen_ai.response.id`), for backends that match evaluations by it. */
  responseId?: string | undefined;
  /** The class of error when the evaluation itself failed (`error.type`): `timeout`, `RateLimitError`. At most 128 characters. */
  errorType?: string | undefined;
}

/**
 * The step an evaluation judges: anything that carries the step's `spanId`.
 * The `Step` a trace helper handed its work (`traceTool(info, (step) => ...)`),
 * one of the step's events (`agent.tool.completed` from the bus's history),
 * or `{ spanId }`. A target whose `spanId` is undefined (the no-op step)
 * means the step open where the evaluation is recorded.
 */
export interface EvaluationTarget {
  /** The judged step's span id. */
  readonly spanId?: string | undefined;
}

const EVENT_TYPE = 'agent.evaluation.result';

/** What is wrong with a verdict or its target, for the refusal's message. */
class Problem {
  readonly message: string;
  constructor(message: string) {
    this.message = `recordEvaluation: ${message}`;
  }
}

/** True for `undefined`, or a string of `min` to `max` characters. */
function optionalText(value: unknown, min: number, max: number): value is string | undefined {
  return value === undefined || (typeof value === 'string' && value.length >= min && value.length <= max);
}

/** The event's payload, read once from what the caller passed (getters are asked once), or what is wrong with it. May throw (a hostile object): the caller catches. */
function payloadOf(evaluation: unknown): EventData<typeof EVENT_TYPE> | Problem {
  if (typeof evaluation !== 'object' || evaluation === null || Array.isArray(evaluation)) {
    return new Problem(`the evaluation must be an object like { name: 'relevance', score: 0.9 }, got ${shownValue(evaluation)}`);
  }
  const { name, score, label, explanation, responseId, errorType } = evaluation as Record<string, unknown>;
  if (typeof name !== 'string' || name.length === 0 || name.length > EVALUATION_NAME_MAX) {
    return new Problem(`evaluation.name must be a string of 1-${EVALUATION_NAME_MAX} characters naming what was judged ("relevance"), got ${shownValue(name)}`);
  }
  if (score !== undefined && (typeof score !== 'number' || !Number.isFinite(score))) {
    return new Problem(`evaluation.score of "${name}" must be a finite number or undefined, got ${shownValue(score)}`);
  }
  if (!optionalText(label, 0, EVALUATION_NAME_MAX)) {
    return new Problem(`evaluation.label of "${name}" must be a string of at most ${EVALUATION_NAME_MAX} characters ("pass", "relevant") or undefined, got ${shownValue(label)}`);
  }
  if (explanation !== undefined && typeof explanation !== 'string') {
    return new Problem(`evaluation.explanation of "${name}" must be a string or undefined, got ${shownValue(explanation)}`);
  }
  if (!optionalText(responseId, 1, RESPONSE_ID_MAX)) {
    return new Problem(`evaluation.responseId of "${name}" must be a string of 1-${RESPONSE_ID_MAX} characters or undefined, got ${shownValue(responseId)}`);
  }
  if (!optionalText(errorType, 1, ERROR_TYPE_MAX)) {
    return new Problem(`evaluation.errorType of "${name}" must be a string of 1-${ERROR_TYPE_MAX} characters ("timeout") or undefined, got ${shownValue(errorType)}`);
  }
  // One shape for every evaluation event, absent fields included.
  return {
    name,
    score,
    label,
    explanation: explanation === undefined || explanation.length <= PREVIEW_MAX ? explanation : preview(explanation),
    responseId,
    errorType,
  };
}

/** The span id of the step judged: the target's, else the step open in `frame`; or what is wrong with the target. May throw (a hostile object). */
function judgedStepOf(target: unknown, frame: Frame): string | undefined | Problem {
  if (target === undefined) return frame.spanId;
  if ((typeof target !== 'object' && typeof target !== 'function') || target === null) {
    return new Problem(`the target must be the judged step (a Step, one of its events, or { spanId }) or undefined, got ${shownValue(target)}`);
  }
  const spanId = (target as EvaluationTarget).spanId;
  if (spanId === undefined) return frame.spanId;
  if (!isSpanId(spanId)) return new Problem(`target.spanId must be a span id (${SPAN_ID_RULE}) or undefined, got ${shownValue(spanId)}`);
  return spanId;
}

/** `recordEvaluation` past the idle gate. */
function recordInRun(evaluation: unknown, target: unknown): void {
  const frame = als.getStore();
  if (frame === undefined) return;
  let data: EventData<typeof EVENT_TYPE> | Problem;
  let judged: string | undefined | Problem;
  try {
    data = payloadOf(evaluation);
    judged = data instanceof Problem ? undefined : judgedStepOf(target, frame);
  } catch (error) {
    return refuse(frame, EVENT_TYPE, evaluation, `recordEvaluation: the evaluation or its target could not be read: ${errorText(error)}`);
  }
  if (data instanceof Problem) return refuse(frame, EVENT_TYPE, evaluation, data.message);
  if (judged instanceof Problem) return refuse(frame, EVENT_TYPE, data, judged.message);
  record(frame, EVENT_TYPE, data, undefined, judged);
}

/** The front door, holding the gate in a `const` so that the JIT can fold the idle guard away (see emit.ts). */
function frontDoor(g: Gate): (evaluation: Evaluation, target?: EvaluationTarget) => void {
  const gate = g;
  return (evaluation, target) => {
    if (gate.open) recordInRun(evaluation, target);
  };
}

/**
 * Records a judge's verdict on a step of the current run: an
 * `agent.evaluation.result` event whose `parentSpanId` is the step judged,
 * which the OpenTelemetry bridge turns into a `gen_ai.evaluation.result`
 * event under that step's span.
 *
 * The step judged is `target`'s (a `Step`, one of the step's events, or
 * `{ spanId }`), so a step can be judged after it ended; without a target,
 * the step open where this is called (inside a `traceTool` body, that tool
 * call; at the run's top level, the run as a whole).
 *
 * Outside a run it does nothing and allocates nothing. A malformed verdict
 * (no `name`, a score that is not a finite number, a label that is not a
 * string, ...) is not recorded: like a malformed `emit`, it is counted in the
 * bus's `stats().rejected` and reported to its `onError` (or once as a
 * process warning), never thrown.
 *
 * @example
 * ```ts
 * let search: Step | undefined;
 * const hits = await traceTool({ name: 'search', args: { q } }, async (step) => ((search = step), find(q)));
 * recordEvaluation({ name: 'relevance', score: 0.8, label: 'relevant' }, search);
 * ```
 */
export const recordEvaluation: (evaluation: Evaluation, target?: EvaluationTarget) => void = frontDoor(processGate);
