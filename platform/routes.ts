// Every JSON route of the platform, wired to its service. Handlers only authenticate,
// parse and delegate; the services own the rules.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { requireAdmin, requireDaemon, requireDaemonRuntime, type App } from './app.js';
import type { ClientIdentity } from './daemons.js';
import { createHash } from 'node:crypto';
import { IssueGcCheckBody, RuntimeProfilesResponse, STATUS_OK, WorkspaceReposResponse, type DaemonWorkspace } from '../api/multica.js';
import { NO_REPOS_VERSION } from './daemons.js';
import { ExchangeBody, HeartbeatRequest } from '../api/types.js';
import { HttpError, bearer, header, notFound, parseBody, readChunks, readJson, unauthorized } from './http.js';
import { MAX_OUTPUT_BODY_BYTES, OUTPUT_CONTENT_TYPE } from '../api/output-frames.js';
import { holdThroughputGc } from '../core/gc-mode.js';
import type { Router } from './router.js';
import { Tasks, type TaskActor } from './tasks.js';
import type { ClaimWaiters } from './waiters.js';

const OK = { ok: true } as const;
/** A heartbeat is `{"runtime_id": …}`; it is read before the credential is checked, so it is kept small. */
const HEARTBEAT_BODY_LIMIT = 64 * 1024;
/** A raw output body this large comes from a task that floods (see the output route). */
const FLOOD_BODY_BYTES = 1024 * 1024;

/** Multica's daemon compares the token's workspace directly; another one is 404, as there. */
function requireOwnWorkspace(who: { workspace_id: string }, ws: string): void {
  if (ws !== who.workspace_id) throw notFound('workspace not found');
}

function identity(req: IncomingMessage): ClientIdentity {
  return { version: header(req, 'x-client-version'), os: header(req, 'x-client-os', 20) };
}

/** Task routes accept the claiming daemon's mdt_ or, where `allowTaskToken`, the task's own mat_. */
async function taskActor(app: App, req: IncomingMessage, allowTaskToken: boolean): Promise<TaskActor> {
  const t = bearer(req);
  if (allowTaskToken && t?.startsWith('mat_')) {
    const taskId = await app.tasks.authenticateTaskToken(t);
    if (!taskId) throw unauthorized('invalid or revoked task token');
    return { kind: 'task', taskId };
  }
  return { kind: 'daemon', who: await requireDaemon(app, req) };
}

/** An AbortSignal that fires when the client goes away (for long polls). */
function clientGone(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once('close', () => ac.abort());
  return ac.signal;
}

export function mountRoutes(router: Router, app: App, waiters: ClaimWaiters): void {
  // ---------------------------------------------------------------- admin
  router.get('/api/workspaces', async ({ req }) => {
    requireAdmin(app, req);
    return [200, await app.enrolment.listWorkspaces()];
  });
  router.post('/api/workspaces/{ws}/install-tokens', async ({ req, params }) => {
    requireAdmin(app, req);
    return [201, await app.enrolment.createInstallToken(params.ws!, await readJson(req), app.publicUrl())];
  });
  router.get('/api/workspaces/{ws}/install-tokens', async ({ req, params }) => {
    requireAdmin(app, req);
    return [200, await app.enrolment.listInstallTokens(params.ws!)];
  });
  router.post('/api/workspaces/{ws}/revoke-tokens', async ({ req, params }) => {
    requireAdmin(app, req);
    await readJson(req);
    return [200, await app.revocation.revokeWorkspace(params.ws!)];
  });
  router.get('/api/workspaces/{ws}/daemons', async ({ req, params }) => {
    requireAdmin(app, req);
    await app.enrolment.requireWorkspace(params.ws!);
    return [200, await app.daemons.list(params.ws!)];
  });
  router.post('/api/workspaces/{ws}/daemons/{daemon}/revoke', async ({ req, params }) => {
    requireAdmin(app, req);
    await readJson(req);
    return [200, { ...OK, ...(await app.revocation.revokeDaemon(params.ws!, params.daemon!)) }];
  });
  router.post('/api/workspaces/{ws}/daemons/{daemon}/rotate', async ({ req, params }) => {
    requireAdmin(app, req);
    await readJson(req);
    return [200, await app.revocation.rotate(params.ws!, params.daemon!, app.publicUrl())];
  });
  router.get('/api/workspaces/{ws}/daemons/{daemon}/connection', async ({ req, params }) => {
    requireAdmin(app, req);
    return [200, await app.enrolment.connection(params.ws!, params.daemon!, app.publicUrl())];
  });
  router.get('/api/workspaces/{ws}/agents', async ({ req, params }) => {
    requireAdmin(app, req);
    await app.enrolment.requireWorkspace(params.ws!);
    return [200, await app.agents.list(params.ws!)];
  });
  router.post('/api/workspaces/{ws}/agents', async ({ req, params }) => {
    requireAdmin(app, req);
    const body = await readJson(req);
    await app.enrolment.requireWorkspace(params.ws!);
    return [201, await app.agents.create(params.ws!, body)];
  });
  router.get('/api/workspaces/{ws}/agents/{agent}', async ({ req, params }) => {
    requireAdmin(app, req);
    return [200, await app.agents.get(params.ws!, params.agent!)];
  });
  router.post('/api/workspaces/{ws}/agents/{agent}', async ({ req, params }) => {
    requireAdmin(app, req);
    const body = await readJson(req);
    return [200, await app.agents.update(params.ws!, params.agent!, body)];
  });
  router.post('/api/workspaces/{ws}/tasks', async ({ req, params }) => {
    requireAdmin(app, req);
    const body = await readJson(req);
    await app.enrolment.requireWorkspace(params.ws!);
    return [201, await app.tasks.enqueue(params.ws!, body)];
  });
  router.get('/api/workspaces/{ws}/tasks', async ({ req, params, query }) => {
    requireAdmin(app, req);
    await app.enrolment.requireWorkspace(params.ws!);
    return [200, await app.tasks.list(params.ws!, intParam(query, 'limit', 1, 10_000) ?? 200)];
  });
  router.get('/api/workspaces/{ws}/tasks/{task}', async ({ req, params, query }) => {
    requireAdmin(app, req);
    return [
      200,
      await app.tasks.get(params.ws!, params.task!, {
        after: intParam(query, 'messages_after', -1, Number.MAX_SAFE_INTEGER),
        limit: intParam(query, 'messages_limit', 0, Number.MAX_SAFE_INTEGER),
      }),
    ];
  });
  router.post('/api/workspaces/{ws}/tasks/{task}/cancel', async ({ req, params }) => {
    requireAdmin(app, req);
    await readJson(req);
    await app.tasks.cancel(params.ws!, params.task!);
    return [200, OK];
  });

  // ---------------------------------------------------------------- enrolment (the mit_ is the credential)
  router.post('/api/install-tokens/exchange', async ({ req }) => {
    const body = parseBody(ExchangeBody, await readJson(req));
    return [200, await app.enrolment.exchange(body.token, body.daemon_id, body.current_token, body.ephemeral === true)];
  });

  // ---------------------------------------------------------------- daemon: workspace sync
  router.get('/api/daemon/workspaces', async ({ req, res }) => {
    const who = await requireDaemon(app, req);
    const w = (await app.enrolment.listWorkspaces()).find((x) => x.id === who.workspace_id);
    const list: DaemonWorkspace[] = w ? [{ id: w.id, name: w.name }] : [];
    const body = JSON.stringify(list);
    const etag = `W/"${createHash('sha256').update(body).digest('hex')}"`;
    res.setHeader('etag', etag);
    if (header(req, 'if-none-match', 200) === etag) {
      res.writeHead(304, { 'cache-control': 'no-store' });
      res.end();
      return undefined;
    }
    return [200, list];
  });
  router.get('/api/daemon/workspaces/{ws}/repos', async ({ req, params }) => {
    const who = await requireDaemon(app, req);
    requireOwnWorkspace(who, params.ws!);
    const answer: WorkspaceReposResponse = { workspace_id: who.workspace_id, repos: [], repos_version: NO_REPOS_VERSION, settings: {} };
    return [200, answer];
  });
  router.get('/api/daemon/workspaces/{ws}/runtime-profiles', async ({ req, params }) => {
    const who = await requireDaemon(app, req);
    requireOwnWorkspace(who, params.ws!);
    const answer: RuntimeProfilesResponse = { workspace_id: who.workspace_id, runtime_profiles: [] };
    return [200, answer];
  });

  // ---------------------------------------------------------------- daemon: runtimes
  router.post('/api/daemon/register', async ({ req }) => {
    const who = await requireDaemon(app, req);
    const body = await readJson(req);
    const ws = typeof body === 'object' && body !== null ? (body as { workspace_id?: unknown }).workspace_id : undefined;
    // Multica answers another workspace as not found (an mdt_ names exactly one).
    if (typeof ws === 'string' && ws !== '' && ws !== who.workspace_id) throw notFound('workspace not found');
    return [200, await app.daemons.register(who, body, identity(req))];
  });
  router.post('/api/daemon/heartbeat', async ({ req }) => {
    // The busiest route (every daemon, every 15 s): the body is read first so that the
    // credential and the runtime are one lookup. A body that is not a heartbeat gets
    // the answer it would get after authentication (a bad credential is still a 401).
    let runtimeId: string;
    try {
      runtimeId = parseBody(HeartbeatRequest, await readJson(req, HEARTBEAT_BODY_LIMIT)).runtime_id;
    } catch (e) {
      await requireDaemon(app, req);
      throw e;
    }
    const { who, runtime } = await requireDaemonRuntime(app, req, runtimeId);
    return [200, app.daemons.heartbeatSeen(who, runtimeId, runtime, identity(req))];
  });
  router.post('/api/daemon/deregister', async ({ req }) => {
    const who = await requireDaemon(app, req);
    await app.daemons.deregister(who, await readJson(req));
    return [200, STATUS_OK];
  });
  // The WebSocket itself is served on the server's 'upgrade' event (daemon-ws.ts); a
  // plain GET lands here.
  router.get('/api/daemon/ws', async ({ req }) => {
    await requireDaemon(app, req);
    throw new HttpError(426, 'this route needs a WebSocket upgrade');
  });
  // The daemon credential revokes itself (`agentd uninstall`): after this it is a 401.
  router.post('/api/daemon/revoke', async ({ req }) => {
    const who = await requireDaemon(app, req);
    await readJson(req);
    return [200, { ...OK, ...(await app.revocation.revokeSelf(who)) }];
  });

  // ---------------------------------------------------------------- daemon: claims
  const batchClaim: Parameters<Router['post']>[1] = async ({ req, res }) => {
    let who = await requireDaemon(app, req);
    const { runtimeIds, max, waitMs } = Tasks.parseClaim(who, await readJson(req));
    // Unknown, foreign and retired ids are skipped, as Multica does (no 404: a daemon
    // holding one stale id must keep claiming for the others).
    const runtimeMap = await app.daemons.liveRuntimeMap(who, runtimeIds);
    const deadline = Date.now() + (app.config.longPoll ? waitMs : 0);
    const gone = clientGone(res);
    const names = new Set(runtimeMap.keys());
    for (;;) {
      // Armed before the claim: an enqueue while the claim is on its way is not missed.
      const watch = waiters.watch(who.workspace_id, names);
      try {
        const tasks = await app.tasks.claim(who, runtimeMap, max);
        const left = deadline - Date.now();
        if (tasks.length > 0 || left <= 0 || runtimeMap.size === 0 || max === 0) return [200, { tasks }];
        await watch.wait(left, gone);
      } finally {
        watch.stop();
      }
      // Never hand out tasks to a client that left or to a server that is closing:
      // they would stay claimed with nobody running them.
      if (gone.aborted || waiters.isClosed) return [200, { tasks: [] }];
      who = await requireDaemon(app, req); // revoked while waiting → 401 now, not after the wait
    }
  };
  router.post('/api/daemon/tasks/claim', batchClaim);
  router.post('/api/daemon/claim', batchClaim); // Multica's transitional alias
  router.post('/api/daemon/runtimes/{rt}/tasks/claim', async ({ req, params }) => {
    const who = await requireDaemon(app, req);
    await readJson(req);
    const r = await app.daemons.requireOwnedRuntime(who, params.rt!);
    if (r.deregistered_at !== null) return [200, { task: null }];
    const [task] = await app.tasks.claim(who, new Map([[r.type, r.id]]), 1);
    return [200, { task: task ?? null }];
  });
  router.post('/api/daemon/runtimes/{rt}/recover-orphans', async ({ req, params }) => {
    const who = await requireDaemon(app, req);
    await readJson(req);
    await app.daemons.requireOwnedRuntime(who, params.rt!);
    const { recovered } = await app.tasks.recoverOrphans(who, params.rt!);
    // Multica's names (orphaned, retried: nothing is retried here) plus ours.
    return [200, { orphaned: recovered, retried: 0, recovered }];
  });
  router.post('/api/daemon/runtimes/{rt}/tasks/{task}/prepare-lease', async ({ req, params }) => {
    const actor = await taskActor(app, req, false);
    await readJson(req);
    return [200, await app.tasks.prepareLease(actor, params.rt!, params.task!)];
  });

  // agentd extension: one call for the status of every task a daemon runs (instead of one
  // GET per task per poll); a daemon falls back to the per-task route on 404.
  router.post('/api/daemon/tasks/status', async ({ req }) => {
    // --no-batch-status: answer as for an unknown path (what a Multica server says).
    if (app.config.batchStatus === false) throw notFound('not found');
    const who = await requireDaemon(app, req);
    return [200, await app.tasks.statuses(who, await readJson(req))];
  });

  // ---------------------------------------------------------------- daemon: task calls
  router.get('/api/daemon/tasks/{task}/status', async ({ req, params }) => {
    return [200, await app.tasks.status(await taskActor(app, req, true), params.task!)];
  });
  router.post('/api/daemon/tasks/{task}/start', async ({ req, params }) => {
    const actor = await taskActor(app, req, false);
    await readJson(req);
    return [200, await app.tasks.start(actor, params.task!)];
  });
  router.post('/api/daemon/tasks/{task}/wait-local-directory', async ({ req, params }) => {
    const actor = await taskActor(app, req, false);
    return [200, await app.tasks.waitLocalDirectory(actor, params.task!, await readJson(req))];
  });
  router.post('/api/daemon/tasks/{task}/messages', async ({ req, params }) => {
    const actor = await taskActor(app, req, true);
    return [200, { ...STATUS_OK, ...(await app.tasks.messages(actor, params.task!, await readJson(req))) }];
  });
  // Raw text output (api/output-frames.ts): claims say `raw_output`, so only agentd sends it.
  router.post('/api/daemon/tasks/{task}/output', async ({ req, params }) => {
    const actor = await taskActor(app, req, true);
    if (header(req, 'content-type') !== OUTPUT_CONTENT_TYPE) throw new HttpError(415, `POST …/output takes ${OUTPUT_CONTENT_TYPE}`);
    // A flooding task's bodies (agentd sends up to 2 MiB once a task floods): V8 collects
    // their garbage at once, not incrementally, while one is here (core/gc-mode.ts). Not
    // for the small bodies a task that prints now and then sends every flush: those would
    // keep incremental marking off for as long as any task prints anything.
    const release = Number(header(req, 'content-length')) >= FLOOD_BODY_BYTES ? holdThroughputGc() : null;
    try {
      return [200, { ...STATUS_OK, ...(await app.tasks.output(actor, params.task!, await readChunks(req, MAX_OUTPUT_BODY_BYTES))) }];
    } finally {
      release?.();
    }
  });
  router.post('/api/daemon/tasks/{task}/progress', async ({ req, params }) => {
    const actor = await taskActor(app, req, true);
    await app.tasks.progress(actor, params.task!, await readJson(req));
    return [200, STATUS_OK];
  });
  router.post('/api/daemon/tasks/{task}/session', async ({ req, params }) => {
    const actor = await taskActor(app, req, false);
    await app.tasks.session(actor, params.task!, await readJson(req));
    return [200, STATUS_OK];
  });
  router.post('/api/daemon/tasks/{task}/usage', async ({ req, params }) => {
    const actor = await taskActor(app, req, false);
    await app.tasks.usage(actor, params.task!, await readJson(req));
    return [200, STATUS_OK];
  });
  router.post('/api/daemon/tasks/{task}/complete', async ({ req, params }) => {
    const actor = await taskActor(app, req, false);
    return [200, await app.tasks.complete(actor, params.task!, await readJson(req))];
  });
  router.post('/api/daemon/tasks/{task}/fail', async ({ req, params }) => {
    const actor = await taskActor(app, req, false);
    return [200, await app.tasks.fail(actor, params.task!, await readJson(req))];
  });
  router.post('/api/daemon/tasks/{task}/cancel-ack', async ({ req, params }) => {
    const actor = await taskActor(app, req, false);
    await app.tasks.cancelAck(actor, params.task!, await readJson(req));
    return [200, STATUS_OK];
  });

  // ---------------------------------------------------------------- daemon: work-dir GC checks
  router.get('/api/daemon/tasks/{task}/gc-check', async ({ req, params }) => {
    return [200, await app.tasks.gcCheck(await taskActor(app, req, false), params.task!)];
  });
  router.get('/api/daemon/chat-sessions/{session}/gc-check', async ({ req, params }) => {
    return [200, await app.tasks.chatSessionGcCheck(await requireDaemon(app, req), params.session!)];
  });
  // The reference platform has no issues and no autopilots: every id is unknown.
  router.post('/api/daemon/workspaces/{ws}/issues/gc-check', async ({ req, params }) => {
    const who = await requireDaemon(app, req);
    requireOwnWorkspace(who, params.ws!);
    const { issue_ids } = parseBody(IssueGcCheckBody, await readJson(req));
    return [200, { issues: issue_ids.map((id) => ({ id, found: false })) }];
  });
  router.get('/api/daemon/issues/{issue}/gc-check', async ({ req }) => {
    await requireDaemon(app, req);
    throw notFound('issue not found');
  });
  router.get('/api/daemon/autopilot-runs/{run}/gc-check', async ({ req }) => {
    await requireDaemon(app, req);
    throw notFound('autopilot run not found');
  });
}

function intParam(q: URLSearchParams, key: string, min: number, max: number): number | undefined {
  const v = q.get(key);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) return undefined;
  return n;
}
