// The layering of docs/architecture.md, checked on every run: imports point down only
// (cli/ → daemon/ installer/ platform/ → store/ → api/ → core/), side-by-side folders
// never import each other, only api/ imports undici, only platform/ imports the database
// drivers, daemon/tasks/ is loaded through its seam, and no file-level import circle
// exists. The second block proves each rule can fail, on a small tree written for it.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FLOORS, importCircles, layeringViolations, readImports } from '../helpers/imports.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FOLDERS = FLOORS.flat();

describe('import boundaries of the product', () => {
  const edges = readImports(ROOT, FOLDERS);

  it('reads the imports (the reader itself works)', () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(edges.some((e) => e.from === 'cli/main.ts' && e.to === 'core/errors.ts')).toBe(true);
    expect(edges.some((e) => e.from === 'api/client.ts' && e.spec === 'undici')).toBe(true);
  });

  it('points down only, keeps side-by-side folders apart, and keeps packages to their owners', () => {
    expect(layeringViolations(edges)).toEqual([]);
  });

  it('has no import circle', () => {
    expect(importCircles(edges)).toEqual([]);
  });

  it('is the layering docs/architecture.md draws', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
    const diagram = doc.slice(doc.indexOf('## 2. Layers'), doc.indexOf('Rules, checked by'));
    // Each floor is one line of the diagram that starts with folder names.
    const drawn = diagram
      .split('\n')
      .map((line) => [...line.matchAll(/(?:^|\s)([a-z]+)\/(?=\s|$)/g)].map((m) => m[1]))
      .filter((names) => names.length > 0);
    expect(drawn).toEqual(FLOORS.map((f) => [...f]));
  });
});

describe('the repository stands on its own', () => {
  it('no source file, script or doc cites the brief the project started from', () => {
    const offenders = scan(['api', 'cli', 'core', 'daemon', 'installer', 'platform', 'store', 'scripts', 'bench', 'docs', 'test', 'systemd', 'launchd', '.ci']);
    expect(offenders).toEqual([]);
  });
});

function scan(dirs: string[]): string[] {
  const out: string[] = [];
  const visit = (rel: string): void => {
    const abs = join(ROOT, rel);
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) visit(p);
      else if (p !== 'test/unit/import-boundaries.test.ts' && /DESIGN\.md|notes\/contracts/.test(readFileSync(join(ROOT, p), 'utf8'))) out.push(p);
    }
  };
  dirs.forEach(visit);
  if (/DESIGN\.md/.test(readFileSync(join(ROOT, 'README.md'), 'utf8'))) out.push('README.md');
  return out;
}

describe('the checker fails when a rule is broken', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-imports-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const put = (path: string, text: string): void => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  put('core/errors.ts', "import { x } from '../cli/errors.js';\n"); // up from the ground floor
  put('installer/enroll.ts', "import { d } from '../daemon/main.js';\n"); // sideways
  put('platform/app.ts', "import type { T } from '../daemon/tasks/types.js';\n"); // sideways, type-only counts too
  put('store/http.ts', "import { request } from 'undici';\n"); // undici outside api/
  put('daemon/state.ts', "import pg from 'pg';\n"); // a database driver outside platform/
  put('daemon/daemon.ts', "const m = await import('./tasks/manager.js');\n"); // around the seam
  put('daemon/tasks-seam.ts', "export const load = () => import('./tasks/manager.js');\n"); // the seam itself: allowed
  put('daemon/tasks/manager.ts', "// import('../../cli/main.js') in a comment is not an import\nexport {};\n");
  put('api/a.ts', "import { b } from './b.js';\n");
  put('api/b.ts', "import { a } from './a.js';\n");
  put('cli/main.ts', "import { run } from '../daemon/main.js';\n"); // down: allowed
  put('daemon/main.ts', 'export {};\n');

  it('names each broken rule with its file', () => {
    const found = layeringViolations(readImports(dir, FOLDERS));
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^core\/errors\.ts imports \.\.\/cli\/errors\.js: core\/ is below cli\//),
        expect.stringMatching(/^installer\/enroll\.ts imports \.\.\/daemon\/main\.js: installer\/ and daemon\/ stand side by side/),
        expect.stringMatching(/^platform\/app\.ts imports \.\.\/daemon\/tasks\/types\.js: platform\/ and daemon\//),
        expect.stringMatching(/^store\/http\.ts imports undici: only api\/ may import undici/),
        expect.stringMatching(/^daemon\/state\.ts imports pg: only platform\/ may import pg/),
        expect.stringMatching(/^daemon\/daemon\.ts imports \.\/tasks\/manager\.js: outside daemon\/tasks\/, only daemon\/tasks-seam\.ts/),
      ]),
    );
    expect(found).toHaveLength(6);
  });

  it('finds a circle', () => {
    expect(importCircles(readImports(dir, FOLDERS))).toEqual([['api/a.ts', 'api/b.ts', 'api/a.ts']]);
  });
});
