import type { Metafile } from 'esbuild';

/** Import kinds that run when the importing module runs (a dynamic `import()` runs only when called). */
const EAGER = new Set(['import-statement', 'require-call', 'require-resolve']);

/** The package an input path (`node_modules/a/node_modules/@b/c/x.js`) belongs to: its name and directory. */
export function packageOf(inputPath: string): { readonly name: string; readonly dir: string } | undefined {
  const match = /^((?:.*\/)?node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(inputPath); // the last node_modules
  return match ? { dir: match[1]!, name: match[2]! } : undefined;
}

export interface BundleRule {
  /** The input the program starts from (the CLI's index.js). */
  readonly entry: string;
  /** Packages that must not load before a command asks for them (the edge's Fastify, SQLite, pg). */
  readonly forbiddenPackages: ReadonlySet<string>;
  /** Inputs of the edge (`edge/dist/src/`) that may load at start-up: `@postern/edge/client` and what it imports. */
  readonly edgeDir: string;
  readonly edgeClientEntry: string;
}

/** Inputs `from` loads at once, with the chain of imports that leads to each (for the error message). */
function eagerClosure(meta: Metafile, from: string): Map<string, string[]> {
  const chains = new Map<string, string[]>([[from, [from]]]);
  const queue = [from];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    for (const imported of meta.inputs[next]?.imports ?? []) {
      if (!EAGER.has(imported.kind) || chains.has(imported.path)) continue;
      chains.set(imported.path, [...chains.get(next)!, imported.path]);
      if (!imported.external) queue.push(imported.path);
    }
  }
  return chains;
}

/**
 * What a client command would load that it must not: every input (or external package) the entry
 * reaches through eager imports that is a forbidden package or an edge module outside
 * `@postern/edge/client`. Each violation is the import chain from the entry, for the build's error.
 */
export function startupViolations(meta: Metafile, rule: BundleRule): string[][] {
  const allowedEdge = new Set(eagerClosure(meta, rule.edgeClientEntry).keys());
  const violations: string[][] = [];
  for (const [path, chain] of eagerClosure(meta, rule.entry)) {
    // An input belongs to the package its path names; an external import is a bare specifier.
    const pkg = meta.inputs[path] ? packageOf(path)?.name : /^(?:@[^/]+\/)?[^/]+/.exec(path)?.[0];
    const forbidden = pkg !== undefined && rule.forbiddenPackages.has(pkg);
    const serverSide = path.startsWith(rule.edgeDir) && !allowedEdge.has(path);
    if (forbidden || serverSide) violations.push(chain);
  }
  return violations;
}
