// Setup for every test file: points the system install paths (/etc/agentd,
// /var/lib/agentd, the system unit directory) at a private, empty directory of its own,
// so neither a leftover on this machine (an empty /etc/agentd after an uninstall, a stray
// /var/lib/agentd/daemon-id) nor another test file's system install can change a result.
// The file's children inherit it; the real-systemd tests drop it and use a private mount
// namespace instead.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'agentd-sysroot-'));
process.env.AGENTD_TEST_SYSTEM_ROOT = root;
afterAll(() => rmSync(root, { recursive: true, force: true }));
