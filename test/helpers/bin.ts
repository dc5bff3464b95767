// Where the built executables are, and which Node runs them. CI runs the e2e suite a
// second time with AGENTD_TEST_NODE pointing at Node 24 (the shipped runtime); the
// reference platform always runs on the Node that built better-sqlite3 (process.execPath).
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const AGENTD_NODE = process.env.AGENTD_TEST_NODE || process.execPath;
export const AGENTD_JS = join(ROOT, 'dist', 'agentd.mjs');
export const PLATFORM_NODE = process.execPath;
export const PLATFORM_JS = join(ROOT, 'dist', 'agentd-platform.mjs');
/** argv prefix to run the agentd CLI: spawn(AGENTD_CMD[0], [...AGENTD_CMD.slice(1), 'install', …]) */
export const AGENTD_CMD = [AGENTD_NODE, AGENTD_JS];
export const PLATFORM_CMD = [PLATFORM_NODE, PLATFORM_JS];
