#!/usr/bin/env node
/**
 * The `agentbus` command: `agentbus ui ...` serves the console (`ui.ts`);
 * anything else is `agentbus tail ...` (`tail.ts`), with or without the
 * word `tail`, as it was before `ui` existed. Each command is loaded only
 * when asked for.
 */
const HELP = `usage: agentbus <command> ...

  agentbus tail <url> [--header "Name: value"]...        print a run's steps as a tree, live
  agentbus ui <sse-base-url> [--header "Name: value"]... serve a live console of every run on 127.0.0.1

agentbus <command> --help says more.`;

const argv = process.argv.slice(2);
const first = argv[0];
if (first === 'ui') {
  const { runUi } = await import('./ui.js');
  process.exitCode = await runUi(argv.slice(1));
  // Open sockets or a pending probe must not keep a finished command alive.
  process.exit();
} else if (first === undefined) {
  process.stderr.write(`${HELP}\n`);
  process.exitCode = 2;
} else if (first === 'help' || ((first === '--help' || first === '-h') && argv.length === 1)) {
  process.stdout.write(`${HELP}\n`);
} else {
  // tail.ts reads process.argv itself, a leading `tail` included.
  await import('./tail.js');
}
