import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TaskJournal, type JournalEntry } from '../../store/journal.js';
import { createWorkDir, markWorkDirFinished, removeStaleWorkDirs } from '../../store/workdirs.js';
import { utimesSync } from 'node:fs';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'agentd-journal-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const entry = (id: string): JournalEntry => ({
  task_id: id,
  runtime_id: 'rt',
  runtime: 'command',
  pid: 4242,
  pgid: 4242,
  proc_start: '123',
  started_at: '2026-01-01T00:00:00.000Z',
  daemon_pid: 1,
  work_dir: '/w',
});

describe('TaskJournal', () => {
  it('records, lists and removes entries; files 0600 in a 0700 dir, no temp files left', async () => {
    const dir = join(tmp(), 'journal');
    const j = new TaskJournal(dir);
    await j.record(entry('a'));
    await j.record(entry('b'));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'a.json')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['a.json', 'b.json']);
    const { entries } = await j.list();
    expect(entries.map((e) => e.task_id).sort()).toEqual(['a', 'b']);
    expect(entries.find((e) => e.task_id === 'a')).toEqual(entry('a'));
    await j.remove('a');
    await j.remove('a'); // missing is fine
    expect((await j.list()).entries.map((e) => e.task_id)).toEqual(['b']);
  });

  it('reports unreadable files instead of failing, and an absent journal is empty', async () => {
    const dir = join(tmp(), 'journal');
    const j = new TaskJournal(dir);
    expect(await j.list()).toEqual({ entries: [], bad: [] });
    await j.record(entry('ok'));
    writeFileSync(join(dir, 'torn.json'), '{"task_id": "x", ');
    writeFileSync(join(dir, 'other.json'), '{"hello": 1}');
    const r = await j.list();
    expect(r.entries.map((e) => e.task_id)).toEqual(['ok']);
    expect(r.bad.sort()).toEqual(['other.json', 'torn.json']);
  });

  it('refuses task ids that could escape the journal directory', async () => {
    const j = new TaskJournal(join(tmp(), 'journal'));
    await expect(j.record(entry('../evil'))).rejects.toThrow(/cannot name a journal file/);
    await expect(j.record(entry('.hidden'))).rejects.toThrow(/cannot name a journal file/);
  });
});

describe('work dirs', () => {
  it('removes finished work dirs older than the retention, keeps recent and running ones', async () => {
    const root = join(tmp(), 'work');
    const old = await createWorkDir(root, 'old');
    const running = await createWorkDir(root, 'running');
    const recent = await createWorkDir(root, 'recent');
    writeFileSync(join(old, 'f'), 'x');
    expect(statSync(old).mode & 0o777).toBe(0o700);
    const past = new Date(Date.now() - 2 * 3600_000);
    utimesSync(old, past, past);
    utimesSync(running, past, past);
    await markWorkDirFinished(recent);
    const n = await removeStaleWorkDirs(root, 3600_000, new Set(['running']));
    expect(n).toBe(1);
    expect(readdirSync(root).sort()).toEqual(['recent', 'running']);
  });
});
