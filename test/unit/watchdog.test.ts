import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IdleWatchdog } from '../../daemon/tasks/watchdog.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

describe('IdleWatchdog', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function make(idleMs: number, toolIdleMs = 2 * HOUR) {
    const fired: Array<{ silentMs: number; windowMs: number }> = [];
    const w = new IdleWatchdog({
      idleMs,
      toolIdleMs,
      onFire: (silentMs, windowMs) => fired.push({ silentMs, windowMs }),
    });
    return { w, fired };
  }

  it('fires at 30 min ± 1 s with the default window, not later', () => {
    const { w, fired } = make(30 * MIN);
    w.start();
    vi.advanceTimersByTime(30 * MIN - 1000);
    expect(fired).toHaveLength(0);
    vi.advanceTimersByTime(2000);
    expect(fired).toHaveLength(1);
    expect(fired[0]!.windowMs).toBe(30 * MIN);
    expect(Math.abs(fired[0]!.silentMs - 30 * MIN)).toBeLessThanOrEqual(1000);
    // Fires once only.
    vi.advanceTimersByTime(HOUR);
    expect(fired).toHaveLength(1);
  });

  it('output pushes the deadline back by a full window from the last activity', () => {
    const { w, fired } = make(30 * MIN);
    w.start();
    vi.advanceTimersByTime(20 * MIN);
    w.activity();
    vi.advanceTimersByTime(20 * MIN); // 40 min since start, 20 since output
    expect(fired).toHaveLength(0);
    expect(w.remainingMs()).toBe(10 * MIN);
    vi.advanceTimersByTime(10 * MIN - 1000);
    expect(fired).toHaveLength(0);
    vi.advanceTimersByTime(2000);
    expect(fired).toHaveLength(1);
    expect(Math.abs(fired[0]!.silentMs - 30 * MIN)).toBeLessThanOrEqual(1000);
  });

  it('does not touch the timer per output chunk (one timer, re-armed lazily)', () => {
    const { w } = make(30 * MIN);
    w.start();
    const set = vi.spyOn(globalThis, 'setTimeout');
    for (let i = 0; i < 10_000; i++) w.activity();
    expect(set).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(1);
    set.mockRestore();
  });

  it('chatty output every 500 ms under a 2 s window never fires', () => {
    const { w, fired } = make(2000);
    w.start();
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(500);
      w.activity();
    }
    expect(fired).toHaveLength(0);
    vi.advanceTimersByTime(2000);
    expect(fired).toHaveLength(1);
  });

  it('applies the tool window while a tool call is in flight', () => {
    const { w, fired } = make(30 * MIN, 2 * HOUR);
    w.start();
    w.setToolInFlight(true);
    vi.advanceTimersByTime(90 * MIN);
    expect(fired).toHaveLength(0);
    expect(w.window()).toBe(2 * HOUR);
    vi.advanceTimersByTime(30 * MIN + 1000);
    expect(fired).toHaveLength(1);
    expect(fired[0]!.windowMs).toBe(2 * HOUR);
  });

  it('returns to the idle window when the tool call finishes (timer moved earlier)', () => {
    const { w, fired } = make(30 * MIN, 2 * HOUR);
    w.start();
    w.setToolInFlight(true);
    vi.advanceTimersByTime(10 * MIN);
    w.activity(); // the tool_result line
    w.setToolInFlight(false);
    vi.advanceTimersByTime(30 * MIN - 1000);
    expect(fired).toHaveLength(0);
    vi.advanceTimersByTime(2000);
    expect(fired).toHaveLength(1);
    expect(fired[0]!.windowMs).toBe(30 * MIN);
  });

  it('0 disables the watchdog', () => {
    const { w, fired } = make(0, 0);
    w.start();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(48 * HOUR);
    expect(fired).toHaveLength(0);
    expect(w.remainingMs()).toBeNull();
  });

  it('stop() cancels a pending fire', () => {
    const { w, fired } = make(1000);
    w.start();
    vi.advanceTimersByTime(500);
    w.stop();
    vi.advanceTimersByTime(5000);
    expect(fired).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never fires while the daemon holds the output back (backpressure), and counts from the release', () => {
    let held = true;
    const fired: number[] = [];
    const w = new IdleWatchdog({ idleMs: 2000, toolIdleMs: 0, onFire: (s) => fired.push(s), isHeld: () => held });
    w.start();
    vi.advanceTimersByTime(60_000);
    expect(fired).toHaveLength(0);
    held = false;
    vi.advanceTimersByTime(1500);
    expect(fired).toHaveLength(0);
    vi.advanceTimersByTime(1000);
    expect(fired).toHaveLength(1);
  });
});
