/**
 * The relay of a server's runs to the client that called: an MCP server
 * handles a request in a run of its own (the child run of the client's
 * step), recorded on the server process's bus. With the relay, the client
 * sees that run too, live, on its own bus, nested under its step, so that
 * `agentbus tail` or an SSE reader of the client shows the whole call.
 *
 * Both sides opt in. The client puts a token in the request's
 * `params._meta` under {@link RELAY_META_KEY}; a server instrumented with
 * `relay: true` then sends every event of the request's run (and of runs
 * nested in it) back as a notification, {@link RELAY_METHOD}, with the
 * token, on the request's own channel (stdout for stdio, the request's
 * response stream for Streamable HTTP), before the response.
 *
 * The client trusts nothing it receives: an event is published only while
 * its call is in flight, only for runs that descend from the calling step,
 * with random UUID ids its bus does not already hold, only in the
 * catalogue's shape, and within a per-call bound; anything else is refused through the
 * bus's `onError` and counted in `stats().rejected`. When the call ends,
 * every relayed run is closed: one that never sent its `run.completed`
 * (the server died, or its notifications were lost) gets one saying so.
 */
import { z } from 'zod';
import type { EventBus } from '../bus.js';
import { reportRejected } from '../bus-protocol.js';
import { now } from '../clock.js';
import { describeRunId } from '../envelope.js';
import { isRunId, parseStreamEvent, type StreamEvent } from '../events.js';
import { getEventBus } from '../global.js';

/** The `params._meta` key under which a client asks for the relay; its value is the call's token. */
export const RELAY_META_KEY = 'agentbus/relay';

/** The notification that carries one relayed event: `params: { token, event }`. */
export const RELAY_METHOD = 'notifications/agentbus/event';

/**
 * The relay notification as `Client.setNotificationHandler` takes it: a
 * schema naming the method. The params are checked by the receiver, not
 * here: a schema failure would only reach the client's `onerror`.
 */
export const RELAY_NOTIFICATION = z.object({ method: z.literal(RELAY_METHOD), params: z.unknown().optional() });

/** Runs one call may relay: its own run and runs nested in it. */
const MAX_RUNS_PER_CALL = 64;

/** Events one call may relay; past it the rest are refused (the bus's history keeps 500 per run anyway). */
const MAX_EVENTS_PER_CALL = 10_000;

/** What `randomUUID` makes (and so `runContext` without a `runId`): the only ids a relayed run may have. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A token is short and plain: what `newSpanId` makes, with room to spare. */
const TOKEN = /^[A-Za-z0-9._:-]{1,64}$/;

/** The relay token a request asks for, or undefined when it asks for none (or a malformed one). */
export function relayTokenOf(meta: unknown): string | undefined {
  if (typeof meta !== 'object' || meta === null) return undefined;
  const token = (meta as Record<string, unknown>)[RELAY_META_KEY];
  return typeof token === 'string' && TOKEN.test(token) ? token : undefined;
}

// --- The server side -----------------------------------------------------------

/** Sends one notification on the request's channel: the SDK's `extra.sendNotification`. */
export type SendNotification = (notification: { method: string; params: Record<string, unknown> }) => Promise<void>;

interface Sink {
  readonly token: string;
  readonly send: SendNotification;
  readonly runIds: string[];
}

/**
 * The server side, one per bus: a listener that sends the events of every
 * relayed run to its caller. It is on the bus only while some request is
 * relayed, so a server whose clients never ask pays nothing.
 */
class RelayHub {
  readonly #bus: EventBus;
  readonly #sinks = new Map<string, Sink>();
  #remove: (() => void) | undefined;

  constructor(bus: EventBus) {
    this.#bus = bus;
  }

  /** Relays run `runId` (about to start) and the runs nested in it, until {@link RelayHub.close}. */
  open(runId: string, token: string, send: SendNotification): Sink {
    const sink: Sink = { token, send, runIds: [runId] };
    this.#sinks.set(runId, sink);
    this.#remove ??= this.#bus.addListener({ name: 'agentbus/mcp-relay', onEvent: (event) => this.#onEvent(event) });
    return sink;
  }

  close(sink: Sink): void {
    for (const runId of sink.runIds) {
      if (this.#sinks.get(runId) === sink) this.#sinks.delete(runId);
    }
    if (this.#sinks.size === 0 && this.#remove !== undefined) {
      this.#remove();
      this.#remove = undefined;
    }
  }

  #onEvent(event: StreamEvent): void {
    let sink = this.#sinks.get(event.runId);
    if (sink === undefined) {
      // A run opened inside a relayed one (a nested runContext) is relayed with it.
      if (event.eventType !== 'run.started') return;
      const parentRunId = (event.data as { parentRunId?: unknown }).parentRunId;
      sink = typeof parentRunId === 'string' ? this.#sinks.get(parentRunId) : undefined;
      if (sink === undefined || sink.runIds.length >= MAX_RUNS_PER_CALL) return;
      sink.runIds.push(event.runId);
      this.#sinks.set(event.runId, sink);
    }
    try {
      // The event is plain, bounded data once published (the bus made it so): the transport can write it.
      sink.send({ method: RELAY_METHOD, params: { token: sink.token, event } }).catch(ignore);
    } catch {
      // A transport already gone: the client's call fails on its own, and closes what it relayed.
    }
  }
}

function ignore(): void {}

const hubs = new WeakMap<EventBus, RelayHub>();

/**
 * Runs `handle` with run `runId`'s events relayed to the caller under
 * `token`. `bus` is the bus the run records into.
 */
export async function withRelay<T>(bus: EventBus | undefined, runId: string, token: string, send: SendNotification, handle: () => Promise<T>): Promise<T> {
  const target = bus ?? getEventBus();
  let hub = hubs.get(target);
  if (hub === undefined) {
    hub = new RelayHub(target);
    hubs.set(target, hub);
  }
  const sink = hub.open(runId, token, send);
  try {
    return await handle();
  } finally {
    hub.close(sink);
  }
}

// --- The client side -----------------------------------------------------------

/** How a call ended, for the relayed runs it leaves unfinished. */
export interface CallOutcome {
  readonly status: 'ok' | 'error' | 'aborted';
  readonly error?: string | undefined;
  readonly errorType?: string | undefined;
}

/** A relayed run: when it started here (for the duration of a completion made up at the end), and whether its own came. */
interface RelayedRun {
  readonly startedAt: number;
  completed: boolean;
}

/** One call whose server runs are relayed: where they go and what has come so far. */
export interface RelayedCall {
  readonly token: string;
  /** The calling run and step: the relayed root run must be their child. */
  readonly runId: string;
  readonly spanId: string;
  readonly bus: EventBus;
  /** `run.started`'s `relayedFrom`: `mcp:<server name>`. */
  readonly source: string;
  /** Relayed runs: when each started here, and whether its run.completed came. */
  readonly runs: Map<string, RelayedRun>;
  events: number;
}

/**
 * The client side: takes the relay notifications of a client's calls and
 * publishes what passes on the calling run's bus.
 */
export class RelayReceiver {
  readonly #calls = new Map<string, RelayedCall>();

  /** Starts taking events for the call `token`, made from step `spanId` of run `runId`. */
  begin(token: string, runId: string, spanId: string, bus: EventBus, serverName: string | undefined): RelayedCall {
    const call: RelayedCall = {
      token,
      runId,
      spanId,
      bus,
      source: serverName === undefined ? 'mcp' : `mcp:${serverName}`,
      runs: new Map(),
      events: 0,
    };
    this.#calls.set(token, call);
    return call;
  }

  /**
   * Stops taking events for `call` and closes its relayed runs: each that
   * did not complete gets a `run.completed` with the call's outcome (its
   * events stopped when the call ended), then its stream is closed.
   */
  end(call: RelayedCall, outcome: CallOutcome): void {
    if (this.#calls.get(call.token) === call) this.#calls.delete(call.token);
    for (const [runId, run] of call.runs) {
      if (!run.completed) {
        const at = now();
        call.bus.publish({
          eventId: '',
          seq: 0,
          runId,
          eventType: 'run.completed',
          timestamp: at,
          data: {
            status: outcome.status,
            // A call that succeeded says the run did too; a failed one says why the run's own end never came.
            error: outcome.status === 'ok' ? undefined : `the server's run sent no run.completed before its MCP call ended: ${outcome.error ?? outcome.status}`,
            errorType: outcome.errorType,
            durationMs: Math.max(0, at - run.startedAt),
          },
        });
      }
      call.bus.closeStream(runId);
    }
  }

  /** One relay notification, as the SDK hands it to the handler: `{ method, params: { token, event } }`. */
  receive(notification: unknown): void {
    const params = (notification as { params?: unknown } | null)?.params;
    const token = typeof params === 'object' && params !== null ? (params as { token?: unknown }).token : undefined;
    const wire = typeof params === 'object' && params !== null ? (params as { event?: unknown }).event : undefined;
    const call = typeof token === 'string' ? this.#calls.get(token) : undefined;
    if (call === undefined) {
      // No call to tell it to: the process bus hears of it.
      const which = typeof token === 'string' ? `token ${JSON.stringify(token.slice(0, 64))}` : 'no token';
      refuse(getEventBus(), 'no-call', `a relayed event with ${which}, which names no call in flight (late, or never asked for)`, wire);
      return;
    }
    const problem = this.#accept(call, wire);
    if (problem !== undefined) refuse(call.bus, problem.kind, `a relayed event from ${call.source}: ${problem.message}`, wire);
  }

  /** Publishes `wire` on the call's bus when it passes; otherwise says why not. */
  #accept(call: RelayedCall, wire: unknown): { kind: string; message: string } | undefined {
    if (call.events >= MAX_EVENTS_PER_CALL) return { kind: 'too-many-events', message: `more than ${MAX_EVENTS_PER_CALL} events in one call` };
    call.events++;
    let event: StreamEvent;
    try {
      event = parseStreamEvent(wire);
    } catch (error) {
      return { kind: 'malformed', message: (error as Error).message };
    }
    const { runId, eventType } = event;
    if (!isRunId(runId)) return { kind: 'run-id', message: `runId ${describeRunId(runId)} is not a run id` };
    const run = call.runs.get(runId);
    if (run?.completed === true) return { kind: 'after-completed', message: `${eventType} of run ${runId} after its run.completed` };
    let data = event.data;
    if (run === undefined) {
      const problem = this.#newRunProblem(call, runId, eventType, data);
      if (problem !== undefined) return problem;
      data = { ...data, relayedFrom: call.source };
    }
    call.bus.publish({ eventId: '', seq: 0, runId, eventType, timestamp: event.timestamp, spanId: event.spanId, parentSpanId: event.parentSpanId, data });
    if (run === undefined) {
      // Refused by the bus (it said why through onError): not taken as the run's start.
      if (!call.bus.hasRun(runId)) return undefined;
      call.runs.set(runId, { startedAt: now(), completed: false });
    } else if (eventType === 'run.completed') {
      run.completed = true;
      call.bus.closeStream(runId);
    }
    return undefined;
  }

  /** Why the first event of a run is not taken as a relayed run's start, or undefined. */
  #newRunProblem(call: RelayedCall, runId: string, eventType: string, data: object): { kind: string; message: string } | undefined {
    if (eventType !== 'run.started') return { kind: 'not-started', message: `${eventType} of run ${runId}, which did not start in this call` };
    const { parentRunId, parentSpanId } = data as { parentRunId?: string; parentSpanId?: string };
    const root = parentRunId === call.runId && parentSpanId === call.spanId;
    if (!root && (parentRunId === undefined || !call.runs.has(parentRunId))) {
      return { kind: 'not-a-child', message: `run ${runId} is neither the child run of the calling step (${call.runId} / ${call.spanId}) nor nested in a run relayed for it` };
    }
    // Never into a run this bus already has: a relayed id must not continue a local run, nor an earlier relayed one.
    if (call.bus.hasRun(runId)) return { kind: 'run-exists', message: `run ${runId} already exists on this bus` };
    // Random ids only: a name a server picked could be one this process means to use for a run of its own.
    if (!UUID.test(runId)) return { kind: 'not-a-uuid', message: `run ${runId} is not a random UUID (a relayed run must not take a name this process may use)` };
    if (call.runs.size >= MAX_RUNS_PER_CALL) return { kind: 'too-many-runs', message: `more than ${MAX_RUNS_PER_CALL} runs in one call` };
    return undefined;
  }
}

function refuse(bus: EventBus, kind: string, message: string, wire: unknown): void {
  bus[reportRejected](new TypeError(`instrumentMcpClient: refused ${message}`), wire as StreamEvent, `mcp-relay:${kind}`);
}
