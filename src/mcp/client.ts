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
import { argKeys, errorText, errorTypeOf, preview } from '../payload-text.js';
import { metaWithLink } from './meta.js';
import { MCP_METHOD_STEPS, MCP_TOOL_ERROR, mcpErrorType, mcpResultFailure, mcpResultPreview, type McpStepMethod } from './steps.js';

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
}

const INSTRUMENTED = Symbol.for('agentbus.mcp.client');

interface ClientState {
  readonly original: McpClientLike['request'];
  readonly wrapper: McpClientLike['request'];
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
  const original = (client.request as unknown as RequestFn);
  const wrapper: RequestFn = function instrumentedRequest(this: unknown, request, resultSchema, requestOptions) {
    // The idle path: no run here, or a method that is not a step: the caller's request as it is.
    if (!isRecording() || !methods.has((request as McpRequestLike | undefined)?.method as string)) {
      return original.call(this, request, resultSchema, requestOptions);
    }
    return requestInStep(client, original, this, request, resultSchema, requestOptions);
  };
  const state: ClientState = { original: original as never, wrapper: wrapper as never };
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
  if (target['request'] !== state.wrapper) return;
  // The original was the prototype's (the usual case): removing the own property restores it.
  if (Object.hasOwn(target, 'request')) delete target['request'];
  if (client.request !== state.original) target['request'] = state.original;
}

function requestInStep(
  client: McpClientLike,
  original: RequestFn,
  self: unknown,
  request: McpRequestLike,
  resultSchema: unknown,
  requestOptions: unknown,
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
  try {
    pending = step.run(() => {
      // Inside the step: the link written is this step's, and its span is the active one.
      const sent = { ...request, params: { ...params, _meta: metaWithLink(params['_meta']) } };
      return original.call(self, sent, resultSchema, requestOptions);
    });
  } catch (error) {
    finish(step, toolName, toolCallId, method, false, error, abortedByCaller(requestOptions));
    throw error;
  }
  return Promise.resolve(pending).then(
    (result) => {
      finish(step, toolName, toolCallId, method, true, result, false);
      return result;
    },
    (error: unknown) => {
      finish(step, toolName, toolCallId, method, false, error, abortedByCaller(requestOptions));
      throw error;
    },
  );
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
  const uri = method === 'resources/read' ? stringOf(params['uri']) : undefined;
  const promptName = method === 'prompts/get' ? stringOf(params['name']) : undefined;
  const toolName = method === 'tools/call'
    ? stringOf(params['name']) ?? method
    : method === 'resources/read' ? `${method} ${preview(uri ?? '')}` : `${method} ${promptName ?? ''}`.trimEnd();
  const args = method === 'resources/read' ? { uri } : params['arguments'];
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

function finish(
  step: Step<'agent.tool.started'>,
  toolName: string,
  toolCallId: string,
  method: string,
  settled: boolean,
  outcome: unknown,
  aborted: boolean,
): void {
  try {
    const failure = settled ? mcpResultFailure(method, outcome) : errorText(outcome);
    // A JSON-RPC error is its code (-32602); an abort keeps its class, though the SDK
    // wraps it in an McpError of code -32001 (a timeout's): no code came back for it.
    const errorType = failure === undefined ? undefined : settled ? MCP_TOOL_ERROR : aborted ? errorTypeOf(outcome) : mcpErrorType(outcome);
    const at = now();
    step.end({
      toolName,
      toolCallId,
      success: failure === undefined,
      durationMs: Math.max(0, at - step.startTime),
      outputPreview: failure === undefined ? mcpResultPreview(outcome) : undefined,
      error: failure,
      errorType,
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
