/**
 * `agentbus/langchain`: drop-in instrumentation for LangChain.js and
 * LangGraph (`@langchain/core` 1.x).
 *
 * ```ts
 * import { AgentbusCallbackHandler } from 'agentbus/langchain';
 * await agent.invoke(input, { callbacks: [new AgentbusCallbackHandler()] });
 * ```
 * @packageDocumentation
 */
export { AgentbusCallbackHandler, type AgentbusCallbackHandlerOptions } from './callback-handler.js';
