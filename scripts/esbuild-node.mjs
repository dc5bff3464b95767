// The esbuild options every Node bundle of agentd is built with: the shipped build
// (scripts/build.mjs) and the benches that rebuild a variant of it, so a bench measures
// what ships.
export const NODE_BUNDLE = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.18',
  // Native addon: loaded from node_modules at run time (only the platform uses it).
  // pg-native: pg's optional libpq binding, which pg loads only when asked to; agentd
  // uses pg's JavaScript client and does not install it.
  external: ['better-sqlite3', 'pg-native'],
  // The PostgreSQL migrations (platform/migrations/postgres/*.sql) are bundled as text,
  // so dist/agentd-platform.mjs carries its schema.
  loader: { '.sql': 'text' },
  // CommonJS dependencies (pino, write-file-atomic…) call require(); give ESM chunks one.
  banner: { js: "import { createRequire as __agentdCreateRequire } from 'node:module'; const require = __agentdCreateRequire(import.meta.url);" },
};

/** Options for the split, lazily loaded entry bundles (`version` is baked in as AGENTD_VERSION). */
export function entryBundle({ root, entryPoints, outdir, version }) {
  return {
    ...NODE_BUNDLE,
    absWorkingDir: root,
    entryPoints,
    outdir,
    entryNames: '[name]',
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    splitting: true,
    // write-file-atomic (CommonJS) reads __filename, which an ESM chunk lacks; Node >= 20.11
    // has import.meta.filename.
    define: { AGENTD_VERSION: JSON.stringify(version), __filename: 'import.meta.filename' },
    logLevel: 'warning',
  };
}
