// The environment a task's child gets: an allow-list of the daemon's variables plus the
// task's own identity. Built from scratch so the daemon's credential (and any other
// AGENTD_* setting) can never leak into an agent, whatever the daemon was started with.

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
}

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
  return env;
}
