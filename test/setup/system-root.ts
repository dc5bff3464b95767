// Global setup: points the system install paths (/etc/agentd, /var/lib/agentd, the system
// unit directory) at a private, empty directory for the whole run, so a leftover on this
// machine (an empty /etc/agentd after an uninstall, a stray /var/lib/agentd/daemon-id)
// cannot change a result. Workers and the children they spawn inherit it; the real-systemd
// tests drop it and use a private mount namespace instead.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'agentd-sysroot-'));
  process.env.AGENTD_TEST_SYSTEM_ROOT = root;
  return () => rmSync(root, { recursive: true, force: true });
}
