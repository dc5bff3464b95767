// The brief files Multica's daemon writes into a task's work dir before the agent starts,
// rendered here (store/workdirs.ts writes them):
//
//   CLAUDE.md | AGENTS.md                    the runtime brief the agent CLI loads by
//                                            itself: who the agent is (name, id, its
//                                            instructions), the workspace context, the
//                                            repositories, how to use the `multica` CLI.
//                                            Inside a marked block, so an existing file's
//                                            own text is kept.
//   .agent_context/issue_context.md          the task's facts (issue, trigger, handoff
//                                            note, autopilot run, quick-create input).
//   .multica/daemon_task_context.json        the marker `multica` looks for (walking up
//                                            from its cwd) to know it runs inside a daemon
//                                            task and must use MULTICA_TOKEN, never the
//                                            user's own login.
//
// Written only for Multica-shaped tasks (those with `agent{}`); a plain `prompt` task
// of our platform gets none.
import type { TaskContext } from '../../api/task-context.js';
import { taskKind } from './prompt.js';

export interface BriefFile {
  /** Path relative to the work dir. */
  path: string;
  content: string;
  /** Block markers: the content replaces the marked block of an existing file instead of the file. */
  block?: { begin: string; end: string };
}

/** The discriminator Multica's CLI checks in the task marker (a wire constant). */
export const TASK_MARKER_MANAGED_BY = 'multica-daemon-task';
const BLOCK_BEGIN = '<!-- agentd: runtime brief (rewritten for every task) -->';
const BLOCK_END = '<!-- agentd: end of runtime brief -->';

export function briefFiles(c: TaskContext, briefFile: 'CLAUDE.md' | 'AGENTS.md' | null): BriefFile[] {
  const files: BriefFile[] = [
    {
      path: '.multica/daemon_task_context.json',
      content:
        JSON.stringify(
          {
            managed_by: TASK_MARKER_MANAGED_BY,
            ...(c.agent_id ? { agent_id: c.agent_id } : {}),
            ...(c.issue_id ? { issue_id: c.issue_id } : {}),
            ...(c.chat_session_id ? { chat_session_id: c.chat_session_id } : {}),
          },
          null,
          2,
        ) + '\n',
    },
    { path: '.agent_context/issue_context.md', content: issueContext(c) },
  ];
  if (briefFile) files.push({ path: briefFile, content: runtimeBrief(c), block: { begin: BLOCK_BEGIN, end: BLOCK_END } });
  return files;
}

function runtimeBrief(c: TaskContext): string {
  const out: string[] = ['# Multica agent runtime', 'You run as an agent of a Multica workspace, started by the daemon on this machine for one task.'];
  const a = c.agent;
  if (a) {
    out.push('## Agent identity');
    out.push(`You are ${a.name ? `**${a.name}**` : 'an agent'} (id \`${a.id}\`).`);
    if (a.instructions?.trim()) out.push(a.instructions.trim());
  }
  if (c.workspace_context?.trim()) out.push('## Workspace context', c.workspace_context.trim());
  if (c.project_title || c.project_description) {
    out.push('## Project', [c.project_title ? `**${c.project_title}**` : '', c.project_description?.trim() ?? ''].filter(Boolean).join('\n\n'));
  }
  const repos = c.repos ?? [];
  if (repos.length > 0 && taskKind(c) !== 'quick_create') {
    out.push('## Repositories', repos.map((r) => `- ${r.url}${r.ref ? ` (ref ${r.ref})` : ''}${r.description ? `: ${r.description}` : ''}`).join('\n'));
  }
  out.push(
    '## Talking to Multica',
    'Use the `multica` CLI for everything on the platform (issues, comments, chat, attachments). It authenticates with MULTICA_TOKEN, a token for this task only, already in your environment; never log in with another account. Finish your work inside this turn: the task ends when you stop, and nothing started in the background survives it.',
  );
  return out.join('\n\n') + '\n';
}

function issueContext(c: TaskContext): string {
  const out: string[] = [];
  switch (taskKind(c)) {
    case 'autopilot':
      out.push('# Autopilot run', `**Autopilot run ID:** ${c.autopilot_run_id ?? ''}`);
      if (c.autopilot_id) out.push(`**Autopilot ID:** ${c.autopilot_id}`);
      if (c.autopilot_title) out.push(`**Title:** ${c.autopilot_title}`);
      if (c.autopilot_source) out.push(`**Trigger source:** ${c.autopilot_source}`);
      if (c.autopilot_trigger_payload !== undefined) {
        const p = typeof c.autopilot_trigger_payload === 'string' ? c.autopilot_trigger_payload : JSON.stringify(c.autopilot_trigger_payload, null, 2);
        out.push('## Trigger payload', '```json\n' + p + '\n```');
      }
      if (c.autopilot_description?.trim()) out.push('## Instructions', c.autopilot_description.trim());
      break;
    case 'quick_create':
      out.push('# Quick create', '**Trigger:** the quick-create form', '## User input', `> ${(c.quick_create_prompt ?? '').trim()}`);
      break;
    case 'chat':
      out.push('# Chat', `**Chat session ID:** ${c.chat_session_id ?? ''}`);
      break;
    default:
      out.push('# Task assignment', `**Issue ID:** ${c.issue_id ?? ''}`);
      out.push(c.trigger_comment_id ? `**Trigger:** a comment (\`${c.trigger_comment_id}\`)` : '**Trigger:** the issue was assigned');
      if (c.handoff_note) out.push('## Handoff note', `> ${c.handoff_note.trim()}`);
      out.push('## Quick start', `\`multica issue get ${c.issue_id ?? ''} --output json\` fetches the issue.`);
  }
  return out.join('\n\n') + '\n';
}
