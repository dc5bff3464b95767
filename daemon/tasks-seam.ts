// The one place the lifecycle loads the task machinery (daemon/tasks/, owned separately).
// Loaded lazily, and in two parts: runtime detection (small) is needed for the first
// registration; the claim loop, runner and adapters (the task manager) only once the
// daemon is ready, so their chunk is parsed after ready, not on the way to it. esbuild's
// splitting keeps both out of the start-up chunk.
import type { RuntimeInfo } from '../api/types.js';
import type { CreateTaskManager } from './tasks/types.js';

/** The runtimes this machine offers (sent at register). */
export async function detectRuntimes(env: NodeJS.ProcessEnv): Promise<RuntimeInfo[]> {
  const runtimes = await import('./tasks/runtimes.js');
  return runtimes.detectRuntimes(env);
}

export async function loadTaskManager(): Promise<CreateTaskManager> {
  const manager = await import('./tasks/manager.js');
  return manager.createTaskManager;
}
