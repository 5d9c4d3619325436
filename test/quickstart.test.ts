/**
 * The README's quick start as a new user runs it (issue 14): the README shows the file as it is;
 * `npm pack` (prepack builds dist/), the tarball installed into a new project in a temporary
 * folder, then
 * - examples/quickstart/quickstart.mjs (the README's quick start, importing `sabstate` by name)
 *   runs there: two worker threads, syncs, a full queue, and no order lost;
 * - examples/quickstart/consumer.ts type-checks there in strict TypeScript with skipLibCheck off
 *   (the published declarations are checked too), and its output runs;
 * - `require('sabstate')` works from CommonJS (Node >= 20.19: require() of an ES module);
 * - the tarball holds LICENSE and NOTICE, no source maps, and declarations without `.ts`
 *   specifiers, generic typed arrays (TypeScript 5.7+ only) or references to files that are not
 *   shipped.
 * Every child process has a hard timeout, so a hang fails the test.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const MINUTES = 60_000;

/** Runs a command to completion (hard timeout); returns its stdout, then its stderr. */
function run(cmd: string, args: string[], cwd: string, timeout = 5 * MINUTES): { stdout: string; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, NODE_OPTIONS: '' } });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  assert.is(r.error, undefined, `${cmd} ${args.join(' ')}: ${String(r.error)}\n${out}`);
  assert.is(r.status, 0, `${cmd} ${args.join(' ')} exited with ${r.status}:\n${out}`);
  return { stdout: r.stdout, out };
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

const tmp = mkdtempSync(join(tmpdir(), 'sabstate-quickstart-'));
const app = join(tmp, 'app');
let pkgDir = '';

test('the README shows examples/quickstart/quickstart.mjs as it is', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const file = readFileSync(join(root, 'examples/quickstart/quickstart.mjs'), 'utf8');
  assert.ok(readme.includes(`\`\`\`js\n${file}\`\`\``), 'README.md\'s quick start differs from examples/quickstart/quickstart.mjs');
});

// A test, not a before hook: uvu reports nothing when a before hook throws.
test('npm pack, then npm install of the tarball in a new project', () => {
  const { stdout } = run(npm, ['pack', '--pack-destination', tmp, '--json'], root, 10 * MINUTES);
  const json = JSON.parse(stdout.slice(stdout.indexOf('\n[') + 1)) as { filename: string }[];
  const tarball = join(tmp, json[0]!.filename);
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  run(npm, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], app);
  pkgDir = join(app, 'node_modules', 'sabstate');
});

test.after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

test('the quick start runs from the installed tarball', () => {
  copyFileSync(join(root, 'examples/quickstart/quickstart.mjs'), join(app, 'quickstart.mjs'));
  const { out } = run(process.execPath, ['quickstart.mjs'], app, 3 * MINUTES);
  assert.match(out, /orders stored 750, rejected 250 \(departed\), notices popped 750/);
  assert.match(out, /waits on a full queue \d+/);
  assert.match(out, 'no order lost');
});

test('strict TypeScript, skipLibCheck off, type-checks against the package and runs', () => {
  copyFileSync(join(root, 'examples/quickstart/consumer.ts'), join(app, 'consumer.ts'));
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false,
      noUncheckedIndexedAccess: true, types: ['node'], typeRoots: [join(root, 'node_modules/@types')],
    },
    files: ['consumer.ts'],
  }));
  run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', app], app);
  const { out } = run(process.execPath, ['consumer.js'], app);
  assert.match(out, 'typescript: placed true true, stale save refused true, orders stored 2, notices 2, handle sabstate-engine');
});

test('require() from CommonJS gets the same exports', () => {
  const script = "const s = require('sabstate'); const e = s.createEngine(); console.log(typeof s.createEngine, typeof s.attachEngine, s.SabStateError.name, e.positions.size); e.close();";
  const { out } = run(process.execPath, ['--input-type=commonjs', '-e', script], app);
  assert.match(out, 'function function SabStateError 0');
});

test('the package ships LICENSE and NOTICE, no source maps, declarations that name only shipped files', () => {
  const files = walk(pkgDir).map((f) => f.slice(pkgDir.length + 1));
  assert.ok(files.includes('LICENSE') && files.includes('NOTICE'), files.join(' '));
  assert.equal(files.filter((f) => f.endsWith('.map')), []);
  const bad: string[] = [];
  for (const f of files.filter((x) => x.endsWith('.d.ts'))) {
    const text = readFileSync(join(pkgDir, f), 'utf8');
    for (const m of text.matchAll(/from '(\.[^']*)'|import\('(\.[^']*)'\)/g)) if (/\.ts$/.test(m[1] ?? m[2] ?? '')) bad.push(`${f}: ${m[0]}`);
    if (/TODO hook|DESIGN\.md/.test(text)) bad.push(`${f}: mentions TODO hook or DESIGN.md`);
    // TypeScript 5.7+ prints inferred typed arrays as generics (Uint32Array<ArrayBuffer>), which
    // TypeScript before 5.7 rejects (TS2315) when it checks the declarations (skipLibCheck off).
    for (const m of text.matchAll(/\b(?:Big)?(?:Ui|I)nt(?:8|16|32|64)(?:Clamped)?Array<|\bFloat(?:32|64)Array</g)) bad.push(`${f}: ${m[0]} (TypeScript 5.7+ only)`);
  }
  assert.equal(bad, []);
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  assert.is(pkg.scripts?.prepare, undefined, 'a prepare script runs on every consumer install');
});

test.run();
