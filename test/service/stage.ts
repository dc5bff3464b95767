// The system unit runs with PrivateTmp=yes, so a checkout under /tmp (where CI clones
// often land) is invisible to the service, and `agentd install` refuses to point a unit
// at it. The service tests therefore run agentd the way the artifact ships it: the
// bundle, its chunks and the unit templates, copied into the test's directory that the
// harness binds into the namespaces.
import { copyFileSync, cpSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AGENTD_NODE, ROOT } from '../helpers/bin.js';

/** Copies the agentd build to `hostDir/agentd`; returns the argv that runs it as seen at `nsDir`. */
export function stageAgentd(hostDir: string, nsDir: string): string[] {
  const dest = join(hostDir, 'agentd');
  mkdirSync(join(dest, 'dist', 'chunks'), { recursive: true });
  copyFileSync(join(ROOT, 'dist', 'agentd.mjs'), join(dest, 'dist', 'agentd.mjs'));
  for (const f of readdirSync(join(ROOT, 'dist', 'chunks'))) {
    if (f.endsWith('.mjs')) copyFileSync(join(ROOT, 'dist', 'chunks', f), join(dest, 'dist', 'chunks', f));
  }
  cpSync(join(ROOT, 'systemd'), join(dest, 'systemd'), { recursive: true });
  return [AGENTD_NODE, `${nsDir}/agentd/dist/agentd.mjs`];
}
