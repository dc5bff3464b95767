// The wire contract between agentd and a platform (ours in platform/, or a Multica
// server), as TypeBox schemas: the client checks every answer against them before use
// (api/client.ts), the platform checks every request body (platform/), and each schema's
// static type is the TypeScript type of the same name. docs/protocol.md is the prose
// version; field names are snake_case because that is what goes on the wire.
import { Type, type Static } from '@sinclair/typebox';
import type { MulticaFailureReason } from './task-context.js';

/** `mit_` + 40 lowercase hex: the one-time install token (15 minutes, single use). */
export const INSTALL_TOKEN_RE = /^mit_[0-9a-f]{40}$/;
/** `mdt_` + 40 lowercase hex: the long-lived daemon credential. */
export const DAEMON_TOKEN_RE = /^mdt_[0-9a-f]{40}$/;
/** `mat_` + 40 lowercase hex: a task-scoped token handed to the task's child process. */
export const TASK_TOKEN_RE = /^mat_[0-9a-f]{40}$/;

/**
 * Ids the platform hands out that agentd turns into URL segments or file names (task and
 * runtime ids): letters, digits, '.', '_', '-', at most 200, not starting with a dot (so
 * never `.` or `..`).
 */
export const SAFE_ID_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;

/** Answers and bodies may carry fields this version does not know: they are kept and ignored. */
const open = { additionalProperties: true } as const;
type Open<T> = T & { [extra: string]: unknown };

/** A runtime name: what a task is enqueued for and a daemon registers. */
export const RUNTIME_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const RUNTIME_NAME_WORDS = "letters, digits, '.', '_' or '-'";
export const MAX_RUNTIMES = 64;
export const MAX_PROMPT_CHARS = 256 * 1024;
export const MAX_MESSAGES_PER_BATCH = 10_000;
const maxLen = (n: number) => Type.String({ maxLength: n });

/** Error body of every non-2xx answer. */
export const ErrorBody = Type.Object({ error: Type.String() }, open);
export type ErrorBody = Static<typeof ErrorBody>;

// ---------------------------------------------------------------- enrolment

/**
 * Copy-paste commands for one machine, every one rendered from the same placeholders
 * (platform URL, workspace id, daemon id, token) by platform/connection.ts.
 */
export interface ConnectionSnippets {
  /** `curl -fsSL <url>/install.sh | [AGENTD_INSTALL_TOKEN=mit_… ]sh`: enrols, or (no token) upgrades in place. */
  one_liner: string;
  /** Puts a daemon credential (mdt_) in place on an enrolled machine. */
  credentials_set: string;
  /** The same facts as environment variables, one per line (for provisioning scripts). */
  env: string;
}

/**
 * The connection payload: what a machine needs to reach this platform as one daemon.
 * The same shape from install-token creation (token: the mit_), rotate (the new mdt_,
 * shown once) and connection info (token ""). platform_url has no trailing slash.
 */
export interface ConnectionPayload {
  platform_url: string;
  workspace_id: string;
  daemon_id: string; // "" for an install token (the machine picks its id)
  token: string;
  snippets: ConnectionSnippets;
}

/** Fleet-token bounds for POST /api/workspaces/{id}/install-tokens. */
export const MAX_INSTALL_TOKEN_USES = 1000;
export const MAX_INSTALL_TOKEN_TTL_S = 7 * 86_400;

/** POST /api/workspaces/{id}/install-tokens (admin); every field optional. */
export const CreateInstallTokenBody = Type.Object(
  {
    uses: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_INSTALL_TOKEN_USES })),
    ttl_s: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_INSTALL_TOKEN_TTL_S })),
    ephemeral: Type.Optional(Type.Boolean({ mustBe: 'true or false' })),
  },
  open,
);
export interface CreateInstallTokenRequest {
  uses?: number; // 1 … MAX_INSTALL_TOKEN_USES, default 1
  ttl_s?: number; // 1 … MAX_INSTALL_TOKEN_TTL_S, default the platform's --install-token-ttl (900)
  ephemeral?: boolean; // daemons it enrols are removed after a time offline
}

/** … → 201 */
export interface InstallTokenCreated extends ConnectionPayload {
  id: string;
  token: string; // mit_…
  workspace_id: string;
  expires_at: string; // RFC 3339
  created_at: string;
  uses: number;
  uses_left: number;
  ephemeral: boolean;
}

/** GET /api/workspaces/{id}/install-tokens (admin): the live ones (uses left, not expired); never the token. */
export interface InstallTokenSummary {
  id: string;
  workspace_id: string;
  created_at: string;
  expires_at: string;
  uses: number;
  uses_left: number;
  ephemeral: boolean;
}

/**
 * POST /api/install-tokens/exchange. The body must be an object; the fields are checked by
 * the exchange itself, because a bad token answers with the contract's error code
 * (`invalid_install_token`, never a sentence that could help guess one).
 */
export const ExchangeBody = Type.Object(
  {
    token: Type.Optional(Type.Unknown()),
    daemon_id: Type.Optional(Type.Unknown()),
    current_token: Type.Optional(Type.Unknown()),
    ephemeral: Type.Optional(Type.Boolean({ mustBe: 'true or false' })),
  },
  open,
);
export interface ExchangeRequest {
  token: string; // mit_…
  daemon_id: string;
  /**
   * The mdt_ this machine holds for `daemon_id` (agentd install --force): proves a
   * re-enrolment is the same machine. Without it an enrolled id answers 409.
   */
  current_token?: string;
  ephemeral?: boolean; // `agentd install --ephemeral`
}
export const ExchangeResponse = Type.Object(
  {
    token: Type.String({ pattern: DAEMON_TOKEN_RE.source, mustBe: 'a daemon credential (mdt_…)' }),
    // Written to config.json and shown by install and status: ids only, no control characters.
    workspace_id: Type.String({ pattern: SAFE_ID_RE.source, mustBe: "an id (letters, digits, '.', '_', '-')" }),
    daemon_id: Type.String({ pattern: `^$|${SAFE_ID_RE.source}`, mustBe: "an id (letters, digits, '.', '_', '-')" }),
    expires_at: Type.Optional(Type.String()),
    /** The token or the request made this daemon ephemeral. */
    ephemeral: Type.Optional(Type.Boolean()),
  },
  open,
);
export type ExchangeResponse = Static<typeof ExchangeResponse>;

/** Error codes the exchange answers with (in `{"error": …}`). */
export type ExchangeErrorCode =
  | 'invalid_install_token' // 400 malformed, or 401 unknown/expired
  | 'install_token_already_used' // 401
  | 'daemon_id_in_use' // 409: the id holds a live credential and current_token did not prove it
  | 'daemon_id is required'; // 400

// ---------------------------------------------------------------- daemon

export type RuntimeStatus = 'online' | 'offline';

/** A runtime (agent CLI) found on this machine, as sent at registration. */
export interface RuntimeInfo {
  name: string; // e.g. "claude", "codex", "command"
  type: string; // adapter type; same as name for the built-in adapters
  version: string;
  status: RuntimeStatus;
}

/** Device facts gathered once at start (daemon/device.ts), sent at registration. */
export interface DeviceInfo {
  hostname?: string;
  os?: string; // linux | macos | windows
  arch?: string;
  cpus?: number;
  memory_bytes?: number;
  os_release?: string; // e.g. "Debian GNU/Linux 12" (/etc/os-release PRETTY_NAME)
  cpu_model?: string;
}

/** POST /api/daemon/register (what agentd sends; RegisterBody is what a platform accepts). */
export interface RegisterRequest {
  workspace_id: string;
  daemon_id: string;
  device_name: string;
  cli_version: string;
  runtimes: RuntimeInfo[];
  device?: DeviceInfo; // agentd extension; a Multica server ignores it
}
// Runtime names are free text, as Multica takes them ("Claude (build-01)"); a task routes
// by the runtime's type. Empty: "<type> (<device_name>)", as Multica names it.
export const MAX_RUNTIME_NAME_CHARS = 200;
export const MAX_LEGACY_DAEMON_IDS = 16;
/** A string with no control characters (names and other text a person will read). */
export const PRINTABLE_PATTERN = '^[^\\u0000-\\u001f\\u007f]*$';
const printable = (max: number, what: string) => Type.String({ maxLength: max, pattern: PRINTABLE_PATTERN, mustBe: `${what} without control characters` });
export const RegisterBody = Type.Object(
  {
    workspace_id: Type.Optional(Type.String()),
    daemon_id: Type.Optional(Type.String()),
    /** Earlier daemon ids of this machine (Multica): their runtimes are merged into these. */
    legacy_daemon_ids: Type.Optional(Type.Array(maxLen(200), { maxItems: MAX_LEGACY_DAEMON_IDS })),
    device_name: Type.Optional(printable(200, 'a device name')),
    cli_version: Type.Optional(maxLen(100)),
    launched_by: Type.Optional(maxLen(50)),
    runtimes: Type.Array(
      Type.Object(
        {
          name: Type.Optional(printable(MAX_RUNTIME_NAME_CHARS, 'a runtime name')),
          type: Type.Optional(Type.String({ maxLength: 100, pattern: `^(${RUNTIME_NAME_RE.source.slice(1, -1)})?$`, mustBe: `a runtime type (${RUNTIME_NAME_WORDS})` })),
          version: Type.Optional(maxLen(200)),
          status: Type.Optional(maxLen(20)),
          profile_id: Type.Optional(maxLen(200)),
        },
        open,
      ),
      { maxItems: MAX_RUNTIMES },
    ),
    /** Multica's custom-runtime failures: accepted, not kept. */
    failed_profiles: Type.Optional(Type.Array(Type.Object({}, open), { maxItems: MAX_RUNTIMES })),
    device: Type.Optional(Type.Object({}, open)),
  },
  open,
);
export type RegisterBody = Static<typeof RegisterBody>;
export const RegisteredRuntime = Type.Object(
  // `type` is our platform's; a Multica server answers with `provider` instead.
  { id: Type.String(), name: Type.String(), type: Type.Optional(Type.String()), provider: Type.Optional(Type.String()), version: Type.Optional(Type.String()), status: Type.Optional(Type.String()) },
  open,
);
export type RegisteredRuntime = Open<Static<typeof RegisteredRuntime>>;
export const RegisterResponse = Type.Object({ runtimes: Type.Array(RegisteredRuntime) }, open);
export type RegisterResponse = { runtimes: RegisteredRuntime[] };

/** POST /api/daemon/heartbeat */
export const HeartbeatRequest = Type.Object({ runtime_id: Type.String({ minLength: 1 }) }, open);
export type HeartbeatRequest = { runtime_id: string };
/** Answers may leave out runtime_id and status (a Multica server says {"status":"ok"}). */
export const HeartbeatResponse = Type.Object({ runtime_id: Type.Optional(Type.String()), status: Type.Optional(Type.String()) }, open);
export type HeartbeatResponse = Open<{ runtime_id: string; status: string }>;

/**
 * A task as handed out by a claim. Unknown fields are kept and ignored. A Multica server
 * sends no `prompt`: the agent's input is built from the context fields
 * (api/task-context.ts); `prompt` is our platform's extension for the `command` runtime.
 */
export const Task = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    runtime_id: Type.String(),
    workspace_id: Type.Optional(Type.String()),
    prompt: Type.Optional(Type.String()),
    auth_token: Type.Optional(Type.String()), // mat_…, task-scoped
    timeout_s: Type.Optional(Type.Number()),
    // Our platform's extension: it takes raw text output on POST …/output (api/output-frames.ts).
    raw_output: Type.Optional(Type.Boolean()),
  },
  open,
);
export type Task = Open<Static<typeof Task>>;

/** POST /api/daemon/tasks/claim (batch; `wait_s` is agentd's long-poll extension) */
export const MAX_CLAIM_TASKS = 32;
export const MAX_CLAIM_WAIT_S = 25;
export const ClaimRequest = Type.Object(
  {
    daemon_id: Type.Optional(Type.String()),
    runtime_ids: Type.Array(Type.String(), { minItems: 1, maxItems: 64, mustBe: 'a non-empty array of runtime ids' }),
    // 0 answers nothing; more than MAX_CLAIM_TASKS is served as the maximum (as Multica does).
    max_tasks: Type.Optional(Type.Integer({ minimum: 0 })),
    // A hint: more than MAX_CLAIM_WAIT_S is served as the maximum.
    wait_s: Type.Optional(Type.Number({ minimum: 0, mustBe: 'a number of seconds ≥ 0' })),
  },
  open,
);
export type ClaimRequest = { daemon_id: string; runtime_ids: string[]; max_tasks: number; wait_s?: number };
export const ClaimResponse = Type.Object({ tasks: Type.Array(Task) }, open);
export type ClaimResponse = { tasks: Task[] };

/** POST /api/daemon/runtimes/{id}/tasks/claim (legacy single claim); a missing task is none. */
export const LegacyClaimResponse = Type.Object({ task: Type.Optional(Type.Union([Task, Type.Null()])) }, open);
export type LegacyClaimResponse = { task: Task | null };

export type MessageType = 'text' | 'thinking' | 'tool_use' | 'tool_result' | 'error' | 'system' | 'stderr';

/** One output message; `seq` is per task and strictly increasing (resend = idempotent). */
export const TaskMessage = Type.Object(
  {
    seq: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, mustBe: 'an integer ≥ 0' }),
    type: Type.String({ minLength: 1, maxLength: 50 }),
    content: Type.Optional(Type.String()),
    tool: Type.Optional(maxLen(200)),
    input: Type.Optional(Type.Unknown()),
    output: Type.Optional(Type.Unknown()),
  },
  open,
);
export type TaskMessage = { seq: number; type: MessageType | string; content?: string; tool?: string; input?: unknown; output?: unknown };
/** POST /api/daemon/tasks/{id}/messages */
export const MessagesRequest = Type.Object({ messages: Type.Array(TaskMessage, { maxItems: MAX_MESSAGES_PER_BATCH }) }, open);
export type MessagesRequest = { messages: TaskMessage[] };

/** POST /api/daemon/tasks/{id}/progress */
export const ProgressRequest = Type.Object(
  { summary: Type.Optional(maxLen(2000)), step: Type.Optional(Type.Integer({ minimum: 0 })), total: Type.Optional(Type.Integer({ minimum: 0 })) },
  open,
);
export type ProgressRequest = { summary: string; step: number; total: number };

/** POST /api/daemon/tasks/{id}/complete */
export const CompleteRequest = Type.Object(
  { output: Type.Optional(Type.String()), session_id: Type.Optional(maxLen(500)), work_dir: Type.Optional(maxLen(4096)) },
  open,
);
export type CompleteRequest = { output: string; session_id?: string; work_dir?: string };

/** Why a task failed; the values a Multica server knows. */
export type FailureReason =
  | 'idle_watchdog'
  | 'timeout'
  | 'cancelled'
  | 'agent_error'
  | 'daemon_shutdown'
  | 'orphaned'
  | 'runtime_offline';
export const FAILURE_REASONS: readonly FailureReason[] = [
  'idle_watchdog',
  'timeout',
  'cancelled',
  'agent_error',
  'daemon_shutdown',
  'orphaned',
  'runtime_offline',
];

/** POST /api/daemon/tasks/{id}/fail */
/**
 * failure_reason on the wire: a lowercase dotted code (`timeout`, `agent_error`,
 * `agent_error.provider_auth_or_access`, `invalid_task_identity`). agentd's are
 * FAILURE_REASONS; a platform stores any other well-formed code (Multica's classifier has
 * many) as given. Absent or "": `agent_error`.
 */
export const FAILURE_REASON_RE = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/;
export const MAX_FAILURE_REASON_CHARS = 100;
export const FailureReasonField = Type.String({
  maxLength: MAX_FAILURE_REASON_CHARS,
  pattern: `^(${FAILURE_REASON_RE.source.slice(1, -1)})?$`,
  mustBe: 'a lowercase code like agent_error or agent_error.context_overflow',
});
export const FailRequest = Type.Object(
  { error: Type.Optional(Type.String()), failure_reason: Type.Optional(FailureReasonField), session_id: Type.Optional(maxLen(500)), work_dir: Type.Optional(maxLen(4096)) },
  open,
);
/** What agentd sends: also Multica's refined reasons (api/task-context.ts), and the resume pointer. */
export type FailRequest = { error: string; failure_reason: FailureReason | MulticaFailureReason; session_id?: string; work_dir?: string };

export type TaskStatus = 'queued' | 'claimed' | 'running' | 'completed' | 'failed' | 'cancelled';
export const TERMINAL_TASK_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];
const TERMINAL_STATUS_SET: ReadonlySet<string> = new Set(TERMINAL_TASK_STATUSES);
/** A status the task never leaves (what the platform answers or pushes may be any string). */
export const isTerminalTaskStatus = (status: string): boolean => TERMINAL_STATUS_SET.has(status);

/** GET /api/daemon/tasks/{id}/status */
export const TaskStatusResponse = Type.Object({ status: Type.String() }, open);
export type TaskStatusResponse = { status: TaskStatus | string };

/**
 * POST /api/daemon/tasks/status (agentd extension): the status of many tasks in one call.
 * A task the daemon may not see (unknown, another daemon's) is left out of the answer.
 */
/** Most task ids one batched status call may carry. */
export const MAX_STATUS_TASK_IDS = 1000;
export const TaskStatusesRequest = Type.Object(
  { task_ids: Type.Array(maxLen(200), { maxItems: MAX_STATUS_TASK_IDS, mustBe: `an array of at most ${MAX_STATUS_TASK_IDS} task ids` }) },
  open,
);
export type TaskStatusesRequest = { task_ids: string[] };
export const TaskStatusesResponse = Type.Object({ tasks: Type.Array(Type.Object({ id: Type.String(), status: Type.String() }, open)) }, open);
export type TaskStatusesResponse = { tasks: { id: string; status: TaskStatus | string }[] };

/** POST /api/daemon/deregister */
export const DeregisterRequest = Type.Object({ runtime_ids: Type.Optional(Type.Array(Type.String(), { mustBe: 'an array of strings' })) }, open);
export type DeregisterRequest = { runtime_ids: string[] };

// ---------------------------------------------------------------- operator (admin)

export interface Workspace {
  id: string;
  name: string;
  created_at: string;
}

/** GET /api/workspaces/{id}/daemons */
export interface DaemonSummary {
  daemon_id: string;
  device_name: string;
  cli_version: string | null;
  last_heartbeat_at: string | null;
  online: boolean;
  revoked: boolean;
  os?: string | null; // from X-Client-OS (reference platform)
  deregistered?: boolean; // every runtime deregistered (e.g. after `agentd uninstall`)
  runtimes: RegisteredRuntime[];
  running_tasks: number;
  // Reference-platform extras: what exchanges did to this daemon id.
  enrolled_at?: string | null; // the latest (re-)enrolment or rotation
  reenrolled_at?: string | null;
  /** Exchanges refused with daemon_id_in_use (someone tried to take this id over). */
  refused_enrolments?: number;
  last_refused_enrolment_at?: string | null;
  ephemeral?: boolean; // removed (revoked + deregistered) after a time offline
}

/** GET …/daemons/{daemon_id}/connection and POST …/rotate (rotate returns the token once) */
export interface ConnectionInfo extends ConnectionPayload {
  token: string; // "" when shown, mdt_… only in the answer to rotate
  issued_at: string;
  revoked_at: string | null;
}

/** What a revocation did to the revoked daemons' tasks (they cannot report any more). */
export interface RevocationOutcome {
  /** Running tasks failed at once with failure_reason runtime_offline. */
  tasks_failed: number;
  /** Claimed but not started: back in the queue for another machine. */
  tasks_requeued: number;
}

/** POST /api/workspaces/{id}/revoke-tokens (admin) */
export interface RevokeTokensResponse extends RevocationOutcome {
  revoked: number; // live daemon credentials revoked by this call (0 on a repeat)
}

/** POST /api/workspaces/{id}/tasks (admin) */
export const EnqueueTaskRequest = Type.Object(
  {
    runtime: Type.String({ minLength: 1, maxLength: 100, pattern: RUNTIME_NAME_RE.source, mustBe: `a runtime name (${RUNTIME_NAME_WORDS})` }),
    prompt: Type.String({ minLength: 1, maxLength: MAX_PROMPT_CHARS }),
    timeout_s: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400 })),
  },
  open,
);
export type EnqueueTaskRequest = { runtime: string; prompt: string; timeout_s?: number };
export interface EnqueueTaskResponse {
  id: string;
}

/** GET /api/workspaces/{id}/tasks/{task_id} (admin) */
export interface TaskDetail {
  id: string;
  workspace_id: string;
  runtime: string;
  prompt: string;
  status: TaskStatus;
  failure_reason: FailureReason | null;
  error: string | null;
  output: string | null;
  daemon_id: string | null;
  created_at: string;
  claimed_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  messages: TaskMessage[];
  // Reference-platform extras (optional for other platforms):
  runtime_id?: string | null;
  timeout_s?: number | null;
  session_id?: string | null;
  work_dir?: string | null;
  progress?: ProgressRequest | null;
  cancel_acked_at?: string | null;
  /** Messages stored for the task (the `messages` array may be a page of them, or empty in lists). */
  message_count?: number;
}

// ---------------------------------------------------------------- identity headers

/**
 * Who a daemon request comes from, outside the bearer: sent on every daemon call
 * (api/headers.ts builds them), checked against the credential by the platform
 * (403 on a mismatch) and written to its request log.
 */
export const WORKSPACE_ID_HEADER = 'x-workspace-id';
export const DAEMON_ID_HEADER = 'x-daemon-id';

export type ClientOS = 'linux' | 'macos' | 'windows';
export function clientOS(platform: NodeJS.Platform = process.platform): ClientOS {
  if (platform === 'darwin') return 'macos';
  if (platform === 'win32') return 'windows';
  return 'linux';
}
