import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  // `.sql` files load as their text, as the bundler loads them (scripts/esbuild-node.mjs):
  // the PostgreSQL migrations are imported by platform/migrations/postgres.ts.
  plugins: [
    {
      name: 'sql-as-text',
      transform(code: string, id: string) {
        return id.endsWith('.sql') ? { code: `export default ${JSON.stringify(code)};`, map: null } : undefined;
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    // System paths under a private directory of each test file's own (see the file).
    setupFiles: ['test/setup/system-root.ts'],
    // The run's throwaway PostgreSQL cluster, when it was given none (see the file).
    globalSetup: ['test/setup/postgres.ts'],
    // The fault suite runs on its own, one file at a time (`npm run test:faults` sets
    // RUN_FAULTS=1): its timing checks would otherwise measure its neighbours.
    exclude: [...configDefaults.exclude, ...(process.env.RUN_FAULTS === '1' ? [] : ['test/faults/**'])],
    // e2e tests start real platforms and daemons; two cores here, so keep it modest.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
