// The one connection-payload builder (install-token creation, rotate, connection info):
// every snippet comes from the same placeholders, the URL loses its trailing slash, a
// blank token stays blank in the payload and shows as a placeholder in the snippets.
import { describe, expect, it } from 'vitest';
import { TOKEN_PLACEHOLDER, buildConnectionPayload, fill } from '../../platform/connection.js';

const MIT = 'mit_' + 'a'.repeat(40);
const MDT = 'mdt_' + 'b'.repeat(40);

describe('buildConnectionPayload', () => {
  it('trims trailing slashes: no // anywhere in the snippets', () => {
    const p = buildConnectionPayload({ platformUrl: 'https://p.example/base///', workspaceId: 'ws1', daemonId: 'd1' });
    expect(p.platform_url).toBe('https://p.example/base');
    for (const s of Object.values(p.snippets)) expect(s.replace('https://', '')).not.toContain('//');
    expect(p.snippets.one_liner).toBe('curl -fsSL https://p.example/base/install.sh | sh');
  });

  it('connection info: blank token in the payload, the placeholder in the snippets', () => {
    const p = buildConnectionPayload({ platformUrl: 'http://h:1', workspaceId: 'ws1', daemonId: 'd1' });
    expect(p.token).toBe('');
    expect(p.snippets.credentials_set).toBe(`printf '%s\\n' '${TOKEN_PLACEHOLDER}' | sudo agentd credentials set`);
    expect(p.snippets.env).toBe(`AGENTD_PLATFORM_URL=http://h:1\nAGENTD_WORKSPACE_ID=ws1\nAGENTD_DAEMON_ID=d1\nAGENTD_DAEMON_TOKEN=${TOKEN_PLACEHOLDER}`);
    expect(JSON.stringify(p)).not.toMatch(/m[di]t_[0-9a-f]{40}/);
  });

  it('rotate: the new token in the payload and in the snippets that need it', () => {
    const p = buildConnectionPayload({ platformUrl: 'http://h:1/', workspaceId: 'ws1', daemonId: 'd1', daemonToken: MDT });
    expect(p.token).toBe(MDT);
    expect(p.snippets.credentials_set).toContain(`'${MDT}'`);
    expect(p.snippets.env).toContain(`AGENTD_DAEMON_TOKEN=${MDT}`);
    expect(p.snippets.one_liner).not.toContain(MDT);
  });

  it('install token: the one-liner carries the mit_ in the environment of sh, not in argv', () => {
    const p = buildConnectionPayload({ platformUrl: 'https://p.example/', workspaceId: 'ws1', daemonId: '', installToken: MIT });
    expect(p.token).toBe(MIT);
    expect(p.daemon_id).toBe('');
    expect(p.snippets.one_liner).toBe(`curl -fsSL https://p.example/install.sh | AGENTD_INSTALL_TOKEN=${MIT} sh`);
    expect(p.snippets.env).toContain(`AGENTD_INSTALL_TOKEN=${MIT}`);
  });

  it('the same workspace and URL in every snippet that names them', () => {
    const p = buildConnectionPayload({ platformUrl: 'https://x.example', workspaceId: 'w-42', daemonId: 'd-7' });
    expect(p.snippets.one_liner).toContain(p.platform_url);
    expect(p.snippets.env).toContain(`AGENTD_PLATFORM_URL=${p.platform_url}`);
    expect(p.snippets.env).toContain('AGENTD_WORKSPACE_ID=w-42');
    expect(p.snippets.env).toContain('AGENTD_DAEMON_ID=d-7');
  });

  it('an unknown placeholder in a template is an error, never a silent blank', () => {
    expect(() => fill('{{NOPE}}', {})).toThrow(/unknown placeholder \{\{NOPE\}\}/);
  });
});
