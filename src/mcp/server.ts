/**
 * The server side: each MCP request a server handles is a run of its own,
 * the child run of the client step that sent it when the request carries
 * that step's link (in `params._meta`, or the HTTP request's headers).
 *
 * The hook is `setRequestHandler`, wrapped on the server instance: handlers
 * registered afterwards (an `McpServer` registers its `tools/call`,
 * `resources/read` and `prompts/get` handlers lazily, with its first tool,
 * resource or prompt) are wrapped as they are registered. Handlers already
 * registered are wrapped where the SDK keeps them (`_requestHandlers`, a
 * `Map` of method to handler; checked before use, left alone if the SDK
 * changed it).
 */
import { randomUUID } from 'node:crypto';
import type { EventBus } from '../bus.js';
import { describeNotEventBus, isEventBus } from '../bus-protocol.js';
import { als, runContext } from '../context.js';
import { startStep } from '../emit.js';
import type { Step } from '../step.js';
import { argKeys, errorText } from '../payload-text.js';
import { now } from '../clock.js';
import { linkOfRequest } from './meta.js';
import { relayTokenOf, withRelay, type SendNotification } from './relay.js';
import { MCP_METHOD_STEPS, MCP_TOOL_ERROR, mcpErrorType, mcpResultFailure, mcpResultPreview, mcpStepName, type McpStepMethod } from './steps.js';
import { capturedValue } from '../step-content.js';

type Handler = (this: unknown, request: unknown, extra: unknown) => unknown;

/** What {@link instrumentMcpServer} needs of a low-level server: the SDK's `Server` has it. */
export interface McpLowLevelServerLike {
  setRequestHandler(requestSchema: never, handler: never): void;
}

/** A low-level `Server`, or an `McpServer` (which holds one as `.server`). */
export type McpServerLike = McpLowLevelServerLike | { readonly server: McpLowLevelServerLike };

/** Options of {@link instrumentMcpServer}. */
export interface McpServerOptions {
  /**
   * Which requests are handled as runs. Default: `tools/call`,
   * `resources/read` and `prompts/get` (the requests an instrumented
   * client makes steps of); `initialize`, `ping` and the listings are not
   * runs.
   */
  methods?: readonly McpStepMethod[] | readonly string[];
  /** Put tool arguments into `agent.tool.started` in the server's runs. Default false. */
  captureContent?: boolean;
  /**
   * The bus the server's runs record into, as `runContext`'s `bus` option
   * (a server whose runs are served apart from the rest of the process).
   * Default: as `runContext` chooses, the process bus outside any run.
   */
  bus?: EventBus | undefined;
  /**
   * Send each run's events back to the client that asked (an
   * `instrumentMcpClient(client, { relay: true })`, which puts a token in
   * `params._meta['agentbus/relay']`), as notifications on the request's
   * own channel before the response: the client shows the server's run
   * live, nested under its step. Runs nested in the request's run go too.
   * Requests that do not ask are not relayed. Default false: what a
   * server's runs record (tool arguments with `captureContent`) stays in
   * its process.
   */
  relay?: boolean;
}

const INSTRUMENTED = Symbol.for('agentbus.mcp.server');

interface ServerState {
  active: boolean;
  readonly originalSetRequestHandler: unknown;
  readonly wrappedSetRequestHandler: unknown;
  /** The handlers replaced in the SDK's table at instrumentation: method -> [original, wrapper]. */
  readonly replaced: Map<string, readonly [Handler, Handler]>;
  readonly table: Map<string, Handler> | undefined;
}

interface RequestExtra {
  readonly _meta?: unknown;
  readonly sessionId?: unknown;
  readonly requestId?: unknown;
  readonly requestInfo?: { readonly headers?: unknown } | undefined;
  readonly sendNotification?: unknown;
}

/**
 * Makes an MCP server observable: every request of the chosen methods is
 * handled inside `runContext(handler, { link, name: 'mcp <method>' })`.
 * `link` comes from the request's `params._meta` (`traceparent`,
 * `tracestate`, `baggage`, as an instrumented client sends them), else from
 * the HTTP request's headers (Streamable HTTP), else there is none and the
 * run stands alone. With a link the run is the child run of the client's
 * step: `run.started` has its `parentRunId` and `parentSpanId`, and with the
 * OpenTelemetry bridge its spans are in the client's trace.
 *
 * Inside the run a `tools/call`, `resources/read` or `prompts/get` is a
 * step, named as the client names it (the tool, `resources/read <uri>`,
 * `prompts/get <name>`): `agent.tool.started` with `mcp.side: 'server'`,
 * and `agent.tool.completed`; success false for a tool's `isError` result,
 * `errorType: 'tool_error'`, or a handler that throws: for an `McpError`,
 * the JSON-RPC error the SDK answers with, `errorType` is its code as a
 * string, `'-32602'`. Everything the handler does nests under it. What the
 * handler returns or throws goes back to the SDK unchanged.
 *
 * With `bus`, the runs record into that bus rather than the process bus.
 * With `relay`, a run's events go back to a client that asks for them.
 *
 * Call it before or after registering tools. Idempotent (a second call,
 * whatever its options, leaves the first one's in place).
 *
 * @returns `server`.
 */
export function instrumentMcpServer<S extends McpServerLike>(server: S, options: McpServerOptions = {}): S {
  const low = lowLevel(server);
  const bus = options.bus;
  // Checked here, once: runContext would reject every request instead, far from the mistake.
  if (bus !== undefined && !isEventBus(bus)) {
    throw new TypeError(`instrumentMcpServer: options.bus must be an EventBus (new EventBus() or getEventBus()) or undefined, got ${describeNotEventBus(bus)}`);
  }
  const target = low as unknown as Record<PropertyKey, unknown>;
  if (target[INSTRUMENTED] !== undefined) return server;
  const methods = new Set<string>(options.methods ?? MCP_METHOD_STEPS);
  const captureContent = options.captureContent === true;
  const relay = options.relay === true;
  const table = handlerTable(target['_requestHandlers']);
  const state: ServerState = {
    active: true,
    originalSetRequestHandler: target['setRequestHandler'],
    wrappedSetRequestHandler: undefined,
    replaced: new Map(),
    table,
  };

  const wrap = (handler: Handler): Handler =>
    function instrumentedHandler(this: unknown, request: unknown, extra: unknown): unknown {
      const method = (request as { method?: unknown } | null)?.method;
      if (!state.active || typeof method !== 'string' || !methods.has(method)) return handler.call(this, request, extra);
      return handleInRun(handler, this, method, request, extra as RequestExtra | undefined, captureContent, bus, relay);
    };

  const originalSet = state.originalSetRequestHandler as (this: unknown, schema: unknown, handler: Handler) => void;
  const wrappedSet = function setRequestHandler(this: unknown, schema: unknown, handler: Handler): void {
    return originalSet.call(this, schema, typeof handler === 'function' ? wrap(handler) : handler);
  };
  (state as { wrappedSetRequestHandler: unknown }).wrappedSetRequestHandler = wrappedSet;
  if (table !== undefined) {
    for (const method of methods) {
      const existing = table.get(method);
      if (existing === undefined) continue;
      const wrapped = wrap(existing);
      table.set(method, wrapped);
      state.replaced.set(method, [existing, wrapped]);
    }
  }
  Object.defineProperty(low, INSTRUMENTED, { value: state, configurable: true, enumerable: false });
  target['setRequestHandler'] = wrappedSet;
  return server;
}

/**
 * Undoes {@link instrumentMcpServer}: requests are handled without runs
 * again (handlers registered in between stay wrapped, and call straight
 * through), `setRequestHandler` is the server's own. Idempotent.
 */
export function uninstrumentMcpServer(server: McpServerLike): void {
  const target = lowLevel(server) as unknown as Record<PropertyKey, unknown>;
  const state = target[INSTRUMENTED] as ServerState | undefined;
  if (state === undefined) return;
  state.active = false;
  delete target[INSTRUMENTED];
  if (target['setRequestHandler'] === state.wrappedSetRequestHandler) {
    delete target['setRequestHandler'];
    if (target['setRequestHandler'] !== state.originalSetRequestHandler) target['setRequestHandler'] = state.originalSetRequestHandler;
  }
  for (const [method, [original, wrapped]] of state.replaced) {
    if (state.table?.get(method) === wrapped) state.table.set(method, original);
  }
}

function lowLevel(server: McpServerLike): McpLowLevelServerLike {
  const inner = (server as { server?: unknown }).server;
  if (typeof inner === 'object' && inner !== null && typeof (inner as { setRequestHandler?: unknown }).setRequestHandler === 'function') {
    return inner as McpLowLevelServerLike;
  }
  if (typeof (server as { setRequestHandler?: unknown }).setRequestHandler !== 'function') {
    throw new TypeError('instrumentMcpServer: expected an MCP Server (with setRequestHandler) or an McpServer (with .server), got ' + describe(server));
  }
  return server as McpLowLevelServerLike;
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value === 'object' ? `an object without setRequestHandler` : typeof value;
}

/** The SDK's handler table when it is what 1.x keeps (a Map of method to function), else undefined. */
function handlerTable(value: unknown): Map<string, Handler> | undefined {
  return value instanceof Map ? (value as Map<string, Handler>) : undefined;
}

function handleInRun(
  handler: Handler,
  self: unknown,
  method: string,
  request: unknown,
  extra: RequestExtra | undefined,
  captureContent: boolean,
  bus: EventBus | undefined,
  relay: boolean,
): Promise<unknown> {
  const params = (request as { params?: Record<string, unknown> } | null)?.params;
  const meta = extra?._meta ?? params?.['_meta'];
  const link = linkOfRequest(meta, extra?.requestInfo?.headers);
  const body = () => (isStepMethod(method) ? methodStep(handler, self, method, request, params ?? {}, extra, captureContent) : handler.call(self, request, extra));
  const token = relay ? relayTokenOf(meta) : undefined;
  const send = extra?.sendNotification;
  if (token === undefined || typeof send !== 'function') return runContext(body, { link, name: `mcp ${method}`, captureContent, bus });
  // The run's id is known before it starts, so that its run.started is relayed too.
  const runId = randomUUID();
  const notify: SendNotification = (notification) => send.call(extra, notification) as Promise<void>;
  return withRelay(bus ?? als.getStore()?.bus, runId, token, notify, () => runContext(body, { runId, link, name: `mcp ${method}`, captureContent, bus }));
}

function isStepMethod(method: string): method is McpStepMethod {
  return (MCP_METHOD_STEPS as readonly string[]).includes(method);
}

/** The request as a step of its run: a tool call, a resource read or a prompt get, named as the client names it. */
async function methodStep(
  handler: Handler,
  self: unknown,
  method: McpStepMethod,
  request: unknown,
  params: Record<string, unknown>,
  extra: RequestExtra | undefined,
  captureContent: boolean,
): Promise<unknown> {
  const { toolName, args, uri, promptName } = mcpStepName(method, params);
  const requestId = extra?.requestId;
  const toolCallId = typeof requestId === 'string' || typeof requestId === 'number' ? String(requestId) : toolName;
  const sessionId = extra?.sessionId;
  const step = startStep('agent.tool.started', {
    toolName,
    toolCallId,
    argKeys: argKeys(args),
    args: captureContent ? args : undefined,
    mcp: {
      method,
      side: 'server',
      serverName: undefined,
      serverVersion: undefined,
      sessionId: typeof sessionId === 'string' ? sessionId : undefined,
      protocolVersion: undefined,
      transport: extra?.requestInfo !== undefined ? 'tcp' : undefined,
      serverAddress: undefined,
      serverPort: undefined,
      requestId: toolCallId === toolName ? undefined : toolCallId,
      resourceUri: uri,
      promptName,
    },
  });
  let result: unknown;
  try {
    result = await step.run(() => handler.call(self, request, extra));
  } catch (error) {
    finish(step, toolName, toolCallId, error, errorText(error), mcpErrorType(error));
    throw error;
  }
  const failure = mcpResultFailure(method, result);
  finish(step, toolName, toolCallId, result, failure, failure === undefined ? undefined : MCP_TOOL_ERROR);
  return result;
}

function finish(
  step: Step<'agent.tool.started'>,
  toolName: string,
  toolCallId: string,
  outcome: unknown,
  failure: string | undefined,
  errorType: string | undefined,
): void {
  try {
    step.end({
      toolName,
      toolCallId,
      success: failure === undefined,
      durationMs: Math.max(0, now() - step.startTime),
      outputPreview: failure === undefined ? mcpResultPreview(outcome) : undefined,
      // The result itself only when the run captures content (the args likewise).
      result: failure === undefined && step.captureContent ? capturedValue(outcome) : undefined,
      error: failure,
      errorType,
    });
  } catch {
    // Telemetry never changes what the handler returns or throws.
  }
}
