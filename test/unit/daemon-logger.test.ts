import { describe, expect, it } from 'vitest';
import { createLogger, formatPretty, scrubTokens } from '../../daemon/logger.js';

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
