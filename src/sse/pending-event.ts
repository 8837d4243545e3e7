/**
 * The size of the event an SSE parser is holding, measured on the bytes as
 * they arrive, so that a server cannot grow a client without bound with a
 * line that never ends or an event whose blank line never comes.
 *
 * Why outside the parser: `eventsource-parser` keeps the incomplete line and
 * the event's lines until a blank line dispatches them, and says nothing
 * until then (a comment or an `id:` line between data lines does not end the
 * event, so counting from the parser's callbacks could be reset by them). The
 * meter finds the same blank lines itself. CR and LF are single bytes that
 * never occur inside a UTF-8 sequence, so it reads the bytes undecoded, and
 * it visits line ends only (`indexOf`), not every byte: a stream of many
 * small events costs a few comparisons per line.
 */

const LF = 10;
const CR = 13;

/**
 * @internal Measures each chunk of an event stream, in order, against a
 * bound on one event: its lines, field names and line ends included, from
 * the previous event's blank line to its own, the blank lines not counted.
 */
export class PendingEventMeter {
  /** The most bytes one event may take. */
  readonly limit: number;
  /** Bytes of the current event in earlier chunks. */
  #pending = 0;
  /** Nothing since the last line end: a line end now is a blank line, the end of an event. */
  #lineEmpty = true;
  /** The last byte was CR: an LF now belongs to the same line end (CRLF). */
  #afterCr = false;

  constructor(limit: number) {
    this.limit = limit;
  }

  /**
   * Measures the next chunk. Returns how many of its bytes may go to the
   * parser: all of them, or, once an event is past the limit (ended or not),
   * only those before that event, so the whole events ahead of it are still
   * read. Once it returned less than the chunk, the stream is to be dropped:
   * the meter does not measure past it.
   */
  measure(bytes: Uint8Array): number {
    // Where the current event starts in this chunk (0: in an earlier one, or here).
    let start = 0;
    let pos = 0;
    let nextLf = bytes.indexOf(LF);
    let nextCr = bytes.indexOf(CR);
    while (nextLf !== -1 || nextCr !== -1) {
      const at = nextCr === -1 || (nextLf !== -1 && nextLf < nextCr) ? nextLf : nextCr;
      const byte = bytes[at];
      if (byte === LF) nextLf = bytes.indexOf(LF, at + 1);
      else nextCr = bytes.indexOf(CR, at + 1);
      if (at > pos) {
        this.#lineEmpty = false;
        this.#afterCr = false;
      }
      pos = at + 1;
      if (byte === LF && this.#afterCr) {
        // The LF of a CRLF: the line ended at the CR. When that CR ended an
        // event, the LF is part of its blank line, not the start of the next.
        this.#afterCr = false;
        if (start === at && this.#pending === 0) start = pos;
        continue;
      }
      this.#afterCr = byte === CR;
      if (this.#lineEmpty) {
        if (this.#pending + at - start > this.limit) return start;
        this.#pending = 0;
        start = pos;
      }
      this.#lineEmpty = true;
    }
    if (pos < bytes.length) {
      this.#lineEmpty = false;
      this.#afterCr = false;
    }
    this.#pending += bytes.length - start;
    return this.#pending > this.limit ? start : bytes.length;
  }
}
