// The connection payload: the one builder behind install-token creation, rotate and
// connection info, so a snippet added here shows up in all three answers (and on the
// web page, which only renders what the API sends).
//
// Every snippet is a template over the same placeholders, filled by one function that
// refuses an unknown placeholder: the platform URL, workspace and daemon ids cannot
// disagree between snippets. The URL loses its trailing slashes first, so no `//`
// appears in `<url>/install.sh`.
import type { ConnectionPayload, ConnectionSnippets } from '../api/types.js';

/** What a blank token shows as inside a snippet (connection info never carries one). */
export const TOKEN_PLACEHOLDER = 'mdt_…';

const TEMPLATES: Readonly<Record<keyof ConnectionSnippets, string>> = {
  // With an install token: enrol. Without (connection info, rotate): upgrade in place,
  // which on an enrolled machine keeps its daemon id and spends no token.
  one_liner: 'curl -fsSL {{PLATFORM_URL}}/install.sh | {{INSTALL_TOKEN_ENV}}sh',
  // printf is a shell builtin: the token never reaches a process's argv.
  credentials_set: "printf '%s\\n' '{{DAEMON_TOKEN}}' | sudo agentd credentials set",
  env: ['AGENTD_PLATFORM_URL={{PLATFORM_URL}}', 'AGENTD_WORKSPACE_ID={{WORKSPACE_ID}}', 'AGENTD_DAEMON_ID={{DAEMON_ID}}', '{{TOKEN_ENV}}'].join('\n'),
};

export interface ConnectionInput {
  platformUrl: string;
  workspaceId: string;
  /** "" for an install token: the machine chooses its own id at the exchange. */
  daemonId: string;
  /** The mit_ of a fresh install token. */
  installToken?: string;
  /** The mdt_ minted by rotate (shown once); absent for connection info. */
  daemonToken?: string;
}

export function trimPlatformUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

export function buildConnectionPayload(i: ConnectionInput): ConnectionPayload {
  const platformUrl = trimPlatformUrl(i.platformUrl);
  const values: Record<string, string> = {
    PLATFORM_URL: platformUrl,
    WORKSPACE_ID: i.workspaceId,
    DAEMON_ID: i.daemonId || '(chosen by the machine when it enrols)',
    DAEMON_TOKEN: i.daemonToken || TOKEN_PLACEHOLDER,
    INSTALL_TOKEN_ENV: i.installToken ? `AGENTD_INSTALL_TOKEN=${i.installToken} ` : '',
    TOKEN_ENV: i.installToken ? `AGENTD_INSTALL_TOKEN=${i.installToken}` : `AGENTD_DAEMON_TOKEN=${i.daemonToken || TOKEN_PLACEHOLDER}`,
  };
  const snippets = Object.fromEntries(Object.entries(TEMPLATES).map(([k, t]) => [k, fill(t, values)])) as unknown as ConnectionSnippets;
  return {
    platform_url: platformUrl,
    workspace_id: i.workspaceId,
    daemon_id: i.daemonId,
    token: i.installToken ?? i.daemonToken ?? '',
    snippets,
  };
}

/** Replaces every {{NAME}}; an unknown NAME is a bug in a template, not a blank. */
export function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`connection snippet template names an unknown placeholder {{${name}}}`);
    return v;
  });
}
