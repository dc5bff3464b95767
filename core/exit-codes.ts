// Stable exit codes (sysexits.h where one fits). Documented in docs/operators.md;
// systemd units list CONFIG and REVOKED in RestartPreventExitStatus= so a broken
// install or a dead credential never restart-loops.
export const EXIT = {
  OK: 0,
  FAILURE: 1, // generic failure; `agentd status`: daemon running but not ready
  NOT_RUNNING: 3, // `agentd status`: no daemon answers (LSB "program is not running")
  USAGE: 64, // EX_USAGE: bad flags or arguments
  UNAVAILABLE: 69, // EX_UNAVAILABLE: the platform could not be reached
  SOFTWARE: 70, // EX_SOFTWARE: a bug; the message says where to report it
  CANTCREAT: 73, // EX_CANTCREAT: a file could not be written (disk full, permissions)
  TEMPFAIL: 75, // EX_TEMPFAIL: try again later (e.g. another daemon holds the lock)
  REVOKED: 77, // EX_NOPERM: the platform refused the credential / token
  CONFIG: 78, // EX_CONFIG: configuration error (bad env value, port taken, insecure file)
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
