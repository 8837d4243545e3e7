/**
 * Mistakes made visible: one `process.emitWarning` per distinct problem.
 *
 * A refused event is never thrown into the agent (telemetry must not crash
 * it), but a refusal nobody sees is a silent bug: `emit('BadType', {})` only
 * bumped a counter. So the first time each distinct problem happens the
 * process gets a warning, as Node does for its own deprecations; repeats are
 * only counted. The set of problems warned about is bounded, so a hostile
 * stream of distinct mistakes costs a fixed amount of memory and output.
 */
const MAX_DISTINCT = 64;
// One budget per code: a flood of distinct refused events must not silence a
// later version conflict or listener misuse.
const warned = new Map<string, Set<string>>();

/** The warning type, for `process.on('warning')` filters and `--disable-warning=AgentbusWarning`. */
export const WARNING_TYPE = 'AgentbusWarning';

/**
 * Emits `message` as a process warning unless a warning with the same `key`
 * was emitted before. `code` names the kind of problem (`AGENTBUS_EVENT_REFUSED` by default,
 * `AGENTBUS_STEP_ENDED_TWICE`, `AGENTBUS_LISTENER_MISUSE`, ...), for
 * `warning.code` filters. Never throws.
 */
export function warnOnce(key: string, message: string, code = 'AGENTBUS_EVENT_REFUSED'): void {
  let keys = warned.get(code);
  if (keys === undefined) warned.set(code, (keys = new Set()));
  if (keys.has(key) || keys.size > MAX_DISTINCT) return;
  keys.add(key);
  const later = code === 'AGENTBUS_EVENT_REFUSED' ? 'later ones are only counted in stats().rejected' : `later ${code} ones are not warned about`;
  const text = keys.size > MAX_DISTINCT ? `${message} (agentbus warns about ${MAX_DISTINCT} distinct problems of each kind at most; ${later})` : message;
  try {
    process.emitWarning(text, { type: WARNING_TYPE, code });
  } catch {
    // A process without emitWarning (an odd runtime) still must not throw into the agent.
  }
}
