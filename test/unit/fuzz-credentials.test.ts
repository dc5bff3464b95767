// Property tests of the credential file reader: whatever is in credentials.json (a
// half-edited file, another tool's JSON, binary junk), reading it gives a valid credential,
// "missing", or a typed StoreError that never quotes the token; a valid credential
// survives a write/read round trip; any group/other permission bit is refused.
import fc from 'fast-check';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAEMON_TOKEN_RE } from '../../api/types.js';
import { credentialsProblem, readCredentials, writeCredentials, type Credentials } from '../../store/credentials.js';
import { InsecureCredentialFile, StoreError } from '../../store/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentd-fuzz-cred-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const hex40 = fc.stringMatching(/^[0-9a-f]{40}$/);
const token = hex40.map((h) => `mdt_${h}`);
const nearToken = fc.oneof(
  token,
  hex40.map((h) => `mdt_${h.toUpperCase()}`),
  hex40.map((h) => `mit_${h}`),
  hex40.map((h) => `mdt_${h} `),
  hex40.map((h) => `mdt_${h}0`),
  hex40.map((h) => ` mdt_${h.slice(1)}`),
);
const field = fc.oneof({ weight: 4, arbitrary: fc.string({ minLength: 1 }) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) });
const credLike = fc.record({ token: fc.oneof(nearToken, field), daemon_id: field, workspace_id: field, issued_at: field, extra: field }, { requiredKeys: [] });
const contents = fc.oneof(
  credLike.map((c) => JSON.stringify(c)),
  credLike.map((c) => JSON.stringify(c, null, 2).slice(0, -3)), // cut short, as by a crash mid-write
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a).toString('latin1')),
  token.map((t) => `${t}\n`), // the bare token, as someone might paste it
);

let n = 0;
const file = (): string => join(dir, `c${n++}.json`);
const TOKEN_LIKE = /m[ida]t_[0-9A-Za-z]{8,}/;

describe('readCredentials on arbitrary file contents', () => {
  it('a valid credential, null, or a StoreError that does not quote the token', async () => {
    await fc.assert(
      fc.asyncProperty(contents, async (text) => {
        const path = file();
        await writeFile(path, text, { mode: 0o600 });
        let c: Credentials | null;
        try {
          c = await readCredentials(path);
        } catch (err) {
          expect(err).toBeInstanceOf(StoreError);
          const e = err as StoreError;
          expect(e.message).not.toMatch(TOKEN_LIKE);
          expect(e.hint ?? '').not.toMatch(TOKEN_LIKE);
          return;
        } finally {
          await rm(path, { force: true });
        }
        if (c === null) {
          expect(text.trim()).toBe('');
          return;
        }
        expect(credentialsProblem(c)).toBeUndefined();
        expect(c.token).toMatch(DAEMON_TOKEN_RE);
        expect(Object.keys(c).sort()).toEqual(['daemon_id', 'issued_at', 'token', 'workspace_id']);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips every valid credential', async () => {
    const valid = fc.record({ token, daemon_id: fc.string({ minLength: 1 }), workspace_id: fc.string({ minLength: 1 }), issued_at: fc.string({ minLength: 1 }) });
    await fc.assert(
      fc.asyncProperty(valid, async (c) => {
        const path = join(dir, 'sub', 'credentials.json');
        await writeCredentials(path, c);
        expect(await readCredentials(path)).toEqual(c);
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a valid credential whose mode lets group or others in', async () => {
    const valid = JSON.stringify({ token: `mdt_${'c'.repeat(40)}`, daemon_id: 'd', workspace_id: 'w', issued_at: 'now' });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0o400, max: 0o777 }), async (mode) => {
        const path = file();
        await writeFile(path, valid);
        await chmod(path, mode);
        try {
          if ((mode & 0o077) !== 0) await expect(readCredentials(path)).rejects.toBeInstanceOf(InsecureCredentialFile);
          else expect((await readCredentials(path))?.token).toBe(`mdt_${'c'.repeat(40)}`);
        } finally {
          await rm(path, { force: true });
        }
      }),
      { numRuns: 100 },
    );
  });
});
