// Runs one task's child process in its own process group and reports when it is over.
//
// A task ends when its MAIN process ends (multica#3251: a grandchild holding the output
// pipe open kept a finished task "running" for 30 minutes). After the main process
// exits we keep reading for a short grace so buffered output is not lost, then SIGKILL
// whatever is left of the group and read the pipes to their end: once every writer is
// dead the kernel gives EOF after the buffered bytes. No process of the group survives.
//
// terminate() is idempotent: SIGTERM to the group, SIGKILL after killGraceMs.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { killGroupAndWait, signalGroup } from './process-group.js';
import { processStartToken } from '../../store/processes.js';
import { MAX_TIMER_MS } from './timing.js';

/** A task's own cgroup as the runner needs it (isolation.ts's TaskCgroup is one). */
export interface TaskGroupKiller {
  /** Kills every process in it; true when there was anything to kill. */
  kill(): Promise<boolean>;
}

export interface RunSpec {
  file: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Written to the child's stdin, then closed; null: stdin is /dev/null. */
  stdin: string | null;
  /** The task's own cgroup (isolation.ts): emptied with cgroup.kill when the task ends. */
  cgroup?: TaskGroupKiller | null;
  /** Leave stdin open after writing it (closeStdin() closes it; so does the child's exit). */
  keepStdinOpen?: boolean;
}

export interface RunnerOptions {
  killGraceMs: number;
  /** How long to keep reading after the main process exited before killing the rest. */
  exitDrainMs?: number;
  onStdout: (chunk: Buffer) => void;
  onStderr: (chunk: Buffer) => void;
}

export interface RunResult {
  /** Exit code of the main process (null when killed by a signal or never started). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started (e.g. ENOENT). */
  spawnError: Error | null;
  /** True when processes of the group were still alive after the main process exited. */
  strays: boolean;
}

export class ChildRun {
  readonly pid: number | null;
  /** Start token of the leader (Linux /proc starttime) for the journal's "is it ours" check. */
  readonly startToken: string | null;
  readonly done: Promise<RunResult>;
  private readonly child: ChildProcess;
  private readonly o: RunnerOptions;
  private readonly cgroup: TaskGroupKiller | null;
  private terminating = false;
  private killTimer: NodeJS.Timeout | null = null;
  private paused = false;
  private mainExited = false;

  constructor(spec: RunSpec, o: RunnerOptions) {
    this.o = o;
    this.cgroup = spec.cgroup ?? null;
    const child = spawn(spec.file, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      // Own process group: kill(-pid) reaches every process the task starts.
      detached: true,
      stdio: [spec.stdin === null ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.child = child;
    this.pid = child.pid ?? null;
    this.startToken = this.pid === null ? null : processStartToken(this.pid);
    if (spec.stdin !== null && child.stdin) {
      // A child that exits without reading its stdin gives EPIPE: not our failure.
      child.stdin.on('error', () => {});
      if (spec.keepStdinOpen) child.stdin.write(spec.stdin);
      else child.stdin.end(spec.stdin);
    }
    this.done = this.watch(child);
  }

  /** Write to a stdin kept open (keepStdinOpen); ignored once it is closed. */
  writeStdin(text: string): void {
    const s = this.child.stdin;
    if (s && !s.writableEnded) s.write(text);
  }

  /** Close the child's stdin (an agent that has answered; idempotent). */
  closeStdin(): void {
    const s = this.child.stdin;
    if (s && !s.writableEnded) s.end();
  }

  /** Stop reading output (backpressure: the child blocks on its full pipe). */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.child.stdout?.pause();
    this.child.stderr?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.child.stdout?.resume();
    this.child.stderr?.resume();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** SIGTERM the whole group; SIGKILL it after the grace. Idempotent. */
  terminate(): void {
    if (this.terminating || this.pid === null) return;
    this.terminating = true;
    signalGroup(this.pid, 'SIGTERM');
    this.killTimer = setTimeout(
      () => {
        if (this.pid !== null) signalGroup(this.pid, 'SIGKILL');
        void this.cgroup?.kill();
      },
      Math.min(this.o.killGraceMs, MAX_TIMER_MS),
    );
    this.killTimer.unref();
  }

  private async watch(child: ChildProcess): Promise<RunResult> {
    const stdout = child.stdout as Readable;
    const stderr = child.stderr as Readable;
    stdout.on('data', (c: Buffer) => this.o.onStdout(c));
    stderr.on('data', (c: Buffer) => this.o.onStderr(c));
    const ended = Promise.all([streamEnded(stdout), streamEnded(stderr)]);

    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; err: Error | null }>(
      (resolve) => {
        child.once('error', (err) => {
          // 'error' without a pid: the process never started. With a pid, 'exit' follows.
          if (child.pid === undefined) resolve({ code: null, signal: null, err });
        });
        child.once('exit', (code, signal) => resolve({ code, signal, err: null }));
      },
    );
    this.mainExited = true;
    this.closeStdin();
    if (exit.err) {
      stdout.destroy();
      stderr.destroy();
      this.clearKillTimer();
      await this.cgroup?.kill();
      return { code: null, signal: null, spawnError: exit.err, strays: false };
    }

    // Main process is gone. Give buffered output (and well-behaved children) a moment.
    const drained = await Promise.race([ended.then(() => true), delay(this.o.exitDrainMs ?? 1500).then(() => false)]);
    const pgid = this.pid as number;
    // Kill what is left of the group even when the pipes closed: a daemonised grandchild
    // may have closed its copies and still be running.
    let strays = signalGroup(pgid, 'SIGKILL');
    await killGroupAndWait(pgid);
    // The cgroup also holds what left the group (setsid, double fork): none of it survives.
    if (this.cgroup && (await this.cgroup.kill())) strays = true;
    if (!drained) {
      // Every writer in the group is dead now: read the rest of the pipe to EOF. A
      // process that left the group (setsid) could still hold it; stop after a quiet spell.
      await this.readToEnd(ended, [stdout, stderr]);
    }
    this.clearKillTimer();
    return { code: exit.code, signal: exit.signal, spawnError: null, strays };
  }

  private async readToEnd(ended: Promise<unknown>, streams: Readable[]): Promise<void> {
    let last = Date.now();
    const bump = (): void => {
      last = Date.now();
    };
    for (const s of streams) s.on('data', bump);
    const quietMs = this.o.exitDrainMs ?? 1500;
    try {
      for (;;) {
        const r = await Promise.race([ended.then(() => 'ended' as const), delay(100).then(() => 'tick' as const)]);
        if (r === 'ended') return;
        // While paused (backpressure) silence is ours, not the writer's.
        if (this.paused) last = Date.now();
        else if (Date.now() - last > quietMs) break;
      }
      for (const s of streams) s.destroy();
    } finally {
      for (const s of streams) s.off('data', bump);
    }
  }

  private clearKillTimer(): void {
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = null;
  }

  get exited(): boolean {
    return this.mainExited;
  }
}

function streamEnded(s: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed || s.readableEnded) return resolve();
    s.once('close', () => resolve());
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
