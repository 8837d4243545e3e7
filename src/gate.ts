/**
 * The idle gate: is any run open in this process?
 *
 * Shaped like `diagnostics_channel`'s inactive channel. Until the first run
 * opens, `gate.open` is a getter on the prototype that returns a constant
 * `false`, so an emission site that holds the gate in a `const` (see
 * `emit.ts`) compiles to nothing at all. The first run swaps the prototype
 * once and for good (swapping back at every run's end would deoptimize the
 * emission sites on every run); from then on `open` compares the count of
 * `runContext` calls in progress with zero: one load and one branch.
 */
/** `runContext` calls in progress in this process (a nested run counts once more; a run re-entered twice, twice). */
let activeRunContexts = 0;

/** What the emission sites read. */
export interface Gate {
  /** True while at least one `runContext` is in progress anywhere in the process. */
  readonly open: boolean;
}

class NeverOpened implements Gate {
  get open(): boolean {
    return false;
  }
}

class Counting implements Gate {
  get open(): boolean {
    return activeRunContexts !== 0;
  }
}

/** The process's one gate. */
export const gate: Gate = new NeverOpened();

/** Called as a `runContext` starts. */
export function runContextEntered(): void {
  if (activeRunContexts++ === 0 && gate instanceof NeverOpened) Object.setPrototypeOf(gate, Counting.prototype);
}

/** Called as a `runContext` ends. */
export function runContextExited(): void {
  activeRunContexts--;
}
