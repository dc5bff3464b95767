// Reads every import of the product's source folders and checks them against the
// layering rules in docs/architecture.md (Tailscale's deps_test.go habit: the rules are
// data, the test fails with the offending file and import). Imports are read as text,
// the way the bundler sees them: static `import … from`, `export … from` and `import()`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';

/** Top-level source folders, from the top floor down. Folders on one floor never import each other. */
export const FLOORS: readonly (readonly string[])[] = [['cli'], ['daemon', 'installer', 'platform'], ['store'], ['api'], ['core']];

/** Files outside daemon/tasks/ may reach into it only through these. */
export const TASKS_SEAM = { dir: 'daemon/tasks/', seam: 'daemon/tasks-seam.ts', contract: 'daemon/tasks/types.ts' } as const;

/** Packages only one folder may import (the one HTTP client, the platform's two database drivers, the one WebSocket server, the doctor's host facts: never the daemon). */
export const PACKAGE_OWNERS: Readonly<Record<string, string>> = { undici: 'api', 'better-sqlite3': 'platform', pg: 'platform', ws: 'platform', systeminformation: 'cli' };

export interface ImportEdge {
  from: string; // repo-relative path, forward slashes
  spec: string; // as written
  to?: string; // repo-relative target for relative imports
  typeOnly: boolean;
}

const IMPORT_RE = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

export function readImports(root: string, folders: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const folder of folders) {
    for (const file of walk(join(root, folder))) {
      const from = toPosix(relative(root, file));
      const text = stripComments(readFileSync(file, 'utf8'));
      for (const m of text.matchAll(IMPORT_RE)) {
        const spec = m[3] ?? m[4];
        if (!spec) continue;
        const typeOnly = Boolean(m[2]);
        const edge: ImportEdge = { from, spec, typeOnly };
        if (spec.startsWith('.')) edge.to = toPosix(normalize(join(dirname(from), spec))).replace(/\.js$/, '.ts');
        edges.push(edge);
      }
    }
  }
  return edges;
}

/** Every rule broken, one line each ("file imports spec: why"). Empty when the layering holds. */
export function layeringViolations(edges: readonly ImportEdge[]): string[] {
  const floorOf = new Map<string, number>();
  FLOORS.forEach((names, i) => names.forEach((n) => floorOf.set(n, i)));
  const out: string[] = [];
  for (const e of edges) {
    const fromTop = e.from.split('/')[0];
    const fromFloor = floorOf.get(fromTop);
    if (fromFloor === undefined) continue;
    if (!e.to) {
      const pkg = e.spec.startsWith('@') ? e.spec.split('/').slice(0, 2).join('/') : e.spec.split('/')[0];
      const owner = PACKAGE_OWNERS[pkg];
      if (owner && owner !== fromTop && !e.typeOnly) out.push(`${e.from} imports ${e.spec}: only ${owner}/ may import ${pkg}`);
      continue;
    }
    const toTop = e.to.split('/')[0];
    const toFloor = floorOf.get(toTop);
    if (toFloor === undefined) {
      out.push(`${e.from} imports ${e.spec}: ${toTop}/ is not a product folder`);
      continue;
    }
    if (toTop !== fromTop) {
      if (toFloor < fromFloor) out.push(`${e.from} imports ${e.spec}: ${fromTop}/ is below ${toTop}/, imports point down only`);
      else if (toFloor === fromFloor) out.push(`${e.from} imports ${e.spec}: ${fromTop}/ and ${toTop}/ stand side by side and never import each other`);
    }
    if (e.to.startsWith(TASKS_SEAM.dir) && !e.from.startsWith(TASKS_SEAM.dir) && e.from !== TASKS_SEAM.seam && e.to !== TASKS_SEAM.contract) {
      out.push(`${e.from} imports ${e.spec}: outside daemon/tasks/, only ${TASKS_SEAM.seam} loads it (others may use ${TASKS_SEAM.contract})`);
    }
  }
  return out;
}

/** File-level import circles, type-only imports included (they vanish at build, but tie the files as tightly for a reader). */
export function importCircles(edges: readonly ImportEdge[]): string[][] {
  const graph = new Map<string, string[]>();
  for (const e of edges) if (e.to) graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
  const circles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 'open') circles.push([...stack.slice(stack.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of graph.keys()) if (!state.has(n)) visit(n);
  return circles;
}

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (/\.ts$/.test(name) && !/\.d\.ts$/.test(name)) yield p;
  }
}

function toPosix(p: string): string {
  return p.split(sep).join('/');
}

/** Comments may quote imports (`// import('x')`); strings and templates stay. */
function stripComments(s: string): string {
  return s.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}
