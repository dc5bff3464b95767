// Agents: what an operator defines on the platform (name, provider, instructions,
// model, custom env/args), and the agent-shaped part of a claimed task, which is what a
// Multica daemon builds the agent's input from. TypeBox schemas; the platform checks
// admin bodies against them.
//
// The smallest faithful mapping of a Multica task: every agent task is a chat-message
// task (Multica's `chat_session_id` + `chat_message`, no issue). Each task opens its own
// chat session; `issue_id` is "" and `repos` is [].
import { Type, type Static } from '@sinclair/typebox';
import { PRINTABLE_PATTERN, RUNTIME_NAME_RE } from './types.js';

export const MAX_AGENT_INSTRUCTIONS_CHARS = 64 * 1024;
export const MAX_CHAT_MESSAGE_CHARS = 256 * 1024;
export const ENV_KEY_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';
/** Provider names are runtime types: letters, digits, '.', '_' or '-'. */
export const PROVIDER_PATTERN = RUNTIME_NAME_RE.source;

const name = Type.String({ minLength: 1, maxLength: 100, pattern: PRINTABLE_PATTERN });
const provider = Type.String({ minLength: 1, maxLength: 100, pattern: PROVIDER_PATTERN, mustBe: "a runtime name (letters, digits, '.', '_' or '-')" });
const instructions = Type.String({ maxLength: MAX_AGENT_INSTRUCTIONS_CHARS });
/** "" clears it (a null field counts as absent, so it would keep the model). */
const model = Type.String({ maxLength: 200, pattern: PRINTABLE_PATTERN, mustBe: 'a model name without control characters' });
const customEnv = Type.Record(Type.String({ pattern: ENV_KEY_PATTERN, maxLength: 200 }), Type.String({ maxLength: 8192 }), { maxProperties: 100, additionalProperties: false });
const customArgs = Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 64 });

/** POST /api/workspaces/{ws}/agents (admin) */
export const AgentCreate = Type.Object({
  name,
  provider,
  instructions: Type.Optional(instructions),
  model: Type.Optional(model),
  custom_env: Type.Optional(customEnv),
  custom_args: Type.Optional(customArgs),
});
export type AgentCreate = Static<typeof AgentCreate>;

/** POST /api/workspaces/{ws}/agents/{agent} (admin): the fields to change. */
export const AgentUpdate = Type.Partial(AgentCreate);
export type AgentUpdate = Static<typeof AgentUpdate>;

export const Agent = Type.Object({
  id: Type.String(),
  workspace_id: Type.String(),
  name: Type.String(),
  provider: Type.String(),
  instructions: Type.String(),
  model: Type.Union([Type.String(), Type.Null()]),
  custom_env: Type.Record(Type.String(), Type.String()),
  custom_args: Type.Array(Type.String()),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export type Agent = Static<typeof Agent>;

/**
 * POST /api/workspaces/{ws}/tasks (admin) for an agent; a prompt task (`{runtime, prompt}`,
 * agentd's `command` tasks) is EnqueueTaskRequest in api/types.ts.
 */
export const EnqueueAgentTask = Type.Object({
  agent_id: Type.String({ minLength: 1, maxLength: 200 }),
  chat_message: Type.String({ minLength: 1, maxLength: MAX_CHAT_MESSAGE_CHARS }),
  timeout_s: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400 })),
});
export type EnqueueAgentTask = Static<typeof EnqueueAgentTask>;

/** `agent{…}` of a claimed task (Multica's AgentData; skills are not offered here). */
export const TaskAgent = Type.Object({
  id: Type.String(),
  name: Type.String(),
  instructions: Type.String(),
  model: Type.Optional(Type.String()),
  custom_env: Type.Record(Type.String(), Type.String()),
  custom_args: Type.Array(Type.String()),
  skills: Type.Array(Type.Unknown()),
});
export type TaskAgent = Static<typeof TaskAgent>;

/** The fields an agent task adds to a claimed task. */
export const AgentTaskContext = Type.Object({
  agent_id: Type.String(),
  agent: TaskAgent,
  issue_id: Type.Literal(''),
  chat_session_id: Type.String(),
  chat_message: Type.String(),
  repos: Type.Array(Type.Unknown()),
});
export type AgentTaskContext = Static<typeof AgentTaskContext>;

/** What the operator's task detail adds for agent tasks and Multica's reports. */
export const TaskUsageTotals = Type.Object({
  input_tokens: Type.Integer(),
  output_tokens: Type.Integer(),
  cache_read_tokens: Type.Integer(),
  cache_write_tokens: Type.Integer(),
  /** How many usage entries were reported. */
  reports: Type.Integer(),
});
export const AgentTaskDetail = Type.Object({
  agent_id: Type.Union([Type.String(), Type.Null()]),
  chat_message: Type.Union([Type.String(), Type.Null()]),
  /** Set by wait-local-directory or a prepare lease with a reason. */
  wait_reason: Type.Union([Type.String(), Type.Null()]),
  usage: Type.Union([TaskUsageTotals, Type.Null()]),
});
export type AgentTaskDetail = Static<typeof AgentTaskDetail>;
