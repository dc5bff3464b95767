// Builds the esbuild bundles that bin/agentd and bin/agentd-platform run.
// Why a bundle: Node 20 spends ~300 ms resolving and loading undici, pino, env-schema…
// from node_modules; one bundled file with lazily-loaded chunks starts in ~120 ms
// (docs/architecture.md §7). `splitting` keeps subcommands and the task
// runner out of the start-up path: they load on first use via import().
import { build } from 'esbuild';
import { existsSync, mkdirSync, cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

await build({
  absWorkingDir: root,
  entryPoints,
  outdir: out,
  entryNames: '[name]',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.18',
  sourcemap: 'linked',
  // Native addon: loaded from node_modules at run time (only the platform uses it).
  external: ['better-sqlite3'],
  // CommonJS dependencies (pino, write-file-atomic…) call require(); give ESM chunks one.
  banner: { js: "import { createRequire as __agentdCreateRequire } from 'node:module'; const require = __agentdCreateRequire(import.meta.url);" },
  // write-file-atomic (CommonJS) reads __filename, which an ESM chunk lacks; Node >= 20.11
  // has import.meta.filename.
  define: { AGENTD_VERSION: JSON.stringify(process.env.npm_package_version ?? '0.0.0-dev'), __filename: 'import.meta.filename' },
  logLevel: 'warning',
});

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
