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

/** The adapter for a registered runtime (by type, then name), or null when unknown. */
export function adapterFor(rt: { name: string; type?: string }): RuntimeAdapter | null {
  return ADAPTERS[rt.type ?? ''] ?? ADAPTERS[rt.name] ?? null;
}
