/**
 * One run drawn as an indented tree (run > agent > model / tool calls), one
 * line per step start and end, with durations, counts and the run's token
 * totals. A child run's tree is drawn inside its parent's, from a base depth.
 */
import type { StreamEvent } from '../events.js';
import { readTokenCost } from '../prices.js';
import { BoundedMap } from './bounded-map.js';
import type { Style } from './style.js';

// Only open spans are kept (a span's state goes at its end event), so a run
// needs a handful; the bound is for a stream that opens spans and never ends them.
const MAX_OPEN_SPANS = 256;
// The deepest a line is indented, in levels of two spaces. A stream decides
// the depth (every step can name the previous one as its parent, every run
// can be the child of the last), so without a cap it could make each line
// longer than the last; deeper lines are drawn at this depth.
const MAX_DEPTH = 32;
// Steps that ended, by span id, with their depth: an event that names one as
// its parent after its end (an evaluation of a tool that returned) is still
// drawn under it. Bounded like the open spans.
const MAX_ENDED_SPANS = 256;
// Currencies a run's cost total lists; a stream naming more is not believed past these.
const MAX_CURRENCIES = 8;

/** What the tree remembers of an open span. */
interface Span {
  readonly depth: number;
  readonly started: number;
  /** The token line of a model call, from `agent.tokens.used`, shown at its end. */
  tokens?: string;
}

/** An amount of money as the terminal shows it: enough decimals for a single call's fraction of a cent. */
function money(amount: number, currency: string): string {
  // Each amount is finite (readTokenCost), a run's sum of them need not be: unknown, as the console shows it.
  if (!Number.isFinite(amount)) return `? ${currency}`;
  const digits = amount === 0 ? 0 : amount >= 1 ? 2 : amount >= 0.01 ? 4 : 6;
  return `${amount.toFixed(digits)} ${currency}`;
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
 *
 * The run's own lines (`run.started`, `run.completed`) are drawn at the
 * tree's base depth, its top-level steps one deeper, and each step one
 * deeper than the step it is nested in, even when that step has ended (one
 * of the last 256: an evaluation of a tool that returned is drawn under the
 * tool); no line deeper than 32 levels.
 */
export class RunTree {
  readonly #style: Style;
  readonly #spans = new BoundedMap<string, Span>(MAX_OPEN_SPANS);
  readonly #ended = new BoundedMap<string, number>(MAX_ENDED_SPANS);
  readonly #base: number;
  #inputTokens = 0;
  #outputTokens = 0;
  // The run's cost by currency (amounts in two currencies are never added),
  // from the `cost` its priced calls carry; empty for an unpriced run.
  readonly #cost = new Map<string, number>();

  /**
   * @param base the depth of the run's own lines: 0 for a run drawn on its
   *   own, deeper for a child run drawn inside its parent's tree (see
   *   {@link RunTree.childDepth}). Capped at 32.
   */
  constructor(style: Style, base = 0) {
    this.#style = style;
    this.#base = Math.min(base, MAX_DEPTH);
  }

  /**
   * The base depth for a child run started by step `spanId` of this run:
   * one deeper than that step's lines while the step is open, else (no
   * span named, or one closed, forgotten or never seen) one deeper than this
   * run's own lines, beside its top-level steps. Capped at 32.
   */
  childDepth(spanId: unknown): number {
    const span = typeof spanId === 'string' ? this.#spans.get(spanId) : undefined;
    return Math.min((span?.depth ?? this.#base) + 1, MAX_DEPTH);
  }

  /**
   * The line for `e`, or `undefined` for an event shown only through others
   * (`agent.tokens.used`, an empty `agent.think`). `e` must already be
   * printable: the tree adds only its own text and colour.
   */
  line(e: StreamEvent): string | undefined {
    const { dim, red, cyan, blue, magenta } = this.#style;
    const d = e.data as Record<string, any>;
    const base = this.#base;
    const depth = Math.min(
      e.eventType.startsWith('run.')
        ? base
        : e.parentSpanId !== undefined
          ? (this.#spans.get(e.parentSpanId)?.depth ?? this.#ended.get(e.parentSpanId) ?? base + 1) + 1
          : base + 1,
      MAX_DEPTH,
    );
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
      if (e.spanId === undefined) return;
      this.#spans.delete(e.spanId);
      if (span !== undefined) this.#ended.set(e.spanId, span.depth);
    };
    switch (e.eventType) {
      case 'run.started':
        // Quoted by hand: JSON.stringify would double the backslashes printable() wrote.
        return `${pad}▶ run ${e.runId}${d.name ? ` "${d.name}"` : ''}`;
      case 'run.completed': {
        end();
        const inOut = `${this.#inputTokens} in / ${this.#outputTokens} out (${this.#inputTokens + this.#outputTokens} total)`;
        const cost = this.#cost.size === 0 ? '' : ` · cost ${[...this.#cost].map(([currency, amount]) => money(amount, currency)).join(' + ')}`;
        return `${pad}${mark(d.status === 'ok')} run ${d.status} ${dim(ms(d.durationMs))} · tokens ${inOut}${cost}${d.error ? ` · ${red(String(d.error))}` : ''}`;
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
        {
          // Shown only when the event carries one: tail prices nothing itself (see README).
          const cost = readTokenCost(d.cost);
          if (cost !== undefined && (this.#cost.size < MAX_CURRENCIES || this.#cost.has(cost.currency))) this.#cost.set(cost.currency, (this.#cost.get(cost.currency) ?? 0) + cost.amount);
          if (span !== undefined) span.tokens = `${d.inputTokens} in / ${d.outputTokens} out tokens${cost === undefined ? '' : ` · ${money(cost.amount, cost.currency)}`}`;
        }
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
      case 'agent.evaluation.result': {
        // Under the step it judges: the event's parent, open or recently ended.
        const score = typeof d.score === 'number' ? ` ${d.score}` : '';
        const label = d.label ? ` ${d.label}` : '';
        const failed = d.errorType ? ` ${red(`✗ ${d.errorType}`)}` : '';
        return `${pad}⚖ eval ${d.name}${score}${label}${failed}${d.explanation ? dim(` · ${d.explanation}`) : ''}`;
      }
      case 'stream.dropped':
        return `${pad}${lostLine(this.#style, d.count)}`;
      default:
        return `${pad}${dim(`· ${e.eventType}`)}`;
    }
  }
}
