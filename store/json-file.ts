// Shared plumbing for the small JSON files in store/: read (missing → null, empty →
// null, as Tailscale's FileStore treats an empty file) and write-if-changed.
import { constants, promises as fs } from 'node:fs';
import { isCode, mapFsError, writeFileAtomic } from './atomic.js';
import { NotRegularFile, UntrustedOwner, shellQuote } from './errors.js';

/** The file's text and stat, or null when it does not exist or is empty. */
export async function readSmallFile(path: string, maxBytes = 1024 * 1024): Promise<{ text: string; mode: number; uid: number } | null> {
  let fh: fs.FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever;
    // it changes nothing for a regular file.
    // O_NOFOLLOW: a symlink is refused, never read through (another user could point
    // it at a file of their choosing).
    fh = await fs.open(path, constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    // ENOTDIR: a parent is a file, so this file cannot exist (creating it will say why).
    if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return null;
    if (isCode(err, 'ELOOP')) throw new UntrustedOwner(`${path} is a symbolic link; agentd never reads its files through a link`, { path, hint: `Remove the link (rm ${shellQuote(path)}) and put the file itself there.` });
    if (isCode(err, 'EISDIR')) throw new NotRegularFile(`${path} is a directory, not a file`, { path });
    throw mapFsError(err, path);
  }
  try {
    // fstat on the open handle: the mode we check is the mode of the bytes we read.
    const st = await fh.stat();
    if (!st.isFile()) throw new NotRegularFile(`${path} is not a regular file`, { path });
    if (st.size > maxBytes) throw new NotRegularFile(`${path} is too large (${st.size} bytes) to be an agentd file`, { path });
    const text = await fh.readFile('utf8');
    if (text.trim() === '') return null;
    return { text, mode: st.mode, uid: st.uid };
  } finally {
    await fh.close();
  }
}

/**
 * Writes `text` unless the file already holds exactly it with the right mode: an
 * unchanged write costs a read instead of a temp file, two fsyncs and a rename.
 */
export async function writeIfChanged(path: string, text: string, mode: number): Promise<void> {
  try {
    const st = await fs.stat(path);
    if (st.isFile() && (st.mode & 0o777) === mode && (await fs.readFile(path, 'utf8')) === text) return;
  } catch {
    // Missing or unreadable: write it.
  }
  await writeFileAtomic(path, text, { mode });
}
