// Builds the esbuild bundles that bin/agentd and bin/agentd-platform run.
// Why a bundle: Node 20 spends ~300 ms resolving and loading undici, pino, env-schema…
// from node_modules; one bundled file with lazily-loaded chunks starts in ~120 ms
// (docs/architecture.md §7). `splitting` keeps subcommands and the task
// runner out of the start-up path: they load on first use via import().
import { build } from 'esbuild';
import { existsSync, mkdirSync, cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { agentdBuilds, entryBundle } from './esbuild-node.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');

const serverEntries = {
  agentd: 'cli/main.ts',
  'agentd-platform': 'platform/main.ts',
  demo: 'scripts/demo.ts',
};
const entryPoints = Object.fromEntries(
  Object.entries(serverEntries).filter(([, src]) => existsSync(join(root, src))),
);

// No wipe of dist/: several test runs may share it; entries are overwritten in place and
// chunk names are content-hashed, so a stale chunk is never loaded.
mkdirSync(out, { recursive: true });

// The daemon is bundled on its own, not with the platform: with both in one build,
// esbuild puts a module either of them reaches into the chunks both load, so the
// daemon parsed at every start what only the platform runs (all of TypeBox's value
// operators, ~130 KB, because the platform imports the Value namespace).
// `agentd run` is a build of its own too (scripts/esbuild-node.mjs, agentdBuilds).
const version = process.env.npm_package_version ?? '0.0.0-dev';
for (const options of agentdBuilds({ root, outdir: out, version })) await build({ ...options, sourcemap: 'linked' });
const platformEntries = Object.fromEntries(Object.entries(entryPoints).filter(([name]) => name !== 'agentd'));
if (Object.keys(platformEntries).length > 0) await build({ ...entryBundle({ root, entryPoints: platformEntries, outdir: out, version }), sourcemap: 'linked' });

// The operator web page (browser bundle), when it exists.
if (existsSync(join(root, 'platform/web/app.ts'))) {
  await build({
    absWorkingDir: root,
    entryPoints: { app: 'platform/web/app.ts' },
    outdir: join(out, 'web'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'style.css']) {
    const src = join(root, 'platform/web', f);
    if (existsSync(src)) cpSync(src, join(out, 'web', f));
  }
}
