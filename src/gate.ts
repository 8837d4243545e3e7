/**
 * The idle gate: is any run open in this process?
 *
 * Shaped like `diagnostics_channel`'s inactive channel. Until the first run
 * opens, `gate.open` is a getter on the prototype that returns a constant
 * `false`, so an emission site that holds the gate in a `const` (see
 * `emit.ts`) compiles to nothing at all. The first run swaps the prototype
 * once and for good (swapping back at every run's end would deoptimize the
 * emission sites on every run); from then on `open` compares the count of
 * open runs with zero: one load and one branch.
 */
let openRuns = 0;

/** What the emission sites read. */
export interface Gate {
  /** True while at least one run is open anywhere in the process. */
  readonly open: boolean;
}

class NeverOpened implements Gate {
  get open(): boolean {
    return false;
  }
}

class Counting implements Gate {
  get open(): boolean {
    return openRuns !== 0;
  }
}

/** The process's one gate. */
export const gate: Gate = new NeverOpened();

/** Called as a run opens. */
export function runOpened(): void {
  if (openRuns++ === 0 && gate instanceof NeverOpened) Object.setPrototypeOf(gate, Counting.prototype);
}

/** Called as a run ends. */
export function runClosed(): void {
  openRuns--;
}
