// `command`: the prompt is a shell command. Each stdout line is a text message, each
// stderr line a `stderr` message; the final output is the last 64 KB of stdout.
//
// The prompt never goes into argv (every user reads argv with `ps`): the shell reads
// it whole from stdin, points stdin at /dev/null (what the command would have had), and
// evaluates it. The fixed wrapper is all `ps` shows.
import { TailBuffer } from '../lines.js';
import { StderrTail, type RuntimeAdapter, type StreamParser } from './types.js';

const OUTPUT_TAIL_BYTES = 64 * 1024;
/** Reads the prompt from stdin before running it; 125 when it cannot even be read. */
export const PROMPT_FROM_STDIN = 'agentd_prompt=$(cat) || exit 125; exec </dev/null; eval "$agentd_prompt"';

export const commandAdapter: RuntimeAdapter = {
  name: 'command',
  binary: null,
  maxLineBytes: 16 * 1024,
  briefFile: null,
  buildsPrompt: false,
  command(_task, ctx) {
    return { file: '/bin/sh', args: ['-c', PROMPT_FROM_STDIN], stdin: ctx.input.prompt };
  },
  parser(): StreamParser {
    const tail = new TailBuffer(OUTPUT_TAIL_BYTES);
    const err = new StderrTail();
    return {
      toolInFlight: false,
      stdoutLine(line) {
        tail.append(line + '\n');
        return [{ type: 'text', content: line }];
      },
      stderrLine(line) {
        err.push(line);
        return [{ type: 'stderr', content: line }];
      },
      finish() {
        return { output: tail.toString(), diagnostics: err.text() };
      },
    };
  },
};
