/**
 * The check of a model's token counts, for the reference Agent and its
 * ScriptedModel. The rule is the core's (src/token-usage.ts): the counts a
 * model reports go into `agent.tokens.used` through the same door as any
 * `traceModel` caller's, so one check decides for both.
 */
export { usageProblem, type UsageProblem } from '../token-usage.js';
