// The headers of every request agentd makes to the platform (HTTP calls and the
// WebSocket control channel), built in one place: the client identity (X-Client-*),
// and who is calling (X-Workspace-ID, X-Daemon-ID), so the platform can check the
// source against the bearer and record it in its request log.
// The bearer is added by the caller, per attempt (a re-read credential takes effect at once).
import { CLIENT_CAPABILITIES } from './task-context.js';
import { DAEMON_ID_HEADER, WORKSPACE_ID_HEADER, clientOS } from './types.js';

/** Which daemon this is; the exchange knows only the daemon id (the workspace comes back in its answer). */
export interface DaemonSource {
  workspace_id?: string;
  daemon_id?: string;
}

export function requestHeaders(clientVersion: string, source: DaemonSource | undefined): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
    'user-agent': `agentd/${clientVersion}`,
    'x-client-platform': 'daemon',
    'x-client-version': clientVersion,
    'x-client-os': clientOS(),
    'x-client-capabilities': CLIENT_CAPABILITIES.join(','),
  };
  if (source?.workspace_id) h[WORKSPACE_ID_HEADER] = source.workspace_id;
  if (source?.daemon_id) h[DAEMON_ID_HEADER] = source.daemon_id;
  return h;
}
