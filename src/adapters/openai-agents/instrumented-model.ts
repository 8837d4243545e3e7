/**
 * A model wrapped so that every call it answers is a model step with the
 * request's exact counts, the answer's usage and function call ids. The
 * OpenAI Agents SDK (JS) has no hook around model calls: its RunHooks and
 * AgentHooks report agents, tools and handoffs only, and only its own OpenAI
 * model classes trace a call (as a `response` or `generation` span). Wrapping
 * the model is what works for any `Model`.
 *
 * The wrapper is a Proxy: everything but the two calls reaches the model
 * itself (`instanceof`, `getRetryAdvice`, private fields), and what the model
 * returns or throws is passed on unchanged.
 */
import type { Step } from '../../step.js';
import { errorText } from '../../payload-text.js';
import type { SdkModel, SdkModelRequest, SdkModelResponse } from './sdk-model.js';

/** @internal One model call being recorded, as the trace processor opened it. */
export interface RecordedModelCall {
  readonly step: Step<'agent.model.started'>;
  /** Records the answer's usage and function calls, and closes the step. */
  answered(response: SdkModelResponse): void;
  /**
   * Closes the step with why the call gave no answer: what it threw, or a
   * text. `stopReason` defaults to `aborted` for an abort, else `error`.
   */
  failed(error: unknown, stopReason?: string): void;
}

/** @internal Opens the model step of one call (`stream`: asked for a streamed answer); undefined when the call is not recorded. */
export type OpenModelCall = (request: SdkModelRequest, stream: boolean) => RecordedModelCall | undefined;

/** @internal The model, calling `open` around each of its calls. See `AgentbusTraceProcessor.instrumentModel`. */
export function instrumentedModel<M extends SdkModel>(model: M, open: OpenModelCall): M {
  const getResponse = async (request: SdkModelRequest): Promise<SdkModelResponse> => {
    const call = open(request, false);
    if (call === undefined) return model.getResponse(request);
    let response: SdkModelResponse;
    try {
      // Inside the step, so that work done by the call (an HTTP request seen
      // by the OpenTelemetry bridge) nests under it.
      response = await call.step.run(() => model.getResponse(request));
    } catch (error) {
      call.failed(error);
      throw error;
    }
    settle(call, response);
    return response;
  };
  const getStreamedResponse = (request: SdkModelRequest): AsyncIterable<unknown> => streamed(model, request, open);
  const bound = new WeakMap<Function, Function>();
  return new Proxy(model, {
    get(target, key) {
      if (key === 'getResponse') return getResponse;
      if (key === 'getStreamedResponse') return getStreamedResponse;
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      // Other methods run on the model itself, where its private fields are.
      let method = bound.get(value);
      if (method === undefined) {
        method = value.bind(target) as Function;
        bound.set(value, method);
      }
      return method;
    },
  });
}

/** Closes the step from the answer; reading a hostile answer never changes what the model returned. */
function settle(call: RecordedModelCall, response: unknown): void {
  try {
    call.answered(response as SdkModelResponse);
  } catch (error) {
    call.failed(`unreadable model response: ${errorText(error)}`, 'unknown');
  }
}

/** The streamed answer, event for event; its `response_done` event closes the step. */
async function* streamed(model: SdkModel, request: SdkModelRequest, open: OpenModelCall): AsyncGenerator<unknown, void, undefined> {
  const call = open(request, true);
  if (call === undefined) {
    yield* model.getStreamedResponse(request);
    return;
  }
  let events: AsyncIterator<unknown>;
  try {
    events = model.getStreamedResponse(request)[Symbol.asyncIterator]();
  } catch (error) {
    call.failed(error, 'error');
    throw error;
  }
  let closed = false;
  let ended = false;
  try {
    for (;;) {
      const next = await call.step.run(() => events.next());
      if (next.done === true) {
        ended = true;
        break;
      }
      const event = next.value as { type?: unknown; response?: unknown } | null;
      if (!closed && typeof event === 'object' && event !== null && event.type === 'response_done') {
        closed = true;
        settle(call, event.response);
      }
      yield event;
    }
  } catch (error) {
    if (!closed) {
      closed = true;
      call.failed(error);
    }
    throw error;
  } finally {
    if (!closed) {
      // The stream ended without an answer, or its reader stopped early.
      if (ended) call.failed('the stream ended without a response_done event', 'error');
      else call.failed('the stream was closed before the response was done', 'aborted');
      if (!ended) await events.return?.();
    }
  }
}
