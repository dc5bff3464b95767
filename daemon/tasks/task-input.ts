// What a claimed task asks of the agent, decided before anything is spawned:
//
//   1. identity — a task that names an agent (`agent_id` or `agent{}`, i.e. every task a
//      Multica server sends) must carry both, with `agent.id == agent_id`, and a task
//      token must be a `mat_`. Otherwise the agent never runs and the task fails with
//      `invalid_task_identity`, as Multica's daemon does: running agent B's instructions
//      under agent A's token, or handing a child a token that is not task-scoped (a
//      daemon's mdt_, a user's PAT), is a leak no retry fixes.
//   2. the prompt — the task's `prompt` when it carries one (our platform's extension;
//      the only input of the `command` runtime), else the one built from its Multica
//      context (prompt.ts).
//   3. the brief files for the work dir (brief.ts), for Multica-shaped tasks.
import { readTaskContext, type TaskContext } from '../../api/task-context.js';
import type { Task } from '../../api/types.js';
import type { AgentInput, RuntimeAdapter } from './adapters/types.js';
import { briefFiles, type BriefFile } from './brief.js';
import { buildPrompt } from './prompt.js';

export type PreparedInput =
  | { ok: true; input: AgentInput; context: TaskContext; files: BriefFile[] }
  | { ok: false; reason: 'invalid_task_identity' | 'agent_error'; error: string };

export function prepareInput(task: Task, adapter: RuntimeAdapter): PreparedInput {
  const c = readTaskContext(task);
  const namesAgent = task.agent_id !== undefined || task.agent !== undefined;
  const multica = namesAgent || typeof task.prompt !== 'string';
  if (multica) {
    if (!c.agent_id || !c.agent) {
      return { ok: false, reason: 'invalid_task_identity', error: `the task names no agent (agent_id ${c.agent_id ? 'set' : 'missing'}, agent ${c.agent ? 'set' : 'missing or malformed'}); the agent was not started` };
    }
    if (c.agent.id !== c.agent_id) {
      return { ok: false, reason: 'invalid_task_identity', error: `the task's agent_id ${c.agent_id} does not match its agent.id ${c.agent.id}; the agent was not started` };
    }
  }
  const token = task.auth_token;
  if (token !== undefined && (typeof token !== 'string' || !token.startsWith('mat_'))) {
    return { ok: false, reason: 'invalid_task_identity', error: 'the task token is not a task-scoped mat_ token; the agent was not started' };
  }
  if (multica && token === undefined) {
    return { ok: false, reason: 'invalid_task_identity', error: 'the task carries no mat_ task token; the agent was not started' };
  }

  let prompt: string;
  if (typeof task.prompt === 'string') prompt = task.prompt;
  else if (adapter.buildsPrompt) prompt = buildPrompt(c);
  else return { ok: false, reason: 'agent_error', error: `the platform sent the task without a prompt (the ${adapter.name} runtime runs only tasks that carry one)` };

  return {
    ok: true,
    context: c,
    // No resume of prior_session_id: claude keeps sessions per directory, and every task
    // here gets a fresh work dir (prior_work_dir is not reused), so `--resume` would fail.
    input: { prompt, agent: c.agent, resumeSessionId: undefined },
    files: namesAgent ? briefFiles(c, adapter.briefFile) : [],
  };
}
