// The system unit runs with PrivateTmp=yes, so a checkout under /tmp (where CI clones
// often land) is invisible to the service, and `agentd install` refuses to point a unit
// at it. The service tests therefore run agentd from a copy laid out as the artifact
// ships it (scripts/stage-bundle.mjs), in the test's directory that the harness binds
// into the namespaces.
import { join } from 'node:path';
import { stageBundle } from '../../scripts/stage-bundle.mjs';
import { AGENTD_NODE, ROOT } from '../helpers/bin.js';

/** Copies the agentd build to `hostDir/agentd`; returns the argv that runs it as seen at `nsDir`. */
export function stageAgentd(hostDir: string, nsDir: string): string[] {
  stageBundle(ROOT, join(hostDir, 'agentd'));
  return [AGENTD_NODE, `${nsDir}/agentd/dist/agentd.mjs`];
}
