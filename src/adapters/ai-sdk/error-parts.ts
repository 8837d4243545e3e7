/**
 * A provider's streamed answer, watched for `error` parts: the AI SDK ends a
 * step whose stream carried one with `finishReason: 'error'`, but hands the
 * error itself only to the caller's `onError`, never to an integration.
 */

/**
 * The answer with its stream observed: each `error` part's error is passed to
 * `onError`, every part passes through unchanged. The result is copied with
 * only `stream` replaced (the SDK may hand integrations a copy with
 * credentials redacted from its request metadata; the copy returned then
 * carries that redaction back). Anything that is not a streamed answer is
 * returned as is.
 */
export function observeErrorParts<T>(result: T, onError: (error: unknown) => void): T {
  const stream = (result as { stream?: unknown } | null | undefined)?.stream;
  if (!(stream instanceof ReadableStream)) return result;
  const observed = stream.pipeThrough(new TransformStream<unknown, unknown>({
    transform(part, controller) {
      if (typeof part === 'object' && part !== null && (part as { type?: unknown }).type === 'error') {
        onError((part as { error?: unknown }).error);
      }
      controller.enqueue(part);
    },
  }));
  const fields: PropertyDescriptorMap = Object.getOwnPropertyDescriptors(result as object);
  fields['stream'] = { value: observed, writable: true, enumerable: true, configurable: true };
  return Object.create(Object.getPrototypeOf(result) as object | null, fields) as T;
}
