/**
 * The Standard Schema interface (https://standardschema.dev, v1), which zod
 * (3.24+ and 4), valibot, arktype and others implement, and its JSON Schema
 * companion (Standard JSON Schema, `~standard.jsonSchema`). The spec asks
 * libraries to copy these types rather than depend on a package for them.
 */

/** A schema of any library that implements Standard Schema v1. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaV1.Props<Input, Output>;
}

/** Types of {@link StandardSchemaV1}. */
export declare namespace StandardSchemaV1 {
  /** The `~standard` property. */
  interface Props<Input = unknown, Output = Input> {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
    /** Standard JSON Schema: present on libraries that can describe themselves (zod 4.2+, arktype). */
    readonly jsonSchema?: {
      readonly input: (options: { readonly target: string }) => Record<string, unknown>;
    };
  }
  /** The result of `validate`. */
  type Result<Output> = { readonly value: Output; readonly issues?: undefined } | { readonly issues: ReadonlyArray<Issue> };
  /** One problem found by `validate`. */
  interface Issue {
    readonly message: string;
    readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
  }
  /** The output type of a schema. */
  type InferOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output'];
}

/** Whether `value` implements Standard Schema v1. Never throws. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  try {
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
    const props = (value as { '~standard'?: unknown })['~standard'];
    return typeof props === 'object' && props !== null && (props as { version?: unknown }).version === 1 && typeof (props as { validate?: unknown }).validate === 'function';
  } catch {
    return false;
  }
}
