/**
 * Snapshot files: one file per part plus a manifest, crash-safe by generations.
 *
 *   dir/manifest.json      the manifest (format 2):
 *                            {"format":"sabstate-snapshot","version":2,"generation":g,"createdAt":ms,
 *                             "meta":{...},"files":{part:{name,bytes,sha256}}}
 *                            sha256:<hex SHA-256 of every byte above this line>
 *   dir/<part>.<g>.bin     the part's state, encoded by the codec (lossless: -0, key order, ...)
 *
 * The manifest's last line is the SHA-256 of the text before it, so any change to the manifest
 * (an option, a name, a size, a file's checksum, the generation) is refused with
 * ERR_SNAPSHOT_CORRUPT before anything in it is believed; each part file is checked against the
 * size and SHA-256 the manifest gives it. A reader never half-loads: every file is read and
 * checked before anything is returned.
 *
 * Format versions: `version` says how to read the rest. 2 is written; 1 (before 0.2: JSON parts
 * `<part>.<g>.json`, a manifest without the checksum line, which carried the hash seed) is still
 * read (its seed is ignored). A newer library keeps reading both; this one refuses a version it
 * does not know with ERR_SNAPSHOT_CORRUPT naming it.
 *
 * Writing (writeSnapshot), with the caller holding the engine's snapshot mutex (one writer per
 * engine at a time; two engines or processes writing one directory at once is not supported):
 *   S1 remove stale temp files (fs-atomic.ts: writers that cannot still be running)
 *   S2 g = 1 + the highest generation in the directory (the manifest's, or any file's if the
 *      manifest is damaged: a new generation never overwrites a file an old manifest names)
 *   S3 each part: writeFileAtomic (unique temp, fsync, rename, fsync of the directory)
 *   S4 the manifest naming generation g: writeFileAtomic (the switch: one rename)
 *   S5 remove the part files of every other generation (only now that g is durable)
 *
 * CRASH TABLE (the process is killed right after the step; the next snapshot or restore):
 * | after | on disk                                      | restore reads | next snapshot |
 * | ----- | -------------------------------------------- | ------------- | ------------- |
 * | S1    | the old generation, complete                 | the old one   | as usual |
 * | S2    | the same                                     | the old one   | as usual |
 * | S3 (some parts) | old generation + some files of g, perhaps a temp file | the old one | removes the temp file (S1); writes g again over those files (S3) and removes nothing the old manifest names before its own S4 |
 * | S4    | manifest names g (durable: directory fsynced); old files still there | g | removes the old files (S5) |
 * | S5 (some) | g complete, some old files left           | g             | removes them (S5) |
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SabStateError } from '../../errors.ts';
import { removeStaleTemps, writeFileAtomic } from './fs-atomic.ts';

const FORMAT = 'sabstate-snapshot';
/** Written now. */
export const SNAPSHOT_VERSION = 2;
const MANIFEST = 'manifest.json';
const PART_FILE = /^([a-z]+)\.(\d+)\.(json|bin)$/;
const TRAILER = /\nsha256:([0-9a-f]{64})\n$/;

interface FileEntry {
  name: string;
  bytes: number;
  sha256: string;
}
interface Manifest {
  format: string;
  version: number;
  generation: number;
  createdAt: number;
  meta: unknown;
  files: Record<string, FileEntry>;
}

export interface SnapshotContents {
  version: number;
  generation: number;
  createdAt: number;
  meta: unknown;
  /** version 2: each part's bytes (codec); version 1: each part's parsed JSON. */
  parts: Record<string, unknown>;
}

function sha256(b: Uint8Array | string): string {
  return createHash('sha256').update(b).digest('hex');
}

function corrupt(dir: string, why: string): never {
  throw new SabStateError(ErrorCode.SNAPSHOT_CORRUPT, `snapshot ${dir}: ${why}`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function readManifest(dir: string): Manifest | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return corrupt(dir, `${MANIFEST} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const t = TRAILER.exec(text);
  let body = text;
  if (t !== null) {
    body = text.slice(0, t.index + 1);
    if (sha256(body) !== t[1]) corrupt(dir, `${MANIFEST} fails its own SHA-256 check (changed after it was written)`);
  }
  let m: unknown;
  try {
    m = JSON.parse(body);
  } catch {
    return corrupt(dir, `${MANIFEST} is not a sabstate manifest (not JSON, or its checksum line is damaged)`);
  }
  if (!isObj(m) || m.format !== FORMAT) corrupt(dir, `${MANIFEST} is not a sabstate manifest`);
  const version = m.version;
  if (version !== 1 && version !== SNAPSHOT_VERSION) {
    corrupt(dir, `snapshot format version ${JSON.stringify(version) ?? 'none'}, this library reads 1 and ${SNAPSHOT_VERSION}`);
  }
  // Version 2 always has the checksum line; a version-2 manifest without one was altered.
  if ((version === SNAPSHOT_VERSION) !== (t !== null)) corrupt(dir, `${MANIFEST} has ${t === null ? 'no' : 'an unexpected'} checksum line`);
  if (!Number.isSafeInteger(m.generation) || (m.generation as number) < 1 || !isObj(m.files)) corrupt(dir, `${MANIFEST} is incomplete`);
  for (const [part, f] of Object.entries(m.files)) {
    const ext = version === 1 ? 'json' : 'bin';
    if (!isObj(f) || f.name !== `${part}.${m.generation as number}.${ext}` || !Number.isSafeInteger(f.bytes) || typeof f.sha256 !== 'string') {
      corrupt(dir, `${MANIFEST} has a malformed entry for ${JSON.stringify(part)}`);
    }
  }
  return m as unknown as Manifest;
}

/**
 * Writes `parts` (part name → encoded bytes) as a new generation (steps S1-S5 above); the caller
 * holds the engine's snapshot mutex. Returns the generation.
 */
export function writeSnapshot(dir: string, meta: unknown, parts: Record<string, Uint8Array>): number {
  removeStaleTemps(dir, true); // S1
  let previous: Manifest | undefined;
  try {
    previous = readManifest(dir);
  } catch {
    previous = undefined; // a damaged old manifest is replaced (its files are not reused)
  }
  let highest = previous?.generation ?? 0; // S2
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    // no directory yet: writeFileAtomic creates it
  }
  for (const n of names) {
    const m = PART_FILE.exec(n);
    if (m !== null) highest = Math.max(highest, Number(m[2]));
  }
  const generation = highest + 1;
  const files: Record<string, FileEntry> = {};
  for (const [part, bytes] of Object.entries(parts)) {
    const name = `${part}.${generation}.bin`;
    writeFileAtomic(join(dir, name), bytes); // S3
    files[part] = { name, bytes: bytes.length, sha256: sha256(bytes) };
  }
  const manifest: Manifest = { format: FORMAT, version: SNAPSHOT_VERSION, generation, createdAt: Date.now(), meta, files };
  const body = `${JSON.stringify(manifest, null, 2)}\n`;
  writeFileAtomic(join(dir, MANIFEST), `${body}sha256:${sha256(body)}\n`); // S4
  const keep = new Set(Object.values(files).map((f) => f.name));
  for (const n of readdirSync(dir)) {
    if (PART_FILE.test(n) && !keep.has(n)) rmSync(join(dir, n), { force: true }); // S5
  }
  return generation;
}

/** Reads and verifies a whole snapshot; throws ERR_SNAPSHOT_CORRUPT on any damage. */
export function readSnapshot(dir: string): SnapshotContents {
  const m = readManifest(dir);
  if (m === undefined) corrupt(dir, `no ${MANIFEST} (not a snapshot directory, or the snapshot never completed)`);
  const parts: Record<string, unknown> = {};
  for (const [part, f] of Object.entries(m.files)) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(dir, f.name));
    } catch {
      return corrupt(dir, `${f.name} is missing`);
    }
    if (bytes.length !== f.bytes) corrupt(dir, `${f.name} has ${bytes.length} bytes, the manifest says ${f.bytes} (truncated?)`);
    if (sha256(bytes) !== f.sha256) corrupt(dir, `${f.name} fails its SHA-256 check`);
    if (m.version === 1) {
      try {
        parts[part] = JSON.parse(bytes.toString('utf8'));
      } catch {
        corrupt(dir, `${f.name} is not JSON`);
      }
    } else {
      parts[part] = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    }
  }
  return { version: m.version, generation: m.generation, createdAt: m.createdAt, meta: m.meta, parts };
}
