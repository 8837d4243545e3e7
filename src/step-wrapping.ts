/**
 * Step wrapping: the listeners' `wrapStep` hooks composed around the body of
 * a step (a tool call, a model call, an agent invocation), as a
 * `TracingChannel` subscriber binds its store around the traced work. The
 * OpenTelemetry bridge runs a tool's body inside the context of the tool's
 * span this way, so that spans made in the tool become its children.
 *
 * A wrapper chooses where the body runs; it never changes what the step
 * does. Whatever a wrapper does, the body runs exactly once and the step
 * returns or throws what the body did (telemetry never changes what a tool
 * returns or throws). Guarded as hono's `compose` guards `next()`:
 * - a wrapper that throws before calling the body is skipped: the body runs
 *   without it;
 * - a wrapper that calls the body again gets what the first call returned
 *   (or its error, rethrown), and the body does not run again;
 * - a wrapper that returns without calling the body: the body runs then,
 *   outside that wrapper's context;
 * - a wrapper that throws after the body ran, returns instead of rethrowing
 *   the body's error, or returns something else than the body's result:
 *   the body's outcome stands.
 * Each is reported to the bus as the listener's fault (counted in
 * `stats().listenerErrors`, told to `onError`); all but the thrown errors
 * also warn once, naming the listener.
 */
import type { StreamEvent } from './events.js';

/**
 * Runs the body of a step (a tool call, a model call, an agent invocation) in
 * a context the listener chooses, like a `TracingChannel` subscriber binding
 * its store. It must call `body` exactly once, synchronously, and return what
 * it returns (and let what it throws through): `(start, body) => context.with(ctx, body)`.
 * See `BusListener.wrapStep` for what happens when it does not.
 */
export type StepWrapper = <R>(start: StreamEvent, body: () => R) => R;

/** @internal One listener's wrapper, with the listener (the wrapper's `this`) and the name it is blamed by. */
export interface NamedStepWrapper {
  readonly wrapStep: StepWrapper;
  readonly self: object;
  readonly name: string;
}

/**
 * @internal Told about a wrapper's fault: `error` is what it threw, or an
 * `Error` saying how it broke its contract (then `misuse` is true and the
 * message names the listener).
 */
export type StepWrapperFaultReport = (start: StreamEvent, error: unknown, misuse: boolean) => void;

/**
 * @internal Runs `body` inside every wrapper, the first one outermost, with
 * the guarantees above; with no wrapper, calls it directly.
 */
export function runWrapped<R>(wrappers: readonly NamedStepWrapper[], start: StreamEvent, body: () => R, report: StepWrapperFaultReport): R {
  // Do not compose when nobody wraps.
  if (wrappers.length === 0) return body();
  return new Layer(wrappers, 0, start, body, report).run();
}

const NOT_CALLED = 0;
const RUNNING = 1;
const RETURNED = 2;
const THREW = 3;

/** One wrapper around everything inside it, and the once-only body it is given. */
class Layer<R> {
  readonly #wrappers: readonly NamedStepWrapper[];
  readonly #index: number;
  readonly #start: StreamEvent;
  readonly #body: () => R;
  readonly #report: StepWrapperFaultReport;
  #state = NOT_CALLED;
  // What the inside returned or threw, once it ran.
  #outcome: unknown = undefined;

  constructor(wrappers: readonly NamedStepWrapper[], index: number, start: StreamEvent, body: () => R, report: StepWrapperFaultReport) {
    this.#wrappers = wrappers;
    this.#index = index;
    this.#start = start;
    this.#body = body;
    this.#report = report;
  }

  /** What the wrapper is given as `body`: the inside, run at most once. */
  readonly #once = (): R => {
    if (this.#state !== NOT_CALLED) return this.#again();
    this.#state = RUNNING;
    try {
      const result = this.#inside();
      this.#outcome = result;
      this.#state = RETURNED;
      return result;
    } catch (error) {
      this.#outcome = error;
      this.#state = THREW;
      throw error;
    }
  };

  run(): R {
    const wrapper = this.#wrappers[this.#index] as NamedStepWrapper;
    let returned: unknown;
    try {
      returned = wrapper.wrapStep.call(wrapper.self, this.#start, this.#once);
    } catch (error) {
      if (this.#state === NOT_CALLED) {
        this.#report(this.#start, error, false);
        return this.#once();
      }
      // The body's own error on its way out: the one thing a wrapper may throw.
      if (this.#state === THREW && error === this.#outcome) throw error;
      this.#report(this.#start, error, false);
      return this.#settled();
    }
    if (this.#state === NOT_CALLED) {
      this.#misuse(wrapper, 'returned without calling the step body; the body ran after it, outside its context');
      return this.#once();
    }
    if (this.#state === THREW) {
      this.#misuse(wrapper, 'returned instead of letting the step body’s error through; the step throws it');
    } else if (!Object.is(returned, this.#outcome)) {
      this.#misuse(wrapper, 'returned something other than what the step body returned; the step returns the body’s result');
    }
    return this.#settled();
  }

  /** Everything inside this layer: the next wrapper, or the body itself. */
  #inside(): R {
    const next = this.#index + 1;
    if (next === this.#wrappers.length) return this.#body();
    return new Layer(this.#wrappers, next, this.#start, this.#body, this.#report).run();
  }

  /** A second call of the once-only body. */
  #again(): R {
    const wrapper = this.#wrappers[this.#index] as NamedStepWrapper;
    if (this.#state === RUNNING) {
      const message = 'called the step body again while it was running; the body runs once';
      this.#misuse(wrapper, message);
      throw new Error(`wrapStep of listener ${JSON.stringify(wrapper.name)} ${message}`);
    }
    this.#misuse(wrapper, 'called the step body more than once; the body ran once, and later calls return (or throw) what the first did');
    return this.#settled();
  }

  /** The inside's outcome: its result, or its error thrown again. */
  #settled(): R {
    if (this.#state === THREW) throw this.#outcome;
    return this.#outcome as R;
  }

  #misuse(wrapper: NamedStepWrapper, problem: string): void {
    this.#report(this.#start, new Error(`wrapStep of listener ${JSON.stringify(wrapper.name)} ${problem} (a wrapper must call body exactly once and return what it returns)`), true);
  }
}
