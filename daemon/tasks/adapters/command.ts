// `command`: the prompt is a shell command. Each stdout line is a text message, each
// stderr line a `stderr` message; the final output is the last 64 KB of stdout.
import { TailBuffer } from '../lines.js';
import { StderrTail, type RuntimeAdapter, type StreamParser } from './types.js';

const OUTPUT_TAIL_BYTES = 64 * 1024;

export const commandAdapter: RuntimeAdapter = {
  name: 'command',
  binary: null,
  maxLineBytes: 16 * 1024,
  command(task) {
    return { file: '/bin/sh', args: ['-c', task.prompt], stdin: null };
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
