/**
 * The client side: an MCP `Client` whose tool calls, resource reads and
 * prompt gets are steps of the run that makes them, and carry that step's
 * link to the server in `params._meta`.
 *
 * Everything a `Client` sends goes through its `request` method (`callTool`,
 * `readResource`, `getPrompt` call it), so that one method is wrapped, on the
 * instance. Outside a run the wrapper calls straight through: the request is
 * the caller's own object, nothing is allocated.
 */
import { now } from '../clock.js';
import { als, isRecording } from '../context.js';
import { startStep } from '../emit.js';
import { newSpanId } from '../ids.js';
import type { Step } from '../step.js';
import type { EventData } from '../events.js';
import { argKeys, errorText, errorTypeOf } from '../payload-text.js';
import { metaWithLink } from './meta.js';
import { RELAY_META_KEY, RELAY_METHOD, RELAY_NOTIFICATION, RelayReceiver, type RelayedCall } from './relay.js';
import { MCP_METHOD_STEPS, MCP_TOOL_ERROR, mcpErrorType, mcpResultFailure, mcpResultPreview, mcpStepName, type McpStepMethod } from './steps.js';
import { capturedValue } from '../step-content.js';

/** A JSON-RPC request as the SDK's `Client.request` takes it. */
export interface McpRequestLike {
  readonly method: string;
  readonly params?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * What {@link instrumentMcpClient} needs of a client: the SDK's `Client`
 * (`@modelcontextprotocol/sdk/client/index.js`, v1.32 and later) has it.
 */
export interface McpClientLike {
  request(request: never, resultSchema: never, options?: never): Promise<unknown>;
  getServerVersion?(): { readonly name?: string; readonly version?: string } | undefined;
  readonly transport?: unknown;
}

/** Options of {@link instrumentMcpClient}. */
export interface McpClientOptions {
  /**
   * Which requests become steps. Default: `tools/call`, `resources/read`
   * and `prompts/get`. Other methods (listing, ping, initialize) are sent
   * unchanged.
   */
  methods?: readonly McpStepMethod[];
  /**
   * Ask each server called inside a run for its run's events (a server
   * instrumented with `instrumentMcpServer(server, { relay: true })` sends
   * them; others ignore the request), and publish them on the calling run's
   * bus: the server's run appears live as the child run of the step, and
   * `agentbus tail` or an SSE reader of this process shows it nested there.
   * The request's `params._meta` gains `agentbus/relay` (the call's token).
   *
   * Only what passes is published: events of the call's own child run and
   * runs nested in it, in the catalogue's shape, while the call is in
   * flight, with random UUID ids this bus does not hold yet; the rest is refused
   * (the bus's `onError`, `stats().rejected`). When the call ends its
   * relayed runs are closed. Their `run.started` carries
   * `relayedFrom: 'mcp:<server name>'`, and the OpenTelemetry bridge makes
   * no spans of them (the server exports its own). Default false.
   */
  relay?: boolean;
}

const INSTRUMENTED = Symbol.for('agentbus.mcp.client');

interface ClientState {
  readonly original: McpClientLike['request'];
  readonly wrapper: McpClientLike['request'];
  /** The relay's notification handler, when `relay` is on. */
  readonly receiver: RelayReceiver | undefined;
}

/** The SDK's way to take a notification (`Client.setNotificationHandler`), for the relay. */
interface NotificationHandlers {
  setNotificationHandler(schema: unknown, handler: (notification: unknown) => void): void;
  removeNotificationHandler?(method: string): void;
}

type RequestFn = (this: unknown, request: McpRequestLike, resultSchema: unknown, options?: unknown) => Promise<unknown>;

/**
 * Makes an MCP client observable. Inside a run (`runContext`), each
 * `tools/call` is a tool step of the run: `agent.tool.started` (the tool
 * name, a fresh `toolCallId`, `argKeys`, `args` when the run captures
 * content, and `mcp`: method, server name and version, session id,
 * protocol version, transport, and for Streamable HTTP or SSE the server's
 * address and port from the transport's URL) and, once,
 * `agent.tool.completed` (success, duration, a preview of the result;
 * success false with the error text for a result with `isError: true`
 * (`errorType: 'tool_error'`), a JSON-RPC error (`errorType`: its code as a
 * string, `'-32602'`; the SDK's timeout is `'-32001'`, a server that went
 * away `'-32000'`), an abort (`errorType`: the error's class).
 * `resources/read` and `prompts/get` are steps the same way, named
 * `resources/read <uri>` and `prompts/get <name>`.
 *
 * The request runs inside its step, so the OpenTelemetry bridge's active
 * span is the step's, and its `params._meta` carries the step's link
 * (`traceparent`, `tracestate`, `baggage`; SEP-414) for a server
 * instrumented with `instrumentMcpServer`. The caller's own `_meta` keys
 * are kept (a `traceparent` of theirs wins; their `baggage` members stay);
 * the caller's params object is never modified.
 *
 * Results and errors are those of the uninstrumented client: the same
 * value, the same error object. Outside a run requests go out unchanged.
 * Idempotent: a client already instrumented is returned as it is.
 *
 * @returns `client`.
 */
export function instrumentMcpClient<C extends McpClientLike>(client: C, options: McpClientOptions = {}): C {
  const target = client as unknown as Record<PropertyKey, unknown>;
  if (target[INSTRUMENTED] !== undefined) return client;
  const methods = new Set<string>(options.methods ?? MCP_METHOD_STEPS);
  const receiver = options.relay === true ? listenForRelay(client) : undefined;
  const original = (client.request as unknown as RequestFn);
  const wrapper: RequestFn = function instrumentedRequest(this: unknown, request, resultSchema, requestOptions) {
    // The idle path: no run here, or a method that is not a step: the caller's request as it is.
    if (!isRecording() || !methods.has((request as McpRequestLike | undefined)?.method as string)) {
      return original.call(this, request, resultSchema, requestOptions);
    }
    return requestInStep(client, original, this, request, resultSchema, requestOptions, receiver);
  };
  const state: ClientState = { original: original as never, wrapper: wrapper as never, receiver };
  Object.defineProperty(client, INSTRUMENTED, { value: state, configurable: true, enumerable: false });
  target['request'] = wrapper;
  return client;
}

/**
 * Undoes {@link instrumentMcpClient}: the client's `request` is its own
 * again (unless something else replaced it since, which is then left alone).
 * Idempotent.
 */
export function uninstrumentMcpClient(client: McpClientLike): void {
  const target = client as unknown as Record<PropertyKey, unknown>;
  const state = target[INSTRUMENTED] as ClientState | undefined;
  if (state === undefined) return;
  delete target[INSTRUMENTED];
  if (state.receiver !== undefined) (client as unknown as NotificationHandlers).removeNotificationHandler?.(RELAY_METHOD);
  if (target['request'] !== state.wrapper) return;
  // The original was the prototype's (the usual case): removing the own property restores it.
  if (Object.hasOwn(target, 'request')) delete target['request'];
  if (client.request !== state.original) target['request'] = state.original;
}

/** Takes the relay's notifications on `client`: the receiver its calls register with. */
function listenForRelay(client: McpClientLike): RelayReceiver {
  const handlers = client as unknown as Partial<NotificationHandlers>;
  if (typeof handlers.setNotificationHandler !== 'function') {
    throw new TypeError('instrumentMcpClient: relay needs a client that takes notification handlers (the SDK\'s Client has setNotificationHandler)');
  }
  const receiver = new RelayReceiver();
  handlers.setNotificationHandler(RELAY_NOTIFICATION, (notification) => receiver.receive(notification));
  return receiver;
}

function requestInStep(
  client: McpClientLike,
  original: RequestFn,
  self: unknown,
  request: McpRequestLike,
  resultSchema: unknown,
  requestOptions: unknown,
  receiver: RelayReceiver | undefined,
): Promise<unknown> {
  const method = request.method as McpStepMethod;
  const params = request.params ?? {};
  const { toolName, args, mcp } = describeCall(client, method, params);
  const captureContent = als.getStore()?.run.captureContent === true;
  const toolCallId = newSpanId();
  const step = startStep('agent.tool.started', {
    toolName,
    toolCallId,
    argKeys: argKeys(args),
    args: captureContent ? args : undefined,
    mcp,
  });
  let pending: Promise<unknown>;
  let relayed: RelayedCall | undefined;
  const settle = (settled: boolean, outcome: unknown): void => {
    const ending = endingOf(method, settled, outcome, requestOptions);
    // The relayed runs close first: inside the step, as they ran.
    if (relayed !== undefined) endRelay(receiver as RelayReceiver, relayed, ending);
    finish(step, toolName, toolCallId, outcome, ending);
  };
  try {
    pending = step.run(() => {
      // Inside the step: the link written is this step's, and its span is the active one.
      const meta = metaWithLink(params['_meta']);
      if (receiver !== undefined && meta[RELAY_META_KEY] === undefined) {
        const frame = als.getStore();
        if (frame?.spanId !== undefined) {
          meta[RELAY_META_KEY] = toolCallId;
          relayed = receiver.begin(toolCallId, frame.run.runId, frame.spanId, frame.bus, mcp.serverName);
        }
      }
      const sent = { ...request, params: { ...params, _meta: meta } };
      return original.call(self, sent, resultSchema, requestOptions);
    });
  } catch (error) {
    settle(false, error);
    throw error;
  }
  return Promise.resolve(pending).then(
    (result) => {
      settle(true, result);
      return result;
    },
    (error: unknown) => {
      settle(false, error);
      throw error;
    },
  );
}

/** How a call ended: failed or not, and as what. */
interface Ending {
  /** The error text; undefined for a success. */
  readonly failure: string | undefined;
  readonly errorType: string | undefined;
  readonly aborted: boolean;
}

/** How a call that resolved (`settled`) or rejected with `outcome` ended. Never throws: every reader here never does. */
function endingOf(method: string, settled: boolean, outcome: unknown, requestOptions: unknown): Ending {
  const aborted = !settled && abortedByCaller(requestOptions);
  const failure = settled ? mcpResultFailure(method, outcome) : errorText(outcome);
  // A JSON-RPC error is its code (-32602); an abort keeps its class, though the SDK
  // wraps it in an McpError of code -32001 (a timeout's): no code came back for it.
  const errorType = failure === undefined ? undefined : settled ? MCP_TOOL_ERROR : aborted ? errorTypeOf(outcome) : mcpErrorType(outcome);
  return { failure, errorType, aborted };
}

/** Ends the relay of a call: its unfinished relayed runs close with the call's outcome. Never throws. */
function endRelay(receiver: RelayReceiver, call: RelayedCall, ending: Ending): void {
  try {
    const status = ending.failure === undefined ? 'ok' : ending.aborted ? 'aborted' : 'error';
    receiver.end(call, { status, error: ending.failure, errorType: ending.errorType });
  } catch {
    // Telemetry never changes what the call returns or throws.
  }
}

type McpData = NonNullable<EventData<'agent.tool.started'>['mcp']>;

/** The step's name, arguments and MCP details; reads only what it can, never throws. */
function describeCall(client: McpClientLike, method: McpStepMethod, params: Readonly<Record<string, unknown>>) {
  let server: { readonly name?: unknown; readonly version?: unknown } | undefined;
  let transport: unknown;
  try {
    server = client.getServerVersion?.();
    transport = client.transport;
  } catch {
    // A client that cannot tell: the step goes without.
  }
  const { toolName, args, uri, promptName } = mcpStepName(method, params);
  const url = urlOf(transport);
  const serverAddress = url === undefined ? undefined : hostOf(url);
  const mcp: McpData = {
    method,
    side: 'client',
    serverName: stringOf(server?.name),
    serverVersion: stringOf(server?.version),
    sessionId: readString(transport, 'sessionId'),
    protocolVersion: readString(transport, 'protocolVersion'),
    transport: transportOf(transport),
    serverAddress,
    // The conventions ask for server.port only beside server.address.
    serverPort: url === undefined || serverAddress === undefined ? undefined : portOf(url),
    requestId: undefined,
    resourceUri: uri,
    promptName,
  };
  return { toolName, args, mcp };
}

function finish(step: Step<'agent.tool.started'>, toolName: string, toolCallId: string, outcome: unknown, ending: Ending): void {
  try {
    const at = now();
    step.end({
      toolName,
      toolCallId,
      success: ending.failure === undefined,
      durationMs: Math.max(0, at - step.startTime),
      outputPreview: ending.failure === undefined ? mcpResultPreview(outcome) : undefined,
      // The result itself only when the run captures content (the args likewise).
      result: ending.failure === undefined && step.captureContent ? capturedValue(outcome) : undefined,
      error: ending.failure,
      errorType: ending.errorType,
    });
  } catch {
    // Telemetry never changes what the call returns or throws.
  }
}

/** True when the caller's own `signal` (a request option) has aborted. Never throws. */
function abortedByCaller(requestOptions: unknown): boolean {
  try {
    return (requestOptions as { signal?: { aborted?: unknown } } | null | undefined)?.signal?.aborted === true;
  } catch {
    return false;
  }
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A string property of a transport the SDK made (a getter on its prototype), or undefined. */
function readString(target: unknown, key: string): string | undefined {
  if (typeof target !== 'object' || target === null) return undefined;
  try {
    return stringOf((target as Record<string, unknown>)[key]);
  } catch {
    return undefined;
  }
}

/**
 * The URL an HTTP client transport sends to: the SDK's Streamable HTTP and
 * SSE transports keep the URL they were constructed with as `_url` (a
 * TypeScript-private field, a plain property at runtime). Only a `URL` with
 * an http(s) scheme counts; anything else (stdio has none, a later SDK may
 * rename it) is undefined, and the step goes without an address.
 */
function urlOf(target: unknown): URL | undefined {
  if (typeof target !== 'object' || target === null) return undefined;
  try {
    const url = (target as { _url?: unknown })._url;
    return url instanceof URL && (url.protocol === 'http:' || url.protocol === 'https:') ? url : undefined;
  } catch {
    return undefined;
  }
}

/** `server.address`: the URL's host name, an IPv6 literal without its brackets. */
function hostOf(url: URL): string | undefined {
  const host = url.hostname;
  if (host === '') return undefined;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `server.port`: the URL's port, or its scheme's default (a URL leaves `port` empty for it). */
function portOf(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/**
 * `network.transport` of the SDK's client transports: `pipe` for stdio (a
 * child process: it has a `pid`), `tcp` for Streamable HTTP and SSE (an
 * HTTP transport has a `sessionId` accessor); undefined otherwise.
 */
function transportOf(target: unknown): string | undefined {
  if (typeof target !== 'object' || target === null) return undefined;
  if ('pid' in target) return 'pipe';
  if ('sessionId' in target && 'protocolVersion' in target) return 'tcp';
  return undefined;
}
