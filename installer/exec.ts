// The one seam through which the installer runs service-manager tools (systemctl,
// launchctl, useradd, loginctl…). They are looked up on PATH, so a test can put a fake,
// recording `launchctl` first on PATH; their output goes into the errors a person reads.
import { spawn } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  /** Kill the command after this long (default 60 s): a hung tool must not hang install. */
  timeoutMs?: number;
  input?: string;
}

/** Runs `cmd args…` (no shell) and collects its output. Never throws for a non-zero exit. */
export function execCommand(cmd: string, args: readonly string[], o: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let done = false;
    const finish = (r: ExecResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const child = spawn(cmd, args, { env: o.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ code: 124, stdout, stderr: `${stderr}\n${cmd} timed out after ${o.timeoutMs ?? 60_000} ms` });
    }, o.timeoutMs ?? 60_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? `${cmd}: command not found` : `${cmd}: ${err.message}`;
      finish({ code: 127, stdout, stderr: why });
    });
    child.on('close', (code, signal) => finish({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(o.input ?? '');
  });
}

/** Human form of a command line for --dry-run and error messages (no secrets ever pass here). */
export function formatCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The tool's own words for an error: stderr, else stdout, trimmed and bounded. */
export function toolOutput(r: ExecResult): string {
  const text = (r.stderr.trim() || r.stdout.trim()).slice(-2000);
  return text || `(exit status ${r.code}, no output)`;
}
