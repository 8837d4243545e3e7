/**
 * The event clock: epoch milliseconds with sub-millisecond resolution.
 *
 * `performance.timeOrigin` is a getter, and one clock read can cost ~100 ns
 * on VMs without a fast clock source, so the origin is read once and the
 * clock once per event.
 */
const timeOrigin = performance.timeOrigin;
const monotonicNow = performance.now.bind(performance);

/** Epoch milliseconds with sub-millisecond resolution. */
export function now(): number {
  return timeOrigin + monotonicNow();
}
