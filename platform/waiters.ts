// Long-poll support for the batch claim: a claimer with nothing to take parks here
// until a task for one of its runtimes is enqueued, its time is up, its client goes
// away, or the server closes. Wake-ups are by event, not a sleep loop, so a queued task
// reaches a waiting daemon at once.

interface Waiter {
  workspaceId: string;
  runtimeNames: ReadonlySet<string>;
  wake: () => void;
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

  /** Resolves true when woken by an enqueue, false on timeout, abort or close. */
  wait(workspaceId: string, runtimeNames: ReadonlySet<string>, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.closed || ms <= 0 || signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const finish = (woken: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(waiter);
        resolve(woken);
      };
      const onAbort = () => finish(false);
      const waiter: Waiter = { workspaceId, runtimeNames, wake: () => finish(true) };
      const timer = setTimeout(() => finish(false), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
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
