/**
 * This copy's version, and which other copies of agentbus it can share the
 * process bus with (see `global.ts`).
 *
 * A constant rather than a read of package.json: the build has no JSON
 * import, and a test keeps the two equal.
 */

/** The version of this copy of agentbus; equal to package.json's `version`. */
export const VERSION = '0.1.0';

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/**
 * True when this copy (version `own`) may use an `EventBus` made by a copy
 * of version `other`: the shared bus is driven through its methods, so the
 * other copy's bus must have every method this one calls, with the meaning
 * it expects. As `@opentelemetry/api` decides for its globals:
 * - equal versions always;
 * - a prerelease only with the very same version;
 * - the same major version, and then
 *   - for 0.x, the same minor (before 1.0 a minor release may break), any patch;
 *   - for 1.x and later, a minor of `other` at least `own`'s (what a minor adds, an older one lacks).
 *
 * Patch releases do not change the methods copies call on each other's bus,
 * so unlike the OpenTelemetry API no patch order is required.
 */
export function isCompatibleVersion(own: string, other: string): boolean {
  if (own === other) return true;
  const a = SEMVER.exec(own);
  const b = SEMVER.exec(other);
  if (a === null || b === null || a[4] !== undefined || b[4] !== undefined) return false;
  const major = Number(a[1]);
  if (major !== Number(b[1])) return false;
  return major === 0 ? Number(a[2]) === Number(b[2]) : Number(b[2]) >= Number(a[2]);
}
