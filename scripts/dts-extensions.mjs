#!/usr/bin/env node
// After `tsc -p tsconfig.build.json`: rewrites the relative `.ts` module specifiers that tsc
// leaves in emitted declaration files (rewriteRelativeImportExtensions rewrites them in .js only:
// microsoft/TypeScript#61037) to `.js`, so that consumers on TypeScript 4.9+ resolve them (TS
// before 5.0 reports TS2691 on a `.ts` specifier; with skipLibCheck the types silently become
// `any`). Specifiers are found with the TypeScript parser (imports, exports, `import('...')`
// types), not by a regular expression over the text. Fails if any `.ts` specifier is left.
// Usage: node scripts/dts-extensions.mjs [dist]
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const root = process.argv[2] ?? new URL('../dist', import.meta.url).pathname;

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every module specifier literal in a declaration file: [start, end, text] (quotes excluded). */
function specifiers(file, text) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found = [];
  const visit = (node) => {
    let lit;
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) lit = node.moduleSpecifier;
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) lit = node.argument.literal;
    else if (ts.isExternalModuleReference(node)) lit = node.expression;
    if (lit && ts.isStringLiteral(lit)) found.push([lit.getStart(sf) + 1, lit.getEnd() - 1, lit.text]);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

let files = 0;
let rewritten = 0;
const left = [];
for (const file of walk(root)) {
  const text = readFileSync(file, 'utf8');
  let out = text;
  // Back to front, so earlier offsets stay valid.
  for (const [start, end, spec] of specifiers(file, text).reverse()) {
    if (!spec.startsWith('.')) continue;
    if (/\.d\.ts$/.test(spec)) { left.push(`${relative(root, file)}: ${spec}`); continue; }
    const m = /\.(ts|mts|cts|tsx)$/.exec(spec);
    if (!m) continue;
    const js = spec.slice(0, -m[0].length) + ({ ts: '.js', mts: '.mjs', cts: '.cjs', tsx: '.js' })[m[1]];
    out = out.slice(0, start) + js + out.slice(end);
    rewritten++;
  }
  if (out !== text) { writeFileSync(file, out); files++; }
  for (const [, , spec] of specifiers(file, out)) if (spec.startsWith('.') && /\.[cm]?tsx?$/.test(spec) && !spec.endsWith('.d.ts')) left.push(`${relative(root, file)}: ${spec}`);
}
if (left.length) {
  console.error(`dts-extensions: relative .ts specifiers left in declarations:\n  ${left.join('\n  ')}`);
  process.exit(1);
}
console.log(`dts-extensions: ${rewritten} specifiers in ${files} declaration files rewritten to .js`);
