#!/usr/bin/env node
// Builds the optional native hash helper (native/, Rust, no crates) into native/sabstate-hash.node,
// where src/internal/hash/native.ts looks for it. `npm run build:native`; `npm test` runs it first.
//
// - No cargo on PATH (or Windows, where a cdylib cannot leave the napi_* symbols for node to
//   resolve without an import library): prints that the helper is skipped, exits 0. sabstate then
//   uses its JS hash. This script is never part of `npm install`.
// - Up to date (the stamp in native/target/ matches a hash of the crate's sources, the platform
//   and this script, and the binary exists): prints so and exits 0 in a few tens of milliseconds,
//   without starting cargo. `--force` rebuilds anyway.
// - Otherwise builds with `napi build --release` (@napi-rs/cli, a devDependency; it works offline
//   with a dependency-free crate and only warns that there is no napi-derive to generate typings
//   from). If @napi-rs/cli is not installed (a production install), plain
//   `cargo build --release` and a copy do the same job: napi build is cargo build plus the copy.
// - A failing build with cargo present exits non-zero: that is a real regression.
// - The binary is put in place by rename from a per-process staging file, so concurrent builds
//   and processes that have the old binary loaded never see a half-written file.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const crate = join(root, 'native');
const binary = join(crate, 'sabstate-hash.node');
const targetDir = join(crate, 'target');
const stampFile = join(targetDir, 'sabstate-hash.stamp');
const force = process.argv.includes('--force');

function say(msg) {
  console.log(`build:native: ${msg}`);
}

function fail(msg) {
  console.error(`build:native: FAILED: ${msg}`);
  process.exit(1);
}

if (process.platform === 'win32') {
  say('skipped on Windows (not supported); sabstate uses its JS hash');
  process.exit(0);
}

const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' });
if (cargo.error || cargo.status !== 0) {
  say('cargo not found on PATH: native hash helper skipped; sabstate uses its JS hash');
  process.exit(0);
}

// ---- up-to-date check ----------------------------------------------------------------------

function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.rs')) out.push(p);
  }
  return out;
}

const inputs = [join(crate, 'Cargo.toml'), join(crate, 'build.rs'), join(crate, 'napi.json'), ...sources(join(crate, 'src'))];
const h = createHash('sha256');
h.update(`${process.platform}-${process.arch}\n${cargo.stdout.trim()}\n`);
h.update(readFileSync(fileURLToPath(import.meta.url)));
for (const f of inputs) {
  h.update(`\0${relative(crate, f)}\0`);
  h.update(readFileSync(f));
}
const stamp = h.digest('hex');

if (!force && existsSync(binary) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp) {
  say('native/sabstate-hash.node is up to date');
  process.exit(0);
}

// ---- build ---------------------------------------------------------------------------------

const started = Date.now();
const staging = join(targetDir, `stage-${process.pid}`);
mkdirSync(staging, { recursive: true });

function run(cmd, args) {
  say(`${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} exited with ${r.status ?? r.signal}`);
}

let napiBin = null;
try {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('@napi-rs/cli/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.napi;
  if (bin) napiBin = join(dirname(pkgPath), bin);
} catch {
  napiBin = null;
}

let built;
if (napiBin) {
  run(process.execPath, [
    napiBin, 'build', '--release',
    '--manifest-path', relative(root, join(crate, 'Cargo.toml')),
    '--config-path', relative(root, join(crate, 'napi.json')),
    '--package-json-path', 'package.json',
    '--output-dir', relative(root, staging),
  ]);
  built = join(staging, 'sabstate-hash.node');
} else {
  say('@napi-rs/cli not installed: building with cargo directly');
  run('cargo', ['build', '--release', '--manifest-path', join(crate, 'Cargo.toml')]);
  const lib = process.platform === 'darwin' ? 'libsabstate_hash.dylib' : 'libsabstate_hash.so';
  built = join(staging, 'sabstate-hash.node');
  copyFileSync(join(targetDir, 'release', lib), built);
}
if (!existsSync(built)) fail(`the build did not produce ${relative(root, built)}`);

// Smoke check before it replaces a working binary: it loads, has the expected exports table,
// and hashes the first of HASH_VECTORS (the loader's self-test checks all of them).
try {
  const m = createRequire(import.meta.url)(built);
  if (m.abi !== 1) throw new Error(`abi ${m.abi}, expected 1`);
  const got = m.hashString(0, 0, '');
  if (got !== 0xb650bf13) throw new Error(`hashString(seed 0, "") = ${got}, expected ${0xb650bf13}`);
} catch (e) {
  fail(`the new binary does not work: ${e instanceof Error ? e.message : e}`);
}

const tmp = `${binary}.tmp-${process.pid}`;
copyFileSync(built, tmp);
renameSync(tmp, binary);
rmSync(staging, { recursive: true, force: true });
writeFileSync(stampFile, `${stamp}\n`);
say(`built native/sabstate-hash.node in ${((Date.now() - started) / 1000).toFixed(1)} s`);
