// The agent's opening message for a task a Multica server sent (no `prompt` field).
// Multica's daemon picks the message by what triggered the task, in this order: a chat
// message, a comment, an autopilot run, a quick-create request, otherwise an issue
// assignment (with the assigner's handoff note). Each kind carries the facts the agent
// cannot get elsewhere (the message, the comment's text, the folded earlier comments,
// the autopilot's instructions and payload, the quick-create input) and names the
// `multica` CLI command that fetches the rest; long-lived guidance goes in the brief
// file (brief.ts), not here. The wording is agentd's own.
import type { CoalescedComment, TaskContext } from '../../api/task-context.js';

export type TaskKind = 'chat' | 'comment' | 'autopilot' | 'quick_create' | 'issue';

export function taskKind(c: TaskContext): TaskKind {
  if (c.chat_session_id) return 'chat';
  if (c.trigger_comment_id) return 'comment';
  if (c.autopilot_run_id) return 'autopilot';
  if (c.quick_create_prompt) return 'quick_create';
  return 'issue';
}

/** Markdown quote of a text that may span lines. */
function quote(text: string, indent = ''): string {
  return text
    .trim()
    .split('\n')
    .map((l) => `${indent}> ${l}`)
    .join('\n');
}

function author(type: string | undefined, name: string | undefined): string {
  if (type === 'system') return 'the platform';
  if (type === 'agent') return `another agent (${name || 'unnamed'})`;
  return name || 'a user';
}

function commentLine(c: CoalescedComment): string {
  const when = c.created_at ? `, ${c.created_at}` : '';
  const thread = c.thread_id ? ` in thread ${c.thread_id}` : '';
  return `- comment ${c.id} by ${author(c.author_type, c.author_name)}${when}${thread}:\n${quote(c.content, '  ')}`;
}

export function buildPrompt(c: TaskContext): string {
  const parts: string[] = [];
  const issue = c.issue_id ?? '';
  switch (taskKind(c)) {
    case 'chat': {
      parts.push('You are answering a chat message in a Multica workspace.');
      parts.push(`The message:\n${c.chat_message ?? ''}`);
      const files = c.chat_message_attachments ?? [];
      if (files.length > 0) {
        parts.push(
          `It has ${files.length} attachment(s); fetch one with \`multica attachment download <id>\` before you refer to it:\n` +
            files.map((a) => `- ${a.id}${a.filename ? ` (${a.filename}${a.content_type ? `, ${a.content_type}` : ''})` : ''}`).join('\n'),
        );
      }
      parts.push('Reply with your answer; what you print last is the reply.');
      break;
    }
    case 'comment': {
      parts.push(`You work on Multica issue ${issue}.`);
      if (c.trigger_comment_content) {
        parts.push(`A new comment from ${author(c.trigger_author_type, c.trigger_author_name)} started this run; it is the one to act on:\n${quote(c.trigger_comment_content)}`);
      }
      const folded = c.coalesced_comments ?? [];
      if (folded.length > 0) {
        parts.push(`${folded.length} earlier comment(s) arrived before this run started and belong to it too; address each:\n${folded.map(commentLine).join('\n')}`);
      } else if ((c.coalesced_comment_ids ?? []).length > 0) {
        const ids = c.coalesced_comment_ids ?? [];
        parts.push(`This run also covers earlier comments ${ids.join(', ')}; read each with \`multica issue comment list ${issue} --thread <comment-id> --tail 30 --output json\`.`);
      }
      parts.push(`Read the issue with \`multica issue get ${issue} --output json\`, then reply in the comment's thread with \`multica issue comment add ${issue} --parent ${c.trigger_comment_id ?? ''} --content-file <file>\`.`);
      break;
    }
    case 'autopilot': {
      parts.push('An Autopilot started this run (run-only: no issue is assigned).');
      const facts = [`Autopilot run: ${c.autopilot_run_id ?? ''}`];
      if (c.autopilot_id) facts.push(`Autopilot: ${c.autopilot_id}`);
      if (c.autopilot_title) facts.push(`Title: ${c.autopilot_title}`);
      if (c.autopilot_source) facts.push(`Triggered by: ${c.autopilot_source}`);
      parts.push(facts.join('\n'));
      const payload = payloadText(c.autopilot_trigger_payload);
      if (payload) parts.push(`Trigger payload:\n${payload}`);
      const instructions = c.autopilot_description?.trim() || c.autopilot_title || 'none were given; read the autopilot configuration first';
      parts.push(`Instructions:\n${instructions}`);
      if (c.autopilot_id) parts.push(`\`multica autopilot get ${c.autopilot_id} --output json\` shows the whole configuration.`);
      break;
    }
    case 'quick_create': {
      parts.push('Create one Multica issue from what a user typed in the quick-create box; no issue exists yet.');
      parts.push(`Their input:\n${quote(c.quick_create_prompt ?? '')}`);
      const rules = ['Run `multica issue create --output json` exactly once (a retry could create a duplicate).'];
      if (c.quick_create_priority) rules.push(`Pass \`--priority ${c.quick_create_priority}\` (chosen in the form).`);
      if (c.quick_create_due_date) rules.push(`Pass \`--due-date ${c.quick_create_due_date}\` (chosen in the form).`);
      if (c.project_id) rules.push(`Pass \`--project ${c.project_id}\`${c.project_title ? ` (${c.project_title})` : ''} (chosen in the form).`);
      if (c.agent?.id) rules.push(`Unless the input names an assignee, assign it to yourself: \`--assignee-id ${c.agent.id}\`.`);
      rules.push('Then print one line: `Created <identifier>: <title>`.');
      parts.push(rules.map((r) => `- ${r}`).join('\n'));
      break;
    }
    case 'issue': {
      parts.push(`You work on Multica issue ${issue}, which was assigned to you.`);
      if (c.handoff_note) parts.push(`Whoever assigned it left this note on what to do first (a scope, not a comment to reply to):\n${quote(c.handoff_note)}`);
      parts.push(`Read it with \`multica issue get ${issue} --output json\` and its discussion with \`multica issue comment list ${issue} --output json\`, then do the work.`);
      break;
    }
  }
  if (c.initiator_name) parts.push(`Requested by ${c.initiator_name}${c.initiator_type ? ` (${c.initiator_type})` : ''}.`);
  return parts.join('\n\n') + '\n';
}

function payloadText(p: unknown): string {
  if (p === undefined || p === null) return '';
  if (typeof p === 'string') return p.trim();
  return JSON.stringify(p, null, 2);
}
