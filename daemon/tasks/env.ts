// The environment a task's child gets: an allow-list of the daemon's variables plus the
// task's own identity. Built from scratch so the daemon's credential (and any other
// AGENTD_* setting) can never leak into an agent, whatever the daemon was started with.
//
// The identity comes twice: as AGENTD_* (ours) and as the MULTICA_* variables Multica's
// daemon sets, which the agent's own `multica` CLI reads to reach the server with the
// task's mat_ (MULTICA_TOKEN). Then the agent's `custom_env` is laid over it, minus the
// keys Multica's daemon blocks (MULTICA_*, HOME, PATH, USER, SHELL, TERM, TMPDIR/TMP/
// TEMP, CODEX_HOME) and our own AGENTD_*: an agent definition may add variables, never
// redirect the task's identity, home or executable search path.

/** Variables passed through from the daemon's environment when set. */
export const TASK_ENV_ALLOW: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TERM',
  'TZ',
  'TMPDIR',
  // Agents call their model APIs through the same proxy the daemon uses.
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
];

export interface TaskEnvInput {
  taskId: string;
  /** The task-scoped mat_ token (never the daemon's mdt_). */
  taskToken: string | undefined;
  platformUrl: string;
  /** Extra variable names an operator allowed (never AGENTD_*). */
  extraAllow?: readonly string[];
  /** Multica's task identity (MULTICA_*), set for every task. */
  multica?: {
    workspaceId: string;
    agentId?: string | undefined;
    agentName?: string | undefined;
    /** Port of the daemon's health server (agents call it back), when it listens. */
    daemonPort?: number | null | undefined;
  };
  /** The agent's `custom_env` (blocked keys are dropped). */
  customEnv?: Readonly<Record<string, string>> | undefined;
}

const BLOCKED_EXACT = new Set(['HOME', 'PATH', 'USER', 'SHELL', 'TERM', 'TMPDIR', 'TMP', 'TEMP', 'CODEX_HOME']);

/** A `custom_env` key that may not be set: Multica's blocked keys plus our AGENTD_*. */
export function isBlockedEnvKey(key: string): boolean {
  const k = key.toUpperCase();
  return k.startsWith('MULTICA_') || k.startsWith('AGENTD_') || BLOCKED_EXACT.has(k);
}

/** A variable name a child can receive (no `=`, no NUL, not empty). */
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;

export function buildTaskEnv(parent: NodeJS.ProcessEnv, t: TaskEnvInput): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of [...TASK_ENV_ALLOW, ...(t.extraAllow ?? [])]) {
    if (name.startsWith('AGENTD_')) continue;
    const v = parent[name];
    if (v !== undefined) env[name] = v;
  }
  if (env.PATH === undefined) env.PATH = '/usr/local/bin:/usr/bin:/bin';
  env.AGENTD_TASK_ID = t.taskId;
  if (t.taskToken) env.AGENTD_TASK_TOKEN = t.taskToken;
  env.AGENTD_PLATFORM_URL = t.platformUrl;
  if (t.multica) {
    env.MULTICA_SERVER_URL = t.platformUrl;
    env.MULTICA_WORKSPACE_ID = t.multica.workspaceId;
    env.MULTICA_TASK_ID = t.taskId;
    if (t.taskToken) env.MULTICA_TOKEN = t.taskToken;
    if (t.multica.agentId) env.MULTICA_AGENT_ID = t.multica.agentId;
    if (t.multica.agentName) env.MULTICA_AGENT_NAME = t.multica.agentName;
    if (t.multica.daemonPort) env.MULTICA_DAEMON_PORT = String(t.multica.daemonPort);
  }
  for (const [k, v] of Object.entries(t.customEnv ?? {})) {
    if (isBlockedEnvKey(k) || !ENV_NAME_RE.test(k) || typeof v !== 'string' || v.includes('\0')) continue;
    env[k] = v;
  }
  return env;
}
