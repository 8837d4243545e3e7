/**
 * The public API as a user gets it, against the README's "API" section.
 *
 * Each entry point of `package.json` `exports` is read from the build
 * (`dist/`, which `npm test` builds first): its values by importing it, its
 * names (values and types) with the TypeScript compiler on its `.d.ts`. The
 * README's `## API` section lists every one of those names, and no other,
 * under a `### \`<entry>\`` heading: each bullet starts with the names it
 * describes, in backticks and separated by ", ", then ": ", and sits under a
 * `**Functions**`, `**Classes**`, `**Constants**` or `**Types**` line that
 * says what they are. Every export, and every public member of an exported
 * class, has TSDoc.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, string | { types: string; default: string }>;
};

/** One entry point: its import specifier and the built files it maps to. */
interface Entry {
  specifier: string;
  types: string;
  js: string;
}

const ENTRIES: Entry[] = Object.entries(manifest.exports).flatMap(([subpath, target]) =>
  typeof target === 'object'
    ? [{ specifier: subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`, types: join(root, target.types), js: join(root, target.default) }]
    : [],
);

const GROUPS = ['Functions', 'Classes', 'Constants', 'Types'] as const;
type Group = (typeof GROUPS)[number];

/** A name the README lists, where, and under which group. */
interface Listed {
  name: string;
  group: Group;
  line: number;
}

/**
 * The names the README's `## API` section lists, by entry. Throws, naming the
 * line, on a bullet whose names cannot be read or a name outside a group.
 */
function readmeApi(markdown: string): Map<string, Listed[]> {
  const lines = markdown.split('\n');
  const start = lines.indexOf('## API');
  if (start === -1) throw new Error('README.md has no "## API" section');
  const byEntry = new Map<string, Listed[]>();
  let entry: Listed[] | undefined;
  let group: Group | undefined;
  let fenced = false;
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const where = `README.md:${i + 1}`;
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    if (/^#{1,2} /.test(line)) break;
    const heading = /^### `([^`]+)`\s*$/.exec(line);
    if (heading !== null) {
      const specifier = heading[1] as string;
      if (byEntry.has(specifier)) throw new Error(`${where}: a second section for ${specifier}`);
      entry = [];
      byEntry.set(specifier, entry);
      group = undefined;
      continue;
    }
    if (line.startsWith('#')) throw new Error(`${where}: in the API section, an entry's heading is "### \`<entry>\`", got ${JSON.stringify(line)}`);
    const groupLine = /^\*\*(\w+)\*\*\s*$/.exec(line);
    if (groupLine !== null) {
      const name = groupLine[1] as string;
      if (!(GROUPS as readonly string[]).includes(name)) throw new Error(`${where}: unknown group **${name}**, expected one of ${GROUPS.join(', ')}`);
      group = name as Group;
      continue;
    }
    if (!/^[-*] /.test(line)) continue;
    if (entry === undefined) continue; // the section's introduction
    const names = /^[-*] (`[^`]+`(?:, `[^`]+`)*): /.exec(line);
    if (names === null) {
      throw new Error(`${where}: an API bullet starts with its names in backticks, separated by ", ", then ": "; got ${JSON.stringify(line)}`);
    }
    if (group === undefined) throw new Error(`${where}: names listed before a **Functions**/**Classes**/**Constants**/**Types** line`);
    for (const [, name] of (names[1] as string).matchAll(/`([^`]+)`/g)) {
      if (!/^[A-Za-z_$][\w$]*$/.test(name as string)) throw new Error(`${where}: ${JSON.stringify(name)} is not an export name`);
      entry.push({ name: name as string, group, line: i + 1 });
    }
  }
  return byEntry;
}

/** What the build says of one entry. */
interface Surface {
  /** Every exported name, values and types (from the `.d.ts`). */
  names: Set<string>;
  /** The exported values (from importing the JavaScript). */
  values: Record<string, unknown>;
  /** The `.d.ts` exports, as the checker sees them. */
  symbols: ts.Symbol[];
}

let program: ts.Program;
let checker: ts.TypeChecker;
const surfaces = new Map<string, Surface>();
let listed: Map<string, Listed[]>;

beforeAll(async () => {
  if (!existsSync(join(root, 'dist', 'index.d.ts'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  }
  program = ts.createProgram(
    ENTRIES.map((entry) => entry.types),
    { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, skipLibCheck: true, noEmit: true, types: ['node'] },
  );
  checker = program.getTypeChecker();
  for (const entry of ENTRIES) {
    const file = program.getSourceFile(entry.types);
    const moduleSymbol = file === undefined ? undefined : checker.getSymbolAtLocation(file);
    if (moduleSymbol === undefined) throw new Error(`${entry.specifier}: ${relative(root, entry.types)} is not a module`);
    const symbols = checker.getExportsOfModule(moduleSymbol);
    const values = { ...((await import(pathToFileURL(entry.js).href)) as Record<string, unknown>) };
    surfaces.set(entry.specifier, { names: new Set(symbols.map((symbol) => symbol.name)), values, symbols });
  }
  listed = readmeApi(readFileSync(join(root, 'README.md'), 'utf8'));
}, 60_000);

function kindOf(surface: Surface, name: string): Group {
  if (!Object.hasOwn(surface.values, name)) return 'Types';
  const value = surface.values[name];
  if (typeof value !== 'function') return 'Constants';
  return /^class[\s{]/.test(Function.prototype.toString.call(value)) ? 'Classes' : 'Functions';
}

function sorted(names: Iterable<string>): string[] {
  return [...names].sort();
}

describe('the public API', () => {
  it('the README has an API section for every entry point, and none for another', () => {
    expect(sorted(listed.keys())).toEqual(sorted(ENTRIES.map((entry) => entry.specifier)));
  });

  it.each(ENTRIES.map((entry) => [entry.specifier]))('%s: the JavaScript exports the values the .d.ts declares', (specifier) => {
    const surface = surfaces.get(specifier) as Surface;
    const declared = surface.symbols.filter((symbol) => (resolve(symbol).flags & ts.SymbolFlags.Value) !== 0).map((symbol) => symbol.name);
    expect(sorted(Object.keys(surface.values))).toEqual(sorted(declared));
  });

  it.each(ENTRIES.map((entry) => [entry.specifier]))("%s: the README's API section lists exactly its exports, each under its kind", (specifier) => {
    const surface = surfaces.get(specifier) as Surface;
    const names = listed.get(specifier) ?? [];
    const inReadme = new Set(names.map((item) => item.name));
    const problems: string[] = [];
    const missing = sorted([...surface.names].filter((name) => !inReadme.has(name)));
    if (missing.length > 0) problems.push(`exported but not in the README's API section: ${missing.join(', ')}`);
    const extra = sorted([...inReadme].filter((name) => !surface.names.has(name)));
    if (extra.length > 0) problems.push(`in the README's API section but not exported: ${extra.join(', ')}`);
    const seen = new Set<string>();
    for (const item of names) {
      if (seen.has(item.name)) problems.push(`README.md:${item.line}: ${item.name} is listed twice`);
      seen.add(item.name);
      if (!surface.names.has(item.name)) continue;
      const kind = kindOf(surface, item.name);
      if (kind !== item.group) problems.push(`README.md:${item.line}: ${item.name} is listed under **${item.group}** but belongs under **${kind}**`);
    }
    expect(problems, `${specifier}:\n${problems.join('\n')}`).toEqual([]);
  });

  it('every export, and every public member of an exported class, has TSDoc', () => {
    const undocumented = new Set<string>();
    const checked = new Set<ts.Symbol>();
    for (const entry of ENTRIES) {
      for (const symbol of (surfaces.get(entry.specifier) as Surface).symbols) {
        const target = resolve(symbol);
        if (checked.has(target)) continue;
        checked.add(target);
        for (const problem of docProblems(symbol, target)) undocumented.add(`${problem} (${entry.specifier})`);
      }
    }
    expect(sorted(undocumented), `without TSDoc:\n${sorted(undocumented).join('\n')}`).toEqual([]);
  });
});

function resolve(symbol: ts.Symbol): ts.Symbol {
  return (symbol.flags & ts.SymbolFlags.Alias) !== 0 ? checker.getAliasedSymbol(symbol) : symbol;
}

/** Where a symbol is declared, as a source path (`src/sse/client.ts`). */
function sourceOf(symbol: ts.Symbol): string {
  const file = symbol.declarations?.[0]?.getSourceFile().fileName;
  if (file === undefined) return '?';
  return relative(root, file).replace(/^dist\//, 'src/').replace(/\.d\.ts$/, '.ts');
}

function hasDoc(symbol: ts.Symbol): boolean {
  return ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== '';
}

function isInternal(symbol: ts.Symbol): boolean {
  return (symbol.declarations ?? []).some((declaration) => ts.getJSDocTags(declaration).some((tag) => tag.tagName.text === 'internal'));
}

/**
 * What is undocumented about one export: the export itself, or, for a class,
 * its public members (those tagged `@internal` aside); for a namespace
 * (`export * as ns`), whose doc sits on the export statement, its members.
 */
function docProblems(exported: ts.Symbol, target: ts.Symbol): string[] {
  const problems: string[] = [];
  const isNamespace = (target.flags & ts.SymbolFlags.ValueModule) !== 0 && (target.declarations ?? []).some(ts.isSourceFile);
  if (isNamespace) {
    const statement = exported.declarations?.[0]?.parent;
    const doc = statement === undefined ? [] : ts.getJSDocCommentsAndTags(statement).filter(ts.isJSDoc);
    if (!doc.some((comment) => ts.getTextOfJSDocComment(comment.comment)?.trim())) problems.push(`${exported.name}: the \`export * as\` statement`);
    for (const member of checker.getExportsOfModule(target)) {
      if (!hasDoc(member)) problems.push(`${exported.name}.${member.name} [${sourceOf(member)}]`);
    }
    return problems;
  }
  if (!hasDoc(target)) problems.push(`${exported.name} [${sourceOf(target)}]`);
  if (isInternal(target)) problems.push(`${exported.name} [${sourceOf(target)}] is exported but tagged @internal`);
  if ((target.flags & ts.SymbolFlags.Class) !== 0) {
    const members = [...(target.members?.values() ?? []), ...[...(target.exports?.values() ?? [])].filter((member) => member.name !== 'prototype')];
    for (const member of members) {
      const declaration = member.declarations?.[0];
      if (declaration === undefined || member.name.startsWith('__') || member.name.startsWith('#')) continue;
      if ((ts.getCombinedModifierFlags(declaration as ts.Declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0) continue;
      if (isInternal(member) || hasDoc(member)) continue;
      problems.push(`${exported.name}.${member.name} [${sourceOf(member)}]`);
    }
  }
  return problems;
}

describe('EventBus, as a user meets it', () => {
  it('offers by name only its public methods: the protocol with runContext is symbol-keyed', async () => {
    const { EventBus } = (await import(pathToFileURL(join(root, 'dist', 'index.js')).href)) as typeof import('../src/index.js');
    const named = Object.getOwnPropertyNames(EventBus.prototype).filter((name) => name !== 'constructor');
    expect(sorted(named)).toEqual(sorted([
      'publish', 'subscribe', 'subscribeAll', 'addListener', 'closeStream', 'dropHistory',
      'hasRun', 'isClosed', 'lookup', 'history', 'runIds', 'retainedRuns', 'stats',
    ]));
    // What runContext and the steps call on the bus is still there, under symbols no user types by accident.
    expect(Object.getOwnPropertySymbols(EventBus.prototype).length).toBeGreaterThan(0);
  });
});
