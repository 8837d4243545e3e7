import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Agent, ModelHttpError, OpenAICompatibleModel, defineTool } from '../src/agent/index.js';
import { resetEventBus } from '../src/global.js';
import { runContext } from '../src/context.js';
import { data, expectStepsClosedOnce, only, runEvents } from './agent-events.js';

/** A request the server received. */
interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: any;
}

/** How the server answers one request: a status and JSON (or raw text) body, or never. */
type Reply = { status?: number; json?: unknown; text?: string } | 'hang';

/**
 * A small Chat Completions server on 127.0.0.1: answers each POST
 * /v1/chat/completions with the next queued reply and records what it got.
 */
class ChatServer {
  readonly received: Received[] = [];
  readonly #replies: Reply[] = [];
  readonly #hanging: ServerResponse[] = [];
  #onRequest: (() => void) | undefined;
  server!: Server;
  baseURL = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.baseURL = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  reply(...replies: Reply[]): void {
    this.#replies.push(...replies);
  }

  /** Resolves when the next request has arrived. */
  nextRequest(): Promise<void> {
    return new Promise((resolve) => (this.#onRequest = resolve));
  }

  reset(): void {
    this.received.length = 0;
    this.#replies.length = 0;
    for (const res of this.#hanging.splice(0)) res.destroy();
  }

  async stop(): Promise<void> {
    this.reset();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    let body: unknown = raw;
    try {
      body = JSON.parse(raw);
    } catch {
      // keep the raw text; the test will notice
    }
    this.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    this.#onRequest?.();
    const reply = req.url === '/v1/chat/completions' ? this.#replies.shift() : { status: 404, text: 'not found' };
    if (reply === 'hang') {
      this.#hanging.push(res);
      return;
    }
    if (reply === undefined) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('test server: no reply queued');
      return;
    }
    if (reply.text !== undefined) {
      res.writeHead(reply.status ?? 200, { 'content-type': 'text/plain' }).end(reply.text);
      return;
    }
    res.writeHead(reply.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(reply.json));
  }
}

function completion(message: Record<string, unknown>, finish: string, usage?: Record<string, unknown>): unknown {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'test-model',
    choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finish }],
    ...(usage === undefined ? {} : { usage }),
  };
}

const weather = defineTool({
  name: 'get_weather',
  description: 'Current weather for a city.',
  input: z.object({ city: z.string() }),
  execute: ({ city }) => ({ city, tempC: 14 }),
});

const server = new ChatServer();
let runSeq = 0;

beforeAll(() => server.start());
afterAll(() => server.stop());
beforeEach(() => resetEventBus());
afterEach(() => server.reset());

function model(extra: Partial<ConstructorParameters<typeof OpenAICompatibleModel>[0]> = {}): OpenAICompatibleModel {
  return new OpenAICompatibleModel({ baseURL: server.baseURL, apiKey: 'sk-test', model: 'test-model', ...extra });
}

describe('OpenAICompatibleModel against a Chat Completions server', () => {
  it('runs an agent through tool calls and reports usage, sending the protocol the server expects', async () => {
    server.reply(
      {
        json: completion(
          {
            content: null,
            tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
          },
          'tool_calls',
          {
            prompt_tokens: 50,
            completion_tokens: 12,
            total_tokens: 62,
            prompt_tokens_details: { cached_tokens: 32 },
            completion_tokens_details: { reasoning_tokens: 5 },
          },
        ),
      },
      { json: completion({ content: 'It is 14°C in Paris.', reasoning_content: 'The tool said 14.' }, 'stop', { prompt_tokens: 80, completion_tokens: 9 }) },
    );
    const runId = `oai-${++runSeq}`;
    const agent = new Agent({ model: model(), tools: [weather], instructions: 'Be brief.' });
    const result = await runContext(() => agent.run('Weather in Paris?'), { runId });

    expect(result.output).toBe('It is 14°C in Paris.');
    expect(result.usage).toEqual({ inputTokens: 130, outputTokens: 21, totalTokens: 151, cacheReadInputTokens: 32, reasoningOutputTokens: 5 });

    expect(server.received).toHaveLength(2);
    const [first, second] = server.received as [Received, Received];
    expect(first.method).toBe('POST');
    expect(first.url).toBe('/v1/chat/completions');
    expect(first.headers.authorization).toBe('Bearer sk-test');
    expect(first.headers['content-type']).toBe('application/json');
    expect(first.body).toEqual({
      model: 'test-model',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather in Paris?' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather for a city.',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
          },
        },
      ],
    });
    expect(second.body.messages.slice(2)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_abc', content: '{"city":"Paris","tempC":14}' },
    ]);

    const events = runEvents(runId);
    expectStepsClosedOnce(events);
    const tokens = events.filter((e) => e.eventType === 'agent.tokens.used').map(data);
    expect(tokens).toEqual([
      { model: 'test-model', provider: 'openai', inputTokens: 50, outputTokens: 12, totalTokens: 62, cacheReadInputTokens: 32, reasoningOutputTokens: 5 },
      { model: 'test-model', provider: 'openai', inputTokens: 80, outputTokens: 9, totalTokens: 89 },
    ]);
    expect(data(only(events, 'agent.tool.started'))).toMatchObject({ toolName: 'get_weather', toolCallId: 'call_abc', argKeys: ['city'] });
    const thinks = events.filter((e) => e.eventType === 'agent.think').map(data);
    expect(thinks[1]).toMatchObject({ reasoningPreview: 'The tool said 14.', hasToolCalls: false });
  });

  it('fails an HTTP 500 with the status and an excerpt of the body, and the agent terminates with error', async () => {
    server.reply({ status: 500, json: { error: { message: 'upstream exploded', type: 'server_error' } } });
    const runId = `oai-${++runSeq}`;
    const error = await runContext(() => new Agent({ model: model() }).run('hi'), { runId }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelHttpError);
    expect((error as ModelHttpError).status).toBe(500);
    expect((error as Error).message).toBe(
      `OpenAICompatibleModel: POST ${server.baseURL}/chat/completions failed with HTTP 500 Internal Server Error: {"error":{"message":"upstream exploded","type":"server_error"}}`,
    );
    const events = runEvents(runId);
    expectStepsClosedOnce(events);
    // The class of what ended the agent, for its span's error.type.
    expect(data(only(events, 'agent.terminate'))).toMatchObject({ reason: 'error', errorType: 'ModelHttpError' });
    expect(String(data(only(events, 'agent.model.completed')).error)).toContain('HTTP 500');
  });

  it('turns malformed tool-call JSON into a tool error the model sees, and echoes the raw arguments back', async () => {
    server.reply(
      {
        json: completion(
          { content: '', tool_calls: [{ id: 'call_bad', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Par' } }] },
          'tool_calls',
        ),
      },
      { json: completion({ content: 'Sorry, let me retry later.' }, 'stop') },
    );
    const runId = `oai-${++runSeq}`;
    const result = await runContext(() => new Agent({ model: model(), tools: [weather] }).run('Weather?'), { runId });
    expect(result.reason).toBe('completed');
    expect(result.toolCalls[0]?.isError).toBe(true);
    const messages = (server.received[1] as Received).body.messages as Array<Record<string, any>>;
    expect(messages[1]?.tool_calls[0].function.arguments).toBe('{"city": "Par');
    expect(messages[2]?.role).toBe('tool');
    expect(messages[2]?.content).toMatch(/^Error: invalid arguments for tool "get_weather": arguments are not valid JSON \(.+\): \{"city": "Par$/);
    const completed = only(runEvents(runId), 'agent.tool.completed');
    expect(data(completed)).toMatchObject({ success: false, toolCallId: 'call_bad' });
  });

  it('aborts a request in flight: the agent terminates with aborted and rejects with an AbortError', async () => {
    server.reply('hang');
    const controller = new AbortController();
    const runId = `oai-${++runSeq}`;
    const arrived = server.nextRequest();
    const running = runContext(() => new Agent({ model: model() }).run('hi', { signal: controller.signal }), { runId });
    await arrived;
    controller.abort();
    await expect(running).rejects.toMatchObject({ name: 'AbortError' });
    const events = runEvents(runId);
    expectStepsClosedOnce(events);
    expect(data(only(events, 'agent.terminate'))).toMatchObject({ reason: 'aborted', iterationsUsed: 1, errorType: 'AbortError' });
    expect(data(only(events, 'run.completed'))).toMatchObject({ status: 'aborted', errorType: 'AbortError' });
  });

  it('reports a body that is not JSON, or not a completion, precisely', async () => {
    server.reply({ text: '<html>gateway</html>' }, { json: { choices: [] } });
    await expect(model().generate({ messages: [{ role: 'user', content: 'x' }], tools: [] })).rejects.toThrow(
      `OpenAICompatibleModel: POST ${server.baseURL}/chat/completions returned a body that is not JSON: <html>gateway</html>`,
    );
    await expect(model().generate({ messages: [{ role: 'user', content: 'x' }], tools: [] })).rejects.toThrow(
      'returned an unexpected response: choices: Too small: expected array to have >=1 items',
    );
  });

  it('takes its defaults from OPENAI_BASE_URL, OPENAI_API_KEY and OPENAI_MODEL, and omits tools and auth when absent', async () => {
    const saved = { base: process.env.OPENAI_BASE_URL, key: process.env.OPENAI_API_KEY, model: process.env.OPENAI_MODEL };
    try {
      process.env.OPENAI_BASE_URL = `${server.baseURL}/`;
      process.env.OPENAI_MODEL = 'env-model';
      delete process.env.OPENAI_API_KEY;
      server.reply({ json: completion({ content: 'hello' }, 'stop') });
      const fromEnv = new OpenAICompatibleModel();
      expect(fromEnv.name).toBe('env-model');
      const response = await fromEnv.generate({ messages: [{ role: 'user', content: 'hi' }], tools: [] });
      expect(response).toEqual({
        content: 'hello', toolCalls: [], stopReason: 'stop', usage: undefined, reasoning: undefined, responseModel: 'test-model', responseId: 'chatcmpl-1',
      });
      const request = server.received[0] as Received;
      expect(request.url).toBe('/v1/chat/completions');
      expect(request.headers.authorization).toBeUndefined();
      expect(request.body).toEqual({ model: 'env-model', messages: [{ role: 'user', content: 'hi' }] });

      delete process.env.OPENAI_MODEL;
      expect(() => new OpenAICompatibleModel()).toThrow('OpenAICompatibleModel: model is required: pass { model } or set OPENAI_MODEL');
      expect(() => new OpenAICompatibleModel({ model: 'm', baseURL: 'not a url' })).toThrow(
        'OpenAICompatibleModel: baseURL must be an absolute URL, got "not a url"',
      );
    } finally {
      for (const [name, value] of [['OPENAI_BASE_URL', saved.base], ['OPENAI_API_KEY', saved.key], ['OPENAI_MODEL', saved.model]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('reports where it sends requests, the parameters it sets, and what the response says of itself', async () => {
    server.reply(
      {
        json: completion(
          { content: null, tool_calls: [{ id: 'call_w', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
          'tool_calls',
          // cache_write_tokens: tokens written to the provider's cache, as OpenRouter reports them.
          { prompt_tokens: 900, completion_tokens: 10, prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 850 } },
        ),
      },
      { json: { ...(completion({ content: 'Cold.' }, 'stop', { prompt_tokens: 950, completion_tokens: 2 }) as object), id: 'chatcmpl-2', model: 'test-model-2025-01-01' } },
    );
    const runId = `oai-${++runSeq}`;
    const tuned = model({ temperature: 0.2, maxTokens: 256, topP: 0.9 });
    const port = Number(new URL(server.baseURL).port);
    expect(tuned.requestInfo).toEqual({ serverAddress: '127.0.0.1', serverPort: port, temperature: 0.2, maxTokens: 256, topP: 0.9 });
    await runContext(() => new Agent({ model: tuned, tools: [weather] }).run('Weather in Oslo?'), { runId });

    // Sent with every request, in the protocol's names.
    for (const request of server.received) expect(request.body).toMatchObject({ temperature: 0.2, max_tokens: 256, top_p: 0.9 });
    const events = runEvents(runId);
    const started = events.filter((e) => e.eventType === 'agent.model.started').map(data);
    for (const s of started) {
      expect(s).toMatchObject({ serverAddress: '127.0.0.1', serverPort: port, temperature: 0.2, maxTokens: 256, topP: 0.9 });
      // It never streams: no stream field, which the conventions read as false.
      expect(s.stream).toBeUndefined();
    }
    const completed = events.filter((e) => e.eventType === 'agent.model.completed').map(data);
    expect(completed.map((c) => [c.responseModel, c.responseId])).toEqual([['test-model', 'chatcmpl-1'], ['test-model-2025-01-01', 'chatcmpl-2']]);
    const tokens = events.filter((e) => e.eventType === 'agent.tokens.used').map(data);
    expect(tokens[0]).toMatchObject({ inputTokens: 900, cacheReadInputTokens: 0, cacheCreationInputTokens: 850 });
    expect(tokens[1]!.cacheCreationInputTokens).toBeUndefined();
    // The tool's description, as the model was told it.
    expect(data(only(events, 'agent.tool.started'))).toMatchObject({ toolName: 'get_weather', description: 'Current weather for a city.' });
  });

  it('sends no sampling parameter it was not given, and reports none', async () => {
    server.reply({ json: { choices: [{ message: { content: 'hi' }, finish_reason: 'stop' }] } });
    const runId = `oai-${++runSeq}`;
    const plain = model();
    expect(plain.requestInfo).toEqual({ serverAddress: '127.0.0.1', serverPort: Number(new URL(server.baseURL).port) });
    await runContext(() => new Agent({ model: plain }).run('hi'), { runId });
    const body = (server.received[0] as Received).body as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['messages', 'model']);
    const events = runEvents(runId);
    const started = data(only(events, 'agent.model.started'));
    for (const key of ['temperature', 'maxTokens', 'topP', 'stream']) expect(started[key], key).toBeUndefined();
    // A response without id or model: nothing made up for them.
    const completed = data(only(events, 'agent.model.completed'));
    expect(completed.responseModel).toBeUndefined();
    expect(completed.responseId).toBeUndefined();
  });

  it('takes the server from the base URL: the scheme\'s default port, an IPv6 host without brackets', () => {
    const info = (baseURL: string) => new OpenAICompatibleModel({ baseURL, model: 'm' }).requestInfo;
    expect(info('https://api.openai.com/v1')).toMatchObject({ serverAddress: 'api.openai.com', serverPort: 443 });
    expect(info('http://llm.internal/v1')).toMatchObject({ serverAddress: 'llm.internal', serverPort: 80 });
    expect(info('http://[::1]:11434/v1')).toMatchObject({ serverAddress: '::1', serverPort: 11434 });
    expect(() => new OpenAICompatibleModel({ model: 'm', temperature: Number.NaN })).toThrow(
      'OpenAICompatibleModel: temperature must be a finite number or undefined, got null',
    );
    expect(() => new OpenAICompatibleModel({ model: 'm', maxTokens: 1.5 })).toThrow(
      'OpenAICompatibleModel: maxTokens must be a positive integer or undefined, got 1.5',
    );
  });

  it('names the URL when the server cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const m = new OpenAICompatibleModel({ baseURL: `http://127.0.0.1:${port}/v1`, model: 'm' });
    await expect(m.generate({ messages: [{ role: 'user', content: 'x' }], tools: [] })).rejects.toThrow(
      `OpenAICompatibleModel: POST http://127.0.0.1:${port}/v1/chat/completions failed: fetch failed (connect ECONNREFUSED 127.0.0.1:${port})`,
    );
  });
});
