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
  // CommonJS dependencies (pino, write-file-atomic, undici…) call require(); give ESM chunks one. Made on
  // first call: the banner goes into every file, and a createRequire (with the
  // import.meta it reads) for each of them at load was ~0.3 ms a file, for a function
  // only esbuild's runtime helper chunk calls (its __require).
  banner: {
    js: "import { createRequire as __agentdCreateRequire } from 'node:module'; let __agentdRequire; function require(id) { return (__agentdRequire ??= __agentdCreateRequire(import.meta.url))(id); }",
  },
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

// `agentd run` is built on its own, apart from the other subcommands: esbuild puts every
// module into a chunk per set of entry points (each dynamic import() is one) that reach
// it, so in one build with install, status, doctor, the task manager… the start-up path
// was 29 files, most of them a few hundred bytes, and each costs a resolve, a link and a
// createRequire (the banner) at start; in its own build it is 11 (start → ready 0.92×,
// CPU at ready 0.91×, 11 A/B pairs on Node 20). The run build's entry is
// dist/chunks/agentd-run.mjs, which dist/agentd.mjs imports for `run` (cli/main.ts's
// `./run.js`); the two builds never load each other's chunks.
export const RUN_BUNDLE = 'agentd-run';

/** In the CLI build, cli/main.ts's `import('./run.js')` loads the run build's entry instead. */
const runFromItsOwnBuild = {
  name: 'run-from-its-own-build',
  setup(b) {
    b.onResolve({ filter: /^\.\/run\.js$/ }, (args) => (/[\\/]cli[\\/]main\.ts$/.test(args.importer) ? { path: `./chunks/${RUN_BUNDLE}.mjs`, external: true } : undefined));
  },
};

// undici's HTTP/2 client is left out of agentd: requiring it loads node:http2 and
// node:tls, ~5 ms of every start (Node 20, node:http2 ~4.5 ms alone), for a protocol
// undici speaks only when asked (allowH2 or useH2c, which nothing in agentd sets: it
// offers ALPN http/1.1 alone). Should one ever set it, the connection fails with this
// message instead of speaking HTTP/2.
//
// Likewise the HTTP/1.1 client's way to a FormData body: client-h1.js requires undici's
// fetch body code (fetch/util, webidl, the multipart parser…, ~95 KB) for a request
// whose body is a FormData, which agentd never sends; required, it sat in the start-up
// chunk and was parsed at every start (the WebSocket client's chunk has its own copy).
const undiciWithoutHttp2 = {
  name: 'undici-without-http2',
  setup(b) {
    b.onLoad({ filter: /[\\/]undici[\\/]lib[\\/]dispatcher[\\/]client-h2\.js$/ }, () => ({
      contents: "'use strict'\nmodule.exports = function connectH2 () {\n  throw new Error('agentd is built without undici\\'s HTTP/2 client (scripts/esbuild-node.mjs)')\n}\n",
      loader: 'js',
    }));
    b.onResolve({ filter: /^\.\.\/web\/fetch\/body\.js$/ }, (args) =>
      /[\\/]undici[\\/]lib[\\/]dispatcher[\\/]client-h1\.js$/.test(args.importer) ? { path: 'client-h1-body', namespace: 'agentd-undici-stub' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'agentd-undici-stub' }, () => ({
      contents: "'use strict'\nmodule.exports.extractBody = function extractBody () {\n  throw new Error('agentd is built without undici\\'s FormData request bodies (scripts/esbuild-node.mjs)')\n}\n",
      loader: 'js',
    }));
  },
};

// The agentd builds drop whitespace and fold syntax: V8 parses every byte of a chunk it
// loads, and indentation was a third of the start-up chunk (run-daemon 344 → 228 KB).
// start → ready 0.904× and 0.924× (11 and 15 alternating pairs, Node 20); syntax folding
// alone made no difference (1.04×), and renaming identifiers too (`minify`) was no
// faster (1.05×) while it makes stack traces unreadable without the map. Names stay, so
// a stack trace or a log line still says which function; the linked source maps
// (`<file>.map`) give the lines, and list the files bundled into each chunk (which the
// tests and bench/design-libraries.mjs read). The platform is not minified: its start
// is not on anyone's path, and its crash stacks stay readable as they are.
const MINIFIED = { minifyWhitespace: true, minifySyntax: true };

/**
 * The esbuild options of the agentd bundle: the CLI (dist/agentd.mjs, every subcommand
 * but run) and `agentd run` (dist/chunks/agentd-run.mjs). `plugins` are added to both.
 */
export function agentdBuilds({ root, outdir, version, plugins = [] }) {
  return [
    { ...entryBundle({ root, entryPoints: { agentd: 'cli/main.ts' }, outdir, version }), ...MINIFIED, plugins: [runFromItsOwnBuild, undiciWithoutHttp2, ...plugins] },
    { ...entryBundle({ root, entryPoints: { [RUN_BUNDLE]: 'cli/run.ts' }, outdir, version }), ...MINIFIED, entryNames: 'chunks/[name]', plugins: [undiciWithoutHttp2, ...plugins] },
  ];
}
