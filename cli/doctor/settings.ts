// The AGENTD_* settings in this shell's environment, checked as the daemon and the CLI
// check them (same tables, same messages), here by env-schema: a value the daemon would
// refuse with exit 78 fails here first.
import { envSchemaChecker } from '../../core/env-schema-settings.js';
import { checkCliEnv, knownSettingNames } from '../env.js';
import { errText, fail, pass, type CheckResult } from './check.js';

export function checkSettings(env: NodeJS.ProcessEnv): CheckResult {
  const set = knownSettingNames(env);
  try {
    checkCliEnv(env, envSchemaChecker, { daemonSettings: true });
    return pass('settings', 'AGENTD_* settings', set.length ? `valid: ${set.join(', ')}` : 'none set (defaults)');
  } catch (e) {
    const name = (e as { subject?: string }).subject;
    return fail('settings', 'AGENTD_* settings', errText(e), name && name.startsWith('AGENTD_') ? `unset ${name}   (or set an accepted value; for the service: sudo systemctl edit agentd)` : 'env | grep ^AGENTD_');
  }
}
