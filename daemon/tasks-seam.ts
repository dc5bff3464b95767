// The one place the lifecycle loads the task machinery (daemon/tasks/, owned separately).
// Loaded lazily: the claim loop, runner and adapters are not needed to open the health
// port, and esbuild's splitting keeps them out of the start-up chunk.
import type { RuntimeInfo } from '../api/types.js';
import type { CreateTaskManager } from './tasks/types.js';

export interface TaskMachinery {
  createTaskManager: CreateTaskManager;
  detectRuntimes: (env: NodeJS.ProcessEnv) => Promise<RuntimeInfo[]>;
}

export async function loadTaskMachinery(): Promise<TaskMachinery> {
  const [manager, runtimes] = await Promise.all([import('./tasks/manager.js'), import('./tasks/runtimes.js')]);
  return { createTaskManager: manager.createTaskManager, detectRuntimes: runtimes.detectRuntimes };
}
