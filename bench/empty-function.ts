/**
 * An empty function in a module of its own, so that the idle-emit baseline
 * is called the way `emit` is: through an imported binding.
 */
export function emptyFunction(_type: string, _data: object): void {}
