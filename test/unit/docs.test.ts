// Keeps docs/protocol.md true to the platform: every route the platform registers is
// documented, and every /api/ route the document names exists.
//
// The API routes are read from the real route table: mountRoutes() is run against a
// recording router (it only registers handlers; nothing runs), so a new route added in
// platform/routes.ts is seen however it is written. The few non-API paths are matched in
// platform/server.ts's dispatcher source.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { App } from '../../platform/app.js';
import type { Handler, Router } from '../../platform/router.js';
import { mountRoutes } from '../../platform/routes.js';
import type { ClaimWaiters } from '../../platform/waiters.js';
import { EXIT } from '../../core/exit-codes.js';
import { ROOT } from '../helpers/bin.js';

/** "POST /api/workspaces/{ws}/tasks" → "POST /api/workspaces/{}/tasks": placeholder names may differ. */
const normalize = (route: string): string => route.replace(/\{[^}/]*\}/g, '{}');

function apiRoutes(): string[] {
  const seen: string[] = [];
  const rec = {
    add(method: string, pattern: string, _h: Handler) {
      seen.push(`${method} ${pattern}`);
      return rec;
    },
    get(p: string, h: Handler) {
      return rec.add('GET', p, h);
    },
    post(p: string, h: Handler) {
      return rec.add('POST', p, h);
    },
  };
  mountRoutes(rec as unknown as Router, {} as App, {} as ClaimWaiters);
  return seen;
}

function otherPaths(): string[] {
  const src = readFileSync(join(ROOT, 'platform', 'server.ts'), 'utf8');
  const exact = [...src.matchAll(/path === '([^']+)'/g)].map((m) => `GET ${m[1]}`);
  const prefixes = [...src.matchAll(/path\.startsWith\('([^']+)'\)/g)].map((m) => m[1]!).filter((p) => p !== '/api/');
  return [...exact, ...prefixes.map((p) => `GET ${p}`)];
}

const doc = readFileSync(join(ROOT, 'docs', 'protocol.md'), 'utf8');
const docNorm = normalize(doc);

describe('docs/protocol.md', () => {
  const routes = apiRoutes();

  it('the route table is read (a broken extraction must not pass vacuously)', () => {
    expect(routes.length).toBeGreaterThanOrEqual(20);
    expect(routes).toContain('POST /api/install-tokens/exchange');
    expect(otherPaths()).toEqual(expect.arrayContaining(['GET /healthz', 'GET /install.sh', 'GET /download/']));
  });

  it.each(routes)('documents %s', (route) => {
    expect(docNorm, `docs/protocol.md does not mention \`${route}\``).toContain(normalize(route));
  });

  it.each(otherPaths())('documents %s', (route) => {
    expect(docNorm).toContain(route);
  });

  it('documents the web page at GET /', () => {
    expect(doc).toMatch(/`GET \/`/);
  });

  it('names no /api/ route the platform does not serve', () => {
    const known = new Set(routes.map(normalize));
    const named = [...docNorm.matchAll(/\b(GET|POST|PUT|PATCH|DELETE) (\/api\/[A-Za-z0-9_{}\/.-]*[A-Za-z0-9_}])/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((r) => !known.has(r))).toEqual([]);
  });
});

describe('docs/operators.md', () => {
  const ops = readFileSync(join(ROOT, 'docs', 'operators.md'), 'utf8');

  it.each(Object.entries(EXIT))('documents exit code %s (%i)', (name, code) => {
    expect(ops).toMatch(new RegExp(`\\|\\s*${code}\\s*\\|\\s*${name}\\s*\\|`));
  });

  it('documents every AGENTD_* setting the daemon reads', () => {
    const src = readFileSync(join(ROOT, 'daemon', 'config.ts'), 'utf8');
    const vars = [...src.matchAll(/^\s+(AGENTD_[A-Z_]+):/gm)].map((m) => m[1]!);
    expect(vars.length).toBeGreaterThanOrEqual(10);
    expect(vars.filter((v) => !ops.includes(`\`${v}\``))).toEqual([]);
    expect(ops).toContain('AGENTD_MAX_TASKS_<RUNTIME>');
  });
});
