// Agents on the real platform process: the operator's API (create, list, get, update,
// validation, name conflicts) and what a claim of an agent task carries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApiError } from '../../platform/admin-client.js';
import { rawCall, registerRaw, startPlatform, type TestPlatform } from '../helpers/platform.js';

let p: TestPlatform;
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.stop();
});

const refused = (e: unknown) => (e instanceof AdminApiError ? { status: e.status, error: e.error } : e);

describe('agents (admin API)', () => {
  it('creates, lists, reads and updates an agent; defaults are empty', async () => {
    const a = await p.admin.createAgent(p.workspaceId, { name: 'reviewer', provider: 'claude' });
    expect(a).toEqual({
      id: expect.any(String),
      workspace_id: p.workspaceId,
      name: 'reviewer',
      provider: 'claude',
      instructions: '',
      model: null,
      custom_env: {},
      custom_args: [],
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const b = await p.admin.updateAgent(p.workspaceId, a.id, { instructions: 'Review diffs.', model: 'sonnet', custom_env: { LOG_LEVEL: 'debug' }, custom_args: ['--max-turns', '3'] });
    expect(b).toMatchObject({ id: a.id, name: 'reviewer', provider: 'claude', instructions: 'Review diffs.', model: 'sonnet', custom_env: { LOG_LEVEL: 'debug' }, custom_args: ['--max-turns', '3'] });
    expect(await p.admin.listAgents(p.workspaceId)).toEqual([b]);
    const cleared = await p.admin.updateAgent(p.workspaceId, a.id, { model: '' }); // "" clears it
    expect(cleared.model).toBeNull();
    expect(cleared.instructions).toBe('Review diffs.'); // fields not sent are kept
    expect((await rawCall(p, p.adminToken, 'GET', `/api/workspaces/${p.workspaceId}/agents/${a.id}`)).json).toEqual(cleared);
  });

  it('refuses bad bodies (400 naming the field), a taken name (409), unknown agents and workspaces (404), and a missing admin token (401)', async () => {
    const ws = p.workspaceId;
    expect(refused(await p.admin.createAgent(ws, { name: '', provider: 'claude' }).catch((e: unknown) => e))).toEqual({ status: 400, error: 'name is required' });
    expect(refused(await p.admin.createAgent(ws, { name: 'x', provider: 'not a runtime' }).catch((e: unknown) => e))).toEqual({
      status: 400,
      error: "provider must be a runtime name (letters, digits, '.', '_' or '-')",
    });
    expect(refused(await p.admin.createAgent(ws, { name: 'x', provider: 'claude', custom_env: { 'BAD-KEY': '1' } }).catch((e: unknown) => e))).toMatchObject({ status: 400, error: expect.stringContaining('custom_env') });
    expect(refused(await p.admin.createAgent(ws, { name: 'x', provider: 'claude', custom_args: [1 as unknown as string] }).catch((e: unknown) => e))).toEqual({ status: 400, error: 'custom_args[0] must be a string' });
    await p.admin.createAgent(ws, { name: 'taken', provider: 'codex' });
    expect(refused(await p.admin.createAgent(ws, { name: 'taken', provider: 'claude' }).catch((e: unknown) => e))).toEqual({ status: 409, error: 'an agent named "taken" already exists in this workspace' });
    expect(refused(await p.admin.updateAgent(ws, 'nope', { name: 'y' }).catch((e: unknown) => e))).toEqual({ status: 404, error: 'agent not found' });
    expect(refused(await p.admin.listAgents('nope').catch((e: unknown) => e))).toEqual({ status: 404, error: 'workspace not found' });
    expect(refused(await p.admin.enqueueAgentTask(ws, { agent_id: 'nope', chat_message: 'hi' }).catch((e: unknown) => e))).toEqual({ status: 404, error: 'agent not found' });
    expect((await rawCall(p, undefined, 'GET', `/api/workspaces/${ws}/agents`)).status).toBe(401);
  });
});

describe('agent tasks', () => {
  it('are claimed as Multica chat-message tasks by a runtime of the agent’s provider, with the agent as it is at claim time', async () => {
    const provider = `prov-${process.pid}`;
    const a = await p.admin.createAgent(p.workspaceId, { name: 'claimed', provider, instructions: 'v1' });
    const { id } = await p.admin.enqueueAgentTask(p.workspaceId, { agent_id: a.id, chat_message: 'do the thing', timeout_s: 60 });
    await p.admin.updateAgent(p.workspaceId, a.id, { instructions: 'v2' }); // edited while queued
    expect(await p.admin.getTask(p.workspaceId, id)).toMatchObject({ status: 'queued', agent_id: a.id, chat_message: 'do the thing', prompt: '', runtime: provider });

    const d = await registerRaw(p, 'd-agents', [provider]);
    const c = await rawCall(p, d.token, 'POST', '/api/daemon/tasks/claim', { daemon_id: 'd-agents', runtime_ids: [d.runtimeIds[provider]], max_tasks: 2 });
    const [t] = c.json.tasks;
    expect(t).toMatchObject({
      id,
      agent_id: a.id,
      agent: { id: a.id, name: 'claimed', instructions: 'v2', custom_env: {}, custom_args: [], skills: [] },
      issue_id: '',
      chat_session_id: expect.any(String),
      chat_message: 'do the thing',
      repos: [],
      timeout_s: 60,
    });
    expect(t).not.toHaveProperty('prompt');
    expect(t.agent).not.toHaveProperty('model');
  });

  it('an agent of the command provider also carries the message as prompt', async () => {
    const provider = `cmd-${process.pid}`;
    // A provider named `command` is what agentd's command runtime registers as.
    const a = await p.admin.createAgent(p.workspaceId, { name: 'shell', provider: 'command' });
    const { id } = await p.admin.enqueueAgentTask(p.workspaceId, { agent_id: a.id, chat_message: 'echo hi' });
    const d = await registerRaw(p, `d-${provider}`, ['command']);
    const c = await rawCall(p, d.token, 'POST', '/api/daemon/tasks/claim', { runtime_ids: [d.runtimeIds.command], max_tasks: 1 });
    expect(c.json.tasks).toEqual([expect.objectContaining({ id, agent_id: a.id, prompt: 'echo hi', chat_message: 'echo hi' })]);
  });
});
