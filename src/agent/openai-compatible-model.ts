/**
 * A {@link Model} that speaks the OpenAI Chat Completions protocol over
 * `fetch`: OpenAI itself, and the many servers that copy it (vLLM, Ollama,
 * LM Studio, llama.cpp, gateways). No SDK dependency.
 */
import { z } from 'zod';
import type { TokenUsage } from '../trace.js';
import type { Message, Model, ModelRequest, ModelRequestInfo, ModelResponse, ToolCall } from './model.js';
import { shownValue } from '../options.js';
import { shownJson, thrownText } from './value-text.js';

/** Options of {@link OpenAICompatibleModel}. */
export interface OpenAICompatibleModelOptions {
  /** API root, e.g. `http://127.0.0.1:11434/v1`. Default `OPENAI_BASE_URL`, else `https://api.openai.com/v1`. */
  baseURL?: string;
  /** Bearer token. Default `OPENAI_API_KEY`; no `Authorization` header when neither is set. */
  apiKey?: string;
  /** Model name. Default `OPENAI_MODEL`; one of the two is required. */
  model?: string;
  /** Provider name in events (`gen_ai.provider.name`). Default `openai`. */
  provider?: string;
  /** The fetch to use. Default the global `fetch`. */
  fetch?: typeof fetch;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Sampling temperature sent with every request (`temperature`). Default: none sent, the server's default. */
  temperature?: number;
  /** Most tokens to generate per request (`max_tokens`, which OpenAI-compatible servers accept). Default: none sent. */
  maxTokens?: number;
  /** Nucleus sampling sent with every request (`top_p`). Default: none sent. */
  topP?: number;
}

/** The server answered with an HTTP error status. */
export class ModelHttpError extends Error {
  /** HTTP status code. */
  readonly status: number;
  /** Response body (as text, possibly cut). */
  readonly body: string;

  constructor(message: string, status: number, body: string) {
    super(message);
    this.name = 'ModelHttpError';
    this.status = status;
    this.body = body;
  }
}

const BODY_EXCERPT = 500;

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= BODY_EXCERPT ? flat : `${flat.slice(0, BODY_EXCERPT - 1)}…`;
}

const count = z.number().int().nonnegative();

const responseSchema = z.object({
  id: z.string().nullish(),
  model: z.string().nullish(),
  choices: z
    .array(
      z.object({
        finish_reason: z.string().nullish(),
        message: z.object({
          content: z.string().nullish(),
          reasoning_content: z.string().nullish(),
          reasoning: z.string().nullish(),
          tool_calls: z
            .array(
              z.object({
                id: z.string(),
                type: z.literal('function').optional(),
                function: z.object({ name: z.string(), arguments: z.string().nullish() }),
              }),
            )
            .nullish(),
        }),
      }),
    )
    .min(1),
  usage: z
    .object({
      prompt_tokens: count,
      completion_tokens: count,
      // cache_write_tokens: tokens written to the provider's cache, as OpenRouter reports them (OpenAI reports none).
      prompt_tokens_details: z.object({ cached_tokens: count.nullish(), cache_write_tokens: count.nullish() }).nullish(),
      completion_tokens_details: z.object({ reasoning_tokens: count.nullish() }).nullish(),
    })
    .nullish(),
});

type ChatResponse = z.infer<typeof responseSchema>;

function toWireMessage(message: Message): Record<string, unknown> {
  switch (message.role) {
    case 'system':
    case 'user':
      return { role: message.role, content: message.content };
    case 'assistant': {
      if (message.toolCalls.length === 0) return { role: 'assistant', content: message.content };
      return {
        role: 'assistant',
        content: message.content === '' ? null : message.content,
        tool_calls: message.toolCalls.map((call) => ({
          id: call.id,
          type: 'function',
          function: {
            name: call.name,
            // Unparseable arguments go back verbatim, so the model sees what it sent.
            arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments ?? {}),
          },
        })),
      };
    }
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
  }
}

function parseToolCall(raw: { id: string; function: { name: string; arguments?: string | null | undefined } }): ToolCall {
  const text = raw.function.arguments ?? '';
  const call: ToolCall = { id: raw.id, name: raw.function.name, arguments: {} };
  if (text.trim() === '') return call;
  try {
    call.arguments = JSON.parse(text);
  } catch (error) {
    call.arguments = text;
    call.argumentsError = `arguments are not valid JSON (${(error as Error).message}): ${excerpt(text).slice(0, 200)}`;
  }
  return call;
}

function toUsage(usage: ChatResponse['usage']): TokenUsage | undefined {
  if (usage == null) return undefined;
  const out: TokenUsage = { inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens };
  const cached = usage.prompt_tokens_details?.cached_tokens;
  if (cached != null) out.cacheReadInputTokens = cached;
  const written = usage.prompt_tokens_details?.cache_write_tokens;
  if (written != null) out.cacheCreationInputTokens = written;
  const reasoning = usage.completion_tokens_details?.reasoning_tokens;
  if (reasoning != null) out.reasoningOutputTokens = reasoning;
  return out;
}

/** The host and port requests to `url` go to: `server.address` (an IPv6 address without its brackets) and `server.port` (the scheme's default when the URL names none). */
function serverOf(url: URL): { serverAddress: string; serverPort: number | undefined } {
  const host = url.hostname;
  const serverAddress = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : url.protocol === 'http:' ? 80 : undefined;
  return { serverAddress, serverPort: port };
}

function numberOption(name: string, value: unknown, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const ok = typeof value === 'number' && Number.isFinite(value) && (!integer || (Number.isInteger(value) && value > 0));
  if (!ok) {
    throw new TypeError(`OpenAICompatibleModel: ${name} must be ${integer ? 'a positive integer' : 'a finite number'} or undefined, got ${shownJson(value)}`);
  }
  return value;
}

/**
 * A model behind an OpenAI-compatible `POST {baseURL}/chat/completions`.
 *
 * Tool-call arguments that are not valid JSON do not fail the call: the tool
 * call carries an `argumentsError`, which the agent returns to the model as
 * the tool's error. HTTP errors reject with a {@link ModelHttpError} giving
 * the status and an excerpt of the body.
 */
export class OpenAICompatibleModel implements Model {
  readonly name: string;
  readonly provider: string;
  /** The API root, without a trailing slash. */
  readonly baseURL: string;
  /** The server's host and port (from `baseURL`) and the sampling parameters every request sends. */
  readonly requestInfo: ModelRequestInfo;
  readonly #apiKey: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #headers: Record<string, string>;

  /** @throws {TypeError} naming the option that is missing or of the wrong type. */
  constructor(options: OpenAICompatibleModelOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`OpenAICompatibleModel: options must be an OpenAICompatibleModelOptions object ({ model, baseURL, ... }) or undefined, got ${shownValue(options)}`);
    }
    const model: unknown = options.model ?? process.env.OPENAI_MODEL;
    if (model === undefined || model === '') {
      throw new TypeError('OpenAICompatibleModel: model is required: pass { model } or set OPENAI_MODEL');
    }
    // The model and provider names go into every model event, where the catalogue wants strings.
    if (typeof model !== 'string') throw new TypeError(`OpenAICompatibleModel: model must be a string, got ${shownValue(model)}`);
    const provider: unknown = options.provider ?? 'openai';
    if (typeof provider !== 'string') throw new TypeError(`OpenAICompatibleModel: provider must be a string or undefined, got ${shownValue(provider)}`);
    const baseURL = options.baseURL ?? process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1';
    let url: URL;
    try {
      url = new URL(baseURL);
    } catch {
      throw new TypeError(`OpenAICompatibleModel: baseURL must be an absolute URL, got ${shownJson(baseURL)}`);
    }
    const temperature = numberOption('temperature', options.temperature, false);
    const maxTokens = numberOption('maxTokens', options.maxTokens, true);
    const topP = numberOption('topP', options.topP, false);
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw new TypeError('OpenAICompatibleModel: fetch must be a function');
    this.name = model;
    this.provider = provider;
    this.baseURL = baseURL.replace(/\/+$/, '');
    this.#apiKey = options.apiKey ?? (process.env.OPENAI_API_KEY || undefined);
    this.#fetch = fetchImpl;
    this.#headers = { ...options.headers };
    // Only what each request sends: no `stream`, as it never streams (the conventions read an absent one as false).
    this.requestInfo = Object.freeze({ ...serverOf(url), temperature, maxTokens, topP });
  }

  async generate(request: ModelRequest): Promise<ModelResponse> {
    const url = `${this.baseURL}/chat/completions`;
    const body: Record<string, unknown> = {
      model: this.name,
      messages: request.messages.map(toWireMessage),
    };
    const { temperature, maxTokens, topP } = this.requestInfo;
    if (temperature !== undefined) body.temperature = temperature;
    if (maxTokens !== undefined) body.max_tokens = maxTokens;
    if (topP !== undefined) body.top_p = topP;
    if (request.tools.length > 0) {
      body.tools = request.tools.map((t) => ({
        type: 'function',
        function: { name: t.name, description: t.description, parameters: t.parameters },
      }));
    }
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', ...this.#headers };
    if (this.#apiKey !== undefined) headers.authorization = `Bearer ${this.#apiKey}`;

    let response: Response;
    try {
      response = await this.#fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: request.signal ?? null });
    } catch (error) {
      if (request.signal?.aborted) throw request.signal.reason ?? error;
      // The fetch may be the caller's (options.fetch) and throw anything: its text never throws.
      let cause: string | undefined;
      try {
        const message: unknown = (error as { cause?: { message?: unknown } } | null)?.cause?.message;
        cause = typeof message === 'string' ? message : undefined;
      } catch {
        cause = undefined;
      }
      throw new Error(`OpenAICompatibleModel: POST ${url} failed: ${thrownText(error)}${cause ? ` (${cause})` : ''}`, { cause: error });
    }
    const text = await response.text();
    if (!response.ok) {
      throw new ModelHttpError(
        `OpenAICompatibleModel: POST ${url} failed with HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}: ${excerpt(text) || '(empty body)'}`,
        response.status,
        text.slice(0, 4096),
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`OpenAICompatibleModel: POST ${url} returned a body that is not JSON: ${excerpt(text) || '(empty body)'}`);
    }
    const parsed = responseSchema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
      throw new Error(`OpenAICompatibleModel: POST ${url} returned an unexpected response: ${issues}`);
    }
    const choice = parsed.data.choices[0] as ChatResponse['choices'][number];
    const toolCalls = (choice.message.tool_calls ?? []).map(parseToolCall);
    return {
      content: choice.message.content ?? '',
      toolCalls,
      stopReason: choice.finish_reason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop'),
      usage: toUsage(parsed.data.usage),
      reasoning: choice.message.reasoning_content ?? choice.message.reasoning ?? undefined,
      responseModel: parsed.data.model ?? undefined,
      responseId: parsed.data.id ?? undefined,
    };
  }
}
