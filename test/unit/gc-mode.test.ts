// The throughput GC mode (core/gc-mode.ts): the first hold turns incremental marking
// off, it comes back on a linger after the last release, a release counts once.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGcMode } from '../../core/gc-mode.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('gc mode', () => {
  it('is on while any flood holds it, and until a linger after the last let go', () => {
    vi.useFakeTimers();
    const set: string[] = [];
    const hold = createGcMode((f) => void set.push(f), 1000);
    const a = hold();
    const b = hold();
    expect(set).toEqual(['--no-incremental-marking']);
    a();
    a(); // twice: counts once
    b();
    vi.advanceTimersByTime(999);
    expect(set).toEqual(['--no-incremental-marking']);
    // A new flood within the linger keeps it on, without flipping it.
    const c = hold();
    vi.advanceTimersByTime(5000);
    expect(set).toEqual(['--no-incremental-marking']);
    c();
    vi.advanceTimersByTime(1000);
    expect(set).toEqual(['--no-incremental-marking', '--incremental-marking']);
    hold()();
    vi.advanceTimersByTime(1000);
    expect(set).toEqual(['--no-incremental-marking', '--incremental-marking', '--no-incremental-marking', '--incremental-marking']);
  });

  it('an engine that refuses the flag changes nothing else', () => {
    vi.useFakeTimers();
    const hold = createGcMode(() => {
      throw new Error('unknown flag');
    });
    expect(() => hold()()).not.toThrow();
    expect(() => vi.runAllTimers()).not.toThrow();
  });
});
