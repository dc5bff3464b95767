// The files an installed agentd runs from: the agentd bundle with its lazy chunks (not
// the platform or demo bundles) and the unit templates `agentd install` renders. Shared
// by the artifact build and the service tests, which run agentd from such a copy.
import { copyFileSync, cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Copies dist/agentd.mjs, dist/chunks/*.mjs, systemd/ and launchd/ from `root` into `dest`. */
export function stageBundle(root, dest) {
  mkdirSync(join(dest, 'dist', 'chunks'), { recursive: true });
  copyFileSync(join(root, 'dist', 'agentd.mjs'), join(dest, 'dist', 'agentd.mjs'));
  for (const f of readdirSync(join(root, 'dist', 'chunks'))) {
    if (f.endsWith('.mjs')) copyFileSync(join(root, 'dist', 'chunks', f), join(dest, 'dist', 'chunks', f));
  }
  cpSync(join(root, 'systemd'), join(dest, 'systemd'), { recursive: true });
  cpSync(join(root, 'launchd'), join(dest, 'launchd'), { recursive: true });
}
