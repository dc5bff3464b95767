// Long-poll support for the batch claim: a claimer with nothing to take parks here
// until a task for one of its runtimes is enqueued, its time is up, its client goes
// away, or the server closes. Wake-ups are by event, not a sleep loop, so a queued task
// reaches a waiting daemon at once.

interface Waiter {
  workspaceId: string;
  runtimeNames: ReadonlySet<string>;
  wake: () => void;
}

export interface Watch {
  /** True once woken (also by a wake-up before this call); false on timeout, abort or close. */
  wait(ms: number, signal?: AbortSignal): Promise<boolean>;
  stop(): void;
}

export class ClaimWaiters {
  private readonly waiters = new Set<Waiter>();
  private closed = false;

  get isClosed(): boolean {
    return this.closed;
  }

  get size(): number {
    return this.waiters.size;
  }

  /**
   * Listens from now on for an enqueue that `workspaceId`/`runtimeNames` could take.
   * Armed before the claim that found nothing, so a wake-up arriving between that claim
   * and `wait()` (a database round trip; across replicas a NOTIFY comes at any moment)
   * is kept, not lost. `stop()` when done, woken or not.
   */
  watch(workspaceId: string, runtimeNames: ReadonlySet<string>): Watch {
    let woken = false;
    let onWake: (() => void) | undefined;
    const waiter: Waiter = {
      workspaceId,
      runtimeNames,
      wake: () => {
        woken = true;
        onWake?.();
      },
    };
    if (!this.closed) this.waiters.add(waiter);
    const stop = () => this.waiters.delete(waiter);
    return {
      stop,
      wait: (ms, signal) => {
        if (woken) return Promise.resolve(true);
        if (this.closed || ms <= 0 || signal?.aborted) return Promise.resolve(false);
        return new Promise<boolean>((resolve) => {
          const finish = (v: boolean) => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            onWake = undefined;
            resolve(v);
          };
          const onAbort = () => finish(false);
          const timer = setTimeout(() => finish(false), ms);
          signal?.addEventListener('abort', onAbort, { once: true });
          onWake = () => finish(true);
        });
      },
    };
  }

  /** Resolves true when woken by an enqueue, false on timeout, abort or close. */
  async wait(workspaceId: string, runtimeNames: ReadonlySet<string>, ms: number, signal?: AbortSignal): Promise<boolean> {
    const w = this.watch(workspaceId, runtimeNames);
    try {
      return await w.wait(ms, signal);
    } finally {
      w.stop();
    }
  }

  /** A task for `runtimeName` was queued in `workspaceId`: wake every claimer that could take it. */
  notify(workspaceId: string, runtimeName: string): void {
    for (const w of [...this.waiters]) {
      if (w.workspaceId === workspaceId && w.runtimeNames.has(runtimeName)) w.wake();
    }
  }

  /** Server shutdown: every parked claim answers (empty) now. */
  close(): void {
    this.closed = true;
    for (const w of [...this.waiters]) w.wake();
  }
}
