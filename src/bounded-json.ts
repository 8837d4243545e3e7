/**
 * Bounded JSON: the one way an event's payload is written when it is not
 * plain data (see `plain-json.ts` for the check that spares plain payloads
 * this pass).
 *
 * Payloads come from user code and may be anything: cycles, null-prototype
 * objects, Proxies whose every trap throws, revoked Proxies, BigInt, symbols,
 * throwing getters and `toJSON`, 1e5-deep nesting, megabytes of text.
 * {@link boundedJson} writes valid JSON of at most `budget` characters in one
 * linear pass and never throws: what cannot be read becomes a placeholder
 * string; what does not fit is cut, and the cut says so. It serves every
 * consumer: the bus, SSE frames, previews.
 *
 * It never recurses past {@link MAX_DEPTH}, so no payload can overflow the
 * stack, and it stops walking once the budget is spent, so its time is
 * linear in the budget, not in the payload (an object's key list is the one
 * thing read whole).
 */

/** Default cap on one event's serialized payload, in characters (bytes for ASCII). */
export const DEFAULT_MAX_EVENT_BYTES = 256 * 1024;

/** Nesting deeper than this is cut: `"[Truncated: nested deeper than 64 levels]"`. */
export const MAX_DEPTH = 64;

/** What replaces a value that refers back to one of its ancestors. */
export const CIRCULAR_PLACEHOLDER = '[Circular]';

/** The smallest budget {@link boundedJson} honours exactly; smaller ones are raised to it. */
export const MIN_JSON_BUDGET = 256;

// Room kept free while writing: the longest marker plus the closing brackets.
const MARKER_ROOM = 64;

/** The message of a thrown value, for a placeholder; never throws. */
export function thrownMessage(error: unknown): string {
  try {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : typeof error === 'string' ? error : String(error);
    return text.length > 120 ? `${text.slice(0, 119)}…` : text;
  } catch {
    return 'unreadable error';
  }
}

/**
 * Writes `value` as JSON of at most `budget` characters (at least
 * {@link MIN_JSON_BUDGET}), in one pass, never throwing:
 *
 * - a cycle becomes `"[Circular]"`; nesting past {@link MAX_DEPTH} becomes
 *   `"[Truncated: nested deeper than 64 levels]"`;
 * - a value whose reading throws (getter, Proxy trap, `toJSON`, revoked
 *   Proxy) becomes `"[Unserializable: <message>]"`;
 * - a BigInt becomes its decimal digits as a string, non-finite numbers
 *   null; an `Error` is written as `{ name, message }`;
 * - a string that does not fit gets at most half the room left, ending with
 *   `…[Truncated: N chars]` (N: its full length), so later fields still fit;
 * - when the budget runs out, an object gets a last member
 *   `"…": "[Truncated: N more fields]"`, an array a last item
 *   `"[Truncated: N more items]"`, and nothing further is read.
 *
 * `JSON.parse` of the result always succeeds.
 */
export function boundedJson(value: unknown, budget: number): string {
  return writeJson(value, budget).json;
}

/**
 * {@link boundedJson}, also saying whether anything was lost: a cut, a
 * placeholder for an unreadable value, a cycle or nesting too deep.
 */
export function writeJson(value: unknown, budget: number): { json: string; lossy: boolean } {
  const writer = new BoundedWriter(Math.max(MIN_JSON_BUDGET, budget));
  try {
    writer.value(value, 0);
    return { json: writer.text, lossy: writer.cut || writer.lossy };
  } catch (error) {
    // Nothing above should throw; if it does, the caller still gets valid JSON.
    return { json: JSON.stringify(`[Unserializable: ${thrownMessage(error)}]`), lossy: true };
  }
}

class BoundedWriter {
  text = '';
  /** True once the budget ran out: nothing more is read or written but closing brackets. */
  cut = false;
  /** True once a placeholder replaced a value (unreadable, circular, too deep). */
  lossy = false;
  readonly #limit: number;
  readonly #path: object[] = [];

  constructor(budget: number) {
    // Closing brackets and a marker always fit in the room kept back.
    this.#limit = budget - MARKER_ROOM - MAX_DEPTH;
  }

  /** Room left for content before the reserve. */
  get #room(): number {
    return this.#limit - this.text.length;
  }

  /** Writes a value; in an object, `key` has already been written. */
  value(value: unknown, depth: number): void {
    switch (typeof value) {
      case 'string':
        this.#string(value);
        return;
      case 'number':
        this.#raw(Number.isFinite(value) ? String(value) : 'null');
        return;
      case 'boolean':
        this.#raw(value ? 'true' : 'false');
        return;
      case 'bigint':
        this.#string(value.toString());
        return;
      case 'object':
        if (value === null) {
          this.#raw('null');
          return;
        }
        break;
      case 'function':
        break;
      default:
        // undefined and symbols, where JSON.stringify would write null in an array.
        this.#raw('null');
        return;
    }
    this.#object(value as object, depth);
  }

  #raw(token: string): void {
    if (token.length <= this.#room) this.text += token;
    else this.#truncate('"[Truncated]"');
  }

  #string(text: string): void {
    const room = this.#room;
    if (text.length + 2 <= room) {
      const quoted = JSON.stringify(text);
      if (quoted.length <= room) {
        this.text += quoted;
        return;
      }
    }
    // Cut: the string gets at most half the room left, so that the fields
    // after a huge one are still written. Escapes at most sextuple a
    // character, so two tries always find a prefix that fits.
    const marker = `…[Truncated: ${text.length} chars]`;
    const share = room >> 1;
    let keep = share - marker.length - 2;
    let quoted = keep < 0 ? '' : JSON.stringify(text.slice(0, keep) + marker);
    if (quoted.length > share && keep > 0) {
      keep = Math.floor(keep / 6);
      quoted = JSON.stringify(text.slice(0, keep) + marker);
    }
    if (keep < 0 || quoted.length > share) {
      this.#truncate('"[Truncated]"');
      return;
    }
    this.text += quoted;
    this.lossy = true;
  }

  #truncate(marker: string): void {
    if (!this.cut) this.text += marker;
    this.cut = true;
  }

  #placeholder(what: string, error?: unknown): void {
    this.lossy = true;
    this.#string(error === undefined ? what : `[${what}: ${thrownMessage(error)}]`);
  }

  #object(value: object, depth: number): void {
    if (this.cut) return;
    if (depth >= MAX_DEPTH) {
      this.#placeholder(`[Truncated: nested deeper than ${MAX_DEPTH} levels]`);
      return;
    }
    if (this.#path.includes(value)) {
      this.#placeholder(CIRCULAR_PLACEHOLDER);
      return;
    }
    let target: unknown = value;
    try {
      // JSON.stringify calls toJSON once; so do we (a Date becomes its ISO string).
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') target = toJSON.call(value, '');
      else if (value instanceof Error) target = { name: value.name, message: value.message };
    } catch (error) {
      this.#placeholder('Unserializable', error);
      return;
    }
    if (target !== value) {
      if (typeof target === 'object' && target !== null) {
        this.#path.push(value);
        this.#object(target, depth + 1);
        this.#path.pop();
      } else {
        this.value(target, depth);
      }
      return;
    }
    if (typeof value === 'function') {
      this.#raw('null');
      return;
    }
    let isArray: boolean;
    let keys: string[] | undefined;
    try {
      isArray = Array.isArray(value);
      if (!isArray) keys = Object.keys(value);
    } catch (error) {
      this.#placeholder('Unserializable', error);
      return;
    }
    this.#path.push(value);
    if (isArray) this.#items(value as unknown[], depth);
    else this.#members(value as Record<string, unknown>, keys as string[], depth);
    this.#path.pop();
  }

  #items(array: unknown[], depth: number): void {
    let length: number;
    try {
      length = array.length;
    } catch (error) {
      this.#placeholder('Unserializable', error);
      return;
    }
    this.text += '[';
    for (let i = 0; i < length; i++) {
      if (this.#room < 2) {
        this.#truncate(`${i === 0 ? '' : ','}"[Truncated: ${length - i} more items]"`);
        break;
      }
      if (i !== 0) this.text += ',';
      let item: unknown;
      try {
        item = array[i];
      } catch (error) {
        this.#placeholder('Unserializable', error);
        continue;
      }
      this.value(item, depth + 1);
      if (this.cut) break;
    }
    this.text += ']';
  }

  #members(object: Record<string, unknown>, keys: string[], depth: number): void {
    this.text += '{';
    let first = true;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      let item: unknown;
      try {
        item = object[key];
      } catch (error) {
        item = `[Unserializable: ${thrownMessage(error)}]`;
        this.lossy = true;
      }
      // JSON drops these members.
      if (item === undefined || typeof item === 'symbol' || (typeof item === 'function' && !hasToJSON(item))) continue;
      const name = JSON.stringify(key);
      if (name.length + 3 > this.#room) {
        this.#truncate(`${first ? '' : ','}"…":"[Truncated: ${keys.length - i} more fields]"`);
        break;
      }
      this.text += first ? name : `,${name}`;
      this.text += ':';
      first = false;
      this.value(item, depth + 1);
      if (this.cut) break;
    }
    this.text += '}';
  }
}

function hasToJSON(value: object): boolean {
  try {
    return typeof (value as { toJSON?: unknown }).toJSON === 'function';
  } catch {
    return false;
  }
}
