// The test runner's environment as agentd children should see it: no AGENTD_* setting the
// runner may carry, except AGENTD_TEST_SYSTEM_ROOT (test/setup/system-root.ts), which keeps
// every child's system paths away from this machine's /etc and /var.
export const SYSTEM_ROOT_VAR = 'AGENTD_TEST_SYSTEM_ROOT';

export function runnerEnv(drop: readonly string[] = []): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('AGENTD_') && k !== SYSTEM_ROOT_VAR) continue;
    if (drop.includes(k)) continue;
    env[k] = v;
  }
  return env;
}

/** For tests that isolate the system paths themselves (a private mount namespace): the runner's env without the override. */
export function envWithoutSystemRoot(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { [SYSTEM_ROOT_VAR]: _, ...rest } = env;
  return rest;
}

/** The override alone, for tests that build a minimal environment ({ PATH, HOME, … }). */
export function systemRootEnv(): NodeJS.ProcessEnv {
  const root = process.env[SYSTEM_ROOT_VAR];
  return root ? { [SYSTEM_ROOT_VAR]: root } : {};
}
