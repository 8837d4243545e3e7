/**
 * A framework callback never throws into its framework. The frameworks call
 * an adapter from the middle of their own work, and do different things
 * with what it throws: the OpenAI Agents SDK awaits each trace processor in
 * turn without a catch (a throw starves the processors after ours), the AI
 * SDK fails the call, LangChain logs it. What an adapter cannot read (a
 * framework version that passes another shape, a hostile value) is skipped,
 * and said once per callback as a process warning.
 */
import { errorText } from '../payload-text.js';
import { warnOnce } from '../warnings.js';

/** @internal Says, once per adapter and callback, that `callback` failed with `error` and was skipped. Never throws. */
export function callbackFailed(adapter: string, callback: string, error: unknown): void {
  warnOnce(
    `${adapter}.${callback}`,
    `${adapter}: ${callback} could not record what it was handed and skipped it (${errorText(error)}); later failures of ${callback} are not warned about`,
    'AGENTBUS_ADAPTER_SKIPPED',
  );
}

/** @internal Runs a framework callback's `body`; what it throws is reported with {@link callbackFailed}, never rethrown. */
export function guarded(adapter: string, callback: string, body: () => void): void {
  try {
    body();
  } catch (error) {
    callbackFailed(adapter, callback, error);
  }
}
