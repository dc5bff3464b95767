// One task's life as Multica's daemon lives it, with a recording client and real child
// processes: prepare-lease while the start is pending (and never after it), a refined
// failure reason a platform refuses with 400 sent again as `agent_error`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BadRequest } from '../../api/errors.js';
import type { FailRequest } from '../../api/types.js';
import { claudeAdapter } from '../../daemon/tasks/adapters/claude.js';
import { commandAdapter } from '../../daemon/tasks/adapters/command.js';
import type { RuntimeAdapter } from '../../daemon/tasks/adapters/types.js';
import { TaskRun, type TaskClient } from '../../daemon/tasks/task-run.js';
import { TaskJournal } from '../../store/journal.js';
import { ROOT } from '../helpers/bin.js';

const MAT = 'mat_' + 'd'.repeat(40);
let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function recorder(o: { startDelayMs?: number; refuseRefined?: boolean; startRefused?: boolean; status?: string } = {}) {
  const calls: Array<[string, unknown]> = [];
  const client: TaskClient = {
    startTask: async () => {
      calls.push(['start', null]);
      await new Promise((r) => setTimeout(r, o.startDelayMs ?? 0));
      // A Multica-shaped platform answers a second /start with 400 (e.g. our retry of a
      // start whose first answer was lost).
      if (o.startRefused) throw new BadRequest('task is not dispatched', { route: 'POST /api/daemon/tasks/t1/start', status: 400 });
      calls.push(['started', null]);
    },
    taskStatus: async () => {
      calls.push(['status', null]);
      return { status: o.status ?? 'running' };
    },
    prepareLease: async (rt, id) => void calls.push(['prepare-lease', `${rt}/${id}`]),
    reportProgress: async (_id, b) => void calls.push(['progress', b]),
    pinSession: async (_id, b) => void calls.push(['session', b]),
    reportUsage: async (_id, b) => void calls.push(['usage', b]),
    postMessagesJson: async (_id, b) => void calls.push(['messages', JSON.parse(b.toString())]),
    postOutput: async () => {
      throw new Error('a Multica claim never names raw_output');
    },
    completeTask: async (_id, b) => void calls.push(['complete', b]),
    failTask: async (_id, b: FailRequest) => {
      calls.push(['fail', b]);
      if (o.refuseRefined && b.failure_reason !== 'agent_error') throw new BadRequest('failure_reason must be one of …', { route: 'POST /api/daemon/tasks/t/fail', status: 400 });
    },
    cancelAck: async () => void calls.push(['cancel-ack', null]),
  };
  return { client, calls };
}

function run(adapter: RuntimeAdapter, task: Record<string, unknown>, client: TaskClient, binaryPath: string | null = null) {
  dir = mkdtempSync(join(tmpdir(), 'agentd-taskrun-'));
  return new TaskRun({ id: 't1', runtime_id: 'rt1', workspace_id: 'w1', auth_token: MAT, ...task }, {
    client,
    logger: pino({ level: 'silent' }),
    platformUrl: 'http://127.0.0.1:1',
    workRoot: join(dir, 'work'),
    journal: new TaskJournal(join(dir, 'journal')),
    runtime: { id: 'rt1', name: adapter.name, type: adapter.name },
    adapter,
    binaryPath,
    env: { PATH: process.env.PATH },
    idleMs: 0,
    toolIdleMs: 0,
    taskTimeoutMs: 60_000,
    killGraceMs: 1000,
    claimedAt: performance.now(),
    prepareLeaseMs: 40,
  }).run();
}

describe('a task run, Multica style', () => {
  it('a 400 to /start for a task the platform shows running is our own earlier start: the task runs', async () => {
    const { client, calls } = recorder({ startRefused: true, status: 'running' });
    expect(await run(commandAdapter, { prompt: 'echo hi' }, client)).toBe('completed');
    expect(calls.map((c) => c[0])).toContain('status');
  });

  it('a 400 to /start for a task the platform does not show running stops it', async () => {
    const { client } = recorder({ startRefused: true, status: 'cancelled' });
    expect(await run(commandAdapter, { prompt: 'sleep 30' }, client)).not.toBe('completed');
  });

  it('extends the prepare lease while /start is pending, never after it answered; progress launching then finishing', async () => {
    const { client, calls } = recorder({ startDelayMs: 300 });
    expect(await run(commandAdapter, { prompt: 'true' }, client)).toBe('completed');
    const names = calls.map((c) => c[0]);
    const started = names.indexOf('started');
    expect(names.slice(0, started).filter((n) => n === 'prepare-lease').length).toBeGreaterThanOrEqual(2);
    expect(names.slice(started).includes('prepare-lease')).toBe(false);
    expect(calls.find((c) => c[0] === 'prepare-lease')![1]).toBe('rt1/t1');
    expect(calls.filter((c) => c[0] === 'progress').map((c) => c[1])).toEqual([
      { summary: 'Launching command', step: 1, total: 2 },
      { summary: 'Finishing task', step: 2, total: 2 },
    ]);
    expect(names.indexOf('complete')).toBeGreaterThan(names.lastIndexOf('progress'));
  });

  it('a refined reason the platform refuses (400) is reported again as agent_error', async () => {
    const { client, calls } = recorder({ refuseRefined: true });
    const outcome = await run(
      claudeAdapter,
      { agent_id: 'a1', agent: { id: 'a1', name: 'A' }, chat_session_id: 'c', chat_message: 'authfail' },
      client,
      join(ROOT, 'test', 'fixtures', 'bin', 'claude'),
    );
    expect(outcome).toBe('agent_error.provider_auth_or_access');
    const fails = calls.filter((c) => c[0] === 'fail').map((c) => (c[1] as FailRequest).failure_reason);
    expect(fails).toEqual(['agent_error.provider_auth_or_access', 'agent_error']);
    expect(calls.find((c) => c[0] === 'session')?.[1]).toMatchObject({ session_id: expect.stringMatching(/^sess-/) });
  });

  it('invalid_task_identity is reported without /start and without a work dir', async () => {
    const { client, calls } = recorder();
    expect(await run(claudeAdapter, { agent_id: 'a1', agent: { id: 'a2' } }, client)).toBe('invalid_task_identity');
    expect(calls.map((c) => c[0])).toEqual(['fail']);
    expect(calls[0]![1]).toMatchObject({ failure_reason: 'invalid_task_identity' });
    expect((calls[0]![1] as FailRequest).work_dir).toBeUndefined();
  });
});
