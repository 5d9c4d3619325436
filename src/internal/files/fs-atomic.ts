/**
 * Atomic file writes: write a temp file beside the target, fsync it, rename it over the target,
 * then fsync the directory so the rename itself survives a crash. A reader (or a crash at any
 * point) sees the old file or the new one, never a half-written file.
 *
 * Temp names are unique per writer: `.<target>.<pid>.<threadId>.<16 random hex>.tmp`. Two
 * threads of one process (same pid) or two processes never share one, so one writer can never
 * rename another's half-written file. A writer killed (SIGKILL, worker.terminate()) between
 * its open and its rename leaves its temp file behind; `removeStaleTemps(dir)` removes the temp
 * files of writers that cannot still be running (see there).
 *
 * | step | after it, a writer killed leaves                | the target         |
 * | ---- | ----------------------------------------------- | ------------------ |
 * | open | an empty temp file                              | the old file       |
 * | write / fsync | a temp file, whole or not              | the old file       |
 * | rename | nothing stray (the temp file is the target)   | the new file (the rename may not be durable yet) |
 * | fsync dir | nothing stray                              | the new file, durable |
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';

const TEMP = /^\..+\.(\d+)\.(\d+)\.[0-9a-f]{16}\.tmp$/;

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${threadId}.${randomBytes(8).toString('hex')}.tmp`);
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = tempName(path);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, not ours to signal
  }
}

/**
 * Removes the temp files (of writeFileAtomic) in `dir` whose writer cannot still be running:
 * those of processes that no longer exist, and, when `ownThreadsQuiet` is true (the caller holds
 * the lock that serializes this process's writers of `dir`: the engine's snapshot mutex), those
 * of this process. Returns the names removed. Errors (a file already gone) are ignored.
 */
export function removeStaleTemps(dir: string, ownThreadsQuiet: boolean): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    const m = TEMP.exec(n);
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid ? !ownThreadsQuiet : processAlive(pid)) continue;
    rmSync(join(dir, n), { force: true });
    removed.push(n);
  }
  return removed;
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
