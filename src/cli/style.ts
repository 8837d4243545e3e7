/**
 * Colour for `agentbus tail`: decided once at start from the environment and
 * stdout, then applied by painters that are either `styleText` or the
 * identity (so a plain run pays nothing per line).
 *
 * The decision is ours, not `styleText`'s: on Node 22+ and late 20.x
 * releases `styleText` checks `process.stdout` itself (unless told
 * `validateStream: false`) by rules of its own, while earlier 20.x releases
 * always colour. Deciding here and calling it only to colour, with the
 * check off, gives the same output on every supported Node.
 */
import { styleText } from 'node:util';

/** The painters `agentbus tail` uses; each returns its text unchanged when colour is off. */
export interface Style {
  readonly bold: (text: string) => string;
  readonly dim: (text: string) => string;
  readonly red: (text: string) => string;
  readonly green: (text: string) => string;
  readonly blue: (text: string) => string;
  readonly magenta: (text: string) => string;
  readonly cyan: (text: string) => string;
}

/**
 * Whether to colour `stream`, by the conventions most terminal tools share:
 *
 * 1. `FORCE_COLOR` set to anything but `0` or `false` (empty included):
 *    colour, even into a pipe or a file. It wins over `NO_COLOR`, as in
 *    Node itself: it is the narrower, per-invocation request.
 * 2. `FORCE_COLOR=0` or `false`: no colour.
 * 3. `NO_COLOR` set and not empty (https://no-color.org): no colour.
 * 4. Otherwise colour only on a terminal (`isTTY`) that is not `TERM=dumb`.
 */
export function colourWanted(env: Readonly<Record<string, string | undefined>>, stream: { readonly isTTY?: boolean }): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

const plain = (text: string): string => text;

function painter(format: 'bold' | 'dim' | 'red' | 'green' | 'blue' | 'magenta' | 'cyan'): (text: string) => string {
  return (text) => styleText(format, text, { validateStream: false });
}

/** The painters for `enabled` colour: `styleText` when true, the identity when false. */
export function createStyle(enabled: boolean): Style {
  if (!enabled) return { bold: plain, dim: plain, red: plain, green: plain, blue: plain, magenta: plain, cyan: plain };
  return {
    bold: painter('bold'),
    dim: painter('dim'),
    red: painter('red'),
    green: painter('green'),
    blue: painter('blue'),
    magenta: painter('magenta'),
    cyan: painter('cyan'),
  };
}
