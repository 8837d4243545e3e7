/**
 * One run drawn as an indented tree (run > agent > model / tool calls), one
 * line per step start and end, with durations, counts and the run's token
 * totals.
 */
import type { StreamEvent } from '../events.js';
import { BoundedMap } from './bounded-map.js';
import type { Style } from './style.js';

// Only open spans are kept (a span's state goes at its end event), so a run
// needs a handful; the bound is for a stream that opens spans and never ends them.
const MAX_OPEN_SPANS = 256;

/** What the tree remembers of an open span. */
interface Span {
  readonly depth: number;
  readonly started: number;
  /** The token line of a model call, from `agent.tokens.used`, shown at its end. */
  tokens?: string;
}

function ms(value: number): string {
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
}

/** `1 message`, `2 messages`: the count with its noun in the number it takes. */
function counted(count: unknown, noun: string, plural = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : plural}`;
}

/** The line saying `count` events never reached this terminal. */
export function lostLine(style: Style, count: unknown): string {
  return style.red(`⚠ ${counted(count, 'event')} lost (the terminal fell behind)`);
}

/**
 * The tree of one run: turns that run's events into lines and keeps what
 * they need (span depths and start times, the run's token totals).
 */
export class RunTree {
  readonly #style: Style;
  readonly #spans = new BoundedMap<string, Span>(MAX_OPEN_SPANS);
  #inputTokens = 0;
  #outputTokens = 0;

  constructor(style: Style) {
    this.#style = style;
  }

  /**
   * The line for `e`, or `undefined` for an event shown only through others
   * (`agent.tokens.used`, an empty `agent.think`). `e` must already be
   * printable: the tree adds only its own text and colour.
   */
  line(e: StreamEvent): string | undefined {
    const { dim, red, cyan, blue, magenta } = this.#style;
    const d = e.data as Record<string, any>;
    const depth = e.eventType.startsWith('run.')
      ? 0
      : e.parentSpanId !== undefined
        ? (this.#spans.get(e.parentSpanId)?.depth ?? 1) + 1
        : 1;
    let span = e.spanId === undefined ? undefined : this.#spans.get(e.spanId);
    if (e.spanId !== undefined && span === undefined) {
      span = { depth, started: e.timestamp };
      this.#spans.set(e.spanId, span);
    }
    const pad = '  '.repeat(span?.depth ?? depth);
    const took = () => ms(e.timestamp - (span?.started ?? e.timestamp));
    const mark = (ok: boolean) => (ok ? this.#style.green('✓') : red('✗'));
    // A span ends with its closing event: nothing else refers to it after that.
    const end = () => {
      if (e.spanId !== undefined) this.#spans.delete(e.spanId);
    };
    switch (e.eventType) {
      case 'run.started':
        // Quoted by hand: JSON.stringify would double the backslashes printable() wrote.
        return `${pad}▶ run ${e.runId}${d.name ? ` "${d.name}"` : ''}`;
      case 'run.completed': {
        end();
        const inOut = `${this.#inputTokens} in / ${this.#outputTokens} out (${this.#inputTokens + this.#outputTokens} total)`;
        return `${pad}${mark(d.status === 'ok')} run ${d.status} ${dim(ms(d.durationMs))} · tokens ${inOut}${d.error ? ` · ${red(String(d.error))}` : ''}`;
      }
      case 'agent.invocation.started':
        return `${pad}▶ ${cyan(`agent ${d.agentName}`)}${d.model ? dim(` (${d.model})`) : ''}`;
      case 'agent.terminate':
        end();
        return `${pad}${mark(d.reason === 'completed')} ${cyan('agent')} ${dim(took())} · ${d.reason}, ${counted(d.iterationsUsed, 'iteration')}, ${counted(d.totalToolCalls, 'tool call')}`;
      case 'agent.model.started':
        return `${pad}▶ ${blue(`model ${d.model}`)} ${dim(`${counted(d.messageCount, 'message')}, ${counted(d.toolCount, 'tool')}`)}`;
      case 'agent.tokens.used':
        this.#inputTokens += d.inputTokens;
        this.#outputTokens += d.outputTokens;
        if (span !== undefined) span.tokens = `${d.inputTokens} in / ${d.outputTokens} out tokens`;
        return undefined;
      case 'agent.model.completed':
        end();
        return `${pad}${mark(d.error === undefined)} ${blue('model')} ${dim(took())}${span?.tokens ? ` · ${span.tokens}` : ''} · ${d.stopReason}${d.error ? ` ${red(String(d.error))}` : ''}`;
      case 'agent.think':
        return d.reasoningPreview ? `${pad}${dim(`💭 ${d.reasoningPreview}`)}` : undefined;
      case 'agent.tool.started':
        return `${pad}▶ ${magenta(`tool ${d.toolName}`)}${dim(`(${(d.argKeys as string[]).join(', ')})`)}`;
      case 'agent.tool.completed':
        end();
        return `${pad}${mark(d.success === true)} ${magenta(`tool ${d.toolName}`)} ${dim(ms(d.durationMs))}${d.success ? (d.outputPreview ? dim(` → ${d.outputPreview}`) : '') : ` ${red(String(d.error ?? 'failed'))}`}`;
      case 'multiagent.fanout.started':
        return `${pad}▶ fan-out ${counted(d.agentCount, 'agent')} ${dim(d.mergeStrategy)}`;
      case 'multiagent.fanout.completed':
        end();
        return `${pad}${mark(d.failed === 0)} fan-out ${dim(ms(d.durationMs))} · ${d.succeeded} ok, ${d.failed} failed`;
      case 'stream.dropped':
        return `${pad}${lostLine(this.#style, d.count)}`;
      default:
        return `${pad}${dim(`· ${e.eventType}`)}`;
    }
  }
}
