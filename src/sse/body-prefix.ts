/**
 * The start of an answer's body, for a message: at most a few KiB are read,
 * then the body is cancelled, so that a server answering an endless (or
 * merely huge) error page cannot grow the reader's memory, nor keep it
 * reading what it would cut to a line anyway.
 */

/** @internal How much of a body {@link bodyPrefix} reads by default: far more than a message quotes. */
export const BODY_PREFIX_BYTES = 4096;

/**
 * @internal The first `maxBytes` bytes of `response`'s body (fewer when it
 * is shorter), decoded as UTF-8 (a character cut at the end is dropped);
 * the rest is never read: the body is cancelled, which closes the
 * connection of a body still coming.
 * @throws what reading the body threw (a timeout of the request's signal, a reset connection).
 */
export async function bodyPrefix(response: Response, maxBytes = BODY_PREFIX_BYTES): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let size = 0;
  try {
    while (size < maxBytes) {
      const chunk = await reader.read();
      if (chunk.done) break;
      const part = chunk.value.subarray(0, maxBytes - size);
      size += part.byteLength;
      text += decoder.decode(part, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text;
}
