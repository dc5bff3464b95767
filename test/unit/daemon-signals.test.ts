import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { installSignalHandlers, type SignalHooks } from '../../daemon/signals.js';
import { createLogger } from '../../daemon/logger.js';

const logger = createLogger({ level: 'silent', pretty: false, destination: { write: () => undefined } });
const tick = (ms = 10): Promise<void> => new Promise((r) => setTimeout(r, ms));

function setup(over: Partial<SignalHooks> = {}, stopDeadlineMs = 1000) {
  const proc = new EventEmitter();
  const calls: string[] = [];
  const exits: number[] = [];
  const hooks: SignalHooks = {
    stop: async (s) => void calls.push(`stop:${s}`),
    force: async (s) => void calls.push(`force:${s}`),
    reload: async () => void calls.push('reload'),
    fatal: async () => void calls.push('fatal'),
    ...over,
  };
  const h = installSignalHandlers(hooks, { logger, stopDeadlineMs, forceDeadlineMs: 200, exit: (c) => exits.push(c), proc });
  return { proc, calls, exits, h };
}

describe('signals', () => {
  it('SIGTERM drains then exits 0', async () => {
    const { proc, calls, exits, h } = setup();
    proc.emit('SIGTERM');
    await tick();
    expect(calls).toEqual(['stop:SIGTERM']);
    expect(exits).toEqual([0]);
    expect(h.stopping).toBe(true);
  });

  it('a second signal forces and exits 1', async () => {
    const { proc, calls, exits } = setup({ stop: () => new Promise(() => undefined) });
    proc.emit('SIGINT');
    proc.emit('SIGTERM');
    await tick();
    expect(calls).toEqual(['force:SIGTERM']);
    expect(exits).toEqual([1]);
  });

  it('a forced stop that lets the graceful one finish first still exits 1', async () => {
    let release: () => void = () => undefined;
    const { proc, exits } = setup({
      stop: () => new Promise<void>((r) => (release = r)),
      force: async () => release(),
    });
    proc.emit('SIGTERM');
    proc.emit('SIGTERM');
    await tick();
    expect(exits.every((c) => c === 1)).toBe(true);
    expect(exits.length).toBeGreaterThan(0);
  });

  it('a stop that hangs past its deadline exits 1', async () => {
    const { proc, exits } = setup({ stop: () => new Promise(() => undefined) }, 50);
    proc.emit('SIGTERM');
    await tick(120);
    expect(exits).toEqual([1]);
  });

  it('a failing stop exits 1, never 0', async () => {
    const { proc, exits } = setup({ stop: async () => { throw new Error('deregister exploded'); } });
    proc.emit('SIGTERM');
    await tick();
    expect(exits).toEqual([1]);
  });

  it('SIGHUP reloads; a failing reload keeps running', async () => {
    const { proc, calls, exits } = setup({ reload: async () => { calls.push('reload'); throw new Error('bad file'); } });
    proc.emit('SIGHUP');
    await tick();
    expect(calls).toEqual(['reload']);
    expect(exits).toEqual([]);
  });

  it('an uncaught exception cleans up and exits 70', async () => {
    const { proc, calls, exits } = setup();
    proc.emit('uncaughtException', new Error('bug'));
    proc.emit('unhandledRejection', new Error('another'));
    await tick();
    expect(calls).toEqual(['fatal']);
    expect(exits).toEqual([70]);
  });

  it('uninstall removes every listener', () => {
    const { proc, h } = setup();
    h.uninstall();
    for (const ev of ['SIGTERM', 'SIGINT', 'SIGHUP', 'uncaughtException', 'unhandledRejection']) expect(proc.listenerCount(ev)).toBe(0);
  });
});
