/**
 * Snapshot files: one file per domain plus a manifest, crash-safe by generations.
 *
 *   dir/manifest.json          {"format":"sabstate-snapshot","version":1,"generation":g,
 *                               "createdAt":ms,"meta":{...},"files":{domain:{name,bytes,sha256}}}
 *   dir/<domain>.<g>.json      the domain's state as JSON
 *
 * Writing: every domain file of the new generation g is written atomically (temp file, fsync,
 * rename: fs-atomic.ts), then the manifest naming generation g replaces the old one the same
 * way, then the files of older generations are removed. A crash at any point leaves a manifest
 * that names a complete generation (the old one until the manifest's rename, the new one after).
 *
 * Reading: the manifest and every file it names are read and checked (size, SHA-256, JSON)
 * before anything is returned, so a damaged or truncated snapshot is refused whole with
 * ERR_SNAPSHOT_CORRUPT and never half-loaded.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SabStateError } from '../errors.ts';
import { writeFileAtomic } from './fs-atomic.ts';

const FORMAT = 'sabstate-snapshot';
const VERSION = 1;
const MANIFEST = 'manifest.json';

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
  generation: number;
  createdAt: number;
  meta: unknown;
  parts: Record<string, unknown>;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function corrupt(dir: string, why: string): never {
  throw new SabStateError(ErrorCode.SNAPSHOT_CORRUPT, `snapshot ${dir}: ${why}`);
}

function readManifest(dir: string): Manifest | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST), 'utf8');
  } catch {
    return undefined;
  }
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return corrupt(dir, `${MANIFEST} is not JSON`);
  }
  const mm = m as Partial<Manifest> | null;
  if (typeof mm !== 'object' || mm === null || mm.format !== FORMAT) corrupt(dir, `${MANIFEST} is not a sabstate manifest`);
  if (mm.version !== VERSION) corrupt(dir, `snapshot format version ${String(mm.version)}, this library reads ${VERSION}`);
  if (!Number.isInteger(mm.generation) || typeof mm.files !== 'object' || mm.files === null) corrupt(dir, `${MANIFEST} is incomplete`);
  return mm as Manifest;
}

/** Writes `parts` (domain name → JSON-able state) as a new generation. Returns the generation. */
export function writeSnapshot(dir: string, meta: unknown, parts: Record<string, unknown>): number {
  let previous: Manifest | undefined;
  try {
    previous = readManifest(dir);
  } catch {
    previous = undefined; // a damaged old manifest is simply replaced
  }
  const generation = (previous?.generation ?? 0) + 1;
  const files: Record<string, FileEntry> = {};
  for (const [domain, state] of Object.entries(parts)) {
    const bytes = Buffer.from(JSON.stringify(state), 'utf8');
    const name = `${domain}.${generation}.json`;
    writeFileAtomic(join(dir, name), bytes);
    files[domain] = { name, bytes: bytes.length, sha256: sha256(bytes) };
  }
  const manifest: Manifest = { format: FORMAT, version: VERSION, generation, createdAt: Date.now(), meta, files };
  writeFileAtomic(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  const keep = new Set(Object.values(files).map((f) => f.name));
  for (const n of readdirSync(dir)) {
    if (/^[a-z]+\.\d+\.json$/.test(n) && !keep.has(n)) rmSync(join(dir, n), { force: true });
  }
  return generation;
}

/** Reads and verifies a whole snapshot; throws ERR_SNAPSHOT_CORRUPT on any damage. */
export function readSnapshot(dir: string): SnapshotContents {
  const m = readManifest(dir);
  if (m === undefined) corrupt(dir, `no ${MANIFEST} (not a snapshot directory, or the snapshot never completed)`);
  const parts: Record<string, unknown> = {};
  for (const [domain, f] of Object.entries(m.files)) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(dir, f.name));
    } catch {
      return corrupt(dir, `${f.name} is missing`);
    }
    if (bytes.length !== f.bytes) corrupt(dir, `${f.name} has ${bytes.length} bytes, the manifest says ${f.bytes} (truncated?)`);
    if (sha256(bytes) !== f.sha256) corrupt(dir, `${f.name} fails its SHA-256 check`);
    try {
      parts[domain] = JSON.parse(bytes.toString('utf8'));
    } catch {
      corrupt(dir, `${f.name} is not JSON`);
    }
  }
  return { generation: m.generation, createdAt: m.createdAt, meta: m.meta, parts };
}
