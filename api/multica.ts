// The daemon routes Multica's server has beyond agentd's original set (multica-ai/multica,
// server/cmd/server/router.go), as TypeBox schemas: the platform checks request bodies
// against them (platform/http.ts parseBody: a null field counts as absent), and a
// Multica-shaped peer reads the answers. The bodies of register, heartbeat, claim,
// complete and fail are in api/types.ts, shared with agentd's client. Request schemas
// accept unknown fields (tolerant JSON, as Multica's decoder is); bounds keep what lands
// in the database small.
import { Type, type Static } from '@sinclair/typebox';
import type { HeartbeatAck } from './control-frames.js';
import { FailureReasonField } from './types.js';

const open = { additionalProperties: true } as const;
const maxLen = (n: number) => Type.String({ maxLength: n });

// ---------------------------------------------------------------- workspace sync

/** GET /api/daemon/workspaces → 200 [Workspace…] with `ETag: W/"<sha256>"`; 304 on a matching If-None-Match. */
export const DaemonWorkspace = Type.Object({ id: Type.String(), name: Type.String() });
export type DaemonWorkspace = Static<typeof DaemonWorkspace>;

/** A repository the workspace offers its agents (the reference platform has none). */
export const RepoData = Type.Object({
  url: Type.String(),
  description: Type.Optional(Type.String()),
  ref: Type.Optional(Type.String()),
});

/** GET /api/daemon/workspaces/{ws}/repos */
export const WorkspaceReposResponse = Type.Object({
  workspace_id: Type.String(),
  repos: Type.Array(RepoData),
  repos_version: Type.String(),
  settings: Type.Record(Type.String(), Type.Unknown()),
});
export type WorkspaceReposResponse = Static<typeof WorkspaceReposResponse>;

/** GET /api/daemon/workspaces/{ws}/runtime-profiles (custom runtimes; none here). */
export const RuntimeProfilesResponse = Type.Object({
  workspace_id: Type.String(),
  runtime_profiles: Type.Array(Type.Record(Type.String(), Type.Unknown())),
});
export type RuntimeProfilesResponse = Static<typeof RuntimeProfilesResponse>;

// ---------------------------------------------------------------- register / heartbeat

export const RegisteredRuntimeWire = Type.Object({
  id: Type.String(),
  name: Type.String(),
  /** Multica's field: which agent backend the daemon picks for this runtime. */
  provider: Type.String(),
  /** agentd's field (same value as provider). */
  type: Type.String(),
  version: Type.String(),
  status: Type.String(),
});

export const RegisterResponseWire = Type.Object({
  runtimes: Type.Array(RegisteredRuntimeWire),
  repos: Type.Array(RepoData),
  repos_version: Type.String(),
  settings: Type.Record(Type.String(), Type.Unknown()),
});
export type RegisterResponseWire = Static<typeof RegisterResponseWire>;

/** `status` is Multica's ("ok"); `runtime_id` and `runtime_status` are agentd additions. */
export const HeartbeatAnswer = Type.Object({
  status: Type.Literal('ok'),
  runtime_id: Type.String(),
  runtime_status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
});
export type HeartbeatAnswer = Static<typeof HeartbeatAnswer>;

/** `{status:"ok"}`: Multica's answer wherever it has nothing else to say. */
export const StatusOk = Type.Object({ status: Type.Literal('ok') });
export const STATUS_OK = { status: 'ok' } as const;

// ---------------------------------------------------------------- task calls

/** POST …/cancel-ack: the body is optional; its fields are accepted and not kept. */
export const CancelAckBody = Type.Object(
  {
    branch_name: Type.Optional(maxLen(500)),
    durable_work_dir: Type.Optional(maxLen(4096)),
    error_message: Type.Optional(maxLen(64 * 1024)),
    failure_reason: Type.Optional(FailureReasonField),
  },
  open,
);

/** POST /api/daemon/tasks/{id}/session: pins the resume pointer mid-run; at least one field. */
export const SessionBody = Type.Object({ session_id: Type.Optional(maxLen(500)), work_dir: Type.Optional(maxLen(4096)) }, open);

/** POST /api/daemon/tasks/{id}/wait-local-directory */
export const WaitLocalDirectoryBody = Type.Object({ reason: Type.Optional(maxLen(500)) }, open);

const tokens = Type.Optional(Type.Integer({ minimum: 0 }));
export const UsageEntry = Type.Object(
  {
    provider: Type.Optional(maxLen(100)),
    model: Type.Optional(maxLen(200)),
    input_tokens: tokens,
    output_tokens: tokens,
    cache_read_tokens: tokens,
    cache_write_tokens: tokens,
    cost_usd_ticks: tokens,
  },
  open,
);
export type UsageEntry = Static<typeof UsageEntry>;

/** POST /api/daemon/tasks/{id}/usage */
export const UsageBody = Type.Object({ usage: Type.Array(UsageEntry, { maxItems: 100 }) }, open);

/** POST /api/daemon/workspaces/{ws}/issues/gc-check */
export const IssueGcCheckBody = Type.Object({ issue_ids: Type.Array(maxLen(200), { maxItems: 1000 }) }, open);

/**
 * The task as Multica answers /start, /complete, /fail, /prepare-lease and
 * /wait-local-directory (the claimed task without its token, plus state).
 */
export const TaskStateAnswer = Type.Object({
  id: Type.String(),
  agent_id: Type.String(),
  runtime_id: Type.Union([Type.String(), Type.Null()]),
  workspace_id: Type.String(),
  issue_id: Type.String(),
  status: Type.String(),
  created_at: Type.String(),
  dispatched_at: Type.Union([Type.String(), Type.Null()]),
  started_at: Type.Union([Type.String(), Type.Null()]),
  completed_at: Type.Union([Type.String(), Type.Null()]),
  prepare_lease_expires_at: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  failure_reason: Type.Union([Type.String(), Type.Null()]),
});
export type TaskStateAnswer = Static<typeof TaskStateAnswer>;

// ---------------------------------------------------------------- WebSocket control channel
// The frames and their payloads are in api/control-frames.ts (one copy, shared with
// agentd's client side). What the platform's ack says beyond them:

/**
 * The ack of a `daemon:heartbeat`: the HTTP heartbeat's answer plus `server_capabilities`
 * (none: no `rpc-v1`, so a Multica daemon claims over HTTP). A runtime the platform does not
 * know answers `{status:"runtime_gone", runtime_gone:true}`, as Multica does.
 */
export type PlatformHeartbeatAck = HeartbeatAck & {
  status: 'ok' | 'runtime_gone';
  runtime_status?: 'online' | 'offline';
  server_capabilities: string[];
};
