import { describe, expect, it } from 'vitest';
import { fstatSync } from 'node:fs';
import { createLogger, formatPretty, resolveLogFormat, scrubTokens, stdoutIsJournal } from '../../daemon/logger.js';
import { loadSettings } from '../../daemon/config.js';

const MDT = 'mdt_' + 'a'.repeat(40);
const MAT = 'mat_' + 'b'.repeat(40);

function collect(pretty = false) {
  const out: string[] = [];
  const logger = createLogger({ level: 'debug', pretty, destination: { write: (l: string) => out.push(l) } });
  return { logger, out };
}

describe('logger', () => {
  it('writes one JSON line per event with level label and time', () => {
    const { logger, out } = collect();
    logger.info({ runtime: 'command' }, 'hello');
    const rec = JSON.parse(out[0]);
    expect(rec).toMatchObject({ level: 'info', msg: 'hello', runtime: 'command' });
    expect(typeof rec.time).toBe('string');
  });

  it('redacts authorization, token and *.token keys', () => {
    const { logger, out } = collect();
    logger.info({ token: 'secret-1', authorization: 'Bearer secret-2', credentials: { token: 'secret-3' }, task: { auth_token: 'secret-4' } }, 'x');
    expect(out.join('')).not.toMatch(/secret-/);
  });

  it('scrubs token-shaped strings anywhere in the line, even in messages and errors', () => {
    const { logger, out } = collect();
    logger.error({ err: new Error(`boom ${MDT}`) }, `oops ${MAT}`);
    const text = out.join('');
    expect(text).not.toContain(MDT);
    expect(text).not.toContain(MAT);
    expect(text).toContain('mdt_[redacted]');
    expect(scrubTokens('mit_' + 'c'.repeat(40))).toBe('mit_[redacted]');
  });

  it('pretty mode prints short human lines', () => {
    const { logger, out } = collect(true);
    logger.warn({ state: 'degraded', failures: 3 }, 'platform unreachable');
    expect(out[0]).toMatch(/^\d\d:\d\d:\d\d WARN  platform unreachable state=degraded failures=3\n$/);
    expect(formatPretty('not json')).toBe('not json');
  });
});

describe('journald format', () => {
  const journal = () => {
    const out: string[] = [];
    const logger = createLogger({ level: 'debug', format: 'journal', destination: { write: (l: string) => out.push(l) } });
    return { logger, out };
  };

  it('one line per event: priority prefix, message first, then key=value', () => {
    const { logger, out } = journal();
    logger.error({ where: 'heartbeat' }, 'boom');
    logger.warn({ event: 'unauthorized', status: 401 }, 'the platform refused the daemon credential');
    logger.info({ state: 'ready', reason: 'registered 1 runtime(s): command' }, 'state change');
    logger.debug({ n: 1 }, 'tick');
    expect(out).toEqual([
      '<3>boom where=heartbeat\n',
      '<4>the platform refused the daemon credential event=unauthorized status=401\n',
      '<6>state change state=ready reason="registered 1 runtime(s): command"\n',
      '<7>tick n=1\n',
    ]);
  });

  it('a message or field with newlines stays one journal entry; errors keep their stack', () => {
    const { logger, out } = journal();
    logger.error({ err: new Error('two\nlines') }, 'first\nsecond');
    expect(out).toHaveLength(1);
    expect(out[0].indexOf('\n')).toBe(out[0].length - 1);
    expect(out[0]).toMatch(/^<3>first second err="two\\nlines" stack="Error: two\\nlines\\n {4}at /);
  });

  it('redaction is unchanged: keys censored, token-shaped strings scrubbed', () => {
    const { logger, out } = journal();
    logger.warn({ token: 'secret-1', headers: { authorization: 'Bearer secret-2' } }, `saw ${MDT}`);
    expect(out[0]).not.toMatch(/secret-|aaaaaaaaaa/);
    expect(out[0]).toContain('mdt_[redacted]');
    expect(out[0]).toContain('token=[redacted]');
  });

  it('auto picks journal only when JOURNAL_STREAM names the stream stdout is', () => {
    const st = fstatSync(1);
    expect(stdoutIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` })).toBe(true);
    expect(stdoutIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` })).toBe(false);
    expect(stdoutIsJournal({})).toBe(false);
    expect(resolveLogFormat('auto', { JOURNAL_STREAM: `${st.dev}:${st.ino}` })).toBe('journal');
    // AGENTD_LOG_FORMAT=json wins even under systemd.
    expect(resolveLogFormat('json', { JOURNAL_STREAM: `${st.dev}:${st.ino}` })).toBe('json');
  });

  it('AGENTD_LOG_FORMAT is checked like every setting', () => {
    expect(loadSettings({ AGENTD_LOG_FORMAT: 'journal' }).logFormat).toBe('journal');
    expect(() => loadSettings({ AGENTD_LOG_FORMAT: 'xml' })).toThrow(/AGENTD_LOG_FORMAT="xml" is not valid: expected auto, json, journal, text/);
  });
});
