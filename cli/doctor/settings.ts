// The AGENTD_* settings in this shell's environment, checked exactly as the daemon
// checks them (a value the daemon would refuse with exit 78 fails here first).
import { loadSettings } from '../../daemon/config.js';
import { errText, fail, pass, type CheckResult } from './check.js';

export function checkSettings(env: NodeJS.ProcessEnv): CheckResult {
  const set = Object.keys(env).filter((k) => k.startsWith('AGENTD_') && k !== 'AGENTD_INSTALL_TOKEN' && k !== 'AGENTD_TEST_SYSTEM_ROOT').sort();
  try {
    loadSettings(env);
    return pass('settings', 'AGENTD_* settings', set.length ? `valid: ${set.join(', ')}` : 'none set (defaults)');
  } catch (e) {
    const name = (e as { subject?: string }).subject;
    return fail('settings', 'AGENTD_* settings', errText(e), name && name.startsWith('AGENTD_') ? `unset ${name}   (or set it to an accepted value; for the service: sudo systemctl edit agentd)` : 'env | grep ^AGENTD_');
  }
}
