// How fast does a queued task reach a daemon that keeps Multica's WebSocket control
// channel open? One daemon is enrolled for real and holds GET /api/daemon/ws for its
// runtime; TASKS tasks are enqueued one at a time by the operator's API, and for each the
// time from sending the enqueue to receiving `daemon:task_available` is measured (the
// daemon then claims and completes it, so the queue stays empty).
// Floor: the enqueue request's own round trip (the platform pushes the frame before it
// answers the enqueue, so the wakeup can beat the floor).
// (Without the WebSocket and without our long-poll extension a daemon finds the task at
// its next poll: up to Multica's 30 s poll interval later.)
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { QUICK, emit, log, onExitSignal, quantile, round, startPlatform } from './_lib.mjs';

const TASKS = QUICK ? 10 : 50;
const HEADERS = { 'content-type': 'application/json', 'x-client-platform': 'daemon', 'x-client-version': 'bench', 'x-client-os': 'linux' };

async function call(url, method, path, token, body) {
  const res = await fetch(url + path, {
    method,
    headers: { ...HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : null;
}

const platform = await startPlatform();
onExitSignal(() => platform.stop());
try {
  const { url, adminToken: admin, workspaceId: ws } = platform;
  const mit = await call(url, 'POST', `/api/workspaces/${ws}/install-tokens`, admin, {});
  const daemonId = randomUUID();
  const ex = await call(url, 'POST', '/api/install-tokens/exchange', undefined, { token: mit.token, daemon_id: daemonId });
  const reg = await call(url, 'POST', '/api/daemon/register', ex.token, {
    workspace_id: ws,
    daemon_id: daemonId,
    device_name: 'bench-ws',
    runtimes: [{ name: 'Claude (bench-ws)', type: 'claude', version: '1', status: 'online' }],
  });
  const runtimeId = reg.runtimes[0].id;
  const agent = await call(url, 'POST', `/api/workspaces/${ws}/agents`, admin, { name: 'bench', provider: 'claude' });

  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/api/daemon/ws?runtime_ids=${runtimeId}`, { headers: { ...HEADERS, authorization: `Bearer ${ex.token}` } });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  // Arrival time per task id; the frame may come before the enqueue's answer names the id.
  const arrivals = new Map();
  const waiters = new Map();
  socket.on('message', (data) => {
    const f = JSON.parse(data.toString());
    if (f.type !== 'daemon:task_available') return;
    const t = performance.now();
    arrivals.set(f.payload.task_id, t);
    waiters.get(f.payload.task_id)?.(t);
  });
  const arrivalOf = (id) =>
    arrivals.has(id)
      ? Promise.resolve(arrivals.get(id))
      : Promise.race([new Promise((r) => waiters.set(id, r)), new Promise((r) => setTimeout(() => r(null), 5000))]);

  const wakeups = [];
  const enqueues = [];
  for (let i = 0; i < TASKS + 3; i++) {
    const t0 = performance.now();
    const { id } = await call(url, 'POST', `/api/workspaces/${ws}/tasks`, admin, { agent_id: agent.id, chat_message: `task ${i}` });
    const t1 = performance.now();
    const tArrive = await arrivalOf(id);
    if (tArrive === null) throw new Error(`no daemon:task_available for task ${id} within 5 s`);
    if (i >= 3) {
      // the first three warm up the JIT and the connections
      wakeups.push(tArrive - t0);
      enqueues.push(t1 - t0);
    }
    const { tasks } = await call(url, 'POST', '/api/daemon/tasks/claim', ex.token, { daemon_id: daemonId, runtime_ids: [runtimeId], max_tasks: 1 });
    if (tasks[0]?.id !== id) throw new Error(`claimed ${tasks[0]?.id} instead of ${id}`);
    await call(url, 'POST', `/api/daemon/tasks/${id}/start`, ex.token, {});
    await call(url, 'POST', `/api/daemon/tasks/${id}/complete`, ex.token, { output: 'ok' });
  }
  socket.close();
  wakeups.sort((a, b) => a - b);
  enqueues.sort((a, b) => a - b);
  const med = round(quantile(wakeups, 0.5));
  const p99 = round(quantile(wakeups, 0.99));
  const floor = round(quantile(enqueues, 0.5));
  log(`enqueue → daemon:task_available over ${wakeups.length} tasks: median ${med} ms, p99 ${p99} ms; enqueue round trip median ${floor} ms`);
  emit([
    { name: 'ws wakeup median', value: med, unit: 'ms', floor, floor_name: 'enqueue round trip', target: '≤ 100 ms', pass: med <= 100, note: `${wakeups.length} tasks, one WebSocket` },
    { name: 'ws wakeup p99', value: p99, unit: 'ms', floor: round(quantile(enqueues, 0.99)), floor_name: 'enqueue round trip p99', target: '≤ 100 ms', pass: p99 <= 100 },
  ]);
} finally {
  await platform.stop();
}
