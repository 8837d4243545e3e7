/**
 * Tutorial 52: observability basics (a port of the Locus tutorial of the same
 * number). Run it with `npm start`.
 *
 * agentbus publishes a typed event for every step an agent takes: model
 * calls, token usage, thinking, tool calls, termination. Telemetry is opt-in:
 *
 * 1. With no run open, an agent records nothing and the bus is never built.
 * 2. Inside `runContext`, every step goes to the bus; subscribe to watch the
 *    run live.
 * 3. The bus keeps each run's recent history, so a subscriber that arrives
 *    after the run finished still gets every event.
 *
 * The agent uses `ScriptedModel`, a deterministic offline model: no API key,
 * same output every time. Swap in `new OpenAICompatibleModel()` (reads
 * OPENAI_BASE_URL / OPENAI_API_KEY / OPENAI_MODEL) to use a real one.
 */
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { getEventBus, peekEventBus, runContext, type StreamEvent } from 'agentbus';
import { Agent, ScriptedModel, defineTool } from 'agentbus/agent';

// --- Tools ------------------------------------------------------------------

const FORECASTS: Record<string, { tempC: number; sky: string }> = {
  lisbon: { tempC: 21, sky: 'sunny' },
  paris: { tempC: 14, sky: 'light rain' },
  tokyo: { tempC: 18, sky: 'cloudy' },
  oslo: { tempC: 3, sky: 'snow showers' },
};

const weather = defineTool({
  name: 'get_weather',
  description: 'Current weather for a city, from canned data.',
  input: z.object({ city: z.string().describe('The city, e.g. "Paris"') }),
  execute({ city }) {
    // The scripted model passes the whole question as `city`; find the city in it.
    const key = Object.keys(FORECASTS).find((name) => city.toLowerCase().includes(name));
    if (key === undefined) throw new Error(`no forecast for "${city}"; try one of: ${Object.keys(FORECASTS).join(', ')}`);
    const { tempC, sky } = FORECASTS[key] as { tempC: number; sky: string };
    return `${key[0]?.toUpperCase()}${key.slice(1)}: ${tempC}°C, ${sky}`;
  },
});

const calculator = defineTool({
  name: 'calculator',
  description: 'Arithmetic on two numbers: add, subtract, multiply or divide.',
  input: z.object({
    a: z.number(),
    b: z.number(),
    op: z.enum(['add', 'subtract', 'multiply', 'divide']),
  }),
  execute({ a, b, op }) {
    if (op === 'divide' && b === 0) throw new RangeError('cannot divide by zero');
    const value = op === 'add' ? a + b : op === 'subtract' ? a - b : op === 'multiply' ? a * b : a / b;
    const sign = { add: '+', subtract: '-', multiply: '×', divide: '÷' }[op];
    return `${a} ${sign} ${b} = ${value}`;
  },
});

function makeAgent(): Agent {
  return new Agent({
    name: 'travel-assistant',
    model: new ScriptedModel(),
    tools: [weather, calculator],
    instructions: 'You are a concise travel assistant. Use tools for facts.',
    maxIterations: 4,
  });
}

// --- Printing events ----------------------------------------------------------

/** Prints events indented by nesting: a step's events sit under the step that encloses it. */
class EventPrinter {
  readonly #depth = new Map<string, number>();
  count = 0;

  print(event: StreamEvent): void {
    this.count++;
    const depth = this.#depthOf(event);
    const indent = '  '.repeat(depth);
    const seq = event.seq === 0 ? '  -' : String(event.seq).padStart(3);
    console.log(`  ${seq}  ${indent}${event.eventType.padEnd(30 - indent.length)} ${detail(event)}`);
  }

  #depthOf(event: StreamEvent): number {
    if (event.eventType.startsWith('run.')) return 0;
    const own = event.spanId === undefined ? undefined : this.#depth.get(event.spanId);
    if (own !== undefined) {
      // A closing event sits level with its opening event; agent.tokens.used sits inside its model call.
      return event.eventType === 'agent.tokens.used' ? own + 1 : own;
    }
    const parent = event.parentSpanId === undefined ? 0 : (this.#depth.get(event.parentSpanId) ?? 0);
    const depth = parent + 1;
    if (event.spanId !== undefined) this.#depth.set(event.spanId, depth);
    return depth;
  }
}

function short(text: unknown, max = 56): string {
  const s = typeof text === 'string' ? text : JSON.stringify(text);
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** A short, human-readable summary of an event's payload. */
function detail(event: StreamEvent): string {
  const d = event.data as Record<string, unknown>;
  switch (event.eventType) {
    case 'run.started':
      return d.name === undefined ? '' : `name=${JSON.stringify(d.name)}`;
    case 'run.completed':
      return `status=${String(d.status)}`;
    case 'agent.invocation.started':
      return `agent=${String(d.agentName)} model=${String(d.provider)}/${String(d.model)}`;
    case 'agent.model.started':
      return `messages=${String(d.messageCount)} tools=${String(d.toolCount)}`;
    case 'agent.tokens.used':
      return `in=${String(d.inputTokens)} out=${String(d.outputTokens)} total=${String(d.totalTokens)}`;
    case 'agent.model.completed':
      return `stop=${String(d.stopReason)} toolCalls=${String(d.toolCallCount)}`;
    case 'agent.think':
      return `#${String(d.iteration)} ${short(d.reasoningPreview)}`;
    case 'agent.tool.started':
      return `${String(d.toolName)}(${(d.argKeys as string[]).join(', ')})`;
    case 'agent.tool.completed':
      return d.success ? `ok → ${short(d.outputPreview, 48)}` : `failed: ${short(d.error, 48)}`;
    case 'agent.terminate':
      return `reason=${String(d.reason)} iterations=${String(d.iterationsUsed)} toolCalls=${String(d.totalToolCalls)}`;
    default:
      return short(d);
  }
}

// --- Telemetry hook -------------------------------------------------------------

/**
 * When OTEL_EXPORTER_OTLP_ENDPOINT is set, exports every run as OpenTelemetry
 * GenAI spans and metrics over OTLP/HTTP (e.g. to the collector of
 * `docker compose up -d`, then open Jaeger at http://localhost:16686).
 * Otherwise it loads nothing OpenTelemetry: `agentbus/otel` is imported
 * dynamically, only here.
 *
 * Called after Part 1 on purpose: instrumenting builds the bus, and Part 1
 * shows that nothing builds it while no run is open.
 * Returns a shutdown that detaches the bridge and flushes the exporters.
 */
async function maybeSetupTelemetry(): Promise<() => Promise<void>> {
  if (!process.env.OTEL_EXPORTER_OTLP_ENDPOINT) return async () => {};
  const { setupOtlp, instrumentOtel } = await import('agentbus/otel');
  const otel = await setupOtlp({
    serviceName: process.env.OTEL_SERVICE_NAME ?? 'agentbus-tutorial-52',
    // A short example should not wait 10 s at exit when the collector is down.
    exportTimeoutMillis: 3_000,
  });
  const bridge = instrumentOtel();
  console.log(`(exporting spans and metrics to ${process.env.OTEL_EXPORTER_OTLP_ENDPOINT})`);
  return async () => {
    bridge.shutdown();
    await otel.shutdown();
  };
}

// --- The three parts ------------------------------------------------------------

function heading(title: string): void {
  console.log(`\n${title}\n${'-'.repeat(title.length)}`);
}

/** Part 1: no run open, so the agent records nothing and the bus is never built. */
async function part1(): Promise<void> {
  heading('Part 1: no runContext, no telemetry');
  const result = await makeAgent().run('What is the weather in Lisbon?');
  console.log(`  agent reply: ${result.output}`);
  console.log(`  (${result.iterations} model calls, ${result.toolCalls.length} tool call)`);
  if (peekEventBus() !== undefined) throw new Error('running an agent outside runContext must not build the event bus');
  console.log('  peekEventBus() is undefined: the bus was never built, nothing was recorded.');
}

/** Part 2: inside runContext, subscribe to the run and watch every event arrive. */
async function part2(): Promise<number> {
  heading('Part 2: inside runContext, watching the run live');
  const printer = new EventPrinter();
  let watching: Promise<void> | undefined;
  let runId = '';
  const result = await runContext(
    async (id) => {
      runId = id;
      console.log(`  run ${id}`);
      // subscribe() registers at once and replays what is already there
      // (run.started), so no event is missed.
      const subscription = getEventBus().subscribe(id);
      watching = (async () => {
        for await (const event of subscription) printer.print(event);
      })();
      return makeAgent().run("What's the weather like in Paris today?");
    },
    { name: 'tutorial-52 part 2' },
  );
  // Closed after runContext returns, so that run.completed is part of the stream.
  // The subscriber gets what is queued, then its loop ends.
  getEventBus().closeStream(runId);
  await watching;
  console.log(`  agent reply: ${result.output}`);
  console.log(`  saw ${printer.count} events live; the stream is closed.`);
  return printer.count;
}

/** Part 3: run first, close the stream, subscribe afterwards: the history replays. */
async function part3(): Promise<number> {
  heading('Part 3: a late subscriber gets the history');
  const { runId, result } = await runContext(
    async (id) => ({ runId: id, result: await makeAgent().run('Please add two and two.') }),
    { name: 'tutorial-52 part 3' },
  );
  getEventBus().closeStream(runId);
  console.log(`  agent reply: ${result.output}`);
  console.log(`  run ${runId} finished and its stream is closed; subscribing now:`);
  const printer = new EventPrinter();
  const subscription = getEventBus().subscribe(runId);
  for await (const event of subscription) printer.print(event);
  console.log(`  replayed ${printer.count} events from history, then the subscription ended (${subscription.endReason}).`);
  return printer.count;
}

/** Runs the tutorial. */
export async function main(): Promise<void> {
  console.log('agentbus tutorial 52: observability basics');
  await part1();
  const shutdown = await maybeSetupTelemetry();
  try {
    await part2();
    await part3();
  } finally {
    await shutdown();
  }
  console.log('\nDone. Next: stream these events over SSE (agentbus/sse) or export them as OpenTelemetry spans (agentbus/otel).');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
