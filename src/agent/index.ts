/**
 * agentbus/agent: a reference ReAct agent that emits the canonical agentbus
 * events, the {@link Model} interface, an offline {@link ScriptedModel}, an
 * {@link OpenAICompatibleModel} over fetch, and {@link defineTool}.
 *
 * The agent only emits through the core helpers: used outside `runContext`
 * it builds no bus and records nothing.
 * @packageDocumentation
 */
export {
  Agent,
  type AgentOptions,
  type AgentResult,
  type AgentRunOptions,
  type AgentToolCall,
  type AgentUsage,
} from './agent.js';
export type {
  AssistantMessage,
  Message,
  Model,
  ModelRequest,
  ModelRequestInfo,
  ModelResponse,
  SystemMessage,
  TokenUsage,
  ToolCall,
  ToolResultMessage,
  ToolSpec,
  UserMessage,
} from './model.js';
export {
  ScriptedModel,
  argumentsFromSchema,
  type ScriptStep,
  type ScriptedModelOptions,
  type ScriptedResponse,
  type ScriptedToolCall,
} from './scripted-model.js';
export {
  ModelHttpError,
  OpenAICompatibleModel,
  type OpenAICompatibleModelOptions,
} from './openai-compatible-model.js';
export {
  ToolArgumentsError,
  defineTool,
  parseToolArguments,
  type StandardSchemaV1,
  type Tool,
  type ToolArgs,
  type ToolContext,
  type ToolDefinition,
} from './tool.js';
