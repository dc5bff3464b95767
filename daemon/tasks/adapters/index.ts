// The built-in runtime adapters by name.
import { claudeAdapter } from './claude.js';
import { codexAdapter } from './codex.js';
import { commandAdapter } from './command.js';
import type { RuntimeAdapter } from './types.js';

export const ADAPTERS: Readonly<Record<string, RuntimeAdapter>> = {
  command: commandAdapter,
  claude: claudeAdapter,
  codex: codexAdapter,
};

/**
 * The adapter for a registered runtime, or null when unknown: by `type` (our platform),
 * then `provider` (a Multica server answers register with the provider and may rename
 * the runtime, e.g. "Claude (host-1)"), then by name.
 */
export function adapterFor(rt: { name: string; type?: string; provider?: unknown }): RuntimeAdapter | null {
  const provider = typeof rt.provider === 'string' ? rt.provider : '';
  return ADAPTERS[rt.type ?? ''] ?? ADAPTERS[provider] ?? ADAPTERS[rt.name] ?? null;
}
