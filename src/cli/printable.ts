/**
 * Event text made safe for a terminal. Event text comes from models, tools
 * and whoever serves the stream; printed raw, an escape sequence would set
 * the window title, clear the screen or write the clipboard (OSC 52), a CR
 * or LF would forge tree lines, and a bidi override would make a line read
 * otherwise.
 */
import type { StreamEvent } from '../events.js';

// Terminal controls: C0 (with \n \r \t), DEL, C1, the line and paragraph
// separators, and the bidi embeddings, overrides and isolates.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
// Deeper data is shown as `…`: no line interpolates it, and a hostile payload
// must not exhaust the stack.
const MAX_DEPTH = 32;

/** `text` with every terminal control written visibly (`\x1b`, `\n`, `\u009b`, `\u202e`). */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/** A copy of a JSON value with every string in it (keys included) made {@link printable}. */
function printableValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return printable(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return '…';
  if (Array.isArray(value)) return value.map((item) => printableValue(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[printable(key)] = printableValue(item, depth + 1);
  return copy;
}

/**
 * The event as a tree may print it: its type, run id and every string in
 * its data made {@link printable}. This is the one place event text is
 * cleaned; the inputs are cleaned rather than the finished line, so that the
 * tool's own colour codes still reach the terminal. Span ids are only map
 * keys, never printed, and stay as they are.
 */
export function printableEvent(e: StreamEvent): StreamEvent {
  return { ...e, eventType: printable(e.eventType), runId: printable(e.runId), data: printableValue(e.data) as object };
}
