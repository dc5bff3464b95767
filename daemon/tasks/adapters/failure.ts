// Names the cause of an agent CLI's failure in Multica's vocabulary (agent_error.*),
// from the error text the agent printed: its result message or its last stderr lines.
// Only patterns that say one thing are matched; anything else stays the coarse
// `agent_error`. Applied to agent CLIs only (claude, codex): a `command` task's output is
// the operator's own, where "401" may mean anything.
import type { MulticaFailureReason } from '../../../api/task-context.js';

const RULES: ReadonlyArray<[RegExp, MulticaFailureReason]> = [
  // Checked first: an overflow message often also says "400 invalid request".
  [/prompt is too long|context (window|length)|context_length_exceeded|maximum context|too many tokens/i, 'agent_error.context_overflow'],
  [/\b40[13]\b|not logged in|invalid (x-)?api[ -]?key|authentication (failed|error)|unauthori[sz]ed|please run \/login|oauth token (has )?expired/i, 'agent_error.provider_auth_or_access'],
  [/\b402\b|insufficient[_ ]balance|quota|credit balance|usage limit|billing/i, 'agent_error.provider_quota_limit'],
  [/\b429\b|\b529\b|rate[_ -]?limit|overloaded|no capacity/i, 'agent_error.provider_capacity_or_rate_limit'],
  [/model[^.\n]{0,40}(not found|does not exist|not available|unavailable)|unknown model|invalid model/i, 'agent_error.model_not_found_or_unavailable'],
  [/\b50[0234]\b|internal server error|service unavailable|bad gateway|api_error/i, 'agent_error.provider_server_error'],
  [/ECONNRESET|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|socket hang up|stream disconnected|dial tcp|i\/o timeout|fetch failed/i, 'agent_error.provider_network'],
  [/api[ _-]?key[^.\n]{0,30}(missing|not set|required)|missing (required )?(environment variable|api key)|no (llm )?provider configured/i, 'agent_error.missing_config'],
];

export function classifyAgentError(text: string | undefined): MulticaFailureReason | undefined {
  if (!text) return undefined;
  for (const [re, reason] of RULES) if (re.test(text)) return reason;
  return undefined;
}
