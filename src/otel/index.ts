/**
 * agentbus/otel: the OpenTelemetry bridge (bus events -> GenAI spans and
 * metrics) and a one-call OTLP setup.
 *
 * The bridge needs only `@opentelemetry/api`; `setupOtlp` loads the SDK
 * packages on demand.
 * @packageDocumentation
 */
export { instrumentOtel, type OtelBridge, type OtelBridgeOptions } from './bridge.js';
export { otlpSignalUrl, setupOtlp, type OtlpSetup, type OtlpSetupOptions } from './setup.js';
/**
 * The OpenTelemetry names the bridge writes (GenAI semantic-convention
 * attributes, metrics, bucket boundaries, and the `agentbus.*` attributes),
 * for querying or asserting on its spans and metrics.
 */
export * as semconv from './semconv.js';
