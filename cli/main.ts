// Entry point of the `agentd` bundle. Parses the subcommand name only and loads that
// subcommand lazily, so `agentd run` never pays for the installer's code and vice versa.
import { commandHelp, parseCommandArgs, type Command, type CommandIO } from './command.js';
import { UsageError } from '../core/errors.js';
import { errorMessage } from './error-message.js';
import { EXIT } from '../core/exit-codes.js';
import { VERSION } from '../api/version.js';

type Loader = () => Promise<{ command: Command }>;

/** Every subcommand, in help order. Each file exports `command`. */
const COMMANDS: Record<string, { summary: string; load: Loader }> = {
  install: { summary: 'Enrol this machine with an install token and start the service', load: () => import('./install.js') as Promise<{ command: Command }> },
  // In the bundle this loads dist/chunks/agentd-run.mjs, `run`'s own build (scripts/esbuild-node.mjs).
  run: { summary: 'Run the daemon in the foreground (what the service executes)', load: () => import('./run.js') as Promise<{ command: Command }> },
  status: { summary: "Show the service's and the daemon's state", load: () => import('./status.js') as Promise<{ command: Command }> },
  restart: { summary: 'Restart the service', load: () => import('./restart.js') as Promise<{ command: Command }> },
  uninstall: { summary: 'Stop the service, deregister and remove credentials', load: () => import('./uninstall.js') as Promise<{ command: Command }> },
  doctor: { summary: 'Check this machine and say what to fix', load: () => import('./doctor.js') as Promise<{ command: Command }> },
  credentials: { summary: 'Replace the daemon credential (reads it from stdin)', load: () => import('./credentials.js') as Promise<{ command: Command }> },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 4;
  return [
    `agentd ${VERSION}: puts this machine to work for an agent platform`,
    '',
    'Usage: agentd <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    'Run `agentd <command> --help` for the options of one command.',
    '',
  ].join('\n');
}

export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    if (name === 'help' && rest[0] && COMMANDS[rest[0]]) {
      io.stdout.write(commandHelp((await COMMANDS[rest[0]].load()).command));
      return EXIT.OK;
    }
    io.stdout.write(mainHelp());
    return name ? EXIT.OK : EXIT.USAGE;
  }
  if (name === 'version' || name === '--version' || name === '-v') {
    io.stdout.write(`agentd ${VERSION}\n`);
    return EXIT.OK;
  }
  const entry = COMMANDS[name];
  try {
    if (!entry) throw new UsageError(`unknown command "${name}"`);
    const { command } = await entry.load();
    const args = parseCommandArgs(command, rest);
    if ((args.flags as Record<string, unknown>).help) {
      io.stdout.write(commandHelp(command));
      return EXIT.OK;
    }
    // The CLI's AGENTD_* input, checked before any work with the daemon's TypeBox checker
    // (same table, same words as env-schema: test/unit/env-settings.test.ts). Not with
    // env-schema: loading ajv and compiling its schema was ~100 ms of a ~450 ms `agentd
    // install --no-service` (A/B pairs, median 451 → 343 ms). `run` checks it itself; `doctor`
    // reports a bad value as one of its checks.
    if (name !== 'run' && name !== 'doctor') {
      const [{ checkCliEnv }, { typeboxChecker }] = await Promise.all([import('./env.js'), import('../daemon/config.js')]);
      checkCliEnv(io.env, typeboxChecker);
    }
    return await command.run(args, io);
  } catch (err) {
    return reportError(err, io);
  }
}

export function reportError(err: unknown, io: CommandIO): number {
  const { text, exitCode } = errorMessage(err);
  io.stderr.write(text);
  return exitCode;
}

// Only when run as the bundle entry (not when imported by tests).
const isEntry = process.argv[1] !== undefined && /agentd(\.mjs)?$/.test(process.argv[1]);
if (isEntry) {
  // `pgrep agentd`, ps and `systemctl status` show this name, not node's (or "MainThread").
  process.title = 'agentd';
  // Getters: Node builds process.stdout/stdin (a pipe's net.Socket, a file's ReadStream)
  // on first use, ~5 ms at the start of `agentd run`, which logs to fd 1 itself and
  // never reads stdin.
  const io: CommandIO = {
    get stdout() {
      return process.stdout;
    },
    get stderr() {
      return process.stderr;
    },
    get stdin() {
      return process.stdin;
    },
    env: process.env,
  };
  main(process.argv.slice(2), io).then(
    (code) => {
      // `run` manages its own exit (signals, drain); everything else exits when done.
      if (code !== undefined && !Number.isNaN(code)) process.exitCode = code;
    },
    (err: unknown) => {
      process.exitCode = reportError(err, io);
    },
  );
}
