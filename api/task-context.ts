// The part of a claimed task a Multica server fills in and agentd turns into the agent's
// input: the agent definition and the context fields (issue, trigger comment, chat
// message, autopilot, quick-create, handoff note), plus the bodies of the task-life
// routes Multica's daemon calls beyond start/messages/complete/fail (prepare-lease,
// session, usage). Field names are the wire's (snake_case).
//
// Decoding is tolerant, as Multica's own daemon decodes: a field of the wrong type is
// dropped, never the whole task (readTaskContext). A Multica task has no `prompt`; our
// own platform's `prompt` stays an optional extension (api/types.ts Task).
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Check } from '@sinclair/typebox/value';

const Str = Type.String();
const StrMap = Type.Record(Type.String(), Type.String());

export const SkillSchema = Type.Object({ id: Str, name: Str }, { additionalProperties: true });

/** `agent{…}` of a claimed task. */
export const AgentSchema = Type.Object(
  {
    id: Str,
    name: Type.Optional(Str),
    instructions: Type.Optional(Str),
    skills: Type.Optional(Type.Array(SkillSchema)),
    custom_env: Type.Optional(StrMap),
    custom_args: Type.Optional(Type.Array(Str)),
    model: Type.Optional(Str),
    thinking_level: Type.Optional(Str),
  },
  { additionalProperties: true },
);
export type Agent = Static<typeof AgentSchema>;

export const RepoSchema = Type.Object({ url: Str, description: Type.Optional(Str), ref: Type.Optional(Str) }, { additionalProperties: true });
export type Repo = Static<typeof RepoSchema>;

export const CoalescedCommentSchema = Type.Object(
  {
    id: Str,
    thread_id: Type.Optional(Str),
    author_type: Type.Optional(Str),
    author_name: Type.Optional(Str),
    content: Str,
    created_at: Type.Optional(Str),
  },
  { additionalProperties: true },
);
export type CoalescedComment = Static<typeof CoalescedCommentSchema>;

export const ChatAttachmentSchema = Type.Object({ id: Str, filename: Type.Optional(Str), content_type: Type.Optional(Str) }, { additionalProperties: true });

/** The context fields agentd reads; every one optional. */
export const TaskContextSchema = Type.Object({
  agent_id: Type.Optional(Str),
  issue_id: Type.Optional(Str),
  agent: Type.Optional(AgentSchema),
  repos: Type.Optional(Type.Array(RepoSchema)),
  workspace_context: Type.Optional(Str),
  project_id: Type.Optional(Str),
  project_title: Type.Optional(Str),
  project_description: Type.Optional(Str),
  prior_session_id: Type.Optional(Str),
  prior_work_dir: Type.Optional(Str),
  trigger_comment_id: Type.Optional(Str),
  trigger_thread_id: Type.Optional(Str),
  trigger_comment_content: Type.Optional(Str),
  trigger_author_type: Type.Optional(Str),
  trigger_author_name: Type.Optional(Str),
  coalesced_comments: Type.Optional(Type.Array(CoalescedCommentSchema)),
  coalesced_comment_ids: Type.Optional(Type.Array(Str)),
  chat_session_id: Type.Optional(Str),
  chat_message: Type.Optional(Str),
  chat_message_attachments: Type.Optional(Type.Array(ChatAttachmentSchema)),
  autopilot_run_id: Type.Optional(Str),
  autopilot_id: Type.Optional(Str),
  autopilot_title: Type.Optional(Str),
  autopilot_description: Type.Optional(Str),
  autopilot_source: Type.Optional(Str),
  autopilot_trigger_payload: Type.Optional(Type.Unknown()),
  quick_create_prompt: Type.Optional(Str),
  quick_create_priority: Type.Optional(Str),
  quick_create_due_date: Type.Optional(Str),
  handoff_note: Type.Optional(Str),
  initiator_type: Type.Optional(Str),
  initiator_name: Type.Optional(Str),
});
export type TaskContext = Static<typeof TaskContextSchema>;

/**
 * The context fields of a task, each kept only when it has the declared type (one bad
 * field costs that field, not the task). `agent` is kept only whole and valid: its id
 * is what the identity check compares.
 */
export function readTaskContext(task: Record<string, unknown>): TaskContext {
  const out: Record<string, unknown> = {};
  const props = TaskContextSchema.properties as Record<string, TSchema>;
  for (const [key, schema] of Object.entries(props)) {
    const v = task[key];
    if (v === undefined || v === null) continue;
    if (Check(schema, v)) out[key] = v;
  }
  return out as TaskContext;
}

// ---------------------------------------------------------------- task-life bodies

/** POST /api/daemon/tasks/{id}/session: the resume pointer, pinned mid-run (one field at least). */
export const SessionRequestSchema = Type.Object({ session_id: Type.Optional(Str), work_dir: Type.Optional(Str) });
export type SessionRequest = Static<typeof SessionRequestSchema>;

/** One model's token counts in POST /api/daemon/tasks/{id}/usage. */
export const UsageEntrySchema = Type.Object({
  provider: Str,
  model: Str,
  input_tokens: Type.Integer({ minimum: 0 }),
  output_tokens: Type.Integer({ minimum: 0 }),
  cache_read_tokens: Type.Integer({ minimum: 0 }),
  cache_write_tokens: Type.Integer({ minimum: 0 }),
});
export type UsageEntry = Static<typeof UsageEntrySchema>;
export const UsageRequestSchema = Type.Object({ usage: Type.Array(UsageEntrySchema) });
export type UsageRequest = Static<typeof UsageRequestSchema>;

/**
 * Failure reasons of Multica's vocabulary that agentd sends when it can tell: the task's
 * identity did not hold (the agent never ran), or the agent's own error names a cause.
 * A platform that refuses one (ours before it learnt them answers 400) gets the coarse
 * `agent_error` instead (daemon/tasks/task-run.ts).
 */
export const MULTICA_FAILURE_REASONS = [
  'invalid_task_identity',
  'agent_error.provider_auth_or_access',
  'agent_error.provider_quota_limit',
  'agent_error.provider_capacity_or_rate_limit',
  'agent_error.provider_server_error',
  'agent_error.provider_network',
  'agent_error.process_failure',
  'agent_error.empty_or_unparseable_output',
  'agent_error.context_overflow',
  'agent_error.missing_config',
  'agent_error.model_not_found_or_unavailable',
  'agent_error.runtime_missing_executable',
] as const;
export type MulticaFailureReason = (typeof MULTICA_FAILURE_REASONS)[number];

/**
 * What agentd really does of Multica's `X-Client-Capabilities` list. Multica's daemon
 * also sends skill-bundles-v1, coalesced-comments-v1, execution-manifest-v1,
 * agent-skill-v1, remote-mcp-v1, local-worktree-v1 and rpc-v1; agentd downloads no skill
 * bundles, runs no MCP broker, keeps no local worktrees and answers no RPC, so it claims
 * only coalesced comments (it renders each folded comment into the prompt).
 */
export const CLIENT_CAPABILITIES: readonly string[] = ['coalesced-comments-v1'];
