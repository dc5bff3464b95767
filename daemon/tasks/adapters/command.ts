// `command`: the prompt is a shell command. Its output is raw text: stdout goes out as
// `text` messages, stderr as `stderr` messages, each a chunk of up to 64 KiB (many lines,
// not one message per line); the final output is the last 64 KB of stdout.
//
// The prompt never goes into argv (every user reads argv with `ps`): the shell reads
// it whole from stdin, points stdin at /dev/null (what the command would have had), and
// evaluates it. The fixed wrapper is all `ps` shows.
import { ByteTail, TailBuffer } from '../lines.js';
import { StderrTail, type RuntimeAdapter, type StreamParser } from './types.js';

const OUTPUT_TAIL_BYTES = 64 * 1024;
/** Enough raw stderr for the last StderrTail lines of a failure's diagnostics. */
const STDERR_TAIL_BYTES = 16 * 1024;
/** Reads the prompt from stdin before running it; 125 when it cannot even be read. */
export const PROMPT_FROM_STDIN = 'agentd_prompt=$(cat) || exit 125; exec </dev/null; eval "$agentd_prompt"';

export const commandAdapter: RuntimeAdapter = {
  name: 'command',
  binary: null,
  maxLineBytes: 16 * 1024,
  output: 'text',
  briefFile: null,
  buildsPrompt: false,
  command(_task, ctx) {
    return { file: '/bin/sh', args: ['-c', PROMPT_FROM_STDIN], stdin: ctx.input.prompt };
  },
  parser(): StreamParser {
    const tail = new TailBuffer(OUTPUT_TAIL_BYTES);
    const err = new StderrTail();
    const rawOut = new ByteTail(OUTPUT_TAIL_BYTES);
    const rawErr = new ByteTail(STDERR_TAIL_BYTES);
    let raw = false;
    return {
      toolInFlight: false,
      stdoutText(bytes) {
        raw = true;
        rawOut.append(bytes);
        return [{ type: 'text', bytes }];
      },
      stderrText(bytes) {
        raw = true;
        rawErr.append(bytes);
        return [{ type: 'stderr', bytes }];
      },
      stdoutLine(line) {
        tail.append(line + '\n');
        return [{ type: 'text', content: line }];
      },
      stderrLine(line) {
        err.push(line);
        return [{ type: 'stderr', content: line }];
      },
      finish() {
        if (raw) {
          for (const line of rawErr.toString().split('\n')) err.push(line.replace(/\r$/, ''));
          return { output: rawOut.toString(), diagnostics: err.text() };
        }
        return { output: tail.toString(), diagnostics: err.text() };
      },
    };
  },
};
