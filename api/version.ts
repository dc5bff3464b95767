// The version is injected at build time by scripts/build.mjs (esbuild `define`);
// under vitest (no bundle) it falls back to the package's dev marker.
declare const AGENTD_VERSION: string | undefined;

export const VERSION: string = typeof AGENTD_VERSION === 'string' ? AGENTD_VERSION : '0.0.0-dev';
