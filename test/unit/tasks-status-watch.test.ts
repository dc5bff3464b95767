// StatusWatch edge cases a real platform does not easily produce: an answer that leaves a
// task out, an unreachable platform, a 405, and asking for the batched route again later.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { BadRequest, NotFound, PlatformUnavailable } from '../../api/errors.js';
import type { TaskStatusesRequest } from '../../api/types.js';
import { StatusWatch, type WatchedTask } from '../../daemon/tasks/status-watch.js';

function tasks(...ids: string[]) {
  const stopped = new Map<string, string>();
  const list: WatchedTask[] = ids.map((id) => ({ id, platformStop: (why) => void stopped.set(id, why) }));
  return { list, stopped };
}

const log = pino({ level: 'silent' });

describe('StatusWatch', () => {
  it('stops tasks the batched answer marks terminal or leaves out, and only those', async () => {
    const calls: TaskStatusesRequest[] = [];
    const w = new StatusWatch({
      client: {
        taskStatuses: async (body) => {
          calls.push(body);
          return { tasks: [{ id: 'a', status: 'running' }, { id: 'b', status: 'cancelled' }] };
        },
        taskStatus: async () => {
          throw new Error('not used');
        },
      },
      intervalMs: 5000,
      logger: log,
      tasks: () => [],
    });
    const t = tasks('a', 'b', 'c');
    await w.check(t.list);
    expect(calls).toEqual([{ task_ids: ['a', 'b', 'c'] }]);
    expect([...t.stopped.keys()].sort()).toEqual(['b', 'c']);
    expect(t.stopped.get('b')).toMatch(/cancelled/);
    expect(t.stopped.get('c')).toMatch(/no longer knows/);
  });

  it('an unreachable platform stops nothing and keeps the batched route', async () => {
    let per = 0;
    const w = new StatusWatch({
      client: {
        taskStatuses: async () => {
          throw new PlatformUnavailable('down', { route: 'POST /api/daemon/tasks/status', networkCode: 'ECONNREFUSED' });
        },
        taskStatus: async () => {
          per++;
          return { status: 'running' };
        },
      },
      intervalMs: 5000,
      logger: log,
      tasks: () => [],
    });
    const t = tasks('a');
    await w.check(t.list);
    expect(t.stopped.size).toBe(0);
    expect(per).toBe(0);
    expect(w.fallback).toBe(false);
  });

  it('405 falls back to per-task GETs (404 there stops the task); the batched route is asked again after reprobeMs', async () => {
    let batched = 0;
    const w = new StatusWatch({
      client: {
        taskStatuses: async () => {
          batched++;
          throw new BadRequest('method not allowed', { route: 'POST /api/daemon/tasks/status', status: 405 });
        },
        taskStatus: async (id) => {
          if (id === 'gone') throw new NotFound('task not found', { route: 'GET /x', status: 404 });
          return { status: id === 'done' ? 'completed' : 'running' };
        },
      },
      intervalMs: 5000,
      logger: log,
      tasks: () => [],
      reprobeMs: 0,
    });
    const t = tasks('a', 'gone', 'done');
    await w.check(t.list);
    expect(w.fallback).toBe(true);
    expect([...t.stopped.keys()].sort()).toEqual(['done', 'gone']);
    expect(batched).toBe(1);
    await w.check(tasks('a').list); // reprobeMs 0: asks for the batched route again
    expect(batched).toBe(2);
  });

  it('pushed: one check at once, then only the safety net; unpushed again: polling resumes at the interval', async () => {
    let calls = 0;
    const w = new StatusWatch({
      client: {
        taskStatuses: async (body) => {
          calls++;
          return { tasks: body.task_ids.map((id) => ({ id, status: 'running' })) };
        },
        taskStatus: async () => {
          throw new Error('not used');
        },
      },
      intervalMs: 50,
      pushedIntervalMs: 600_000,
      logger: log,
      tasks: () => tasks('a').list,
    });
    const until = async (pred: () => boolean, what: string) => {
      const end = Date.now() + 20_000;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    try {
      // Pushed before the loop starts: the first round still waits only the interval
      // (a cancel while the channel was down reached nobody).
      w.setPushed(true);
      w.ensureRunning();
      expect(w.intervalMs).toBe(50);
      await until(() => calls >= 1, 'the first check, at the interval');
      w.setPushed(false);
      await until(() => calls >= 3, 'two more checks at the interval');
      w.setPushed(true);
      expect(w.intervalMs).toBe(600_000);
      const atPush = calls;
      await until(() => calls >= atPush + 1, 'the check that push starting runs at once');
      // A check already in flight when push started may still land; after that, none for
      // the safety interval (10 min), whatever the load: 20 of the old intervals pass.
      await new Promise((r) => setTimeout(r, 50));
      const settled = calls;
      await new Promise((r) => setTimeout(r, 1000));
      expect(calls).toBe(settled);
      w.setPushed(false);
      expect(w.intervalMs).toBe(50);
      await until(() => calls >= settled + 2, 'polling at the interval again');
    } finally {
      await w.stop();
    }
  });
});
